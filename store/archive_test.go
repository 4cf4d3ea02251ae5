package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"carevisit/store"
)

// archiveFixture is the directory fixture with the client assigned and a
// Monday 10:00-11:00 plan (made a month before the Monday checked).
type archiveFixture struct {
	dirFixture
	plan int64
	mon  time.Time
}

func newArchiveFixture(t *testing.T) archiveFixture {
	t.Helper()
	ctx := context.Background()
	f := archiveFixture{dirFixture: newDirFixture(t)}
	if err := f.st.AssignClient(ctx, f.wrk, f.cli); err != nil {
		t.Fatal(err)
	}
	msk, _ := time.LoadLocation("Europe/Moscow")
	f.mon = time.Date(2026, 11, 16, 10, 0, 0, 0, msk)
	var err error
	f.plan, err = f.st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 1, StartMin: 600, EndMin: 660,
		ServiceIDs: []int64{f.cook}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, `UPDATE planned_visits SET created_at = $1`, f.mon.AddDate(0, -1, 0))
	return f
}

func (f archiveFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.st.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

func (f archiveFixture) planActive(t *testing.T) bool {
	t.Helper()
	p, err := f.st.PlanByID(context.Background(), f.sc, f.plan)
	if err != nil {
		t.Fatal(err)
	}
	return p.Active
}

// lastAudit is the newest audit entry of the entity.
func (f archiveFixture) lastAudit(t *testing.T, entity string, id int64) store.AuditEntry {
	t.Helper()
	es, err := f.st.AuditLog(context.Background(), f.org, entity, id, 1)
	if err != nil || len(es) == 0 {
		t.Fatalf("audit of %s %d: %v %v", entity, id, es, err)
	}
	return es[0]
}

func clientIDs(cs []store.DirClient) []int64 {
	var ids []int64
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// assignedTo is the client ids the detector gets for the device, and
// whether the device is in Assignments at all.
func assignedTo(t *testing.T, st *store.Store, dev int64) ([]int64, bool) {
	t.Helper()
	as, err := st.Assignments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.DeviceID == dev {
			return a.ClientIDs, true
		}
	}
	return nil, false
}

func TestArchiveClient(t *testing.T) {
	ctx := context.Background()
	f := newArchiveFixture(t)
	st := f.st

	if err := st.ArchiveClient(ctx, f.sc, f.cli, "  "); !errors.Is(err, store.ErrNoReason) {
		t.Fatalf("blank reason: %v, want ErrNoReason", err)
	}
	if c, _ := st.DirClient(ctx, f.sc, f.cli); c.Archived() || !f.planActive(t) {
		t.Fatal("a refused archiving changed something")
	}

	if err := st.ArchiveClient(ctx, f.sc, f.cli, " Переехала к дочери "); err != nil {
		t.Fatal(err)
	}
	c, err := st.DirClient(ctx, f.sc, f.cli)
	if err != nil || !c.Archived() || c.ArchiveReason != "Переехала к дочери" || time.Since(c.ArchivedAt) > time.Minute {
		t.Fatalf("archived client: %+v %v", c, err)
	}
	if !slices.Equal(c.WorkerIDs, []int64{f.wrk}) {
		t.Errorf("assignment lost on archiving: workers %v", c.WorkerIDs)
	}
	if active, _ := st.DirClients(ctx, f.sc); slices.Contains(clientIDs(active), f.cli) {
		t.Error("archived client still in the active list")
	}
	if arch, _ := st.DirClientsIn(ctx, f.sc, store.OnlyArchived); !slices.Equal(clientIDs(arch), []int64{f.cli}) {
		t.Errorf("archive list: %v, want [%d]", clientIDs(arch), f.cli)
	}
	if f.planActive(t) {
		t.Error("the client's plan is still active")
	}
	if a := f.lastAudit(t, "client", f.cli); a.Action != "archive" || a.Reason != "Переехала к дочери" {
		t.Errorf("audit: %s %q", a.Action, a.Reason)
	}
	if cs, _ := st.Clients(ctx, f.org); len(cs) != 0 {
		t.Errorf("Clients() still returns %+v", cs)
	}
	if cs, _ := st.Clients(ctx, 0); slices.ContainsFunc(cs, func(c store.Client) bool { return c.ID == f.cli }) {
		t.Error("Clients(0) still returns the archived client")
	}
	if got, ok := assignedTo(t, st, f.dev); !ok || len(got) != 0 {
		t.Errorf("Assignments for the worker's device: %v, want the worker with no clients", got)
	}
	if cs, err := st.AppClients(ctx, f.org, f.wrk); err != nil || len(cs) != 0 {
		t.Errorf("the worker's phone app still lists %d clients (%v), want none", len(cs), err)
	}
	if err := st.AppCheckClient(ctx, f.org, f.wrk, f.cli); !errors.Is(err, store.ErrNotAssigned) {
		t.Errorf("the app may still check in at the archived client: %v, want ErrNotAssigned", err)
	}

	// Edits and new plans are refused; archiving twice too.
	if _, _, err := st.SaveClient(ctx, f.sc, c.Client); !errors.Is(err, store.ErrArchived) {
		t.Errorf("editing an archived client: %v, want ErrArchived", err)
	}
	if err := st.SetClientServices(ctx, f.sc, f.cli, []int64{f.shop}); !errors.Is(err, store.ErrArchived) {
		t.Errorf("services of an archived client: %v, want ErrArchived", err)
	}
	if _, err := st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 2, StartMin: 600, EndMin: 660, Active: true}); !errors.Is(err, store.ErrArchived) {
		t.Errorf("planning an archived client: %v, want ErrArchived", err)
	}
	if err := st.ArchiveClient(ctx, f.sc, f.cli, "ещё раз"); !errors.Is(err, store.ErrArchived) {
		t.Errorf("archiving twice: %v, want ErrArchived", err)
	}
	// Saving the worker's form (which no longer lists the client) keeps the assignment.
	w, _ := st.DirWorker(ctx, f.sc, f.wrk)
	w.ClientIDs = nil
	if _, err := st.SaveWorker(ctx, f.sc, w); err != nil {
		t.Fatal(err)
	}
	if w, _ := st.DirWorker(ctx, f.sc, f.wrk); !slices.Equal(w.ClientIDs, []int64{f.cli}) {
		t.Errorf("saving the worker dropped the archived client: %v", w.ClientIDs)
	}

	// Missed-visit detection ignores the client even if a plan is switched
	// back on behind the cabinet's back.
	f.exec(t, `UPDATE planned_visits SET active = true WHERE id = $1`, f.plan)
	if n, err := st.DetectMissed(ctx, f.mon.Add(5*time.Hour)); err != nil || n != 0 {
		t.Errorf("DetectMissed for an archived client: %d, %v; want 0", n, err)
	}
	f.exec(t, `UPDATE planned_visits SET active = false WHERE id = $1`, f.plan)

	// Restore: back everywhere, the plan stays cancelled.
	if err := st.RestoreClient(ctx, f.sc, f.cli); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.DirClient(ctx, f.sc, f.cli); c.Archived() || c.ArchiveReason != "" {
		t.Errorf("restored client: %+v", c)
	}
	if active, _ := st.DirClients(ctx, f.sc); !slices.Contains(clientIDs(active), f.cli) {
		t.Error("restored client not in the list")
	}
	if cs, _ := st.Clients(ctx, f.org); len(cs) != 1 {
		t.Errorf("Clients() after restore: %+v", cs)
	}
	if got, _ := assignedTo(t, st, f.dev); !slices.Equal(got, []int64{f.cli}) {
		t.Errorf("Assignments after restore: %v", got)
	}
	if f.planActive(t) {
		t.Error("restore re-activated the plan")
	}
	if a := f.lastAudit(t, "client", f.cli); a.Action != "restore" {
		t.Errorf("audit after restore: %s", a.Action)
	}
	if err := st.RestoreClient(ctx, f.sc, f.cli); !errors.Is(err, store.ErrNotArchived) {
		t.Errorf("restoring an active client: %v, want ErrNotArchived", err)
	}
}

