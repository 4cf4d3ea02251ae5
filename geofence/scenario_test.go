package geofence

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A small trajectory generator for hand-made scenarios: positions are in
// metres east/north of a base point in Ryazan.
const baseLat, baseLon = 54.62, 39.74

func ll(x, y float64) (lat, lon float64) {
	return baseLat + y/metresPerDegLat, baseLon + x/(metresPerDegLat*math.Cos(baseLat*math.Pi/180))
}

var t0 = time.Date(2024, 3, 11, 6, 0, 0, 0, time.UTC)

type gen struct {
	r     *rand.Rand
	src   Source
	t     time.Time
	x, y  float64
	fixes []Fix
}

func newGen(src Source, seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, 7)), src: src, t: t0, x: -600, y: 0}
}

// fix records a GPS fix at (x, y) plus noise of sd metres.
func (g *gen) fix(x, y, sd, speed float64, indoor bool) {
	lat, lon := ll(x+g.r.NormFloat64()*sd, y+g.r.NormFloat64()*sd)
	f := Fix{DeviceID: "dev", Time: g.t, Lat: lat, Lon: lon, Valid: true, SpeedMS: speed, Source: g.src}
	q := 1.0
	if indoor {
		q = 2.5
	}
	if g.src == SourcePhone {
		f.AccuracyM = 5 * q * (1 + g.r.Float64())
	} else {
		f.HDOP, f.Sats = 0.9*q, 11
	}
	g.fixes = append(g.fixes, f)
}

// walk goes to (x, y) at speed m/s, a fix every step.
func (g *gen) walk(x, y, speed float64, step time.Duration) {
	d := math.Hypot(x-g.x, y-g.y)
	n := int(d / (speed * step.Seconds()))
	x0, y0 := g.x, g.y
	for i := 1; i <= n; i++ {
		g.t = g.t.Add(step)
		k := float64(i) / float64(n+1)
		g.fix(x0+(x-x0)*k, y0+(y-y0)*k, 4, speed, false)
	}
	g.t = g.t.Add(step)
	g.x, g.y = x, y
}

// stay remains at the current place for d, a fix every step with indoor
// noise of sd metres; each fix goes through edit (nil: keep).
func (g *gen) stay(d, step time.Duration, sd float64, indoor bool) {
	for end := g.t.Add(d); g.t.Before(end); g.t = g.t.Add(step) {
		g.fix(g.x, g.y, sd, 0.2, indoor)
	}
}

// silence advances time without fixes.
func (g *gen) silence(d time.Duration) { g.t = g.t.Add(d) }

func circle(id string, x, y, r float64) *Geofence {
	lat, lon := ll(x, y)
	g, err := NewCircle(id, lat, lon, r)
	if err != nil {
		panic(err)
	}
	return g
}

type wantVisit struct {
	client     string
	start, end time.Duration // since t0
}

