package cabinet_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"carevisit/store"
)

// secretA marks every text of organisation A; any response to a user of
// organisation B that contains it (in any case) is a leak.
const secretA = "secret-a"

// TestSecurityWalk walks every registered route as each user of another
// organisation, with A's ids guessed into every URL parameter, and checks
// that nothing of A is shown or changed. It enumerates the router, so a
// route added later without scoping is walked too.
func TestSecurityWalk(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	a := seedSecretOrg(t, e)

	// Organisation B: staff of every role, a citizen and a phone.
	orgB, err := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Samara")
	if err != nil {
		t.Fatal(err)
	}
	b := dirOrg(t, e.st, orgB, "Бета", "864717003283599")
	const pw = "correct horse battery"
	e.user(orgB, "b-admin@south.ru", store.RoleAdmin, pw)
	sup := e.user(orgB, "b-sup@south.ru", store.RoleSupervisor, pw)
	if err := e.st.SetSupervisorGroups(ctx, orgB, sup, []int64{b.group}); err != nil {
		t.Fatal(err)
	}
	e.user(orgB, "b-aud@south.ru", store.RoleAuditor, pw)
	deptB := e.dept(orgB, "Отделение Бета", 1)
	e.citizen("b-citizen@south.ru", "123-456-789 64", deptB)
	tokB := "tok-b-phone-0123456789abcdef"
	h := sha256.Sum256([]byte(tokB))
	e.exec(`UPDATE devices SET token_hash = $1 WHERE id = $2`, h[:], b.app)
	e.exec(`UPDATE workers SET device_id = $1 WHERE id = $2`, b.app, b.worker)

	// Every route, with A's ids (and some that exist nowhere) in its parameters.
	routes := e.app.Routes()
	ids := a.ids(t, e)
	guesses := append(append([]string{}, ids...), "0", "999999999", "-1", "abc", "recognition", "consultation")
	paramRe := regexp.MustCompile(`\{[^}]+\}`)
	type target struct{ method, pattern, path string }
	var targets []target
	walked := 0
	for _, r := range routes {
		if strings.Contains(r.Pattern, "*") || r.Pattern == "/logout" || r.Pattern == "/login" ||
			(r.Method != "GET" && r.Method != "POST") {
			continue
		}
		walked++
		params := paramRe.FindAllString(r.Pattern, -1)
		var paths []string
		switch len(params) {
		case 0:
			paths = []string{r.Pattern}
		case 1:
			for _, g := range guesses {
				paths = append(paths, strings.Replace(r.Pattern, params[0], g, 1))
			}
		default:
			// Every guess in one parameter, with A's own ids of the
			// likely types (and the same guess) in the others.
			seen := map[string]bool{}
			for i := range params {
				for _, g := range guesses {
					for _, other := range append([]string{g}, a.related...) {
						p := r.Pattern
						for j, name := range params {
							v := other
							if j == i {
								v = g
							}
							p = strings.Replace(p, name, v, 1)
						}
						if !seen[p] {
							seen[p] = true
							paths = append(paths, p)
						}
					}
				}
			}
		}
		for _, p := range paths {
			targets = append(targets, target{r.Method, r.Pattern, p})
		}
	}

	before := a.snapshot(t, e)
	// A form naming A's objects under the usual field names.
	idForm := url.Values{}
	for k, v := range map[string]int64{"id": a.alert, "client": a.client, "worker": a.worker, "visit": a.visitClosed,
		"group": a.group, "device": a.device, "service": a.service, "dept": a.dept, "plan": a.plan,
		"schedule": a.schedule, "application": a.app, "doc": a.doc, "groups": a.group, "services": a.service,
		"scope_id": a.group, "client_id": a.client, "worker_id": a.worker, "change": a.booking} {
		idForm.Set(k, strconv.FormatInt(v, 10))
	}
	idJSON := fmt.Sprintf(`{"client_id": %d, "worker_id": %d, "visit_id": %d, "service_ids": [%d], "kind": "in",
		"at": %q, "text": "hi", "body": "hi", "pings": []}`, a.client, a.worker, a.visitClosed, a.service, time.Now().UTC().Format(time.RFC3339))

	type who struct{ name, email, bearer string }
	users := []who{{"admin", "b-admin@south.ru", ""}, {"supervisor", "b-sup@south.ru", ""}, {"auditor", "b-aud@south.ru", ""},
		{"citizen", "b-citizen@south.ru", ""}, {"app", "", tokB}}
	var (
		mu       sync.Mutex
		requests int
		statuses = map[int]int{}
		problems []string
	)
	var wg sync.WaitGroup
	for _, u := range users {
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if u.email != "" {
			if r := (&client{t: t, e: e.env, hc: hc}).login(u.email, pw); r.Code != http.StatusSeeOther {
				t.Fatalf("login %s: %d", u.email, r.Code)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := func(method, path, ctype, body string) {
				code, loc, got, err := walkRequest(hc, e.srv.URL, method, path, ctype, body, u.bearer)
				mu.Lock()
				defer mu.Unlock()
				requests++
				statuses[code]++
				what := fmt.Sprintf("%s %s %s (%q)", u.name, method, path, body)
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("%s: %v", what, err))
				case strings.Contains(strings.ToLower(got), secretA):
					i := strings.Index(strings.ToLower(got), secretA)
					problems = append(problems, fmt.Sprintf("%s: %d shows A's data: …%s…", what, code, got[max(0, i-80):min(len(got), i+40)]))
				case code >= 500:
					problems = append(problems, fmt.Sprintf("%s: %d", what, code))
				case code >= 300 && code < 400 && method == "GET" && !strings.HasPrefix(loc, "/login") && pathNamesA(path, ids):
					// Redirects elsewhere are fine for B's own pages; a GET
					// with A's id that is not refused gets a look.
					problems = append(problems, fmt.Sprintf("%s: %d to %s", what, code, loc))
				}
			}
			for _, tg := range targets {
				api := strings.HasPrefix(tg.pattern, "/api/")
				if (u.bearer != "") != api {
					// Cookies on the API and a token on the pages only
					// get 401s; walk the API once, as the phone.
					continue
				}
				if tg.method == "GET" {
					send("GET", tg.path, "", "")
					continue
				}
				if api {
					send("POST", tg.path, "application/json", "{}")
					send("POST", tg.path, "application/json", idJSON)
					continue
				}
				send("POST", tg.path, "application/x-www-form-urlencoded", "")
				send("POST", tg.path, "application/x-www-form-urlencoded", idForm.Encode())
			}
		}()
	}
	wg.Wait()

	after := a.snapshot(t, e)
	for table, h := range before {
		if after[table] != h {
			problems = append(problems, fmt.Sprintf("organisation A's %s changed while B walked the routes", table))
		}
	}
	// The sessions survived the walk (no route logged B out half-way).
	for _, u := range users[:1] {
		c := e.client()
		c.login(u.email, pw)
		if r := c.get("/staff/"); r.Code != 200 || strings.Contains(strings.ToLower(r.Body), secretA) {
			t.Errorf("%s dashboard after the walk: %d", u.name, r.Code)
		}
	}
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var sum []string
	for _, c := range codes {
		sum = append(sum, fmt.Sprintf("%d×%d", c, statuses[c]))
	}
	t.Logf("walked %d routes (%d URLs with %d guessed ids) as %d users of B: %d requests; statuses %s",
		walked, len(targets), len(guesses), len(users), requests, strings.Join(sum, " "))
	sort.Strings(problems)
	for i, p := range problems {
		if i == 40 {
			t.Errorf("… and %d more", len(problems)-40)
			break
		}
		t.Error(p)
	}
}

