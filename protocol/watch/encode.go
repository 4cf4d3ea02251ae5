package watch

import (
	"fmt"
	"math"
	"strconv"

	"carevisit/protocol"
)

// alarmBit is the status bit the encoders set for an alarm name.
func alarmBit(alarm string) uint32 {
	switch alarm {
	case "lowBattery":
		return 1 << 0
	case "geofenceExit":
		return 1 << 1
	case "geofenceEnter":
		return 1 << 2
	case "powerCut":
		return 1 << 14
	case "sos":
		return 1 << 16
	case "removing":
		return 1 << 20
	case "fallDown":
		return 1 << 21
	}
	return 0
}

// AppendUD appends a UD position frame for m as a watch sends it (for the
// simulator and tests): speed km/h, status from m.Status when HasStatus is
// set plus the bit of m.Alarm, the serving cell when HasCell is set and the
// accuracy when HasAccuracy is set.
func AppendUD(dst []byte, maker, id string, m protocol.Message) []byte {
	return appendPosition(dst, maker, id, "UD", m)
}

// AppendAL appends an AL alarm frame; set m.Alarm (e.g. "sos", bit 16) or
// m.Status to say which alarm.
func AppendAL(dst []byte, maker, id string, m protocol.Message) []byte {
	return appendPosition(dst, maker, id, "AL", m)
}

// AppendLK appends a link keep-alive with steps and battery percent.
func AppendLK(dst []byte, maker, id string, steps, battery int) []byte {
	return appendDevice(dst, maker, id, fmt.Appendf(nil, "LK,%d,0,%d", steps, battery))
}

func appendPosition(dst []byte, maker, id, typ string, m protocol.Message) []byte {
	t := m.Time.UTC()
	b := make([]byte, 0, 160)
	b = append(b, typ...)
	b = append(b, ',')
	b = t.AppendFormat(b, "020106,150405")
	if m.Valid {
		b = append(b, ",A,"...)
	} else {
		b = append(b, ",V,"...)
	}
	b = appendCoord(b, m.Lat, 'N', 'S')
	b = appendCoord(b, m.Lon, 'E', 'W')
	status := m.Status
	if m.Has&protocol.HasStatus == 0 {
		status = 0
	}
	status |= alarmBit(m.Alarm)
	b = fmt.Appendf(b, "%.2f,%.1f,%.1f,%d,%d,%d,%d,0,%08X,",
		m.SpeedKmh, m.Course, m.Altitude, m.Sats, m.RSSI, m.Battery, m.Steps, status)
	if m.Has&protocol.HasCell != 0 {
		b = fmt.Appendf(b, "1,255,%d,%d,%d,%d,100,0", m.MCC, m.MNC, m.LAC, m.CID)
	} else {
		b = append(b, "0,0,0"...)
	}
	if m.Has&protocol.HasAccuracy != 0 {
		b = append(b, ',')
		b = strconv.AppendFloat(b, m.AccuracyM, 'f', -1, 64)
	}
	return appendDevice(dst, maker, id, b)
}

// appendCoord writes |v| with 7 decimals and the hemisphere letter.
func appendCoord(b []byte, v float64, pos, neg byte) []byte {
	hem := pos
	if v < 0 {
		hem = neg
	}
	b = strconv.AppendFloat(b, math.Abs(v), 'f', 7, 64)
	return append(b, ',', hem, ',')
}

// appendDevice frames content as a device does: length in upper-case hex.
func appendDevice(dst []byte, maker, id string, content []byte) []byte {
	dst = fmt.Appendf(dst, "[%s*%s*%04X*", maker, id, len(content))
	dst = append(dst, content...)
	return append(dst, ']')
}
