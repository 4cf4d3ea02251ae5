package geofence

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Candidate is a geofence the detector considers for a device.
type Candidate struct {
	Fence    *Geofence
	Assigned bool // the client is assigned to the worker
	// Planned, when set, reports whether a visit to this client is on the
	// worker's schedule around [from, to] (the cabinet's planned visits).
	// Where the fixes cannot tell two neighbours apart, the planned one
	// gets the visit.
	Planned func(from, to time.Time) bool
}

// fix kinds, decided from the fix alone (jumps need the neighbours).
const (
	kindPos       uint8 = iota // GPS or Wi-Fi position
	kindHeartbeat              // valid=false, last position repeated
	kindCoarse                 // cell-tower position
	kindBad                    // 0,0 or out of range
)

// engine is the per-device detector state shared by the offline function
// and the live wrapper: fixes in time order with their per-candidate
// support, and a Viterbi forward pass that can be recomputed from any
// index when a late fix is inserted.
//
// Decoding is in two stages. The forward pass, kept incrementally, has two
// states: 0 = away, 1 = at the home of some candidate (presence support is
// the best candidate's support). Each presence stay is then split among
// candidates by assign, where switching client costs much more than
// staying: indoor noise drifts towards a neighbour's entrance for minutes.
type engine struct {
	p      Params
	device string
	worker string
	cands  []Candidate
	k      int // states = len(cands)+1

	fixes []Fix
	t     []int64   // unix ms
	kind  []uint8   // kind*
	jump  []bool    // position fix rejected as a single-fix jump
	need  []bool    // jump test and support must be recomputed
	sigma []float64 // accuracy used, m
	sup   []float32 // support, n*len(cands)
	pres  []float32 // presence support: max over candidates
	dist  []float32 // place distance to each candidate, n*len(cands)
	w     []float64 // time weight, s
	fwd   []float64 // forward scores, n*k
	bp    []int16   // back pointers, n*k

	// Fixes before the window (live trimming) leave their last forward
	// vector and time here.
	baseT   int64
	hasBase bool
	baseFwd []float64

	dirty int // lowest index whose weights/support/forward need recomputing

	// near caches neighbourOf by stay (client, first and last fix times,
	// fix count): the live path rebuilds every visit of the window on each
	// fix, and a stay's fixes rarely change.
	near map[nearKey]nearVal

	zero32 []float32 // len(cands) zeros, for inserting rows
}

func newEngine(p Params, device, worker string, cands []Candidate) *engine {
	return &engine{p: p, device: device, worker: worker, cands: cands, k: 2}
}

// insert adds a fix in time order. A fix with the same time as one already
// held is a duplicate: the engine keeps, of the two, the one that sorts
// first by content, so the result depends only on the set of fixes, not
// on arrival order. It reports whether anything changed.
func (e *engine) insert(f Fix) bool {
	ms := f.Time.UnixMilli()
	i := sort.Search(len(e.t), func(i int) bool { return e.t[i] >= ms })
	if i < len(e.t) && e.t[i] == ms {
		if !fixLess(f, e.fixes[i]) {
			return false
		}
		e.markRepeats(i) // the replays of the position replaced
		e.fixes[i] = f
		e.classify(i)
		e.markDirty(i)
		e.markRepeats(i)
		return true
	}
	e.dirty = min(e.dirty, i)
	nc := len(e.cands)
	if cap(e.zero32) < nc {
		e.zero32 = make([]float32, nc)
	}
	z32, zf, zb := e.zero32[:nc], [2]float64{}, [2]int16{}
	e.fixes = slices.Insert(e.fixes, i, f)
	e.t = slices.Insert(e.t, i, ms)
	e.kind = slices.Insert(e.kind, i, 0)
	e.jump = slices.Insert(e.jump, i, false)
	e.need = slices.Insert(e.need, i, true)
	e.sigma = slices.Insert(e.sigma, i, 0)
	e.w = slices.Insert(e.w, i, 0)
	e.pres = slices.Insert(e.pres, i, 0)
	e.sup = slices.Insert(e.sup, i*nc, z32...)
	e.dist = slices.Insert(e.dist, i*nc, z32...)
	e.fwd = slices.Insert(e.fwd, i*e.k, zf[:e.k]...)
	e.bp = slices.Insert(e.bp, i*e.k, zb[:e.k]...)
	e.classify(i)
	e.markDirty(i)
	e.markRepeats(i)
	return true
}

// markRepeats marks the later fixes within staleHorizon that repeat fix
// i's exact position: a late fix can make them a stale replay.
func (e *engine) markRepeats(i int) {
	if e.kind[i] != kindPos {
		return
	}
	for j := i + 1; j < len(e.t) && e.t[j]-e.t[i] <= staleHorizon.Milliseconds(); j++ {
		if e.kind[j] == kindPos && e.samePos(i, j) {
			e.need[j] = true
		}
	}
}

// load fills an empty engine with fixes sorted by time (the offline fast
// path; the same state insert would reach one fix at a time).
func (e *engine) load(sorted []Fix) {
	n, nc := len(sorted), len(e.cands)
	e.fixes = sorted[:0]
	e.t = make([]int64, 0, n)
	for _, f := range sorted {
		ms := f.Time.UnixMilli()
		if k := len(e.t); k > 0 && e.t[k-1] == ms {
			if fixLess(f, e.fixes[k-1]) {
				e.fixes[k-1] = f
			}
			continue
		}
		e.fixes = append(e.fixes, f)
		e.t = append(e.t, ms)
	}
	n = len(e.t)
	e.kind = make([]uint8, n)
	e.jump = make([]bool, n)
	e.need = make([]bool, n)
	e.sigma = make([]float64, n)
	e.w = make([]float64, n)
	e.pres = make([]float32, n)
	e.sup = make([]float32, n*nc)
	e.dist = make([]float32, n*nc)
	e.fwd = make([]float64, n*e.k)
	e.bp = make([]int16, n*e.k)
	for i := range n {
		e.classify(i)
		e.need[i] = true
	}
	e.dirty = 0
}

