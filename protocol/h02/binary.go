package h02

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"carevisit/protocol"
)

// bcd reads n BCD digits starting at digit offset d (two digits a byte, high
// nibble first). Nibbles above 9 are taken at face value, as Traccar does.
func bcd(b []byte, d, n int) int {
	v := 0
	for i := d; i < d+n; i++ {
		x := b[i/2]
		if i%2 == 0 {
			x >>= 4
		}
		v = v*10 + int(x&0x0f)
	}
	return v
}

// decodeBinary decodes a `$` position (protocols.md §2.3). Offsets below are
// in BCD digits after the id.
func (c *Codec) decodeBinary(frame []byte, dst []protocol.Message) ([]protocol.Message, []byte, error) {
	idLen := 5
	if len(frame) == longIDFrame || c.MessageLength == longIDFrame {
		idLen = 8
	}
	if len(frame) < 1+idLen+23 {
		return dst, nil, fmt.Errorf("%w: binary frame of %d bytes", protocol.ErrShort, len(frame))
	}

	var idBuf [16]byte
	hex.Encode(idBuf[:], frame[1:1+idLen])
	id := idBuf[:2*idLen]
	if idLen == 8 {
		id = id[:15]
	}
	m := protocol.Message{Type: protocol.TypePosition, DeviceID: c.setID(id)}

	b := frame[1+idLen:]
	hh, mi, ss := bcd(b, 0, 2), bcd(b, 2, 2), bcd(b, 4, 2)
	dd, mo, yy := bcd(b, 6, 2), bcd(b, 8, 2), bcd(b, 10, 2)
	m.Time = time.Date(2000+yy, time.Month(mo), dd, hh, mi, ss, 0, time.UTC)

	// Latitude ddmmmmmm (minutes x 10000) at digit 12; battery byte at 10.
	lat := float64(bcd(b, 12, 2)) + float64(bcd(b, 14, 6))/10000/60
	if p, ok := batteryPercent(int(b[10])); ok {
		m.Battery = p
		m.Has |= protocol.HasBattery
	}
	// Longitude dddmmmmmm at digit 22, then the flag nibble at digit 31.
	lon := float64(bcd(b, 22, 3)) + float64(bcd(b, 25, 6))/10000/60
	flags := b[15] & 0x0f
	m.Valid = flags&0x02 != 0
	if flags&0x04 == 0 {
		lat = -lat
	}
	if flags&0x08 == 0 {
		lon = -lon
	}
	m.Lat, m.Lon = lat, lon

	m.SpeedKmh = float64(bcd(b, 32, 3)) * knotKmh
	m.Course = float64(bcd(b, 35, 3))
	m.Has |= protocol.HasSpeed | protocol.HasCourse
	processStatus(&m, binary.BigEndian.Uint32(b[19:23]))
	if err := checkLatLon(&m); err != nil {
		return dst, nil, err
	}
	return append(dst, m), nil, nil
}
