package cabinet_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"carevisit/internal/browsertest"
	"carevisit/store"
)

// A citizen goes through the cabinet in a real browser: registers (wrong
// SNILS and a future birth date explained next to the fields), confirms the
// e-mail from the mailbox, logs in, applies with a PDF (a 6 MB file and an
// EXE named .pdf refused next to the file field), sees staff's decision under
// "В работе" with the unread count, books an appointment (QR by e-mail, a
// cancellation 23 h before refused) and disputes a worker's visit. Staff work
// in a second browser context with their own cookies.
func TestBrowserCitizen(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)
	e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	const email, password = "anna@example.ru", "correct horse battery"
	snils := snilsWithCheck("157349260")
	moscow := citMoscow(t)

	bctx := browsertest.New(t)
	cit := &tab{ctx: bctx, base: e.srv.URL}
	sctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Open the tab with the test's context: a tab lives as long as the
	// context of its first action.
	if err := chromedp.Do(sctx); err != nil {
		t.Fatal(err)
	}
	staff := &tab{ctx: sctx, base: e.srv.URL}

	var uid, appID int64
	var number string
	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"register", func(t *testing.T) {
			cit.open(t, "/login")
			cit.follow(t, "register-link")
			cit.do(t,
				chromedp.SendKeys(chromedp.ID("full_name"), "Петрова Анна Ивановна"),
				chromedp.Click(chromedp.CSS(`input[name=gender][value=female]`)),
				chromedp.SetValue(chromedp.ID("birth_date"), "1948-05-17"),
				chromedp.SendKeys(chromedp.ID("snils"), wrongSNILS(snils)),
				chromedp.SendKeys(chromedp.ID("passport"), "4510 123456"),
				chromedp.SendKeys(chromedp.ID("inn"), "500100732259"),
				chromedp.SendKeys(chromedp.ID("phone"), "+7 912 345-67-89"),
				chromedp.SendKeys(chromedp.ID("reg_address"), "г. Тула, ул. Мира, д. 5, кв. 12"),
				chromedp.Click(chromedp.ID("same_address")),
				chromedp.SetValue(chromedp.ID("department"), strconv.FormatInt(dept, 10)),
				chromedp.SendKeys(chromedp.ID("email"), email),
				chromedp.SendKeys(chromedp.ID("password"), password),
				chromedp.SendKeys(chromedp.ID("password2"), password),
				chromedp.Click(chromedp.ID("consent")),
			)
			if code := cit.submit(t, "reg-submit"); code != 422 {
				t.Fatalf("wrong SNILS: status %d, want 422", code)
			}
			if msg := cit.text(t, "snils-err"); !strings.Contains(msg, "СНИЛС неверен") {
				t.Fatalf("next to the SNILS field: %q", msg)
			}
			if got := cit.value(t, "full_name"); got != "Петрова Анна Ивановна" {
				t.Errorf("the form lost the name: %q", got)
			}
			// The right SNILS, but a birth date in the future.
			cit.do(t,
				chromedp.Clear(chromedp.ID("snils")),
				chromedp.SendKeys(chromedp.ID("snils"), snils),
				chromedp.SetValue(chromedp.ID("birth_date"), time.Now().AddDate(0, 0, 3).Format("2006-01-02")),
				chromedp.SendKeys(chromedp.ID("password"), password),
				chromedp.SendKeys(chromedp.ID("password2"), password),
			)
			if code := cit.submit(t, "reg-submit"); code != 422 {
				t.Fatalf("future birth date: status %d, want 422", code)
			}
			if msg := cit.text(t, "birth_date-err"); msg != "Дата рождения не может быть в будущем." {
				t.Fatalf("next to the birth date: %q", msg)
			}
			if cit.exists(t, "snils-err") {
				t.Errorf("the right SNILS is still refused: %q", cit.text(t, "snils-err"))
			}
			cit.do(t,
				chromedp.SetValue(chromedp.ID("birth_date"), "1948-05-17"),
				chromedp.SendKeys(chromedp.ID("password"), password),
				chromedp.SendKeys(chromedp.ID("password2"), password),
			)
			if code := cit.submit(t, "reg-submit"); code != 200 || cit.path(t) != "/login" {
				t.Fatalf("register: status %d at %s\n%s", code, cit.path(t), cit.body(t))
			}
			if msg := cit.css(t, "p.flash"); !strings.Contains(msg, "отправили письмо") {
				t.Errorf("after registering: %q", msg)
			}
		}},
		{"confirm and log in", func(t *testing.T) {
			cit.open(t, e.mailLink(email))
			if msg := cit.css(t, "p.flash"); !strings.Contains(msg, "подтверждён") {
				t.Fatalf("after the confirmation link: %q at %s", msg, cit.path(t))
			}
			cit.do(t,
				chromedp.SendKeys(chromedp.ID("email"), email),
				chromedp.SendKeys(chromedp.ID("password"), password),
			)
			if code := cit.submitForm(t, "password"); code != 200 || cit.path(t) != "/my" {
				t.Fatalf("login: %d at %s", code, cit.path(t))
			}
			if n := cit.text(t, "my-unread-count"); n != "0" {
				t.Errorf("unread on a new account: %q", n)
			}
			u, err := e.st.UserByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			uid = u.ID
		}},
		{"apply with a PDF", func(t *testing.T) {
			dir := t.TempDir()
			big := writeFile(t, dir, "скан.pdf", citPDF(6<<20))
			exe := writeFile(t, dir, "справка.pdf", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 4000)...))
			pdf := writeFile(t, dir, "справка о доходах.pdf", citPDF(20000))

			cit.followCSS(t, `#service-recognition a.button`)
			if p := cit.path(t); p != "/my/applications/new?service=recognition" {
				t.Fatalf("apply link led to %s", p)
			}
			cit.do(t,
				chromedp.SendKeys(chromedp.ID("f-family"), "Петров Иван, муж, 1946"),
				chromedp.SendKeys(chromedp.ID("f-income"), "18500"),
				chromedp.SetValue(chromedp.ID("f-disability"), "2"),
				chromedp.SendKeys(chromedp.ID("f-circumstances"), "Не может сама ходить в магазин"),
				chromedp.SetValue(chromedp.ID("f-form"), "home"),
				chromedp.SetValue(chromedp.ID("kind"), "income"),
				chromedp.SetUploadFiles(chromedp.ID("file"), []string{big}),
			)
			if code := cit.submit(t, "submit-app"); code != 422 {
				t.Fatalf("6 MB file: status %d, want 422", code)
			}
			if msg := cit.text(t, "file-err"); !strings.Contains(msg, "больше 5 МБ") {
				t.Fatalf("next to the file field (6 MB): %q", msg)
			}
			cit.do(t, chromedp.SetUploadFiles(chromedp.ID("file"), []string{exe}))
			if code := cit.submit(t, "submit-app"); code != 422 {
				t.Fatalf("EXE as .pdf: status %d, want 422", code)
			}
			if msg := cit.text(t, "file-err"); !strings.Contains(msg, "только PDF, JPEG или PNG") {
				t.Fatalf("next to the file field (EXE): %q", msg)
			}
			if got := cit.value(t, "f-circumstances"); got != "Не может сама ходить в магазин" {
				t.Errorf("the refused form lost a field: %q", got)
			}
			var n int
			e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM applications`).Scan(&n)
			if n != 0 {
				t.Fatalf("%d applications stored from refused forms", n)
			}
			cit.do(t, chromedp.SetUploadFiles(chromedp.ID("file"), []string{pdf}))
			if code := cit.submit(t, "submit-app"); code != 200 || !strings.HasPrefix(cit.path(t), "/my/applications/") {
				t.Fatalf("submit: %d at %s\n%s", code, cit.path(t), cit.body(t))
			}
			appID, _ = strconv.ParseInt(strings.TrimPrefix(cit.path(t), "/my/applications/"), 10, 64)
			number = cit.text(t, "app-number")
			if !appNumber.MatchString(number) {
				t.Errorf("application number %q, want YYYY-NNNNNN", number)
			}
			if s := cit.text(t, "app-state"); s != "На рассмотрении" {
				t.Errorf("state %q", s)
			}
			if docs := cit.text(t, "app-docs"); !strings.Contains(docs, "справка о доходах.pdf") {
				t.Errorf("documents of the application:\n%s", docs)
			}
		}},
		{"staff assign a payment; the citizen sees it under В работе", func(t *testing.T) {
			staff.open(t, "/login")
			staff.do(t,
				chromedp.SendKeys(chromedp.ID("email"), "sup@example.ru"),
				chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
			)
			staff.submitForm(t, "password")
			staff.open(t, fmt.Sprintf("/staff/applications/%d", appID))
			if s := staff.text(t, "applicant-snils"); s != "***-***-*** "+snils[len(snils)-2:] {
				t.Errorf("staff see the SNILS as %q", s)
			}
			if code := staff.submit(t, "take"); code != 200 {
				t.Fatalf("take: %d", code)
			}
			staff.do(t,
				chromedp.SetValue(chromedp.ID("status"), "payment_assigned"),
				chromedp.SendKeys(chromedp.ID("comment"), "Выплата с 1-го числа"),
			)
			if code := staff.submit(t, "status-save"); code != 200 {
				t.Fatalf("status: %d\n%s", code, staff.body(t))
			}
			if s := staff.text(t, "app-status"); s != "Назначена выплата" {
				t.Fatalf("staff page status %q", s)
			}

			cit.open(t, "/my/applications")
			cit.follow(t, "tab-work")
			row := cit.text(t, fmt.Sprintf("app-%d", appID))
			if !strings.Contains(row, number) || cit.text(t, fmt.Sprintf("app-%d-status", appID)) != "Назначена выплата" {
				t.Fatalf("row under В работе: %q", row)
			}
			if n := cit.text(t, "my-unread-count"); n != "3" {
				t.Errorf("unread count %q, want 3 (submitted, taken, payment)", n)
			}
			cit.follow(t, "my-unread")
			if notes := cit.text(t, "notes"); !strings.Contains(notes, "Заявление № "+number+": Назначена выплата. Выплата с 1-го числа") {
				t.Errorf("notifications:\n%s", notes)
			}
		}},
		{"book an appointment; cancelling 23 h before is refused", func(t *testing.T) {
			soon := time.Now().Truncate(time.Hour).Add(23 * time.Hour) // 22–23 h ahead
			day := soon.In(moscow).Format("2006-01-02")
			cit.open(t, "/my/appointments")
			cit.follow(t, "new-appt")
			cit.do(t,
				chromedp.SetValue(chromedp.ID("dept"), strconv.FormatInt(dept, 10)),
				chromedp.SetValue(chromedp.ID("service"), "consultation"),
			)
			cit.submit(t, "appt-show")
			cit.follow(t, "day-"+day)
			cit.do(t, chromedp.Click(chromedp.ID(fmt.Sprintf("slot-%d", soon.Unix()))))
			if code := cit.submit(t, "book-confirm"); code != 200 {
				t.Fatalf("book: %d\n%s", code, cit.body(t))
			}
			bnum := cit.text(t, "booking-number")
			if when := cit.text(t, "booking-when"); !strings.Contains(when, soon.In(moscow).Format("15:04")) {
				t.Errorf("booking time %q, want %s", when, soon.In(moscow).Format("15:04"))
			}
			if w, err := chromedp.Run(cit.ctx, chromedp.Evaluate[int](`document.getElementById("booking-qr").naturalWidth`)); err != nil || w == 0 {
				t.Errorf("the QR image does not show (%v)", err)
			}
			m := e.atts.last()
			if m.To != email || bnum == "" || !strings.Contains(m.Body, bnum) || len(m.Att) != 1 ||
				m.Att[0].ContentType != "image/png" || !bytes.HasPrefix(m.Att[0].Data, []byte("\x89PNG\r\n\x1a\n")) {
				t.Fatalf("booking e-mail to %s with %d attachments:\n%s", m.To, len(m.Att), m.Body)
			}
			if cit.exists(t, "change-booking") {
				t.Error("a change is offered 23 h before")
			}
			if code := cit.submit(t, "cancel-booking"); code != 422 {
				t.Fatalf("late cancel: status %d, want 422", code)
			}
			if msg := cit.text(t, "cancel-err"); !strings.Contains(msg, "не позднее чем за 24 часа") || !strings.Contains(msg, "позвоните") {
				t.Errorf("late cancel message %q", msg)
			}
			if s := cit.text(t, "booking-status"); s == "" || strings.Contains(strings.ToLower(s), "отмен") {
				t.Errorf("status after a refused cancel: %q", s)
			}
			var status string
			e.st.Pool.QueryRow(ctx, `SELECT status FROM bookings WHERE number = $1`, bnum).Scan(&status)
			if status != "active" {
				t.Errorf("booking is %q after a refused cancel", status)
			}
		}},
		{"dispute a visit", func(t *testing.T) {
			dev, err := e.st.AddDevice(ctx, store.Device{OrgID: e.org, Ident: "864717003283581", Protocol: "gt06"})
			if err != nil {
				t.Fatal(err)
			}
			worker, _ := e.st.AddWorker(ctx, store.Worker{OrgID: e.org, FullName: "Соцработник Сидорова", DeviceID: dev})
			client, _ := e.st.AddClient(ctx, store.Client{OrgID: e.org, FullName: "Петрова А. И.", FenceKind: "circle", CenterLat: 54.19, CenterLon: 37.61, RadiusM: 40})
			start := time.Now().Add(-26 * time.Hour).Truncate(time.Minute)
			end := start.Add(47 * time.Minute)
			if err := e.st.ReplaceVisits(ctx, dev, start.Add(-time.Hour), end.Add(time.Hour), []store.Visit{{OrgID: e.org, DeviceID: dev,
				WorkerID: worker, ClientID: client, Start: start, End: end, LastSeen: end, DurationS: 47 * 60}}); err != nil {
				t.Fatal(err)
			}
			var visitID int64
			e.st.Pool.QueryRow(ctx, `SELECT id FROM visits WHERE client_id = $1`, client).Scan(&visitID)

			// Staff link the account to the care recipient it is.
			staff.open(t, fmt.Sprintf("/staff/citizens/%d", uid))
			staff.do(t, chromedp.SetValue(chromedp.ID("client"), strconv.FormatInt(client, 10)))
			staff.submit(t, "link-client")
			if linked := staff.text(t, "citizen-clients"); !strings.Contains(linked, "Петрова А. И.") {
				t.Fatalf("staff did not link the client:\n%s", linked)
			}

			cit.open(t, "/my/visits")
			row := cit.text(t, fmt.Sprintf("visit-%d", visitID))
			for _, want := range []string{"Соцработник Сидорова", "0:47", start.In(moscow).Format("15:04"), end.In(moscow).Format("15:04")} {
				if !strings.Contains(row, want) {
					t.Errorf("visit row lacks %q: %q", want, row)
				}
			}
			cit.followCSS(t, fmt.Sprintf(`#visit-%d td a`, visitID))
			if p := cit.path(t); p != fmt.Sprintf("/my/visits/%d", visitID) {
				t.Fatalf("visit link led to %s", p)
			}
			cit.do(t,
				chromedp.Click(chromedp.ID("fb-dispute")),
				chromedp.Click(chromedp.CSS(`#feedback-form input[name=rating][value="2"]`)),
			)
			if code := cit.submit(t, "feedback-submit"); code != 422 {
				t.Fatalf("dispute without a comment: %d, want 422", code)
			}
			if msg := cit.text(t, "comment-err"); msg == "" {
				t.Fatal("no message next to the comment")
			}
			cit.do(t, chromedp.SendKeys(chromedp.ID("fb-comment"), "Пробыла 10 минут"))
			if code := cit.submit(t, "feedback-submit"); code != 200 {
				t.Fatalf("dispute: %d", code)
			}
			if msg := cit.css(t, "p.flash"); !strings.Contains(msg, "Визит оспорен") {
				t.Errorf("after the dispute: %q", msg)
			}
			checked, err := chromedp.Run(cit.ctx, chromedp.Evaluate[bool](`document.getElementById("fb-dispute").checked`))
			if err != nil || !checked || cit.value(t, "fb-comment") != "Пробыла 10 минут" {
				t.Errorf("the visit page does not show the dispute (checked %v, comment %q)", checked, cit.value(t, "fb-comment"))
			}
			cit.open(t, "/my/visits")
			if row := cit.text(t, fmt.Sprintf("visit-%d", visitID)); !strings.Contains(row, "оспорен") {
				t.Errorf("visit row after the dispute: %q", row)
			}
			var alertVisit int64
			if err := e.st.Pool.QueryRow(ctx, `SELECT visit_id FROM alerts WHERE org_id = $1 AND kind = 'dispute'`, e.org).Scan(&alertVisit); err != nil || alertVisit != visitID {
				t.Errorf("dispute alert: %v, visit %d, want %d", err, alertVisit, visitID)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.f) {
			return // later steps build on this one
		}
	}
}