// fixLess orders two fixes with the same time deterministically.
func fixLess(a, b Fix) bool {
	switch {
	case a.Valid != b.Valid:
		return a.Valid
	case a.Lat != b.Lat:
		return a.Lat < b.Lat
	case a.Lon != b.Lon:
		return a.Lon < b.Lon
	case a.AccuracyM != b.AccuracyM:
		return a.AccuracyM < b.AccuracyM
	case a.HDOP != b.HDOP:
		return a.HDOP < b.HDOP
	case a.SpeedMS != b.SpeedMS:
		return a.SpeedMS < b.SpeedMS
	case a.Sats != b.Sats:
		return a.Sats < b.Sats
	}
	return a.Source < b.Source
}

func (e *engine) markDirty(i int) {
	// The neighbours' jump tests depend on this fix, and the weights of
	// the informative fixes either side on its time; a heartbeat right
	// after it, on its time too.
	e.need[i] = true
	if i+1 < len(e.t) && e.kind[i+1] == kindHeartbeat {
		e.need[i+1] = true
	}
	a, b := e.prevPos(i), e.nextPos(i)
	if a >= 0 {
		e.need[a] = true
	}
	if b >= 0 {
		e.need[b] = true
	}
	// Recompute from the position-or-heartbeat fix before the earlier of
	// i and a: a jump flag changing at a moves the weight of the one
	// before it (heartbeats may sit between a and i).
	lo := i
	if a >= 0 {
		lo = a
	}
	j := lo - 1
	for j > 0 && e.kind[j] != kindPos && e.kind[j] != kindHeartbeat {
		j--
	}
	e.dirty = min(e.dirty, max(j, 0))
}

// classify sets kind and sigma of fix i from the fix alone.
func (e *engine) classify(i int) {
	f := &e.fixes[i]
	p := &e.p
	switch {
	case math.IsNaN(f.Lat) || math.IsNaN(f.Lon) || f.Lat < -90 || f.Lat > 90 || f.Lon < -180 || f.Lon > 180 ||
		(f.Lat == 0 && f.Lon == 0):
		e.kind[i] = kindBad
	case f.AccuracyM > p.CoarseAccuracyM:
		e.kind[i] = kindCoarse
	case !f.Valid && f.AccuracyM > 0:
		e.kind[i] = kindCoarse // tracker LBS position with a smaller radius: still no GPS
	case !f.Valid:
		e.kind[i] = kindHeartbeat
	default:
		e.kind[i] = kindPos
	}
	switch {
	case e.kind[i] == kindHeartbeat:
		e.sigma[i] = p.HeartbeatAccuracyM
	case f.AccuracyM > 0:
		e.sigma[i] = f.AccuracyM
	case f.HDOP > 0:
		e.sigma[i] = f.HDOP * p.HDOPToM
	default:
		e.sigma[i] = p.UnknownAccuracyM
	}
}

// samePos reports whether fixes i and j have exactly the same coordinates.
func (e *engine) samePos(i, j int) bool {
	return e.fixes[i].Lat == e.fixes[j].Lat && e.fixes[i].Lon == e.fixes[j].Lon
}

// distM is the distance in metres between fixes i and j.
func (e *engine) distM(i, j int) float64 {
	a, b := &e.fixes[i], &e.fixes[j]
	kx := metresPerDegLat * math.Cos(a.Lat*math.Pi/180)
	return math.Hypot((b.Lon-a.Lon)*kx, (b.Lat-a.Lat)*metresPerDegLat)
}

func (e *engine) prevPos(i int) int {
	for j := i - 1; j >= 0; j-- {
		if e.kind[j] == kindPos {
			return j
		}
	}
	return -1
}

func (e *engine) nextPos(i int) int {
	for j := i + 1; j < len(e.t); j++ {
		if e.kind[j] == kindPos {
			return j
		}
	}
	return -1
}

// isJump: fix i is far from both neighbouring position fixes, which are
// close to each other: the worker cannot have gone there and back. A
// stale run (see staleRun) is judged as one fix.
func (e *engine) isJump(i int) bool {
	if e.kind[i] != kindPos {
		return false
	}
	if lo, hi := e.sameRun(i); lo < hi && e.jumpTest(i, lo, hi) && e.staleRun(lo) {
		return true
	}
	return e.jumpTest(i, i, i)
}

// staleHorizon is how far back a repeated position is looked for: a
// tracker replaying its last known position does so within a few hours.
const staleHorizon = 3 * time.Hour

// staleRun reports whether the run of identical positions starting at lo
// repeats a position the device reported earlier, before the different
// fix just ahead of the run: a stale position replayed (valid=true, the
// worker long gone), not a receiver holding its fix while standing still
// (a hold starts where the worker stopped).
func (e *engine) staleRun(lo int) bool {
	a := e.prevPos(lo)
	if a < 0 {
		return false
	}
	// The horizon runs back from the run itself, as in markRepeats (a late
	// fix marks the repeats within the horizon after it).
	for j := e.prevPos(a); j >= 0 && e.t[lo]-e.t[j] <= staleHorizon.Milliseconds(); j = e.prevPos(j) {
		if e.samePos(j, lo) {
			return true
		}
	}
	return false
}

