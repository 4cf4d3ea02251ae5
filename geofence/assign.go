package geofence

import (
	"math"
	"slices"
	"time"
)

// Which client, and when the worker moved to the next one.
//
// Indoors, a tracker's or phone's fixes scatter around the flat with two
// parts: an offset that stays the same for the whole visit (the geocoded
// point is a few metres off the flat, and the walls bend the signal the
// same way for as long as the worker stays in one room) and noise that
// wanders around it over a minute or two. On public/ the per-visit offset
// is ~10 m, the noise 13 m with a correlation time of ~90 s. So:
//
//   - the client of a visit is judged on the centroid of its fixes (each
//     fix counted as the share of an independent sample it is worth), not
//     on a sum over fixes that would count the same offset again and again;
//   - one stay holds two visits when its cloud of fixes jumps: the two
//     parts' centroids differ by more than the noise allows for one
//     offset, and each part sits nearer a different home. This is a
//     likelihood-ratio test between "one visit, one offset" and "two
//     visits, two offsets", against a prior cost of an extra visit.

// cloudPoint is a position fix inside a stay, in metres around the stay's
// first fix, with its weight in independent samples.
type cloudPoint struct {
	i    int // fix index
	x, y float64
	u    float64
}

// part is the sum over a run of cloud points.
type part struct{ u, x, y float64 }

func (p part) add(q cloudPoint) part { return part{p.u + q.u, p.x + q.u*q.x, p.y + q.u*q.y} }
func (p part) sub(q part) part       { return part{p.u - q.u, p.x - q.x, p.y - q.y} }
func (p part) centroid() (float64, float64) {
	return p.x / p.u, p.y / p.u
}

// assigner splits one stay among candidates.
type assigner struct {
	e         *engine
	a, b      int
	pts       []cloudPoint
	pre       []part // pre[k] = sum of pts[:k]
	homes     [][2]float64
	eligible  []int // candidates the stay touches
	silentMS  int64
	walkSigma float64
	walks     []int          // walks[k]: transit fixes between pts[k-1] and pts[k]
	pair      map[int][2]int // clients each side of a cut, as chosen
	planned   []bool         // per candidate: on the schedule during the stay
}

// assign splits the stay over fixes a..b into visits of candidates: a
// Viterbi over the candidates first, then each of its runs is split
// where its cloud of fixes jumps from one home to another.
func (e *engine) assign(a, b int, silentMS int64) []segment {
	if len(e.cands) == 1 {
		return []segment{{0, a, b}}
	}
	var segs []segment
	walk := e.walkSigma(a, b)
	for _, sg := range e.viterbiAssign(a, b) {
		for _, s := range e.refine(sg, silentMS, walk) {
			if n := len(segs); n > 0 && segs[n-1].c == s.c {
				segs[n-1].b = s.b
			} else {
				segs = append(segs, s)
			}
		}
	}
	return segs
}

// refine splits one client's run where the fixes' centroid jumps.
func (e *engine) refine(sg segment, silentMS int64, walk float64) []segment {
	as := e.newAssigner(sg.a, sg.b, silentMS)
	as.walkSigma = walk
	if len(as.eligible) < 2 {
		return []segment{sg}
	}
	as.countWalks()
	var cuts []int // point indices where a new visit starts
	as.split(0, len(as.pts), &cuts)
	if len(cuts) == 0 {
		return []segment{sg}
	}
	slices.Sort(cuts)
	var segs []segment
	lo, start := 0, sg.a
	for k := 0; k <= len(cuts); k++ {
		hi, end := len(as.pts), sg.b
		if k < len(cuts) {
			hi = cuts[k]
			end = as.pts[hi].i - 1
		}
		c := as.client(lo, hi)
		if c < 0 {
			c = sg.c
		}
		// After a walk outdoors the worker is at another door: when both
		// sides fit one home best, keep the pair the cut was chosen for.
		if n := len(segs); n > 0 && segs[n-1].c == c && as.walks[lo] >= walkFixes {
			if pc, ok := as.pair[lo]; ok {
				segs[n-1].c, c = pc[0], pc[1]
			}
		}
		segs = append(segs, segment{c, start, end})
		lo, start = hi, end+1
	}
	return segs
}

