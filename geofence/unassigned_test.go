package geofence

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Visits to homes not assigned to the worker: found when the stay is
// theirs alone, flagged, and never taken from an assigned neighbour on
// weak evidence.
func TestUnassignedHomes(t *testing.T) {
	step := 20 * time.Second
	a := circle("A", 0, 0, 50)
	for _, c := range []struct {
		name   string
		u      *Geofence
		at     float64 // where the worker stays, m east of A
		client string
		flag   bool
	}{
		{"a colleague's client 400 m away: an unassigned visit", circle("U", 400, 0, 50), 400, "U", true},
		{"fixes at an unassigned neighbour's 20 m away: the assigned client keeps the visit", circle("U", 20, 0, 50), 20, "A", false},
		{"fixes clearly at an unassigned neighbour's: the neighbour's, flagged", circle("U", 45, 0, 40), 45, "U", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGen(SourceTracker, 3)
			g.x, g.y = c.at, -600 // from the south: neither home is passed first
			g.walk(c.at, 0, 1.4, step)
			s := g.t.Sub(t0)
			g.stay(25*time.Minute, step, 8, true)
			e := g.t.Sub(t0)
			g.walk(c.at, 600, 1.4, step)
			cands := []Candidate{{Fence: a, Assigned: true}, {Fence: c.u}}
			got := DetectDevice("dev", "w", g.fixes, cands, DefaultParams())
			if len(got) != 1 {
				t.Fatalf("got %d visits, want 1:\n%s", len(got), describe(got))
			}
			v := got[0]
			if v.ClientID != c.client || v.Flags.Has(FlagUnassigned) != c.flag {
				t.Errorf("visit to %s flags %v, want %s unassigned=%v", v.ClientID, v.Flags, c.client, c.flag)
			}
			if absDur(v.Start.Sub(t0)-s) > time.Minute || absDur(v.End.Sub(t0)-e) > time.Minute {
				t.Errorf("visit %v..%v, want %v..%v", v.Start.Sub(t0), v.End.Sub(t0), s, e)
			}
		})
	}
}

// The live detector adds unassigned homes where the device stands still
// (not those it walks past) and comes to the same visits as the offline
// detector given the same homes.
func TestLiveNearby(t *testing.T) {
	step := 20 * time.Second
	a := circle("A", 0, 0, 50)
	passed := circle("P", -300, 0, 40) // walked past on the way
	u := circle("U", 400, 0, 50)
	index := NewIndex([]*Geofence{a, passed, u})
	nearby := func(lat, lon float64) []*Geofence {
		var out []*Geofence
		for _, g := range index.Containing(lat, lon) {
			if g.ClientID != "A" {
				out = append(out, g)
			}
		}
		return out
	}
	g := newGen(SourceTracker, 5)
	g.walk(0, 0, 1.4, step) // through P at walking speed
	g.stay(20*time.Minute, step, 8, true)
	g.walk(400, 0, 1.4, step)
	g.stay(25*time.Minute, step, 8, true)
	g.walk(400, 600, 1.4, step)

	lookup := func(string) (string, []Candidate, bool) { return "w", []Candidate{{Fence: a, Assigned: true}}, true }
	d := NewDetector(DefaultParams(), lookup, 0)
	d.SetNearby(func(_ string, lat, lon float64) []*Geofence { return nearby(lat, lon) })
	var raised []string
	for _, f := range g.fixes {
		for _, ev := range d.Add(f) {
			if ev.Kind == FlagRaised && ev.Flag == FlagUnassigned {
				raised = append(raised, ev.Visit.ClientID)
			}
		}
	}
	live := d.Visits("dev")
	if len(live) != 2 || live[0].ClientID != "A" || live[1].ClientID != "U" {
		t.Fatalf("live visits:\n%s want A then U", describe(live))
	}
	if live[0].Flags.Has(FlagUnassigned) || !live[1].Flags.Has(FlagUnassigned) {
		t.Errorf("flags A %v, U %v: want unassigned on U only", live[0].Flags, live[1].Flags)
	}
	if !slices.Equal(raised, []string{"U"}) {
		t.Errorf("unassigned flag raised for %v, want [U]", raised)
	}

	cands := AddNearby([]Candidate{{Fence: a, Assigned: true}}, g.fixes, nearby, DefaultParams())
	if len(cands) != 2 || cands[1].Fence != u || cands[1].Assigned {
		t.Errorf("AddNearby: %d candidates, want A and unassigned U (not P, walked past)", len(cands))
	}
	off := DetectDevice("dev", "w", g.fixes, cands, DefaultParams())
	if len(off) != len(live) {
		t.Fatalf("offline %d visits, live %d", len(off), len(live))
	}
	for i := range off {
		if off[i].ClientID != live[i].ClientID || !off[i].Start.Equal(live[i].Start) || !off[i].End.Equal(live[i].End) || off[i].Flags != live[i].Flags {
			t.Errorf("visit %d: offline %s %v..%v %v, live %s %v..%v %v", i, off[i].ClientID, off[i].Start, off[i].End, off[i].Flags,
				live[i].ClientID, live[i].Start, live[i].End, live[i].Flags)
		}
	}
}