// jumpTest is the jump test for fix i, with fixes lo..hi (a run holding
// i's position) judged together against the fixes around them.
func (e *engine) jumpTest(i, lo, hi int) bool {
	a, b := e.prevPos(lo), e.nextPos(hi)
	if a < 0 || b < 0 {
		return false
	}
	lim := e.p.JumpM
	if gap := e.p.BridgeGap.Milliseconds(); e.t[lo]-e.t[a] > gap && e.t[b]-e.t[hi] > gap {
		// A lone fix between two long silences: a device that moves
		// reports often (phones and trackers alike), so the worker sat
		// still and a fix away from both neighbours is multipath.
		lim = e.p.StillM
	}
	lim += math.Min(e.sigma[i], e.p.MaxAccuracyM)
	da, db := e.distM(a, i), e.distM(i, b)
	if da < lim || db < lim {
		return false
	}
	return e.distM(a, b) < 0.5*math.Min(da, db)
}

// maxRun bounds the search for a run of identical positions (a tracker
// holding its position while still reports it for minutes at most).
const maxRun = 64

// sameRun returns the first and last position fixes of the run of
// position fixes with exactly the coordinates of fix i (heartbeats and
// other kinds may sit between them). A receiver never reports the same
// coordinates to the last digit twice unless it holds or repeats a
// position, so such a run is judged as one fix: a stale position
// repeated for minutes (valid=true, the worker long gone) is a jump
// however many times it is sent.
func (e *engine) sameRun(i int) (int, int) {
	f := &e.fixes[i]
	lo, hi := i, i
	for j, n := e.prevPos(i), 0; j >= 0 && n < maxRun && e.fixes[j].Lat == f.Lat && e.fixes[j].Lon == f.Lon; j, n = e.prevPos(j), n+1 {
		lo = j
	}
	for j, n := e.nextPos(i), 0; j >= 0 && n < maxRun && e.fixes[j].Lat == f.Lat && e.fixes[j].Lon == f.Lon; j, n = e.nextPos(j), n+1 {
		hi = j
	}
	return lo, hi
}

// support computes sup and dist of fix i for every candidate.
func (e *engine) support(i int) {
	nc := len(e.cands)
	row, drow := e.sup[i*nc:(i+1)*nc], e.dist[i*nc:(i+1)*nc]
	kd := e.kind[i]
	e.pres[i] = 0
	if kd == kindBad || kd == kindCoarse || e.jump[i] {
		for c := range row {
			row[c], drow[c] = 0, float32(math.Inf(1))
		}
		return
	}
	f := &e.fixes[i]
	p := &e.p
	sig := e.sigma[i]
	lat, lon := f.Lat, f.Lon
	if kd == kindHeartbeat {
		// A heartbeat repeating the last position fix is as uncertain as
		// that fix was (an indoor fix tens of metres off the flat); one
		// repeating a rejected jump says the device sat still where it
		// was before the jump.
		if j := e.prevPos(i); j >= 0 && e.fixes[j].Lat == f.Lat && e.fixes[j].Lon == f.Lon {
			for j >= 0 && e.jump[j] {
				j = e.prevPos(j)
			}
			if j >= 0 {
				lat, lon = e.fixes[j].Lat, e.fixes[j].Lon
				sig = max(sig, e.sigma[j])
			}
		}
	}
	acc := math.Min(sig, p.MaxAccuracyM)
	breakEven := p.CoreM + p.AccuracyShare*acc
	gate := p.GateM + acc
	moving := kd == kindPos && f.SpeedMS >= p.VehicleSpeedMS
	// Walking under a clear sky: outdoors on the way somewhere, not in a
	// flat (doorstep visits stand still).
	walkingOut := kd == kindPos && e.sigma[i] <= p.OutdoorAccuracyM && f.SpeedMS >= p.TransitSpeedMS
	for c, cd := range e.cands {
		g := cd.Fence
		// Cheap reject on the bounding box before any trigonometry.
		dLat := (gate + 1) / metresPerDegLat
		dLon := (gate + 1) / math.Max(g.kx, 1)
		if lat < g.Bound.Min[1]-dLat || lat > g.Bound.Max[1]+dLat || lon < g.Bound.Min[0]-dLon || lon > g.Bound.Max[0]+dLon {
			row[c], drow[c] = -1, float32(math.Inf(1))
			continue
		}
		xy := g.local(lat, lon)
		d := math.Hypot(xy[0], xy[1])
		drow[c] = float32(d)
		var edge float64
		if g.Shape == Circle {
			edge = d - g.RadiusM
		} else if !g.contains(xy[0], xy[1]) {
			// A polygon is the building's outline itself, where a circle's
			// radius already allows for indoor scatter: give it that slack.
			edge = g.edgeDist(xy[0], xy[1]) - p.PolygonSlackM
		}
		// A Gaussian log-likelihood ratio, scaled to +1 at the home and 0 at
		// the break-even distance: it keeps ranking neighbours 15-40 m apart
		// where a flat "inside" test would call both equally good.
		r := d / breakEven
		s := 1 - r*r
		switch {
		case edge > gate || moving:
			s = -1
		case s < p.InFenceFloor:
			// Still inside the geofence: far from the door, but indoor
			// multipath can hold fixes out there for minutes. Weak
			// evidence against, not a departure.
			s = p.InFenceFloor
		}
		if walkingOut && s > -1 {
			s = min(s, p.TransitSupport)
		}
		row[c] = float32(s)
	}
	if kd == kindHeartbeat {
		e.heartbeatSupport(i)
	} else if kd == kindPos && !moving {
		e.bridge(i, row)
	}
	e.pres[i] = -1
	for _, v := range row {
		e.pres[i] = max(e.pres[i], v)
	}
}