func (e *engine) newAssigner(a, b int, silentMS int64) *assigner {
	nc := len(e.cands)
	p := &e.p
	as := &assigner{e: e, a: a, b: b, silentMS: silentMS, planned: e.plannedDuring(a, b)}
	// Candidates the worker could be visiting: some fix of the stay
	// supports them.
	for c := 0; c < nc; c++ {
		for i := a; i <= b; i++ {
			if e.sup[i*nc+c] > 0 {
				as.eligible = append(as.eligible, c)
				break
			}
		}
	}
	if len(as.eligible) == 0 {
		return as
	}
	var lat0, lon0 float64
	have := false
	tau := p.NoiseCorrelation.Seconds()
	for i := a; i <= b; i++ {
		if e.kind[i] != kindPos || e.jump[i] || e.transit(i) {
			continue
		}
		// Far from every home the stay touches: a multipath burst or the
		// approach, not a sample of where the worker sits.
		near := false
		for _, c := range as.eligible {
			if float64(e.dist[i*nc+c]) <= p.CloudM+math.Min(e.sigma[i], p.MaxAccuracyM) {
				near = true
				break
			}
		}
		if !near {
			continue
		}
		f := &e.fixes[i]
		if !have {
			lat0, lon0, have = f.Lat, f.Lon, true
		}
		u := math.Min(e.w[i], tau) / tau
		if u <= 0 {
			continue
		}
		x, y := localXY(lat0, lon0, f.Lat, f.Lon)
		as.pts = append(as.pts, cloudPoint{i, x, y, u})
	}
	as.pre = make([]part, len(as.pts)+1)
	for k, q := range as.pts {
		as.pre[k+1] = as.pre[k].add(q)
	}
	as.homes = make([][2]float64, nc)
	for _, c := range as.eligible {
		g := e.cands[c].Fence
		x, y := localXY(lat0, lon0, g.Center[1], g.Center[0])
		as.homes[c] = [2]float64{x, y}
	}
	return as
}

func localXY(lat0, lon0, lat, lon float64) (float64, float64) {
	kx := metresPerDegLat * math.Cos(lat0*math.Pi/180)
	return (lon - lon0) * kx, (lat - lat0) * metresPerDegLat
}

// wifi reports whether fix i is a phone's Wi-Fi position (no GPS speed,
// accuracy of tens of metres): phones fall back to Wi-Fi indoors.
func (e *engine) wifi(i int) bool {
	f := &e.fixes[i]
	return f.Source == SourcePhone && f.SpeedMS < 0 && f.AccuracyM > 0 && f.AccuracyM <= e.p.CoarseAccuracyM
}

// logN2 is the log density of a 2-D isotropic Gaussian with variance s2
// per axis at squared distance d2.
func logN2(d2, s2 float64) float64 { return -d2/(2*s2) - math.Log(2*math.Pi*s2) }

// noiseVar is the variance per axis of the centroid of u samples.
func (as *assigner) noiseVar(u float64) float64 {
	s := as.e.p.IndoorNoiseM
	return s * s / math.Max(u, 1)
}

// fit returns the best and second-best candidates for a part and their
// log-likelihoods (one offset, centroid vs home).
func (as *assigner) fit(pp part) (c1 int, l1 float64, c2 int, l2 float64) {
	c1, c2 = -1, -1
	l1, l2 = math.Inf(-1), math.Inf(-1)
	if pp.u <= 0 {
		return
	}
	mx, my := pp.centroid()
	ob := as.e.p.VisitOffsetM
	s2 := ob*ob + as.noiseVar(pp.u)
	for _, c := range as.eligible {
		h := as.homes[c]
		dx, dy := mx-h[0], my-h[1]
		l := logN2(dx*dx+dy*dy, s2) - as.prior(c)
		switch {
		case l > l1:
			c2, l2 = c1, l1
			c1, l1 = c, l
		case l > l2:
			c2, l2 = c, l
		}
	}
	return
}

