// Package h02 decodes the H02 tracker protocol: text frames `*HQ,...#` and
// fixed-size binary `$` frames (protocols.md §2). One Codec per connection.
package h02

import (
	"bytes"
	"fmt"
	"time"

	"carevisit/protocol"
)

// Binary frame sizes (protocols.md §2.1).
const (
	shortBinary = 32
	longBinary  = 45
	longIDFrame = 42 // binary frame carrying an 8-byte (15-digit) id
)

// Codec is one connection's H02 state. Not safe for concurrent use.
type Codec struct {
	// Now is the clock used for replies and for fixes without a date.
	Now func() time.Time
	// MessageLength fixes the binary `$` frame size (Traccar's
	// h02.messageLength, e.g. 42). 0 = detect: 45 if the first binary frame
	// arrives with exactly 45 bytes buffered, else 32.
	MessageLength int

	binLen int    // binary frame size once decided
	id     string // device id from the last identified frame
}

var _ protocol.Codec = (*Codec)(nil)

// New returns a Codec using the system clock.
func New() *Codec { return &Codec{Now: time.Now} }

// DeviceID returns the id the device last sent, or "".
func (c *Codec) DeviceID() string { return c.id }

// SetDeviceID identifies the device out of band.
func (c *Codec) SetDeviceID(id string) { c.id = id }

func (c *Codec) now() time.Time {
	if c.Now == nil {
		return time.Now().UTC()
	}
	return c.Now().UTC()
}

// Frame cuts the first frame from buf. Bytes before a `*`, `$` or `X`
// marker (including the CR/LF devices send after `#`) come back as
// ErrGarbage with their count in skip.
func (c *Codec) Frame(buf []byte) (n, skip int, err error) {
	if len(buf) == 0 {
		return 0, 0, nil
	}
	for skip < len(buf) && buf[skip] != '*' && buf[skip] != '$' && buf[skip] != 'X' {
		skip++
	}
	if skip > 0 {
		return 0, skip, protocol.ErrGarbage
	}
	switch buf[0] {
	case '*':
		end := bytes.IndexByte(buf[:min(len(buf), protocol.MaxFrame)], '#')
		if end < 0 {
			if len(buf) >= protocol.MaxFrame {
				return 0, 0, fmt.Errorf("%w: text frame without '#' in %d bytes", protocol.ErrTooLarge, len(buf))
			}
			return 0, 0, nil
		}
		return end + 1, 0, nil
	case '$':
		if c.binLen == 0 {
			switch {
			case c.MessageLength > 0:
				c.binLen = min(c.MessageLength, protocol.MaxFrame)
			case len(buf) == longBinary:
				c.binLen = longBinary
			default:
				c.binLen = shortBinary
			}
		}
		if len(buf) < c.binLen {
			return 0, 0, nil
		}
		return c.binLen, 0, nil
	default: // 'X': fixed 32 bytes, ignored by Decode
		if len(buf) < shortBinary {
			return 0, 0, nil
		}
		return shortBinary, 0, nil
	}
}

// Decode decodes one frame. The reply, if any, is built in replyBuf[:0].
// Frames Traccar ignores (XT, BS, BASE, `X` frames, an HTBT without battery)
// yield no message and no error; a frame that cannot be parsed yields
// ErrMalformed (per frame: the stream stays usable).
func (c *Codec) Decode(frame []byte, dst []protocol.Message, replyBuf []byte) ([]protocol.Message, []byte, error) {
	if len(frame) == 0 {
		return dst, nil, protocol.ErrShort
	}
	switch frame[0] {
	case '*':
		return c.decodeText(frame, dst, replyBuf)
	case '$':
		return c.decodeBinary(frame, dst)
	default:
		return dst, nil, nil
	}
}

// setID records the frame's device id, reusing the cached string when it is
// unchanged so the hot path does not allocate.
func (c *Codec) setID(id []byte) string {
	if len(id) == 0 {
		return ""
	}
	if string(id) != c.id {
		c.id = string(id)
	}
	return c.id
}

// replyID is the id to answer with: the frame's, else the connection's.
func (c *Codec) replyID(frameID string) string {
	if frameID != "" {
		return frameID
	}
	return c.id
}

// processStatus applies the active-low status word (protocols.md §2.2).
func processStatus(m *protocol.Message, status uint32) {
	switch {
	case status&(1<<0) == 0:
		m.Alarm = "vibration"
	case status&(1<<1) == 0 || status&(1<<18) == 0:
		m.Alarm = "sos"
	case status&(1<<2) == 0:
		m.Alarm = "overspeed"
	case status&(1<<19) == 0:
		m.Alarm = "powerCut"
	}
	m.Ignition = status&(1<<10) != 0
	m.Status = status
	m.Has |= protocol.HasIgnition | protocol.HasStatus
}

// batteryPercent maps the binary battery byte to percent (ok=false: unknown).
func batteryPercent(v int) (int, bool) {
	switch {
	case v == 0:
		return 0, false
	case v <= 3:
		return (v - 1) * 10, true
	case v <= 6:
		return (v - 1) * 20, true
	case v <= 100:
		return v, true
	case v >= 0xF1 && v <= 0xF6:
		return v - 0xF0, true
	}
	return 0, false
}

const knotKmh = 1.852

func checkLatLon(m *protocol.Message) error {
	if m.Lat < -90 || m.Lat > 90 || m.Lon < -180 || m.Lon > 180 {
		return fmt.Errorf("%w: coordinates out of range (%g, %g)", protocol.ErrMalformed, m.Lat, m.Lon)
	}
	return nil
}