// bridge raises the support of position fix i, on the edge of a silence
// longer than BridgeGap, for every client whose geofence holds both i and
// the fix on the other side of the silence: the worker walked into the
// geofence, the data stopped (device off, no network, GPS lost indoors)
// and resumed with the worker still there or leaving: they were most
// likely at that client in between.
func (e *engine) bridge(i int, row []float32) {
	gap := e.p.BridgeGap.Milliseconds()
	for _, j := range [2]int{e.prevInformative(i), e.nextInformative(i)} {
		if j < 0 || e.kind[j] != kindPos || abs64(e.t[j]-e.t[i]) <= gap || e.fixes[j].SpeedMS >= e.p.VehicleSpeedMS {
			continue
		}
		for c := range row {
			if row[c] > -1 && row[c] < float32(e.p.BridgeSupport) && e.inFence(c, j) {
				row[c] = float32(e.p.BridgeSupport)
			}
		}
	}
}

// inFence reports whether position fix i lies within candidate c's
// geofence, give or take GateM and its accuracy (PolygonSlackM more for a
// polygon): the test support applies before anything else.
func (e *engine) inFence(c, i int) bool {
	f := &e.fixes[i]
	g := e.cands[c].Fence
	gate := e.p.GateM + math.Min(e.sigma[i], e.p.MaxAccuracyM)
	xy := g.local(f.Lat, f.Lon)
	if g.Shape == Circle {
		return math.Hypot(xy[0], xy[1])-g.RadiusM <= gate
	}
	return g.contains(xy[0], xy[1]) || g.edgeDist(xy[0], xy[1])-e.p.PolygonSlackM <= gate
}

// heartbeatFixes is how many position fixes before a heartbeat say where
// the device sits: a heartbeat repeats the last fix, and indoors that one
// fix may be 50 m off; the mean over the last three is steadier.
const heartbeatFixes = 3

// heartbeatSupport replaces a heartbeat's support by the mean support of
// the (up to heartbeatFixes) position fixes before it within WeightCap:
// the device has not moved since, so it is where they put it.
func (e *engine) heartbeatSupport(i int) {
	nc := len(e.cands)
	row := e.sup[i*nc : (i+1)*nc]
	// After a silence the repeated "last known position" may be long
	// stale (the worker moved on while the tracker had no GPS): alive,
	// position unknown.
	j := i - 1
	for j >= 0 && e.kind[j] == kindBad {
		j--
	}
	if j < 0 || e.t[i]-e.t[j] > e.p.HeartbeatChainGap.Milliseconds() {
		for c := range row {
			row[c] = 0
		}
		return
	}
	var buf [64]float32
	sum := buf[:]
	if nc > len(buf) {
		sum = make([]float32, nc)
	}
	n := 0
	for j := i - 1; j >= 0 && n < heartbeatFixes && e.t[i]-e.t[j] <= e.p.WeightCap.Milliseconds(); j-- {
		if e.kind[j] != kindPos || e.jump[j] {
			continue
		}
		for c := 0; c < nc; c++ {
			sum[c] += e.sup[j*nc+c]
		}
		n++
	}
	// The floor goes to the best candidate(s) only, so that heartbeats
	// confirm presence without blurring which neighbour it is.
	best := float32(-1)
	for c := range row {
		in := row[c] > -1 // the repeated position is inside this geofence
		if n > 0 {
			row[c] = sum[c] / float32(n)
		}
		if in {
			best = max(best, row[c])
		} else {
			row[c] = -1
		}
	}
	for c := range row {
		if row[c] > -1 && row[c] >= best-0.05 {
			row[c] = max(row[c], float32(e.p.HeartbeatInFence))
		}
	}
}

// weight is the time, in seconds, fix i speaks for: half-way to the
// neighbouring informative fixes, at most WeightCap each side. Cell-tower
// fixes, rejected jumps and bad fixes speak for no time at all, so they
// neither dilute a visit nor fill a silence.
func (e *engine) weight(i int) float64 {
	if !e.informative(i) {
		return 0
	}
	capMS := float64(e.p.WeightCap.Milliseconds())
	w := 0.0
	if j := e.prevInformative(i); j >= 0 {
		w += math.Min(float64(e.t[i]-e.t[j])/2, capMS)
	} else if e.hasBase {
		w += math.Min(float64(e.t[i]-e.baseT)/2, capMS)
	}
	if j := e.nextInformative(i); j >= 0 {
		w += math.Min(float64(e.t[j]-e.t[i])/2, capMS)
	}
	return w / 1000
}

// recompute refreshes derived data and the forward pass from e.dirty on.
func (e *engine) recompute() {
	n := len(e.t)
	if e.dirty >= n {
		return
	}
	from := e.dirty
	// Jump flags first: support looks across silences to the next and
	// previous informative fixes, which depend on them.
	for i := e.dirty; i < n; i++ {
		if !e.need[i] {
			continue
		}
		if e.kind[i] != kindPos {
			continue // never a jump
		}
		// A run of identical positions shares the verdict (one fix held or
		// replayed; a non-stale run's members are never jumps, each being
		// next to another at 0 m).
		j := e.isJump(i)
		lo, hi := e.sameRun(i)
		for m := lo; m <= hi; m++ {
			if e.kind[m] != kindPos || e.jump[m] == j {
				continue
			}
			e.jump[m] = j
			e.need[m] = true
			for _, k := range [2]int{e.prevInformative(m), e.nextInformative(m)} {
				if k >= 0 {
					e.need[k] = true
					from = min(from, k)
				}
			}
			from = min(from, m)
		}
	}
	for i := from; i < n; i++ {
		if e.need[i] {
			e.support(i)
			e.need[i] = false
			if e.kind[i] == kindPos {
				// Heartbeats borrow the support of the position fixes
				// before them.
				for j, k := i+1, 0; j < n && k < heartbeatFixes; j++ {
					if e.kind[j] == kindPos {
						k++
					} else if e.kind[j] == kindHeartbeat {
						e.need[j] = true
					}
				}
			}
		}
	}
	// Stays ending at or after the first fix recomputed have new weights
	// or support: their neighbour notes are worked out again.
	if len(e.near) > 0 && from < n {
		lim := e.t[max(from-1, 0)]
		for key := range e.near {
			if key.tb >= lim {
				delete(e.near, key)
			}
		}
	}
	pen := e.p.SwitchPenalty.Seconds()
	silence := e.p.MaxSilence.Milliseconds()
	k := e.k
	prev := make([]float64, k)
	for i := from; i < n; i++ {
		e.w[i] = e.weight(i)
		switch {
		case i > 0:
			copy(prev, e.fwd[(i-1)*k:i*k])
		case e.hasBase:
			copy(prev, e.baseFwd)
		default:
			prev[0] = 0
			for s := 1; s < k; s++ {
				prev[s] = -pen
			}
		}
		gap := false
		if i > 0 {
			gap = e.t[i]-e.t[i-1] > silence
		} else if e.hasBase {
			gap = e.t[i]-e.baseT > silence
		}
		e.step(i, prev, pen, gap)
	}
	e.dirty = n
}

