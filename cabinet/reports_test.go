package cabinet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"carevisit/store"
)

// repJobState is the job status endpoint's answer.
type repJobState struct {
	State string `json:"state"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
	File  string `json:"file"`
	Name  string `json:"name"`
	Error string `json:"error"`
}

// repFixture is an organisation with two groups, a worker in each, a
// client each, and visits in March 2026; plus a second organisation.
type repFixture struct {
	e                *env
	ga, gb           int64
	wa, wb           seeded
	ivanova, smirnov int64
	org2             int64
	w2               seeded
}

func newRepFixture(t *testing.T) *repFixture {
	e := newEnv(t)
	ctx := context.Background()
	f := &repFixture{e: e}
	var err error
	if f.ga, err = e.st.AddGroup(ctx, e.org, "Группа Север"); err != nil {
		t.Fatal(err)
	}
	if f.gb, err = e.st.AddGroup(ctx, e.org, "Группа Юг"); err != nil {
		t.Fatal(err)
	}
	f.ivanova = e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5", 55.75, 37.61)
	f.smirnov = e.clientAt(e.org, "Смирнов Олег Ильич", "ул. Мира, 1", 55.76, 37.62)
	f.wa = e.worker(e.org, "Петрова Мария", "860000000000001")
	f.wb = e.worker(e.org, "Сидоров Иван", "860000000000002")
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, f.ga, f.wa.worker)
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, f.gb, f.wb.worker)
	e.visit(e.org, f.wa, f.ivanova, msk(2026, 3, 10, 10, 42), msk(2026, 3, 10, 11, 17))
	e.visit(e.org, f.wb, f.smirnov, msk(2026, 3, 11, 15, 0), msk(2026, 3, 11, 15, 40))
	// Outside March: not in a March report.
	e.visit(e.org, f.wa, f.smirnov, msk(2026, 4, 1, 9, 0), msk(2026, 4, 1, 9, 30))

	if f.org2, err = e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	f.w2 = e.worker(f.org2, "Чужой Работник", "860000000000009")
	c2 := e.clientAt(f.org2, "Чужая Клиентка", "ул. Чужая, 9", 55.70, 37.50)
	e.visit(f.org2, f.w2, c2, msk(2026, 3, 12, 10, 0), msk(2026, 3, 12, 11, 0))
	return f
}

func repForm(kv ...string) url.Values {
	f := url.Values{"from": {"2026-03-01"}, "to": {"2026-03-31"}, "scope": {"org"}, "format": {"xlsx"}, "lang": {"ru"}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// startReport posts the form and returns the job id it redirects to.
func startReport(t *testing.T, c *client, form url.Values) string {
	t.Helper()
	r := c.post("/staff/reports", form)
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/staff/reports?job=") {
		t.Fatalf("POST /staff/reports: %d %q\n%s", r.Code, r.Location, r.Body)
	}
	return strings.TrimPrefix(r.Location, "/staff/reports?job=")
}

// waitJob polls the status endpoint until the job ends.
func waitJob(t *testing.T, c *client, id string) repJobState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.get("/staff/reports/jobs/" + id)
		if r.Code != http.StatusOK {
			t.Fatalf("job status: %d %s", r.Code, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("job status content type %q", ct)
		}
		var s repJobState
		if err := json.Unmarshal([]byte(r.Body), &s); err != nil {
			t.Fatalf("job status %q: %v", r.Body, err)
		}
		if s.State == "done" || s.State == "failed" {
			return s
		}
		if s.State != "queued" && s.State != "running" {
			t.Fatalf("job state %q", s.State)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after 20 s", s.State)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// download builds a report to the end and fetches the file.
func download(t *testing.T, c *client, form url.Values) (repJobState, resp) {
	t.Helper()
	id := startReport(t, c, form)
	s := waitJob(t, c, id)
	if s.State != "done" {
		t.Fatalf("job failed: %+v", s)
	}
	if s.File != "/staff/reports/jobs/"+id+"/file" {
		t.Fatalf("file address %q", s.File)
	}
	r := c.get(s.File)
	if r.Code != http.StatusOK {
		t.Fatalf("file: %d", r.Code)
	}
	return s, r
}

func attachmentName(t *testing.T, r resp) string {
	t.Helper()
	cd := r.Header.Get("Content-Disposition")
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "attachment" {
		t.Fatalf("Content-Disposition %q: %v", cd, err)
	}
	if !strings.Contains(cd, `filename="visits_`) || !strings.Contains(cd, "filename*=UTF-8''") {
		t.Errorf("Content-Disposition %q lacks the ASCII fallback or filename*", cd)
	}
	return params["filename"]
}

