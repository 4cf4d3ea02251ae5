package tracking_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"carevisit/geofence"
	"carevisit/internal/pgtest"
	"carevisit/store"
	"carevisit/tracking"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const homeLat, homeLon = 54.62920, 39.74210

type world struct {
	st             *store.Store
	org, dev, cli  int64
	worker, client int64
}

func setup(t *testing.T) world {
	t.Helper()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	org, err := st.AddOrganisation(ctx, "ЦСО", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := st.AddDevice(ctx, store.Device{OrgID: org, Ident: "864717003283581", Protocol: "gt06"})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := st.AddClient(ctx, store.Client{OrgID: org, FullName: "Иванова А. П.", FenceKind: "circle",
		CenterLat: homeLat, CenterLon: homeLon, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.AddWorker(ctx, store.Worker{OrgID: org, FullName: "Соколова Е. В.", DeviceID: dev})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AssignClient(ctx, w, cli); err != nil {
		t.Fatal(err)
	}
	return world{st: st, org: org, dev: dev, cli: cli, worker: w, client: cli}
}

// day: walk in from 600 m north over 8 minutes, stay 25 minutes, walk out.
func day(dev int64, t0 time.Time) (ps []store.Position, arrive, leave time.Time) {
	return dayAt(dev, t0, homeLat, homeLon)
}

// dayAt is day at another home.
func dayAt(dev int64, t0 time.Time, lat0, lon0 float64) (ps []store.Position, arrive, leave time.Time) {
	add := func(t time.Time, northM float64, speedKmh float32) {
		ps = append(ps, store.Position{DeviceID: dev, FixTime: t, RecvTime: t, Lat: lat0 + northM/111320,
			Lon: lon0 + 3*math.Sin(float64(len(ps)))/70000, Valid: true, AccuracyM: store.NaN32,
			SpeedKmh: speedKmh, Course: store.NaN32, AltitudeM: store.NaN32, Sats: 8, HDOP: 1.2, Battery: -1,
			Source: "tracker"})
	}
	t := t0
	for d := 600.0; d > 0; d -= 1.3 * 20 {
		add(t, d, 4.7)
		t = t.Add(20 * time.Second)
	}
	arrive = t
	for i := 0; i < 50; i++ { // 25 minutes inside, fixes 30 s apart, a few metres of noise
		add(t, 4*math.Cos(float64(i)), 0.4)
		t = t.Add(30 * time.Second)
	}
	leave = t
	for d := 26.0; d < 600; d += 1.3 * 20 {
		add(t, d, 4.7)
		t = t.Add(20 * time.Second)
	}
	return ps, arrive, leave
}

func near(a, b time.Time, tol time.Duration) bool {
	d := a.Sub(b)
	return d <= tol && d >= -tol
}

func TestLiveAndRecompute(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ps, arrive, leave := day(w.dev, t0)

	tr, err := tracking.NewTracker(ctx, w.st, geofence.DefaultParams(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	events := tr.Subscribe()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { tr.Run(rctx); close(done) }()
	// Late upload: the second half of the day arrives first, then the buffer.
	half := len(ps) / 2
	tr.Committed(ps[half:])
	tr.Committed(ps[:half])
	cancel()
	<-done

	check := func(label string) {
		t.Helper()
		vs, err := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 {
			t.Fatalf("%s: %d visits stored, want 1: %+v", label, len(vs), vs)
		}
		v := vs[0]
		if v.ClientID != w.client || v.WorkerID != w.worker || v.DeviceID != w.dev {
			t.Errorf("%s: visit of client %d worker %d device %d, want %d %d %d", label, v.ClientID, v.WorkerID, v.DeviceID, w.client, w.worker, w.dev)
		}
		if !near(v.Start, arrive, 90*time.Second) || !near(v.End, leave, 90*time.Second) {
			t.Errorf("%s: visit %v .. %v, want about %v .. %v", label, v.Start, v.End, arrive, leave)
		}
		if len(v.Flags) != 0 {
			t.Errorf("%s: flags %v on a 25-minute visit with good GPS (norm 15 min)", label, v.Flags)
		}
	}
	check("live, late upload")

	var kinds []string
	for len(events) > 0 {
		kinds = append(kinds, (<-events).Kind)
	}
	if len(kinds) == 0 || kinds[0] != "visit_started" {
		t.Errorf("events %v, want visit_started first", kinds)
	}

	// Recompute over stored positions gives the same visit, and replaces
	// rather than duplicates it.
	var b store.PositionBatch
	for i := range ps {
		b.Add(&ps[i])
	}
	if _, err := w.st.InsertPositions(ctx, &b); err != nil {
		t.Fatal(err)
	}
	n, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), t0.Add(-time.Hour), t0.Add(3*time.Hour), 0)
	if err != nil || n != 1 {
		t.Fatalf("recompute: %d visits, %v", n, err)
	}
	check("recompute")

	// A short visit under the organisation's norm is flagged.
	if _, err := w.st.Pool.Exec(ctx, `UPDATE organisations SET min_visit_minutes = 40`); err != nil {
		t.Fatal(err)
	}
	if _, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), t0.Add(-time.Hour), t0.Add(3*time.Hour), w.dev); err != nil {
		t.Fatal(err)
	}
	vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if len(vs) != 1 || len(vs[0].Flags) != 1 || vs[0].Flags[0] != "short" {
		t.Errorf("visits after raising the norm to 40 min: %+v, want one flagged short", vs)
	}
}

// A visit to a client of the organisation who is not assigned to the
// worker (a substitute visit) is stored and flagged; a client of another
// organisation at the same address is never considered.
func TestUnassignedVisit(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	uLat, uLon := homeLat+0.004, homeLon+0.004 // ~500 m from the assigned home
	other, err := w.st.AddClient(ctx, store.Client{OrgID: w.org, FullName: "Петров И. И.", FenceKind: "circle",
		CenterLat: uLat, CenterLon: uLon, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	org2, err := w.st.AddOrganisation(ctx, "ЦСО-2", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.AddClient(ctx, store.Client{OrgID: org2, FullName: "Чужой К. К.", FenceKind: "circle",
		CenterLat: uLat, CenterLon: uLon + 0.0002, RadiusM: 60}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ps, arrive, leave := dayAt(w.dev, t0, uLat, uLon)

	tr, stop := startTracker(t, w.st)
	events := tr.Subscribe()
	tr.Committed(ps)
	stop()

	check := func(label string) {
		t.Helper()
		vs, err := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 {
			t.Fatalf("%s: %d visits stored, want 1: %+v", label, len(vs), vs)
		}
		v := vs[0]
		if v.ClientID != other || v.WorkerID != w.worker || !slices.Contains(v.Flags, "unassigned") {
			t.Errorf("%s: visit of client %d by worker %d flags %v, want client %d by %d flagged unassigned",
				label, v.ClientID, v.WorkerID, v.Flags, other, w.worker)
		}
		if !near(v.Start, arrive, 90*time.Second) || !near(v.End, leave, 90*time.Second) {
			t.Errorf("%s: visit %v .. %v, want about %v .. %v", label, v.Start, v.End, arrive, leave)
		}
		var foreign int
		if err := w.st.Pool.QueryRow(ctx, `SELECT count(*) FROM visits v JOIN clients c ON c.id = v.client_id WHERE c.org_id = $1`, org2).Scan(&foreign); err != nil || foreign != 0 {
			t.Errorf("%s: %d visits stored to the other organisation's client (%v)", label, foreign, err)
		}
	}
	check("live")
	raised := false
	for len(events) > 0 {
		ev := <-events
		raised = raised || (ev.Kind == "flag_raised" && ev.Flag == "unassigned" && ev.ClientID == other)
	}
	if !raised {
		t.Error("no flag_raised event for the unassigned visit")
	}

	storePositions(t, w.st, ps)
	if _, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), t0.Add(-time.Hour), t0.Add(3*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	check("recompute")
}

// Recomputing a period after a client was archived keeps the visits made
// to them: the detector no longer knows the home, the history stays.
func TestRecomputeKeepsArchivedClientsVisits(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ps, _, _ := day(w.dev, t0)
	storePositions(t, w.st, ps)
	from, to := t0.Add(-time.Hour), t0.Add(3*time.Hour)
	if n, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), from, to, 0); err != nil || n != 1 {
		t.Fatalf("recompute: %d visits, %v", n, err)
	}
	before, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if err := w.st.ArchiveClient(ctx, store.Scope{OrgID: w.org, Role: store.RoleAdmin}, w.client, "переехала"); err != nil {
		t.Fatal(err)
	}
	if n, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), from, to, 0); err != nil || n != 0 {
		t.Fatalf("recompute after archiving: %d visits detected, %v; want 0 (the home is no longer known)", n, err)
	}
	after, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if len(before) != 1 || len(after) != 1 || after[0].ID != before[0].ID || !after[0].Start.Equal(before[0].Start) {
		t.Errorf("visits before %+v, after archiving and recomputing %+v: want the same one kept", before, after)
	}
}

// The planned visit breaks the tie between two neighbours whose homes the
// fixes fit equally: whichever client the fixes alone give, planning the
// other one for that hour gives it the visit.
func TestPlanBreaksNeighbourTie(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	dLon := 12 / (111320 * math.Cos(homeLat*math.Pi/180)) // 12 m east
	nb, err := w.st.AddClient(ctx, store.Client{OrgID: w.org, FullName: "Соседка Н. Н.", FenceKind: "circle",
		CenterLat: homeLat, CenterLon: homeLon + dLon, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.AssignClient(ctx, w.worker, nb); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 18, 7, 0, 0, 0, time.UTC) // Wednesday 10:00 in Moscow
	ps, arrive, _ := dayAt(w.dev, t0, homeLat, homeLon+dLon/2)
	storePositions(t, w.st, ps)
	client := func(label string) int64 {
		t.Helper()
		if _, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), t0.Add(-time.Hour), t0.Add(3*time.Hour), 0); err != nil {
			t.Fatal(err)
		}
		vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
		if len(vs) != 1 {
			t.Fatalf("%s: %d visits, want 1: %+v", label, len(vs), vs)
		}
		return vs[0].ClientID
	}
	first := client("no plan")
	other := nb
	if first == nb {
		other = w.client
	}
	// A toss-up between neighbours 12 m apart: the evidence names the other.
	vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	var ev struct {
		Neighbour int64 `json:"neighbour_id"`
	}
	if err := json.Unmarshal(vs[0].Evidence, &ev); err != nil || ev.Neighbour != other {
		t.Errorf("evidence %s: want neighbour_id %d", vs[0].Evidence, other)
	}
	sc := store.Scope{OrgID: w.org, Role: store.RoleAdmin}
	if _, err := w.st.SavePlan(ctx, sc, store.Plan{ClientID: other, WorkerID: w.worker, Weekday: 3, StartMin: 600, EndMin: 660, Active: true}); err != nil {
		t.Fatal(err)
	}
	if got := client("planned"); got != other {
		t.Errorf("with client %d planned at 10:00-11:00 the visit went to %d", other, got)
	}
	// A plan on another weekday does not count.
	if _, err := w.st.Pool.Exec(ctx, `UPDATE planned_visits SET weekday = 4`); err != nil {
		t.Fatal(err)
	}
	if got := client("planned on Thursday"); got != first {
		t.Errorf("a Thursday plan moved Wednesday's visit to %d", got)
	}

	// Live: a plan edited in the cabinet counts after the next reload,
	// without restarting the device's detection.
	tr, stop := startTracker(t, w.st)
	tr.Committed(ps[:len(ps)/2])
	if _, err := w.st.Pool.Exec(ctx, `UPDATE planned_visits SET weekday = 3`); err != nil {
		t.Fatal(err)
	}
	tr.Reload(ctx)
	tr.Committed(ps[len(ps)/2:])
	stop()
	vs, _ = w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if len(vs) != 1 || vs[0].ClientID != other || !near(vs[0].Start, arrive, 90*time.Second) {
		t.Errorf("live, plan moved to Wednesday mid-stream: %+v, want one visit to %d from about %v", vs, other, arrive)
	}
}