func TestArchiveWorker(t *testing.T) {
	ctx := context.Background()
	f := newArchiveFixture(t)
	st := f.st

	if err := st.ArchiveWorker(ctx, f.sc, f.wrk, "Уволилась по собственному желанию"); err != nil {
		t.Fatal(err)
	}
	w, err := st.DirWorker(ctx, f.sc, f.wrk)
	if err != nil || !w.Archived() || w.DeviceID != 0 || w.ArchiveReason != "Уволилась по собственному желанию" {
		t.Fatalf("archived worker: %+v %v", w, err)
	}
	if !slices.Equal(w.ClientIDs, []int64{f.cli}) {
		t.Errorf("assignment lost: %v", w.ClientIDs)
	}
	if f.planActive(t) {
		t.Error("the worker's plan is still active")
	}
	if ws, _ := st.DirWorkers(ctx, f.sc); len(ws) != 0 {
		t.Errorf("active workers: %+v", ws)
	}
	if ws, _ := st.DirWorkersIn(ctx, f.sc, store.OnlyArchived); len(ws) != 1 || ws[0].ID != f.wrk {
		t.Errorf("archived workers: %+v", ws)
	}
	if got, ok := assignedTo(t, st, f.dev); ok {
		t.Errorf("the freed device is still the archived worker's in Assignments: %v", got)
	}
	a := f.lastAudit(t, "worker", f.wrk)
	if a.Action != "archive" || a.Reason != "Уволилась по собственному желанию" {
		t.Errorf("audit: %s %q", a.Action, a.Reason)
	}

	// The device goes to someone else.
	other, err := st.SaveWorker(ctx, f.sc, store.DirWorker{FullName: "Морозова", DeviceID: f.dev, ClientIDs: []int64{f.cli}})
	if err != nil {
		t.Fatalf("handing the freed device to another worker: %v", err)
	}
	if got, _ := assignedTo(t, st, f.dev); !slices.Equal(got, []int64{f.cli}) {
		t.Errorf("device %d assignments: %v", f.dev, got)
	}
	if _, err := st.SaveWorker(ctx, f.sc, w); !errors.Is(err, store.ErrArchived) {
		t.Errorf("editing an archived worker: %v, want ErrArchived", err)
	}
	if _, err := st.SavePlan(ctx, f.sc, store.Plan{ClientID: f.cli, WorkerID: f.wrk, Weekday: 2, StartMin: 600, EndMin: 660, Active: true}); !errors.Is(err, store.ErrArchived) {
		t.Errorf("planning an archived worker: %v, want ErrArchived", err)
	}
	f.exec(t, `UPDATE planned_visits SET active = true WHERE id = $1`, f.plan)
	if n, err := st.DetectMissed(ctx, f.mon.Add(5*time.Hour)); err != nil || n != 0 {
		t.Errorf("DetectMissed for an archived worker: %d, %v; want 0", n, err)
	}
	f.exec(t, `UPDATE planned_visits SET active = false WHERE id = $1`, f.plan)

	if err := st.RestoreWorker(ctx, f.sc, f.wrk); err != nil {
		t.Fatal(err)
	}
	w, _ = st.DirWorker(ctx, f.sc, f.wrk)
	if w.Archived() || w.DeviceID != 0 || f.planActive(t) {
		t.Errorf("restored worker: %+v, plan active %v; want active, no device, plan cancelled", w, f.planActive(t))
	}
	if got, _ := assignedTo(t, st, f.dev); len(got) != 1 {
		t.Errorf("restore took the device back from worker %d: %v", other, got)
	}
}

