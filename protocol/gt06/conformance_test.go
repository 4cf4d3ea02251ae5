package gt06

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
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

// vector is one line of shared/vectors/gt06.jsonl (see protocols.md §0).
type vector struct {
	ID        string   `json:"id"`
	Expect    string   `json:"expect"`
	InputHex  string   `json:"input_hex"`
	FrameHex  string   `json:"frame_hex"`
	Decoder   string   `json:"decoder"`
	Test      string   `json:"test"`
	Seq       int      `json:"test_seq"`
	Model     string   `json:"model"`
	Key       string   `json:"key"`
	Value     any      `json:"value"`
	ValueType string   `json:"value_type"`
	Target    string   `json:"target"`
	Time      string   `json:"time"`
	Valid     *bool    `json:"valid"`
	Lat       *float64 `json:"lat"`
	Lon       *float64 `json:"lon"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open(shared.Path(tb, "vectors", "gt06.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("bad vector line: %v", err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no GT06 vectors")
	}
	return vs
}

// TestConformance runs every Traccar-derived vector. Cases of one test
// method run in test_seq order on one Codec, like Traccar's harness.
func TestConformance(t *testing.T) {
	vs := loadVectors(t)
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Decoder+vs[i].Test != vs[j].Decoder+vs[j].Test {
			return vs[i].Decoder+vs[i].Test < vs[j].Decoder+vs[j].Test
		}
		return vs[i].Seq < vs[j].Seq
	})

	type tally struct{ pass, total int }
	kinds := map[string]*tally{}
	var failures []string
	codecs := map[string]*Codec{}
	for _, v := range vs {
		in, err := hex.DecodeString(v.InputHex)
		if err != nil {
			t.Fatalf("%s: bad hex: %v", v.ID, err)
		}
		c := codecs[v.Decoder+"/"+v.Test]
		if c == nil {
			c = New()
			codecs[v.Decoder+"/"+v.Test] = c
		}
		c.Model = v.Model
		var reason string
		if v.Expect == "frame" {
			reason = judgeFrame(c, in, v)
		} else {
			msgs, _, err := c.Decode(in, nil, nil)
			reason = judge(v, msgs, err)
		}
		k := kinds[v.Expect]
		if k == nil {
			k = &tally{}
			kinds[v.Expect] = k
		}
		k.total++
		if reason == "" {
			k.pass++
		} else {
			failures = append(failures, fmt.Sprintf("%s (%s, seq %d): %s", v.ID, v.Expect, v.Seq, reason))
		}
	}

	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	var pass, total int
	fmt.Fprintf(&sb, "\n| expect | pass | total | rate |\n|---|---|---|---|\n")
	for _, k := range names {
		n := kinds[k]
		pass += n.pass
		total += n.total
		fmt.Fprintf(&sb, "| %s | %d | %d | %.1f%% |\n", k, n.pass, n.total, 100*float64(n.pass)/float64(n.total))
	}
	fmt.Fprintf(&sb, "| **all** | %d | %d | %.1f%% |\n", pass, total, 100*float64(pass)/float64(total))
	for _, f := range failures {
		fmt.Fprintf(&sb, "- FAIL %s\n", f)
	}
	t.Log(sb.String())

	if rate := float64(pass) / float64(total); rate < 0.95 {
		t.Errorf("overall pass rate %.1f%% < 95%%", 100*rate)
	}
	for _, k := range []string{"position", "null"} {
		if n := kinds[k]; n != nil && float64(n.pass)/float64(n.total) < 0.95 {
			t.Errorf("%s pass rate %d/%d < 95%%", k, n.pass, n.total)
		}
	}
}

// judgeFrame cuts the input with Frame and compares with frame_hex.
func judgeFrame(c *Codec, in []byte, v vector) string {
	want, _ := hex.DecodeString(v.FrameHex)
	buf := in
	for range 16 {
		n, skip, err := c.Frame(buf)
		switch {
		case err == protocol.ErrGarbage:
			buf = buf[skip:]
			continue
		case err != nil:
			return "Frame error: " + err.Error()
		case n == 0:
			return "Frame wants more bytes"
		case !bytes.Equal(buf[:n], want):
			return fmt.Sprintf("cut %x, want %x", buf[:n], want)
		}
		return ""
	}
	return "no frame found"
}

func judge(v vector, msgs []protocol.Message, err error) string {
	var pos *protocol.Message
	for i := range msgs {
		if msgs[i].IsPosition() {
			pos = &msgs[i]
			break
		}
	}
	switch v.Expect {
	case "null":
		if pos != nil {
			return "decoded a position, want none"
		}
		return ""
	case "notnull", "positions", "attributes":
		if len(msgs) == 0 {
			return fmt.Sprintf("no message (err %v)", err)
		}
		return ""
	case "position":
		if pos == nil {
			return fmt.Sprintf("no position (err %v, %d msgs)", err, len(msgs))
		}
		return judgePosition(v, pos)
	case "attribute":
		if len(msgs) == 0 {
			return fmt.Sprintf("no message (err %v)", err)
		}
		return judgeAttribute(v, &msgs[0])
	}
	return "unknown expect " + v.Expect
}

func judgePosition(v vector, m *protocol.Message) string {
	if v.Time != "" {
		want, err := time.Parse(time.RFC3339, v.Time)
		if err != nil {
			return "bad vector time " + v.Time
		}
		if !m.Time.Truncate(time.Millisecond).Equal(want) {
			return fmt.Sprintf("time %v, want %v", m.Time, want)
		}
	} else if m.Time.Before(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) || m.Time.After(time.Now().Add(25*time.Hour)) {
		return fmt.Sprintf("implausible time %v", m.Time)
	}
	if v.Valid != nil && m.Valid != *v.Valid {
		return fmt.Sprintf("valid %v, want %v", m.Valid, *v.Valid)
	}
	if v.Lat != nil && math.Abs(m.Lat-*v.Lat) > 1e-5 {
		return fmt.Sprintf("lat %v, want %v", m.Lat, *v.Lat)
	}
	if v.Lon != nil && math.Abs(m.Lon-*v.Lon) > 1e-5 {
		return fmt.Sprintf("lon %v, want %v", m.Lon, *v.Lon)
	}
	if m.Lat < -90 || m.Lat > 90 || m.Lon < -180 || m.Lon > 180 {
		return fmt.Sprintf("lat/lon out of range %v,%v", m.Lat, m.Lon)
	}
	if m.Course < 0 || m.Course > 360 || m.SpeedKmh < 0 || m.SpeedKmh > 869*1.852 {
		return fmt.Sprintf("speed/course out of range %v,%v", m.SpeedKmh, m.Course)
	}
	if m.DeviceID == "" {
		return "no device id"
	}
	return ""
}

// judgeAttribute looks the key up under Traccar's name.
func judgeAttribute(v vector, m *protocol.Message) string {
	var got any
	var ok bool
	if v.Target == "field" {
		switch v.Key {
		case "altitude":
			got, ok = m.Altitude, m.Has&protocol.HasAltitude != 0
		case "speed":
			got, ok = m.SpeedKmh/1.852, m.Has&protocol.HasSpeed != 0
		case "course":
			got, ok = m.Course, m.Has&protocol.HasCourse != 0
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
		return fmt.Sprintf("%s missing (have %v)", v.Key, keys(m.Attributes()))
	}
	if !sameValue(got, v.Value, v.ValueType) {
		return fmt.Sprintf("%s = %v (%T), want %v", v.Key, got, got, v.Value)
	}
	return ""
}

func keys(a map[string]any) []string {
	var ks []string
	for k := range a {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sameValue(got, want any, typ string) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case float64:
		g, ok := toFloat(got)
		if !ok {
			return false
		}
		if typ == "double" {
			return math.Abs(g-w) <= 1e-9*math.Max(1, math.Abs(w))
		}
		return g == w
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
