package cabinet_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"carevisit/store"
)

func TestAlertsRaisedOnceAndMailed(t *testing.T) {
	e, app := newAppEnv(t)
	ctx := context.Background()
	ga, _ := e.st.AddGroup(ctx, e.org, "Участок 1")
	gb, _ := e.st.AddGroup(ctx, e.org, "Участок 2")
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	sos := e.worker(e.org, "Петрова Мария", "860000000000001")
	low := e.worker(e.org, "Сидоров Иван", "860000000000002")
	off := e.worker(e.org, "Кузнецова Ольга", "860000000000003")
	ok := e.worker(e.org, "Орлов Пётр", "860000000000004")
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = ANY($2)`, ga, []int64{sos.worker, low.worker, off.worker})
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, gb, ok.worker)

	// Wednesday 11 March 2026, 12:00 in Moscow: working hours.
	now := msk(2026, 3, 11, 12, 0)
	p1 := pos(sos.dev, now.Add(-3*time.Minute), 55.75, 37.61)
	p1.Alarm = "sos"
	p2 := p1
	p2.FixTime = now.Add(-2 * time.Minute) // the same alarm, still pressed
	p3 := pos(low.dev, now.Add(-5*time.Minute), 55.7, 37.6)
	p3.Battery = 9
	p4 := pos(off.dev, now.Add(-3*time.Hour), 55.7, 37.6) // silent since 09:00
	p5 := pos(ok.dev, now.Add(-time.Minute), 55.7, 37.6)
	p5.Battery = 80
	e.positions(p1, p2, p3, p4, p5)
	short := e.visit(e.org, ok, cl, now.Add(-40*time.Minute), now.Add(-35*time.Minute), "short")
	reviewed := e.visit(e.org, ok, cl, now.Add(-30*time.Minute), now.Add(-26*time.Minute), "short")
	e.exec(`INSERT INTO visit_reviews (visit_id, status, reason) VALUES ($1, 'confirmed', 'ok')`, reviewed)

	admin := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	uA := e.user(e.org, "supa@example.ru", store.RoleSupervisor, "correct horse battery")
	uB := e.user(e.org, "supb@example.ru", store.RoleSupervisor, "correct horse battery")
	e.st.SetSupervisorGroups(ctx, e.org, uA, []int64{ga})
	e.st.SetSupervisorGroups(ctx, e.org, uB, []int64{gb})
	e.user(e.org, "auditor@example.ru", store.RoleAuditor, "correct horse battery")

	n, err := app.CheckAlerts(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("raised %d alerts, want 4 (sos, low battery, offline, short visit)", n)
	}
	kinds := map[string]int{}
	rows, _ := e.st.Pool.Query(ctx, `SELECT kind, coalesce(worker_id, 0), coalesce(visit_id, 0) FROM alerts`)
	for rows.Next() {
		var k string
		var w, v int64
		rows.Scan(&k, &w, &v)
		kinds[k]++
		switch {
		case k == "sos" && w != sos.worker, k == "low_battery" && w != low.worker, k == "offline" && w != off.worker,
			k == "short_visit" && v != short:
			t.Errorf("%s alert for worker %d visit %d", k, w, v)
		}
	}
	rows.Close()
	if fmt.Sprint(kinds) != "map[low_battery:1 offline:1 short_visit:1 sos:1]" {
		t.Errorf("alerts %v", kinds)
	}

	// Mail: the admin gets all, each supervisor their group's; auditors none.
	mails := map[string]mail{}
	for _, m := range e.mails.sent {
		mails[m.To] = m
	}
	if len(e.mails.sent) != 3 {
		t.Errorf("%d mails, want 3: %+v", len(e.mails.sent), e.mails.sent)
	}
	if m := mails["admin@example.ru"]; !strings.Contains(m.Subject, "4 новых оповещения") || !strings.Contains(m.Body, "SOS") ||
		!strings.Contains(m.Body, "http://cabinet.test/staff/alerts") || !strings.Contains(m.Body, "заряд 9%") {
		t.Errorf("admin mail: %+v", m)
	}
	if m := mails["supa@example.ru"]; !strings.Contains(m.Subject, "3 новых оповещения") || strings.Contains(m.Body, "Орлов") {
		t.Errorf("supervisor A mail: %+v", m)
	}
	if m := mails["supb@example.ru"]; !strings.Contains(m.Subject, "1 новое оповещение") || !strings.Contains(m.Body, "Короткий визит") {
		t.Errorf("supervisor B mail: %+v", m)
	}
	if strings.Contains(mails["admin@example.ru"].Body, "ул. Ленина") {
		t.Error("a client's address in an e-mail")
	}

	// Again, and a minute later: nothing new, no more mail.
	for _, at := range []time.Time{now, now.Add(time.Minute)} {
		if n, err := app.CheckAlerts(ctx, at); err != nil || n != 0 {
			t.Errorf("second round raised %d (%v)", n, err)
		}
	}
	if len(e.mails.sent) != 3 {
		t.Errorf("alerts mailed twice: %d mails", len(e.mails.sent))
	}
	// An alert raised elsewhere (a missed visit) is mailed by the next round.
	e.exec(`INSERT INTO alerts (org_id, kind, worker_id, client_id, at, dedup_key, details) VALUES ($1, 'missed_visit', $2, $3, $4, 'planned:1:x', '{}')`,
		e.org, ok.worker, cl, now)
	app.CheckAlerts(ctx, now.Add(2*time.Minute))
	if len(e.mails.sent) != 5 || !strings.Contains(e.mails.last().Body, "Пропущенный визит") {
		t.Errorf("missed-visit alert mail: %d mails, last %+v", len(e.mails.sent), e.mails.last())
	}
	// A new SOS press 40 minutes later is a new alert.
	p6 := pos(sos.dev, now.Add(40*time.Minute), 55.75, 37.61)
	p6.Alarm = "sos"
	e.positions(p6)
	app.CheckAlerts(ctx, now.Add(41*time.Minute))
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE kind = 'sos'`).Scan(&n)
	if n != 2 {
		t.Errorf("%d SOS alerts after a second press, want 2", n)
	}

	// The cabinet lists them with a count; marking them seen clears it.
	r := admin.get("/staff/alerts")
	if !strings.Contains(r.Body, `id="alert-table"`) || !strings.Contains(r.Body, "новых: 8") || !strings.Contains(r.Body, "нет данных с 11.03.2026 09:00") {
		t.Fatalf("alerts page:\n%s", r.Body)
	}
	if r := admin.get("/staff/"); !strings.Contains(r.Body, `id="nav-count-alerts">8</span>`) {
		t.Error("no unseen-alert badge in the menu")
	}
	if r := admin.get("/staff/alerts?kind=sos"); strings.Count(r.Body, `class="unseen kind-sos"`) != 2 || strings.Contains(r.Body, "kind-offline") {
		t.Error("kind filter")
	}
	var sosID int64
	e.st.Pool.QueryRow(ctx, `SELECT id FROM alerts WHERE kind = 'sos' ORDER BY id LIMIT 1`).Scan(&sosID)
	if r := admin.post("/staff/alerts/seen", url.Values{"id": {fmt.Sprint(sosID)}}); r.Code != 303 {
		t.Fatalf("mark seen: %d", r.Code)
	}
	if r := admin.get("/staff/alerts"); !strings.Contains(r.Body, "новых: 7") {
		t.Error("one alert marked seen")
	}
	aud := e.client()
	aud.login("auditor@example.ru", "correct horse battery")
	if r := aud.post("/staff/alerts/seen", url.Values{"all": {"1"}}); r.Code != 403 {
		t.Errorf("auditor marks seen: %d", r.Code)
	}
	admin.post("/staff/alerts/seen", url.Values{"all": {"1"}})
	if r := admin.get("/staff/alerts"); strings.Contains(r.Body, "новых:") || strings.Contains(r.Body, "nav-count-alerts") {
		t.Error("all marked seen, the count remains")
	}
}

