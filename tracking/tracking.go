// Package tracking connects the stored positions to the visit detector:
// live (every committed batch from ingest goes through the geofence
// detector and the visits it decides are stored) and offline (`visits
// recompute` re-runs detection over stored positions). Both use the same
// geofence engine and the same conversions.
package tracking

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"

	"carevisit/geofence"
	"carevisit/store"
)

// Event is a visit event with the database ids resolved, published in
// process for the live map and alerts.
type Event struct {
	Kind     string // visit_started, visit_updated, visit_ended, visit_cancelled, flag_raised
	DeviceID int64
	WorkerID int64
	ClientID int64
	OrgID    int64
	Start    time.Time
	End      time.Time // zero while open
	Flags    []string
	Flag     string // for flag_raised
}

// Directory is who carries which device and which homes they may visit,
// loaded from the database.
type Directory struct {
	byDevice map[int64]deviceInfo
	norms    map[int64]int // org -> short-visit norm, minutes
	sig      map[int64]string
	homes    map[int64]*geofence.Index // org -> all its clients' homes
	fenceSig map[string]string         // client ID -> its geofence, to see which changed
}

type deviceInfo struct {
	workerID int64
	orgID    int64
	cands    []geofence.Candidate
	assigned map[string]bool // client IDs
}

// LoadDirectory reads clients, workers, assignments and planned visits.
func LoadDirectory(ctx context.Context, st *store.Store) (*Directory, error) {
	return loadDirectory(ctx, st, &planBook{})
}

// planBook holds the active planned visits by worker and client. The live
// detector's candidates ask it at the time they decide, and a reload
// swaps its contents: a plan edited in the cabinet counts from the next
// decision on, without restarting the device's detection (which would
// forget the fixes of the day so far).
type planBook struct {
	m atomic.Pointer[map[[2]int64]plannedFn]
}

type plannedFn = func(from, to time.Time) bool

func (b *planBook) planned(worker, client int64) plannedFn {
	return func(from, to time.Time) bool {
		m := b.m.Load()
		if m == nil {
			return false
		}
		f := (*m)[[2]int64{worker, client}]
		return f != nil && f(from, to)
	}
}

func loadDirectory(ctx context.Context, st *store.Store, book *planBook) (*Directory, error) {
	clients, err := st.Clients(ctx, 0)
	if err != nil {
		return nil, err
	}
	fences := make(map[int64]*geofence.Geofence, len(clients))
	byOrg := map[int64][]*geofence.Geofence{}
	fenceSig := make(map[string]string, len(clients))
	for _, c := range clients {
		g, err := Fence(c)
		if err != nil {
			continue // a broken geofence must not stop the others; the cabinet validates on save
		}
		fences[c.ID] = g
		byOrg[c.OrgID] = append(byOrg[c.OrgID], g)
		fenceSig[g.ClientID] = fmt.Sprint(g.Center, g.RadiusM, g.Ring)
	}
	as, err := st.Assignments(ctx)
	if err != nil {
		return nil, err
	}
	norms, err := st.MinVisitMinutes(ctx)
	if err != nil {
		return nil, err
	}
	wins, err := st.ActivePlanWindows(ctx)
	if err != nil {
		return nil, err
	}
	plans := map[[2]int64][]store.PlanWindow{}
	for _, w := range wins {
		k := [2]int64{w.WorkerID, w.ClientID}
		plans[k] = append(plans[k], w)
	}
	fns := make(map[[2]int64]plannedFn, len(plans))
	for k, ws := range plans {
		fns[k] = plannedFunc(ws)
	}
	book.m.Store(&fns)
	d := &Directory{byDevice: map[int64]deviceInfo{}, norms: norms, sig: map[int64]string{},
		homes: make(map[int64]*geofence.Index, len(byOrg)), fenceSig: fenceSig}
	for org, gs := range byOrg {
		d.homes[org] = geofence.NewIndex(gs)
	}
	for _, a := range as {
		info := deviceInfo{workerID: a.WorkerID, orgID: a.OrgID, assigned: map[string]bool{}}
		sig := fmt.Sprint(a.WorkerID, a.ClientIDs)
		for _, cid := range a.ClientIDs {
			if g := fences[cid]; g != nil {
				cand := geofence.Candidate{Fence: g, Assigned: true, Planned: book.planned(a.WorkerID, cid)}
				info.cands = append(info.cands, cand)
				info.assigned[g.ClientID] = true
				sig += fmt.Sprint(g.Center, g.RadiusM, len(g.Ring))
			}
		}
		d.byDevice[a.DeviceID] = info
		d.sig[a.DeviceID] = sig
	}
	return d, nil
}