// step computes the forward scores of fix i from prev (the scores of i-1).
// Staying is free, entering or leaving a stay costs pen. After a silence
// longer than MaxSilence every path passes through "away" for free (a
// stay cannot span it; visits() also cuts there).
func (e *engine) step(i int, prev []float64, pen float64, gap bool) {
	fwd, bp := e.fwd[i*2:i*2+2], e.bp[i*2:i*2+2]
	ws := e.w[i] * float64(e.pres[i])
	if gap {
		top := int16(0)
		if prev[1] > prev[0] {
			top = 1
		}
		fwd[0], bp[0] = prev[top], top
		fwd[1], bp[1] = prev[top]-pen+ws, top
		return
	}
	fwd[0], bp[0] = prev[0], 0
	if prev[1]-pen > fwd[0] {
		fwd[0], bp[0] = prev[1]-pen, 1
	}
	fwd[1], bp[1] = prev[1]+ws, 1
	if prev[0]-pen > prev[1] {
		fwd[1], bp[1] = prev[0]-pen+ws, 0
	}
}

// path decodes the most likely state of every fix.
func (e *engine) path() []int16 {
	n, k := len(e.t), e.k
	out := make([]int16, n)
	if n == 0 {
		return out
	}
	last := e.fwd[(n-1)*k : n*k]
	s := int16(0)
	for j := 1; j < k; j++ {
		if last[j] > last[s] {
			s = int16(j)
		}
	}
	for i := n - 1; i >= 0; i-- {
		out[i] = s
		s = e.bp[i*k+int(s)]
	}
	return out
}

// visits decodes the path into visits.
func (e *engine) visits() []Visit {
	e.recompute()
	st := e.path()
	n := len(st)
	silence := e.p.MaxSilence.Milliseconds()
	rep := e.reportInterval()
	quiet := e.quietWhenStill(rep)
	silentMS := int64(math.Max(e.p.SilenceReports*rep, 120000))
	var segs []segment
	for i := 0; i < n; {
		s := st[i]
		j := i + 1
		for j < n && st[j] == s && e.t[j]-e.t[j-1] <= silence {
			j++
		}
		if s > 0 {
			for _, seg := range e.assign(i, j-1, silentMS) {
				if k := len(segs) - 1; k >= 0 && segs[k].c == seg.c && e.briefAbsence(seg.c, segs[k].b, seg.a) {
					segs[k].b = seg.b
				} else {
					segs = append(segs, seg)
				}
			}
		}
		i = j
	}
	e.revisits(segs, silentMS, n, rep, quiet)
	var out []Visit
	for _, seg := range segs {
		if v, ok := e.makeVisit(seg.c, seg.a, seg.b, seg.b == n-1, rep, quiet); ok {
			out = append(out, v)
		}
	}
	return out
}

// revisits applies the once-a-shift prior: of two visits to one client
// within RevisitGap, the one whose fixes fit another touched home nearly
// as well (within RevisitPrior nats) and whose neighbour has no visit in
// the shift is given to that neighbour. Neighbours 8-40 m apart in one
// block cannot always be told apart by the fixes; the plan can.
func (e *engine) revisits(segs []segment, silentMS int64, n int, rep float64, quiet bool) {
	gap := e.p.RevisitGap.Milliseconds()
	// Usually no client has two segments in a shift: nothing to do (this
	// runs on every live fix).
	twins := false
	for k := 1; k < len(segs) && !twins; k++ {
		for m := k - 1; m >= 0 && e.t[segs[k].a]-e.t[segs[m].b] < gap; m-- {
			if segs[m].c == segs[k].c {
				twins = true
				break
			}
		}
	}
	if !twins {
		return
	}
	// Only segments that make a visit count (too short ones are dropped).
	real := make([]bool, len(segs))
	for k, s := range segs {
		_, real[k] = e.makeVisit(s.c, s.a, s.b, s.b == n-1, rep, quiet)
	}
	// visited reports whether client c has a visit other than segment k
	// within the gap of segment k.
	visited := func(c, k int) bool {
		for m, s := range segs {
			if m != k && real[m] && s.c == c && e.t[s.a]-e.t[segs[k].b] < gap && e.t[segs[k].a]-e.t[s.b] < gap {
				return true
			}
		}
		return false
	}
	for range segs {
		changed := false
		for k := range segs {
			if !real[k] || !visited(segs[k].c, k) {
				continue
			}
			// Among this segment and its twins, the least certain one moves.
			best, bestM, bestAlt := -1, e.p.RevisitPrior, -1
			for m, s := range segs {
				if !real[m] || s.c != segs[k].c || (m != k && (e.t[s.a]-e.t[segs[k].b] >= gap || e.t[segs[k].a]-e.t[s.b] >= gap)) {
					continue
				}
				alt, margin := e.alternative(m, segs, silentMS, visited)
				if alt >= 0 && margin < bestM {
					best, bestM, bestAlt = m, margin, alt
				}
			}
			if best < 0 {
				continue
			}
			s := segs[best]
			if _, ok := e.makeVisit(bestAlt, s.a, s.b, s.b == n-1, rep, quiet); !ok {
				continue
			}
			segs[best].c = bestAlt
			changed = true
		}
		if !changed {
			return
		}
	}
}

