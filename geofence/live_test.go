package geofence

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"carevisit/internal/shared"
)

// benchCandidates returns the candidates of every worker's device.
func benchCandidates(b *Bench) map[string][]Candidate {
	byID := make(map[string]*Geofence, len(b.Fences))
	for _, g := range b.Fences {
		byID[g.ClientID] = g
	}
	out := make(map[string][]Candidate)
	for _, w := range b.Workers {
		for _, c := range w.Clients {
			out[w.DeviceID] = append(out[w.DeviceID], Candidate{Fence: byID[c], Assigned: true})
		}
	}
	return out
}

func loadBench(t testing.TB, name string) *Bench {
	t.Helper()
	b, err := LoadBenchDir(shared.Path(t, "bench", "visits", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func visitKey(v Visit) string {
	return fmt.Sprintf("%s %s %s %s open=%v", v.DeviceID, v.ClientID, v.Start.Format(time.RFC3339Nano), v.End.Format(time.RFC3339Nano), v.Open)
}

func keys(vs []Visit) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = visitKey(v)
	}
	return out
}

// liveRun feeds fixes one by one to a live Detector and returns the final
// visits of the device.
func liveRun(t testing.TB, dev string, fixes []Fix, cands []Candidate) []Visit {
	d := NewDetector(DefaultParams(), func(string) (string, []Candidate, bool) { return "w", cands, true }, 0)
	for _, f := range fixes {
		d.Add(f)
	}
	return d.Visits(dev)
}

// shuffleUploads reorders fixes like buffered uploads do: random bursts of
// up to 40 consecutive fixes arrive late, reversed or shuffled, and ~5 % of
// fixes arrive twice.
func shuffleUploads(r *rand.Rand, in []Fix) []Fix {
	out := slices.Clone(in)
	for i := 0; i < len(out); {
		n := 1 + r.IntN(40)
		if i+n > len(out) {
			n = len(out) - i
		}
		if r.IntN(4) == 0 {
			burst := out[i : i+n]
			if r.IntN(2) == 0 {
				slices.Reverse(burst)
			} else {
				r.Shuffle(len(burst), func(a, b int) { burst[a], burst[b] = burst[b], burst[a] })
			}
			// The burst arrives after the next few fixes.
			d := min(r.IntN(20), len(out)-i-n)
			moved := slices.Clone(burst)
			copy(out[i:], out[i+n:i+n+d])
			copy(out[i+d:], moved)
		}
		i += n
	}
	var dup []Fix
	for _, f := range out {
		dup = append(dup, f)
		if r.IntN(20) == 0 {
			dup = append(dup, f)
		}
	}
	return dup
}

// TestLiveMatchesOffline: for every device of smoke/, the live detector fed
// the fixes in file order, in time order, and in shuffled/duplicated upload
// order ends with exactly the visits of the offline DetectDevice.
//
// On public/ it runs each device's first two days (a day fits in the live
// window; jumps, heartbeats and late uploads are all there).
func TestLiveMatchesOffline(t *testing.T) {
	for _, name := range []string{"smoke", "public"} {
		t.Run(name, func(t *testing.T) {
			b := loadBench(t, name)
			byDev := map[string][]Fix{}
			for _, f := range b.Fixes {
				day := f.Time.Format("2006-01-02")
				if name == "public" && day > "2024-03-12" {
					continue
				}
				k := f.DeviceID + "@" + day
				byDev[k] = append(byDev[k], f)
			}
			checkLiveMatchesOffline(t, byDev, benchCandidates(b))
		})
	}
}

func checkLiveMatchesOffline(t *testing.T, byDev map[string][]Fix, candsByDev map[string][]Candidate) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	// Sorted keys: the shuffles must not depend on map order (a failure
	// has to be reproducible).
	ks := slices.Sorted(maps.Keys(byDev))
	for _, k := range ks {
		fixes := byDev[k]
		dev := fixes[0].DeviceID
		cands := map[string][]Candidate{dev: candsByDev[dev]}
		want := keys(DetectDevice(dev, "w", fixes, cands[dev], DefaultParams()))
		if len(want) == 0 {
			t.Fatalf("%s: no visits offline", k)
		}
		sorted := slices.Clone(fixes)
		slices.SortStableFunc(sorted, func(a, b Fix) int { return a.Time.Compare(b.Time) })
		orders := map[string][]Fix{"file": fixes, "time": sorted}
		orders["shuffled"] = shuffleUploads(r, sorted)
		for name, order := range orders {
			got := keys(liveRun(t, dev, order, cands[dev]))
			if !slices.Equal(got, want) {
				t.Errorf("%s, %s order: live visits differ from offline\n got %q\nwant %q", k, name, got, want)
			}
			// And offline itself does not depend on order.
			if got := keys(DetectDevice(dev, "w", order, cands[dev], DefaultParams())); !slices.Equal(got, want) {
				t.Errorf("%s, %s order: offline visits depend on order\n got %q\nwant %q", k, name, got, want)
			}
		}
	}
}