// tab drives one browser tab; every wait is bounded by stepTimeout.
type tab struct {
	ctx  context.Context
	base string
}

const stepTimeout = 15 * time.Second

func (b *tab) bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

func (b *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := b.bounded()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("at %s: %v\n%s", b.path(t), err, b.body(t))
	}
}

func (b *tab) open(t *testing.T, path string) {
	t.Helper()
	b.do(t, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// submit clicks a button that sends a form and returns the HTTP status of
// the page it lands on (after redirects).
func (b *tab) submit(t *testing.T, id string) int64 {
	t.Helper()
	return b.respond(t, chromedp.Click(chromedp.ID(id)))
}

// submitForm submits the form of the field id, as Enter in it does.
func (b *tab) submitForm(t *testing.T, id string) int64 {
	t.Helper()
	return b.respond(t, chromedp.Submit(chromedp.ID(id)))
}

// follow clicks the link id and waits for the page.
func (b *tab) follow(t *testing.T, id string) {
	t.Helper()
	if code := b.respond(t, chromedp.Click(chromedp.ID(id))); code != 200 {
		t.Fatalf("link #%s: status %d", id, code)
	}
}

// followCSS clicks the link sel and waits for the page.
func (b *tab) followCSS(t *testing.T, sel string) {
	t.Helper()
	if code := b.respond(t, chromedp.Click(chromedp.CSS(sel))); code != 200 {
		t.Fatalf("link %s: status %d", sel, code)
	}
}

func (b *tab) respond(t *testing.T, a chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	ctx, cancel := b.bounded()
	defer cancel()
	res, err := chromedp.RunResponse(ctx, a)
	if err != nil || res == nil {
		t.Fatalf("at %s: no page (%v)", b.path(t), err)
	}
	return res.Status
}

func (b *tab) text(t *testing.T, id string) string {
	t.Helper()
	ctx, cancel := b.bounded()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("#%s at %s: %v\n%s", id, b.path(t), err, b.body(t))
	}
	return strings.TrimSpace(s)
}

func (b *tab) css(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := b.bounded()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s at %s: %v\n%s", sel, b.path(t), err, b.body(t))
	}
	return strings.TrimSpace(s)
}

