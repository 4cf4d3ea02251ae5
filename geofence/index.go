package geofence

import (
	"math"
	"slices"
)

// cellDeg is the grid cell size in degrees (about 560 m north-south, 320 m
// east-west at 55°N). Homes are tens of metres across and lookups ask for a
// few hundred metres around a fix, so a lookup touches a handful of cells
// holding a few fences each, whether the index holds 100 or 100,000 fences.
const cellDeg = 0.005

// Index is a uniform lat/lon grid over geofences. It is read-only after
// NewIndex and safe for concurrent lookups.
type Index struct {
	fences []*Geofence
	cells  map[uint64][]cellEntry
	byID   map[string]*Geofence
}

// cellEntry keeps a fence's bounding box next to its number, so that a
// lookup rejects most fences without touching the fences themselves.
type cellEntry struct {
	minLat, minLon, maxLat, maxLon float64
	i                              int32
}

// NewIndex indexes the fences. A client ID seen twice keeps the last fence.
func NewIndex(fences []*Geofence) *Index {
	ix := &Index{cells: make(map[uint64][]cellEntry, len(fences)), byID: make(map[string]*Geofence, len(fences))}
	for _, g := range fences {
		if old, ok := ix.byID[g.ClientID]; ok {
			i := slices.Index(ix.fences, old)
			ix.fences[i] = g
			ix.byID[g.ClientID] = g
			continue
		}
		ix.byID[g.ClientID] = g
		ix.fences = append(ix.fences, g)
	}
	for i, g := range ix.fences {
		y0, x0 := cellOf(g.Bound.Min[1], g.Bound.Min[0])
		y1, x1 := cellOf(g.Bound.Max[1], g.Bound.Max[0])
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				k := cellKey(y, x)
				ix.cells[k] = append(ix.cells[k], cellEntry{g.Bound.Min[1], g.Bound.Min[0], g.Bound.Max[1], g.Bound.Max[0], int32(i)})
			}
		}
	}
	return ix
}

func cellOf(lat, lon float64) (int32, int32) {
	return int32(math.Floor(lat / cellDeg)), int32(math.Floor(lon / cellDeg))
}

func cellKey(y, x int32) uint64 { return uint64(uint32(y))<<32 | uint64(uint32(x)) }

// Len is the number of fences.
func (ix *Index) Len() int { return len(ix.fences) }

// Get returns the fence of a client, or nil.
func (ix *Index) Get(clientID string) *Geofence { return ix.byID[clientID] }

// Fences returns all fences (do not modify).
func (ix *Index) Fences() []*Geofence { return ix.fences }

// Near calls fn for every fence whose edge is within marginM metres of the
// point (inside counts as 0), each fence once. Return false to stop.
func (ix *Index) Near(lat, lon, marginM float64, fn func(*Geofence, float64) bool) {
	dLat := marginM / metresPerDegLat
	dLon := marginM / math.Max(metresPerDegLat*math.Cos(lat*math.Pi/180), 1)
	y0, x0 := cellOf(lat-dLat, lon-dLon)
	y1, x1 := cellOf(lat+dLat, lon+dLon)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			for _, ce := range ix.cells[cellKey(y, x)] {
				if lon < ce.minLon-dLon || lon > ce.maxLon+dLon || lat < ce.minLat-dLat || lat > ce.maxLat+dLat {
					continue
				}
				g := ix.fences[ce.i]
				if (y1 > y0 || x1 > x0) && !firstCell(g, y, x, y0, x0) {
					continue // met in an earlier cell of this lookup
				}
				d := g.DistanceM(lat, lon)
				if d > marginM {
					continue
				}
				if !fn(g, d) {
					return
				}
			}
		}
	}
}

// firstCell reports whether (y, x) is the first cell, in the row-major
// scan from (y0, x0), that holds fence g: a fence spanning several cells is
// reported only there, so each fence once without a "seen" set.
func firstCell(g *Geofence, y, x, y0, x0 int32) bool {
	gy0, gx0 := cellOf(g.Bound.Min[1], g.Bound.Min[0])
	return y == max(gy0, y0) && x == max(gx0, x0)
}

// Containing returns the fences that contain the point, nearest place first.
func (ix *Index) Containing(lat, lon float64) []*Geofence {
	var out []*Geofence
	ix.Near(lat, lon, 0, func(g *Geofence, _ float64) bool {
		out = append(out, g)
		return true
	})
	slices.SortFunc(out, func(a, b *Geofence) int {
		da, db := a.PlaceDistanceM(lat, lon), b.PlaceDistanceM(lat, lon)
		switch {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return compareStr(a.ClientID, b.ClientID)
	})
	return out
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Candidates returns the geofences the detector should consider for a
// worker: the assigned clients (Assigned=true) and, when radiusM > 0, every
// other fence within radiusM metres of (lat, lon) — e.g. the worker's
// area — so that visits to clients outside the assignment are detected
// and flagged (FlagUnassigned). Unknown client IDs are skipped.
func (ix *Index) Candidates(assigned []string, lat, lon, radiusM float64) []Candidate {
	var out []Candidate
	seen := make(map[string]bool, len(assigned))
	for _, id := range assigned {
		if g := ix.byID[id]; g != nil && !seen[id] {
			seen[id] = true
			out = append(out, Candidate{Fence: g, Assigned: true})
		}
	}
	if radiusM > 0 {
		ix.Near(lat, lon, radiusM, func(g *Geofence, _ float64) bool {
			if !seen[g.ClientID] {
				seen[g.ClientID] = true
				out = append(out, Candidate{Fence: g})
			}
			return true
		})
	}
	return out
}