// TestLiveEvents follows visits through the live detector: a visit starts
// open while the worker is there and ends when they leave; a buffered
// upload arriving afterwards shows the worker went out in the middle, and
// the detector corrects the day: the first visit ends earlier, a second
// one appears. Flags are raised on closed visits.
func TestLiveEvents(t *testing.T) {
	a := circle("A", 0, 0, 60)
	cands := []Candidate{{Fence: a, Assigned: true}}
	g := newGen(SourceTracker, 5)
	g.walk(0, 0, 1.4, 20*time.Second)
	g.stay(8*time.Minute, 20*time.Second, 8, true)
	out := g.t
	g.walk(300, 0, 1.4, 20*time.Second) // to the shop and back
	g.walk(0, 0, 1.4, 20*time.Second)
	back := g.t
	g.stay(8*time.Minute, 20*time.Second, 8, true)
	g.walk(-600, 0, 1.4, 20*time.Second)
	var live, late []Fix
	for _, f := range g.fixes {
		if !f.Time.Before(out) && f.Time.Before(back) {
			late = append([]Fix{f}, late...) // uploaded later, newest first
		} else {
			live = append(live, f)
		}
	}
	d := NewDetector(DefaultParams(), func(string) (string, []Candidate, bool) { return "w1", cands, true }, 0)
	var kinds []EventKind
	for i, f := range append(live, late...) {
		for _, ev := range d.Add(f) {
			kinds = append(kinds, ev.Kind)
			if ev.Visit.WorkerID != "w1" || ev.Visit.ClientID != "A" || ev.Visit.ID == "" {
				t.Errorf("event %v: %+v", ev.Kind, ev.Visit)
			}
			if ev.Kind == VisitStarted && i < len(live) && !ev.Visit.Open {
				t.Errorf("a visit started closed in the in-order part: %+v", ev.Visit)
			}
		}
		if i == len(live)-1 {
			if vs := d.Visits("dev"); len(vs) != 1 || vs[0].Open {
				t.Fatalf("before the upload: %+v", vs)
			}
		}
	}
	t.Logf("events: %v", kinds)
	for k, n := range map[EventKind]int{VisitStarted: 2, VisitEnded: 2, VisitCancelled: 0} {
		if got := countKind(kinds, k); got != n {
			t.Errorf("%d %v events, want %d: %v", got, k, n, kinds)
		}
	}
	if countKind(kinds, VisitUpdated) == 0 { // each late fix may move a boundary
		t.Errorf("no VisitUpdated: %v", kinds)
	}
	if countKind(kinds, FlagRaised) < 2 {
		t.Errorf("want the short flag raised on both visits: %v", kinds)
	}
	vs := d.Visits("dev")
	want := DetectDevice("dev", "w1", g.fixes, cands, DefaultParams())
	if len(vs) != 2 || visitKey(vs[0]) != visitKey(want[0]) || visitKey(vs[1]) != visitKey(want[1]) {
		t.Fatalf("final visits %+v, want %+v", vs, want)
	}
	// Unknown devices are ignored.
	d2 := NewDetector(DefaultParams(), func(string) (string, []Candidate, bool) { return "", nil, false }, time.Hour)
	if evs := d2.Add(g.fixes[0]); evs != nil {
		t.Errorf("unknown device: %v", evs)
	}
}

func countKind(ks []EventKind, k EventKind) int {
	n := 0
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}