// rival fits the centroid of the whole stay to every touched home: it
// returns the best candidate other than c that allowed admits (nil: any),
// or -1, with the log-likelihoods of c (-Inf when c is not touched) and
// of that rival.
func (as *assigner) rival(c int, allowed func(int) bool) (alt int, own, la float64) {
	alt, own, la = -1, math.Inf(-1), math.Inf(-1)
	if len(as.eligible) < 2 || len(as.pts) == 0 {
		return alt, own, la
	}
	whole := as.pre[len(as.pts)]
	mx, my := whole.centroid()
	ob := as.e.p.VisitOffsetM
	s2 := ob*ob + as.noiseVar(whole.u)
	for _, x := range as.eligible {
		h := as.homes[x]
		dx, dy := mx-h[0], my-h[1]
		l := logN2(dx*dx+dy*dy, s2) - as.prior(x)
		switch {
		case x == c:
			own = l
		case l > la && (allowed == nil || allowed(x)):
			alt, la = x, l
		}
	}
	return alt, own, la
}

// client is the candidate whose home best explains points lo..hi-1, or -1
// when there are none.
func (as *assigner) client(lo, hi int) int {
	c, _, _, _ := as.fit(as.pre[hi].sub(as.pre[lo]))
	return c
}

// split looks for the one point in lo..hi-1 where a second visit starts
// and recurses into both halves; cuts collects the points found.
func (as *assigner) split(lo, hi int, cuts *[]int) {
	p := &as.e.p
	minU := 1.0
	whole := as.pre[hi].sub(as.pre[lo])
	ob := p.VisitOffsetM
	best, bestK := p.SplitPrior, -1
	var bestPair [2]int
	for k := lo + 1; k < hi; k++ {
		p1 := as.pre[k].sub(as.pre[lo])
		p2 := whole.sub(p1)
		walked := as.walks[k] >= walkFixes
		if !walked && (p1.u < minU || p2.u < minU) {
			continue
		}
		if as.e.t[as.pts[k-1].i]-as.e.t[as.pts[lo].i] < p.MinDuration.Milliseconds() ||
			as.e.t[as.pts[hi-1].i]-as.e.t[as.pts[k].i] < p.MinDuration.Milliseconds() {
			continue
		}
		// Two visits: each part has its own offset and client, and each
		// must be a visit in its own right.
		a1, la1, a2, la2 := as.fit(p1)
		b1, lb1, b2, lb2 := as.fit(p2)
		if a1 == b1 {
			if la1+lb2 > la2+lb1 {
				b1, lb1 = b2, lb2
			} else {
				a1, la1 = a2, la2
			}
		}
		if a1 < 0 || b1 < 0 {
			continue
		}
		h2 := la1 + lb1
		// One visit: one offset; the parts differ by noise only.
		v1, v2 := as.noiseVar(p1.u), as.noiseVar(p2.u)
		m1x, m1y := p1.centroid()
		m2x, m2y := p2.centroid()
		dx, dy := m1x-m2x, m1y-m2y
		mx := (m1x/v1 + m2x/v2) / (1/v1 + 1/v2)
		my := (m1y/v1 + m2y/v2) / (1/v1 + 1/v2)
		h1 := math.Inf(-1)
		s2 := ob*ob + v1*v2/(v1+v2)
		for _, c := range as.eligible {
			h := as.homes[c]
			ex, ey := mx-h[0], my-h[1]
			h1 = math.Max(h1, logN2(ex*ex+ey*ey, s2)-as.prior(c))
		}
		h1 += logN2(dx*dx+dy*dy, v1+v2)
		llr := h2 - h1
		if walked {
			// Seen walking outdoors in between: the extra visit needs
			// no prior odds (the worker left one door for another).
			llr += p.SplitPrior
		}
		if llr > best && as.enough(a1, lo, k) && as.enough(b1, k, hi) && !as.outdoors(lo, k) && !as.outdoors(k, hi) {
			best, bestK = llr, k
			bestPair = [2]int{a1, b1}
		}
	}
	if bestK < 0 {
		return
	}
	*cuts = append(*cuts, bestK)
	if as.pair == nil {
		as.pair = make(map[int][2]int)
	}
	as.pair[bestK] = bestPair
	as.split(lo, bestK, cuts)
	as.split(bestK, hi, cuts)
}