// pathNamesA reports whether a path carries one of A's ids.
func pathNamesA(path string, ids []string) bool {
	for _, seg := range strings.Split(path, "/") {
		for _, id := range ids {
			if seg == id {
				return true
			}
		}
	}
	return false
}

// walkRequest is one request that never stops the test: live streams are
// read briefly, then dropped.
func walkRequest(hc *http.Client, base, method, path, ctype, body, bearer string) (int, string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if method == "POST" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, "", "", err
	}
	if method == "POST" {
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		time.AfterFunc(300*time.Millisecond, cancel)
	}
	b, err := io.ReadAll(res.Body)
	if ctx.Err() != nil {
		err = nil // the stream was cut on purpose
	}
	return res.StatusCode, res.Header.Get("Location"), string(b), err
}

// secretOrg is organisation A with one of everything, every text marked.
type secretOrg struct {
	org, group, admin, sup, device, app, worker, appWorker, client, service, plan int64
	visitClosed, visitOpen, review, alert, photo, message, schedule, dept         int64
	citizen, appl, doc, booking, missed                                           int64
	related                                                                       []string // ids for the second parameter of two-parameter routes
}

func seedSecretOrg(t *testing.T, e *citEnv) *secretOrg {
	t.Helper()
	ctx := context.Background()
	sc := store.Scope{OrgID: e.org}
	a := &secretOrg{org: e.org}
	must := func(id int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	one := func(sql string, args ...any) int64 {
		t.Helper()
		var id int64
		if err := e.st.Pool.QueryRow(ctx, sql, args...).Scan(&id); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return id
	}
	// The organisation's name is public (citizens pick it when they
	// register), so it carries no marker.
	a.group = must(e.st.SaveGroup(ctx, sc, store.DirGroup{Name: "SECRET-A-group"}))
	a.admin = e.user(e.org, "secret-a-admin@alpha.ru", store.RoleAdmin, "correct horse battery")
	a.sup = e.user(e.org, "secret-a-sup@alpha.ru", store.RoleSupervisor, "correct horse battery")
	e.exec(`UPDATE users SET full_name = 'SECRET-A-' || role WHERE org_id = $1`, e.org)
	if err := e.st.SetSupervisorGroups(ctx, e.org, a.sup, []int64{a.group}); err != nil {
		t.Fatal(err)
	}
	a.device = must(e.st.SaveDevice(ctx, sc, store.DirDevice{Ident: "864717003283581", Protocol: "gt06", Name: "SECRET-A-tracker"}, nil))
	h := sha256.Sum256([]byte("tok-secret-a-phone-0123456789"))
	a.app = must(e.st.SaveDevice(ctx, sc, store.DirDevice{Ident: "secret-a-phone", Protocol: "app", Name: "SECRET-A-phone"}, h[:]))
	var err error
	a.client, _, err = e.st.SaveClient(ctx, sc, store.Client{FullName: "SECRET-A-client", Address: "SECRET-A-address",
		Phone: "SECRET-A-clientphone", Notes: "SECRET-A-notes", FenceKind: "circle", CenterLat: 54.6, CenterLon: 39.7, RadiusM: 40})
	must(0, err)
	a.worker = must(e.st.SaveWorker(ctx, sc, store.DirWorker{FullName: "SECRET-A-worker", Phone: "SECRET-A-phone",
		GroupID: a.group, DeviceID: a.device, ClientIDs: []int64{a.client}}))
	a.appWorker = must(e.st.SaveWorker(ctx, sc, store.DirWorker{FullName: "SECRET-A-appworker", GroupID: a.group,
		DeviceID: a.app, ClientIDs: []int64{a.client}}))
	a.service = must(e.st.SaveService(ctx, sc, store.Service{Name: "SECRET-A-service", NormMinutes: 20, Active: true}))
	if err := e.st.SetClientServices(ctx, sc, a.client, []int64{a.service}); err != nil {
		t.Fatal(err)
	}
	a.plan = must(e.st.SavePlan(ctx, sc, store.Plan{ClientID: a.client, WorkerID: a.worker, Weekday: 1, StartMin: 600, EndMin: 660,
		ServiceIDs: []int64{a.service}, Active: true}))

	w := seeded{dev: a.device, worker: a.worker}
	start := time.Now().Add(-26 * time.Hour).Truncate(time.Minute)
	a.visitClosed = e.visit(e.org, w, a.client, start, start.Add(47*time.Minute), "short")
	a.visitOpen = e.visit(e.org, w, a.client, time.Now().Add(-20*time.Minute).Truncate(time.Minute), time.Time{})
	e.positions(pos(a.device, start.Add(5*time.Minute), 54.6, 39.7), pos(a.device, time.Now().Add(-10*time.Minute), 54.6, 39.7))
	e.exec(`INSERT INTO service_ticks (org_id, worker_id, client_id, service_id, at) VALUES ($1, $2, $3, $4, $5)`,
		e.org, a.worker, a.client, a.service, start.Add(20*time.Minute))
	a.review = one(`INSERT INTO visit_reviews (visit_id, user_id, status, start_time, end_time, reason)
		VALUES ($1, $2, 'corrected', $3, $4, 'SECRET-A-reason') RETURNING id`, a.visitClosed, a.sup, start, start.Add(time.Hour))
	a.alert = one(`INSERT INTO alerts (org_id, kind, worker_id, device_id, client_id, visit_id, dedup_key, details)
		VALUES ($1, 'sos', $2, $3, $4, $5, 'secret-a-1', '{"note": "SECRET-A-alert"}') RETURNING id`, e.org, a.worker, a.device, a.client, a.visitClosed)
	one(`INSERT INTO alerts (org_id, kind, worker_id, client_id, visit_id, dedup_key) VALUES ($1, 'short_visit', $2, $3, $4, 'secret-a-2')
		RETURNING id`, e.org, a.worker, a.client, a.visitClosed)
	a.photo = one(`INSERT INTO photos (org_id, worker_id, device_id, client_id, lat, lon, content_type, size, data, note)
		VALUES ($1, $2, $3, $4, 54.6, 39.7, 'image/png', 32, $5, 'SECRET-A-photonote') RETURNING id`,
		e.org, a.appWorker, a.app, a.client, []byte("\x89PNG\r\n\x1a\nSECRET-A-photo-bytes......"))
	a.message = one(`INSERT INTO messages (org_id, worker_id, from_worker, body) VALUES ($1, $2, true, 'SECRET-A-msg') RETURNING id`, e.org, a.appWorker)
	one(`INSERT INTO messages (org_id, worker_id, from_worker, user_id, body) VALUES ($1, $2, false, $3, 'SECRET-A-reply') RETURNING id`, e.org, a.appWorker, a.sup)
	a.schedule = must(e.st.CreateReportSchedule(ctx, store.ReportSchedule{OrgID: e.org, Kind: "visits", Scope: "group", ScopeID: a.group,
		Format: "xlsx", Lang: "ru", Preset: "daily", CronSpec: "0 7 * * *", Period: "day", Recipients: []string{"secret-a-report@alpha.ru"}, Enabled: true}))
	if _, err := e.st.AddReportRun(ctx, a.schedule, time.Now().Add(-time.Hour), time.Now()); err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE report_runs SET error = 'SECRET-A-runerror', status = 'failed' WHERE schedule_id = $1`, a.schedule)
	a.missed = one(`INSERT INTO missed_visits (org_id, planned_visit_id, client_id, worker_id, window_start, window_end)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.org, a.plan, a.client, a.worker, start.Add(-7*24*time.Hour), start.Add(-7*24*time.Hour+time.Hour))

	// Departments are public (citizens of any organisation choose them
	// when they register), so their names carry no marker.
	a.dept = e.dept(e.org, "Отделение Альфа", 2)
	c, uid := e.citizen("secret-a-citizen@alpha.ru", "112-233-445 95", a.dept)
	a.citizen = uid
	e.exec(`UPDATE users SET full_name = 'SECRET-A-citizen' WHERE id = $1`, uid)
	e.exec(`UPDATE citizen_profiles SET phone = 'SECRET-A-citphone', reg_address = 'SECRET-A-reg', res_address = 'SECRET-A-res' WHERE user_id = $1`, uid)
	adm := e.client()
	adm.login("secret-a-admin@alpha.ru", "correct horse battery")
	if r := adm.post(fmt.Sprintf("/staff/citizens/%d/clients", uid), url.Values{"client": {itoa(a.client)}}); r.Code != http.StatusSeeOther {
		t.Fatalf("link citizen: %d", r.Code)
	}
	if r := c.post(fmt.Sprintf("/my/visits/%d/feedback", a.visitClosed), url.Values{"status": {"disputed"}, "rating": {"2"},
		"comment": {"SECRET-A-feedback"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("feedback: %d", r.Code)
	}
	form := map[string]string{"action": "submit"}
	for k, v := range citRecognitionForm {
		form[k] = v
	}
	form["circumstances"], form["family"] = "SECRET-A-circumstances", "SECRET-A-family"
	pdf := append(citPDF(2000), "SECRET-A-docbody"...)
	r := c.citUpload("/my/applications/new?service=recognition", form, "file", "secret-a-doc.pdf", pdf)
	if r.Code != http.StatusSeeOther {
		t.Fatalf("application: %d\n%s", r.Code, r.Body)
	}
	a.appl = must(strconv.ParseInt(strings.TrimPrefix(r.Location, "/my/applications/"), 10, 64))
	a.doc = one(`SELECT id FROM citizen_documents WHERE application_id = $1`, a.appl)
	if r := adm.post(fmt.Sprintf("/staff/applications/%d/status", a.appl), url.Values{"status": {"payment_assigned"},
		"comment": {"SECRET-A-statuscomment"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("status: %d\n%s", r.Code, r.Body)
	}
	slot := time.Now().Truncate(time.Hour).Add(49 * time.Hour)
	if r := c.post("/my/appointments", url.Values{"dept": {itoa(a.dept)}, "service": {"consultation"},
		"slot": {strconv.FormatInt(slot.Unix(), 10)}, "day": {slot.In(moscow).Format(time.DateOnly)}}); r.Code != http.StatusSeeOther {
		t.Fatalf("booking: %d\n%s", r.Code, r.Body)
	}
	a.booking = one(`SELECT id FROM bookings WHERE user_id = $1`, uid)
	a.related = []string{itoa(a.appl), itoa(a.doc), itoa(a.client), itoa(a.worker)}
	return a
}

// walkTables are A's rows in each table that matters, by a condition on $1
// (A's organisation) and $2 (A's citizen).
var walkTables = map[string]string{
	"organisations":         `id = $1`,
	"users":                 `org_id = $1 OR id = $2`,
	"groups":                `org_id = $1`,
	"supervisor_groups":     `group_id IN (SELECT id FROM groups WHERE org_id = $1)`,
	"devices":               `org_id = $1`,
	"workers":               `org_id = $1`,
	"clients":               `org_id = $1`,
	"worker_clients":        `client_id IN (SELECT id FROM clients WHERE org_id = $1) OR worker_id IN (SELECT id FROM workers WHERE org_id = $1)`,
	"services":              `org_id = $1`,
	"client_services":       `client_id IN (SELECT id FROM clients WHERE org_id = $1) OR service_id IN (SELECT id FROM services WHERE org_id = $1)`,
	"planned_visits":        `org_id = $1 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"missed_visits":         `org_id = $1`,
	"visits":                `org_id = $1 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"visit_reviews":         `visit_id IN (SELECT id FROM visits WHERE org_id = $1)`,
	"visit_feedback":        `visit_id IN (SELECT id FROM visits WHERE org_id = $1)`,
	"service_ticks":         `org_id = $1 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"alerts":                `org_id = $1 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"photos":                `org_id = $1 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"app_checkins":          `org_id = $1 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"messages":              `org_id = $1 OR worker_id IN (SELECT id FROM workers WHERE org_id = $1)`,
	"report_schedules":      `org_id = $1`,
	"report_runs":           `schedule_id IN (SELECT id FROM report_schedules WHERE org_id = $1)`,
	"departments":           `org_id = $1`,
	"citizen_profiles":      `user_id = $2`,
	"citizen_clients":       `user_id = $2 OR client_id IN (SELECT id FROM clients WHERE org_id = $1)`,
	"applications":          `org_id = $1 OR user_id = $2`,
	"citizen_documents":     `org_id = $1 OR user_id = $2`,
	"citizen_notifications": `user_id = $2`,
	"bookings":              `org_id = $1 OR user_id = $2`,
}

// snapshot is a digest of A's rows per table.
func (a *secretOrg) snapshot(t *testing.T, e *citEnv) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, cond := range walkTables {
		var h string
		cond = strings.NewReplacer("$1", itoa(a.org), "$2", itoa(a.citizen)).Replace(cond)
		q := fmt.Sprintf(`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t WHERE %s`, table, cond)
		if err := e.st.Pool.QueryRow(context.Background(), q).Scan(&h); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		out[table] = h
	}
	return out
}

// ids are all of A's ids, of any table, as URL segments.
func (a *secretOrg) ids(t *testing.T, e *citEnv) []string {
	t.Helper()
	set := map[int64]bool{}
	for _, id := range []int64{a.org, a.group, a.admin, a.sup, a.device, a.app, a.worker, a.appWorker, a.client, a.service, a.plan,
		a.visitClosed, a.visitOpen, a.review, a.alert, a.photo, a.message, a.schedule, a.dept, a.citizen, a.appl, a.doc, a.booking, a.missed} {
		set[id] = true
	}
	rows, err := e.st.Pool.Query(context.Background(), `SELECT id FROM alerts WHERE org_id = $1 UNION SELECT id FROM messages WHERE org_id = $1
		UNION SELECT id FROM report_runs WHERE schedule_id = $2 UNION SELECT id FROM citizen_notifications WHERE user_id = $3
		UNION SELECT id FROM citizen_documents WHERE user_id = $3 UNION SELECT id FROM visit_feedback WHERE user_id = $3`, a.org, a.schedule, a.citizen)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		set[id] = true
	}
	rows.Close()
	var out []string
	for id := range set {
		out = append(out, itoa(id))
	}
	sort.Strings(out)
	return out
}
