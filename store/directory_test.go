package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"carevisit/internal/pgtest"
	"carevisit/store"
)

// dirFixture: an organisation in Moscow time with a worker holding a
// device and a client.
type dirFixture struct {
	st                   *store.Store
	org, dev, wrk, cli   int64
	sc                   store.Scope
	cook, shop, withNorm int64
}

func newDirFixture(t *testing.T) dirFixture {
	t.Helper()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	f := dirFixture{st: st}
	var err error
	f.org, err = st.AddOrganisation(ctx, "ЦСО", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	f.sc = store.Scope{OrgID: f.org}
	f.dev, _ = st.AddDevice(ctx, store.Device{OrgID: f.org, Ident: "864717003283581", Protocol: "gt06"})
	f.wrk, err = st.AddWorker(ctx, store.Worker{OrgID: f.org, FullName: "Соколова", DeviceID: f.dev})
	if err != nil {
		t.Fatal(err)
	}
	f.cli, err = st.AddClient(ctx, store.Client{OrgID: f.org, FullName: "Иванова", FenceKind: "circle", CenterLat: 54.6, CenterLon: 39.7, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	f.cook, err = st.SaveService(ctx, f.sc, store.Service{Name: "Приготовление пищи", NormMinutes: 30, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	f.shop, _ = st.SaveService(ctx, f.sc, store.Service{Name: "Покупка продуктов", NormMinutes: 20, Active: true})
	f.withNorm, _ = st.SaveService(ctx, f.sc, store.Service{Name: "Беседа", NormMinutes: 0, Active: true})
	return f
}

func TestDetectMissed(t *testing.T) {
	ctx := context.Background()
	f := newDirFixture(t)
	st := f.st
	msk, _ := time.LoadLocation("Europe/Moscow")
	// Monday 16 Nov 2026 and Tuesday 17 Nov, 10:00-11:00 Moscow time.
	mon := time.Date(2026, 11, 16, 10, 0, 0, 0, msk)
	planMon, err := st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 1, StartMin: 600, EndMin: 660,
		ServiceIDs: []int64{f.cook}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	planTue, _ := st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 2, StartMin: 600, EndMin: 660, Active: true})
	// Plans made the Thursday before: earlier windows do not count.
	st.Pool.Exec(ctx, `UPDATE planned_visits SET created_at = $1`, mon.AddDate(0, 0, -4))

	// Tuesday's visit starts 10 minutes after the window ends: within the grace.
	tue := mon.AddDate(0, 0, 1)
	v := store.Visit{OrgID: f.org, DeviceID: f.dev, WorkerID: f.wrk, ClientID: f.cli, Start: tue.Add(70 * time.Minute),
		End: tue.Add(100 * time.Minute), LastSeen: tue.Add(100 * time.Minute), DurationS: 1800}
	if err := st.ReplaceVisits(ctx, f.dev, v.Start, v.End, []store.Visit{v}); err != nil {
		t.Fatal(err)
	}

	// Monday 11:10: the window ended but the grace has not passed.
	if n, err := st.DetectMissed(ctx, mon.Add(70*time.Minute)); err != nil || n != 0 {
		t.Fatalf("within the grace: n=%d err=%v, want 0", n, err)
	}
	now := tue.Add(3 * time.Hour)
	n, err := st.DetectMissed(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("DetectMissed = %d, %v; want 1 (Monday only)", n, err)
	}
	ms, err := st.MissedVisits(ctx, f.sc, 0, 0, mon.AddDate(0, 0, -7))
	if err != nil || len(ms) != 1 {
		t.Fatalf("missed = %+v, %v", ms, err)
	}
	if ms[0].PlanID != planMon || !ms[0].Start.Equal(mon) || !ms[0].End.Equal(mon.Add(time.Hour)) {
		t.Errorf("missed window %+v, want plan %d at %v", ms[0], planMon, mon)
	}
	var key string
	if err := st.Pool.QueryRow(ctx, `SELECT dedup_key FROM alerts WHERE kind = 'missed_visit' AND org_id = $1`, f.org).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if want := "planned:" + itoa(planMon) + ":2026-11-16T07:00:00Z"; key != want {
		t.Errorf("alert dedup key %q, want %q", key, want)
	}
	// Running again adds nothing.
	if n, err := st.DetectMissed(ctx, now.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("second run: n=%d err=%v, want 0", n, err)
	}
	// A week later: only the new Monday window is missed (Tuesday had its
	// visit; the old Monday is recorded already).
	if n, _ := st.DetectMissed(ctx, mon.AddDate(0, 0, 7).Add(2*time.Hour)); n != 1 {
		t.Errorf("next week: n=%d, want 1", n)
	}
	if ms, _ := st.MissedVisits(ctx, f.sc, 0, 0, time.Time{}); len(ms) != 2 || ms[0].PlanID != planMon || ms[1].PlanID != planMon {
		t.Errorf("missed after two weeks: %+v, want two Mondays of plan %d and no Tuesday (plan %d)", ms, planMon, planTue)
	}
}

func itoa(n int64) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestDetectMissedSkipsNewAndInactivePlans(t *testing.T) {
	ctx := context.Background()
	f := newDirFixture(t)
	msk, _ := time.LoadLocation("Europe/Moscow")
	mon := time.Date(2026, 11, 16, 10, 0, 0, 0, msk)
	id, _ := f.st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 1, StartMin: 600, EndMin: 660, Active: true})
	f.st.Pool.Exec(ctx, `UPDATE planned_visits SET created_at = $1`, mon.Add(time.Hour)) // made after the window
	if n, _ := f.st.DetectMissed(ctx, mon.Add(5*time.Hour)); n != 0 {
		t.Errorf("window before the plan existed flagged: n=%d", n)
	}
	f.st.Pool.Exec(ctx, `UPDATE planned_visits SET created_at = $1, active = false WHERE id = $2`, mon.AddDate(0, -1, 0), id)
	if n, _ := f.st.DetectMissed(ctx, mon.Add(5*time.Hour)); n != 0 {
		t.Errorf("inactive plan flagged: n=%d", n)
	}
}

func TestShortNorm(t *testing.T) {
	ctx := context.Background()
	f := newDirFixture(t)
	other, _ := f.st.AddOrganisation(ctx, "Другой", "Europe/Moscow")
	foreign, _ := f.st.SaveService(ctx, store.Scope{OrgID: other}, store.Service{Name: "Долгая", NormMinutes: 300, Active: true})
	for _, tc := range []struct {
		name     string
		services []int64
		want     int
	}{
		{"cooking and shopping: the larger norm", []int64{f.shop, f.cook}, 30},
		{"nothing planned: organisation minimum", nil, 15},
		{"only services without a norm: organisation minimum", []int64{f.withNorm}, 15},
		{"another organisation's service is ignored", []int64{f.shop, foreign}, 20},
	} {
		got, err := f.st.ShortNorm(ctx, f.org, f.cli, tc.services)
		if err != nil || got != tc.want {
			t.Errorf("%s: ShortNorm = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := f.st.ShortNorm(ctx, other, f.cli, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another organisation's client: err = %v, want ErrNotFound", err)
	}
}

func TestPlannedServicesAt(t *testing.T) {
	ctx := context.Background()
	f := newDirFixture(t)
	msk, _ := time.LoadLocation("Europe/Moscow")
	mon := time.Date(2026, 11, 16, 10, 0, 0, 0, msk)
	f.st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 1, StartMin: 600, EndMin: 660,
		ServiceIDs: []int64{f.cook, f.shop}, Active: true})
	got, err := f.st.PlannedServicesAt(ctx, f.org, f.cli, mon.Add(20*time.Minute), mon.Add(50*time.Minute))
	if err != nil || len(got) != 2 {
		t.Fatalf("in the window: %v, %v", got, err)
	}
	if got, _ := f.st.PlannedServicesAt(ctx, f.org, f.cli, mon.Add(3*time.Hour), mon.Add(4*time.Hour)); len(got) != 0 {
		t.Errorf("outside the window: %v", got)
	}
}

