// Package protocol holds what every tracker protocol decoder shares: the
// decoded Message, the Codec contract and small helpers. Decoders live in
// subpackages (gt06, h02, watch, osmand). Everything here is pure: bytes in,
// messages and reply bytes out, no I/O, no clocks except where passed in.
package protocol

import (
	"errors"
	"time"
)

// Message types.
const (
	TypeLogin     = "login"     // device identified itself (IMEI / id)
	TypePosition  = "position"  // a fix (GPS, or approximate from cells / Wi-Fi)
	TypeStatus    = "status"    // heartbeat / status without a position of its own
	TypeTime      = "time"      // device asks for the current time
	TypeInfo      = "info"      // information: battery, voltage, ICCID, ...
	TypeResult    = "result"    // reply to a server command (text)
	TypeNetwork   = "network"   // cells / Wi-Fi list without a position
	TypeHeartbeat = "heartbeat" // keep-alive with nothing else worth storing
)

// Has bits say which typed attributes of a Message are set. Typed fields keep
// the hot decode path free of allocations; Extra holds the rare ones.
const (
	HasBattery  uint32 = 1 << iota // Battery (percent)
	HasVoltage                     // Voltage (volts)
	HasIgnition                    // Ignition
	HasCharging                    // Charging
	HasRSSI                        // RSSI
	HasStatus                      // Status (raw device status bits)
	HasOdometer                    // Odometer (metres)
	HasSteps                       // Steps
	HasCell                        // MCC, MNC, LAC, CID
	HasAltitude                    // Altitude
	HasHDOP                        // HDOP
	HasSats                        // Sats
	HasAccuracy                    // AccuracyM
	HasSpeed                       // SpeedKmh is a real measurement
	HasCourse                      // Course is a real measurement
)

// Message is one decoded device message. A position message has Type
// TypePosition and a fix time; the other types may carry attributes only.
type Message struct {
	Type     string
	DeviceID string // IMEI or device id as the device sent it ("" = the connection's device)

	Time        time.Time // fix time, UTC
	Valid       bool      // the device's own validity flag
	Lat, Lon    float64   // WGS84 degrees
	SpeedKmh    float64
	Course      float64 // degrees
	Altitude    float64 // metres
	Sats        int
	HDOP        float64
	Approximate bool    // from cell towers or Wi-Fi, not GPS
	AccuracyM   float64 // horizontal accuracy radius in metres, 0 = unknown

	Has      uint32 // Has* bits for the typed attributes below and above
	Battery  int    // percent 0..100
	Voltage  float64
	Ignition bool
	Charging bool
	RSSI     int
	Status   uint32
	Odometer float64
	Steps    int
	Alarm    string // "" = none; "sos", "powerCut", "lowBattery", "vibration", "fall", ...
	Archive  bool   // buffered data uploaded late (device says so)
	MCC, MNC int
	LAC      int64
	CID      int64

	// Extra holds attributes that have no typed field, under Traccar's names
	// where one exists. nil on the hot path.
	Extra map[string]any
}

// SetExtra sets a rare attribute, allocating Extra on first use.
func (m *Message) SetExtra(key string, v any) {
	if m.Extra == nil {
		m.Extra = make(map[string]any, 4)
	}
	m.Extra[key] = v
}

// IsPosition reports whether m carries a fix that should be stored.
func (m *Message) IsPosition() bool { return m.Type == TypePosition }

// Attributes returns every attribute of m as one map under stable names
// (Traccar's where it has one). It allocates: for output and tests, not the
// ingest path.
func (m *Message) Attributes() map[string]any {
	a := make(map[string]any, len(m.Extra)+8)
	for k, v := range m.Extra {
		a[k] = v
	}
	if m.Has&HasBattery != 0 {
		a["batteryLevel"] = m.Battery
	}
	if m.Has&HasVoltage != 0 {
		a["power"] = m.Voltage
	}
	if m.Has&HasIgnition != 0 {
		a["ignition"] = m.Ignition
	}
	if m.Has&HasCharging != 0 {
		a["charge"] = m.Charging
	}
	if m.Has&HasRSSI != 0 {
		a["rssi"] = m.RSSI
	}
	if m.Has&HasStatus != 0 {
		a["status"] = m.Status
	}
	if m.Has&HasOdometer != 0 {
		a["odometer"] = m.Odometer
	}
	if m.Has&HasSteps != 0 {
		a["steps"] = m.Steps
	}
	if m.Has&HasSats != 0 {
		a["sat"] = m.Sats
	}
	if m.Has&HasHDOP != 0 {
		a["hdop"] = m.HDOP
	}
	if m.Has&HasCell != 0 {
		a["mcc"], a["mnc"], a["lac"], a["cid"] = m.MCC, m.MNC, m.LAC, m.CID
	}
	if m.Alarm != "" {
		a["alarm"] = m.Alarm
	}
	if m.Archive {
		a["archive"] = true
	}
	return a
}

// Codec is one connection's decoder state for a stream protocol (GT06, H02,
// watch). It is not safe for concurrent use: one per connection.
type Codec interface {
	// Frame looks at the start of buf (bytes received and not yet consumed)
	// and returns the length of the first complete frame. n == 0 with a nil
	// error means more bytes are needed. With ErrGarbage, skip bytes are not
	// part of any frame and must be discarded before calling again.
	// Any other error means the stream cannot be resynchronised: close it.
	Frame(buf []byte) (n int, skip int, err error)

	// Decode decodes one frame (as returned by Frame) and appends what it
	// holds to dst. reply is the answer the device waits for (nil for none),
	// appended to replyBuf's storage; whether it may be sent before the data
	// is durable is the caller's decision (see Reply rules in ingest).
	// Decode must not keep frame, dst or replyBuf after it returns; messages
	// must not alias frame (strings are copied).
	Decode(frame []byte, dst []Message, replyBuf []byte) (msgs []Message, reply []byte, err error)

	// DeviceID is the identity the device gave (login IMEI, frame id), or "".
	DeviceID() string

	// SetDeviceID identifies the connection's device out of band (the
	// `decode -imei` flag, or after the server looked the device up).
	SetDeviceID(id string)
}

// Errors shared by decoders. Wrap them with detail: fmt.Errorf("%w: ...", ErrX).
var (
	ErrGarbage   = errors.New("garbage between frames")
	ErrTooLarge  = errors.New("frame too large")
	ErrMalformed = errors.New("malformed frame")
	ErrBadCRC    = errors.New("bad checksum")
	ErrNoDevice  = errors.New("device not identified")
	ErrShort     = errors.New("frame too short")
)

// MaxFrame is the largest frame any stream protocol accepts; bigger is an
// attack or a desynchronised stream.
const MaxFrame = 4096
