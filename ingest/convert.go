package ingest

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"carevisit/protocol"
	"carevisit/store"
)

// Reasons a decoded position is not stored.
const (
	rejectTime   = "bad_time"
	rejectCoords = "bad_coordinates"
)

// earliestFix: older fix times come from devices with an unset clock.
var earliestFix = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// toPosition converts a decoded message; reason != "" means implausible.
func toPosition(m *protocol.Message, deviceID int64, source string, now time.Time, attrBuf []byte) (store.Position, []byte, string) {
	p := store.Position{
		DeviceID: deviceID, FixTime: m.Time.UTC(), RecvTime: now, Lat: m.Lat, Lon: m.Lon, Valid: m.Valid,
		Approximate: m.Approximate, AccuracyM: store.NaN32, SpeedKmh: store.NaN32, Course: store.NaN32,
		AltitudeM: store.NaN32, Sats: -1, HDOP: store.NaN32, Battery: -1, Alarm: m.Alarm, Source: source,
	}
	// A fix may be up to a day ahead (time zone mistakes in devices we still
	// want to see), never before 2000.
	if p.FixTime.Before(earliestFix) || p.FixTime.After(now.Add(25*time.Hour)) {
		return p, attrBuf, rejectTime
	}
	if math.IsNaN(m.Lat) || math.IsNaN(m.Lon) || m.Lat < -90 || m.Lat > 90 || m.Lon < -180 || m.Lon > 180 {
		return p, attrBuf, rejectCoords
	}
	if m.Has&protocol.HasSpeed != 0 || m.SpeedKmh != 0 {
		p.SpeedKmh = float32(m.SpeedKmh)
	}
	if m.Has&protocol.HasCourse != 0 || m.Course != 0 {
		p.Course = float32(m.Course)
	}
	if m.Has&protocol.HasAltitude != 0 {
		p.AltitudeM = float32(m.Altitude)
	}
	if m.Has&protocol.HasSats != 0 {
		p.Sats = int16(min(m.Sats, 255))
	}
	if m.Has&protocol.HasHDOP != 0 || m.HDOP != 0 {
		p.HDOP = float32(m.HDOP)
	}
	if m.Has&protocol.HasAccuracy != 0 || m.AccuracyM != 0 {
		p.AccuracyM = float32(m.AccuracyM)
	}
	if m.Has&protocol.HasBattery != 0 {
		p.Battery = int16(m.Battery)
	}
	attrBuf = appendAttributes(attrBuf[:0], m)
	if len(attrBuf) > 2 {
		p.Attributes = string(attrBuf)
	}
	return p, attrBuf, ""
}

// appendAttributes writes the attributes that have no column of their own as
// a JSON object, without building a map (this runs for every position).
func appendAttributes(b []byte, m *protocol.Message) []byte {
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
	}
	if m.Has&protocol.HasIgnition != 0 {
		key("ignition")
		b = strconv.AppendBool(b, m.Ignition)
	}
	if m.Has&protocol.HasCharging != 0 {
		key("charge")
		b = strconv.AppendBool(b, m.Charging)
	}
	if m.Has&protocol.HasRSSI != 0 {
		key("rssi")
		b = strconv.AppendInt(b, int64(m.RSSI), 10)
	}
	if m.Has&protocol.HasVoltage != 0 {
		key("power")
		b = strconv.AppendFloat(b, m.Voltage, 'f', -1, 64)
	}
	if m.Has&protocol.HasStatus != 0 {
		key("status")
		b = strconv.AppendUint(b, uint64(m.Status), 10)
	}
	if m.Has&protocol.HasOdometer != 0 {
		key("odometer")
		b = strconv.AppendFloat(b, m.Odometer, 'f', -1, 64)
	}
	if m.Has&protocol.HasSteps != 0 {
		key("steps")
		b = strconv.AppendInt(b, int64(m.Steps), 10)
	}
	if m.Has&protocol.HasCell != 0 {
		key("mcc")
		b = strconv.AppendInt(b, int64(m.MCC), 10)
		key("mnc")
		b = strconv.AppendInt(b, int64(m.MNC), 10)
		key("lac")
		b = strconv.AppendInt(b, m.LAC, 10)
		key("cid")
		b = strconv.AppendInt(b, m.CID, 10)
	}
	if m.Archive {
		key("archive")
		b = append(b, "true"...)
	}
	for k, v := range m.Extra {
		if !validKey(k) {
			continue
		}
		val, err := json.Marshal(v)
		if err != nil {
			continue
		}
		key(k)
		b = append(b, val...)
	}
	return append(b, '}')
}

// validKey keeps device-chosen keys (OsmAnd lets a phone send any key)
// from breaking the JSON we write by hand.
func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