// A client assigned to the worker during a visit (the directory reloads
// every 30 s) does not cut the visit in progress: the day's fixes are
// judged again, not forgotten.
func TestAssignmentChangeKeepsVisitStart(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ps, arrive, leave := day(w.dev, t0)
	tr, stop := startTracker(t, w.st)
	tr.Committed(ps[:len(ps)/2]) // mid-visit
	far, err := w.st.AddClient(ctx, store.Client{OrgID: w.org, FullName: "Новая Н. Н.", FenceKind: "circle",
		CenterLat: homeLat + 0.01, CenterLon: homeLon, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.AssignClient(ctx, w.worker, far); err != nil {
		t.Fatal(err)
	}
	tr.Reload(ctx)
	tr.Committed(ps[len(ps)/2:])
	stop()
	vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if len(vs) != 1 || vs[0].ClientID != w.client || !near(vs[0].Start, arrive, 90*time.Second) || !near(vs[0].End, leave, 90*time.Second) {
		t.Errorf("visits %+v, want one to client %d from about %v to %v", vs, w.client, arrive, leave)
	}
}

// An unassigned home a device picked up leaves its detection when the
// client is archived: a later stay there is no visit, the earlier visit
// stays on record.
func TestArchivedNearbyHomeLeavesLiveDetection(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	uLat, uLon := homeLat+0.004, homeLon+0.004
	u, err := w.st.AddClient(ctx, store.Client{OrgID: w.org, FullName: "Петров И. И.", FenceKind: "circle",
		CenterLat: uLat, CenterLon: uLon, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-5 * time.Hour)
	morning, _, _ := dayAt(w.dev, t0, uLat, uLon)
	afternoon, _, _ := dayAt(w.dev, t0.Add(2*time.Hour), uLat, uLon)
	tr, stop := startTracker(t, w.st)
	tr.Committed(morning)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) { // the flush runs every second
		if vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org}); len(vs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the morning's visit was not stored within 5 s")
		}
	}
	if err := w.st.ArchiveClient(ctx, store.Scope{OrgID: w.org, Role: store.RoleAdmin}, u, "переехал"); err != nil {
		t.Fatal(err)
	}
	tr.Reload(ctx)
	tr.Committed(afternoon)
	stop()
	vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if len(vs) != 1 || vs[0].ClientID != u || !vs[0].Start.Before(t0.Add(time.Hour)) {
		t.Errorf("visits %+v: want only the morning's unassigned visit to the (now archived) client %d", vs, u)
	}
}