// enough reports whether points lo..hi-1 (and the fixes between them)
// hold the evidence a visit to c needs on its own: as much as a stay
// needs to be worth entering and leaving.
func (as *assigner) enough(c, lo, hi int) bool {
	e := as.e
	nc := len(e.cands)
	from, to := as.pts[lo].i, as.pts[hi-1].i
	s := 0.0
	for i := from; i <= to; i++ {
		s += e.w[i] * float64(e.sup[i*nc+c])
	}
	return s >= 2*e.p.SwitchPenalty.Seconds()
}

// outdoors reports whether points lo..hi-1 look like a worker standing
// outdoors (see engine.outdoors). Split off a stay, such a part is a stop
// on the way, not a visit.
func (as *assigner) outdoors(lo, hi int) bool {
	return as.e.outdoors(as.pts[lo].i, as.pts[hi-1].i, as.walkSigma)
}

// outdoors reports whether fixes a..b look like a worker standing
// outdoors: no Wi-Fi, cell-tower or heartbeat fixes, and the GPS accuracy
// while standing no worse than OutdoorRatio times walk, the device's
// accuracy while walking (indoors it is 1.8-2 times worse; outdoors the
// same).
func (e *engine) outdoors(a, b int, walk float64) bool {
	if walk <= 0 {
		return false
	}
	var buf [64]float64
	sig := buf[:0]
	for i := a; i <= b; i++ {
		switch {
		case e.kind[i] == kindHeartbeat || e.kind[i] == kindCoarse:
			return false
		case e.kind[i] == kindPos && !e.jump[i]:
			if e.wifi(i) {
				return false
			}
			if e.fixes[i].SpeedMS < e.p.WalkingSpeedMS {
				sig = append(sig, e.sigma[i])
			}
		}
	}
	if len(sig) == 0 {
		return false
	}
	slices.Sort(sig)
	return sig[len(sig)/2] <= e.p.OutdoorRatio*walk
}

// walkSigma is the device's median GPS accuracy while walking (speed
// between WalkingSpeedMS and VehicleSpeedMS) within an hour of fixes
// a..b: its accuracy under the open sky of the day (it changes from day
// to day by a factor of two). 0 when there are too few such fixes.
func (e *engine) walkSigma(a, b int) float64 {
	var sig []float64
	hour := int64(3600000)
	take := func(i int) {
		if e.kind[i] != kindPos || e.jump[i] || e.wifi(i) {
			return
		}
		if v := e.fixes[i].SpeedMS; v >= e.p.WalkingSpeedMS && v < e.p.VehicleSpeedMS {
			sig = append(sig, e.sigma[i])
		}
	}
	for i := a - 1; i >= 0 && e.t[a]-e.t[i] <= hour; i-- {
		take(i)
	}
	for i := b + 1; i < len(e.t) && e.t[i]-e.t[b] <= hour; i++ {
		take(i)
	}
	if len(sig) < 10 {
		return 0
	}
	slices.Sort(sig)
	return sig[len(sig)/2]
}

// bestBySupport is the candidate with the most time-weighted support over
// fixes a..b (for stays without position fixes near a home).
func (e *engine) bestBySupport(a, b int) int {
	nc := len(e.cands)
	best, bestS := 0, math.Inf(-1)
	for c := 0; c < nc; c++ {
		s := 0.0
		for i := a; i <= b; i++ {
			s += e.w[i] * float64(e.sup[i*nc+c])
		}
		if s > bestS {
			best, bestS = c, s
		}
	}
	return best
}

// prior is the log-prior cost, in nats, of candidate c for the stay: a
// home not assigned to the worker must fit clearly better, a client on
// the schedule then needs less.
func (as *assigner) prior(c int) float64 {
	p := 0.0
	if !as.e.cands[c].Assigned {
		p += as.e.p.UnassignedPrior
	}
	if as.planned != nil && as.planned[c] {
		p -= as.e.p.PlanPrior
	}
	return p
}

