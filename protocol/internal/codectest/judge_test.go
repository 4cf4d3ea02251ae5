package codectest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"carevisit/protocol"
)

func ptr[T any](v T) *T { return &v }

// TestJudge keeps the judge honest: each rule must reject a wrong result.
func TestJudge(t *testing.T) {
	fixTime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	fix := protocol.Message{Type: protocol.TypePosition, DeviceID: "1", Time: fixTime, Valid: true, Lat: 10, Lon: 20, SpeedKmh: 50, Course: 90}
	with := func(f func(*protocol.Message)) protocol.Message { m := fix; f(&m); return m }
	status := protocol.Message{Type: protocol.TypeStatus, DeviceID: "1", Has: protocol.HasBattery, Battery: 50}
	explicit := Vector{Expect: "position", Time: ptr("2024-05-06T07:08:09.123Z"), Valid: ptr(true), Lat: ptr(10.000001), Lon: ptr(20.0)}
	attr := func(key string, value any, typ string) Vector {
		return Vector{Expect: "attribute", Key: key, Value: value, ValueType: typ}
	}
	withExtra := func(k string, v any) protocol.Message { m := fix; m.Extra = map[string]any{k: v}; return m }
	tests := []struct {
		name string
		v    Vector
		got  Got
		pass bool
	}{
		{"position plausible", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{status, fix}}, true},
		{"position lat 91", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Lat = 91 })}}, false},
		{"position year 1998", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Time = time.Date(1998, 1, 1, 0, 0, 0, 0, time.UTC) })}}, false},
		{"position two days ahead", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Time = time.Now().Add(48 * time.Hour) })}}, false},
		{"position 900 kn", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.SpeedKmh = 900 * 1.852 })}}, false},
		{"position course 361", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Course = 361 })}}, false},
		{"position altitude 20 km", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Altitude = 20000 })}}, false},
		{"position without device", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.DeviceID = "" })}}, false},
		{"position twice", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{fix, fix}}, false},
		{"position none", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{status}}, false},
		{"position with error", Vector{Expect: "position"}, Got{Msgs: []protocol.Message{fix}, Err: protocol.ErrBadCRC}, false},
		{"explicit match", explicit, Got{Msgs: []protocol.Message{fix}}, true},
		{"explicit time off by 1 ms", explicit, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Time = m.Time.Add(time.Millisecond) })}}, false},
		{"explicit valid", explicit, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Valid = false })}}, false},
		{"explicit lat off by 1e-4", explicit, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Lat += 1e-4 })}}, false},
		{"explicit lon off by 1e-4", explicit, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Lon -= 1e-4 })}}, false},
		{"positions", Vector{Expect: "positions"}, Got{Msgs: []protocol.Message{fix, fix}}, true},
		{"positions one bad", Vector{Expect: "positions"}, Got{Msgs: []protocol.Message{fix, with(func(m *protocol.Message) { m.Lon = 181 })}}, false},
		{"positions none", Vector{Expect: "positions"}, Got{Msgs: []protocol.Message{status}}, false},
		{"null with status", Vector{Expect: "null"}, Got{Msgs: []protocol.Message{status}}, true},
		{"null with error", Vector{Expect: "null"}, Got{Err: protocol.ErrMalformed}, true},
		{"null with position", Vector{Expect: "null"}, Got{Msgs: []protocol.Message{fix}}, false},
		{"notnull", Vector{Expect: "notnull"}, Got{Msgs: []protocol.Message{status}}, true},
		{"notnull empty", Vector{Expect: "notnull"}, Got{}, false},
		{"attributes", Vector{Expect: "attributes"}, Got{Msgs: []protocol.Message{status}}, true},
		{"attributes none", Vector{Expect: "attributes"}, Got{Msgs: []protocol.Message{{Type: protocol.TypeHeartbeat}}}, false},
		{"long as int", attr("batteryLevel", json.Number("50"), "long"), Got{Msgs: []protocol.Message{status}}, true},
		{"long as uint32", attr("status", json.Number("4294966271"), "long"), Got{Msgs: []protocol.Message{{Has: protocol.HasStatus, Status: 4294966271}}}, true},
		{"long wrong", attr("batteryLevel", json.Number("51"), "long"), Got{Msgs: []protocol.Message{status}}, false},
		{"long as double", attr("n", json.Number("12"), "long"), Got{Msgs: []protocol.Message{withExtra("n", 12.0)}}, false},
		{"double", attr("power", json.Number("13.1"), "double"), Got{Msgs: []protocol.Message{withExtra("power", 13.1)}}, true},
		{"double off", attr("power", json.Number("13.1"), "double"), Got{Msgs: []protocol.Message{withExtra("power", 13.2)}}, false},
		{"double as int", attr("power", json.Number("13"), "double"), Got{Msgs: []protocol.Message{withExtra("power", 13)}}, false},
		{"string", attr("alarm", "sos", "string"), Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Alarm = "sos" })}}, true},
		{"string wrong", attr("alarm", "sos", "string"), Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Alarm = "fall" })}}, false},
		{"boolean", attr("ignition", true, "boolean"), Got{Msgs: []protocol.Message{{Has: protocol.HasIgnition, Ignition: true}}}, true},
		{"boolean as string", attr("x", true, "boolean"), Got{Msgs: []protocol.Message{withExtra("x", "true")}}, false},
		{"absent", attr("alarm", nil, ""), Got{Msgs: []protocol.Message{fix}}, true},
		{"present, want absent", attr("alarm", nil, ""), Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.Alarm = "sos" })}}, false},
		{"missing", attr("alarm", "sos", "string"), Got{Msgs: []protocol.Message{fix}}, false},
		{"first message only", attr("alarm", "sos", "string"), Got{Msgs: []protocol.Message{fix, with(func(m *protocol.Message) { m.Alarm = "sos" })}}, false},
		{"field speed in knots", Vector{Expect: "attribute", Target: "field", Key: "speed", Value: json.Number("27"), ValueType: "double"}, Got{Msgs: []protocol.Message{with(func(m *protocol.Message) { m.SpeedKmh = 27 * 1.852 })}}, true},
		{"field altitude", Vector{Expect: "attribute", Target: "field", Key: "altitude", Value: json.Number("678.0"), ValueType: "double"}, Got{Msgs: []protocol.Message{fix}}, false},
		{"frame", Vector{Expect: "frame", FrameHex: "2a23"}, Got{Frame: []byte("*#")}, true},
		{"frame differs", Vector{Expect: "frame", FrameHex: "2a23"}, Got{Frame: []byte("*")}, false},
		{"frame error", Vector{Expect: "frame", FrameHex: "2a23"}, Got{Frame: []byte("*#"), Err: errors.New("x")}, false},
		{"unknown expect", Vector{Expect: "maybe"}, Got{Msgs: []protocol.Message{fix}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			why := Judge(tc.v, tc.got)
			if (why == "") != tc.pass {
				t.Errorf("Judge = %q, want pass %v", why, tc.pass)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name  string
		kinds map[string]*Count
		fails []string // substrings of the expected problems, in order
	}{
		{"95% passes", map[string]*Count{"position": {19, 19}, "attribute": {0, 1}}, nil},
		{"below 95% fails", map[string]*Count{"position": {19, 19}, "attribute": {0, 2}}, []string{"overall"}},
		{"position below 95% fails alone", map[string]*Count{"position": {18, 19}, "frame": {100, 100}}, []string{"position"}},
		{"null below 95% fails alone", map[string]*Count{"null": {0, 1}, "frame": {100, 100}}, []string{"null"}},
		{"no cases fails", map[string]*Count{}, []string{"overall"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, problems := Summarize(tc.kinds)
			if !strings.Contains(table, "| **all** |") {
				t.Errorf("table without total:\n%s", table)
			}
			if len(problems) != len(tc.fails) {
				t.Fatalf("problems %q, want %d", problems, len(tc.fails))
			}
			for i, p := range problems {
				if !strings.Contains(p, tc.fails[i]) {
					t.Errorf("problem %q, want %q", p, tc.fails[i])
				}
			}
		})
	}
}

func TestFirstFrame(t *testing.T) {
	c := fakeCodec{}
	got, err := FirstFrame(c, []byte("xx[ab][cd]"))
	if err != nil || string(got) != "[ab]" {
		t.Errorf("FirstFrame = %q, %v", got, err)
	}
	if _, err := FirstFrame(c, []byte("xx[ab")); err == nil {
		t.Error("incomplete frame accepted")
	}
	msgs, replies, skipped := DecodeStream(t, c, []byte("x[ab]yy[cd]"))
	if len(msgs) != 2 || msgs[1].DeviceID != "[cd]" || skipped != 3 || strings.Join(replies, ",") != "ok,ok" {
		t.Errorf("DecodeStream = %+v, %q, %d", msgs, replies, skipped)
	}
}

// fakeCodec frames "[...]" and decodes each into one message.
type fakeCodec struct{}

func (fakeCodec) Frame(buf []byte) (int, int, error) {
	if buf[0] != '[' {
		n := strings.IndexByte(string(buf), '[')
		if n < 0 {
			n = len(buf)
		}
		return 0, n, protocol.ErrGarbage
	}
	if i := strings.IndexByte(string(buf), ']'); i >= 0 {
		return i + 1, 0, nil
	}
	return 0, 0, nil
}

func (fakeCodec) Decode(frame []byte, dst []protocol.Message, reply []byte) ([]protocol.Message, []byte, error) {
	return append(dst, protocol.Message{Type: protocol.TypeStatus, DeviceID: string(frame)}), append(reply, "ok"...), nil
}

func (fakeCodec) DeviceID() string   { return "" }
func (fakeCodec) SetDeviceID(string) {}
