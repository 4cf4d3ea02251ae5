package codectest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"carevisit/protocol"
)

// Got is what the code under test made of one vector's input: the frame
// Frame cut (expect "frame") or the messages Decode returned.
type Got struct {
	Frame []byte
	Msgs  []protocol.Message
	Err   error
}

// Feed gives in to a stream codec the way the vector asks: a "frame" case
// cuts the first frame, any other decodes in as one frame.
func Feed(c protocol.Codec, v Vector, in []byte) Got {
	if v.Expect == "frame" {
		f, err := FirstFrame(c, in)
		return Got{Frame: f, Err: err}
	}
	msgs, _, err := c.Decode(in, nil, nil)
	return Got{Msgs: msgs, Err: err}
}

// FirstFrame runs Frame over in, skipping garbage, and returns the first
// frame it cuts.
func FirstFrame(c protocol.Codec, in []byte) ([]byte, error) {
	for len(in) > 0 {
		n, skip, err := c.Frame(in)
		switch {
		case errors.Is(err, protocol.ErrGarbage):
			in = in[skip:]
		case err != nil:
			return nil, err
		case n == 0:
			return nil, fmt.Errorf("incomplete frame (%d bytes buffered)", len(in))
		default:
			return in[:n], nil
		}
	}
	return nil, errors.New("no frame")
}

// Judge applies Traccar's harness rules (ProtocolTest.java, protocols.md §0)
// to got and returns why the case fails, or "". Our decoders return status
// messages where Traccar returns nothing, so "null" only forbids positions;
// an error fails every other kind, as an exception fails Traccar's test.
func Judge(v Vector, got Got) string {
	if v.Expect == "frame" {
		want, err := hex.DecodeString(v.FrameHex)
		switch {
		case err != nil:
			return "bad vector frame_hex: " + err.Error()
		case got.Err != nil:
			return "Frame: " + got.Err.Error()
		case !bytes.Equal(got.Frame, want):
			return fmt.Sprintf("frame %q, want %q", got.Frame, want)
		}
		return ""
	}
	var pos []protocol.Message
	for _, m := range got.Msgs {
		if m.IsPosition() {
			pos = append(pos, m)
		}
	}
	if v.Expect == "null" {
		if len(pos) > 0 {
			return fmt.Sprintf("want no position, got %d", len(pos))
		}
		return ""
	}
	if got.Err != nil {
		return fmt.Sprintf("decode error %v (%d messages)", got.Err, len(got.Msgs))
	}
	switch v.Expect {
	case "notnull":
		if len(got.Msgs) == 0 {
			return "want a message, got none"
		}
		return ""
	case "attributes":
		if len(got.Msgs) == 0 {
			return "want a message with attributes, got none"
		}
		if len(got.Msgs[0].Attributes()) == 0 {
			return "want attributes, got none"
		}
		return ""
	case "position":
		if len(pos) != 1 {
			return fmt.Sprintf("want one position, got %d of %d messages", len(pos), len(got.Msgs))
		}
		return checkPosition(v, pos[0])
	case "positions":
		if len(pos) == 0 {
			return fmt.Sprintf("want positions, got none of %d messages", len(got.Msgs))
		}
		for i, p := range pos {
			if why := checkPosition(v, p); why != "" {
				return fmt.Sprintf("position %d: %s", i, why)
			}
		}
		return ""
	case "attribute":
		// Traccar looks at the first position of a list.
		if len(got.Msgs) == 0 {
			return "want a message, got none"
		}
		return checkAttribute(v, got.Msgs[0])
	}
	return "unknown expect " + v.Expect
}

const knotKmh = 1.852

