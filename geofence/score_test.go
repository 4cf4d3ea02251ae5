package geofence

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"carevisit/internal/shared"
)

// span is a visit interval for scoring: same rule as score.py.
type span struct {
	dev, client string
	s, e        float64 // unix seconds
}

func (a span) dur() float64 { return a.e - a.s }

func overlapS(a, b span) float64 { return math.Max(0, math.Min(a.e, b.e)-math.Max(a.s, b.s)) }

type scoreResult struct {
	tp, fp, fn            int
	precision, recall, f1 float64
	durP50, durP95        float64
}

// scoreVisits ports score.py's matching: same device and client, overlap
// > 0 and >= 50 % of the shorter of the two, one-to-one, greedy by largest
// overlap (ties: earlier true visit, then earlier detection).
func scoreVisits(truth, det []span) scoreResult {
	type cand struct {
		ov   float64
		t, d int
	}
	var cs []cand
	for i, t := range truth {
		for j, d := range det {
			if t.dev != d.dev || t.client != d.client {
				continue
			}
			ov := overlapS(t, d)
			if ov > 0 && ov >= 0.5*math.Min(t.dur(), d.dur()) {
				cs = append(cs, cand{ov, i, j})
			}
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.ov != b.ov:
			if a.ov > b.ov {
				return -1
			}
			return 1
		case truth[a.t].s != truth[b.t].s:
			if truth[a.t].s < truth[b.t].s {
				return -1
			}
			return 1
		case a.t != b.t:
			return a.t - b.t
		case det[a.d].s != det[b.d].s:
			if det[a.d].s < det[b.d].s {
				return -1
			}
			return 1
		}
		return a.d - b.d
	})
	usedT, usedD := map[int]bool{}, map[int]bool{}
	var durErr []float64
	for _, c := range cs {
		if usedT[c.t] || usedD[c.d] {
			continue
		}
		usedT[c.t], usedD[c.d] = true, true
		durErr = append(durErr, math.Abs(det[c.d].dur()-truth[c.t].dur()))
	}
	r := scoreResult{tp: len(durErr), fp: len(det) - len(durErr), fn: len(truth) - len(durErr)}
	if len(det) > 0 {
		r.precision = float64(r.tp) / float64(len(det))
	}
	if len(truth) > 0 {
		r.recall = float64(r.tp) / float64(len(truth))
	}
	if r.precision+r.recall > 0 {
		r.f1 = 2 * r.precision * r.recall / (r.precision + r.recall)
	}
	r.durP50, r.durP95 = nearestRank(durErr, 50), nearestRank(durErr, 95)
	return r
}

func nearestRank(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	k := max(1, int(math.Ceil(p/100*float64(len(v)))))
	return v[k-1]
}

func loadTruth(t testing.TB, name string) []span {
	t.Helper()
	data, err := os.ReadFile(shared.Path(t, "bench", "visits", name, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Visits []struct {
			DeviceID string    `json:"device_id"`
			ClientID string    `json:"client_id"`
			Start    time.Time `json:"start"`
			End      time.Time `json:"end"`
		} `json:"visits"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []span
	for _, v := range doc.Visits {
		out = append(out, span{v.DeviceID, v.ClientID, float64(v.Start.UnixMilli()) / 1000, float64(v.End.UnixMilli()) / 1000})
	}
	return out
}

func spans(vs []Visit) []span {
	var out []span
	for _, r := range Records(vs) {
		s, _ := time.Parse(time.RFC3339, r.Start)
		e, _ := time.Parse(time.RFC3339, r.End)
		out = append(out, span{r.DeviceID, r.ClientID, float64(s.Unix()), float64(e.Unix())})
	}
	return out
}

func TestScoreRule(t *testing.T) {
	tr := []span{{"d", "a", 0, 100}, {"d", "b", 200, 300}, {"d", "c", 400, 500}}
	det := []span{
		{"d", "a", 10, 90},   // match
		{"d", "a", 95, 140},  // overlap 5 < 50 % of 45: no match
		{"d", "x", 200, 300}, // wrong client
		{"d", "c", 460, 600}, // overlap 40 < 50 % of 100: no match
	}
	r := scoreVisits(tr, det)
	if r.tp != 1 || r.fp != 3 || r.fn != 2 || r.durP50 != 20 {
		t.Fatalf("got %+v", r)
	}
}

// TestBenchScore runs the detector on the benchmark datasets and scores
// it with score.py's rule; it fails below the floors, set just under what
// the detector reaches (smoke is tiny: one miss costs 0.05).
func TestBenchScore(t *testing.T) {
	for _, c := range []struct {
		name           string
		minF1          float64
		maxP50, maxP95 float64
	}{
		{"smoke", 0.94, 30, 400},
		{"public", 0.94, 20, 290},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := loadBench(t, c.name)
			r := scoreVisits(loadTruth(t, c.name), spans(b.Detect(DefaultParams())))
			t.Logf("%s: precision=%.3f recall=%.3f f1=%.3f dur_err_p50=%.0fs dur_err_p95=%.0fs tp=%d fp=%d fn=%d",
				c.name, r.precision, r.recall, r.f1, r.durP50, r.durP95, r.tp, r.fp, r.fn)
			if r.f1 < c.minF1 || r.durP50 > c.maxP50 || r.durP95 > c.maxP95 {
				t.Errorf("%s: f1 %.3f (floor %.2f), duration error p50 %.0fs (max %.0f), p95 %.0fs (max %.0f)",
					c.name, r.f1, c.minF1, r.durP50, c.maxP50, r.durP95, c.maxP95)
			}
		})
	}
}

// TestRobustness perturbs public/ (drop 30 % of fixes; add 8 m of extra
// noise to every position; both) and checks the score degrades gracefully.
// The numbers are in docs/visits.md.
func TestRobustness(t *testing.T) {
	if testing.Short() {
		t.Skip("public/ perturbations take a few seconds")
	}
	b := loadBench(t, "public")
	truth := loadTruth(t, "public")
	orig := b.Fixes
	for _, c := range []struct {
		name        string
		drop, noise float64
		minF1       float64
	}{
		{"drop 30%", 0.3, 0, 0.93},
		{"noise 8 m", 0, 8, 0.93},
		{"drop 30% + noise 8 m", 0.3, 8, 0.92},
	} {
		r := rand.New(rand.NewPCG(11, 12))
		var fx []Fix
		for _, f := range orig {
			if r.Float64() < c.drop {
				continue
			}
			if c.noise > 0 && f.Lat != 0 {
				f.Lat += r.NormFloat64() * c.noise / metresPerDegLat
				f.Lon += r.NormFloat64() * c.noise / (metresPerDegLat * math.Cos(f.Lat*math.Pi/180))
			}
			fx = append(fx, f)
		}
		b.Fixes = fx
		s := scoreVisits(truth, spans(b.Detect(DefaultParams())))
		t.Logf("%-22s f1=%.3f precision=%.3f recall=%.3f dur_err_p50=%.0fs p95=%.0fs", c.name, s.f1, s.precision, s.recall, s.durP50, s.durP95)
		if s.f1 < c.minF1 {
			t.Errorf("%s: f1 %.3f below %.2f", c.name, s.f1, c.minF1)
		}
	}
}
