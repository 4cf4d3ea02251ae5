package cabinet

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

func init() {
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		r.Get("/visits", a.visitList)
		r.Get("/visits/{id}", a.staffVisit)
		r.With(a.requireWrite).Post("/visits/{id}/review", a.visitReview)
	})
	addNav(&staffNavItems, navItem{Key: "visits", Href: "/staff/visits", Label: "nav.visits", Order: 10})
}

// visitPageSize is the number of rows per page of the log.
const visitPageSize = 50

// maxLogDays caps the log's period.
const maxLogDays = 366

// visitFlags are the flags the log filters by, in menu order.
var visitFlags = []string{"any", "short", "unassigned", "low_evidence", "neighbour", "missed", "open", "corrected"}

type visitListData struct {
	Rows              []store.VisitRow
	Total, Page, Last int
	PrevURL, NextURL  string
	Workers           []store.LogWorker
	Groups            []store.Group
	Clients           []store.LogClient
	Flags             []string
	Charts            []template.HTML
	HoursTotal        string
}

// logDayRange parses the period filter (local dates, both inclusive) into
// [from, to) instants in the organisation's zone; blank fields default to
// the last 7 days.
func logDayRange(v *view, q url.Values) (from, to time.Time) {
	now := time.Now().In(v.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, v.loc)
	from, to = today.AddDate(0, 0, -6), today.AddDate(0, 0, 1)
	if s := q.Get("from"); s != "" {
		if d, err := time.ParseInLocation("2006-01-02", s, v.loc); err == nil {
			from = d
		} else {
			v.Errors["from"] = v.T("visits.err.date")
		}
	}
	if s := q.Get("to"); s != "" {
		if d, err := time.ParseInLocation("2006-01-02", s, v.loc); err == nil {
			to = d.AddDate(0, 0, 1)
		} else {
			v.Errors["to"] = v.T("visits.err.date")
		}
	}
	if !to.After(from) {
		v.Errors["to"] = v.T("visits.err.period")
		to = from.AddDate(0, 0, 1)
	}
	if to.Sub(from) > maxLogDays*24*time.Hour {
		v.Errors["to"] = v.T("visits.err.period_long", maxLogDays)
		to = from.AddDate(0, 0, maxLogDays)
	}
	v.Form.Set("from", from.Format("2006-01-02"))
	v.Form.Set("to", to.AddDate(0, 0, -1).Format("2006-01-02"))
	return from, to
}

// DayParam is a date in the organisation's zone as the filters and the
// track page take it (YYYY-MM-DD).
func (v *view) DayParam(t time.Time) string { return t.In(v.loc).Format("2006-01-02") }

func queryID(q url.Values, key string) int64 {
	id, _ := strconv.ParseInt(q.Get(key), 10, 64)
	if id < 0 {
		return 0
	}
	return id
}