// The schedule breaks ties between neighbours: where the fixes fit two
// homes about equally the planned client gets the visit; where they
// clearly say the other home, the plan does not override them.
func TestPlannedBreaksTies(t *testing.T) {
	step := 20 * time.Second
	type plan struct{ a, n bool }
	for _, c := range []struct {
		name   string
		nx, at float64 // N's home and the stay, m east of A
		plan   plan
		client string
	}{
		{"toss-up, N planned", 12, 6, plan{n: true}, "N"},
		{"toss-up, A planned", 12, 6, plan{a: true}, "A"},
		{"clearly A, N planned", 45, 0, plan{n: true}, "A"},
		{"clearly N, A planned", 45, 45, plan{a: true}, "N"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGen(SourceTracker, 9)
			g.x, g.y = c.at, -600
			g.walk(c.at, 0, 1.4, step)
			s := g.t
			g.stay(30*time.Minute, step, 8, true)
			e := g.t
			g.walk(c.at, 600, 1.4, step)
			during := func(yes bool) func(from, to time.Time) bool {
				return func(from, to time.Time) bool { return yes && to.After(s) && from.Before(e) }
			}
			cands := []Candidate{
				{Fence: circle("A", 0, 0, 50), Assigned: true, Planned: during(c.plan.a)},
				{Fence: circle("N", c.nx, 0, 50), Assigned: true, Planned: during(c.plan.n)},
			}
			got := DetectDevice("dev", "w", g.fixes, cands, DefaultParams())
			if len(got) != 1 || got[0].ClientID != c.client {
				t.Fatalf("got\n%s want one visit to %s", describe(got), c.client)
			}
		})
	}
}

// Refresh judges the fixes held again with the new candidates (a visit in
// progress keeps its start); a device now carried by another worker
// starts afresh.
func TestLiveRefresh(t *testing.T) {
	step := 20 * time.Second
	a, b := circle("A", 0, 0, 50), circle("B", 900, 0, 50)
	g := newGen(SourceTracker, 4)
	g.walk(0, 0, 1.4, step)
	s := g.t
	g.stay(30*time.Minute, step, 8, true)
	e := g.t
	g.walk(0, 600, 1.4, step)
	worker, cands := "w1", []Candidate{{Fence: a, Assigned: true}}
	d := NewDetector(DefaultParams(), func(string) (string, []Candidate, bool) { return worker, cands, true }, 0)
	half := len(g.fixes) / 2
	for _, f := range g.fixes[:half] {
		d.Add(f)
	}
	cands = []Candidate{{Fence: a, Assigned: true}, {Fence: b, Assigned: true}}
	d.Refresh("dev")
	for _, f := range g.fixes[half:] {
		d.Add(f)
	}
	vs := d.Visits("dev")
	if len(vs) != 1 || vs[0].ClientID != "A" || absDur(vs[0].Start.Sub(s)) > time.Minute || absDur(vs[0].End.Sub(e)) > time.Minute {
		t.Fatalf("after a refresh mid-visit:\n%s want A %v..%v", describe(vs), s.Sub(t0), e.Sub(t0))
	}
	worker = "w2"
	d.Refresh("dev")
	if vs := d.Visits("dev"); len(vs) != 0 {
		t.Errorf("a device given to another worker keeps %d visits of the previous one", len(vs))
	}
}

