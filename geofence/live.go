package geofence

import (
	"slices"
	"sync"
	"time"
)

// CandidateFunc tells the live detector who carries a device and which
// geofences to consider for it (normally the worker's assigned clients).
// ok=false means the device is unknown: its fixes are ignored.
type CandidateFunc func(deviceID string) (workerID string, cands []Candidate, ok bool)

// NearbyFunc returns the homes, other than the device's candidates, whose
// geofence holds a point: clients of the worker's organisation not
// assigned to them. The detector asks only for fixes where the device
// stands still (see Params.Dwell) and adds what it gets as candidates
// with Assigned=false, so that a visit to someone else's client (a
// substitute, a visit off the plan) is detected and flagged unassigned.
type NearbyFunc func(deviceID string, lat, lon float64) []*Geofence

// Dwell reports whether fix f shows a device standing still at a usable
// position: the fixes for which unassigned homes nearby are looked up. A
// worker walking past homes does not add them, and neither does a device
// that reports no speed (SpeedMS < 0): it cannot say it stood still.
func (p Params) Dwell(f Fix) bool {
	return f.Valid && !(f.Lat == 0 && f.Lon == 0) && (f.AccuracyM == 0 || f.AccuracyM <= p.CoarseAccuracyM) &&
		f.SpeedMS >= 0 && f.SpeedMS < p.WalkingSpeedMS
}

// AddNearby extends cands with the homes nearby returns for the fixes
// where the device stood still, in time order of the first fix in each:
// the offline counterpart of the live detector's lookups, for recomputing
// stored visits the same way. The live detector holds at most MaxNearby
// at a time within its window; a recompute may span days, so it allows
// eight windows' worth.
func AddNearby(cands []Candidate, fixes []Fix, nearby func(lat, lon float64) []*Geofence, p Params) []Candidate {
	sorted := slices.Clone(fixes)
	slices.SortStableFunc(sorted, func(a, b Fix) int { return a.Time.Compare(b.Time) })
	out := slices.Clone(cands)
	added, limit := 0, 8*p.MaxNearby
	for _, f := range sorted {
		if added >= limit || !p.Dwell(f) {
			continue
		}
		for _, g := range nearby(f.Lat, f.Lon) {
			if added < limit && !hasFence(out, g) {
				out = append(out, Candidate{Fence: g})
				added++
			}
		}
	}
	return out
}

func hasFence(cands []Candidate, g *Geofence) bool {
	for _, c := range cands {
		if c.Fence.ClientID == g.ClientID {
			return true
		}
	}
	return false
}

// Detector is the live visit detector used by the ingest pipeline. It keeps,
// per device, a time-ordered window of recent fixes and runs the same
// engine as DetectDevice over it: a fix that arrives late (buffered upload)
// is inserted in time order and the affected span is re-evaluated, so the
// visits come out the same whatever the arrival order. It is safe for
// concurrent use; fixes of one device must be added by one goroutine at a
// time to keep their order meaningful (they are serialised anyway).
type Detector struct {
	p      Params
	lookup CandidateFunc
	nearby NearbyFunc
	// Window is how far back late fixes are still taken into account.
	// Visits that ended before the window are final.
	window time.Duration

	mu   sync.Mutex
	devs map[string]*liveDevice
}

type liveDevice struct {
	mu       sync.Mutex
	e        *engine
	nearby   int     // unassigned candidates added
	reported []Visit // as last reported, in time order
	final    int     // number of visits that left the window (for IDs)
	newest   int64   // newest fix time, ms
}

// DefaultWindow keeps 12 hours: a working day, so a phone that uploads
// its buffer in the evening still corrects the day's visits.
const DefaultWindow = 12 * time.Hour

// NewDetector returns a live detector; window <= 0 means DefaultWindow.
func NewDetector(p Params, lookup CandidateFunc, window time.Duration) *Detector {
	if window <= 0 {
		window = DefaultWindow
	}
	return &Detector{p: p, lookup: lookup, window: window, devs: make(map[string]*liveDevice)}
}

// SetNearby makes the detector look up unassigned homes where a device
// stands still (nil: assigned clients only). Call before the first Add.
func (d *Detector) SetNearby(fn NearbyFunc) { d.nearby = fn }

func (d *Detector) device(id string) *liveDevice {
	d.mu.Lock()
	defer d.mu.Unlock()
	ld := d.devs[id]
	if ld == nil {
		worker, cands, ok := d.lookup(id)
		if !ok {
			return nil
		}
		ld = &liveDevice{e: newEngine(d.p, id, worker, cands)}
		d.devs[id] = ld
	}
	return ld
}

// Forget drops a device's state (e.g. when its assignments change: the
// next fix starts afresh with the new candidates).
func (d *Detector) Forget(deviceID string) {
	d.mu.Lock()
	delete(d.devs, deviceID)
	d.mu.Unlock()
}

