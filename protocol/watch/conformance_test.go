package watch

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"carevisit/internal/shared"
	"carevisit/protocol"
)

// vector is one line of shared/vectors/watch.jsonl (protocols.md §0).
type vector struct {
	ID        string   `json:"id"`
	Expect    string   `json:"expect"`
	InputForm string   `json:"input_form"`
	InputText string   `json:"input_text"`
	InputHex  string   `json:"input_hex"`
	FrameHex  string   `json:"frame_hex"`
	Test      string   `json:"test"`
	Seq       int      `json:"test_seq"`
	Key       string   `json:"key"`
	Value     any      `json:"value"`
	ValueType string   `json:"value_type"`
	Target    string   `json:"target"`
	Time      *string  `json:"time"`
	Valid     *bool    `json:"valid"`
	Lat       *float64 `json:"lat"`
	Lon       *float64 `json:"lon"`
	MediaStub string   `json:"media_stub"`
}

func (v vector) input(tb testing.TB) []byte {
	if v.InputHex != "" {
		b, err := hex.DecodeString(v.InputHex)
		if err != nil {
			tb.Fatalf("%s: input_hex: %v", v.ID, err)
		}
		return b
	}
	return []byte(v.InputText)
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open(shared.Path(tb, "vectors", "watch.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			tb.Fatalf("vector %q: %v", sc.Text(), err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no watch vectors")
	}
	// Cases of one test method run in test_seq order on one codec.
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Test != vs[j].Test {
			return vs[i].Test < vs[j].Test
		}
		return vs[i].Seq < vs[j].Seq
	})
	return vs
}

// firstFrame runs Frame over in, skipping garbage, and returns the first
// frame it cuts.
func firstFrame(c protocol.Codec, in []byte) ([]byte, error) {
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

// judge applies Traccar's harness rules (protocols.md §0) and returns why the
// case fails, or "".
func judge(v vector, msgs []protocol.Message, err error, now time.Time) string {
	var pos []protocol.Message
	for _, m := range msgs {
		if m.IsPosition() {
			pos = append(pos, m)
		}
	}
	switch v.Expect {
	case "null":
		if len(pos) > 0 {
			return fmt.Sprintf("want no position, got %d", len(pos))
		}
		return ""
	case "notnull", "attributes":
		if len(msgs) == 0 {
			return fmt.Sprintf("want a message, got none (err %v)", err)
		}
		return ""
	case "positions":
		if len(pos) == 0 {
			return fmt.Sprintf("want positions, got none (err %v)", err)
		}
		return ""
	case "position":
		if len(pos) != 1 {
			return fmt.Sprintf("want one position, got %d (err %v)", len(pos), err)
		}
		return checkPosition(v, pos[0], now)
	case "attribute":
		if len(msgs) == 0 {
			return fmt.Sprintf("want a message, got none (err %v)", err)
		}
		return checkAttribute(v, msgs[len(msgs)-1])
	}
	return "unknown expect " + v.Expect
}

func checkPosition(v vector, p protocol.Message, now time.Time) string {
	var why []string
	if !p.Time.After(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) || !p.Time.Before(now.Add(25*time.Hour)) {
		why = append(why, fmt.Sprintf("implausible time %v", p.Time))
	}
	if p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
		why = append(why, fmt.Sprintf("coordinates out of range %v,%v", p.Lat, p.Lon))
	}
	if p.Altitude < -12262 || p.Altitude > 18000 {
		why = append(why, fmt.Sprintf("altitude %v", p.Altitude))
	}
	if kn := p.SpeedKmh / 1.852; kn < 0 || kn > 869 {
		why = append(why, fmt.Sprintf("speed %v kn", kn))
	}
	if p.Course < 0 || p.Course > 360 {
		why = append(why, fmt.Sprintf("course %v", p.Course))
	}
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
	return strings.Join(why, "; ")
}

