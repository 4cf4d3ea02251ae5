// Package geofence holds clients' home geofences, a spatial index over
// them, and the visit detector that turns a device's position fixes into
// visits (offline on files and live in the ingest pipeline, one engine).
package geofence

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// earthRadiusM is the mean Earth radius used by the local projection.
const earthRadiusM = 6371008.8

// metresPerDegLat converts a latitude difference in degrees to metres.
const metresPerDegLat = earthRadiusM * math.Pi / 180

// Shape says how a geofence is described.
type Shape uint8

const (
	Circle  Shape = 1
	Polygon Shape = 2
)

func (s Shape) String() string {
	switch s {
	case Circle:
		return "circle"
	case Polygon:
		return "polygon"
	}
	return "unknown"
}

// Geofence is a client's home: a circle (centre, radius in metres) or a
// polygon (exterior ring, may be non-convex). Build one with NewCircle or
// NewPolygon: they precompute the metric form the detector uses.
type Geofence struct {
	ClientID string
	Shape    Shape
	Center   orb.Point    // circle centre; polygon: an interior anchor point
	RadiusM  float64      // circle radius; polygon: largest distance anchor-vertex
	Ring     orb.Ring     // polygon exterior ring (lon, lat), closed
	Bound    orb.Bound    // lon/lat bounding box of the fence
	xy       [][2]float64 // polygon ring in metres around Center
	kx       float64      // metres per degree of longitude at Center
}

// NewCircle returns a circular geofence.
func NewCircle(clientID string, lat, lon, radiusM float64) (*Geofence, error) {
	if err := checkLatLon(lat, lon); err != nil {
		return nil, fmt.Errorf("geofence %s: %w", clientID, err)
	}
	if !(radiusM > 0) || radiusM > 100000 {
		return nil, fmt.Errorf("geofence %s: bad radius %v m", clientID, radiusM)
	}
	g := &Geofence{ClientID: clientID, Shape: Circle, Center: orb.Point{lon, lat}, RadiusM: radiusM}
	g.kx = metresPerDegLat * math.Cos(lat*math.Pi/180)
	dLat := radiusM / metresPerDegLat
	dLon := radiusM / math.Max(g.kx, 1)
	g.Bound = orb.Bound{Min: orb.Point{lon - dLon, lat - dLat}, Max: orb.Point{lon + dLon, lat + dLat}}
	return g, nil
}

// NewPolygon returns a polygon geofence from its exterior ring of (lon, lat)
// points; the ring is closed if it is not already.
func NewPolygon(clientID string, ring orb.Ring) (*Geofence, error) {
	if len(ring) > 1 && ring[0] != ring[len(ring)-1] {
		ring = append(ring[:len(ring):len(ring)], ring[0])
	}
	if len(ring) < 4 {
		return nil, fmt.Errorf("geofence %s: polygon needs at least 3 distinct points", clientID)
	}
	for _, p := range ring {
		if err := checkLatLon(p[1], p[0]); err != nil {
			return nil, fmt.Errorf("geofence %s: %w", clientID, err)
		}
	}
	g := &Geofence{ClientID: clientID, Shape: Polygon, Ring: ring, Bound: ring.Bound()}
	c, _ := planar.CentroidArea(orb.Polygon{ring})
	g.kx = metresPerDegLat * math.Cos(c[1]*math.Pi/180)
	g.Center = c
	g.project()
	// A non-convex outline (an L) can have its centroid outside: then use
	// the inside point nearest to it, so the anchor is always in the home.
	if !g.contains(0, 0) {
		g.Center = g.interiorNear()
		g.project()
	}
	for _, v := range g.xy {
		g.RadiusM = math.Max(g.RadiusM, math.Hypot(v[0], v[1]))
	}
	return g, nil
}

func checkLatLon(lat, lon float64) error {
	if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return errors.New("coordinates out of range")
	}
	return nil
}

func (g *Geofence) project() {
	g.xy = g.xy[:0]
	for _, p := range g.Ring {
		g.xy = append(g.xy, g.local(p[1], p[0]))
	}
}