func (b *tab) value(t *testing.T, id string) string {
	t.Helper()
	ctx, cancel := b.bounded()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("#%s value: %v", id, err)
	}
	return s
}

// exists reports whether the loaded page has an element with the id (no wait).
func (b *tab) exists(t *testing.T, id string) bool {
	t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.getElementById(%q) !== null`, id)))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// path is the current page's path and query.
func (b *tab) path(t *testing.T) string {
	t.Helper()
	ctx, cancel := b.bounded()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(loc, b.base)
}

// body is the text of the page, for failure messages.
func (b *tab) body(t *testing.T) string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main") ? document.getElementById("main").innerText : document.body.innerText`))
	return s
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// appNumber is the form of an application number, YYYY-NNNNNN.
var appNumber = regexp.MustCompile(`^\d{4}-\d{6}$`)

// snilsWithCheck completes nine digits (above 001-001-998) with the SNILS
// control number: the digits weighted 9..1, summed, taken mod 101, 100 → 00.
func snilsWithCheck(nine string) string {
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(nine[i]-'0') * (9 - i)
	}
	check := sum % 101
	if check == 100 {
		check = 0
	}
	return fmt.Sprintf("%s-%s-%s %02d", nine[:3], nine[3:6], nine[6:9], check)
}

// wrongSNILS is s with a control number off by one.
func wrongSNILS(s string) string {
	n, _ := strconv.Atoi(s[len(s)-2:])
	return fmt.Sprintf("%s%02d", s[:len(s)-2], (n+1)%100)
}

func TestBrowserCitizenSNILSHelper(t *testing.T) {
	for nine, want := range map[string]string{"112233445": "112-233-445 95", "123456789": "123-456-789 64"} {
		if got := snilsWithCheck(nine); got != want {
			t.Errorf("snilsWithCheck(%s) = %s, want %s", nine, got, want)
		}
	}
	if wrongSNILS("123-456-789 64") != "123-456-789 65" {
		t.Error("wrongSNILS")
	}
}