func TestReportsXLSXDownload(t *testing.T) {
	f := newRepFixture(t)
	c := f.e.loginAs(f.e.org, "admin@example.ru", store.RoleAdmin)

	r := c.get("/staff/reports")
	if r.Code != 200 || !strings.Contains(r.Body, `name="from"`) || !strings.Contains(r.Body, "Петрова Мария") ||
		!strings.Contains(r.Body, "Группа Юг") || !strings.Contains(r.Body, `href="/staff/reports"`) {
		t.Fatalf("form: %d\n%s", r.Code, r.Body)
	}
	if strings.Contains(r.Body, "Чужой Работник") {
		t.Fatal("the form offers another organisation's worker")
	}
	// The default period is last month.
	now := time.Now().In(moscow)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, moscow)
	if want := `value="` + first.AddDate(0, -1, 0).Format("2006-01-02") + `"`; !strings.Contains(r.Body, want) {
		t.Errorf("default from is not the first of last month (%s)", want)
	}

	id := startReport(t, c, repForm())
	s := waitJob(t, c, id)
	if s.State != "done" || s.Done != 2 || s.Total != 2 {
		t.Fatalf("progress at the end: %+v, want done 2 of 2", s)
	}
	page := c.get("/staff/reports?job=" + id)
	if !strings.Contains(page.Body, `id="rep-download" href="/staff/reports/jobs/`+id+`/file"`) {
		t.Errorf("the job page offers no file:\n%s", page.Body)
	}
	file := c.get(s.File)
	if file.Code != 200 || file.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Fatalf("file: %d %q", file.Code, file.Header.Get("Content-Type"))
	}
	if name := attachmentName(t, file); name != "Визиты_2026-03-01_2026-03-31.xlsx" || s.Name != name {
		t.Errorf("file name %q (status says %q)", name, s.Name)
	}
	x, err := excelize.OpenReader(bytes.NewReader([]byte(file.Body)))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rows, err := x.GetRows("Визиты")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, row := range rows {
		line := strings.Join(row, "|")
		if strings.Contains(line, "Иванова Анна Петровна") && strings.Contains(line, "Петрова Мария") &&
			strings.Contains(line, "ул. Ленина, 5") {
			found = true
		}
		if strings.Contains(line, "Чужая Клиентка") {
			t.Error("another organisation's visit is in the report")
		}
	}
	if !found || len(rows) != 3 {
		t.Errorf("visits sheet: %d rows, visit row found %v:\n%v", len(rows), found, rows)
	}
	// The file can be fetched again while the job lives.
	if r := c.get(s.File); r.Code != 200 || len(r.Body) != len(file.Body) {
		t.Error("second download")
	}
	var audits int
	f.e.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE org_id = $1 AND action = 'export' AND entity = 'report'`,
		f.e.org).Scan(&audits)
	if audits != 1 {
		t.Errorf("%d export audit entries, want 1", audits)
	}
}

func TestReportsCSVDownload(t *testing.T) {
	f := newRepFixture(t)
	c := f.e.loginAs(f.e.org, "admin@example.ru", store.RoleAdmin)
	s, r := download(t, c, repForm("format", "csv", "lang", "en", "scope", fmt.Sprintf("w%d", f.wa.worker)))
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if name := attachmentName(t, r); name != "visits_2026-03-01_2026-03-31.csv" || s.Name != name {
		t.Errorf("English file name %q", name)
	}
	if !strings.HasPrefix(r.Body, "\uFEFF") {
		t.Error("no byte order mark")
	}
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(r.Body, "\uFEFF")), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "Иванова Анна Петровна") || !strings.Contains(lines[1], "2026-03-10,") {
		t.Fatalf("CSV of one worker's March:\n%s", r.Body)
	}
	if strings.Contains(r.Body, "Смирнов") {
		t.Error("the worker report has another worker's visit")
	}

	// A Russian CSV of a group, with the group in the file name.
	_, r = download(t, c, repForm("format", "csv", "scope", fmt.Sprintf("g%d", f.gb)))
	if name := attachmentName(t, r); name != "Визиты_Группа_Юг_2026-03-01_2026-03-31.csv" {
		t.Errorf("group file name %q", name)
	}
	if !strings.Contains(r.Body, "Смирнов Олег Ильич;") || strings.Contains(r.Body, "Иванова") {
		t.Errorf("group CSV:\n%s", r.Body)
	}
}

func TestReportsValidation(t *testing.T) {
	f := newRepFixture(t)
	c := f.e.loginAs(f.e.org, "admin@example.ru", store.RoleAdmin)
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"to before from", repForm("from", "2026-03-10", "to", "2026-03-09"), "to", "раньше даты начала"},
		{"longer than a year", repForm("from", "2025-01-01", "to", "2026-01-02"), "to", "не может быть длиннее 366 дней"},
		{"bad date", repForm("from", "10.03.2026"), "from", "ГГГГ-ММ-ДД"},
		{"missing date", repForm("to", ""), "to", "Заполните это поле"},
		{"other org's worker", repForm("scope", fmt.Sprintf("w%d", f.w2.worker)), "scope", "Такой группы или сотрудника нет"},
		{"unknown group", repForm("scope", "g999999"), "scope", "Такой группы или сотрудника нет"},
		{"bad format", repForm("format", "pdf"), "format", "Выберите значение"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post("/staff/reports", tc.form)
			if r.Code != http.StatusUnprocessableEntity {
				t.Fatalf("%d %q, want 422", r.Code, r.Location)
			}
			// The message sits right after the field it is about.
			i := strings.Index(r.Body, `id="`+tc.field+`"`)
			j := strings.Index(r.Body, tc.msg)
			if i < 0 || j < i || strings.Contains(r.Body[i:j], "<label") {
				t.Errorf("message %q is not next to field %q", tc.msg, tc.field)
			}
			if !strings.Contains(r.Body[i:], `aria-invalid="true"`) {
				t.Error("field not marked invalid")
			}
			if strings.Contains(r.Body, "Чужой Работник") {
				t.Error("another organisation's worker's name shown")
			}
		})
	}
	// 366 days is allowed: the whole of 2024 (a leap year).
	if r := c.post("/staff/reports", repForm("from", "2024-01-01", "to", "2024-12-31")); r.Code != http.StatusSeeOther {
		t.Errorf("a 366-day period: %d", r.Code)
	}
}

func TestReportsSupervisorScope(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	uid := e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	if err := e.st.SetSupervisorGroups(context.Background(), e.org, uid, []int64{f.ga}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login("sup@example.ru", "correct horse battery")

	r := c.get("/staff/reports")
	if !strings.Contains(r.Body, "Петрова Мария") || strings.Contains(r.Body, "Сидоров Иван") || strings.Contains(r.Body, "Группа Юг") {
		t.Error("the supervisor's menus are not limited to their group")
	}
	if !strings.Contains(r.Body, "Все мои группы") {
		t.Error(`the supervisor's "org" choice is not "all my groups"`)
	}
	for _, scope := range []string{fmt.Sprintf("w%d", f.wb.worker), fmt.Sprintf("g%d", f.gb)} {
		r := c.post("/staff/reports", repForm("scope", scope))
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Такой группы или сотрудника нет") {
			t.Errorf("supervisor asking for %s: %d", scope, r.Code)
		}
	}
	// "All my groups": only group A's visits.
	_, r = download(t, c, repForm("format", "csv"))
	if !strings.Contains(r.Body, "Иванова Анна Петровна") || strings.Contains(r.Body, "Смирнов") || strings.Contains(r.Body, "Сидоров") {
		t.Errorf("supervisor's whole-scope report:\n%s", r.Body)
	}
}