// Refresh re-reads a device's candidates (the worker's clients or their
// homes changed) and judges the fixes it holds again against them, so a
// visit in progress keeps its start. It returns what changed, as Add
// does. Unassigned homes found so far stay candidates while the nearby
// lookup still returns them (with their current geofence): a client
// archived or moved meanwhile is dropped or redrawn. A device no longer
// known, or now carried by another worker, starts afresh (Forget); the
// visits already stored stay the previous worker's.
func (d *Detector) Refresh(deviceID string) []Event {
	d.mu.Lock()
	ld := d.devs[deviceID]
	d.mu.Unlock()
	if ld == nil {
		return nil
	}
	worker, cands, ok := d.lookup(deviceID)
	ld.mu.Lock()
	defer ld.mu.Unlock()
	e := ld.e
	if !ok || worker != e.worker {
		d.Forget(deviceID)
		return nil
	}
	cands = slices.Clone(cands)
	ld.nearby = 0
	for _, c := range e.cands {
		if c.Assigned || hasFence(cands, c.Fence) || ld.nearby >= d.p.MaxNearby || d.nearby == nil {
			continue
		}
		for _, g := range d.nearby(deviceID, c.Fence.Center[1], c.Fence.Center[0]) {
			if g.ClientID == c.Fence.ClientID {
				cands = append(cands, Candidate{Fence: g})
				ld.nearby++
				break
			}
		}
	}
	ne := e.rebuilt(cands)
	ld.e = ne
	return ld.diff(ne.visits())
}

// RefreshNearby refreshes every device holding one of the given clients'
// homes as an unassigned candidate (archived, moved or redrawn), and
// returns what changed per device.
func (d *Detector) RefreshNearby(changed func(clientID string) bool) map[string][]Event {
	d.mu.Lock()
	devs := make(map[string]*liveDevice, len(d.devs))
	for id, ld := range d.devs {
		devs[id] = ld
	}
	d.mu.Unlock()
	var ids []string // a device's lock is never taken under d.mu (Refresh takes them the other way)
	for id, ld := range devs {
		ld.mu.Lock()
		for _, c := range ld.e.cands {
			if !c.Assigned && changed(c.Fence.ClientID) {
				ids = append(ids, id)
				break
			}
		}
		ld.mu.Unlock()
	}
	slices.Sort(ids)
	out := map[string][]Event{}
	for _, id := range ids {
		if evs := d.Refresh(id); len(evs) > 0 {
			out[id] = evs
		}
	}
	return out
}

