package store_test

import (
	"context"
	"testing"
	"time"

	"carevisit/internal/pgtest"
	"carevisit/store"
)

// A tracker given to another worker mid-visit: the previous worker's open
// visit is closed where they were last seen and kept as theirs; the new
// worker's detection neither deletes it nor collides with it.
func TestReplaceVisitsKeepsPreviousWorkersOpenVisit(t *testing.T) {
	ctx := context.Background()
	st := pgtest.NewStore(t)
	org, _ := st.AddOrganisation(ctx, "ЦСО", "Europe/Moscow")
	dev, _ := st.AddDevice(ctx, store.Device{OrgID: org, Ident: "864717003283581", Protocol: "gt06"})
	cl, _ := st.AddClient(ctx, store.Client{OrgID: org, FullName: "Иванова", FenceKind: "circle", CenterLat: 54.6, CenterLon: 39.7, RadiusM: 40})
	first, err := st.AddWorker(ctx, store.Worker{OrgID: org, FullName: "Первая", DeviceID: dev})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	open := store.Visit{OrgID: org, DeviceID: dev, WorkerID: first, ClientID: cl, Start: start, LastSeen: start.Add(20 * time.Minute),
		DurationS: 1200, Evidence: []byte(`{}`)}
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.ReplaceVisits(ctx, dev, start, far, []store.Visit{open}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool.Exec(ctx, `UPDATE workers SET device_id = NULL WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	second, err := st.AddWorker(ctx, store.Worker{OrgID: org, FullName: "Вторая", DeviceID: dev})
	if err != nil {
		t.Fatal(err)
	}
	// The new holder's detection starts afresh: the same client, the same
	// start (it re-judged the same fixes), longer.
	mine := store.Visit{OrgID: org, DeviceID: dev, WorkerID: second, ClientID: cl, Start: start, End: start.Add(50 * time.Minute),
		LastSeen: start.Add(50 * time.Minute), DurationS: 3000, Evidence: []byte(`{}`)}
	if err := st.ReplaceVisits(ctx, dev, start, far, []store.Visit{mine}); err != nil {
		t.Fatalf("replace with the new worker's visit: %v", err)
	}
	vs, _ := st.Visits(ctx, store.VisitFilter{OrgID: org})
	if len(vs) != 1 || vs[0].WorkerID != first || !vs[0].End.Equal(start.Add(20*time.Minute)) || vs[0].DurationS != 1200 {
		t.Errorf("visits %+v: want the first worker's, closed at its last fix (20 min)", vs)
	}
}