func TestScenarios(t *testing.T) {
	a := circle("A", 0, 0, 60)
	b := circle("B", 25, 10, 50) // neighbour entrance in the same block
	far := circle("F", 2000, 2000, 50)
	step := 20 * time.Second
	min := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }

	// arrive walks from 600 m west to A's door (arrival at ~7 min).
	arrive := func(g *gen) { g.walk(0, 0, 1.4, step) }
	leave := func(g *gen) { g.walk(-600, 0, 1.4, step) }
	arrivalT := func(g *gen) time.Duration { return g.t.Sub(t0) }

	cases := []struct {
		name  string
		fence []*Geofence
		build func(g *gen) []wantVisit
		tol   time.Duration
	}{
		{"gps noise indoors", []*Geofence{a, far}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(30), step, 12, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"multipath burst 120 m for 80 s", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(15), step, 10, true)
			for range 4 {
				g.fix(120, 40, 10, 0.5, true)
				g.t = g.t.Add(step)
			}
			g.stay(min(15), step, 10, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"single-fix jumps of 500 m and 1.5 km", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(10), step, 8, true)
			g.fix(500, 0, 5, 0.3, false)
			g.t = g.t.Add(step)
			g.stay(min(10), step, 8, true)
			g.fix(0, 1500, 5, 0.3, false)
			g.t = g.t.Add(step)
			g.stay(min(10), step, 8, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"invalid fixes, 0,0 and heartbeats repeating the last position", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(1), step, 8, true)
			last := g.fixes[len(g.fixes)-1]
			for range 8 { // motion-triggered: heartbeats every 5 minutes
				g.t = g.t.Add(5 * time.Minute)
				hb := last
				hb.Time, hb.Valid, hb.HDOP, hb.Sats, hb.SpeedMS = g.t, false, 0, 0, 0
				g.fixes = append(g.fixes, hb)
			}
			zero := last
			zero.Time, zero.Lat, zero.Lon = g.t.Add(-time.Minute), 0, 0
			g.fixes = append(g.fixes, zero)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, 90 * time.Second},
		{"phone indoors with cell-tower and Wi-Fi fixes", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			for end := g.t.Add(min(25)); g.t.Before(end); g.t = g.t.Add(15 * time.Second) {
				switch g.r.IntN(4) {
				case 0: // cell tower: 300-1500 m accuracy, far off
					lat, lon := ll(400+g.r.Float64()*400, -300)
					g.fixes = append(g.fixes, Fix{DeviceID: "dev", Time: g.t, Lat: lat, Lon: lon, Valid: true, AccuracyM: 900, SpeedMS: -1, Source: SourcePhone})
				case 1: // Wi-Fi: tens of metres
					lat, lon := ll(g.r.NormFloat64()*20, g.r.NormFloat64()*20)
					g.fixes = append(g.fixes, Fix{DeviceID: "dev", Time: g.t, Lat: lat, Lon: lon, Valid: true, AccuracyM: 40, SpeedMS: -1, Source: SourcePhone})
				default:
					g.fix(0, 0, 12, 0.3, true)
				}
			}
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"cell-tower fixes alone do not make a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(-600, 400, 1.4, step)
			for range 20 { // the tracker lost GPS elsewhere; LBS lands on A
				g.t = g.t.Add(time.Minute)
				lat, lon := ll(10, 10)
				g.fixes = append(g.fixes, Fix{DeviceID: "dev", Time: g.t, Lat: lat, Lon: lon, AccuracyM: 800, SpeedMS: -1, Source: SourceTracker})
			}
			return nil
		}, 0},
		{"motion-triggered tracker silent for the whole visit", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(time.Minute, step, 8, true)
			g.silence(min(45))
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, 90 * time.Second},
		{"tracker reporting every 4 minutes", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(0, 0, 1.4, 4*time.Minute)
			s := arrivalT(g)
			g.stay(min(20), 4*time.Minute, 8, true)
			e := arrivalT(g)
			g.walk(-600, 0, 1.4, 4*time.Minute)
			return []wantVisit{{"A", s, e}}
		}, 4 * time.Minute},
		{"20-minute gap with no data inside a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(10), step, 10, true)
			g.silence(min(20))
			g.stay(min(10), step, 10, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"neighbours' overlapping geofences: the nearer home wins", []*Geofence{a, b}, func(g *gen) []wantVisit {
			g.walk(25, 10, 1.4, step)
			s := arrivalT(g)
			g.stay(min(30), step, 10, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"B", s, e}}
		}, time.Minute},
		{"back-to-back visits to neighbours", []*Geofence{a, b}, func(g *gen) []wantVisit {
			arrive(g)
			s1 := arrivalT(g)
			g.stay(min(25), step, 8, true)
			e1 := arrivalT(g)
			g.walk(25, 10, 1.2, 10*time.Second)
			s2 := arrivalT(g)
			g.stay(min(20), step, 8, true)
			e2 := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s1, e1}, {"B", s2, e2}}
		}, 90 * time.Second},
		{"back-to-back neighbours, never seen outdoors in between", []*Geofence{a, b}, func(g *gen) []wantVisit {
			arrive(g)
			s1 := arrivalT(g)
			g.stay(min(25), step, 8, true)
			e1 := arrivalT(g)
			g.silence(30 * time.Second) // down the stairwell, up the next one
			g.x, g.y = 25, 10
			s2 := arrivalT(g)
			g.stay(min(10), step, 8, true)
			e2 := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s1, e1}, {"B", s2, e2}}
		}, 90 * time.Second},
		{"waiting at the door before stepping in and after stepping out", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(-12, 0, 1.4, step)
			g.stay(3*time.Minute, step, 2, false) // rings, waits outside
			g.x = 0
			s := arrivalT(g)
			g.stay(min(20), step, 10, true)
			e := arrivalT(g)
			g.x = -12
			g.stay(2*time.Minute, step, 2, false)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"data lost from entering the geofence to leaving it", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(-35, 0, 1.4, step)
			s := arrivalT(g) + 25*time.Second // 35 m to the door
			g.silence(min(40))
			g.x = -30
			e := arrivalT(g) - 20*time.Second
			g.t = g.t.Add(-step)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"a lone stray fix between two long silences does not split a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(10), step, 8, true)
			g.silence(min(8))
			g.fix(90, 0, 1, 0.1, true) // outside the 60 m geofence
			g.silence(min(8))
			g.stay(min(10), step, 8, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"multipath holds fixes outside the geofence for 3 minutes", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(15), step, 8, true)
			g.x = 95
			g.stay(3*time.Minute, step, 5, true)
			g.x = 0
			g.stay(min(15), step, 8, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"pass-by on foot is not a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(20, 0, 1.4, step)
			g.walk(600, 0, 1.4, step)
			return nil
		}, 0},
		{"waiting at a traffic light or bus stop inside the geofence is not a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(-45, 25, 1.4, step)
			g.stay(4*time.Minute, step, 3, false)
			g.walk(600, 25, 8, step)
			return nil
		}, 0},
		{"a short real visit of 3 minutes", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(3*time.Minute, step, 8, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"stale fixes repeating a position from the visit, long after it, are not a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			arrive(g)
			s := arrivalT(g)
			g.stay(min(20), step, 8, true)
			e := arrivalT(g)
			old := g.fixes[len(g.fixes)-10]
			g.walk(-250, 0, 1.4, step)
			g.stay(min(10), step, 3, false)
			for range 5 { // valid=true, the position of 25 minutes ago
				g.t = g.t.Add(2 * time.Minute)
				st := old
				st.Time, st.SpeedMS = g.t, 0
				g.fixes = append(g.fixes, st)
			}
			g.t = g.t.Add(2 * time.Minute)
			g.stay(min(10), step, 3, false)
			g.walk(-600, 300, 1.4, step)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"a tracker holding one position through a visit, with silences either side, is a visit", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(-80, 0, 1.4, step)
			g.silence(6 * time.Minute) // GPS lost at the entrance
			s := arrivalT(g) - 3*time.Minute
			g.fix(0, 0, 3, 0, true)
			hold := g.fixes[len(g.fixes)-1]
			for range 30 { // the receiver repeats the held position, to the last digit
				g.t = g.t.Add(time.Minute)
				h := hold
				h.Time = g.t
				g.fixes = append(g.fixes, h)
			}
			g.silence(6 * time.Minute)
			e := arrivalT(g) - 3*time.Minute
			g.x = -80
			g.walk(-600, 0, 1.4, step)
			return []wantVisit{{"A", s, e}}
		}, 4 * time.Minute},
		{"a silence shorter than the walk from the last fix: the visit starts after it", []*Geofence{a}, func(g *gen) []wantVisit {
			g.walk(-900, 0, 1.4, step)
			g.silence(10 * time.Minute) // 900 m take 11.5 minutes on foot
			s := arrivalT(g)
			g.x = 0
			g.stay(min(15), step, 8, true)
			e := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s, e}}
		}, time.Minute},
		{"visited twice in a shift by the fixes: the doubtful twin goes to the neighbour", []*Geofence{a, circle("N", 12, 0, 40)}, func(g *gen) []wantVisit {
			arrive(g)
			s1 := arrivalT(g)
			g.stay(min(30), step, 6, true)
			e1 := arrivalT(g)
			leave(g)
			g.stay(min(60), step, 3, false)
			g.walk(5, 0, 1.4, step) // nearer A (5 m) than N (7 m): a toss-up
			s2 := arrivalT(g)
			g.stay(min(30), step, 6, true)
			e2 := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s1, e1}, {"N", s2, e2}}
		}, time.Minute},
		{"visited twice in a shift, clearly: both visits stay", []*Geofence{a, circle("N", 40, 0, 30)}, func(g *gen) []wantVisit {
			arrive(g)
			s1 := arrivalT(g)
			g.stay(min(30), step, 6, true)
			e1 := arrivalT(g)
			leave(g)
			g.stay(min(60), step, 3, false)
			arrive(g)
			s2 := arrivalT(g)
			g.stay(min(30), step, 6, true)
			e2 := arrivalT(g)
			leave(g)
			return []wantVisit{{"A", s1, e1}, {"A", s2, e2}}
		}, time.Minute},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGen(SourceTracker, uint64(i))
			if c.name == "phone indoors with cell-tower and Wi-Fi fixes" {
				g.src = SourcePhone
			}
			want := c.build(g)
			var cands []Candidate
			for _, f := range c.fence {
				cands = append(cands, Candidate{Fence: f, Assigned: true})
			}
			// Arrival order: a late burst, reversed, and a few duplicates,
			// must not change anything.
			fixes := slices.Clone(g.fixes)
			if n := len(fixes); n > 30 {
				slices.Reverse(fixes[n/3 : n/3+20])
				fixes = append(fixes, fixes[5], fixes[n/2])
			}
			got := DetectDevice("dev", "w", fixes, cands, DefaultParams())
			if len(got) != len(want) {
				t.Fatalf("got %d visits, want %d:\n%s", len(got), len(want), describe(got))
			}
			for k, w := range want {
				v := got[k]
				if v.ClientID != w.client || absDur(v.Start.Sub(t0)-w.start) > c.tol || absDur(v.End.Sub(t0)-w.end) > c.tol {
					t.Errorf("visit %d: got %s %v..%v, want %s %v..%v (±%v)", k, v.ClientID,
						v.Start.Sub(t0), v.End.Sub(t0), w.client, w.start, w.end, c.tol)
				}
			}
		})
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func describe(vs []Visit) string {
	s := ""
	for _, v := range vs {
		s += v.ClientID + " " + v.Start.Sub(t0).String() + ".." + v.End.Sub(t0).String() + "\n"
	}
	return s
}
