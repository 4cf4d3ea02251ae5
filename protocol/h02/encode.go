package h02

import (
	"fmt"
	"math"
	"strconv"

	"carevisit/protocol"
)

// defaultStatus has every active-low alarm bit set (no alarm), ignition off.
const defaultStatus uint32 = 0xFFFFFBFF

// AppendV1 appends a V1 position frame for m, as a device would send it (for
// the simulator and tests): time and date from m.Time (UTC), coordinates as
// ddmm.mmmmm, speed in knots, status from m.Status when HasStatus is set,
// else no alarm, then m.Alarm and m.Ignition folded in.
func AppendV1(dst []byte, id string, m protocol.Message) []byte {
	t := m.Time.UTC()
	dst = append(dst, "*HQ,"...)
	dst = append(dst, id...)
	dst = append(dst, ",V1,"...)
	dst = t.AppendFormat(dst, "150405")
	if m.Valid {
		dst = append(dst, ",A,"...)
	} else {
		dst = append(dst, ",V,"...)
	}
	dst = appendCoord(dst, m.Lat, 2, 'N', 'S')
	dst = append(dst, ',')
	dst = appendCoord(dst, m.Lon, 3, 'E', 'W')
	dst = append(dst, ',')
	dst = strconv.AppendFloat(dst, m.SpeedKmh/knotKmh, 'f', 2, 64)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(math.Round(m.Course)), 10)
	dst = append(dst, ',')
	dst = t.AppendFormat(dst, "020106")
	dst = append(dst, ',')
	dst = fmt.Appendf(dst, "%08X", encodeStatus(m))
	return append(dst, '#')
}

// AppendHeartbeat appends `*HQ,<id>,HTBT,<battery>#`.
func AppendHeartbeat(dst []byte, id string, batteryPct int) []byte {
	dst = append(dst, "*HQ,"...)
	dst = append(dst, id...)
	dst = append(dst, ",HTBT,"...)
	dst = strconv.AppendInt(dst, int64(batteryPct), 10)
	return append(dst, '#')
}

// appendCoord writes |v| as degrees (zero-padded to degDigits) and minutes
// with five decimals, then the hemisphere letter.
func appendCoord(dst []byte, v float64, degDigits int, pos, neg byte) []byte {
	hem := pos
	if v < 0 {
		hem, v = neg, -v
	}
	total := int64(math.Round(v * 60 * 1e5)) // minutes x 1e5, carries into degrees
	deg, frac := total/(60*1e5), total%(60*1e5)
	dst = fmt.Appendf(dst, "%0*d%02d.%05d,", degDigits, deg, frac/1e5, frac%1e5)
	return append(dst, hem)
}

func encodeStatus(m protocol.Message) uint32 {
	s := defaultStatus
	if m.Has&protocol.HasStatus != 0 {
		s = m.Status
	}
	if m.Has&protocol.HasIgnition != 0 {
		if m.Ignition {
			s |= 1 << 10
		} else {
			s &^= 1 << 10
		}
	}
	switch m.Alarm {
	case "vibration":
		s &^= 1 << 0
	case "sos":
		s &^= 1 << 1
	case "overspeed":
		s &^= 1 << 2
	case "powerCut":
		s &^= 1 << 19
	}
	return s
}