// planGrace widens a planned window: workers come a little early or late
// (the missed-visit check allows 15 minutes; a visit may also run over).
const planGrace = 30 * time.Minute

// plannedFunc reports whether [from, to] overlaps one of the weekly
// windows (local time of the organisation), widened by planGrace.
func plannedFunc(ws []store.PlanWindow) func(from, to time.Time) bool {
	loc, err := time.LoadLocation(ws[0].Timezone)
	if err != nil {
		loc = time.UTC
	}
	return func(from, to time.Time) bool {
		lf, lt := from.Add(-planGrace).In(loc), to.Add(planGrace).In(loc)
		for d := time.Date(lf.Year(), lf.Month(), lf.Day(), 0, 0, 0, 0, loc); !d.After(lt); d = d.AddDate(0, 0, 1) {
			wd := int(d.Weekday())
			if wd == 0 {
				wd = 7 // ISO Sunday
			}
			for _, w := range ws {
				if w.Weekday != wd {
					continue
				}
				// Wall-clock minutes of that day (time.Date normalises),
				// right on days when the clocks change too.
				start := time.Date(d.Year(), d.Month(), d.Day(), 0, w.StartMin, 0, 0, loc)
				end := time.Date(d.Year(), d.Month(), d.Day(), 0, w.EndMin, 0, 0, loc)
				if start.Before(lt) && end.After(lf) {
					return true
				}
			}
		}
		return false
	}
}

// Fence builds a client's home geofence.
func Fence(c store.Client) (*geofence.Geofence, error) {
	id := strconv.FormatInt(c.ID, 10)
	if c.FenceKind == "polygon" {
		ring := make(orb.Ring, len(c.Polygon))
		for i, p := range c.Polygon {
			ring[i] = orb.Point{p[0], p[1]}
		}
		return geofence.NewPolygon(id, ring)
	}
	return geofence.NewCircle(id, c.CenterLat, c.CenterLon, c.RadiusM)
}

// Candidates implements geofence.CandidateFunc.
func (d *Directory) Candidates(deviceID string) (string, []geofence.Candidate, bool) {
	id, err := strconv.ParseInt(deviceID, 10, 64)
	if err != nil {
		return "", nil, false
	}
	info, ok := d.byDevice[id]
	if !ok {
		return "", nil, false
	}
	return strconv.FormatInt(info.workerID, 10), info.cands, true
}

// nearbyM is how far outside a home's geofence a standing device still
// counts as at it, for looking up unassigned homes (the detector's own
// gate, Params.GateM, decides the rest).
const nearbyM = 10

// Nearby implements geofence.NearbyFunc: the homes of the device's
// organisation, not assigned to its worker, at a point. Other
// organisations' clients are never considered.
func (d *Directory) Nearby(deviceID string, lat, lon float64) []*geofence.Geofence {
	id, err := strconv.ParseInt(deviceID, 10, 64)
	if err != nil {
		return nil
	}
	info, ok := d.byDevice[id]
	ix := d.homes[info.orgID]
	if !ok || ix == nil {
		return nil
	}
	var out []*geofence.Geofence
	ix.Near(lat, lon, nearbyM, func(g *geofence.Geofence, _ float64) bool {
		if !info.assigned[g.ClientID] {
			out = append(out, g)
		}
		return true
	})
	return out
}