func TestSaveWorkerScope(t *testing.T) {
	ctx := context.Background()
	f := newDirFixture(t)
	g1, _ := f.st.SaveGroup(ctx, f.sc, store.DirGroup{Name: "Север"})
	g2, _ := f.st.SaveGroup(ctx, f.sc, store.DirGroup{Name: "Юг"})
	sup := store.Scope{OrgID: f.org, Role: store.RoleSupervisor, Groups: []int64{g1}}
	if _, err := f.st.SaveWorker(ctx, sup, store.DirWorker{FullName: "x", GroupID: g2}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("supervisor saving into another group: %v, want ErrNotFound", err)
	}
	id, err := f.st.SaveWorker(ctx, f.sc, store.DirWorker{FullName: "Новикова", GroupID: g1, ClientIDs: []int64{f.cli}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.SaveWorker(ctx, f.sc, store.DirWorker{ID: id, FullName: "Новикова", GroupID: g1, DeviceID: f.dev}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("device held by another worker: %v, want ErrDuplicate", err)
	}
	ws, _ := f.st.DirWorkers(ctx, sup)
	if len(ws) != 1 || ws[0].ID != id || len(ws[0].ClientIDs) != 1 {
		t.Errorf("supervisor sees %+v, want only worker %d with its client", ws, id)
	}
	cs, _ := f.st.DirClients(ctx, sup)
	if len(cs) != 1 || cs[0].ID != f.cli {
		t.Errorf("supervisor sees clients %+v", cs)
	}
	var n int
	f.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity = 'worker' AND entity_id = $1`, id).Scan(&n)
	if n != 1 {
		t.Errorf("audit rows for the worker: %d, want 1", n)
	}
}
