package geofence

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paulmach/orb"
)

// polyXY builds a polygon from metre offsets around the base point.
func polyXY(id string, pts ...[2]float64) *Geofence {
	var ring orb.Ring
	for _, p := range pts {
		lat, lon := ll(p[0], p[1])
		ring = append(ring, orb.Point{lon, lat})
	}
	g, err := NewPolygon(id, ring)
	if err != nil {
		panic(err)
	}
	return g
}

func TestCircleDistanceInMetres(t *testing.T) {
	c := circle("c", 0, 0, 50)
	for _, tc := range []struct {
		x, y, want float64
	}{{0, 0, -50}, {30, 40, 0}, {100, 0, 50}, {0, -80, 30}} {
		lat, lon := ll(tc.x, tc.y)
		if d := c.DistanceM(lat, lon); math.Abs(d-tc.want) > 0.5 {
			t.Errorf("(%v,%v): distance %.2f m, want %.2f", tc.x, tc.y, d, tc.want)
		}
	}
	// Against orb's great-circle distance, 45 m east of the centre.
	lat, lon := ll(45, 0)
	if d := c.PlaceDistanceM(lat, lon); math.Abs(d-45) > 0.2 {
		t.Errorf("place distance %.2f, want 45", d)
	}
}

func TestNonConvexPolygon(t *testing.T) {
	// An L: 40x40 m with the north-east 20x20 m quarter cut out. Its
	// centroid lies near the inner corner; the anchor must be inside.
	l := polyXY("L", [2]float64{0, 0}, [2]float64{40, 0}, [2]float64{40, 20}, [2]float64{20, 20},
		[2]float64{20, 40}, [2]float64{0, 40}, [2]float64{0, 0})
	for _, tc := range []struct {
		x, y float64
		in   bool
	}{{10, 10, true}, {30, 10, true}, {10, 30, true}, {30, 30, false}, {50, 10, false}, {-1, 5, false}} {
		lat, lon := ll(tc.x, tc.y)
		if got := l.Contains(lat, lon); got != tc.in {
			t.Errorf("(%v,%v): contains=%v, want %v", tc.x, tc.y, got, tc.in)
		}
	}
	if !l.Contains(l.Center[1], l.Center[0]) {
		t.Errorf("anchor %v is outside the L", l.Center)
	}
	lat, lon := ll(30, 30) // in the notch: 10 m from both inner edges
	if d := l.DistanceM(lat, lon); math.Abs(d-10) > 0.3 {
		t.Errorf("distance from the notch %.2f, want 10", d)
	}
}

func TestBadFences(t *testing.T) {
	if _, err := NewCircle("x", 95, 0, 10); err == nil {
		t.Error("latitude 95 accepted")
	}
	if _, err := NewCircle("x", 50, 0, 0); err == nil {
		t.Error("zero radius accepted")
	}
	if _, err := NewPolygon("x", orb.Ring{{0, 0}, {1, 1}}); err == nil {
		t.Error("2-point polygon accepted")
	}
}

// randomFences scatters n fences (3 in 4 circles of 30-80 m, the rest
// squares) over a city-sized area of about 20 x 20 km.
func randomFences(n int, r *rand.Rand) []*Geofence {
	out := make([]*Geofence, 0, n)
	for i := range n {
		x, y := r.Float64()*20000, r.Float64()*20000
		id := fmt.Sprintf("c%06d", i)
		if i%4 == 3 {
			s := 10 + r.Float64()*15
			out = append(out, polyXY(id, [2]float64{x - s, y - s}, [2]float64{x + s, y - s}, [2]float64{x + s, y + s}, [2]float64{x - s, y + s}))
		} else {
			out = append(out, circle(id, x, y, 30+r.Float64()*50))
		}
	}
	return out
}

func TestIndexMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fences := randomFences(5000, r)
	ix := NewIndex(fences)
	for range 2000 {
		lat, lon := ll(r.Float64()*20000, r.Float64()*20000)
		margin := r.Float64() * 300
		got := map[string]bool{}
		ix.Near(lat, lon, margin, func(g *Geofence, d float64) bool {
			if got[g.ClientID] {
				t.Fatalf("%s reported twice", g.ClientID)
			}
			got[g.ClientID] = true
			return true
		})
		for _, g := range fences {
			if want := g.DistanceM(lat, lon) <= margin; want != got[g.ClientID] {
				t.Fatalf("fence %s at %.1f m, margin %.1f: index says %v", g.ClientID, g.DistanceM(lat, lon), margin, got[g.ClientID])
			}
		}
	}
	if ix.Get("c000007") == nil || ix.Len() != 5000 {
		t.Error("Get/Len")
	}
}

func TestContainingOrdersNeighbours(t *testing.T) {
	a, b := circle("A", 0, 0, 60), circle("B", 25, 0, 60)
	ix := NewIndex([]*Geofence{a, b, circle("far", 5000, 0, 60)})
	lat, lon := ll(20, 0)
	got := ix.Containing(lat, lon)
	if len(got) != 2 || got[0].ClientID != "B" || got[1].ClientID != "A" {
		t.Fatalf("got %v", got)
	}
}

// BenchmarkIndexNear100k: lookups of fences within 100 m of a random
// point among 100,000 fences.
func BenchmarkIndexNear100k(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	ix := NewIndex(randomFences(100000, r))
	pts := make([][2]float64, 4096)
	for i := range pts {
		pts[i][0], pts[i][1] = ll(r.Float64()*20000, r.Float64()*20000)
	}
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		p := pts[i%len(pts)]
		ix.Near(p[0], p[1], 100, func(*Geofence, float64) bool { n++; return true })
	}
	b.ReportMetric(float64(n)/float64(b.N), "fences/lookup")
}

func TestCandidatesFlagUnassigned(t *testing.T) {
	a, b := circle("A", 0, 0, 50), circle("B", 400, 0, 50)
	ix := NewIndex([]*Geofence{a, b, circle("far", 9000, 0, 50)})
	lat, lon := ll(0, 0)
	cands := ix.Candidates([]string{"A", "nope"}, lat, lon, 1000)
	if len(cands) != 2 || !cands[0].Assigned || cands[1].Fence != b || cands[1].Assigned {
		t.Fatalf("candidates %+v", cands)
	}
	// A visit to B is detected and flagged.
	g := newGen(SourceTracker, 1)
	g.walk(400, 0, 1.4, 20*time.Second)
	g.stay(20*time.Minute, 20*time.Second, 8, true)
	g.walk(-600, 0, 1.4, 20*time.Second)
	vs := DetectDevice("dev", "w", g.fixes, cands, DefaultParams())
	if len(vs) != 1 || vs[0].ClientID != "B" || !vs[0].Flags.Has(FlagUnassigned) || vs[0].Flags.Has(FlagShort) {
		t.Fatalf("visits %+v", vs)
	}
}