// ToFix converts a stored position to the detector's fix.
func ToFix(p *store.Position) geofence.Fix {
	f := geofence.Fix{DeviceID: strconv.FormatInt(p.DeviceID, 10), Time: p.FixTime, Lat: p.Lat, Lon: p.Lon,
		Valid: p.Valid, SpeedMS: -1, Source: geofence.SourceTracker}
	if !isNaN32(p.AccuracyM) {
		f.AccuracyM = float64(p.AccuracyM)
	}
	if !isNaN32(p.HDOP) {
		f.HDOP = float64(p.HDOP)
	}
	if p.Sats > 0 {
		f.Sats = int(p.Sats)
	}
	if !isNaN32(p.SpeedKmh) {
		f.SpeedMS = float64(p.SpeedKmh) / 3.6
	}
	if p.Source == "phone" {
		f.Source = geofence.SourcePhone
	}
	// A tracker's cell-tower position has no GPS quality of its own.
	if p.Approximate && f.AccuracyM == 0 {
		f.AccuracyM = 1000
	}
	return f
}

func isNaN32(f float32) bool { return math.IsNaN(float64(f)) }

// toStore converts a detected visit, applying the organisation's norm for
// the short-visit flag (the detector's own norm is a default).
func (d *Directory) toStore(v geofence.Visit) (store.Visit, bool) {
	dev, err1 := strconv.ParseInt(v.DeviceID, 10, 64)
	client, err2 := strconv.ParseInt(v.ClientID, 10, 64)
	if err1 != nil || err2 != nil {
		return store.Visit{}, false
	}
	info := d.byDevice[dev]
	sv := store.Visit{OrgID: info.orgID, DeviceID: dev, WorkerID: info.workerID, ClientID: client, Start: v.Start,
		LastSeen: v.End, DurationS: int(v.Duration().Seconds())}
	if !v.Open {
		sv.End = v.End
	}
	flags := v.Flags &^ geofence.Flags(geofence.FlagShort)
	if norm, ok := d.norms[info.orgID]; ok && !v.Open && v.Duration() < time.Duration(norm)*time.Minute {
		flags |= geofence.Flags(geofence.FlagShort)
	}
	sv.Flags = flags.Names()
	sv.Evidence, _ = json.Marshal(evidenceJSON(v.Evidence))
	return sv, true
}

func evidenceJSON(e geofence.Evidence) map[string]any {
	m := map[string]any{"fixes": e.Fixes, "inside": e.Inside, "good_gps": e.GoodGPS, "approximate": e.Approx,
		"heartbeats": e.Heartbeats, "rejected": e.Rejected, "tracker": e.Tracker, "phone": e.Phone,
		"max_gap_s": math.Round(e.MaxGapS), "gaps": e.Gaps, "median_dist_m": math.Round(e.MedianDistM*10) / 10}
	if id, err := strconv.ParseInt(e.Neighbour, 10, 64); err == nil {
		m["neighbour_id"] = id // a client of the same organisation (a candidate of the device)
		m["neighbour_margin"] = e.NeighbourMargin
	}
	return m
}

// Tracker is the live path: it consumes committed batches, runs the
// detector and stores the visits of devices whose visits changed.
type Tracker struct {
	st     *store.Store
	log    *slog.Logger
	params geofence.Params
	in     chan []store.Position

	mu    sync.Mutex
	dir   *Directory
	plans *planBook // shared by every directory this tracker loads
	det   *geofence.Detector
	dirty map[int64]time.Time // device -> earliest start touched

	subMu sync.Mutex
	subs  []chan Event
}

