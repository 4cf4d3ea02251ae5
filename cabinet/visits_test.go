package cabinet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"carevisit/cabinet"
	"carevisit/internal/pgtest"
	"carevisit/store"
)

// newAppEnv is newEnv keeping the App, for tests that run its background
// work (alerts) by hand.
func newAppEnv(t *testing.T) (*env, *cabinet.App) {
	t.Helper()
	st := pgtest.NewStore(t)
	e := &env{t: t, st: st, mails: &mailbox{}}
	app, err := cabinet.New(cabinet.Config{BaseURL: "http://cabinet.test"},
		cabinet.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Mail: e.mails.send})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(app.Handler())
	t.Cleanup(e.srv.Close)
	if e.org, err = st.AddOrganisation(context.Background(), "ЦСО Северный", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	return e, app
}

var moscow, _ = time.LoadLocation("Europe/Moscow")

// msk is a Moscow wall-clock time.
func msk(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, moscow)
}

type seeded struct {
	dev, worker int64
}

func (e *env) worker(org int64, name, imei string) seeded {
	e.t.Helper()
	ctx := context.Background()
	dev, err := e.st.AddDevice(ctx, store.Device{OrgID: org, Ident: imei, Protocol: "gt06"})
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := e.st.AddWorker(ctx, store.Worker{OrgID: org, FullName: name, DeviceID: dev})
	if err != nil {
		e.t.Fatal(err)
	}
	return seeded{dev, w}
}