// checkAttribute compares one attribute under Traccar's name, type included
// (int and long both accept any Go integer; double wants a float).
func checkAttribute(v vector, m protocol.Message) string {
	var got any
	var ok bool
	if v.Target == "field" {
		switch v.Key {
		case "speed":
			got, ok = m.SpeedKmh/1.852, true
		case "course":
			got, ok = m.Course, true
		case "altitude":
			got, ok = m.Altitude, m.Has&protocol.HasAltitude != 0
		default:
			return "unsupported field " + v.Key
		}
	} else {
		got, ok = m.Attributes()[v.Key]
	}
	if v.Value == nil {
		if ok {
			return fmt.Sprintf("%s = %v, want absent", v.Key, got)
		}
		return ""
	}
	if !ok {
		return fmt.Sprintf("%s absent, want %v", v.Key, v.Value)
	}
	switch v.ValueType {
	case "string":
		if s, isStr := got.(string); !isStr || s != v.Value {
			return fmt.Sprintf("%s = %#v, want %q", v.Key, got, v.Value)
		}
	case "boolean":
		if got != v.Value {
			return fmt.Sprintf("%s = %#v, want %v", v.Key, got, v.Value)
		}
	case "int", "long":
		want, err := v.Value.(json.Number).Int64()
		g, isInt := asInt(got)
		if err != nil || !isInt || g != want {
			return fmt.Sprintf("%s = %#v, want integer %v", v.Key, got, v.Value)
		}
	case "double":
		want, err := v.Value.(json.Number).Float64()
		g, isFloat := got.(float64)
		if err != nil || !isFloat || math.Abs(g-want) > 1e-9 {
			return fmt.Sprintf("%s = %#v, want double %v", v.Key, got, v.Value)
		}
	default:
		return "unknown value_type " + v.ValueType
	}
	return ""
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	}
	return 0, false
}

// TestConformance runs every vector and fails below a 95% pass rate.
func TestConformance(t *testing.T) {
	now := time.Now().UTC()
	vs := loadVectors(t)
	codecs := map[string]*Codec{}
	type tally struct{ pass, total int }
	kinds := map[string]*tally{}
	var failures []string
	for _, v := range vs {
		c := codecs[v.Test]
		if c == nil {
			c = New()
			codecs[v.Test] = c
		}
		// Traccar's harness stubs media storage; so does ours.
		stub := v.MediaStub
		c.Media = func(_, ext string, data []byte) (string, error) {
			if stub == "" {
				return "", errors.New("no media stub")
			}
			return stub, nil
		}
		in := v.input(t)
		var why string
		if v.Expect == "frame" {
			want, _ := hex.DecodeString(v.FrameHex)
			got, err := firstFrame(c, in)
			// Traccar's frame decoder also resolves the `}` escapes; ours
			// leaves that to Decode, so compare the unescaped cut.
			got = Unescape(nil, got)
			if err != nil {
				why = err.Error()
			} else if !bytes.Equal(got, want) {
				why = fmt.Sprintf("frame %q, want %q", got, want)
			}
		} else {
			msgs, _, err := c.Decode(in, nil, nil)
			why = judge(v, msgs, err, now)
		}
		k := kinds[v.Expect]
		if k == nil {
			k = &tally{}
			kinds[v.Expect] = k
		}
		k.total++
		if why == "" {
			k.pass++
		} else {
			failures = append(failures, fmt.Sprintf("%s (%s): %s", v.ID, v.Expect, why))
		}
	}
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	pass, total := 0, 0
	t.Logf("%-12s %5s %5s %7s", "expect", "pass", "total", "rate")
	for _, n := range names {
		k := kinds[n]
		pass += k.pass
		total += k.total
		t.Logf("%-12s %5d %5d %6.1f%%", n, k.pass, k.total, 100*float64(k.pass)/float64(k.total))
	}
	rate := 100 * float64(pass) / float64(total)
	t.Logf("%-12s %5d %5d %6.1f%%", "all", pass, total, rate)
	for _, f := range failures {
		t.Logf("FAIL %s", f)
	}
	if rate < 95 {
		t.Errorf("pass rate %.1f%% below 95%%", rate)
	}
}
