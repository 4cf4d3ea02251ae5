package cabinet_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"carevisit/cabinet"
	"carevisit/internal/pgtest"
)

// A phone that floods the app API gets 429 with Retry-After once its
// burst is spent; other phones are not affected.
func TestAPIRateLimitPerDevice(t *testing.T) {
	st := pgtest.NewStore(t)
	e := &env{t: t, st: st, mails: &mailbox{}}
	app, err := cabinet.New(cabinet.Config{BaseURL: "http://cabinet.test", APIRate: 0.001, APIBurst: 3},
		cabinet.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Mail: e.mails.send})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(app.Handler())
	t.Cleanup(e.srv.Close)
	if e.org, err = st.AddOrganisation(context.Background(), "ЦСО", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	ae := &apiEnv{env: e, app: app}
	_, _, flood := ae.appWorker(e.org, "phone-flood")
	_, _, calm := ae.appWorker(e.org, "phone-calm")
	for i := range 3 {
		if r := e.api(flood, "GET", "/api/v1/me", nil); r.Code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i+1, r.Code)
		}
	}
	r := e.api(flood, "GET", "/api/v1/me", nil)
	if r.Code != http.StatusTooManyRequests || r.errCode() != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("4th request: %d %q Retry-After %q, want 429 rate_limited with Retry-After", r.Code, r.errCode(), r.Header.Get("Retry-After"))
	}
	if r := e.api(calm, "GET", "/api/v1/me", nil); r.Code != http.StatusOK {
		t.Errorf("another phone: %d, want 200", r.Code)
	}
}
