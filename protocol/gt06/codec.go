package gt06

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"carevisit/protocol"
)

// Codec is one connection's GT06 decoder state. Not safe for concurrent use
// (one per connection), except CRCMismatches which may be read by metrics.
type Codec struct {
	// Now is the clock used for time replies (0x8A). Default time.Now.
	Now func() time.Time
	// Location is the device's configured time zone for the date-times it
	// sends. nil means: the zone from the login frame, else UTC.
	Location *time.Location
	// Model is the device model the server knows (Traccar's names: "LW4G-4B",
	// "SEEWORLD", "NT20", "XT40", "VL103", ...). It selects model-specific
	// layouts; "" is the generic layout.
	Model string

	deviceID  string
	loginZone *time.Location
	crcBad    atomic.Uint64
	modelOf   string     // the Model that model was parsed from
	model     modelFlags // parsed Model
}

var _ protocol.Codec = (*Codec)(nil)

// New returns a Codec with the default clock, UTC and the generic layout.
func New() *Codec { return &Codec{Now: time.Now} }

// DeviceID returns the IMEI of the last login (or SetDeviceID), or "".
func (c *Codec) DeviceID() string { return c.deviceID }

// SetDeviceID identifies the device out of band.
func (c *Codec) SetDeviceID(id string) { c.deviceID = id }

// SetModel selects model-specific layouts once the server knows the
// device's model (Traccar's model names: "LW4G-4B", "SEEWORLD", ...).
func (c *Codec) SetModel(model string) { c.Model = model }

// CRCMismatches counts frames with a standard layout whose CRC-ITU was wrong.
// They are decoded anyway (see the package comment).
func (c *Codec) CRCMismatches() uint64 { return c.crcBad.Load() }

func (c *Codec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Codec) zone() *time.Location {
	if c.Location != nil {
		return c.Location
	}
	if c.loginZone != nil {
		return c.loginZone
	}
	return time.UTC
}

// Frame implements protocol.Codec.
func (c *Codec) Frame(buf []byte) (n, skip int, err error) {
	if len(buf) == 0 {
		return 0, 0, nil
	}
	if !isStart(buf, 0) {
		if len(buf) == 1 && (buf[0] == 0x78 || buf[0] == 0x79) {
			return 0, 0, nil // maybe the first half of a start marker
		}
		return 0, garbageLen(buf), protocol.ErrGarbage
	}
	if len(buf) < 5 {
		return 0, 0, nil
	}
	var size int
	if buf[0] == 0x78 {
		size = int(buf[2]) + 5
	} else {
		size = (int(buf[2])<<8 | int(buf[3])) + 6
	}
	if size > protocol.MaxFrame {
		return 0, 0, fmt.Errorf("%w: length field says %d bytes", protocol.ErrTooLarge, size)
	}
	if size <= len(buf) && buf[size-2] == '\r' && buf[size-1] == '\n' {
		return size, 0, nil
	}
	// The length field lies (Wi-Fi counts, broken firmware): cut at the
	// first 0D 0A after the start marker. While the declared frame has not
	// fully arrived, only accept a 0D 0A that ends the bytes received so far:
	// an earlier one may be part of the content of a frame cut by TCP.
	if i := bytes.Index(buf[2:], []byte{'\r', '\n'}); i >= 0 && (size <= len(buf) || i+4 == len(buf)) {
		if i+4 > protocol.MaxFrame {
			return 0, 0, fmt.Errorf("%w: no frame end in %d bytes", protocol.ErrTooLarge, protocol.MaxFrame)
		}
		return i + 4, 0, nil
	}
	if len(buf) >= protocol.MaxFrame {
		return 0, 0, fmt.Errorf("%w: no frame end in %d bytes", protocol.ErrTooLarge, len(buf))
	}
	return 0, 0, nil
}

func isStart(b []byte, i int) bool {
	return i+1 < len(b) && b[i] == b[i+1] && (b[i] == 0x78 || b[i] == 0x79)
}

// garbageLen returns how many bytes precede the next start-marker candidate
// (keeping a trailing lone 0x78/0x79 that may begin one).
func garbageLen(b []byte) int {
	for i := 1; i < len(b); i++ {
		if b[i] != 0x78 && b[i] != 0x79 {
			continue
		}
		if i == len(b)-1 || isStart(b, i) {
			return i
		}
	}
	return len(b)
}

// Decode implements protocol.Codec.
func (c *Codec) Decode(frame []byte, dst []protocol.Message, replyBuf []byte) ([]protocol.Message, []byte, error) {
	if len(frame) < 10 {
		return dst, nil, fmt.Errorf("%w: %d bytes", protocol.ErrShort, len(frame))
	}
	long := false
	switch {
	case frame[0] == 0x78 && frame[1] == 0x78:
	case frame[0] == 0x79 && frame[1] == 0x79:
		long = true
	default:
		return dst, nil, fmt.Errorf("%w: start % x", protocol.ErrMalformed, frame[:2])
	}
	c.checkCRC(frame, long)

	d := decoder{c: c, frame: frame, long: long, reply: replyBuf[:0]}
	d.r = reader{b: frame, off: 2}
	if long {
		d.length = d.r.u16()
	} else {
		d.length = d.r.u8()
	}
	d.typ = byte(d.r.u8())
	d.serial = uint16(frame[len(frame)-6])<<8 | uint16(frame[len(frame)-5])
	d.variant = detectVariant(frame)
	if c.Model != c.modelOf {
		c.modelOf, c.model = c.Model, parseModel(c.Model)
	}
	d.modelFlags = c.model

	if !(d.typ == msgLogin && !long) && c.deviceID == "" {
		return dst, nil, protocol.ErrNoDevice
	}
	// Decode straight into dst's next slot: a Message is large, and the
	// location path must not copy it twice.
	n := len(dst)
	dst = append(dst, protocol.Message{DeviceID: c.deviceID})
	d.m = &dst[n]

	var ok bool
	if long {
		ok = d.decodeLong()
	} else {
		ok = d.decodeShort()
	}
	if d.r.bad || !ok {
		dst[n] = protocol.Message{} // drop references held by the unused slot
		dst = dst[:n]
	}
	if d.r.bad {
		return dst, nil, fmt.Errorf("%w: type 0x%02x cut short (%d bytes)", protocol.ErrShort, d.typ, len(frame))
	}
	if ok && d.m.Type == protocol.TypePosition {
		d.m.Approximate = false
	}
	if d.hasReply {
		return dst, d.reply, nil
	}
	return dst, nil, nil
}

