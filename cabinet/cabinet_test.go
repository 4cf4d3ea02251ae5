package cabinet_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"carevisit/cabinet"
	"carevisit/internal/pgtest"
	"carevisit/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a running cabinet on a fresh database with one organisation.
type env struct {
	t     *testing.T
	st    *store.Store
	srv   *httptest.Server
	org   int64
	mails *mailbox
}

type mail struct{ To, Subject, Body string }

type mailbox struct {
	mu   sync.Mutex
	sent []mail
}

func (m *mailbox) send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	m.sent = append(m.sent, mail{to, subject, body})
	m.mu.Unlock()
	return nil
}

func (m *mailbox) last() mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sent) == 0 {
		return mail{}
	}
	return m.sent[len(m.sent)-1]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := pgtest.NewStore(t)
	e := &env{t: t, st: st, mails: &mailbox{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	app, err := cabinet.New(cabinet.Config{BaseURL: "http://cabinet.test"}, cabinet.Deps{Store: st, Log: log, Mail: e.mails.send})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(app.Handler())
	t.Cleanup(e.srv.Close)
	e.org, err = st.AddOrganisation(context.Background(), "ЦСО Северный", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(org int64, email, role, password string) int64 {
	e.t.Helper()
	h, err := cabinet.HashPassword(password)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.st.AddUser(context.Background(), store.User{OrgID: org, Email: email, FullName: "Тест " + role, Role: role,
		PasswordHash: h, EmailConfirmed: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// client is a browser-like HTTP client with cookies that does not follow
// redirects, so tests see them.
type client struct {
	t  *testing.T
	e  *env
	hc *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	Code     int
	Body     string
	Location string
	Header   http.Header
}

func (c *client) do(method, path string, form url.Values) resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Code: res.StatusCode, Body: string(b), Location: res.Header.Get("Location"), Header: res.Header}
}

func (c *client) get(path string) resp                   { return c.do("GET", path, nil) }
func (c *client) post(path string, form url.Values) resp { return c.do("POST", path, form) }

func (c *client) login(email, password string) resp {
	c.t.Helper()
	return c.post("/login", url.Values{"email": {email}, "password": {password}})
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	c := e.client()

	if r := c.get("/staff/"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatalf("anonymous /staff/: %d %s, want a redirect to /login", r.Code, r.Location)
	}
	r := c.login("sup@example.ru", "wrong password")
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Неверный адрес электронной почты или пароль") {
		t.Fatalf("wrong password: %d, want 422 with the message", r.Code)
	}
	r = c.login("nobody@example.ru", "whatever it is")
	if !strings.Contains(r.Body, "Неверный адрес электронной почты или пароль") {
		t.Error("unknown e-mail must get the same message as a wrong password")
	}
	r = c.login("SUP@example.ru", "correct horse battery")
	if r.Code != http.StatusSeeOther || r.Location != "/staff/" {
		t.Fatalf("login: %d %q", r.Code, r.Location)
	}
	ck := r.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("session cookie %q lacks HttpOnly/SameSite", ck)
	}
	r = c.get("/staff/")
	if r.Code != 200 || !strings.Contains(r.Body, "ЦСО Северный") || !strings.Contains(r.Body, "визитов сегодня") {
		t.Fatalf("dashboard: %d\n%s", r.Code, r.Body)
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("no CSP header")
	}
	if r := c.get("/staff/?lang=en"); !strings.Contains(r.Body, "visits today") {
		t.Error("English on request did not switch the language")
	}
	if r := c.get("/staff/"); !strings.Contains(r.Body, "visits today") {
		t.Error("the language choice was not remembered")
	}
	if r := c.get("/staff/users"); r.Code != http.StatusForbidden {
		t.Errorf("supervisor on /staff/users: %d, want 403", r.Code)
	}
	c.post("/logout", url.Values{})
	if r := c.get("/staff/"); r.Code != http.StatusSeeOther {
		t.Errorf("after logout /staff/ = %d, want a redirect", r.Code)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	e.user(e.org, "a@example.ru", store.RoleAdmin, "correct horse battery")
	c := e.client()
	for i := 0; i < 4; i++ {
		c.login("a@example.ru", "nope nope nope")
	}
	r := c.login("a@example.ru", "nope nope nope")
	if !strings.Contains(r.Body, "заблокирована до") {
		t.Fatalf("fifth failure: no lock message:\n%s", r.Body)
	}
	r = c.login("a@example.ru", "correct horse battery")
	if r.Code == http.StatusSeeOther {
		t.Fatal("a locked account logged in with the right password")
	}
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	e.user(e.org, "a@example.ru", store.RoleAdmin, "correct horse battery")
	c := e.client()
	if r := c.login("a@example.ru", "correct horse battery"); r.Code != http.StatusSeeOther {
		t.Fatal("login")
	}
	other := e.client()
	r := other.post("/password/forgot", url.Values{"email": {"a@example.ru"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("forgot: %d", r.Code)
	}
	m := e.mails.last()
	i := strings.Index(m.Body, "http://cabinet.test/password/reset?token=")
	if m.To != "a@example.ru" || i < 0 {
		t.Fatalf("reset mail: %+v", m)
	}
	link := strings.Fields(m.Body[i:])[0]
	path := strings.TrimPrefix(link, "http://cabinet.test")
	tok := path[strings.Index(path, "=")+1:]
	if r := other.get(path); r.Code != 200 || strings.Contains(r.Body, "недействительна") {
		t.Fatalf("reset form: %d", r.Code)
	}
	r = other.post("/password/reset", url.Values{"token": {tok}, "password": {"short"}, "password2": {"short"}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "не короче 10") {
		t.Fatalf("short password accepted: %d", r.Code)
	}
	r = other.post("/password/reset", url.Values{"token": {tok}, "password": {"a new long password"}, "password2": {"a new long password"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.Code, r.Body)
	}
	if r := c.get("/staff/"); r.Code != http.StatusSeeOther {
		t.Error("the old session survived a password reset")
	}
	if r := other.post("/password/reset", url.Values{"token": {tok}, "password": {"another long password"}, "password2": {"another long password"}}); r.Code != http.StatusUnprocessableEntity {
		t.Error("a reset link worked twice")
	}
	if r := e.client().login("a@example.ru", "a new long password"); r.Code != http.StatusSeeOther {
		t.Error("cannot log in with the new password")
	}
	// No enumeration: an unknown address gets the same answer and no mail.
	n := len(e.mails.sent)
	if r := other.post("/password/forgot", url.Values{"email": {"ghost@example.ru"}}); r.Code != http.StatusSeeOther {
		t.Error("unknown address answered differently")
	}
	if len(e.mails.sent) != n {
		t.Error("mail sent to an unknown address")
	}
}

func TestCrossSiteRefused(t *testing.T) {
	e := newEnv(t)
	e.user(e.org, "a@example.ru", store.RoleAdmin, "correct horse battery")
	c := e.client()
	c.login("a@example.ru", "correct horse battery")
	req, _ := http.NewRequest("POST", e.srv.URL+"/staff/users", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", res.StatusCode)
	}
}

func TestPlatformCreatesOrganisation(t *testing.T) {
	e := newEnv(t)
	e.user(0, "root@example.ru", store.RolePlatform, "correct horse battery")
	c := e.client()
	if r := c.login("root@example.ru", "correct horse battery"); r.Location != "/admin/orgs" {
		t.Fatalf("platform login lands on %q", r.Location)
	}
	r := c.post("/admin/orgs", url.Values{"name": {"ЦСО Южный"}, "tz": {"Mars/Olympus"}, "admin_name": {"А"},
		"admin_email": {"bad"}, "admin_password": {"x"}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Europe/Moscow") || !strings.Contains(r.Body, "ivanova@example.ru") {
		t.Fatalf("bad form: %d", r.Code)
	}
	r = c.post("/admin/orgs", url.Values{"name": {"ЦСО Южный"}, "tz": {"Europe/Samara"}, "admin_name": {"Админ"},
		"admin_email": {"south@example.ru"}, "admin_password": {"correct horse battery"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("create org: %d %s", r.Code, r.Body)
	}
	a := e.client()
	a.login("south@example.ru", "correct horse battery")
	if r := a.get("/staff/"); !strings.Contains(r.Body, "ЦСО Южный") {
		t.Error("the new organisation's administrator does not see it")
	}
	if r := a.get("/admin/orgs"); r.Code != http.StatusForbidden {
		t.Errorf("org admin on /admin/orgs: %d", r.Code)
	}
}
