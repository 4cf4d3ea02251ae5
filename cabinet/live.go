package cabinet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

func init() {
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		r.Get("/live", a.livePage)
		r.Get("/live/events", a.liveEvents)
		r.Get("/live/track", a.liveTrack)
	})
	addNav(&staffNavItems, navItem{Key: "live", Href: "/staff/live", Label: "nav.live", Order: 5})
}

const (
	// liveEvery is how often the event stream sends a fresh snapshot.
	liveEvery = 5 * time.Second
	// offlineAfter: a worker with no fix for longer is shown offline.
	offlineAfter = 15 * time.Minute
	// sosRecent: an SOS fix newer than this shows the worker in SOS.
	sosRecent = 30 * time.Minute
	// movingKmh: faster than this (or unknown speed) is "moving".
	movingKmh = 3
)

// liveWorker is one worker in a live snapshot (JSON for live.js).
type liveWorker struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	HasFix  bool    `json:"has_fix"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Fix     string  `json:"fix,omitempty"` // local time of the fix
	State   string  `json:"state"`         // visit, moving, still, offline, sos, nofix, nodevice
	Label   string  `json:"label"`
	Battery int     `json:"battery"` // -1 = unknown
	VisitID int64   `json:"visit_id,omitempty"`
	Track   string  `json:"track"`
}

type liveSnapshot struct {
	At      string       `json:"at"`
	Updated string       `json:"updated"` // clock time in the organisation's zone
	Alerts  int          `json:"alerts"`
	Workers []liveWorker `json:"workers"`
}

// shortPersonName turns "Иванова Анна Петровна" into "Иванова А. П.".
func shortPersonName(full string) string {
	f := strings.Fields(full)
	if len(f) < 2 {
		return full
	}
	var b strings.Builder
	b.WriteString(f[0])
	for _, p := range f[1:] {
		r := []rune(p)
		b.WriteString(" ")
		b.WriteString(string(r[0]))
		b.WriteString(".")
	}
	return b.String()
}

// liveState decides how a worker is shown: SOS first, then an open visit,
// then no fix for offlineAfter, then moving or standing still.
func liveState(v *view, l store.LiveWorker, now time.Time) liveWorker {
	w := liveWorker{ID: l.WorkerID, Name: l.WorkerName, HasFix: l.HasFix, Lat: round6(l.Lat), Lon: round6(l.Lon),
		Battery: l.Battery, VisitID: l.VisitID, Track: "/staff/live/track?worker=" + strconv.FormatInt(l.WorkerID, 10)}
	if l.HasFix {
		w.Fix = v.Time(l.FixTime)
	}
	switch {
	case l.DeviceID == 0:
		w.State, w.Label = "nodevice", v.T("live.state.nodevice")
	case !l.SOSAt.IsZero():
		w.State, w.Label = "sos", v.T("live.state.sos", v.Clock(l.SOSAt))
	case l.VisitID != 0:
		w.State, w.Label = "visit", v.T("live.state.visit", shortPersonName(l.ClientName), v.Clock(l.VisitStart))
	case !l.HasFix:
		w.State, w.Label = "nofix", v.T("live.state.nofix")
	case now.Sub(l.FixTime) > offlineAfter:
		w.State, w.Label = "offline", v.T("live.state.offline", v.Time(l.FixTime))
	case l.SpeedKmh < 0 || l.SpeedKmh >= movingKmh:
		w.State, w.Label = "moving", v.T("live.state.moving")
	default:
		w.State, w.Label = "still", v.T("live.state.still", v.Clock(l.FixTime))
	}
	return w
}

func (a *App) liveSnapshot(r *http.Request, v *view, sc store.Scope) (liveSnapshot, error) {
	now := time.Now()
	ws, err := a.st.LiveWorkers(r.Context(), sc, now.Add(-sosRecent))
	if err != nil {
		return liveSnapshot{}, err
	}
	n, err := a.st.UnseenAlerts(r.Context(), sc)
	if err != nil {
		return liveSnapshot{}, err
	}
	s := liveSnapshot{At: now.UTC().Format(time.RFC3339), Updated: now.In(v.loc).Format("15:04:05"), Alerts: n, Workers: make([]liveWorker, 0, len(ws))}
	for _, w := range ws {
		s.Workers = append(s.Workers, liveState(v, w, now))
	}
	return s, nil
}

func (a *App) livePage(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "live.title", "live")
	s, err := a.liveSnapshot(r, v, a.scope(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = s
	a.render(w, r, http.StatusOK, "live_map", v)
}

// liveEvents streams server-sent events: a "snapshot" of every worker in
// scope now and every liveEvery, and the organisation's "visit" and
// "alert" events as they happen (supervisors get only their workers').
func (a *App) liveEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	v := a.newView(r, "live.title", "live")
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	events, unsubscribe := a.hub.subscribe(sc.OrgID)
	defer unsubscribe()
	inScope := map[int64]bool{}
	send := func(event string, data []byte) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	snapshot := func() bool {
		s, err := a.liveSnapshot(r, v, sc)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("live snapshot", "org", sc.OrgID, "err", err)
			}
			return ctx.Err() == nil
		}
		clear(inScope)
		for _, x := range s.Workers {
			inScope[x.ID] = true
		}
		b, _ := json.Marshal(s)
		return send("snapshot", b)
	}
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", (liveEvery * 2).Milliseconds()); err != nil {
		return
	}
	if !snapshot() {
		return
	}
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !snapshot() {
				return
			}
		case msg := <-events:
			var ev struct {
				Kind     string `json:"kind"`
				WorkerID int64  `json:"worker_id"`
			}
			if json.Unmarshal(msg, &ev) != nil || !inScope[ev.WorkerID] {
				continue // another group's worker, or a device without one
			}
			name := "visit"
			if ev.Kind == "alert" {
				name = "alert"
			}
			if !send(name, msg) {
				return
			}
		}
	}
}

// ---- a worker's day ----

type trackData struct {
	Workers []store.LogWorker
	Worker  store.LogWorker
	Date    string
	Points  int
	Visits  []store.TrackVisit
	MapJSON any
}

// maxTrackPoints caps a day's polyline (a tracker reporting every 5 s
// sends 17,280 fixes a day); longer tracks are thinned evenly.
const maxTrackPoints = 5000

func (a *App) liveTrack(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	v := a.newView(r, "track.title", "live")
	q := r.URL.Query()
	d := trackData{}
	var err error
	if d.Workers, err = a.st.LogWorkers(ctx, sc); err != nil {
		a.serverError(w, r, err)
		return
	}
	now := time.Now().In(v.loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, v.loc)
	status := http.StatusOK
	if s := q.Get("date"); s != "" {
		if t, err := time.ParseInLocation("2006-01-02", s, v.loc); err == nil {
			day = t
		} else {
			v.Errors["date"] = v.T("visits.err.date")
			status = http.StatusUnprocessableEntity
		}
	}
	d.Date = day.Format("2006-01-02")
	v.Form.Set("date", d.Date)
	id := queryID(q, "worker")
	if id == 0 {
		v.Data = d
		a.render(w, r, status, "live_track", v)
		return
	}
	v.Form.Set("worker", strconv.FormatInt(id, 10))
	if d.Worker, err = a.st.LogWorkerByID(ctx, sc, id); err != nil {
		a.storeErr(w, r, err)
		return
	}
	from, to := day, day.AddDate(0, 0, 1) // a local day: 23 or 25 hours at a DST change
	var pos []store.Position
	if d.Worker.DeviceID != 0 {
		if pos, err = a.st.PositionsBetween(ctx, d.Worker.DeviceID, from, to); err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	if d.Visits, err = a.st.WorkerDayVisits(ctx, sc, id, from, to); err != nil {
		a.serverError(w, r, err)
		return
	}
	pts := make([]mapPoint, 0, len(pos))
	for _, p := range pos {
		if p.Valid {
			pts = append(pts, mapPoint{round6(p.Lat), round6(p.Lon), v.Clock(p.FixTime)})
		}
	}
	d.Points = len(pts)
	if len(pts) > maxTrackPoints {
		thin := make([]mapPoint, 0, maxTrackPoints)
		for i := 0; i < maxTrackPoints; i++ {
			thin = append(thin, pts[i*(len(pts)-1)/(maxTrackPoints-1)])
		}
		pts = thin
	}
	vis := make([]map[string]any, 0, len(d.Visits))
	for _, x := range d.Visits {
		vis = append(vis, map[string]any{"id": x.ID, "lat": round6(x.Lat), "lon": round6(x.Lon), "client": x.ClientName,
			"start": v.Clock(x.Start), "end": v.Clock(x.End), "url": fmt.Sprintf("/staff/visits/%d", x.ID)})
	}
	d.MapJSON = map[string]any{"points": pts, "visits": vis}
	v.Data = d
	a.render(w, r, status, "live_track", v)
}
