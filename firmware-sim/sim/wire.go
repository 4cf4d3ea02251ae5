package sim

import (
	"bytes"

	"carevisit/protocol"
	"carevisit/protocol/gt06"
	"carevisit/protocol/h02"
)

// GT06 message types the simulator sends.
const (
	gt06Login    = 0x01
	gt06Status   = 0x13
	gt06Location = 0x22
	gt06Alarm    = 0x26
)

// gt06Wire: login first, then locations (0x22, re-upload flag for late
// ones), alarms (0x26) and heartbeats (0x13); every frame is acknowledged
// with its type and serial echoed.
type gt06Wire struct {
	imei   string
	serial uint16
}

func gt06Key(typ byte, serial uint16) uint32 { return uint32(typ)<<16 | uint32(serial) }

func (g *gt06Wire) next() uint16 {
	g.serial++
	return g.serial
}

func (g *gt06Wire) hello(dst []byte) ([]byte, uint32) {
	s := g.next()
	return gt06.AppendLogin(dst, g.imei, s), gt06Key(gt06Login, s)
}

func (g *gt06Wire) data(dst []byte, m *protocol.Message) ([]byte, uint32) {
	s := g.next()
	if m.Alarm != "" {
		return gt06.AppendAlarm(dst, *m, s), gt06Key(gt06Alarm, s)
	}
	return gt06.AppendLocation(dst, *m, s), gt06Key(gt06Location, s)
}

func (g *gt06Wire) keepAlive(dst []byte, battery, _ int) ([]byte, uint32) {
	s := g.next()
	m := protocol.Message{Battery: battery, RSSI: 4, Has: protocol.HasBattery | protocol.HasRSSI}
	return gt06.AppendHeartbeat(dst, m, s), gt06Key(gt06Status, s)
}

func (g *gt06Wire) acks(buf []byte, keys []uint32) (int, []uint32) {
	return ParseGT06Acks(buf, keys)
}

// ParseGT06Acks reads the server's GT06 replies at the start of buf and
// returns the bytes consumed and, per reply, its type<<16 | serial.
// Unparseable bytes are skipped up to the next start marker.
func ParseGT06Acks(buf []byte, keys []uint32) (int, []uint32) {
	i := 0
	for i < len(buf) {
		if i+1 >= len(buf) {
			break
		}
		var size, hdr int
		switch {
		case buf[i] == 0x78 && buf[i+1] == 0x78:
			if i+2 >= len(buf) {
				return i, keys
			}
			size, hdr = int(buf[i+2])+5, 3
		case buf[i] == 0x79 && buf[i+1] == 0x79:
			if i+3 >= len(buf) {
				return i, keys
			}
			size, hdr = (int(buf[i+2])<<8|int(buf[i+3]))+6, 4
		default:
			i++
			continue
		}
		if i+size > len(buf) {
			return i, keys
		}
		f := buf[i : i+size]
		if size >= hdr+1+6 {
			serial := uint16(f[size-6])<<8 | uint16(f[size-5])
			keys = append(keys, gt06Key(f[hdr], serial))
		}
		i += size
	}
	return i, keys
}

// h02Wire: V1 positions and HTBT heartbeats, nothing acknowledged (H02
// devices never learn whether a position arrived).
type h02Wire struct{ id string }

func (h *h02Wire) hello(dst []byte) ([]byte, uint32) { return dst, noAck }

func (h *h02Wire) data(dst []byte, m *protocol.Message) ([]byte, uint32) {
	return h02.AppendV1(dst, h.id, *m), noAck
}

func (h *h02Wire) keepAlive(dst []byte, battery, _ int) ([]byte, uint32) {
	return h02.AppendHeartbeat(dst, h.id, battery), noAck
}

// acks discards the server's echoes (`*HQ,<id>,HTBT#`).
func (h *h02Wire) acks(buf []byte, keys []uint32) (int, []uint32) {
	if i := bytes.LastIndexByte(buf, '#'); i >= 0 {
		return i + 1, keys
	}
	return 0, keys
}
