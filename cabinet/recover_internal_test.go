package cabinet

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A panic in an app API handler answers JSON the app can parse (and retry
// on), not the cabinet's HTML error page; the server goes on serving.
func TestAPIPanicAnswersJSON(t *testing.T) {
	var logged strings.Builder
	a := &App{log: slog.New(slog.NewTextHandler(&logged, nil))}
	h := a.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("nil map in a handler")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/pings", strings.NewReader("{}")))
	if rec.Code != http.StatusInternalServerError || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.NewDecoder(rec.Body).Decode(&body); err != nil || body.Error.Code != "internal" {
		t.Errorf("body does not decode to error code internal: %v %+v", err, body)
	}
	if !strings.Contains(logged.String(), "nil map in a handler") {
		t.Errorf("the panic was not logged: %s", logged.String())
	}
}