// alternative returns the best other client for segment k, by the fit of
// its fixes' centroid, among those touched and not visited in the shift,
// and by how many nats the segment's own client fits better.
func (e *engine) alternative(k int, segs []segment, silentMS int64, visited func(c, k int) bool) (int, float64) {
	s := segs[k]
	alt, own, la := e.newAssigner(s.a, s.b, silentMS).rival(s.c, func(c int) bool { return !visited(c, k) })
	if alt < 0 {
		return -1, 0
	}
	return alt, own - la
}

// briefAbsence reports whether the worker, at client c up to fix a and
// again from fix b, never really left: b comes within MergeGap of a and
// no fix in between shows them outdoors on the move (two fixes walking
// under a clear sky; one can be indoor noise; in a vehicle) or farther
// than AwayM from the home. Indoor
// noise and multipath bursts push fixes out of the geofence for a minute
// or two; a worker who leaves and comes back is seen walking.
func (e *engine) briefAbsence(c, a, b int) bool {
	if e.t[b]-e.t[a] > e.p.MergeGap.Milliseconds() {
		return false
	}
	g := e.cands[c].Fence
	walks := 0
	for i := a + 1; i < b; i++ {
		if e.kind[i] != kindPos || e.jump[i] {
			continue
		}
		if e.transit(i) {
			walks++
		}
		f := &e.fixes[i]
		xy := g.local(f.Lat, f.Lon)
		if walks >= 2 || f.SpeedMS >= e.p.VehicleSpeedMS || math.Hypot(xy[0], xy[1]) > e.p.AwayM {
			return false
		}
	}
	return true
}

type segment struct{ c, a, b int }

// reportInterval is the device's usual time between informative fixes, in
// ms: the median over the last 256 intervals (10-60 s for most devices,
// minutes for rare reporters; silences are too few to move it).
func (e *engine) reportInterval() float64 {
	var iv []int64
	last := int64(-1)
	for i := len(e.t) - 1; i >= 0 && len(iv) < 256; i-- {
		if !e.informative(i) {
			continue
		}
		if last >= 0 {
			iv = append(iv, last-e.t[i])
		}
		last = e.t[i]
	}
	if len(iv) == 0 {
		return 30000
	}
	slices.Sort(iv)
	return float64(iv[len(iv)/2])
}

// quietWhenStill reports whether the device's silences are mostly spent
// in one place (a motion-triggered tracker: it stops reporting when still,
// so it moved just before the fix that ends a silence). For other devices
// a silence is lost data and the worker may have moved at any time in it.
func (e *engine) quietWhenStill(rep float64) bool {
	still, moved := 0, 0
	limit := int64(math.Max(e.p.SilenceReports*rep, 120000))
	last := -1
	for i := range e.t {
		if !e.informative(i) {
			continue
		}
		if last >= 0 && e.t[i]-e.t[last] > limit {
			if e.distM(last, i) < e.p.StillM {
				still++
			} else {
				moved++
			}
		}
		last = i
	}
	return still > moved
}

// walking reports whether fix i shows the worker walking (GPS speed of a
// walk; indoor speed noise stays mostly below it).
func (e *engine) walking(i int) bool {
	return e.kind[i] == kindPos && e.fixes[i].SpeedMS >= e.p.WalkingSpeedMS
}

// arrival estimates when the worker stepped in, for a visit whose first
// fix at the client is a, in ms. rep is the device's report interval.
//   - The previous fix q came an ordinary interval before a: if a shows
//     the worker still walking towards the door, they arrive after a at
//     walking speed; if q shows them walking (a rare reporter's last fix
//     on the way), they arrive after q at walking speed; otherwise they
//     arrived between q and a: half-way.
//   - After a silence of a device that goes quiet when still (motion
//     triggered trackers), the device sat where q was and walked here just
//     before a; after lost data, the best guess is half-way.
func (e *engine) arrival(c, a, b int, rep float64, quiet bool) float64 {
	nc, p := len(e.cands), &e.p
	ta := float64(e.t[a])
	d := float64(e.dist[a*nc+c])
	q := e.prevInformative(a)
	switch {
	case q >= 0 && ta-float64(e.t[q]) > p.SilenceReports*rep:
		// The worker had to get here from q first: at walking speed
		// they were on the way for walk of the silence. If the silence
		// is shorter than that walk, they were on the move throughout
		// (or on a bus) and arrived just before a.
		tq := float64(e.t[q])
		walk := math.Max(0, e.distM(q, a)-p.DoorM) / p.WalkSpeedMS * 1000
		if tq+walk >= ta {
			return ta
		}
		if quiet {
			return ta - walk
		}
		return (ta + tq + walk) / 2
	case e.walking(a) && d > p.DoorM:
		return ta + math.Min((d-p.DoorM)/p.WalkSpeedMS*1000, e.span(a, b)/2)
	case q >= 0 && e.walking(q):
		// Still walking at q, dq from the door: there at walking speed.
		dq := e.homeDist(c, q)
		return math.Min(float64(e.t[q])+math.Max(0, dq-p.DoorM)/p.WalkSpeedMS*1000, ta)
	case q >= 0:
		return (ta + float64(e.t[q])) / 2
	}
	return ta
}