func (a *App) visitList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	v := a.newView(r, "visits.title", "visits")
	q := r.URL.Query()
	from, to := logDayRange(v, q)
	f := store.VisitLogFilter{From: from, To: to, WorkerID: queryID(q, "worker"), GroupID: queryID(q, "group"),
		ClientID: queryID(q, "client"), Limit: visitPageSize}
	for _, k := range []string{"worker", "group", "client"} {
		if id := queryID(q, k); id > 0 {
			v.Form.Set(k, strconv.FormatInt(id, 10))
		}
	}
	for _, fl := range visitFlags {
		if q.Get("flag") == fl {
			f.Flag = fl
			v.Form.Set("flag", fl)
		}
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	f.Offset = (page - 1) * visitPageSize
	rows, total, err := a.st.VisitLog(ctx, sc, f)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d := visitListData{Rows: rows, Total: total, Page: page, Flags: visitFlags}
	pg := newPager("/staff/visits", v.Form, page, total, visitPageSize)
	d.Last, d.PrevURL, d.NextURL = pg.Last, pg.PrevURL, pg.NextURL
	if d.Workers, err = a.st.LogWorkers(ctx, sc); err == nil {
		d.Clients, err = a.st.LogClients(ctx, sc)
	}
	if err == nil {
		d.Groups, err = a.logGroups(r, sc)
	}
	var stats []store.VisitStat
	if err == nil {
		stats, err = a.st.VisitStats(ctx, sc, f)
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Charts, d.HoursTotal = visitCharts(v, stats, from, to)
	v.Data = d
	status := http.StatusOK
	if len(v.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	a.render(w, r, status, "visit_list", v)
}

// logGroups lists the groups a user may filter by.
func (a *App) logGroups(r *http.Request, sc store.Scope) ([]store.Group, error) {
	all, err := a.st.Groups(r.Context(), sc.OrgID)
	if err != nil || sc.AllGroups() {
		return all, err
	}
	var out []store.Group
	for _, g := range all {
		for _, id := range sc.Groups {
			if g.ID == id {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

// durationBuckets are the duration chart's bins, in minutes.
var durationBuckets = []int{10, 20, 30, 45, 60, 90}

// visitCharts draws visits per day, the duration distribution and hours
// per worker over the whole selection.
func visitCharts(v *view, stats []store.VisitStat, from, to time.Time) ([]template.HTML, string) {
	// Visits per day: every day of the period, zeros included.
	var days []string
	idx := map[string]int{}
	for d := from; d.Before(to) && len(days) < maxLogDays; d = d.AddDate(0, 0, 1) {
		idx[d.Format("2006-01-02")] = len(days)
		days = append(days, d.Format("02.01"))
	}
	perDay := make([]float64, len(days))
	bins := make([]float64, len(durationBuckets)+1)
	hours := map[int64]float64{}
	names := map[int64]string{}
	total := 0.0
	for _, s := range stats {
		if i, ok := idx[s.Start.In(v.loc).Format("2006-01-02")]; ok {
			perDay[i]++
		}
		min := s.DurationS / 60
		b := sort.SearchInts(durationBuckets, min+1)
		bins[b]++
		h := float64(s.DurationS) / 3600
		hours[s.WorkerID] += h
		names[s.WorkerID] = s.WorkerName
		total += h
	}
	dayTips := make([]string, len(days))
	for i := range days {
		dayTips[i] = days[i] + ": " + v.Plural("visits.n_visits", int(perDay[i]))
	}
	binLabels := make([]string, len(bins))
	binTips := make([]string, len(bins))
	lo := 0
	for i := range bins {
		if i < len(durationBuckets) {
			binLabels[i] = fmt.Sprintf("%d–%d", lo, durationBuckets[i])
			lo = durationBuckets[i]
		} else {
			binLabels[i] = fmt.Sprintf("%d+", lo)
		}
		binTips[i] = binLabels[i] + " " + v.T("visits.chart.min") + ": " + v.Plural("visits.n_visits", int(bins[i]))
	}
	type wh struct {
		name string
		h    float64
	}
	var ws []wh
	for id, h := range hours {
		name := names[id]
		if name == "" {
			name = v.T("visits.no_worker")
		}
		ws = append(ws, wh{name, h})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].h > ws[j].h || ws[i].h == ws[j].h && ws[i].name < ws[j].name })
	if len(ws) > 15 {
		ws = ws[:15]
	}
	wc := barChart{ID: "chart-hours", Title: v.T("visits.chart.hours"), Unit: v.T("visits.chart.h"), Horizontal: true}
	for _, x := range ws {
		h := math.Round(x.h*10) / 10
		wc.Labels = append(wc.Labels, x.name)
		wc.Values = append(wc.Values, h)
		wc.Tips = append(wc.Tips, x.name+": "+chartNum(h)+" "+v.T("visits.chart.h"))
	}
	return []template.HTML{
		barChart{ID: "chart-days", Title: v.T("visits.chart.days"), Labels: days, Values: perDay, Tips: dayTips, Counts: true}.SVG(),
		barChart{ID: "chart-durations", Title: v.T("visits.chart.durations"), Labels: binLabels, Values: bins, Tips: binTips, Counts: true}.SVG(),
		wc.SVG(),
	}, chartNum(math.Round(total*10) / 10)
}

// ---- one visit ----

type visitPageData struct {
	Visit     store.VisitDetail
	Evidence  []evLine
	Neighbour visitNeighbourNote
	Reviews   []store.VisitReview
	Audit     []visitAuditLine
	MapJSON   any
	Photos    []visitPhoto
	Photo     bool     // photos could be read
	Statuses  []string // review actions offered
}

type evLine struct{ Key, Value string }

type visitAuditLine struct {
	At      time.Time
	User    string
	Action  string
	Reason  string
	Changes []visitAuditChange
}

type visitAuditChange struct{ Field, Before, After string }

// trackMargin is how much track the visit page shows around the visit.
const trackMargin = 30 * time.Minute

func (a *App) staffVisit(w http.ResponseWriter, r *http.Request) {
	a.staffVisitStatus(w, r, http.StatusOK, a.newView(r, "visit.title", "visits"))
}

func (a *App) staffVisitStatus(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ctx := r.Context()
	sc := a.scope(r)
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		a.notFound(w, r)
		return
	}
	vd, err := a.st.VisitByID(ctx, sc, id)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	d := visitPageData{Visit: vd, Statuses: []string{store.ReviewConfirmed, store.ReviewCorrected, store.ReviewAnnotated}}
	if d.Reviews, err = a.st.VisitReviews(ctx, sc, id); err != nil {
		a.serverError(w, r, err)
		return
	}
	entries, err := a.st.AuditLog(ctx, sc.OrgID, "visit", id, 100)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Audit = visitAuditLines(v, entries)
	d.Evidence = evidenceLines(v, vd.Evidence)
	d.Neighbour = a.visitNeighbour(r, sc, vd.Evidence)
	end := vd.End
	if end.IsZero() {
		end = time.Now()
	}
	start := vd.Start
	if vd.Corrected() && vd.CorrStart.Before(start) {
		start = vd.CorrStart
	}
	if vd.Corrected() && vd.CorrEnd.After(end) {
		end = vd.CorrEnd
	}
	pos, err := a.st.PositionsBetween(ctx, vd.DeviceID, start.Add(-trackMargin), end.Add(trackMargin))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.MapJSON = visitMap(v, vd, pos)
	d.Photos, d.Photo = a.visitPhotos(r, sc, vd)
	if v.Form.Get("status") == "" {
		v.Form.Set("status", store.ReviewConfirmed)
		v.Form.Set("start", vd.ShownStart().In(v.loc).Format("2006-01-02T15:04"))
		if e := vd.ShownEnd(); !e.IsZero() {
			v.Form.Set("end", e.In(v.loc).Format("2006-01-02T15:04"))
		}
	}
	v.Data = d
	a.render(w, r, status, "visit_page", v)
}

// mapPoint is a fix on a map: latitude, longitude, local clock time.
type mapPoint [3]any

// visitMap is the visit page map's data: the track, the home's fence and
// the arrival and departure.
func visitMap(v *view, vd store.VisitDetail, pos []store.Position) map[string]any {
	pts := make([]mapPoint, 0, len(pos))
	inside := 0
	for _, p := range pos {
		if !p.Valid {
			continue
		}
		in := !p.FixTime.Before(vd.Start) && (vd.End.IsZero() || !p.FixTime.After(vd.End))
		if in {
			inside++
		}
		pts = append(pts, mapPoint{round6(p.Lat), round6(p.Lon), v.Clock(p.FixTime)})
	}
	c := vd.Client
	fence := map[string]any{"kind": c.FenceKind}
	if c.FenceKind == "polygon" {
		ring := make([][2]float64, len(c.Polygon))
		for i, p := range c.Polygon {
			ring[i] = [2]float64{p[1], p[0]} // Leaflet wants [lat, lon]
		}
		fence["ring"] = ring
	} else {
		fence["lat"], fence["lon"], fence["radius"] = c.CenterLat, c.CenterLon, c.RadiusM
	}
	return map[string]any{"points": pts, "fence": fence, "client": c.FullName,
		"start": v.Clock(vd.ShownStart()), "end": v.Clock(vd.ShownEnd())}
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// evidenceOrder lists the known evidence fields (tracking.evidenceJSON) in
// the order the page shows them; unknown ones follow, sorted.
var evidenceOrder = []string{"fixes", "inside", "good_gps", "approximate", "heartbeats", "rejected", "tracker",
	"phone", "max_gap_s", "gaps", "median_dist_m"}

// visitNeighbourNote is the client whose home the fixes fit nearly as
// well (GPS cannot tell the entrances of one block apart); ID 0 when none.
type visitNeighbourNote struct {
	ID      int64
	Name    string // empty when outside the viewer's scope
	Visible bool
}

// visitNeighbour reads the detector's neighbour hint and names the
// client when the viewer may see them.
func (a *App) visitNeighbour(r *http.Request, sc store.Scope, raw json.RawMessage) (n visitNeighbourNote) {
	var m struct {
		ID int64 `json:"neighbour_id"`
	}
	if json.Unmarshal(raw, &m) != nil || m.ID == 0 {
		return n
	}
	n.ID = m.ID
	if c, err := a.st.DirClient(r.Context(), sc, m.ID); err == nil {
		n.Name, n.Visible = c.FullName, true
	}
	return n
}

func evidenceLines(v *view, raw json.RawMessage) []evLine {
	m := map[string]any{}
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	delete(m, "neighbour_id") // shown as its own note
	delete(m, "neighbour_margin")
	var keys []string
	seen := map[string]bool{}
	for _, k := range evidenceOrder {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var out []evLine
	for _, k := range append(keys, rest...) {
		label := v.T("visit.ev." + k)
		if label == "visit.ev."+k {
			label = k
		}
		val := fmt.Sprint(m[k])
		if f, ok := m[k].(float64); ok {
			val = chartNum(f)
			if k == "max_gap_s" {
				val = fmtDuration(int(f)) + " (" + v.T("visit.ev.hmm") + ")"
			}
		}
		out = append(out, evLine{label, val})
	}
	return out
}

// visitAuditLines makes audit entries readable: times in the organisation's
// zone, changed fields only.
func visitAuditLines(v *view, entries []store.AuditEntry) []visitAuditLine {
	out := make([]visitAuditLine, 0, len(entries))
	for _, e := range entries {
		// Other features may audit visits too: an action without a text
		// shows as it is.
		action := v.T("visit.status." + e.Action)
		if action == "visit.status."+e.Action {
			action = e.Action
		}
		l := visitAuditLine{At: e.At, User: e.UserName, Action: action, Reason: e.Reason}
		before, after := map[string]any{}, map[string]any{}
		json.Unmarshal(e.Before, &before)
		json.Unmarshal(e.After, &after)
		var keys []string
		for k := range after {
			keys = append(keys, k)
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, a := visitAuditValue(v, before[k]), visitAuditValue(v, after[k])
			if b != a {
				l.Changes = append(l.Changes, visitAuditChange{Field: k, Before: b, After: a})
			}
		}
		out = append(out, l)
	}
	return out
}

func visitAuditValue(v *view, x any) string {
	switch t := x.(type) {
	case nil:
		return ""
	case string:
		if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return v.Time(ts)
		}
		return t
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

// maxReason caps a review's reason.
const maxReason = 1000

// visitReview confirms, corrects or annotates a visit; a reason is always
// required, and corrected times are local to the organisation.
func (a *App) visitReview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		a.notFound(w, r)
		return
	}
	r.ParseForm()
	v := a.newView(r, "visit.title", "visits")
	v.Form = r.PostForm
	rv := store.VisitReview{VisitID: id, Status: r.PostFormValue("status"), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	switch rv.Status {
	case store.ReviewConfirmed, store.ReviewAnnotated, store.ReviewCorrected:
	default:
		v.Errors["status"] = v.T("visit.err.status")
	}
	if rv.Reason == "" {
		v.Errors["reason"] = v.T("visit.err.reason")
	} else if len([]rune(rv.Reason)) > maxReason {
		v.Errors["reason"] = v.T("form.err.too_long")
	}
	if rv.Status == store.ReviewCorrected {
		rv.Start = parseLocalField(v, "start")
		rv.End = parseLocalField(v, "end")
		if v.Errors["start"] == "" && v.Errors["end"] == "" {
			switch {
			case !rv.End.After(rv.Start):
				v.Errors["end"] = v.T("visit.err.end_before")
			case rv.End.Sub(rv.Start) > 24*time.Hour:
				v.Errors["end"] = v.T("visit.err.too_long")
			case rv.End.After(time.Now().Add(5 * time.Minute)):
				v.Errors["end"] = v.T("visit.err.future")
			}
		}
	}
	if len(v.Errors) > 0 {
		a.staffVisitStatus(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if _, err := a.st.ReviewVisit(ctx, sc, rv); err != nil {
		if errors.Is(err, store.ErrReadOnly) {
			a.forbidden(w, r)
			return
		}
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("visit reviewed", "visit", id, "user", sc.UserID, "status", rv.Status)
	a.flash(w, "visit.flash."+rv.Status)
	a.redirect(w, r, fmt.Sprintf("/staff/visits/%d", id))
}

// parseLocalField reads a datetime-local field in the organisation's zone.
func parseLocalField(v *view, field string) time.Time {
	s := strings.TrimSpace(v.Form.Get(field))
	if s == "" {
		v.Errors[field] = v.T("form.err.required")
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "02.01.2006 15:04"} {
		if t, err := time.ParseInLocation(layout, s, v.loc); err == nil {
			return t
		}
	}
	v.Errors[field] = v.T("visit.err.datetime")
	return time.Time{}
}

type visitPhoto = store.Photo

// visitPhotos lists the photos the worker took at the client during the
// visit (with the track's margin); the images are served by the app API's
// /staff/photos/{id}.
func (a *App) visitPhotos(r *http.Request, sc store.Scope, vd store.VisitDetail) ([]visitPhoto, bool) {
	if vd.Missed {
		return nil, false
	}
	end := vd.ShownEnd()
	if end.IsZero() {
		end = time.Now()
	}
	all, err := a.st.Photos(r.Context(), sc, vd.ClientID, vd.ShownStart().Add(-trackMargin), end.Add(trackMargin))
	if err != nil {
		// Photos are an extra: the visit page still works without them.
		a.log.Warn("visit photos", "visit", vd.ID, "err", err)
		return nil, false
	}
	var out []visitPhoto
	for _, p := range all {
		if p.WorkerID == vd.WorkerID {
			out = append(out, p)
		}
	}
	return out, true
}