// NewTracker loads the directory and prepares the detector.
func NewTracker(ctx context.Context, st *store.Store, p geofence.Params, log *slog.Logger) (*Tracker, error) {
	plans := &planBook{}
	dir, err := loadDirectory(ctx, st, plans)
	if err != nil {
		return nil, err
	}
	t := &Tracker{st: st, log: log, params: p, in: make(chan []store.Position, 64), dir: dir, plans: plans,
		dirty: map[int64]time.Time{}}
	t.det = geofence.NewDetector(p, t.candidates, 0)
	t.det.SetNearby(t.nearby)
	return t, nil
}

func (t *Tracker) nearby(dev string, lat, lon float64) []*geofence.Geofence {
	// Called from Add, under t.mu like candidates.
	return t.dir.Nearby(dev, lat, lon)
}

func (t *Tracker) candidates(dev string) (string, []geofence.Candidate, bool) {
	// Called by the detector under its own lock; the directory pointer is
	// swapped under t.mu, which Add's caller already holds.
	return t.dir.Candidates(dev)
}

// Subscribe returns a channel of visit events. A slow subscriber misses
// events rather than slowing detection.
func (t *Tracker) Subscribe() <-chan Event {
	ch := make(chan Event, 256)
	t.subMu.Lock()
	t.subs = append(t.subs, ch)
	t.subMu.Unlock()
	return ch
}

// Committed is given to ingest: it hands the batch to the tracker's
// goroutine. It blocks when detection falls behind (backpressure to the
// writers, never a dropped batch).
func (t *Tracker) Committed(ps []store.Position) {
	t.in <- slices.Clone(ps)
}

// Run consumes batches until ctx ends, storing visits every second and
// reloading the directory every 30 s.
func (t *Tracker) Run(ctx context.Context) {
	flush := time.NewTicker(time.Second)
	reload := time.NewTicker(30 * time.Second)
	defer flush.Stop()
	defer reload.Stop()
	for {
		select {
		case <-ctx.Done():
			// Drain what the writers handed over before they stopped.
			for {
				select {
				case ps := <-t.in:
					t.feed(ps)
					continue
				default:
				}
				break
			}
			t.flush(context.WithoutCancel(ctx))
			return
		case ps := <-t.in:
			t.feed(ps)
		case <-flush.C:
			t.flush(ctx)
		case <-reload.C:
			t.Reload(ctx)
		}
	}
}