// homeDist is the distance of fix i from candidate c's home, m.
func (e *engine) homeDist(c, i int) float64 {
	f := &e.fixes[i]
	xy := e.cands[c].Fence.local(f.Lat, f.Lon)
	return math.Hypot(xy[0], xy[1])
}

// atTheDoor moves the edges of a visit over fixes a..b past the worker
// waiting at the door: GPS fixes with an open-sky accuracy (within
// OutdoorRatio of the device's accuracy while walking) before the first
// fix that looks indoors, and after the last. Workers ring and wait a
// minute or three; the visit starts when they step in. A visit that never
// looks indoors (a doorstep visit) keeps its edges.
func (e *engine) atTheDoor(a, b int) (int, int) {
	walk := e.walkSigma(a, b)
	if walk <= 0 {
		return a, b
	}
	lim := e.p.OutdoorRatio * walk
	outside := func(i int) bool {
		switch {
		case e.kind[i] == kindBad || e.jump[i]:
			return true // says nothing: skip
		case e.kind[i] != kindPos:
			return false
		}
		return !e.wifi(i) && e.sigma[i] <= lim
	}
	na, nb := a, b
	for na <= b && outside(na) {
		na++
	}
	for nb >= na && outside(nb) {
		nb--
	}
	for na <= nb && !e.informative(na) {
		na++
	}
	for nb >= na && !e.informative(nb) {
		nb--
	}
	if na > nb || !e.indoors(na, nb, lim) {
		return a, b
	}
	return na, nb
}

// indoors reports whether most fixes a..b, and at least two, show the
// device indoors: heartbeats and cell-tower fixes (GPS lost), Wi-Fi
// positions, GPS accuracy worse than lim.
func (e *engine) indoors(a, b int, lim float64) bool {
	in, n := 0, 0
	for i := a; i <= b; i++ {
		switch {
		case e.kind[i] == kindCoarse:
			in++
			n++
		case e.kind[i] == kindPos && !e.jump[i]:
			if e.wifi(i) || e.sigma[i] > lim {
				in++
			}
			n++
		}
	}
	return in >= 2 && 2*in >= n
}

