package osmand

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"carevisit/internal/shared"
	"carevisit/protocol"
)

// vector is one line of shared/vectors/osmand.jsonl (see protocols.md §0).
type vector struct {
	ID        string `json:"id"`
	Expect    string `json:"expect"`
	InputText string `json:"input_text"`
	HTTP      struct {
		Method      string  `json:"method"`
		Target      string  `json:"target"`
		ContentType *string `json:"content_type"`
		Body        string  `json:"body"`
	} `json:"http"`
	Key       string   `json:"key"`
	Value     any      `json:"value"`
	ValueType string   `json:"value_type"`
	Target    string   `json:"target"`
	Time      *string  `json:"time"`
	Valid     *bool    `json:"valid"`
	Lat       *float64 `json:"lat"`
	Lon       *float64 `json:"lon"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open(shared.Path(tb, "vectors", "osmand.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("vector %q: %v", sc.Text(), err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no osmand vectors")
	}
	return vs
}

// judge applies Traccar's harness rules (protocols.md §0) and returns why
// the case fails, or "".
func judge(v vector, msgs []protocol.Message, err error, now time.Time) string {
	var pos []protocol.Message
	for _, m := range msgs {
		if m.IsPosition() {
			pos = append(pos, m)
		}
	}
	switch v.Expect {
	case "null":
		if err == nil && len(msgs) > 0 {
			return fmt.Sprintf("want nothing, got %d messages", len(msgs))
		}
		return ""
	case "notnull":
		if err != nil || len(msgs) == 0 {
			return fmt.Sprintf("want something, got err=%v", err)
		}
		return ""
	}
	if err != nil {
		return "error: " + err.Error()
	}
	switch v.Expect {
	case "position", "positions", "attributes":
		if len(pos) == 0 || (v.Expect == "position" && len(pos) != 1) {
			return fmt.Sprintf("want position(s), got %d of %d messages", len(pos), len(msgs))
		}
		for _, p := range pos {
			if why := checkPosition(v, p, now); why != "" {
				return why
			}
		}
		if v.Expect == "attributes" && len(pos[0].Attributes()) == 0 {
			return "want attributes, got none"
		}
		return ""
	case "attribute":
		if len(msgs) == 0 {
			return "want a message with an attribute, got none"
		}
		return checkAttribute(v, msgs[0])
	}
	return "unknown expect " + v.Expect
}

func checkPosition(v vector, p protocol.Message, now time.Time) string {
	if v.Time != nil || v.Lat != nil {
		if v.Time != nil {
			want, err := time.Parse(time.RFC3339Nano, *v.Time)
			if err != nil {
				return "bad vector time " + *v.Time
			}
			if !p.Time.Truncate(time.Millisecond).Equal(want) {
				return fmt.Sprintf("time %v, want %v", p.Time, want)
			}
		}
		if v.Valid != nil && p.Valid != *v.Valid {
			return fmt.Sprintf("valid %v, want %v", p.Valid, *v.Valid)
		}
		if v.Lat != nil && math.Abs(p.Lat-*v.Lat) > 1e-5 || v.Lon != nil && math.Abs(p.Lon-*v.Lon) > 1e-5 {
			return fmt.Sprintf("lat/lon %v,%v, want %v,%v", p.Lat, p.Lon, *v.Lat, *v.Lon)
		}
		return ""
	}
	switch {
	case !p.Time.After(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) || !p.Time.Before(now.Add(25*time.Hour)):
		return fmt.Sprintf("implausible time %v", p.Time)
	case p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180:
		return fmt.Sprintf("implausible lat/lon %v,%v", p.Lat, p.Lon)
	case p.Altitude < -12262 || p.Altitude > 18000:
		return fmt.Sprintf("implausible altitude %v", p.Altitude)
	case p.SpeedKmh < 0 || p.SpeedKmh/knotKmh > 869:
		return fmt.Sprintf("implausible speed %v km/h", p.SpeedKmh)
	case p.Course < 0 || p.Course > 360:
		return fmt.Sprintf("implausible course %v", p.Course)
	case p.DeviceID == "":
		return "no device id"
	}
	return ""
}

func checkAttribute(v vector, m protocol.Message) string {
	var got any
	var ok bool
	if v.Target == "field" {
		switch v.Key {
		case "speed":
			got, ok = m.SpeedKmh/knotKmh, true
		case "course":
			got, ok = m.Course, true
		case "altitude":
			got, ok = m.Altitude, true
		default:
			got, ok = m.Extra[v.Key]
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
	want := v.Value
	switch v.ValueType {
	case "long", "int":
		w, _ := want.(float64)
		var g float64
		switch x := got.(type) {
		case int:
			g = float64(x)
		case int64:
			g = float64(x)
		case uint32:
			g = float64(x)
		default:
			return fmt.Sprintf("%s = %v (%T), want integer %v", v.Key, got, got, want)
		}
		if g != w {
			return fmt.Sprintf("%s = %v, want %v", v.Key, got, want)
		}
	case "double":
		g, isF := got.(float64)
		if !isF || math.Abs(g-want.(float64)) > 1e-9 {
			return fmt.Sprintf("%s = %v (%T), want double %v", v.Key, got, got, want)
		}
	default:
		if got != want {
			return fmt.Sprintf("%s = %v (%T), want %v (%T)", v.Key, got, got, want, want)
		}
	}
	return ""
}

// TestConformance runs every public vector and fails below 95 %.
func TestConformance(t *testing.T) {
	now := time.Now()
	type tally struct{ pass, total int }
	by := map[string]*tally{}
	var fails []string
	pass := 0
	vs := loadVectors(t)
	for _, v := range vs {
		msgs, err := ParseRequest([]byte(v.InputText), now)
		why := judge(v, msgs, err, now)
		// The split form the server sees must agree with the raw request.
		ct := ""
		if v.HTTP.ContentType != nil {
			ct = *v.HTTP.ContentType
		}
		msgs2, err2 := Decode(v.HTTP.Method, v.HTTP.Target, ct, []byte(v.HTTP.Body), now)
		if why2 := judge(v, msgs2, err2, now); why == "" && why2 != "" {
			why = "Decode disagrees with ParseRequest: " + why2
		}
		tl := by[v.Expect]
		if tl == nil {
			tl = &tally{}
			by[v.Expect] = tl
		}
		tl.total++
		if why == "" {
			tl.pass++
			pass++
		} else {
			fails = append(fails, v.ID+": "+why)
		}
	}
	var b strings.Builder
	b.WriteString("| expect | pass | total |\n|---|---|---|\n")
	kinds := make([]string, 0, len(by))
	for k := range by {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", k, by[k].pass, by[k].total)
	}
	rate := 100 * float64(pass) / float64(len(vs))
	fmt.Fprintf(&b, "| **all** | %d | %d (%.1f %%) |\n", pass, len(vs), rate)
	t.Logf("osmand conformance\n%s", b.String())
	for _, f := range fails {
		t.Logf("FAIL %s", f)
	}
	if rate < 95 {
		t.Errorf("pass rate %.1f %% < 95 %%", rate)
	}
}