func TestArchiveScope(t *testing.T) {
	ctx := context.Background()
	f := newArchiveFixture(t)
	st := f.st
	orgB, _ := st.AddOrganisation(ctx, "Другой", "Europe/Samara")
	b := store.Scope{OrgID: orgB, Role: store.RoleAdmin}
	g1, _ := st.SaveGroup(ctx, f.sc, store.DirGroup{Name: "Север"})
	sup := store.Scope{OrgID: f.org, Role: store.RoleSupervisor, Groups: []int64{g1}} // f.wrk has no group
	for name, sc := range map[string]store.Scope{"another organisation": b, "a supervisor of another group": sup} {
		for what, err := range map[string]error{
			"archive client": st.ArchiveClient(ctx, sc, f.cli, "x"),
			"archive worker": st.ArchiveWorker(ctx, sc, f.wrk, "x"),
			"restore client": st.RestoreClient(ctx, sc, f.cli),
			"restore worker": st.RestoreWorker(ctx, sc, f.wrk),
			"archive id 0":   st.ArchiveClient(ctx, sc, 0, "x"),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: %s: %v, want ErrNotFound", name, what, err)
			}
		}
	}
	c, _ := st.DirClient(ctx, f.sc, f.cli)
	w, _ := st.DirWorker(ctx, f.sc, f.wrk)
	if c.Archived() || w.Archived() || w.DeviceID != f.dev || !f.planActive(t) {
		t.Errorf("refused calls changed something: client %+v worker %+v", c, w)
	}
	var n int
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('archive', 'restore')`).Scan(&n)
	if n != 0 {
		t.Errorf("%d archive audit rows from refused calls", n)
	}
}