func TestReportsJobsBelongToTheirUser(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	id := startReport(t, c, repForm())
	s := waitJob(t, c, id)

	for _, other := range []*client{
		e.loginAs(e.org, "admin2@example.ru", store.RoleAdmin),   // same organisation, another user
		e.loginAs(f.org2, "foreign@example.ru", store.RoleAdmin), // another organisation
	} {
		for _, path := range []string{"/staff/reports/jobs/" + id, s.File} {
			r := other.get(path)
			if r.Code != http.StatusNotFound || strings.Contains(r.Body, "Визиты_") || strings.Contains(r.Body, "PK") {
				t.Errorf("another user on %s: %d %.80q", path, r.Code, r.Body)
			}
		}
		if r := other.get("/staff/reports?job=" + id); !strings.Contains(r.Body, `id="rep-gone"`) || strings.Contains(r.Body, "/file") {
			t.Error("another user's job page shows the job")
		}
	}
	if r := c.get("/staff/reports/jobs/nonexistent"); r.Code != http.StatusNotFound {
		t.Errorf("unknown job: %d", r.Code)
	}
	if r := e.client().get(s.File); r.Code != http.StatusSeeOther {
		t.Errorf("anonymous file download: %d, want a redirect to log in", r.Code)
	}
}

func TestReportsAuditorDownloads(t *testing.T) {
	f := newRepFixture(t)
	c := f.e.loginAs(f.e.org, "aud@example.ru", store.RoleAuditor)
	if _, r := download(t, c, repForm("format", "csv")); !strings.Contains(r.Body, "Иванова") {
		t.Error("an auditor cannot download a report")
	}
}