// plannedDuring reports, per candidate, whether a visit to it is on the
// schedule during fixes a..b; nil when no candidate has a schedule.
func (e *engine) plannedDuring(a, b int) []bool {
	var out []bool
	for c, cd := range e.cands {
		if cd.Planned == nil {
			continue
		}
		if out == nil {
			out = make([]bool, len(e.cands))
		}
		out[c] = cd.Planned(time.UnixMilli(e.t[a]).UTC(), time.UnixMilli(e.t[b]).UTC())
	}
	return out
}

// viterbiAssign splits the stay over fixes a..b among candidates: a Viterbi over
// the candidates alone, where changing client costs ClientSwitchPenalty.
func (e *engine) viterbiAssign(a, b int) []segment {
	nc := len(e.cands)
	if nc == 1 {
		return []segment{{0, a, b}}
	}
	// Only candidates whose geofence the stay touches can win a run;
	// usually one to three of a worker's dozen clients.
	var cs []int
	for c := 0; c < nc; c++ {
		for i := a; i <= b; i++ {
			if e.sup[i*nc+c] > -1 {
				cs = append(cs, c)
				break
			}
		}
	}
	switch len(cs) {
	case 0:
		cs = make([]int, nc)
		for c := range cs {
			cs[c] = c
		}
	case 1:
		return []segment{{cs[0], a, b}}
	}
	k := len(cs)
	xpen := e.p.ClientSwitchPenalty.Seconds()
	tpen := 2 * e.p.SwitchPenalty.Seconds()
	upen := e.p.UnassignedPenalty.Seconds()
	score := make([]float64, k)
	planned := e.plannedDuring(a, b)
	for x, c := range cs {
		if !e.cands[c].Assigned {
			score[x] = -upen
		}
		if planned != nil && planned[c] {
			score[x] += e.p.PlanBonus.Seconds()
		}
	}
	next := make([]float64, k)
	bp := make([]int16, (b-a+1)*k)
	for i := a; i <= b; i++ {
		best := 0
		for x := 1; x < k; x++ {
			if score[x] > score[best] {
				best = x
			}
		}
		row := e.sup[i*nc : (i+1)*nc]
		// Walking outdoors between two entrances makes a change of client
		// cheap (leave + enter); elsewhere it takes strong evidence.
		pen := xpen
		if e.transit(i) || (i > a && e.transit(i-1)) {
			pen = tpen
		}
		for x, c := range cs {
			v, from := score[x], x
			enter := pen
			if !e.cands[c].Assigned {
				enter += upen
			}
			if i > a && score[best]-enter > v {
				v, from = score[best]-enter, best
			}
			next[x] = v + e.w[i]*float64(row[c])
			bp[(i-a)*k+x] = int16(from)
		}
		score, next = next, score
	}
	x := 0
	for y := 1; y < k; y++ {
		if score[y] > score[x] {
			x = y
		}
	}
	var segs []segment
	end := b
	for i := b; i >= a; i-- {
		prev := int(bp[(i-a)*k+x])
		if prev != x || i == a {
			segs = append(segs, segment{cs[x], i, end})
			end = i - 1
			x = prev
		}
	}
	slices.Reverse(segs)
	return segs
}

// walkFixes is how many fixes walking under the open sky show the worker
// left one door for another (one can be indoor noise; as briefAbsence).
const walkFixes = 2

// countWalks fills walks: fixes between consecutive cloud points that
// show the worker walking under the open sky (as sharp as the device's
// GPS while walking that hour; indoors it is about twice as bad).
func (as *assigner) countWalks() {
	e := as.e
	as.walks = make([]int, len(as.pts))
	if as.walkSigma <= 0 {
		return
	}
	lim := e.p.OutdoorRatio * as.walkSigma
	for k := 1; k < len(as.pts); k++ {
		for i := as.pts[k-1].i + 1; i < as.pts[k].i; i++ {
			if e.transit(i) && e.sigma[i] <= lim {
				as.walks[k]++
			}
		}
	}
}