func (e *env) clientAt(org int64, name, addr string, lat, lon float64) int64 {
	e.t.Helper()
	id, err := e.st.AddClient(context.Background(), store.Client{OrgID: org, FullName: name, Address: addr,
		FenceKind: "circle", CenterLat: lat, CenterLon: lon, RadiusM: 40})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// visit stores a visit (end zero = open) and returns its id.
func (e *env) visit(org int64, w seeded, client int64, start, end time.Time, flags ...string) int64 {
	e.t.Helper()
	ctx := context.Background()
	v := store.Visit{OrgID: org, DeviceID: w.dev, WorkerID: w.worker, ClientID: client, Start: start, End: end,
		LastSeen: end, Flags: flags, Evidence: []byte(`{"fixes": 12, "inside": 9, "max_gap_s": 120}`)}
	if end.IsZero() {
		v.LastSeen = start.Add(5 * time.Minute)
	} else {
		v.DurationS = int(end.Sub(start) / time.Second)
	}
	if err := e.st.ReplaceVisits(ctx, w.dev, start, start.Add(time.Second), []store.Visit{v}); err != nil {
		e.t.Fatal(err)
	}
	var id int64
	if err := e.st.Pool.QueryRow(ctx, `SELECT id FROM visits WHERE device_id = $1 AND start_time = $2`, w.dev, start).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func pos(dev int64, at time.Time, lat, lon float64) store.Position {
	return store.Position{DeviceID: dev, FixTime: at, RecvTime: at, Lat: lat, Lon: lon, Valid: true,
		AccuracyM: store.NaN32, SpeedKmh: store.NaN32, Course: store.NaN32, AltitudeM: store.NaN32, Sats: -1,
		HDOP: store.NaN32, Battery: -1}
}

func (e *env) positions(ps ...store.Position) {
	e.t.Helper()
	var b store.PositionBatch
	for i := range ps {
		b.Add(&ps[i])
	}
	if _, err := e.st.InsertPositions(context.Background(), &b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.st.Pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) loginAs(org int64, email, role string) *client {
	e.t.Helper()
	e.user(org, email, role, "correct horse battery")
	c := e.client()
	if r := c.login(email, "correct horse battery"); r.Code != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d", email, r.Code)
	}
	return c
}

// rowOf returns the <tr> of the visit log with the id.
func rowOf(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(body[i:], "</tr>")
	return body[i : i+j]
}

func TestVisitLog(t *testing.T) {
	e, _ := newAppEnv(t)
	ivanova := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	smirnov := e.clientAt(e.org, "Смирнов Олег Ильич", "ул. Мира, 1", 55.76, 37.62)
	petrov := e.worker(e.org, "Петрова Мария", "860000000000001")
	sidorov := e.worker(e.org, "Сидоров Иван", "860000000000002")
	// 10:42-11:17 Moscow (07:42-08:17 UTC): 35 minutes.
	long := e.visit(e.org, petrov, ivanova, msk(2026, 3, 10, 10, 42), msk(2026, 3, 10, 11, 17))
	short := e.visit(e.org, sidorov, smirnov, msk(2026, 3, 10, 15, 0), msk(2026, 3, 10, 15, 7), "short", "low_evidence")
	// 23:30 Moscow on the 9th is 20:30 UTC on the 9th: not in the 10th's log.
	other := e.visit(e.org, petrov, smirnov, msk(2026, 3, 9, 23, 30), msk(2026, 3, 9, 23, 50))
	open := e.visit(e.org, sidorov, ivanova, msk(2026, 3, 10, 17, 5), time.Time{})
	// Services ticked in the app during the long visit, one with a norm.
	var cook, shop int64
	e.st.Pool.QueryRow(context.Background(), `INSERT INTO services (org_id, name, norm_minutes) VALUES ($1, 'Приготовление пищи', 40) RETURNING id`, e.org).Scan(&cook)
	e.st.Pool.QueryRow(context.Background(), `INSERT INTO services (org_id, name, norm_minutes) VALUES ($1, 'Покупка продуктов', 0) RETURNING id`, e.org).Scan(&shop)
	e.exec(`INSERT INTO service_ticks (org_id, worker_id, client_id, service_id, at) VALUES ($1, $2, $3, $4, $5), ($1, $2, $3, $6, $7), ($1, $2, $3, $6, $8)`,
		e.org, petrov.worker, ivanova, cook, msk(2026, 3, 10, 10, 50), shop, msk(2026, 3, 10, 11, 0), msk(2026, 3, 10, 14, 0))
	// A planned visit that was missed.
	var plan, missed int64
	e.st.Pool.QueryRow(context.Background(), `INSERT INTO planned_visits (org_id, client_id, worker_id, weekday, start_min, end_min)
		VALUES ($1, $2, $3, 2, 600, 660) RETURNING id`, e.org, smirnov, petrov.worker).Scan(&plan)
	e.st.Pool.QueryRow(context.Background(), `INSERT INTO missed_visits (org_id, planned_visit_id, client_id, worker_id, window_start, window_end)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.org, plan, smirnov, petrov.worker, msk(2026, 3, 10, 10, 0), msk(2026, 3, 10, 11, 0)).Scan(&missed)

	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	r := c.get("/staff/visits?from=2026-03-10&to=2026-03-10")
	if r.Code != 200 {
		t.Fatalf("log: %d\n%s", r.Code, r.Body)
	}
	row := rowOf(r.Body, fmt.Sprintf("visit-%d", long))
	for _, want := range []string{"Иванова Анна Петровна", "ул. Ленина, 5", "Петрова Мария", "10.03.2026 10:42", "11:17", "0:35",
		"Покупка продуктов, Приготовление пищи", "40 мин"} {
		if !strings.Contains(row, want) {
			t.Errorf("long visit row lacks %q:\n%s", want, row)
		}
	}
	if strings.Contains(row, "badge") {
		t.Errorf("an unflagged visit shows a badge:\n%s", row)
	}
	row = rowOf(r.Body, fmt.Sprintf("visit-%d", short))
	for _, want := range []string{"15:00", "15:07", "0:07", "короткий", "мало данных", "15 мин"} {
		if !strings.Contains(row, want) {
			t.Errorf("short visit row lacks %q:\n%s", want, row)
		}
	}
	if row := rowOf(r.Body, fmt.Sprintf("visit-%d", open)); !strings.Contains(row, "идёт") {
		t.Errorf("open visit not shown in progress:\n%s", row)
	}
	if rowOf(r.Body, fmt.Sprintf("visit-%d", other)) != "" {
		t.Error("a visit of 9 March (Moscow) is in the log of 10 March")
	}
	if row := rowOf(r.Body, fmt.Sprintf("missed-%d", missed)); !strings.Contains(row, "пропущен") || !strings.Contains(row, "10.03.2026 10:00") {
		t.Error("the missed visit is not in the log")
	}
	if !strings.Contains(r.Body, `id="chart-days"`) || !strings.Contains(r.Body, "<title>10.03: 2 визита</title>") {
		t.Error("no visits-per-day chart with a tooltip")
	}
	if !strings.Contains(r.Body, `id="chart-hours"`) || !strings.Contains(r.Body, "Петрова Мария: 0.6 ч") {
		t.Error("no hours-per-worker chart")
	}

	// Filters.
	r = c.get("/staff/visits?from=2026-03-10&to=2026-03-10&flag=short")
	if rowOf(r.Body, fmt.Sprintf("visit-%d", short)) == "" || rowOf(r.Body, fmt.Sprintf("visit-%d", long)) != "" {
		t.Error("flag=short does not select the short visit only")
	}
	r = c.get("/staff/visits?from=2026-03-10&to=2026-03-10&flag=missed")
	if rowOf(r.Body, fmt.Sprintf("missed-%d", missed)) == "" || rowOf(r.Body, fmt.Sprintf("visit-%d", short)) != "" {
		t.Error("flag=missed does not select missed visits only")
	}
	r = c.get(fmt.Sprintf("/staff/visits?from=2026-03-09&to=2026-03-10&worker=%d", petrov.worker))
	if rowOf(r.Body, fmt.Sprintf("visit-%d", other)) == "" || rowOf(r.Body, fmt.Sprintf("visit-%d", short)) != "" {
		t.Error("worker filter")
	}
	r = c.get(fmt.Sprintf("/staff/visits?from=2026-03-10&to=2026-03-10&client=%d", ivanova))
	if rowOf(r.Body, fmt.Sprintf("visit-%d", open)) == "" || rowOf(r.Body, fmt.Sprintf("visit-%d", short)) != "" {
		t.Error("client filter")
	}
	r = c.get("/staff/visits?from=2026-03-10&to=2026-03-10&flag=open")
	if rowOf(r.Body, fmt.Sprintf("visit-%d", open)) == "" || rowOf(r.Body, fmt.Sprintf("visit-%d", long)) != "" {
		t.Error("flag=open")
	}
	if r := c.get("/staff/visits?from=10-03-2026"); r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Введите дату") {
		t.Errorf("a bad date: %d, want 422 with a message", r.Code)
	}
	// English, same zone.
	if r := c.get("/staff/visits?from=2026-03-10&to=2026-03-10&lang=en"); !strings.Contains(r.Body, "in progress") ||
		!strings.Contains(rowOf(r.Body, fmt.Sprintf("visit-%d", long)), "10:42") {
		t.Error("English log")
	}
}

func TestVisitLogPaging(t *testing.T) {
	e, _ := newAppEnv(t)
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "", 55.75, 37.61)
	w := e.worker(e.org, "Петрова Мария", "860000000000001")
	for i := 0; i < 55; i++ {
		s := msk(2026, 3, 10, 8, 0).Add(time.Duration(i) * 10 * time.Minute)
		e.visit(e.org, w, cl, s, s.Add(5*time.Minute))
	}
	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	r := c.get("/staff/visits?from=2026-03-10&to=2026-03-10")
	if n := strings.Count(r.Body, `<tr id="visit-`); n != 50 {
		t.Fatalf("page 1 has %d rows, want 50", n)
	}
	if !strings.Contains(r.Body, "Страница 1 из 2") || !strings.Contains(r.Body, `rel="next"`) {
		t.Fatal("no pager")
	}
	r = c.get("/staff/visits?from=2026-03-10&to=2026-03-10&page=2")
	if n := strings.Count(r.Body, `<tr id="visit-`); n != 5 {
		t.Fatalf("page 2 has %d rows, want 5", n)
	}
	if !strings.Contains(r.Body, "Найдено строк: 55") {
		t.Error("total")
	}
}

func TestVisitCorrection(t *testing.T) {
	e, _ := newAppEnv(t)
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	w := e.worker(e.org, "Петрова Мария", "860000000000001")
	start, end := msk(2026, 3, 10, 10, 42), msk(2026, 3, 10, 10, 49)
	id := e.visit(e.org, w, cl, start, end, "short")
	e.positions(pos(w.dev, start.Add(-10*time.Minute), 55.76, 37.60), pos(w.dev, start.Add(time.Minute), 55.75001, 37.61001),
		pos(w.dev, end.Add(20*time.Minute), 55.77, 37.63), pos(w.dev, end.Add(45*time.Minute), 55.9, 37.9))
	c := e.loginAs(e.org, "sup@example.ru", store.RoleAdmin)
	path := fmt.Sprintf("/staff/visits/%d", id)

	r := c.get(path)
	for _, want := range []string{`id="correct-form"`, `id="reason"`, `id="audit"`, `id="visit-map"`, "10.03.2026 10:42", "0:07",
		"Отметок у получателя услуг", "[55.75001,37.61001,\"10:43\"]"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("visit page lacks %q", want)
		}
	}
	if strings.Contains(r.Body, "55.9") {
		t.Error("the visit map shows a fix 45 minutes after the visit")
	}

	// No reason: 422, nothing stored.
	form := url.Values{"status": {"corrected"}, "start": {"2026-03-10T10:40"}, "end": {"2026-03-10T11:25"}, "reason": {"  "}}
	r = c.post(path+"/review", form)
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Укажите причину") {
		t.Fatalf("correction without a reason: %d", r.Code)
	}
	if !strings.Contains(r.Body, `value="2026-03-10T11:25"`) {
		t.Error("the form lost the entered times")
	}
	form.Set("reason", "Трекер сел, работник отметился по телефону")
	form.Set("end", "2026-03-10T10:30")
	if r := c.post(path+"/review", form); r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "позже начала") {
		t.Errorf("end before start: %d", r.Code)
	}
	var n int
	e.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM visit_reviews`).Scan(&n)
	if n != 0 {
		t.Fatal("an invalid review was stored")
	}

	form.Set("end", "2026-03-10T11:25")
	r = c.post(path+"/review", form)
	if r.Code != http.StatusSeeOther || r.Location != path {
		t.Fatalf("correction: %d %s", r.Code, r.Location)
	}
	// Detected times stay.
	vs, _ := e.st.Visits(context.Background(), store.VisitFilter{OrgID: e.org})
	if len(vs) != 1 || !vs[0].Start.Equal(start) || !vs[0].End.Equal(end) {
		t.Fatalf("detected times changed: %+v", vs)
	}
	var st string
	var rs, re time.Time
	var reason string
	e.st.Pool.QueryRow(context.Background(), `SELECT status, start_time, end_time, reason FROM visit_reviews WHERE visit_id = $1`, id).Scan(&st, &rs, &re, &reason)
	if st != "corrected" || !rs.Equal(msk(2026, 3, 10, 10, 40)) || !re.Equal(msk(2026, 3, 10, 11, 25)) || reason == "" {
		t.Fatalf("review row: %s %v %v %q", st, rs, re, reason)
	}
	var before, after, areason string
	var auser int64
	e.st.Pool.QueryRow(context.Background(), `SELECT before::text, after::text, reason, user_id FROM audit_log WHERE entity = 'visit' AND entity_id = $1`, id).
		Scan(&before, &after, &areason, &auser)
	if !strings.Contains(before, "2026-03-10T07:49:00Z") || !strings.Contains(after, "2026-03-10T08:25:00Z") || areason != reason || auser == 0 {
		t.Fatalf("audit: before %s after %s reason %q user %d", before, after, areason, auser)
	}

	// The log shows the corrected times with a mark; the page its audit.
	r = c.get("/staff/visits?from=2026-03-10&to=2026-03-10")
	row := rowOf(r.Body, fmt.Sprintf("visit-%d", id))
	if !strings.Contains(row, "10.03.2026 10:40") || !strings.Contains(row, "11:25") || !strings.Contains(row, "0:45") ||
		!strings.Contains(row, "corr-mark") || !strings.Contains(row, "исправлен") {
		t.Errorf("log row after correction:\n%s", row)
	}
	r = c.get(path)
	audit := r.Body[strings.Index(r.Body, `id="audit"`):]
	if !strings.Contains(audit, "Трекер сел") || !strings.Contains(audit, "10.03.2026 11:25") || !strings.Contains(audit, "10.03.2026 10:49") {
		t.Errorf("audit section:\n%s", audit)
	}
	if !strings.Contains(r.Body, fmt.Sprintf("/staff/live/track?worker=%d&amp;date=2026-03-10", w.worker)) {
		t.Error("no link to the worker's day track")
	}
	if !strings.Contains(audit, "время исправлено") {
		t.Error("audit action not translated")
	}
	if !strings.Contains(r.Body, "Визит: Иванова Анна Петровна") || !strings.Contains(r.Body, "Определено автоматически") {
		t.Error("visit page after correction")
	}

	// A confirmation and a note also need reasons and are audited.
	if r := c.post(path+"/review", url.Values{"status": {"annotated"}}); r.Code != http.StatusUnprocessableEntity {
		t.Errorf("a note without a reason: %d", r.Code)
	}
	if r := c.post(path+"/review", url.Values{"status": {"confirmed"}, "reason": {"Проверено по звонку"}}); r.Code != http.StatusSeeOther {
		t.Errorf("confirm: %d", r.Code)
	}
	e.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE entity = 'visit' AND entity_id = $1`, id).Scan(&n)
	if n != 2 {
		t.Errorf("%d audit entries, want 2", n)
	}
	// A confirmation keeps the correction.
	r = c.get("/staff/visits?from=2026-03-10&to=2026-03-10")
	if !strings.Contains(rowOf(r.Body, fmt.Sprintf("visit-%d", id)), "0:45") {
		t.Error("a confirmation after a correction dropped the corrected times")
	}

	// Auditors read, never write.
	a := e.loginAs(e.org, "audit@example.ru", store.RoleAuditor)
	if r := a.get(path); r.Code != 200 || strings.Contains(r.Body, `id="correct-form"`) {
		t.Errorf("auditor's visit page: %d, form shown: %v", r.Code, strings.Contains(r.Body, `id="correct-form"`))
	}
	if r := a.post(path+"/review", url.Values{"status": {"confirmed"}, "reason": {"x"}}); r.Code != http.StatusForbidden {
		t.Errorf("auditor review: %d, want 403", r.Code)
	}
}

