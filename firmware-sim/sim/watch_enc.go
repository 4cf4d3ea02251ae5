package sim

// TEMPORARY until carevisit/protocol/watch lands.

import (
	"fmt"

	"carevisit/protocol"
)

func watchFrame(dst []byte, maker, id, content string) []byte {
	return fmt.Appendf(dst, "[%s*%s*%04X*%s]", maker, id, len(content), content)
}

func appendWatchLK(dst []byte, maker, id string, steps, battery int) []byte {
	return watchFrame(dst, maker, id, fmt.Sprintf("LK,%d,0,%d", steps, battery))
}

func appendWatchUD(dst []byte, maker, id string, m protocol.Message) []byte {
	return watchFrame(dst, maker, id, "UD,"+watchBody(m))
}

func appendWatchAL(dst []byte, maker, id string, m protocol.Message) []byte {
	return watchFrame(dst, maker, id, "AL,"+watchBody(m))
}

func watchBody(m protocol.Message) string {
	v := "V"
	if m.Valid {
		v = "A"
	}
	t := m.Time.UTC()
	return fmt.Sprintf("%s,%s,%s,%.6f,N,%.6f,E,%.2f,%.0f,0.0,%d,100,%d,%d,0,00000000,0,0,250,1",
		t.Format("020106"), t.Format("150405"), v, m.Lat, m.Lon, m.SpeedKmh, m.Course, m.Sats, m.Battery, m.Steps)
}