// departure mirrors arrival: the last fix at the client is b.
//   - The next fix q comes an ordinary interval after b: if b shows the
//     worker already walking away, they left before b; otherwise between
//     b and q: half-way.
//   - Before a silence of a device that goes quiet when still, it sat
//     here until just before q; before lost data, half-way.
func (e *engine) departure(c, a, b int, rep float64, quiet bool) float64 {
	nc, p := len(e.cands), &e.p
	tb := float64(e.t[b])
	d := float64(e.dist[b*nc+c])
	q := e.nextInformative(b)
	switch {
	case q >= 0 && float64(e.t[q])-tb > p.SilenceReports*rep:
		tq := float64(e.t[q])
		walk := math.Max(0, e.distM(b, q)-p.DoorM) / p.WalkSpeedMS * 1000
		if tq-walk <= tb {
			return tb
		}
		if quiet {
			return tq - walk
		}
		return (tb + tq - walk) / 2
	case e.walking(b) && d > p.DoorM:
		return tb - math.Min((d-p.DoorM)/p.WalkSpeedMS*1000, e.span(a, b)/2)
	case q >= 0 && e.walking(q):
		dq := e.homeDist(c, q)
		return math.Max(float64(e.t[q])-math.Max(0, dq-p.DoorM)/p.WalkSpeedMS*1000, tb)
	case q >= 0:
		return (tb + float64(e.t[q])) / 2
	}
	return tb
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// span is the time from fix a to fix b in ms.
func (e *engine) span(a, b int) float64 { return float64(e.t[b] - e.t[a]) }

// transit reports whether fix i shows the worker outdoors and on the move:
// a clear-sky accuracy and a walking speed, which indoor fixes rarely
// have together.
func (e *engine) transit(i int) bool {
	return e.kind[i] == kindPos && !e.jump[i] && e.sigma[i] <= e.p.OutdoorAccuracyM && e.fixes[i].SpeedMS >= e.p.TransitSpeedMS
}

// informative reports whether fix i says where the worker is.
func (e *engine) informative(i int) bool {
	return (e.kind[i] == kindPos && !e.jump[i]) || e.kind[i] == kindHeartbeat
}

// makeVisit builds the visit to candidate c over fixes a..b (states), or
// reports false when nothing in it places the worker there.
func (e *engine) makeVisit(c, a, b int, atEnd bool, rep float64, quiet bool) (Visit, bool) {
	nc := len(e.cands)
	// Trim fixes at the edges that do not place the worker here (the
	// approach, cell fixes), except a fix inside the geofence right before
	// (after) a silence within the stay: the device went quiet there.
	silent := int64(e.p.SilenceReports * rep)
	keep := func(i int, other int) bool {
		if !e.informative(i) {
			return false
		}
		s := e.sup[i*nc+c]
		return s > 0 || (s > -1 && other >= a && other <= b && abs64(e.t[other]-e.t[i]) > silent)
	}
	for a <= b && !keep(a, e.nextInformative(a)) {
		a++
	}
	for b >= a && !keep(b, e.prevInformative(b)) {
		b--
	}
	if a > b {
		return Visit{}, false
	}
	a, b = e.atTheDoor(a, b)
	p := &e.p
	start, end := e.arrival(c, a, b, rep, quiet), e.departure(c, a, b, rep, quiet)
	open := atEnd && b == e.lastInformative()
	v := Visit{
		DeviceID: e.device,
		WorkerID: e.worker,
		ClientID: e.cands[c].Fence.ClientID,
		Start:    time.UnixMilli(int64(math.Round(start))).UTC(),
		End:      time.UnixMilli(int64(math.Round(end))).UTC(),
		Open:     open,
	}
	if !open && v.Duration() < p.MinDuration {
		return Visit{}, false
	}
	v.ID = e.device + "/" + v.ClientID + "/" + strconv.FormatInt(v.Start.Unix(), 10)
	e.evidence(&v, c)
	if n, m := e.neighbourOf(c, a, b); n >= 0 {
		v.Evidence.Neighbour, v.Evidence.NeighbourMargin = e.cands[n].Fence.ClientID, math.Round(m*10)/10
	}
	if !e.cands[c].Assigned {
		v.Flags |= Flags(FlagUnassigned)
	}
	if v.Duration() < p.NormDuration && !open {
		v.Flags |= Flags(FlagShort)
	}
	if v.Evidence.Inside < p.MinEvidenceFixes {
		v.Flags |= Flags(FlagLowEvidence)
	}
	return v, true
}

func (e *engine) prevInformative(i int) int {
	for j := i - 1; j >= 0; j-- {
		if e.informative(j) {
			return j
		}
	}
	return -1
}

func (e *engine) nextInformative(i int) int {
	for j := i + 1; j < len(e.t); j++ {
		if e.informative(j) {
			return j
		}
	}
	return -1
}

func (e *engine) lastInformative() int { return e.prevInformative(len(e.t)) }

// evidence fills v.Evidence from the fixes between v.Start and v.End.
func (e *engine) evidence(v *Visit, c int) {
	nc := len(e.cands)
	s, t := v.Start.UnixMilli(), v.End.UnixMilli()
	i := sort.Search(len(e.t), func(i int) bool { return e.t[i] >= s })
	ev := &v.Evidence
	last := s
	var ds []float64
	for ; i < len(e.t) && e.t[i] <= t; i++ {
		ev.Fixes++
		if g := float64(e.t[i]-last) / 1000; g > ev.MaxGapS {
			ev.MaxGapS = g
		}
		if e.t[i]-last > e.p.GapNote.Milliseconds() {
			ev.Gaps++
		}
		last = e.t[i]
		f := &e.fixes[i]
		if f.Source == SourcePhone {
			ev.Phone++
		} else {
			ev.Tracker++
		}
		switch {
		case e.kind[i] == kindBad || e.jump[i]:
			ev.Rejected++
		case e.kind[i] == kindCoarse:
			ev.Approx++
		case e.kind[i] == kindHeartbeat:
			ev.Heartbeats++
		default:
			if e.sigma[i] <= 20 {
				ev.GoodGPS++
			}
			if e.sup[i*nc+c] > 0 {
				ev.Inside++
			}
			if d := float64(e.dist[i*nc+c]); !math.IsInf(d, 0) {
				ds = append(ds, d)
			}
		}
	}
	if g := float64(t-last) / 1000; g > ev.MaxGapS {
		ev.MaxGapS = g
	}
	if t-last > e.p.GapNote.Milliseconds() {
		ev.Gaps++
	}
	if len(ds) > 0 {
		slices.Sort(ds)
		ev.MedianDistM = math.Round(ds[len(ds)/2]*10) / 10
	}
}

type nearKey struct {
	c      int
	ta, tb int64
	n      int
}

type nearVal struct {
	c      int
	margin float64
}

// neighbourOf returns the candidate other than c whose home the fixes
// a..b fit best, when it fits within RevisitPrior nats of c (else -1).
func (e *engine) neighbourOf(c, a, b int) (int, float64) {
	k := nearKey{c, e.t[a], e.t[b], b - a}
	if v, ok := e.near[k]; ok {
		return v.c, v.margin
	}
	if e.near == nil || len(e.near) > 1024 {
		e.near = map[nearKey]nearVal{}
	}
	alt, own, la := e.newAssigner(a, b, 0).rival(c, nil)
	margin := 0.0
	if alt >= 0 && !math.IsInf(own, -1) && own-la < e.p.RevisitPrior {
		margin = math.Max(0, own-la)
	} else {
		alt = -1
	}
	e.near[k] = nearVal{alt, margin}
	return alt, margin
}

// DetectDevice finds the visits in one device's fixes (any order; fixes of
// other devices must not be passed). It is deterministic for a given set of
// fixes: order and exact duplicates do not matter. The live Detector runs
// the same engine.
func DetectDevice(deviceID, workerID string, fixes []Fix, cands []Candidate, p Params) []Visit {
	e := newEngine(p, deviceID, workerID, cands)
	sorted := slices.Clone(fixes)
	slices.SortStableFunc(sorted, func(a, b Fix) int { return a.Time.Compare(b.Time) })
	e.load(sorted)
	return e.visits()
}

// cut drops the first m fixes (live window), keeping the forward scores of
// the last one as the starting point of the rest.
func (e *engine) cut(m int) {
	e.recompute()
	nc, k := len(e.cands), e.k
	e.baseFwd = append(e.baseFwd[:0], e.fwd[(m-1)*k:m*k]...)
	e.hasBase = true
	e.baseT = e.t[m-1]
	if j := e.prevInformative(m); j >= 0 {
		e.baseT = e.t[j]
	}
	e.fixes = slices.Delete(e.fixes, 0, m)
	e.t = slices.Delete(e.t, 0, m)
	e.kind = slices.Delete(e.kind, 0, m)
	e.jump = slices.Delete(e.jump, 0, m)
	e.need = slices.Delete(e.need, 0, m)
	e.sigma = slices.Delete(e.sigma, 0, m)
	e.w = slices.Delete(e.w, 0, m)
	e.pres = slices.Delete(e.pres, 0, m)
	e.sup = slices.Delete(e.sup, 0, m*nc)
	e.dist = slices.Delete(e.dist, 0, m*nc)
	e.fwd = slices.Delete(e.fwd, 0, m*k)
	e.bp = slices.Delete(e.bp, 0, m*k)
	e.dirty = len(e.t)
}