// Another organisation's user walking every route with guessed ids gets
// 404 (or an empty page) and never the data.
func TestVisitsOtherOrganisation(t *testing.T) {
	e, app := newAppEnv(t)
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	w := e.worker(e.org, "Петрова Мария", "860000000000001")
	now := time.Now()
	id := e.visit(e.org, w, cl, now.Add(-3*time.Hour), now.Add(-3*time.Hour+5*time.Minute), "short")
	p := pos(w.dev, now.Add(-time.Minute), 55.75, 37.61)
	p.Alarm = "sos"
	e.positions(p)
	if _, err := app.CheckAlerts(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	var alertID int64
	e.st.Pool.QueryRow(context.Background(), `SELECT id FROM alerts LIMIT 1`).Scan(&alertID)
	if alertID == 0 {
		t.Fatal("no alert to guess")
	}

	org2, _ := e.st.AddOrganisation(context.Background(), "ЦСО Южный", "Europe/Samara")
	for _, role := range []string{store.RoleAdmin, store.RoleSupervisor, store.RoleAuditor} {
		c := e.loginAs(org2, role+"@south.example.ru", role)
		secret := []string{"Иванова", "Петрова", "ул. Ленина"}
		check := func(what string, r resp, codes ...int) {
			t.Helper()
			ok := false
			for _, code := range codes {
				ok = ok || r.Code == code
			}
			if !ok {
				t.Errorf("%s %s: %d, want %v", role, what, r.Code, codes)
			}
			for _, s := range secret {
				if strings.Contains(r.Body, s) {
					t.Errorf("%s %s shows %q", role, what, s)
				}
			}
		}
		check("visit page", c.get(fmt.Sprintf("/staff/visits/%d", id)), 404)
		check("review", c.post(fmt.Sprintf("/staff/visits/%d/review", id), url.Values{"status": {"confirmed"}, "reason": {"x"}}), 404, 403)
		check("log", c.get(fmt.Sprintf("/staff/visits?worker=%d&client=%d&from=2020-01-01&to=2030-01-01", w.worker, cl)), 200, 422)
		check("track", c.get(fmt.Sprintf("/staff/live/track?worker=%d", w.worker)), 404)
		check("live", c.get("/staff/live"), 200)
		check("alerts", c.get("/staff/alerts"), 200)
		check("mark seen", c.post("/staff/alerts/seen", url.Values{"id": {fmt.Sprint(alertID)}}), 303, 403)
		ev := readEvent(t, c, "/staff/live/events")
		if strings.Contains(ev, "Петрова") {
			t.Errorf("%s: the event stream shows another organisation's worker", role)
		}
	}
	var seen bool
	e.st.Pool.QueryRow(context.Background(), `SELECT seen_at IS NOT NULL FROM alerts WHERE id = $1`, alertID).Scan(&seen)
	if seen {
		t.Error("another organisation marked an alert as seen")
	}
	var n int
	e.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM visit_reviews`).Scan(&n)
	if n != 0 {
		t.Error("another organisation reviewed a visit")
	}
}

// Supervisors see only their groups' workers.
func TestVisitsSupervisorGroups(t *testing.T) {
	e, app := newAppEnv(t)
	ctx := context.Background()
	ga, _ := e.st.AddGroup(ctx, e.org, "Участок 1")
	gb, _ := e.st.AddGroup(ctx, e.org, "Участок 2")
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "", 55.75, 37.61)
	wa := e.worker(e.org, "Петрова Мария", "860000000000001")
	wb := e.worker(e.org, "Сидоров Иван", "860000000000002")
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, ga, wa.worker)
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, gb, wb.worker)
	now := time.Now()
	va := e.visit(e.org, wa, cl, now.Add(-2*time.Hour), now.Add(-2*time.Hour+3*time.Minute), "short")
	vb := e.visit(e.org, wb, cl, now.Add(-time.Hour), now.Add(-time.Hour+3*time.Minute), "short")
	e.positions(pos(wa.dev, now.Add(-time.Minute), 55.75, 37.61), pos(wb.dev, now.Add(-time.Minute), 55.76, 37.62))
	if _, err := app.CheckAlerts(ctx, now); err != nil {
		t.Fatal(err)
	}

	uid := e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	if err := e.st.SetSupervisorGroups(ctx, e.org, uid, []int64{ga}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login("sup@example.ru", "correct horse battery")
	r := c.get("/staff/visits")
	if rowOf(r.Body, fmt.Sprintf("visit-%d", va)) == "" || rowOf(r.Body, fmt.Sprintf("visit-%d", vb)) != "" {
		t.Error("the supervisor's log is not limited to their group")
	}
	if strings.Contains(r.Body, "Сидоров") {
		t.Error("another group's worker is offered in the filter")
	}
	if r := c.get(fmt.Sprintf("/staff/visits/%d", vb)); r.Code != 404 {
		t.Errorf("another group's visit: %d", r.Code)
	}
	if r := c.post(fmt.Sprintf("/staff/visits/%d/review", vb), url.Values{"status": {"confirmed"}, "reason": {"x"}}); r.Code != 404 {
		t.Errorf("another group's visit review: %d", r.Code)
	}
	if r := c.post(fmt.Sprintf("/staff/visits/%d/review", va), url.Values{"status": {"confirmed"}, "reason": {"Проверено"}}); r.Code != 303 {
		t.Errorf("own group's visit review: %d", r.Code)
	}
	if r := c.get(fmt.Sprintf("/staff/live/track?worker=%d", wb.worker)); r.Code != 404 {
		t.Errorf("another group's track: %d", r.Code)
	}
	ev := readEvent(t, c, "/staff/live/events")
	if !strings.Contains(ev, "Петрова Мария") || strings.Contains(ev, "Сидоров") {
		t.Errorf("supervisor's live stream: %s", ev)
	}
	r = c.get("/staff/alerts")
	if !strings.Contains(r.Body, "Петрова Мария") || strings.Contains(r.Body, "Сидоров") {
		t.Error("the supervisor's alerts are not limited to their group")
	}
}

var eventRe = regexp.MustCompile(`(?s)event: (\w+)\ndata: (.*?)\n\n`)

// readEvent reads the first event of a server-sent-event stream, with a
// timeout, and returns "name data".
func readEvent(t *testing.T, c *client, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.e.srv.URL+path, nil)
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("%s: Content-Type %q, status %d", path, ct, res.StatusCode)
	}
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := res.Body.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if m := eventRe.FindSubmatch(buf); m != nil {
			return string(m[1]) + " " + string(m[2])
		}
		if err != nil {
			t.Fatalf("%s: no event before %v; got %q", path, err, buf)
		}
	}
}
