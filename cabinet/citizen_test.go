package cabinet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"carevisit/cabinet"
	"carevisit/internal/pgtest"
	"carevisit/store"
)

// citDataKey is the fixed data key of the tests (never a real one).
var citDataKey = bytes.Repeat([]byte{0x42}, 32)

// attMail is an e-mail with attachments.
type attMail struct {
	To, Subject, Body string
	Att               []cabinet.Attachment
}

type attBox struct {
	mu   sync.Mutex
	sent []attMail
}

func (b *attBox) last() attMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sent) == 0 {
		return attMail{}
	}
	return b.sent[len(b.sent)-1]
}

// citEnv is env with the data key set and attachments captured.
type citEnv struct {
	*env
	app  *cabinet.App
	atts *attBox
}

func newCitizenEnv(t *testing.T, opts ...func(*cabinet.App)) *citEnv {
	t.Helper()
	st := pgtest.NewStore(t)
	e := &env{t: t, st: st, mails: &mailbox{}}
	ab := &attBox{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	mailAtt := func(ctx context.Context, to, subject, body string, att []cabinet.Attachment) error {
		ab.mu.Lock()
		ab.sent = append(ab.sent, attMail{to, subject, body, att})
		ab.mu.Unlock()
		return e.mails.send(ctx, to, subject, body)
	}
	app, err := cabinet.New(cabinet.Config{BaseURL: "http://cabinet.test"}, cabinet.Deps{Store: st, Log: log, Mail: e.mails.send, MailAtt: mailAtt})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.SetDataKey(citDataKey); err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(app)
	}
	e.srv = httptest.NewServer(app.Handler())
	t.Cleanup(e.srv.Close)
	e.org, err = st.AddOrganisation(context.Background(), "ЦСО Северный", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return &citEnv{env: e, app: app, atts: ab}
}

// dept adds a department open round the clock with hour-long slots.
func (e *citEnv) dept(org int64, name string, capacity int) int64 {
	e.t.Helper()
	ctx := context.Background()
	id, err := e.st.SaveDepartment(ctx, store.Department{OrgID: org, Name: name, Region: "Северный район", Address: "ул. Ленина, 1",
		SlotMinutes: 60, Capacity: capacity})
	if err != nil {
		e.t.Fatal(err)
	}
	var hours []store.DeptHours
	for wd := 1; wd <= 7; wd++ {
		hours = append(hours, store.DeptHours{Weekday: wd, StartMin: 0, EndMin: 1440})
	}
	if err := e.st.SetDepartmentHours(ctx, org, id, hours); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func citRegForm(email, snils string, dept int64) url.Values {
	return url.Values{"full_name": {"Петрова Анна Ивановна"}, "gender": {"female"}, "birth_date": {"1948-05-17"},
		"snils": {snils}, "passport": {"4510 123456"}, "inn": {"500100732259"}, "email": {email}, "phone": {"+7 912 345-67-89"},
		"reg_address": {"г. Тула, ул. Мира, д. 5, кв. 12"}, "same_address": {"1"}, "department": {strconv.FormatInt(dept, 10)},
		"password": {"correct horse battery"}, "password2": {"correct horse battery"}, "consent": {"1"}}
}

var citLinkRe = regexp.MustCompile(`http://cabinet\.test(/\S+)`)

// mailLink is the path of the first link in the newest mail to addr.
func (e *citEnv) mailLink(addr string) string {
	e.t.Helper()
	e.mails.mu.Lock()
	defer e.mails.mu.Unlock()
	for i := len(e.mails.sent) - 1; i >= 0; i-- {
		if m := e.mails.sent[i]; m.To == addr {
			if l := citLinkRe.FindStringSubmatch(m.Body); l != nil {
				return l[1]
			}
		}
	}
	e.t.Fatalf("no mail with a link to %s", addr)
	return ""
}

// citizen registers, confirms and signs in a citizen; snils must differ
// between citizens of one test.
func (e *citEnv) citizen(email, snils string, dept int64) (*client, int64) {
	e.t.Helper()
	c := e.client()
	if r := c.post("/register", citRegForm(email, snils, dept)); r.Code != http.StatusSeeOther {
		e.t.Fatalf("register %s: %d\n%s", email, r.Code, r.Body)
	}
	if r := c.get(e.mailLink(email)); r.Code != http.StatusSeeOther {
		e.t.Fatalf("confirm %s: %d", email, r.Code)
	}
	if r := c.login(email, "correct horse battery"); r.Code != http.StatusSeeOther || r.Location != "/my" {
		e.t.Fatalf("login %s: %d %q", email, r.Code, r.Location)
	}
	u, err := e.st.UserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, u.ID
}

// multipart posts a form with one file, as a browser does.
func (c *client) citUpload(path string, fields map[string]string, fileField, fileName string, data []byte) resp {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if fileField != "" {
		fw, _ := mw.CreateFormFile(fileField, fileName)
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Code: res.StatusCode, Body: string(b), Location: res.Header.Get("Location"), Header: res.Header}
}

// fieldError is the error shown next to a field (id="<field>-err").
func errNextTo(body, field string) string {
	re := regexp.MustCompile(`id="` + regexp.QuoteMeta(field) + `-err"[^>]*>([^<]*)<`)
	if m := re.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

func TestCitizenRegistration(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)
	c := e.client()

	if r := c.get("/register"); r.Code != 200 || !strings.Contains(r.Body, "Отделение №1") {
		t.Fatalf("registration form: %d", r.Code)
	}
	f := citRegForm("anna@example.ru", "112-233-445 96", dept)
	r := c.post("/register", f)
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(errNextTo(r.Body, "snils"), "СНИЛС неверен") {
		t.Fatalf("wrong SNILS: %d, error next to the field %q", r.Code, errNextTo(r.Body, "snils"))
	}
	if !strings.Contains(r.Body, `value="Петрова Анна Ивановна"`) {
		t.Error("the form lost what was typed")
	}
	f.Set("snils", "112-233-445 95")
	f.Set("birth_date", time.Now().AddDate(0, 0, 2).Format("2006-01-02"))
	r = c.post("/register", f)
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(errNextTo(r.Body, "birth_date"), "в будущем") {
		t.Fatalf("future birth date: %d %q", r.Code, errNextTo(r.Body, "birth_date"))
	}
	if errNextTo(r.Body, "snils") != "" {
		t.Error("the right SNILS is still reported wrong")
	}
	f.Set("birth_date", "1948-05-17")
	f.Set("inn", "500100732258")
	if r := c.post("/register", f); !strings.Contains(errNextTo(r.Body, "inn"), "ИНН неверен") {
		t.Errorf("wrong INN: %q", errNextTo(r.Body, "inn"))
	}
	f.Set("inn", "500100732259")
	if r := c.post("/register", f); r.Code != http.StatusSeeOther || r.Location != "/login" {
		t.Fatalf("register: %d %s\n%s", r.Code, r.Location, r.Body)
	}
	// One account per SNILS.
	f2 := citRegForm("other@example.ru", "112-233-445 95", dept)
	if r := e.client().post("/register", f2); !strings.Contains(errNextTo(r.Body, "snils"), "уже есть учётная запись") {
		t.Errorf("second account with the same SNILS: %d %q", r.Code, errNextTo(r.Body, "snils"))
	}

	if r := c.login("anna@example.ru", "correct horse battery"); r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "не подтверждён") {
		t.Fatalf("unconfirmed login: %d", r.Code)
	}
	link := e.mailLink("anna@example.ru")
	if !strings.HasPrefix(link, "/register/confirm?token=") {
		t.Fatalf("confirmation link %q", link)
	}
	if r := c.get(link); r.Code != http.StatusSeeOther {
		t.Fatalf("confirm: %d", r.Code)
	}
	if r := c.get(link); r.Code != http.StatusSeeOther || r.Location != "/login" {
		t.Fatal("confirm twice")
	}
	if r := c.login("anna@example.ru", "correct horse battery"); r.Code != http.StatusSeeOther || r.Location != "/my" {
		t.Fatalf("login: %d %q", r.Code, r.Location)
	}
	r = c.get("/my")
	if r.Code != 200 || !strings.Contains(r.Body, "Признание нуждающимся в социальном обслуживании") || !strings.Contains(r.Body, `id="my-unread-count"`) {
		t.Fatalf("home: %d\n%s", r.Code, r.Body)
	}
	if r := c.get("/my/services/recognition"); r.Code != 200 || !strings.Contains(r.Body, "Справка о доходах") {
		t.Errorf("service page: %d", r.Code)
	}
	// The owner sees the SNILS in full.
	if r := c.get("/my/profile"); !strings.Contains(r.Body, "112-233-445 95") {
		t.Error("the owner does not see their SNILS")
	}

	t.Run("SNILS, passport and INN are stored encrypted", func(t *testing.T) {
		var snils, pass, inn []byte
		if err := e.st.Pool.QueryRow(ctx, `SELECT snils_enc, passport_enc, inn_enc FROM citizen_profiles p JOIN users u ON u.id = p.user_id
			WHERE u.email = 'anna@example.ru'`).Scan(&snils, &pass, &inn); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"11223344595", "112-233-445", "445 95"} {
			if bytes.Contains(snils, []byte(s)) {
				t.Errorf("snils_enc contains %q", s)
			}
		}
		if bytes.Contains(pass, []byte("123456")) || bytes.Contains(inn, []byte("5001007322")) || len(snils) < 20 {
			t.Error("passport or INN stored in clear")
		}
	})

	t.Run("staff see the record masked and the view is audited", func(t *testing.T) {
		e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
		s := e.client()
		s.login("sup@example.ru", "correct horse battery")
		u, _ := e.st.UserByEmail(ctx, "anna@example.ru")
		r := s.get(fmt.Sprintf("/staff/citizens/%d", u.ID))
		if r.Code != 200 || !strings.Contains(r.Body, "***-***-*** 95") || strings.Contains(r.Body, "112-233-445") ||
			strings.Contains(r.Body, "500100732259") {
			t.Fatalf("staff citizen record: %d", r.Code)
		}
		var n int
		e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'view' AND entity = 'citizen' AND entity_id = $1`, u.ID).Scan(&n)
		if n != 1 {
			t.Errorf("audit entries for the view: %d, want 1", n)
		}
		other, _ := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Samara")
		e.user(other, "south@example.ru", store.RoleAdmin, "correct horse battery")
		o := e.client()
		o.login("south@example.ru", "correct horse battery")
		if r := o.get(fmt.Sprintf("/staff/citizens/%d", u.ID)); r.Code != http.StatusNotFound {
			t.Errorf("another organisation's admin on the record: %d, want 404", r.Code)
		}
	})
}

func citPDF(n int) []byte {
	b := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n")
	for len(b) < n {
		b = append(b, ' ')
	}
	return append(b, "\n%%EOF\n"...)
}

var citRecognitionForm = map[string]string{"family": "Петров Иван, муж, 1946", "income": "18500", "disability": "2",
	"circumstances": "Не может сама ходить в магазин", "form": "home", "kind": "income"}

func TestCitizenApplication(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)
	c, uid := e.citizen("anna@example.ru", "112-233-445 95", dept)

	form := func(action string) map[string]string {
		m := map[string]string{"action": action}
		for k, v := range citRecognitionForm {
			m[k] = v
		}
		return m
	}
	// Too big, then an executable named .pdf: refused next to the field, nothing stored.
	r := c.citUpload("/my/applications/new?service=recognition", form("submit"), "file", "справка.pdf", citPDF(6<<20))
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(errNextTo(r.Body, "file"), "больше 5 МБ") {
		t.Fatalf("6 MB file: %d %q", r.Code, errNextTo(r.Body, "file"))
	}
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 4000)...)
	r = c.citUpload("/my/applications/new?service=recognition", form("submit"), "file", "справка.pdf", exe)
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(errNextTo(r.Body, "file"), "только PDF, JPEG или PNG") {
		t.Fatalf("EXE as .pdf: %d %q", r.Code, errNextTo(r.Body, "file"))
	}
	if !strings.Contains(r.Body, "Не может сама ходить в магазин") {
		t.Error("the refused form lost the fields")
	}
	var n int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM applications`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d applications stored from refused forms", n)
	}
	// A draft first, then come back and submit with a PDF.
	draft := form("save")
	delete(draft, "income")
	r = c.citUpload("/my/applications/new?service=recognition", draft, "", "", nil)
	if r.Code != http.StatusSeeOther {
		t.Fatalf("save draft: %d\n%s", r.Code, r.Body)
	}
	appPath := r.Location
	if r := c.get("/my/applications?tab=draft"); !strings.Contains(r.Body, appPath) {
		t.Error("the draft is not under the drafts tab")
	}
	if r := c.citUpload(appPath, draft, "", "", nil); r.Code != http.StatusSeeOther {
		t.Fatal("save the draft again")
	}
	draft["action"] = "submit"
	if r := c.citUpload(appPath, draft, "", "", nil); r.Code != http.StatusUnprocessableEntity || errNextTo(r.Body, "income") == "" {
		t.Fatalf("submit without the required income: %d", r.Code)
	}
	pdf := citPDF(20000)
	r = c.citUpload(appPath, form("submit"), "file", "income.pdf", pdf)
	if r.Code != http.StatusSeeOther || r.Location != appPath {
		t.Fatalf("submit: %d %s\n%s", r.Code, r.Location, r.Body)
	}
	appID, _ := strconv.ParseInt(strings.TrimPrefix(appPath, "/my/applications/"), 10, 64)
	r = c.get(appPath)
	number := regexp.MustCompile(`id="app-number">([^<]+)<`).FindStringSubmatch(r.Body)
	if number == nil || !strings.Contains(r.Body, "На рассмотрении") || !strings.Contains(r.Body, "income.pdf") {
		t.Fatalf("submitted application page:\n%s", r.Body)
	}
	if r := c.get("/my/applications?tab=review"); !strings.Contains(r.Body, number[1]) {
		t.Error("the application is not under На рассмотрении")
	}
	docs, _ := e.st.Documents(ctx, store.DocFilter{UserID: uid})
	if len(docs) != 1 || docs[0].ContentType != "application/pdf" {
		t.Fatalf("documents: %+v", docs)
	}
	var raw []byte
	e.st.Pool.QueryRow(ctx, `SELECT data FROM citizen_documents WHERE id = $1`, docs[0].ID).Scan(&raw)
	if bytes.Contains(raw, []byte("%PDF")) {
		t.Error("the document is stored in clear")
	}
	if r := c.get(fmt.Sprintf("/my/documents/%d", docs[0].ID)); r.Code != 200 || r.Body != string(pdf) ||
		r.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d %s %q", r.Code, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
	}

	// Staff take it in work and assign a payment.
	e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	s := e.client()
	s.login("sup@example.ru", "correct horse battery")
	if r := s.get("/staff/applications"); !strings.Contains(r.Body, number[1]) {
		t.Fatal("the application is not in the staff inbox")
	}
	staffPath := fmt.Sprintf("/staff/applications/%d", appID)
	if r := s.get(staffPath); r.Code != 200 || !strings.Contains(r.Body, "***-***-*** 95") {
		t.Fatalf("staff application page: %d", r.Code)
	}
	if r := s.post(staffPath+"/take", url.Values{}); r.Code != http.StatusSeeOther {
		t.Fatalf("take: %d", r.Code)
	}
	if r := s.post(staffPath+"/status", url.Values{"status": {"payment_assigned"}, "comment": {"Выплата с 1-го числа"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("status: %d\n%s", r.Code, r.Body)
	}
	r = c.get("/my/applications?tab=work")
	if !strings.Contains(r.Body, number[1]) || !strings.Contains(r.Body, "Назначена выплата") {
		t.Fatalf("not under В работе with its status:\n%s", r.Body)
	}
	if !strings.Contains(r.Body, `id="my-unread-count">3<`) {
		t.Errorf("unread count: %s", regexp.MustCompile(`id="my-unread-count">\d+<`).FindString(r.Body))
	}
	if r := c.get("/my/notifications"); !strings.Contains(r.Body, "Заявление № "+number[1]+": Назначена выплата. Выплата с 1-го числа") {
		t.Errorf("notification text:\n%s", r.Body)
	}
	if m := e.mails.last(); m.To != "anna@example.ru" || !strings.Contains(m.Body, "Назначена выплата") {
		t.Errorf("status e-mail: %+v", m)
	}
	if r := c.get(appPath); !strings.Contains(r.Body, "Ожидается решение") || !strings.Contains(r.Body, "Выплата с 1-го числа") {
		t.Error("status history lacks the steps")
	}
	// A refusal needs a reason, which the citizen then sees.
	if r := s.post(staffPath+"/status", url.Values{"status": {"refused"}}); r.Code != http.StatusUnprocessableEntity || errNextTo(r.Body, "comment") == "" {
		t.Errorf("refusal without a reason: %d", r.Code)
	}
	if r := s.citUpload(staffPath+"/documents", map[string]string{"kind": "decision"}, "file", "решение.pdf", citPDF(3000)); r.Code != http.StatusSeeOther {
		t.Fatalf("staff document: %d\n%s", r.Code, r.Body)
	}
	if r := c.get("/my/documents"); !strings.Contains(r.Body, "решение.pdf") || !strings.Contains(r.Body, "от организации") {
		t.Error("the staff's document is not in the citizen's documents")
	}
	if r := s.post(staffPath+"/status", url.Values{"status": {"refused"}, "comment": {"Доход выше порога"}}); r.Code != http.StatusSeeOther {
		t.Fatal("refuse")
	}
	if r := c.get("/my/applications?tab=done"); !strings.Contains(r.Body, "Отказано в предоставлении услуги") {
		t.Error("refused application not under Исполнено")
	}
	if r := c.get(appPath); !strings.Contains(r.Body, "Доход выше порога") {
		t.Error("the refusal reason is not shown")
	}
	var audits int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity = 'application' AND entity_id = $1 AND action = 'view'`, appID).Scan(&audits)
	if audits == 0 {
		t.Error("staff view of the application not audited")
	}

	t.Run("others cannot see it", func(t *testing.T) {
		o, _ := e.citizen("boris@example.ru", "123-456-789 64", dept)
		for _, p := range []string{appPath, fmt.Sprintf("/my/documents/%d", docs[0].ID)} {
			if r := o.get(p); r.Code != http.StatusNotFound {
				t.Errorf("another citizen on %s: %d", p, r.Code)
			}
		}
		if r := o.citUpload(appPath, form("submit"), "", "", nil); r.Code != http.StatusNotFound {
			t.Errorf("another citizen submitting it: %d", r.Code)
		}
		other, _ := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Samara")
		e.user(other, "south@example.ru", store.RoleAdmin, "correct horse battery")
		so := e.client()
		so.login("south@example.ru", "correct horse battery")
		for _, p := range []string{staffPath, fmt.Sprintf("%s/documents/%d", staffPath, docs[0].ID)} {
			if r := so.get(p); r.Code != http.StatusNotFound {
				t.Errorf("another organisation's staff on %s: %d", p, r.Code)
			}
		}
		if r := so.post(staffPath+"/status", url.Values{"status": {"closed"}}); r.Code != http.StatusNotFound {
			t.Errorf("another organisation's staff changing it: %d", r.Code)
		}
		if r := so.get("/staff/applications?state=done"); strings.Contains(r.Body, number[1]) {
			t.Error("another organisation's inbox lists it")
		}
	})
}

func TestCitizenAppointments(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)
	c, _ := e.citizen("anna@example.ru", "112-233-445 95", dept)
	now := time.Now()
	later := now.Truncate(time.Hour).Add(49 * time.Hour)
	soon := now.Truncate(time.Hour).Add(23 * time.Hour) // 22–23 h ahead
	day := later.In(citMoscow(t)).Format("2006-01-02")

	r := c.get(fmt.Sprintf("/my/appointments/new?dept=%d&service=consultation&day=%s", dept, day))
	if r.Code != 200 || !strings.Contains(r.Body, `id="day-`+day+`"`) || !strings.Contains(r.Body, fmt.Sprintf(`id="slot-%d"`, later.Unix())) {
		t.Fatalf("calendar and slots: %d\n%s", r.Code, r.Body)
	}
	book := func(c *client, at time.Time) resp {
		return c.post("/my/appointments", url.Values{"dept": {strconv.FormatInt(dept, 10)}, "service": {"consultation"},
			"slot": {strconv.FormatInt(at.Unix(), 10)}, "day": {day}})
	}
	r = book(c, later)
	if r.Code != http.StatusSeeOther {
		t.Fatalf("book: %d\n%s", r.Code, r.Body)
	}
	page := c.get(r.Location)
	number := regexp.MustCompile(`id="booking-number">([^<]+)<`).FindStringSubmatch(page.Body)
	if number == nil {
		t.Fatalf("booking page:\n%s", page.Body)
	}
	m := e.atts.last()
	if m.To != "anna@example.ru" || !strings.Contains(m.Body, number[1]) || len(m.Att) != 1 ||
		m.Att[0].ContentType != "image/png" || !bytes.HasPrefix(m.Att[0].Data, []byte("\x89PNG")) {
		t.Fatalf("booking e-mail: to %s, %d attachments\n%s", m.To, len(m.Att), m.Body)
	}
	if r := c.get(r.Location + "/qr.png"); r.Code != 200 || !strings.HasPrefix(r.Body, "\x89PNG") {
		t.Error("QR image")
	}
	// The slot is full now: another citizen is refused with a clear message.
	c2, _ := e.citizen("boris@example.ru", "123-456-789 64", dept)
	if r := book(c2, later); r.Code != http.StatusConflict || !strings.Contains(r.Body, "только что занял другой посетитель") {
		t.Fatalf("full slot: %d", r.Code)
	}
	// Waiting for a slot on that day: told when the booking is cancelled.
	if r := c2.post("/my/appointments/watch", url.Values{"dept": {strconv.FormatInt(dept, 10)}, "day": {day}, "service": {"consultation"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("watch: %d", r.Code)
	}
	var bid int64
	e.st.Pool.QueryRow(ctx, `SELECT id FROM bookings WHERE number = $1`, number[1]).Scan(&bid)
	if r := c.post(fmt.Sprintf("/my/appointments/%d/cancel", bid), url.Values{}); r.Code != http.StatusSeeOther {
		t.Fatalf("cancel 49 h ahead: %d\n%s", r.Code, r.Body)
	}
	if r := c2.get("/my/notifications"); !strings.Contains(r.Body, "Освободилось время для записи") {
		t.Error("the waiting citizen was not told")
	}
	if r := book(c2, later); r.Code != http.StatusSeeOther {
		t.Fatalf("book the freed slot: %d", r.Code)
	}

	t.Run("cancelling 23 h before is refused", func(t *testing.T) {
		r := book(c, soon)
		if r.Code != http.StatusSeeOther {
			t.Fatalf("book soon: %d\n%s", r.Code, r.Body)
		}
		r = c.post(r.Location+"/cancel", url.Values{})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "не позднее чем за 24 часа") {
			t.Fatalf("late cancel: %d", r.Code)
		}
		var status string
		e.st.Pool.QueryRow(ctx, `SELECT status FROM bookings WHERE slot_start = $1`, soon).Scan(&status)
		if status != "active" {
			t.Errorf("late-cancelled booking is %q", status)
		}
	})

	t.Run("two citizens racing for the last seat: one wins", func(t *testing.T) {
		slotAt := now.Truncate(time.Hour).Add(72 * time.Hour)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		bodies := make([]string, 2)
		start := make(chan struct{})
		for i, cl := range []*client{c, c2} {
			wg.Add(1)
			go func(i int, cl *client) {
				defer wg.Done()
				<-start
				r := book(cl, slotAt)
				codes[i], bodies[i] = r.Code, r.Body
			}(i, cl)
		}
		close(start)
		wg.Wait()
		won, lost := 0, 0
		for i, code := range codes {
			switch {
			case code == http.StatusSeeOther:
				won++
			case code == http.StatusConflict && strings.Contains(bodies[i], "только что занял другой посетитель"):
				lost++
			}
		}
		var n int
		e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM bookings WHERE slot_start = $1 AND status = 'active'`, slotAt).Scan(&n)
		if won != 1 || lost != 1 || n != 1 {
			t.Fatalf("won %d, lost %d, stored %d (codes %v)", won, lost, n, codes)
		}
	})

	t.Run("another citizen cannot see or cancel a booking", func(t *testing.T) {
		c3, _ := e.citizen("vera@example.ru", "001-001-997 00", dept)
		for _, p := range []string{fmt.Sprintf("/my/appointments/%d", bid), fmt.Sprintf("/my/appointments/%d/qr.png", bid)} {
			if r := c3.get(p); r.Code != http.StatusNotFound {
				t.Errorf("%s: %d", p, r.Code)
			}
		}
	})
}

