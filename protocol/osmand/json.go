package osmand

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"carevisit/protocol"
)

// bgBody is the background-geolocation (Transistor) HTTP body. location is
// one object, or an array when the app uploads a batch.
type bgBody struct {
	DeviceID json.RawMessage `json:"device_id"`
	Location json.RawMessage `json:"location"`
	Mock     *bool           `json:"mock"`
}

type bgLocation struct {
	Timestamp string `json:"timestamp"`
	Coords    *struct {
		Latitude  *float64 `json:"latitude"`
		Longitude *float64 `json:"longitude"`
		Speed     *float64 `json:"speed"`
		Heading   *float64 `json:"heading"`
		Accuracy  *float64 `json:"accuracy"`
		Altitude  *float64 `json:"altitude"`
	} `json:"coords"`
	Event    string   `json:"event"`
	IsMoving *bool    `json:"is_moving"`
	Odometer *float64 `json:"odometer"`
	Mock     *bool    `json:"mock"`
	Alarm    any      `json:"alarm"`
	Activity *struct {
		Type string `json:"type"`
	} `json:"activity"`
	Battery *struct {
		Level      *float64 `json:"level"`
		IsCharging *bool    `json:"is_charging"`
	} `json:"battery"`
	Extras map[string]any `json:"extras"`
}

// decodeJSON decodes a background-geolocation body.
func decodeJSON(body []byte, now time.Time) ([]protocol.Message, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty JSON body", protocol.ErrMalformed)
	}
	var b bgBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: JSON body: %v", protocol.ErrMalformed, err)
	}
	id, err := jsonID(b.DeviceID)
	if err != nil {
		return nil, err
	}
	var locs []bgLocation
	raw := bytes.TrimSpace(b.Location)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, fmt.Errorf("%w: JSON body has no location", protocol.ErrMalformed)
	case raw[0] == '[':
		err = unmarshalNumbers(raw, &locs)
	default:
		locs = make([]bgLocation, 1)
		err = unmarshalNumbers(raw, &locs[0])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: JSON location: %v", protocol.ErrMalformed, err)
	}
	msgs := make([]protocol.Message, 0, len(locs))
	for i := range locs {
		m, err := decodeLocation(&locs[i], id, now)
		if err != nil {
			return nil, err
		}
		if b.Mock != nil && *b.Mock {
			m.SetExtra("mock", true)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// unmarshalNumbers keeps extras' numbers as json.Number so that integers
// stay integers.
func unmarshalNumbers(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

// jsonID accepts device_id as a string or a number.
func jsonID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ErrNoID
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: device_id: %v", protocol.ErrMalformed, err)
		}
		return checkID(s)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fieldErr("device_id", string(raw), errNotNumber)
	}
	return checkID(n.String())
}

func decodeLocation(l *bgLocation, id string, now time.Time) (protocol.Message, error) {
	m := protocol.Message{DeviceID: id, Valid: true}
	haveTime := false
	if l.Timestamp != "" {
		t, err := parseTime("location.timestamp", l.Timestamp, now.Location())
		if err != nil {
			return m, err
		}
		m.Time, haveTime = t, true
	}
	if c := l.Coords; c != nil {
		if (c.Latitude == nil) != (c.Longitude == nil) {
			return m, fieldErr("coords", "", fmt.Errorf("latitude and longitude must come together"))
		}
		if c.Latitude != nil {
			if err := setLatLon(&m, *c.Latitude, *c.Longitude, "coords.latitude", "coords.longitude"); err != nil {
				return m, err
			}
		}
		if c.Speed != nil && *c.Speed >= 0 { // m/s; negative: unknown
			m.SpeedKmh = *c.Speed * 3.6
			m.Has |= protocol.HasSpeed
		}
		if c.Heading != nil && *c.Heading >= 0 {
			m.Course = math.Mod(*c.Heading, 360)
			m.Has |= protocol.HasCourse
		}
		if c.Accuracy != nil {
			setAccuracy(&m, *c.Accuracy)
		}
		if c.Altitude != nil {
			m.Altitude = *c.Altitude
			m.Has |= protocol.HasAltitude
		}
	}
	if l.Event != "" {
		m.SetExtra("event", l.Event)
	}
	if l.IsMoving != nil {
		m.SetExtra("motion", *l.IsMoving)
	}
	if l.Odometer != nil && *l.Odometer >= 0 {
		m.Odometer = *l.Odometer
		m.Has |= protocol.HasOdometer
	}
	if l.Mock != nil && *l.Mock {
		m.SetExtra("mock", true)
	}
	switch a := l.Alarm.(type) {
	case string:
		m.Alarm = a
	case bool:
		if a {
			m.Alarm = "general"
		}
	}
	if l.Activity != nil && l.Activity.Type != "" {
		m.SetExtra("activity", l.Activity.Type)
	}
	if bt := l.Battery; bt != nil {
		if bt.Level != nil && *bt.Level >= 0 { // 0..1; negative: unknown
			m.Battery = int(math.Round(min(*bt.Level, 1) * 100))
			m.Has |= protocol.HasBattery
		}
		if bt.IsCharging != nil {
			m.Charging = *bt.IsCharging
			m.Has |= protocol.HasCharging
		}
	}
	for k, v := range l.Extras {
		if v, ok := extraValue(v); ok {
			m.SetExtra(k, v)
		}
	}
	finish(&m, haveTime, now)
	return m, nil
}

// extraValue types an extras value as Traccar does: integral numbers as
// int64, other numbers as float64, booleans, strings; nested values are
// dropped.
func extraValue(v any) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, true
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case bool, string:
		return x, true
	}
	return nil, false
}
