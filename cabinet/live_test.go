package cabinet_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"carevisit/store"
)

func TestLiveEvents(t *testing.T) {
	e, _ := newAppEnv(t)
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	at := e.worker(e.org, "Петрова Мария", "860000000000001")
	off := e.worker(e.org, "Сидоров Иван", "860000000000002")
	sos := e.worker(e.org, "Кузнецова Ольга", "860000000000003")
	now := time.Now()
	start := now.Add(-20 * time.Minute).Truncate(time.Minute)
	e.visit(e.org, at, cl, start, time.Time{})
	p := pos(at.dev, now.Add(-time.Minute), 55.75, 37.61)
	p.Battery = 64
	e.positions(p, pos(off.dev, now.Add(-2*time.Hour), 55.70, 37.50))
	s := pos(sos.dev, now.Add(-2*time.Minute), 55.80, 37.70)
	s.Alarm = "sos"
	e.positions(s)

	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	r := c.get("/staff/live")
	if r.Code != 200 || !strings.Contains(r.Body, `id="live-map"`) || !strings.Contains(r.Body, `id="live-worker-`+fmt.Sprint(at.worker)) {
		t.Fatalf("live page: %d", r.Code)
	}
	ev := readEvent(t, c, "/staff/live/events")
	name, data, _ := strings.Cut(ev, " ")
	if name != "snapshot" {
		t.Fatalf("first event %q", name)
	}
	var snap struct {
		Workers []struct {
			ID      int64   `json:"id"`
			Name    string  `json:"name"`
			Lat     float64 `json:"lat"`
			State   string  `json:"state"`
			Label   string  `json:"label"`
			Battery int     `json:"battery"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(data), &snap); err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, w := range snap.Workers {
		got[w.ID] = w.State + " | " + w.Label
		if w.ID == at.worker && (w.Battery != 64 || w.Lat != 55.75) {
			t.Errorf("worker at a client: battery %d lat %v", w.Battery, w.Lat)
		}
	}
	want := map[int64]string{
		at.worker:  "visit | у клиента Иванова А. П. с " + start.In(moscow).Format("15:04"),
		off.worker: "offline | нет связи с " + now.Add(-2*time.Hour).In(moscow).Format("02.01.2006 15:04"),
		sos.worker: "sos | SOS в " + now.Add(-2*time.Minute).In(moscow).Format("15:04"),
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("worker %d: %q, want %q", id, got[id], w)
		}
	}
}

func TestLiveTrack(t *testing.T) {
	e, _ := newAppEnv(t)
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "", 55.75, 37.61)
	w := e.worker(e.org, "Петрова Мария", "860000000000001")
	// The Moscow day of 10 March 2026 is 9 March 21:00 UTC to 10 March 21:00 UTC.
	e.positions(
		pos(w.dev, msk(2026, 3, 9, 23, 59), 55.1, 37.1), // the day before
		pos(w.dev, msk(2026, 3, 10, 0, 30), 55.2, 37.2),
		pos(w.dev, msk(2026, 3, 10, 10, 45), 55.75, 37.61),
		pos(w.dev, msk(2026, 3, 10, 23, 59), 55.3, 37.3),
		pos(w.dev, msk(2026, 3, 11, 0, 1), 55.4, 37.4), // the day after
	)
	vid := e.visit(e.org, w, cl, msk(2026, 3, 10, 10, 42), msk(2026, 3, 10, 11, 17))
	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	r := c.get(fmt.Sprintf("/staff/live/track?worker=%d&date=2026-03-10", w.worker))
	if r.Code != 200 {
		t.Fatalf("track: %d", r.Code)
	}
	i := strings.Index(r.Body, `id="track-data">`)
	if i < 0 {
		t.Fatal("no track data")
	}
	raw := r.Body[i+len(`id="track-data">`):]
	raw = raw[:strings.Index(raw, "</script>")]
	var d struct {
		Points [][3]any `json:"points"`
		Visits []struct {
			ID     int64  `json:"id"`
			Client string `json:"client"`
			Start  string `json:"start"`
		} `json:"visits"`
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	var lats []float64
	for _, p := range d.Points {
		lats = append(lats, p[0].(float64))
	}
	if fmt.Sprint(lats) != "[55.2 55.75 55.3]" || d.Points[0][2] != "00:30" {
		t.Errorf("track points %v", d.Points)
	}
	if len(d.Visits) != 1 || d.Visits[0].ID != vid || d.Visits[0].Start != "10:42" {
		t.Errorf("track visits %+v", d.Visits)
	}
	if !strings.Contains(r.Body, `id="track-map"`) || !strings.Contains(r.Body, "Точек маршрута: 3, визитов: 1") {
		t.Error("track page")
	}
	if r := c.get("/staff/live/track?worker=999999"); r.Code != 404 {
		t.Errorf("unknown worker: %d", r.Code)
	}
	if r := c.get(fmt.Sprintf("/staff/live/track?worker=%d&date=yesterday", w.worker)); r.Code != 422 {
		t.Errorf("bad date: %d", r.Code)
	}
}