// The unassigned homes a device gathers are bounded at a time, not for
// good: yesterday's crossings leave with the window, and today's visit to
// a colleague's client is still found. Walking past homes adds none.
func TestLiveNearbyRenews(t *testing.T) {
	step := 20 * time.Second
	var homes []*Geofence
	for k := range 40 {
		homes = append(homes, circle(fmt.Sprintf("S%02d", k), 1000+100*float64(k), 0, 30))
	}
	target := circle("T", -500, 300, 40)
	index := NewIndex(append(slices.Clone(homes), target))
	p := DefaultParams()
	lookups := 0
	d := NewDetector(p, func(string) (string, []Candidate, bool) {
		return "w", []Candidate{{Fence: circle("A", 0, 0, 50), Assigned: true}}, true
	}, 0)
	d.SetNearby(func(_ string, lat, lon float64) []*Geofence {
		lookups++
		return index.Containing(lat, lon)
	})
	g := newGen(SourceTracker, 6)
	g.x, g.y = 1000, -300
	g.walk(1000, 300, 1.4, step) // past S00 on foot: no lookup
	if lookups != 0 {
		t.Errorf("%d lookups while walking past", lookups)
	}
	for k := range 40 { // day 1: a minute standing at each of 40 crossings
		g.x, g.y = 1000+100*float64(k), 0
		g.stay(time.Minute, step, 3, false)
	}
	g.silence(20 * time.Hour)
	g.x, g.y = -500, -300
	g.walk(-500, 300, 1.4, step)
	s := g.t
	g.stay(25*time.Minute, step, 8, true)
	e := g.t
	g.walk(-500, 900, 1.4, step)
	for _, f := range g.fixes {
		d.Add(f)
	}
	var got []Visit
	for _, v := range d.Visits("dev") {
		if v.ClientID == "T" {
			got = append(got, v)
		}
	}
	if len(got) != 1 || !got[0].Flags.Has(FlagUnassigned) || absDur(got[0].Start.Sub(s)) > time.Minute || absDur(got[0].End.Sub(e)) > time.Minute {
		t.Errorf("day 2 visit to the colleague's client: %s want T %v..%v, unassigned", describe(got), s.Sub(t0), e.Sub(t0))
	}
}

// Stale replays decided the same live as offline whatever arrives late:
// the position replayed (arriving after the replay), or a fix at the same
// time that replaces it (a duplicate with other coordinates).
func TestStaleReplayLiveMatchesOffline(t *testing.T) {
	step := 20 * time.Second
	a := circle("A", 0, 0, 60)
	cands := []Candidate{{Fence: a, Assigned: true}}
	for _, c := range []struct {
		name    string
		silence time.Duration // between the visit and the replay
		dupe    bool          // a fix with other coordinates at the replayed fix's time
	}{
		{"replay 2.5 h later", 30 * time.Minute, false},
		{"replay beyond the horizon from the first fix", 70 * time.Minute, false},
		{"replayed fix replaced by a duplicate", 30 * time.Minute, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGen(SourceTracker, 8)
			g.x, g.y = 300, 0
			g.fix(300, 0, 1, 0, false) // P, the position replayed later
			p := g.fixes[0]
			g.t = g.t.Add(step)
			g.walk(0, 0, 1.4, step)
			g.stay(2*time.Hour, step, 8, true)
			g.silence(c.silence)
			for range 5 {
				r := p
				r.Time = g.t
				g.fixes = append(g.fixes, r)
				g.t = g.t.Add(2 * time.Minute)
			}
			g.stay(20*time.Minute, step, 8, true)
			g.walk(-600, 0, 1.4, step)
			fixes := slices.Clone(g.fixes)
			if c.dupe {
				q := p
				q.Lat += 0.001 // same time, other place; sorts first
				fixes = append(fixes, q)
			}
			want := keys(DetectDevice("dev", "w", fixes, cands, DefaultParams()))
			late := append(slices.Clone(fixes[1:]), fixes[0]) // P arrives last
			if got := keys(liveRun(t, "dev", late, cands)); !slices.Equal(got, want) {
				t.Errorf("live, P last:\n%v\noffline:\n%v", got, want)
			}
		})
	}
}
