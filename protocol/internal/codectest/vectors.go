// Package codectest is the test harness the protocol decoders share: it
// loads the Traccar-derived vectors of ../shared, judges decoder output by
// Traccar's harness rules (protocols.md §0), tallies pass rates, and checks
// the Codec contract on arbitrary input for fuzzing. How an input is fed to a
// decoder stays in each protocol's own tests.
package codectest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"carevisit/internal/shared"
)

// Vector is one line of shared/vectors/<proto>.jsonl (fields documented in
// tools/extract_vectors.py). Value keeps JSON numbers as json.Number so
// that long attributes compare exactly.
type Vector struct {
	Proto     string `json:"proto"`
	ID        string `json:"id"`
	Expect    string `json:"expect"` // null, notnull, position, positions, attributes, attribute, frame
	Decoder   string `json:"decoder"`
	Test      string `json:"test"`
	Seq       int    `json:"test_seq"`
	InputForm string `json:"input_form"`
	InputText string `json:"input_text"`
	InputHex  string `json:"input_hex"`
	FrameHex  string `json:"frame_hex"`
	HTTP      struct {
		Method      string  `json:"method"`
		Target      string  `json:"target"`
		ContentType *string `json:"content_type"`
		Body        string  `json:"body"`
	} `json:"http"`
	Model     string `json:"model"`      // GT06: the device model the decoder is told about
	MediaStub string `json:"media_stub"` // watch: the name Traccar's stubbed media storage returns

	// Expectations of "attribute".
	Key       string `json:"key"`
	Value     any    `json:"value"`      // nil: the attribute must be absent
	ValueType string `json:"value_type"` // int, long, double, string, boolean
	Target    string `json:"target"`     // "field": a position field, not an attribute

	// Expectations of "position" (all nil: plausibility only).
	Time  *string  `json:"time"`
	Valid *bool    `json:"valid"`
	Lat   *float64 `json:"lat"`
	Lon   *float64 `json:"lon"`
}

// Input returns the bytes the vector feeds the decoder: input_hex decoded,
// else input_text.
func (v Vector) Input(tb testing.TB) []byte {
	tb.Helper()
	if v.InputHex == "" {
		return []byte(v.InputText)
	}
	b, err := hex.DecodeString(v.InputHex)
	if err != nil {
		tb.Fatalf("%s: input_hex: %v", v.ID, err)
	}
	return b
}

// Load reads shared/vectors/<proto>.jsonl, failing tb when it is missing or
// empty. The cases come back grouped by test method (decoder and test) and in
// test_seq order within one, the order Traccar runs them in.
func Load(tb testing.TB, proto string) []Vector {
	tb.Helper()
	f, err := os.Open(shared.Path(tb, "vectors", proto+".jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v Vector
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			tb.Fatalf("%s vector %q: %v", proto, sc.Text(), err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatalf("no %s vectors", proto)
	}
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Decoder != b.Decoder {
			return a.Decoder < b.Decoder
		}
		if a.Test != b.Test {
			return a.Test < b.Test
		}
		return a.Seq < b.Seq
	})
	return vs
}

// Seed adds the input of every vector of proto to f's corpus.
func Seed(f *testing.F, proto string) {
	for _, v := range Load(f, proto) {
		f.Add(v.Input(f))
	}
}

// PerMethod returns a lookup giving each test method (decoder and test
// name) its own codec, made by newCodec on first use: Traccar runs the cases
// of one method in order on one decoder instance, so state such as a login
// carries over between them.
func PerMethod[C any](newCodec func() C) func(Vector) C {
	codecs := map[string]C{}
	return func(v Vector) C {
		key := v.Decoder + "/" + v.Test
		c, ok := codecs[key]
		if !ok {
			c = newCodec()
			codecs[key] = c
		}
		return c
	}
}

// MinRate is the pass rate below which conformance fails, overall and for
// the kinds in strictKinds.
const MinRate = 0.95

// strictKinds must each pass MinRate on their own: a decoder that finds no
// position, or invents one, is wrong where it matters most.
var strictKinds = []string{"position", "null"}

// Count tallies the cases of one expect kind.
type Count struct{ Pass, Total int }

// Run judges every vector with check, which returns why the case fails or
// "", in the order given (see Load). It logs the pass rate of each expect
// kind and every failure, and fails t below MinRate.
func Run(t *testing.T, vs []Vector, check func(Vector) string) {
	t.Helper()
	kinds := map[string]*Count{}
	var failures []string
	for _, v := range vs {
		why := check(v)
		k := kinds[v.Expect]
		if k == nil {
			k = &Count{}
			kinds[v.Expect] = k
		}
		k.Total++
		if why == "" {
			k.Pass++
		} else {
			failures = append(failures, fmt.Sprintf("%s (%s, seq %d): %s", v.ID, v.Expect, v.Seq, why))
		}
	}
	proto := ""
	if len(vs) > 0 {
		proto = vs[0].Proto
	}
	table, problems := Summarize(kinds)
	t.Logf("%s conformance\n%s", proto, table)
	for _, f := range failures {
		t.Logf("FAIL %s", f)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// Summarize renders the per-kind pass-rate table and returns the rate rules
// it breaks: overall, or a strict kind, below MinRate.
func Summarize(kinds map[string]*Count) (table string, problems []string) {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	var all Count
	sb.WriteString("| expect | pass | total | rate |\n|---|---|---|---|\n")
	for _, n := range names {
		k := kinds[n]
		all.Pass += k.Pass
		all.Total += k.Total
		fmt.Fprintf(&sb, "| %s | %d | %d | %.1f%% |\n", n, k.Pass, k.Total, 100*k.rate())
	}
	fmt.Fprintf(&sb, "| **all** | %d | %d | %.1f%% |\n", all.Pass, all.Total, 100*all.rate())
	if all.Total == 0 || all.rate() < MinRate {
		problems = append(problems, fmt.Sprintf("overall pass rate %d/%d (%.1f%%) below %.0f%%", all.Pass, all.Total, 100*all.rate(), 100*MinRate))
	}
	for _, n := range strictKinds {
		if k := kinds[n]; k != nil && k.rate() < MinRate {
			problems = append(problems, fmt.Sprintf("%s pass rate %d/%d (%.1f%%) below %.0f%%", n, k.Pass, k.Total, 100*k.rate(), 100*MinRate))
		}
	}
	return sb.String(), problems
}

func (c Count) rate() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Pass) / float64(c.Total)
}