// schedID returns the id of the only schedule in org.
func schedID(t *testing.T, e *env, org int64) int64 {
	t.Helper()
	ss, err := e.st.ReportSchedules(context.Background(), org)
	if err != nil || len(ss) != 1 {
		t.Fatalf("schedules of org %d: %v %v", org, ss, err)
	}
	return ss[0].ID
}

func TestReportsSchedules(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)

	r := c.get("/staff/reports/schedules")
	if r.Code != 200 || !strings.Contains(r.Body, `id="schedule-form"`) || !strings.Contains(r.Body, "Рассылок пока нет") {
		t.Fatalf("schedules page: %d\n%s", r.Code, r.Body)
	}
	sched := func(kv ...string) url.Values {
		v := url.Values{"preset": {"monthly"}, "scope": {"org"}, "format": {"xlsx"}, "lang": {"ru"}, "period": {"day"},
			"recipients": {"director@example.org, acc@example.org"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"bad cron", sched("preset", "custom", "cron", "61 7 * * *"), "cron", "Неверное cron-выражение"},
		{"cron with a zone", sched("preset", "custom", "cron", "CRON_TZ=UTC 0 8 * * *"), "cron", "Неверное cron-выражение"},
		{"four fields", sched("preset", "custom", "cron", "0 8 * *"), "cron", "Неверное cron-выражение"},
		{"bad recipient", sched("recipients", "director@example.org, not-an-address"), "recipients", "«not-an-address» — не адрес"},
		{"no recipients", sched("recipients", " "), "recipients", "Заполните это поле"},
		{"other org's worker", sched("scope", fmt.Sprintf("w%d", f.w2.worker)), "scope", "Такой группы или сотрудника нет"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post("/staff/reports/schedules", tc.form)
			if r.Code != http.StatusUnprocessableEntity {
				t.Fatalf("%d, want 422", r.Code)
			}
			i := strings.Index(r.Body, `id="`+tc.field+`"`)
			j := strings.Index(r.Body, tc.msg)
			if i < 0 || j < i || strings.Contains(r.Body[i:j], "<label") {
				t.Errorf("message %q is not next to field %q", tc.msg, tc.field)
			}
			if !strings.Contains(r.Body[i:], `aria-invalid="true"`) {
				t.Error("field not marked invalid")
			}
		})
	}
	if ss, _ := e.st.ReportSchedules(context.Background(), e.org); len(ss) != 0 {
		t.Fatalf("refused forms stored %d schedules", len(ss))
	}

	r = c.post("/staff/reports/schedules", sched())
	if r.Code != http.StatusSeeOther || r.Location != "/staff/reports/schedules" {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	id := schedID(t, e, e.org)
	r = c.get("/staff/reports/schedules")
	row := rowOf(r.Body, fmt.Sprintf("schedule-%d", id))
	now := time.Now().In(moscow)
	next := time.Date(now.Year(), now.Month(), 1, 8, 0, 0, 0, moscow)
	if !next.After(now) {
		next = next.AddDate(0, 1, 0)
	}
	for _, want := range []string{"Рассылка создана", "Вся организация", "1-го числа в 08:00", "Europe/Moscow",
		"<span>director@example.org</span> <span>acc@example.org</span>", "включена", next.Format("02.01.2006 15:04")} {
		if !strings.Contains(row, want) && !strings.Contains(r.Body, want) {
			t.Errorf("schedule list lacks %q:\n%s", want, row)
		}
	}

	// A custom spec.
	if r := c.post("/staff/reports/schedules", sched("preset", "custom", "cron", "30 7 * * 1-5", "period", "week",
		"scope", fmt.Sprintf("g%d", f.ga), "format", "csv")); r.Code != http.StatusSeeOther {
		t.Fatalf("custom: %d", r.Code)
	}
	ss, _ := e.st.ReportSchedules(context.Background(), e.org)
	if len(ss) != 2 || ss[1].CronSpec != "30 7 * * 1-5" || ss[1].Period != "week" || ss[1].Scope != "group" || ss[1].ScopeID != f.ga {
		t.Fatalf("custom schedule stored as %+v", ss[1])
	}
	if r := c.get("/staff/reports/schedules"); !strings.Contains(rowOf(r.Body, fmt.Sprintf("schedule-%d", ss[1].ID)), "30 7 * * 1-5") ||
		!strings.Contains(rowOf(r.Body, fmt.Sprintf("schedule-%d", ss[1].ID)), "Группа: Группа Север") {
		t.Error("custom schedule row")
	}
	e.exec(`DELETE FROM report_schedules WHERE id = $1`, ss[1].ID)

	// Disable, enable.
	if r := c.post(fmt.Sprintf("/staff/reports/schedules/%d/disable", id), url.Values{}); r.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.Code)
	}
	if s, _ := e.st.ReportSchedule(context.Background(), e.org, id); s.Enabled {
		t.Fatal("still enabled")
	}
	r = c.get("/staff/reports/schedules")
	if row := rowOf(r.Body, fmt.Sprintf("schedule-%d", id)); !strings.Contains(row, "выключена") || !strings.Contains(row, `id="enable-`) {
		t.Errorf("disabled row:\n%s", row)
	}
	if r := c.post(fmt.Sprintf("/staff/reports/schedules/%d/enable", id), url.Values{}); r.Code != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.Code)
	}
	if s, _ := e.st.ReportSchedule(context.Background(), e.org, id); !s.Enabled {
		t.Fatal("not enabled again")
	}

	// The run log.
	e.exec(`INSERT INTO report_runs (schedule_id, due_at, status, attempts, error, next_attempt_at, sent_at) VALUES
		($1, $2, 'sent', 1, '', $2, $3), ($1, $4, 'failed', 6, '550 mailbox unavailable', $4, NULL)`,
		id, msk(2026, 3, 1, 8, 0), msk(2026, 3, 1, 8, 1), msk(2026, 4, 1, 8, 0))
	r = c.get(fmt.Sprintf("/staff/reports/schedules/%d", id))
	if r.Code != 200 {
		t.Fatalf("run log: %d", r.Code)
	}
	runs, _ := e.st.ReportRuns(context.Background(), e.org, id, 10)
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	failed, sent := rowOf(r.Body, fmt.Sprintf("run-%d", runs[0].ID)), rowOf(r.Body, fmt.Sprintf("run-%d", runs[1].ID))
	for _, want := range []string{"01.04.2026 08:00", "не отправлен", ">6<", "550 mailbox unavailable"} {
		if !strings.Contains(failed, want) {
			t.Errorf("failed run lacks %q:\n%s", want, failed)
		}
	}
	for _, want := range []string{"01.03.2026 08:00", "отправлен", ">1<", "01.03.2026 08:01"} {
		if !strings.Contains(sent, want) {
			t.Errorf("sent run lacks %q:\n%s", want, sent)
		}
	}
	if strings.Index(r.Body, failed) > strings.Index(r.Body, sent) {
		t.Error("runs are not newest first")
	}

	// An auditor reads and changes nothing.
	aud := e.loginAs(e.org, "aud@example.ru", store.RoleAuditor)
	r = aud.get("/staff/reports/schedules")
	if !strings.Contains(r.Body, "director@example.org") || strings.Contains(r.Body, `id="schedule-form"`) ||
		strings.Contains(r.Body, `id="disable-`) {
		t.Error("the auditor's list: schedules hidden or forms shown")
	}
	for _, path := range []string{"/staff/reports/schedules", fmt.Sprintf("/staff/reports/schedules/%d/disable", id),
		fmt.Sprintf("/staff/reports/schedules/%d/delete", id)} {
		if r := aud.post(path, sched()); r.Code != http.StatusForbidden {
			t.Errorf("auditor POST %s: %d, want 403", path, r.Code)
		}
	}
	if r := aud.get(fmt.Sprintf("/staff/reports/schedules/%d", id)); r.Code != 200 || !strings.Contains(r.Body, "550 mailbox unavailable") {
		t.Error("the auditor cannot read the run log")
	}

	// Delete.
	if r := c.post(fmt.Sprintf("/staff/reports/schedules/%d/delete", id), url.Values{}); r.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.Code)
	}
	if _, err := e.st.ReportSchedule(context.Background(), e.org, id); err == nil {
		t.Fatal("not deleted")
	}
	if r := c.get(fmt.Sprintf("/staff/reports/schedules/%d", id)); r.Code != http.StatusNotFound {
		t.Errorf("deleted schedule's log: %d", r.Code)
	}
}