// local projects (lat, lon) to metres east/north of the fence's anchor.
// Equirectangular is exact to well under 1 % over a few kilometres, which
// is all a geofence test needs.
func (g *Geofence) local(lat, lon float64) [2]float64 {
	return [2]float64{(lon - g.Center[0]) * g.kx, (lat - g.Center[1]) * metresPerDegLat}
}

// interiorNear finds an inside point close to the centroid by scanning the
// midpoints of horizontal chords through the outline.
func (g *Geofence) interiorNear() orb.Point {
	best, bestD := g.Ring[0], math.Inf(1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, v := range g.xy {
		minY, maxY = math.Min(minY, v[1]), math.Max(maxY, v[1])
	}
	for k := 1; k < 40; k++ {
		y := minY + (maxY-minY)*float64(k)/40
		var xs []float64
		for i := 0; i+1 < len(g.xy); i++ {
			a, b := g.xy[i], g.xy[i+1]
			if (a[1] > y) != (b[1] > y) {
				xs = append(xs, a[0]+(y-a[1])*(b[0]-a[0])/(b[1]-a[1]))
			}
		}
		sortFloats(xs)
		for i := 0; i+1 < len(xs); i += 2 {
			x := (xs[i] + xs[i+1]) / 2
			if d := math.Hypot(x, y); d < bestD {
				bestD = d
				best = orb.Point{g.Center[0] + x/g.kx, g.Center[1] + y/metresPerDegLat}
			}
		}
	}
	return best
}

func sortFloats(xs []float64) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// contains is the even-odd test in local metres.
func (g *Geofence) contains(x, y float64) bool {
	in := false
	for i := 0; i+1 < len(g.xy); i++ {
		a, b := g.xy[i], g.xy[i+1]
		if (a[1] > y) != (b[1] > y) && x < a[0]+(y-a[1])*(b[0]-a[0])/(b[1]-a[1]) {
			in = !in
		}
	}
	return in
}

// edgeDist is the distance in metres from (x, y) to the polygon outline.
func (g *Geofence) edgeDist(x, y float64) float64 {
	best := math.Inf(1)
	for i := 0; i+1 < len(g.xy); i++ {
		a, b := g.xy[i], g.xy[i+1]
		dx, dy := b[0]-a[0], b[1]-a[1]
		u := 0.0
		if l := dx*dx + dy*dy; l > 0 {
			u = math.Max(0, math.Min(1, ((x-a[0])*dx+(y-a[1])*dy)/l))
		}
		best = math.Min(best, math.Hypot(x-a[0]-u*dx, y-a[1]-u*dy))
	}
	return best
}

// Contains reports whether the point lies in the geofence.
func (g *Geofence) Contains(lat, lon float64) bool {
	return g.DistanceM(lat, lon) <= 0
}

// DistanceM is the distance in metres from the point to the geofence
// (0 or negative inside: minus the depth, i.e. the distance to the edge).
func (g *Geofence) DistanceM(lat, lon float64) float64 {
	p := g.local(lat, lon)
	if g.Shape == Circle {
		return math.Hypot(p[0], p[1]) - g.RadiusM
	}
	d := g.edgeDist(p[0], p[1])
	if g.contains(p[0], p[1]) {
		return -d
	}
	return d
}

// PlaceDistanceM is how far the point is from where the client lives, in
// metres: for a circle the distance to the (geocoded) centre; for a polygon
// 0 deep inside, growing towards and beyond the outline. The detector
// uses it to rank neighbours whose geofences overlap.
func (g *Geofence) PlaceDistanceM(lat, lon float64) float64 {
	p := g.local(lat, lon)
	return g.placeDist(p[0], p[1])
}

// polyCore is the depth inside a polygon outline at which a fix counts as
// being at the flat: outlines are building sections 20-50 m across, so a
// point 10 m inside the wall is as central as a point can be.
const polyCore = 10.0

func (g *Geofence) placeDist(x, y float64) float64 {
	if g.Shape == Circle {
		return math.Hypot(x, y)
	}
	d := g.edgeDist(x, y)
	if g.contains(x, y) {
		return math.Max(0, polyCore-d)
	}
	return polyCore + d
}
