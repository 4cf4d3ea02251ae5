package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"carevisit/internal/pgtest"
	"carevisit/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func pos(dev int64, t time.Time, lat, lon float64) store.Position {
	return store.Position{DeviceID: dev, FixTime: t, RecvTime: time.Now(), Lat: lat, Lon: lon, Valid: true,
		AccuracyM: store.NaN32, SpeedKmh: 3, Course: store.NaN32, AltitudeM: store.NaN32, Sats: -1,
		HDOP: store.NaN32, Battery: -1}
}

func TestInsertPositions(t *testing.T) {
	ctx := context.Background()
	st := pgtest.NewStore(t)
	dev, err := st.AddDevice(ctx, store.Device{Ident: "864717003283581", Protocol: "gt06"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	var b store.PositionBatch
	for i := 0; i < 3; i++ {
		p := pos(dev, t0.Add(time.Duration(i)*time.Minute), 54.6+float64(i)*0.001, 39.7)
		b.Add(&p)
	}
	n, err := st.InsertPositions(ctx, &b)
	if err != nil || n != 3 {
		t.Fatalf("first insert: n=%d err=%v", n, err)
	}

	t.Run("resent fixes are stored once", func(t *testing.T) {
		n, err := st.InsertPositions(ctx, &b)
		if err != nil || n != 0 {
			t.Fatalf("resend: n=%d err=%v, want 0 new rows", n, err)
		}
		got, err := st.PositionsBetween(ctx, dev, t0.Add(-time.Hour), t0.Add(time.Hour))
		if err != nil || len(got) != 3 {
			t.Fatalf("stored %d rows (err %v), want 3", len(got), err)
		}
		if got[0].Sats != -1 || got[0].Battery != -1 || got[0].SpeedKmh != 3 {
			t.Errorf("optional values did not round-trip: %+v", got[0])
		}
	})

	t.Run("late fix is stored with its own time and does not rewind the last position", func(t *testing.T) {
		var late store.PositionBatch
		p := pos(dev, t0.Add(-3*24*time.Hour), 50, 30)
		late.Add(&p)
		if n, err := st.InsertPositions(ctx, &late); err != nil || n != 1 {
			t.Fatalf("late insert n=%d err=%v", n, err)
		}
		last, err := st.LastPositionOf(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		if !last.FixTime.Equal(t0.Add(2*time.Minute)) || last.Lat < 54 {
			t.Errorf("last position = %v %v, want the newest fix at %v", last.FixTime, last.Lat, t0.Add(2*time.Minute))
		}
	})

	t.Run("a fix far outside the prepared weeks still lands (default partition)", func(t *testing.T) {
		var odd store.PositionBatch
		p := pos(dev, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), 1, 1)
		odd.Add(&p)
		if _, err := st.InsertPositions(ctx, &odd); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDevices(t *testing.T) {
	ctx := context.Background()
	st := pgtest.NewStore(t)
	now := time.Now()
	if err := st.NoteUnknown(ctx, store.UnknownDevice{Protocol: "gt06", Ident: "111", RemoteAddr: "127.0.0.1:1", LastSeen: now, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := st.NoteUnknown(ctx, store.UnknownDevice{Protocol: "gt06", Ident: "111", RemoteAddr: "127.0.0.1:2", LastSeen: now, Count: 2}); err != nil {
		t.Fatal(err)
	}
	u, err := st.UnknownDevices(ctx)
	if err != nil || len(u) != 1 || u[0].Count != 3 {
		t.Fatalf("unknown devices = %+v, %v; want one with count 3", u, err)
	}
	if _, err := st.AddDevice(ctx, store.Device{Ident: "111", Protocol: "gt06"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.UnknownDevices(ctx); len(u) != 0 {
		t.Errorf("registered device still listed as unknown: %+v", u)
	}
	if _, err := st.AddDevice(ctx, store.Device{Ident: "111", Protocol: "gt06"}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("second add: err = %v, want ErrDuplicate", err)
	}
	if _, err := st.DeviceByIdent(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeviceByIdent(nope) err = %v, want ErrNotFound", err)
	}
}

func TestReplaceVisitsKeepsIDs(t *testing.T) {
	ctx := context.Background()
	st := pgtest.NewStore(t)
	org, _ := st.AddOrganisation(ctx, "o", "Europe/Moscow")
	dev, _ := st.AddDevice(ctx, store.Device{OrgID: org, Ident: "864717003283581", Protocol: "gt06"})
	cli, err := st.AddClient(ctx, store.Client{OrgID: org, FullName: "c", FenceKind: "circle", CenterLat: 54, CenterLon: 39, RadiusM: 40})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	open := store.Visit{OrgID: org, DeviceID: dev, ClientID: cli, Start: t0, LastSeen: t0.Add(10 * time.Minute), DurationS: 600}
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.ReplaceVisits(ctx, dev, t0, far, []store.Visit{open}); err != nil {
		t.Fatal(err)
	}
	vs, _ := st.Visits(ctx, store.VisitFilter{OrgID: org})
	if len(vs) != 1 || !vs[0].Open() {
		t.Fatalf("open visit not stored: %+v", vs)
	}
	id := vs[0].ID
	// Late fixes move the start earlier and close the visit: same row.
	closed := open
	closed.Start, closed.End, closed.LastSeen, closed.DurationS = t0.Add(-2*time.Minute), t0.Add(30*time.Minute), t0.Add(30*time.Minute), 1920
	if err := st.ReplaceVisits(ctx, dev, t0.Add(-2*time.Minute), far, []store.Visit{closed}); err != nil {
		t.Fatal(err)
	}
	vs, _ = st.Visits(ctx, store.VisitFilter{OrgID: org})
	if len(vs) != 1 || vs[0].ID != id || vs[0].Open() || vs[0].DurationS != 1920 {
		t.Fatalf("after re-evaluation: %+v, want visit %d updated and closed", vs, id)
	}
	// Re-evaluation that finds no visit any more removes it.
	if err := st.ReplaceVisits(ctx, dev, t0.Add(-time.Hour), far, nil); err != nil {
		t.Fatal(err)
	}
	if vs, _ = st.Visits(ctx, store.VisitFilter{OrgID: org}); len(vs) != 0 {
		t.Fatalf("visits left: %+v", vs)
	}
}