// checkPosition compares p with the vector's explicit time/valid/lat/lon
// when it has them, else checks the fix time and coordinates are plausible;
// altitude, speed, course and the device are checked either way (Traccar's
// verifyDecodedPosition).
func checkPosition(v Vector, p protocol.Message) string {
	var why []string
	if v.Time != nil || v.Valid != nil || v.Lat != nil || v.Lon != nil {
		if v.Time != nil {
			want, err := time.Parse(time.RFC3339Nano, *v.Time)
			if err != nil {
				why = append(why, "bad vector time "+*v.Time)
			} else if !p.Time.Truncate(time.Millisecond).Equal(want) {
				why = append(why, fmt.Sprintf("time %v, want %v", p.Time, want))
			}
		}
		if v.Valid != nil && p.Valid != *v.Valid {
			why = append(why, fmt.Sprintf("valid %v, want %v", p.Valid, *v.Valid))
		}
		if v.Lat != nil && math.Abs(p.Lat-*v.Lat) > 1e-5 {
			why = append(why, fmt.Sprintf("lat %v, want %v", p.Lat, *v.Lat))
		}
		if v.Lon != nil && math.Abs(p.Lon-*v.Lon) > 1e-5 {
			why = append(why, fmt.Sprintf("lon %v, want %v", p.Lon, *v.Lon))
		}
	} else {
		if !p.Time.After(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) || !p.Time.Before(time.Now().Add(25*time.Hour)) {
			why = append(why, fmt.Sprintf("implausible time %v", p.Time))
		}
		if p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
			why = append(why, fmt.Sprintf("coordinates out of range %v,%v", p.Lat, p.Lon))
		}
	}
	if p.Altitude < -12262 || p.Altitude > 18000 {
		why = append(why, fmt.Sprintf("altitude %v", p.Altitude))
	}
	if kn := p.SpeedKmh / knotKmh; kn < 0 || kn > 869 {
		why = append(why, fmt.Sprintf("speed %v kn", kn))
	}
	if p.Course < 0 || p.Course > 360 {
		why = append(why, fmt.Sprintf("course %v", p.Course))
	}
	if p.DeviceID == "" {
		why = append(why, "no device id")
	}
	return strings.Join(why, "; ")
}

// checkAttribute compares one attribute, looked up under Traccar's name, with
// the vector's value. Like Java's equals the type matters: int and long want
// a Go integer, double a float64, string a string, boolean a bool.
func checkAttribute(v Vector, m protocol.Message) string {
	var got any
	var ok bool
	if v.Target == "field" {
		// Position fields always exist in Traccar's model.
		switch v.Key {
		case "speed":
			got, ok = m.SpeedKmh/knotKmh, true
		case "course":
			got, ok = m.Course, true
		case "altitude":
			got, ok = m.Altitude, true
		default:
			return "unsupported field " + v.Key
		}
	} else {
		got, ok = m.Attributes()[v.Key]
	}
	if v.Value == nil {
		if ok {
			return fmt.Sprintf("%s = %#v, want absent", v.Key, got)
		}
		return ""
	}
	if !ok {
		return fmt.Sprintf("%s absent, want %v (have %v)", v.Key, v.Value, keys(m.Attributes()))
	}
	if !sameValue(got, v.Value, v.ValueType) {
		return fmt.Sprintf("%s = %#v, want %s %v", v.Key, got, v.ValueType, v.Value)
	}
	return ""
}

func sameValue(got, want any, typ string) bool {
	switch typ {
	case "string":
		g, ok := got.(string)
		return ok && g == want
	case "boolean":
		g, ok := got.(bool)
		return ok && g == want
	case "int", "long":
		w, err := number(want).Int64()
		g, ok := asInt(got)
		return err == nil && ok && g == w
	case "double":
		w, err := number(want).Float64()
		g, ok := got.(float64)
		return err == nil && ok && math.Abs(g-w) <= 1e-9*math.Max(1, math.Abs(w))
	}
	return false
}

// number returns a JSON number as Load decodes it, or "" (not a number).
func number(v any) json.Number {
	n, _ := v.(json.Number)
	return n
}

// asInt accepts any Go integer type: Traccar's int and long are both ours.
func asInt(v any) (int64, bool) {
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := r.Uint(); u <= math.MaxInt64 {
			return int64(u), true
		}
	}
	return 0, false
}

func keys(a map[string]any) []string {
	ks := make([]string, 0, len(a))
	for k := range a {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