// Archiving a client whose neighbour's geofence covers the same flat: a
// recompute gives the stay to the neighbour, but the visit on record to
// the archived client already covers it, so it is not stored twice.
func TestArchivedVisitNotDuplicatedOnNeighbour(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	dLon := 25 / (111320 * math.Cos(homeLat*math.Pi/180))
	nb, err := w.st.AddClient(ctx, store.Client{OrgID: w.org, FullName: "Соседка Н. Н.", FenceKind: "circle",
		CenterLat: homeLat, CenterLon: homeLon + dLon, RadiusM: 60})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.AssignClient(ctx, w.worker, nb); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ps, _, _ := day(w.dev, t0)
	storePositions(t, w.st, ps)
	from, to := t0.Add(-time.Hour), t0.Add(3*time.Hour)
	if _, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), from, to, 0); err != nil {
		t.Fatal(err)
	}
	if vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org}); len(vs) != 1 || vs[0].ClientID != w.client {
		t.Fatalf("before archiving: %+v, want one visit to %d", vs, w.client)
	}
	if err := w.st.ArchiveClient(ctx, store.Scope{OrgID: w.org, Role: store.RoleAdmin}, w.client, "умерла"); err != nil {
		t.Fatal(err)
	}
	if n, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), from, to, 0); err != nil || n != 1 {
		t.Fatalf("recompute after archiving: %d visits detected (%v), want 1 (the neighbour's fence covers the flat)", n, err)
	}
	if vs, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org}); len(vs) != 1 || vs[0].ClientID != w.client {
		t.Errorf("after archiving and recomputing: %+v, want only the visit on record to %d", vs, w.client)
	}
}

