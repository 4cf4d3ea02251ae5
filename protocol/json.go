package protocol

import (
	"encoding/json"
	"time"
)

// jsonMessage is the stable JSON form of a Message, as printed by
// `carevisit decode` and shown to support engineers.
type jsonMessage struct {
	Type        string         `json:"type"`
	DeviceID    string         `json:"device_id,omitempty"`
	Time        *string        `json:"time,omitempty"`
	Valid       *bool          `json:"valid,omitempty"`
	Lat         *float64       `json:"lat,omitempty"`
	Lon         *float64       `json:"lon,omitempty"`
	SpeedKmh    *float64       `json:"speed_kmh,omitempty"`
	Course      *float64       `json:"course,omitempty"`
	Approximate *bool          `json:"approximate,omitempty"`
	AccuracyM   *float64       `json:"accuracy_m,omitempty"`
	Altitude    *float64       `json:"altitude_m,omitempty"`
	Attributes  map[string]any `json:"attributes"`
}

// MarshalJSON writes a position with all its fix fields (time in RFC 3339
// UTC) and any other message with its type and attributes.
func (m Message) MarshalJSON() ([]byte, error) {
	j := jsonMessage{Type: m.Type, DeviceID: m.DeviceID, Attributes: m.Attributes()}
	if m.Type == TypePosition {
		t := m.Time.UTC().Format(time.RFC3339Nano)
		j.Time = &t
		j.Valid = &m.Valid
		j.Lat, j.Lon = &m.Lat, &m.Lon
		j.SpeedKmh, j.Course = &m.SpeedKmh, &m.Course
		j.Approximate = &m.Approximate
		j.AccuracyM = &m.AccuracyM
		if m.Has&HasAltitude != 0 {
			j.Altitude = &m.Altitude
		}
	} else if !m.Time.IsZero() {
		t := m.Time.UTC().Format(time.RFC3339Nano)
		j.Time = &t
	}
	return json.Marshal(j)
}