// Add feeds one fix and returns what changed: visits started, updated
// (start or end moved, or evidence changed the client's visit), ended,
// cancelled by re-evaluation, and flags raised on closed visits. Fixes older
// than the window, exact duplicates and fixes of unknown devices return nil.
func (d *Detector) Add(f Fix) []Event {
	ld := d.device(f.DeviceID)
	if ld == nil {
		return nil
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	e := ld.e
	ms := f.Time.UnixMilli()
	if ms < ld.newest-d.window.Milliseconds() || (e.hasBase && ms <= e.baseT) {
		return nil // too late to re-evaluate
	}
	if d.nearby != nil && ld.nearby < d.p.MaxNearby && d.p.Dwell(f) {
		e = ld.addNearby(d.nearby(f.DeviceID, f.Lat, f.Lon), d.p.MaxNearby)
	}
	if !e.insert(f) {
		return nil
	}
	ld.newest = max(ld.newest, ms)
	vs := e.visits()
	evs := ld.diff(vs)
	ld.trim(d.window.Milliseconds())
	return evs
}

// addNearby adds the homes not yet candidates; the engine is rebuilt over
// the window's fixes (its support rows have one column per candidate).
// Rare: once per home where the device stood still.
func (ld *liveDevice) addNearby(gs []*Geofence, limit int) *engine {
	e := ld.e
	cands := e.cands
	for _, g := range gs {
		if ld.nearby < limit && !hasFence(cands, g) {
			if len(cands) == len(e.cands) {
				cands = slices.Clone(cands)
			}
			cands = append(cands, Candidate{Fence: g})
			ld.nearby++
		}
	}
	if len(cands) == len(e.cands) {
		return e
	}
	ld.e = e.rebuilt(cands)
	return ld.e
}

// Visits returns the device's visits in the window as they now stand.
func (d *Detector) Visits(deviceID string) []Visit {
	d.mu.Lock()
	ld := d.devs[deviceID]
	d.mu.Unlock()
	if ld == nil {
		return nil
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return slices.Clone(ld.reported)
}

// diff matches the new visits with those reported before (same client,
// overlapping in time), keeps their IDs, and lists the events.
func (ld *liveDevice) diff(vs []Visit) []Event {
	var evs []Event
	used := make([]bool, len(ld.reported))
	for i := range vs {
		v := &vs[i]
		j := ld.match(v, used)
		if j < 0 {
			v.ID = ld.e.device + "/" + v.ClientID + "/" + v.Start.UTC().Format("20060102T150405Z")
			evs = append(evs, Event{Kind: VisitStarted, Visit: *v})
			if !v.Open {
				evs = append(evs, Event{Kind: VisitEnded, Visit: *v})
				evs = appendFlags(evs, *v, 0)
			}
			continue
		}
		used[j] = true
		old := ld.reported[j]
		v.ID = old.ID
		switch {
		case old.Open && !v.Open:
			evs = append(evs, Event{Kind: VisitEnded, Visit: *v})
			evs = appendFlags(evs, *v, 0)
		case !v.Open && (!v.Start.Equal(old.Start) || !v.End.Equal(old.End)):
			evs = append(evs, Event{Kind: VisitUpdated, Visit: *v})
			evs = appendFlags(evs, *v, old.Flags)
		case v.Open && !v.Start.Equal(old.Start):
			evs = append(evs, Event{Kind: VisitUpdated, Visit: *v})
		case !v.Open && v.Flags != old.Flags:
			evs = append(evs, Event{Kind: VisitUpdated, Visit: *v})
			evs = appendFlags(evs, *v, old.Flags)
		}
	}
	for j, old := range ld.reported {
		if !used[j] {
			evs = append(evs, Event{Kind: VisitCancelled, Visit: old})
		}
	}
	ld.reported = vs
	return evs
}

// match finds the reported visit that v continues: same client, largest
// time overlap (an open visit's end is its latest fix).
func (ld *liveDevice) match(v *Visit, used []bool) int {
	best, bestOv := -1, time.Duration(-1)
	for j, old := range ld.reported {
		if used[j] || old.ClientID != v.ClientID {
			continue
		}
		ov := earlier(old.End, v.End).Sub(later(old.Start, v.Start))
		if ov < 0 || ov <= bestOv {
			continue
		}
		best, bestOv = j, ov
	}
	return best
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// appendFlags raises the flags of v that were not in old.
func appendFlags(evs []Event, v Visit, old Flags) []Event {
	for _, f := range []Flag{FlagShort, FlagUnassigned, FlagLowEvidence} {
		if v.Flags.Has(f) && !old.Has(f) {
			evs = append(evs, Event{Kind: FlagRaised, Visit: v, Flag: f})
		}
	}
	return evs
}

// trim drops fixes older than the window once a quarter window more has
// accumulated, cutting only where the worker is away, and forgets the
// visits that ended before the cut (they are final).
func (ld *liveDevice) trim(window int64) {
	e := ld.e
	if len(e.t) == 0 || e.t[0] >= ld.newest-window-window/4 {
		return
	}
	cutT := ld.newest - window
	st := e.path()
	m := 0
	for m < len(e.t) && e.t[m] < cutT {
		m++
	}
	// Move the cut back to a fix that is away and not inside any visit.
	for m > 0 && (st[m-1] != 0 || ld.inVisit(e.t[m-1])) {
		m--
	}
	if m == 0 {
		return
	}
	e.cut(m)
	if ld.nearby > 0 {
		ld.dropIdleNearby()
		e = ld.e
	}
	keep := ld.reported[:0]
	for _, v := range ld.reported {
		if v.End.UnixMilli() >= e.baseT {
			keep = append(keep, v)
		} else {
			ld.final++
		}
	}
	ld.reported = keep
}

// dropIdleNearby forgets the unassigned homes that no fix left in the
// window supports (the crossing passed yesterday), so that the device can
// gather new ones: MaxNearby bounds the homes held at a time, not for good.
func (ld *liveDevice) dropIdleNearby() {
	e := ld.e
	nc := len(e.cands)
	var keep []Candidate
	ld.nearby = 0
	for c, cd := range e.cands {
		used := cd.Assigned
		for i := 0; !used && i < len(e.t); i++ {
			used = e.sup[i*nc+c] > 0
		}
		if used {
			keep = append(keep, cd)
			if !cd.Assigned {
				ld.nearby++
			}
		}
	}
	if len(keep) == nc {
		return
	}
	ld.e = e.rebuilt(keep)
}

// rebuilt is an engine over the same window of fixes (and the same state
// before it) with other candidates: their support has one column each.
func (e *engine) rebuilt(cands []Candidate) *engine {
	ne := newEngine(e.p, e.device, e.worker, cands)
	ne.hasBase, ne.baseT, ne.baseFwd = e.hasBase, e.baseT, e.baseFwd
	ne.load(slices.Clone(e.fixes))
	return ne
}

func (ld *liveDevice) inVisit(ms int64) bool {
	for _, v := range ld.reported {
		if ms >= v.Start.UnixMilli() && ms <= v.End.UnixMilli() {
			return true
		}
	}
	return false
}
