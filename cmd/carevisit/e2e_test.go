package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"carevisit/firmware-sim/sim"
	"carevisit/internal/pgtest"
	"carevisit/store"
)

// A simulated S20 tracker walks from home to two clients and back, over
// real TCP into the real server; the stored visits have the right clients
// and durations.
func TestSimulatedRoundEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end round: skipped with -short")
	}
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	st, err := store.Open(ctx, dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, _ := st.AddOrganisation(ctx, "ЦСО", "Europe/Moscow")
	const imei = "864717003283599"
	dev, err := st.AddDevice(ctx, store.Device{OrgID: org, Ident: imei, Protocol: "gt06", Model: "S20"})
	if err != nil {
		t.Fatal(err)
	}
	home := sim.Stop{Name: "home", Lat: 54.6200, Lon: 39.7300, MinStay: 5 * time.Minute, MaxStay: 5 * time.Minute}
	// The round ends with a long stay at home, so it does not loop back.
	back := sim.Stop{Name: "back", Lat: 54.6200, Lon: 39.7300, MinStay: 5 * time.Hour, MaxStay: 5 * time.Hour}
	c1 := sim.Stop{Name: "c1", Lat: 54.6235, Lon: 39.7350, RadiusM: 40, Visit: true, MinStay: 25 * time.Minute, MaxStay: 25 * time.Minute}
	c2 := sim.Stop{Name: "c2", Lat: 54.6262, Lon: 39.7420, RadiusM: 40, Visit: true, MinStay: 14 * time.Minute, MaxStay: 14 * time.Minute}
	ids := map[string]int64{}
	for _, c := range []sim.Stop{c1, c2} {
		id, err := st.AddClient(ctx, store.Client{OrgID: org, FullName: c.Name, FenceKind: "circle", CenterLat: c.Lat, CenterLon: c.Lon, RadiusM: c.RadiusM})
		if err != nil {
			t.Fatal(err)
		}
		ids[c.Name] = id
	}
	w, _ := st.AddWorker(ctx, store.Worker{OrgID: org, FullName: "w", DeviceID: dev})
	for _, id := range ids {
		if err := st.AssignClient(ctx, w, id); err != nil {
			t.Fatal(err)
		}
	}

	httpAddr, gtAddr := freeAddr(t), freeAddr(t)
	cfg, err := parseServe([]string{"-database-url", dsn, "-http", httpAddr, "-gt06", gtAddr, "-h02", "-", "-watch", "-",
		"-osmand", "-", "-batch-delay", "5ms"})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	a, err := newApp(runCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(runCtx) }()
	<-a.ingest.Booted()

	// Three simulated hours, anchored in the past and run 600x faster.
	simStart := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	clock := sim.NewClock(simStart, 600)
	track := sim.NewTrack([]sim.Stop{home, c1, c2, back}, simStart, 7, sim.TrackOptions{})
	events := &eventLog{day: simStart}
	d, err := sim.NewDevice(sim.Config{Protocol: sim.ProtoGT06, Ident: imei, Addr: gtAddr, Clock: clock, Track: track,
		Moving: 15 * time.Second, Still: 30 * time.Second, Until: simStart.Add(100 * time.Minute), Log: slog.New(events)})
	if err != nil {
		t.Fatal(err)
	}
	simCtx, simCancel := context.WithTimeout(ctx, 60*time.Second)
	defer simCancel()
	if err := d.Run(simCtx); err != nil {
		t.Fatalf("device run: %v (stats %+v)", err, d.Stats())
	}
	if s := d.Stats(); s.Acked == 0 || s.Pending != 0 {
		t.Fatalf("device stats %+v: want every position acknowledged", s)
	}
	time.Sleep(1500 * time.Millisecond) // the tracker stores visits every second
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}

	// The truth: the simulated worker's own arrivals and departures.
	truth := events.visits()
	vs, err := st.Visits(ctx, store.VisitFilter{OrgID: org})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("stored %d visits, want 2: %+v\ntruth %+v", len(vs), vs, truth)
	}
	for i, name := range []string{"c1", "c2"} {
		v, want := vs[i], truth[name]
		if v.ClientID != ids[name] {
			t.Errorf("visit %d is at client %d, want %s (%d)", i, v.ClientID, name, ids[name])
		}
		if v.Open() {
			t.Errorf("visit %d still open", i)
		}
		wantDur := want.end.Sub(want.start)
		gotDur := time.Duration(v.DurationS) * time.Second
		if diff := gotDur - wantDur; diff > 3*time.Minute || diff < -3*time.Minute {
			t.Errorf("visit %d at %s lasted %v, want %v (±3 min): %v..%v vs %v..%v", i, name, gotDur, wantDur,
				v.Start, v.End, want.start, want.end)
		}
	}
}

type span struct{ start, end time.Time }

// eventLog is a slog handler that keeps the simulator's "visit start" and
// "visit end" records (place, simulated time of day).
type eventLog struct {
	mu  sync.Mutex
	day time.Time
	rec []struct{ msg, place, at string }
}

func (e *eventLog) Enabled(context.Context, slog.Level) bool { return true }
func (e *eventLog) WithAttrs([]slog.Attr) slog.Handler       { return e }
func (e *eventLog) WithGroup(string) slog.Handler            { return e }
func (e *eventLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "visit start" && r.Message != "visit end" {
		return nil
	}
	var place, at string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "place":
			place = a.Value.String()
		case "sim":
			at = a.Value.String()
		}
		return true
	})
	e.mu.Lock()
	e.rec = append(e.rec, struct{ msg, place, at string }{r.Message, place, at})
	e.mu.Unlock()
	return nil
}

func (e *eventLog) visits() map[string]span {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]span{}
	for _, r := range e.rec {
		tod, err := time.Parse(time.TimeOnly, r.at)
		if err != nil {
			continue
		}
		d := e.day.UTC()
		t := time.Date(d.Year(), d.Month(), d.Day(), tod.Hour(), tod.Minute(), tod.Second(), 0, time.UTC)
		if t.Before(d.Add(-time.Hour)) {
			t = t.Add(24 * time.Hour) // the simulated round crossed midnight
		}
		s := out[r.place]
		if r.msg == "visit start" && s.start.IsZero() {
			s.start = t
		} else if r.msg == "visit end" && s.end.IsZero() {
			s.end = t
		}
		out[r.place] = s
	}
	return out
}