func TestReportsSchedulesSupervisor(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	ctx := context.Background()
	uid := e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	if err := e.st.SetSupervisorGroups(ctx, e.org, uid, []int64{f.ga}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login("sup@example.ru", "correct horse battery")
	form := url.Values{"preset": {"daily"}, "format": {"xlsx"}, "lang": {"ru"}, "recipients": {"head@example.org"}}

	// An administrator's organisation-wide schedule and one about group B.
	orgWide := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	for _, scope := range []string{"org", fmt.Sprintf("g%d", f.gb)} {
		form.Set("scope", scope)
		if r := orgWide.post("/staff/reports/schedules", form); r.Code != http.StatusSeeOther {
			t.Fatalf("admin create %s: %d", scope, r.Code)
		}
	}
	for _, scope := range []string{"org", fmt.Sprintf("g%d", f.gb), fmt.Sprintf("w%d", f.wb.worker)} {
		form.Set("scope", scope)
		if r := c.post("/staff/reports/schedules", form); r.Code != http.StatusUnprocessableEntity {
			t.Errorf("supervisor create %s: %d, want 422", scope, r.Code)
		}
	}
	form.Set("scope", fmt.Sprintf("w%d", f.wa.worker))
	if r := c.post("/staff/reports/schedules", form); r.Code != http.StatusSeeOther {
		t.Fatalf("supervisor create for own worker: %d", r.Code)
	}
	all, _ := e.st.ReportSchedules(ctx, e.org)
	if len(all) != 3 {
		t.Fatalf("%d schedules", len(all))
	}
	r := c.get("/staff/reports/schedules")
	if strings.Contains(r.Body, fmt.Sprintf(`id="schedule-%d"`, all[0].ID)) || strings.Contains(r.Body, fmt.Sprintf(`id="schedule-%d"`, all[1].ID)) ||
		!strings.Contains(r.Body, fmt.Sprintf(`id="schedule-%d"`, all[2].ID)) || !strings.Contains(r.Body, "Сотрудник: Петрова Мария") {
		t.Errorf("supervisor sees schedules outside their groups, or not their own:\n%s", r.Body)
	}
	for _, s := range all[:2] {
		if r := c.get(fmt.Sprintf("/staff/reports/schedules/%d", s.ID)); r.Code != http.StatusNotFound {
			t.Errorf("supervisor on run log of %s schedule: %d", s.Scope, r.Code)
		}
		if r := c.post(fmt.Sprintf("/staff/reports/schedules/%d/delete", s.ID), url.Values{}); r.Code != http.StatusNotFound {
			t.Errorf("supervisor deleting a %s schedule: %d", s.Scope, r.Code)
		}
	}
	if r := c.post(fmt.Sprintf("/staff/reports/schedules/%d/disable", all[2].ID), url.Values{}); r.Code != http.StatusSeeOther {
		t.Errorf("supervisor disabling their own: %d", r.Code)
	}
	if all, _ := e.st.ReportSchedules(ctx, e.org); len(all) != 3 || !all[0].Enabled || !all[1].Enabled || all[2].Enabled {
		t.Error("supervisor changed schedules outside their groups, or not theirs")
	}
}

func TestReportsSchedulesOtherOrg(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	c := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	if r := c.post("/staff/reports/schedules", url.Values{"preset": {"daily"}, "scope": {fmt.Sprintf("w%d", f.wa.worker)},
		"format": {"xlsx"}, "lang": {"ru"}, "recipients": {"secret-recipient@example.org"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("create: %d", r.Code)
	}
	id := schedID(t, e, e.org)
	e.exec(`INSERT INTO report_runs (schedule_id, due_at, status, next_attempt_at) VALUES ($1, now(), 'pending', now())`, id)

	foreign := e.loginAs(f.org2, "foreign@example.ru", store.RoleAdmin)
	r := foreign.get("/staff/reports/schedules")
	if r.Code != 200 || strings.Contains(r.Body, "secret-recipient") || strings.Contains(r.Body, "Петрова") {
		t.Error("another organisation's schedules are listed")
	}
	for _, path := range []string{"/enable", "/disable", "/delete"} {
		if r := foreign.post(fmt.Sprintf("/staff/reports/schedules/%d%s", id, path), url.Values{}); r.Code != http.StatusNotFound {
			t.Errorf("foreign POST %s: %d, want 404", path, r.Code)
		}
	}
	if r := foreign.get(fmt.Sprintf("/staff/reports/schedules/%d", id)); r.Code != http.StatusNotFound ||
		strings.Contains(r.Body, "secret-recipient") || strings.Contains(r.Body, "Петрова") {
		t.Errorf("foreign run log: %d", r.Code)
	}
	s, err := e.st.ReportSchedule(context.Background(), e.org, id)
	if err != nil || !s.Enabled {
		t.Error("another organisation changed the schedule")
	}
	// Its own schedule form does not offer, nor accept, the first organisation's worker.
	if r := foreign.post("/staff/reports/schedules", url.Values{"preset": {"daily"}, "scope": {fmt.Sprintf("w%d", f.wa.worker)},
		"format": {"xlsx"}, "lang": {"ru"}, "recipients": {"x@example.org"}}); r.Code != http.StatusUnprocessableEntity ||
		strings.Contains(r.Body, "Петрова") {
		t.Errorf("foreign schedule about our worker: %d", r.Code)
	}
}

func TestReportsNav(t *testing.T) {
	e := newEnv(t)
	c := e.loginAs(e.org, "sup@example.ru", store.RoleSupervisor)
	r := c.get("/staff/")
	if !strings.Contains(r.Body, `<a href="/staff/reports" >Отчёты</a>`) && !strings.Contains(r.Body, `href="/staff/reports"`) {
		t.Error("no menu entry")
	}
	if r := c.get("/staff/reports?lang=en"); !strings.Contains(r.Body, "Visit report") || !strings.Contains(r.Body, `aria-current="page">Reports`) {
		t.Error("English page or current menu entry")
	}
}