// A tracker given to another worker: recomputing the period before keeps
// the visits as the first worker's, neither moved to the new worker nor
// stored twice.
func TestRecomputeKeepsPreviousWorkersVisits(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ps, _, _ := day(w.dev, t0)
	storePositions(t, w.st, ps)
	from, to := t0.Add(-time.Hour), t0.Add(3*time.Hour)
	if _, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), from, to, 0); err != nil {
		t.Fatal(err)
	}
	before, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	// The tracker goes to a colleague who serves the same client.
	if _, err := w.st.Pool.Exec(ctx, `UPDATE workers SET device_id = NULL WHERE id = $1`, w.worker); err != nil {
		t.Fatal(err)
	}
	next, err := w.st.AddWorker(ctx, store.Worker{OrgID: w.org, FullName: "Новикова Н. Н.", DeviceID: w.dev})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.AssignClient(ctx, next, w.client); err != nil {
		t.Fatal(err)
	}
	if _, err := tracking.Recompute(ctx, w.st, geofence.DefaultParams(), from, to, 0); err != nil {
		t.Fatal(err)
	}
	after, _ := w.st.Visits(ctx, store.VisitFilter{OrgID: w.org})
	if len(before) != 1 || len(after) != 1 || after[0].ID != before[0].ID || after[0].WorkerID != w.worker {
		t.Errorf("before %+v\nafter the tracker moved and a recompute %+v\nwant the same visit, still worker %d's", before, after, w.worker)
	}
}

// startTracker runs a live tracker; stop ends it after it has stored what
// it was given.
func startTracker(t *testing.T, st *store.Store) (tr *tracking.Tracker, stop func()) {
	t.Helper()
	tr, err := tracking.NewTracker(context.Background(), st, geofence.DefaultParams(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	return tr, func() { cancel(); <-done }
}

// storePositions stores positions as the ingest pipeline would.
func storePositions(t *testing.T, st *store.Store, ps []store.Position) {
	t.Helper()
	var b store.PositionBatch
	for i := range ps {
		b.Add(&ps[i])
	}
	if _, err := st.InsertPositions(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}