func TestCitizenVisits(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)
	c, uid := e.citizen("anna@example.ru", "112-233-445 95", dept)
	if r := c.get("/my/visits"); !strings.Contains(r.Body, `id="no-link"`) {
		t.Error("an unlinked citizen is not told why there are no visits")
	}

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
	var svc, visitID int64
	e.st.Pool.QueryRow(ctx, `INSERT INTO services (org_id, name) VALUES ($1, 'Покупка продуктов') RETURNING id`, e.org).Scan(&svc)
	e.st.Pool.Exec(ctx, `INSERT INTO service_ticks (org_id, worker_id, client_id, service_id, at) VALUES ($1, $2, $3, $4, $5)`,
		e.org, worker, client, svc, start.Add(20*time.Minute))
	e.st.Pool.QueryRow(ctx, `SELECT id FROM visits WHERE client_id = $1`, client).Scan(&visitID)

	// Staff link the account to the care recipient.
	e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	s := e.client()
	s.login("sup@example.ru", "correct horse battery")
	if r := s.post(fmt.Sprintf("/staff/citizens/%d/clients", uid), url.Values{"client": {strconv.FormatInt(client, 10)}}); r.Code != http.StatusSeeOther {
		t.Fatalf("link: %d\n%s", r.Code, r.Body)
	}
	moscow := citMoscow(t)
	r := c.get("/my/visits")
	row := citRow(r.Body, fmt.Sprintf("visit-%d", visitID))
	for _, want := range []string{"Соцработник Сидорова", "Покупка продуктов", "0:47", start.In(moscow).Format("15:04"), end.In(moscow).Format("15:04")} {
		if !strings.Contains(row, want) {
			t.Errorf("visit row lacks %q:\n%s", want, row)
		}
	}
	vpath := fmt.Sprintf("/my/visits/%d", visitID)
	if r := c.post(vpath+"/feedback", url.Values{"status": {"disputed"}, "rating": {"2"}}); r.Code != http.StatusUnprocessableEntity || errNextTo(r.Body, "comment") == "" {
		t.Fatalf("dispute without a comment: %d", r.Code)
	}
	if r := c.post(vpath+"/feedback", url.Values{"status": {"disputed"}, "rating": {"2"}, "comment": {"Пробыла 10 минут"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("dispute: %d\n%s", r.Code, r.Body)
	}
	var kind string
	var alertVisit int64
	if err := e.st.Pool.QueryRow(ctx, `SELECT kind, visit_id FROM alerts WHERE org_id = $1 AND kind = 'dispute'`, e.org).Scan(&kind, &alertVisit); err != nil || alertVisit != visitID {
		t.Fatalf("dispute alert: %v, visit %d", err, alertVisit)
	}
	if r := c.get("/my/visits"); !strings.Contains(citRow(r.Body, fmt.Sprintf("visit-%d", visitID)), "оспорен") {
		t.Error("the visit does not show as disputed")
	}

	t.Run("another citizen cannot see these", func(t *testing.T) {
		o, _ := e.citizen("boris@example.ru", "123-456-789 64", dept)
		if r := o.get(vpath); r.Code != http.StatusNotFound {
			t.Errorf("other citizen on the visit: %d", r.Code)
		}
		if r := o.post(vpath+"/feedback", url.Values{"status": {"confirmed"}}); r.Code != http.StatusNotFound {
			t.Errorf("other citizen's feedback: %d", r.Code)
		}
		if r := o.get("/my/visits"); strings.Contains(r.Body, "Соцработник Сидорова") {
			t.Error("other citizen's list shows the visit")
		}
		// Until the recipient grants access.
		if r := c.post("/my/visits/access", url.Values{"email": {"boris@example.ru"}, "client": {strconv.FormatInt(client, 10)}}); r.Code != http.StatusSeeOther {
			t.Fatalf("grant: %d\n%s", r.Code, r.Body)
		}
		if r := o.get(vpath); r.Code != 200 || !strings.Contains(r.Body, "Соцработник Сидорова") {
			t.Errorf("granted relative: %d", r.Code)
		}
		var bid int64
		e.st.Pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'boris@example.ru'`).Scan(&bid)
		c.post("/my/visits/access/revoke", url.Values{"user": {strconv.FormatInt(bid, 10)}, "client": {strconv.FormatInt(client, 10)}})
		if r := o.get(vpath); r.Code != http.StatusNotFound {
			t.Errorf("revoked relative: %d", r.Code)
		}
	})
}

func citMoscow(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// citRow is the table row with the given id.
func citRow(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(body[i:], "</tr>")
	if j < 0 {
		return body[i:]
	}
	return body[i : i+j]
}

func TestCitizenProfile(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)
	c, uid := e.citizen("anna@example.ru", "112-233-445 95", dept)

	// Password: the current one is checked; the new one works, any number of times.
	if r := c.post("/my/profile/password", url.Values{"current": {"wrong password!"}, "new_password": {"second long password"},
		"new_password2": {"second long password"}}); r.Code != http.StatusUnprocessableEntity || errNextTo(r.Body, "current") == "" {
		t.Fatalf("wrong current password: %d", r.Code)
	}
	for i, pw := range []string{"second long password", "third long password"} {
		old := "correct horse battery"
		if i == 1 {
			old = "second long password"
		}
		if r := c.post("/my/profile/password", url.Values{"current": {old}, "new_password": {pw}, "new_password2": {pw}}); r.Code != http.StatusSeeOther {
			t.Fatalf("change password %d: %d", i, r.Code)
		}
		if r := c.get("/my/profile"); r.Code != 200 {
			t.Fatalf("the session did not survive the password change: %d", r.Code)
		}
	}
	if r := e.client().login("anna@example.ru", "third long password"); r.Code != http.StatusSeeOther {
		t.Error("login with the new password")
	}

	// E-mail: changed only after the link sent to the new address is opened.
	if r := c.post("/my/profile/email", url.Values{"new_email": {"anna.new@example.ru"}, "email_password": {"third long password"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("change e-mail: %d\n%s", r.Code, r.Body)
	}
	if u, _ := e.st.UserByID(ctx, uid); u.Email != "anna@example.ru" {
		t.Fatal("the e-mail changed before confirmation")
	}
	link := e.mailLink("anna.new@example.ru")
	if r := c.get(link); r.Code != http.StatusSeeOther {
		t.Fatalf("confirm the new e-mail: %d", r.Code)
	}
	if u, _ := e.st.UserByID(ctx, uid); u.Email != "anna.new@example.ru" {
		t.Fatalf("e-mail is %q", u.Email)
	}

	// Everything they hold, as JSON.
	r := c.get("/my/profile/export")
	var out map[string]any
	if r.Code != 200 || json.Unmarshal([]byte(r.Body), &out) != nil {
		t.Fatalf("export: %d", r.Code)
	}
	if p, _ := out["profile"].(map[string]any); p["snils"] != "112-233-445 95" || p["inn"] != "500100732259" {
		t.Errorf("export profile: %v", out["profile"])
	}

	// Deletion: needs confirmation, then the account is gone at once.
	if r := c.post("/my/profile/delete", url.Values{"delete_password": {"third long password"}}); r.Code != http.StatusUnprocessableEntity {
		t.Fatalf("delete without confirmation: %d", r.Code)
	}
	if r := c.post("/my/profile/delete", url.Values{"confirm": {"yes"}, "delete_password": {"third long password"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.Code)
	}
	if _, err := e.st.UserByID(ctx, uid); err == nil {
		t.Error("the account still exists")
	}
	var n int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM citizen_profiles WHERE user_id = $1`, uid).Scan(&n)
	if n != 0 {
		t.Error("the profile survived the deletion")
	}
	if r := c.get("/my"); r.Code != http.StatusSeeOther {
		t.Error("the deleted account's session still works")
	}
}

func TestCitizenAccessRules(t *testing.T) {
	e := newCitizenEnv(t)
	dept := e.dept(e.org, "Отделение №1", 1)
	e.user(e.org, "aud@example.ru", store.RoleAuditor, "correct horse battery")
	_, _ = e.citizen("anna@example.ru", "112-233-445 95", dept)
	a := e.client()
	a.login("aud@example.ru", "correct horse battery")
	if r := a.get("/my"); r.Code != http.StatusForbidden {
		t.Errorf("staff on /my: %d", r.Code)
	}
	if r := a.get("/staff/applications"); r.Code != 200 {
		t.Errorf("auditor on the inbox: %d", r.Code)
	}
	if r := a.post("/staff/departments", url.Values{"name": {"X"}, "slot_minutes": {"30"}, "capacity": {"1"}}); r.Code != http.StatusForbidden {
		t.Errorf("auditor creating a department: %d", r.Code)
	}
	if r := e.client().get("/my/applications"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Errorf("anonymous on /my/applications: %d", r.Code)
	}
	c, _ := e.citizen("boris@example.ru", "123-456-789 64", dept)
	if r := c.get("/staff/applications"); r.Code != http.StatusForbidden {
		t.Errorf("citizen on the staff inbox: %d", r.Code)
	}
	e.user(e.org, "adm@example.ru", store.RoleAdmin, "correct horse battery")
	s := e.client()
	s.login("adm@example.ru", "correct horse battery")
	r := s.post("/staff/departments", url.Values{"name": {"Отделение №2"}, "region": {"Южный"}, "slot_minutes": {"20"}, "capacity": {"2"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("create department: %d\n%s", r.Code, r.Body)
	}
	if r := s.post(r.Location+"/hours", url.Values{"start_1": {"09:00"}, "end_1": {"08:00"}}); r.Code != http.StatusUnprocessableEntity {
		t.Errorf("hours ending before they start: %d", r.Code)
	}
	if r := s.post(r.Location+"/hours", url.Values{"start_1": {"09:00"}, "end_1": {"13:00"}}); r.Code != http.StatusSeeOther {
		t.Errorf("hours: %d", r.Code)
	}
	if r := s.get(r.Location); !strings.Contains(r.Body, `value="09:00"`) || !strings.Contains(r.Body, `value="13:00"`) {
		t.Error("hours not shown back")
	}
}