// Reload re-reads assignments and geofences; devices whose candidates
// changed start afresh (their next fixes are judged against the new homes).
func (t *Tracker) Reload(ctx context.Context) {
	dir, err := loadDirectory(ctx, t.st, t.plans)
	if err != nil {
		t.log.Warn("visit directory reload", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.dir
	t.dir = dir
	for dev, sig := range dir.sig {
		if old.sig[dev] != sig {
			// The same worker's clients changed: judge the day's fixes
			// again (a visit in progress keeps its start). Another
			// worker: Refresh starts the device afresh.
			t.handle(dev, t.det.Refresh(strconv.FormatInt(dev, 10)))
		}
	}
	for dev := range old.sig {
		if _, ok := dir.sig[dev]; !ok {
			t.det.Forget(strconv.FormatInt(dev, 10)) // no longer carried by a worker
		}
	}
	// Homes of other clients that devices picked up as unassigned
	// candidates: archived, moved or redrawn ones are dropped or redrawn.
	changed := func(id string) bool { return old.fenceSig[id] != dir.fenceSig[id] }
	for id, evs := range t.det.RefreshNearby(changed) {
		if dev, err := strconv.ParseInt(id, 10, 64); err == nil {
			t.handle(dev, evs)
		}
	}
}

// handle publishes a device's visit events and marks its visits for the
// next flush, from the earliest start they touch. Call with t.mu held.
func (t *Tracker) handle(dev int64, evs []geofence.Event) {
	for _, ev := range evs {
		first, ok := t.dirty[dev]
		if start := ev.Visit.Start; !ok || start.Before(first) {
			t.dirty[dev] = start
		}
		t.publish(ev)
	}
}

func (t *Tracker) feed(ps []store.Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range ps {
		t.handle(ps[i].DeviceID, t.det.Add(ToFix(&ps[i])))
	}
}

func (t *Tracker) publish(ev geofence.Event) {
	sv, ok := t.dir.toStore(ev.Visit)
	if !ok {
		return
	}
	e := Event{Kind: ev.Kind.String(), DeviceID: sv.DeviceID, WorkerID: sv.WorkerID, ClientID: sv.ClientID,
		OrgID: sv.OrgID, Start: sv.Start, End: sv.End, Flags: sv.Flags}
	if ev.Kind == geofence.FlagRaised {
		e.Flag = geofence.Flags(ev.Flag).String()
	}
	t.subMu.Lock()
	for _, ch := range t.subs {
		select {
		case ch <- e:
		default:
		}
	}
	t.subMu.Unlock()
}

// flush stores the visits of the devices touched since the last flush: the
// device's visits from the earliest touched start on are replaced with what
// the detector now says.
func (t *Tracker) flush(ctx context.Context) {
	t.mu.Lock()
	type job struct {
		dev  int64
		from time.Time
		vs   []store.Visit
	}
	var jobs []job
	for dev, from := range t.dirty {
		var vs []store.Visit
		for _, v := range t.det.Visits(strconv.FormatInt(dev, 10)) {
			if v.End.Before(from) {
				continue
			}
			if v.Start.Before(from) {
				from = v.Start
			}
			if sv, ok := t.dir.toStore(v); ok {
				vs = append(vs, sv)
			}
		}
		jobs = append(jobs, job{dev, from, vs})
		delete(t.dirty, dev)
	}
	t.mu.Unlock()
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, j := range jobs {
		if err := t.st.ReplaceVisits(ctx, j.dev, j.from, far, j.vs); err != nil {
			t.log.Warn("store visits", "device", j.dev, "err", err)
			t.mu.Lock()
			if f, ok := t.dirty[j.dev]; !ok || j.from.Before(f) {
				t.dirty[j.dev] = j.from // retry next flush
			}
			t.mu.Unlock()
		}
	}
}

// Recompute re-runs detection over stored positions with from <= start < to
// (all devices with fixes then, or one) and replaces the stored visits of
// that span: after a geofence was corrected, say. Fixes up to MaxSilence
// either side are read so that visits crossing the edges come out whole.
func Recompute(ctx context.Context, st *store.Store, p geofence.Params, from, to time.Time, device int64) (int, error) {
	dir, err := LoadDirectory(ctx, st)
	if err != nil {
		return 0, err
	}
	devs := []int64{device}
	if device == 0 {
		if devs, err = st.DevicesWithPositions(ctx, from, to); err != nil {
			return 0, err
		}
	}
	margin := p.MaxSilence
	total := 0
	for _, dev := range devs {
		ps, err := st.PositionsBetween(ctx, dev, from.Add(-margin), to.Add(margin))
		if err != nil {
			return total, err
		}
		fixes := make([]geofence.Fix, len(ps))
		for i := range ps {
			fixes[i] = ToFix(&ps[i])
		}
		id := strconv.FormatInt(dev, 10)
		worker, cands, ok := dir.Candidates(id)
		if !ok {
			continue
		}
		cands = geofence.AddNearby(cands, fixes, func(lat, lon float64) []*geofence.Geofence {
			return dir.Nearby(id, lat, lon)
		}, p)
		var vs []store.Visit
		for _, v := range geofence.DetectDevice(strconv.FormatInt(dev, 10), worker, fixes, cands, p) {
			if v.Start.Before(to) && v.End.After(from) {
				if sv, ok := dir.toStore(v); ok {
					vs = append(vs, sv)
				}
			}
		}
		if err := st.ReplaceVisits(ctx, dev, from, to, vs); err != nil {
			return total, err
		}
		total += len(vs)
	}
	return total, nil
}