// checkCRC counts a wrong CRC on frames whose length field fits the bytes
// (the others have no CRC where the layout says).
func (c *Codec) checkCRC(frame []byte, long bool) {
	size := int(frame[2]) + 5
	if long {
		size = (int(frame[2])<<8 | int(frame[3])) + 6
	}
	if size != len(frame) {
		return
	}
	got := uint16(frame[len(frame)-4])<<8 | uint16(frame[len(frame)-3])
	if crcITU(frame[2:len(frame)-4]) != got {
		c.crcBad.Add(1)
	}
}

// variant is a vendor layout chosen by (start, type, length).
type variant uint8

const (
	vStandard variant = iota
	vVXT01
	vWanwayS20
	vSR411Mini
	vGT06ECard
	vBenway
	vS5
	vSpace10X
	vOBD6
	vWeTrust
	vJC400
	vSL4X
	vSeeworld
	vRFID
	vLW4G
)

func detectVariant(f []byte) variant {
	if f[0] != 0x78 {
		return vStandard
	}
	length, typ := int(f[2]), f[3]
	switch {
	case typ == msgGPSLBS1 && length == 0x24, typ == msgGPSLBSStatus1 && length == 0x24:
		return vVXT01
	case typ == msgLBSMultiple3 && length == 0x31:
		return vWanwayS20
	case typ == msgLBSMultiple3 && length == 0x2e:
		return vSR411Mini
	case typ == msgGPSLBS1 && length >= 0x71:
		return vGT06ECard
	case typ == msgGPSLBS1 && length == 0x21:
		return vBenway
	case typ == msgGPSLBS1 && length == 0x2b:
		return vS5
	case typ == msgLBSStatus && length >= 0x17:
		return vSpace10X
	case typ == msgStatus && length == 0x13:
		return vOBD6
	case typ == msgGPSLBS1 && length == 0x29:
		return vWeTrust
	case typ == msgAlarm && f[4] == 0xff && f[5] == 0xff:
		return vJC400
	case typ == msgX1GPS && length == 0x37, typ == msgGPSLBS5 && length == 0x2a,
		typ == msgGPSLBSStatus4 && (length == 0x27 || length == 0x29):
		return vSL4X
	case typ == msgGPSLBS2 && length == 0x2f, typ == msgGPSLBSStatus1 && length == 0x26,
		typ == msgFenceSingle && length == 0x0c:
		return vSeeworld
	case typ == msgWiFi && length == 0x28:
		return vRFID
	case typ == msgWiFi3 && length == 0x40:
		return vLW4G
	}
	return vStandard
}

// decoder holds the state of one Decode call.
type decoder struct {
	c       *Codec
	frame   []byte
	r       reader
	long    bool
	length  int
	typ     byte
	serial  uint16
	variant variant

	modelFlags

	m        *protocol.Message // the slot in dst being filled
	reply    []byte
	hasReply bool
}

// modelFlags are the model families whose layouts differ.
type modelFlags struct {
	modelLW, modelSW, modelNT, modelVL bool
	modelR11, modelQH302R              bool
}

func parseModel(model string) (f modelFlags) {
	u := strings.ToUpper(model)
	f.modelLW = strings.HasPrefix(u, "LW")
	f.modelSW = u == "SEEWORLD"
	switch u {
	case "NT11", "NT20", "NT26", "NT40", "NT46", "VL100", "XT40":
		f.modelNT = true
	case "VL103", "LL303", "VL512", "G18":
		f.modelVL = true
	case "R11":
		f.modelR11 = true
	case "QH302R":
		f.modelQH302R = true
	}
	return f
}

// ack appends the standard short-frame reply: echoed type and serial.
func (d *decoder) ack(typ byte, serial uint16, content []byte) {
	d.reply = appendFrame(d.reply, false, typ, content, serial)
	d.hasReply = true
}

func (d *decoder) date() time.Time {
	return readDate(&d.r, d.c.zone())
}

func readDate(r *reader, loc *time.Location) time.Time {
	s := r.take(6)
	if s == nil {
		return time.Time{}
	}
	y := int(s[0])
	if y < 100 {
		y += 2000
	}
	return time.Date(y, time.Month(s[1]), int(s[2]), int(s[3]), int(s[4]), int(s[5]), 0, loc).UTC()
}

func (d *decoder) addAlarm(a string) {
	switch {
	case a == "":
	case d.m.Alarm == "":
		d.m.Alarm = a
	default:
		d.m.Alarm += "," + a
	}
}