func TestOfflineSince(t *testing.T) {
	wed := func(h, m int) time.Time { return msk(2026, 3, 11, h, m) }
	for _, c := range []struct {
		name      string
		now, last time.Time
		want      bool
	}{
		{"silent since yesterday, 08:20", wed(8, 20), wed(8, 0).Add(-12 * time.Hour), false},
		{"silent since yesterday, 08:31", wed(8, 31), wed(8, 0).Add(-12 * time.Hour), true},
		{"20 minutes silent", wed(12, 0), wed(11, 40), false},
		{"40 minutes silent", wed(12, 0), wed(11, 20), true},
		{"after hours", wed(20, 30), wed(15, 0), false},
		{"before hours", wed(7, 0), wed(6, 0).Add(-12 * time.Hour), false},
		{"saturday", msk(2026, 3, 14, 12, 0), msk(2026, 3, 14, 9, 0), false},
	} {
		if _, got := store.OfflineSince(c.now, c.last, moscow); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A new alert reaches open live streams of its organisation at once.
func TestLiveStreamsAlerts(t *testing.T) {
	e, app := newAppEnv(t)
	w := e.worker(e.org, "Петрова Мария", "860000000000001")
	now := time.Now()
	e.positions(pos(w.dev, now.Add(-time.Minute), 55.75, 37.61))
	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	org2, _ := e.st.AddOrganisation(context.Background(), "ЦСО Южный", "Europe/Moscow")
	other := e.loginAs(org2, "south@example.ru", store.RoleAdmin)

	got := make(chan string, 4)
	for _, cl := range []*client{c, other} {
		go func(cl *client) {
			ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/staff/live/events", nil)
			res, err := cl.hc.Do(req)
			if err != nil {
				got <- "error " + err.Error()
				return
			}
			defer res.Body.Close()
			var buf []byte
			chunk := make([]byte, 4096)
			for {
				n, err := res.Body.Read(chunk)
				buf = append(buf, chunk[:n]...)
				if i := strings.Index(string(buf), "event: alert"); i >= 0 {
					got <- string(buf[i:])
					return
				}
				if err != nil {
					got <- "none"
					return
				}
			}
		}(cl)
	}
	time.Sleep(500 * time.Millisecond) // both streams subscribed
	p := pos(w.dev, now, 55.75, 37.61)
	p.Alarm = "sos"
	e.positions(p)
	if _, err := app.CheckAlerts(context.Background(), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	a, b := <-got, <-got
	if strings.HasPrefix(b, "event: alert") {
		a, b = b, a
	}
	if !strings.Contains(a, `"alert_kind":"sos"`) || b != "none" {
		t.Errorf("streams: own %q, other organisation %q", a, b)
	}
}

// A visit the detector flagged unassigned (the client is not on the
// worker's list) raises one alert; a reviewed one raises none.
func TestUnassignedVisitAlert(t *testing.T) {
	e, app := newAppEnv(t)
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	w := e.worker(e.org, "Орлов Пётр", "860000000000004")
	now := msk(2026, 3, 11, 12, 0)
	v := e.visit(e.org, w, cl, now.Add(-40*time.Minute), now.Add(-15*time.Minute), "unassigned")
	reviewed := e.visit(e.org, w, cl, now.Add(-3*time.Hour), now.Add(-2*time.Hour), "unassigned")
	e.exec(`INSERT INTO visit_reviews (visit_id, status, reason) VALUES ($1, 'confirmed', 'замена')`, reviewed)
	admin := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	for range 2 {
		if _, err := app.CheckAlerts(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var visit int64
	e.st.Pool.QueryRow(context.Background(), `SELECT count(*), max(visit_id) FROM alerts WHERE kind = 'unassigned_visit'`).Scan(&n, &visit)
	if n != 1 || visit != v {
		t.Errorf("%d unassigned-visit alerts (visit %d), want 1 for visit %d", n, visit, v)
	}
	r := admin.get("/staff/alerts?kind=unassigned_visit")
	if !strings.Contains(r.Body, "Визит не к своему получателю") || !strings.Contains(r.Body, "визит длился 0:25") {
		t.Errorf("alerts page does not describe the unassigned visit:\n%s", r.Body)
	}
}
