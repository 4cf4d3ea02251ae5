package cabinet_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"carevisit/cabinet"
	"carevisit/internal/pgtest"
	"carevisit/store"
)

// apiEnv is a running cabinet with one worker holding an app device, one
// assigned client with a service and a plan for today, and one client of
// the organisation the worker does not serve.
type apiEnv struct {
	*env
	app      *cabinet.App
	worker   int64
	device   int64
	token    string
	served   int64 // assigned
	unserved int64 // same organisation, not assigned
	service  int64

	mu   sync.Mutex
	live []store.Position // what the visit detector was given
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	st := pgtest.NewStore(t)
	e := &env{t: t, st: st, mails: &mailbox{}}
	app, err := cabinet.New(cabinet.Config{BaseURL: "http://cabinet.test"},
		cabinet.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Mail: e.mails.send})
	if err != nil {
		t.Fatal(err)
	}
	ae := &apiEnv{env: e, app: app}
	app.OnPhonePositions(func(ps []store.Position) {
		ae.mu.Lock()
		ae.live = append(ae.live, ps...)
		ae.mu.Unlock()
	})
	e.srv = httptest.NewServer(app.Handler())
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	if e.org, err = st.AddOrganisation(ctx, "ЦСО Северный", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	ae.worker, ae.device, ae.token = ae.appWorker(e.org, "phone-1")
	ae.served = ae.addClient(e.org, "Петров П. П.")
	ae.unserved = ae.addClient(e.org, "Сидорова С. С.")
	if err := st.AssignClient(ctx, ae.worker, ae.served); err != nil {
		t.Fatal(err)
	}
	ae.service = ae.addService(e.org, "Уборка")
	ae.exec(`INSERT INTO client_services (client_id, service_id) VALUES ($1, $2)`, ae.served, ae.service)
	wd := int(time.Now().In(mustLoc(t, "Europe/Moscow")).Weekday())
	if wd == 0 {
		wd = 7
	}
	ae.exec(`INSERT INTO planned_visits (org_id, client_id, worker_id, weekday, start_min, end_min, service_ids)
		VALUES ($1, $2, $3, $4, 600, 660, ARRAY[$5::bigint])`, e.org, ae.served, ae.worker, wd, ae.service)
	return ae
}

func mustLoc(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (e *apiEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.st.Pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *apiEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.st.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// appWorker adds a worker holding an app device with a fresh token.
func (e *apiEnv) appWorker(org int64, ident string) (worker, device int64, token string) {
	e.t.Helper()
	ctx := context.Background()
	device, err := e.st.AddDevice(ctx, store.Device{OrgID: org, Ident: ident, Protocol: "app", Name: "Телефон"})
	if err != nil {
		e.t.Fatal(err)
	}
	token = "tok-" + ident + "-0123456789abcdef"
	h := sha256.Sum256([]byte(token))
	e.exec(`UPDATE devices SET token_hash = $1 WHERE id = $2`, h[:], device)
	worker, err = e.st.AddWorker(ctx, store.Worker{OrgID: org, FullName: "Иванова " + ident, DeviceID: device})
	if err != nil {
		e.t.Fatal(err)
	}
	return worker, device, token
}

func (e *apiEnv) addClient(org int64, name string) int64 {
	e.t.Helper()
	id, err := e.st.AddClient(context.Background(), store.Client{OrgID: org, FullName: name, FenceKind: "circle",
		CenterLat: 55.75, CenterLon: 37.61, RadiusM: 60})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *apiEnv) addService(org int64, name string) int64 {
	e.t.Helper()
	var id int64
	if err := e.st.Pool.QueryRow(context.Background(), `INSERT INTO services (org_id, name, norm_minutes) VALUES ($1, $2, 30)
		RETURNING id`, org, name).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// apiResp is an API answer; JSON is the decoded body.
type apiResp struct {
	Code   int
	Body   []byte
	Header http.Header
	JSON   map[string]any
}

func (r apiResp) errCode() string {
	e, _ := r.JSON["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r apiResp) errField() string {
	e, _ := r.JSON["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func (e *env) apiRaw(token, method, path, contentType string, body io.Reader) apiResp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := apiResp{Code: res.StatusCode, Body: b, Header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.JSON); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return r
}

// api sends v as JSON (nil: no body).
func (e *env) api(token, method, path string, v any) apiResp {
	e.t.Helper()
	if v == nil {
		return e.apiRaw(token, method, path, "", nil)
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.apiRaw(token, method, path, "application/json", bytes.NewReader(b))
}

func ping(t time.Time, lat, lon float64) map[string]any {
	return map[string]any{"time": t.Format(time.RFC3339Nano), "lat": lat, "lon": lon, "accuracy": 8.5, "speed": 1.5,
		"bearing": 90, "altitude": 150, "battery": 77, "mock": false, "provider": "gps"}
}

func pngBytes(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// photoForm is a multipart body with client_id, note and a file.
func photoForm(t *testing.T, clientID int64, filename string, data []byte) (string, io.Reader) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("client_id", fmt.Sprint(clientID))
	mw.WriteField("note", "Уборка выполнена")
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestAPIAuth(t *testing.T) {
	e := newAPIEnv(t)
	r := e.api("", "GET", "/api/v1/me", nil)
	if r.Code != http.StatusUnauthorized || r.errCode() != "unauthorized" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %s", r.Code, r.Body)
	}
	if r := e.api("wrong-token", "GET", "/api/v1/me", nil); r.Code != http.StatusUnauthorized || r.errCode() != "invalid_token" {
		t.Errorf("wrong token: %d %s", r.Code, r.Body)
	}
	if r := e.api("wrong-token", "POST", "/api/v1/pings", map[string]any{"pings": []any{ping(time.Now(), 55.75, 37.61)}}); r.Code != http.StatusUnauthorized {
		t.Errorf("wrong token on pings: %d", r.Code)
	}
	if n := e.count(`SELECT count(*) FROM positions`); n != 0 {
		t.Errorf("an unauthenticated upload stored %d fixes", n)
	}
	// A disabled device's token stops working.
	e.exec(`UPDATE devices SET disabled = true WHERE id = $1`, e.device)
	if r := e.api(e.token, "GET", "/api/v1/me", nil); r.Code != http.StatusUnauthorized {
		t.Errorf("disabled device: %d", r.Code)
	}
	e.exec(`UPDATE devices SET disabled = false WHERE id = $1`, e.device)
	// A phone not given to a worker is refused.
	e.exec(`UPDATE workers SET device_id = NULL WHERE id = $1`, e.worker)
	if r := e.api(e.token, "GET", "/api/v1/me", nil); r.Code != http.StatusForbidden || r.errCode() != "no_worker" {
		t.Errorf("device without worker: %d %s", r.Code, r.Body)
	}
	e.exec(`UPDATE workers SET device_id = $1 WHERE id = $2`, e.device, e.worker)
	if r := e.api(e.token, "GET", "/api/v1/nothing", nil); r.Code != http.StatusNotFound || r.errCode() != "not_found" {
		t.Errorf("unknown endpoint: %d %s", r.Code, r.Body)
	}
	// The API is exempt from the browser's cross-origin check: a phone
	// request carries no Sec-Fetch-Site or Origin of ours.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/messages", strings.NewReader(`{"text":"hi"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("API POST with Sec-Fetch-Site cross-site: %d, want 201", res.StatusCode)
	}
}

func TestAPIMe(t *testing.T) {
	e := newAPIEnv(t)
	r := e.api(e.token, "GET", "/api/v1/me", nil)
	if r.Code != 200 {
		t.Fatalf("me: %d %s", r.Code, r.Body)
	}
	var me struct {
		Worker       struct{ ID int64 }
		Device       struct{ ID int64 }
		Organisation struct{ Name, Timezone string }
		Clients      []struct {
			ID       int64
			FullName string `json:"full_name"`
			Fence    struct {
				Kind     string
				Lat, Lon float64
				RadiusM  float64 `json:"radius_m"`
			}
			Services []struct {
				ID   int64
				Name string
			}
		}
		PlannedToday []struct {
			ClientID   int64 `json:"client_id"`
			Start, End time.Time
			ServiceIDs []int64 `json:"service_ids"`
		} `json:"planned_today"`
	}
	if err := json.Unmarshal(r.Body, &me); err != nil {
		t.Fatal(err)
	}
	if me.Worker.ID != e.worker || me.Device.ID != e.device || me.Organisation.Name != "ЦСО Северный" || me.Organisation.Timezone != "Europe/Moscow" {
		t.Errorf("identity: %s", r.Body)
	}
	if len(me.Clients) != 1 || me.Clients[0].ID != e.served {
		t.Fatalf("clients: want only the assigned one (%d): %s", e.served, r.Body)
	}
	c := me.Clients[0]
	if c.Fence.Kind != "circle" || c.Fence.Lat != 55.75 || c.Fence.RadiusM != 60 || len(c.Services) != 1 || c.Services[0].Name != "Уборка" {
		t.Errorf("client: %+v", c)
	}
	if len(me.PlannedToday) != 1 {
		t.Fatalf("planned today: %s", r.Body)
	}
	p := me.PlannedToday[0]
	msk := mustLoc(t, "Europe/Moscow")
	if p.ClientID != e.served || p.Start.In(msk).Format("15:04") != "10:00" || p.End.In(msk).Format("15:04") != "11:00" ||
		p.Start.In(msk).YearDay() != time.Now().In(msk).YearDay() || len(p.ServiceIDs) != 1 {
		t.Errorf("planned visit: %+v", p)
	}
}

func TestAPIPings(t *testing.T) {
	e := newAPIEnv(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	batch := map[string]any{"pings": []any{ping(t0, 55.75, 37.61), ping(t0.Add(30*time.Second), 55.7501, 37.6101),
		ping(t0.Add(60*time.Second), 55.7502, 37.6102)}}
	r := e.api(e.token, "POST", "/api/v1/pings", batch)
	if r.Code != 200 || r.JSON["accepted"] != 3.0 || r.JSON["new"] != 3.0 {
		t.Fatalf("first upload: %d %s", r.Code, r.Body)
	}
	r = e.api(e.token, "POST", "/api/v1/pings", batch)
	if r.Code != 200 || r.JSON["accepted"] != 3.0 || r.JSON["new"] != 0.0 {
		t.Fatalf("resend: %d %s", r.Code, r.Body)
	}
	if n := e.count(`SELECT count(*) FROM positions WHERE device_id = $1`, e.device); n != 3 {
		t.Errorf("stored %d fixes after a resend, want 3", n)
	}
	var source string
	var speed, acc float64
	var batt int
	var attrs string
	if err := e.st.Pool.QueryRow(context.Background(), `SELECT source, speed_kmh, accuracy_m, battery, attributes::text
		FROM positions WHERE device_id = $1 AND fix_time = $2`, e.device, t0).Scan(&source, &speed, &acc, &batt, &attrs); err != nil {
		t.Fatal(err)
	}
	if source != "phone" || speed < 5.39 || speed > 5.41 || acc != 8.5 || batt != 77 || !strings.Contains(attrs, `"provider": "gps"`) {
		t.Errorf("stored fix: source %s speed %v km/h acc %v battery %d attrs %s", source, speed, acc, batt, attrs)
	}
	if last, err := e.st.LastPositionOf(context.Background(), e.device); err != nil || !last.FixTime.Equal(t0.Add(time.Minute)) {
		t.Errorf("last position: %+v %v", last, err)
	}
	e.mu.Lock()
	if len(e.live) != 3 || !e.live[0].FixTime.Equal(t0) || e.live[0].Source != "phone" {
		t.Errorf("the visit detector got %d fixes, want 3 (the resend adds none)", len(e.live))
	}
	e.mu.Unlock()

	// A bad item is reported with its index; nothing of the batch is stored.
	t1 := t0.Add(10 * time.Minute)
	bad := ping(t1.Add(time.Minute), 95, 37.61)
	r = e.api(e.token, "POST", "/api/v1/pings", map[string]any{"pings": []any{ping(t1, 55.75, 37.61), ping(t1.Add(30*time.Second), 55.75, 37.61), bad}})
	if r.Code != http.StatusUnprocessableEntity || r.errField() != "pings[2].lat" || r.JSON["error"].(map[string]any)["index"] != 2.0 {
		t.Errorf("bad latitude: %d %s", r.Code, r.Body)
	}
	if n := e.count(`SELECT count(*) FROM positions WHERE device_id = $1`, e.device); n != 3 {
		t.Errorf("a rejected batch stored fixes: %d rows, want 3", n)
	}
	cases := []struct {
		name  string
		item  map[string]any
		code  int
		field string
	}{
		{"wrong type", map[string]any{"time": t1.Format(time.RFC3339), "lat": "55.7", "lon": 37.6}, 422, "pings[1].lat"},
		{"no time", map[string]any{"lat": 55.7, "lon": 37.6}, 422, "pings[1].time"},
		{"bad time", map[string]any{"time": "yesterday", "lat": 55.7, "lon": 37.6}, 422, "pings[1].time"},
		{"future", map[string]any{"time": time.Now().Add(time.Hour).Format(time.RFC3339), "lat": 55.7, "lon": 37.6}, 422, "pings[1].time"},
		{"no lon", map[string]any{"time": t1.Format(time.RFC3339), "lat": 55.7}, 422, "pings[1].lon"},
		{"battery", map[string]any{"time": t1.Format(time.RFC3339), "lat": 55.7, "lon": 37.6, "battery": 140}, 422, "pings[1].battery"},
		{"battery type", map[string]any{"time": t1.Format(time.RFC3339), "lat": 55.7, "lon": 37.6, "battery": 50.5}, 422, "pings[1].battery"},
		{"speed", map[string]any{"time": t1.Format(time.RFC3339), "lat": 55.7, "lon": 37.6, "speed": -1}, 422, "pings[1].speed"},
	}
	for _, c := range cases {
		r := e.api(e.token, "POST", "/api/v1/pings", map[string]any{"pings": []any{ping(t1, 55.75, 37.61), c.item}})
		if r.Code != c.code || r.errField() != c.field {
			t.Errorf("%s: %d %s, want %d on %s", c.name, r.Code, r.Body, c.code, c.field)
		}
	}
	if n := e.count(`SELECT count(*) FROM positions WHERE device_id = $1`, e.device); n != 3 {
		t.Errorf("rejected batches stored fixes: %d rows, want 3", n)
	}
	if r := e.api(e.token, "POST", "/api/v1/pings", map[string]any{"pings": []any{}}); r.Code != 422 {
		t.Errorf("empty batch: %d", r.Code)
	}
	many := make([]any, 1001)
	for i := range many {
		many[i] = ping(t1.Add(time.Duration(i)*time.Second), 55.75, 37.61)
	}
	if r := e.api(e.token, "POST", "/api/v1/pings", map[string]any{"pings": many}); r.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("1001 fixes: %d %s", r.Code, r.Body)
	}
	if r := e.api(e.token, "POST", "/api/v1/pings", map[string]any{"pings": many[:1000]}); r.Code != 200 || r.JSON["new"] != 1000.0 {
		t.Errorf("1000 fixes: %d %s", r.Code, r.Body)
	}
	if r := e.apiRaw(e.token, "POST", "/api/v1/pings", "text/plain", strings.NewReader(`{"pings":[]}`)); r.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", r.Code)
	}
	if r := e.apiRaw(e.token, "POST", "/api/v1/pings", "application/json", strings.NewReader(`{"pings":[`)); r.Code != http.StatusBadRequest || r.errCode() != "bad_json" {
		t.Errorf("truncated JSON: %d %s", r.Code, r.Body)
	}
	huge := `{"pings":[` + strings.Repeat(" ", 2<<20) + `]}`
	if r := e.apiRaw(e.token, "POST", "/api/v1/pings", "application/json", strings.NewReader(huge)); r.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MB body: %d %s", r.Code, r.Body)
	}
}

func TestAPIMockLocation(t *testing.T) {
	e := newAPIEnv(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	m1, m2 := ping(t0, 55.75, 37.61), ping(t0.Add(time.Minute), 55.75, 37.61)
	m1["mock"], m2["mock"] = true, true
	batch := map[string]any{"pings": []any{m1, m2, ping(t0.Add(2*time.Minute), 55.75, 37.61)}}
	for i := 0; i < 2; i++ {
		if r := e.api(e.token, "POST", "/api/v1/pings", batch); r.Code != 200 {
			t.Fatalf("upload: %d %s", r.Code, r.Body)
		}
	}
	if n := e.count(`SELECT count(*) FROM alerts WHERE org_id = $1 AND kind = 'mock_location' AND device_id = $2 AND worker_id = $3`,
		e.org, e.device, e.worker); n != 1 {
		t.Errorf("%d mock-location alerts, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM positions WHERE device_id = $1 AND (attributes->>'mock')::bool AND NOT valid`, e.device); n != 2 {
		t.Errorf("%d fixes stored as mock, want 2", n)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.live) != 1 {
		t.Errorf("the visit detector got %d fixes, want only the real one", len(e.live))
	}
}

func TestAPICheckins(t *testing.T) {
	e := newAPIEnv(t)
	at := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	in := map[string]any{"client_id": e.served, "kind": "in", "time": at.Format(time.RFC3339), "lat": 55.7501, "lon": 37.6101, "accuracy": 12}
	r := e.api(e.token, "POST", "/api/v1/checkins", in)
	if r.Code != http.StatusCreated || r.JSON["created"] != true {
		t.Fatalf("check-in: %d %s", r.Code, r.Body)
	}
	id := r.JSON["id"]
	if r := e.api(e.token, "POST", "/api/v1/checkins", in); r.Code != 200 || r.JSON["id"] != id || r.JSON["created"] != false {
		t.Errorf("resent check-in: %d %s, want 200 with id %v", r.Code, r.Body, id)
	}
	out := map[string]any{"client_id": e.served, "kind": "out", "time": at.Add(3 * time.Minute).Format(time.RFC3339)}
	if r := e.api(e.token, "POST", "/api/v1/checkins", out); r.Code != http.StatusCreated {
		t.Errorf("check-out without a position: %d %s", r.Code, r.Body)
	}
	cs, err := e.st.Checkins(context.Background(), store.Scope{OrgID: e.org}, e.served, at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil || len(cs) != 2 || cs[0].Kind != "in" || cs[0].Lat == nil || *cs[0].Lat != 55.7501 || cs[1].Lat != nil {
		t.Errorf("stored check-ins: %+v %v", cs, err)
	}
	if cs, _ := e.st.Checkins(context.Background(), store.Scope{OrgID: e.org + 1000}, e.served, at.Add(-time.Hour), at.Add(time.Hour)); len(cs) != 0 {
		t.Error("another organisation's scope reads the check-ins")
	}
	for _, c := range []struct {
		name  string
		body  map[string]any
		code  int
		field string
	}{
		{"unserved client", map[string]any{"client_id": e.unserved, "kind": "in", "time": at.Format(time.RFC3339)}, 403, "client_id"},
		{"unknown client", map[string]any{"client_id": 999999, "kind": "in", "time": at.Format(time.RFC3339)}, 404, ""},
		{"bad kind", map[string]any{"client_id": e.served, "kind": "arrived", "time": at.Format(time.RFC3339)}, 422, "kind"},
		{"half a position", map[string]any{"client_id": e.served, "kind": "in", "time": at.Format(time.RFC3339), "lat": 55.7}, 422, "lon"},
		{"client id as text", map[string]any{"client_id": "7", "kind": "in", "time": at.Format(time.RFC3339)}, 422, "client_id"},
	} {
		if r := e.api(e.token, "POST", "/api/v1/checkins", c.body); r.Code != c.code || r.errField() != c.field {
			t.Errorf("%s: %d %s, want %d on %q", c.name, r.Code, r.Body, c.code, c.field)
		}
	}
}

func TestAPIServices(t *testing.T) {
	e := newAPIEnv(t)
	cook := e.addService(e.org, "Приготовление пищи")
	at := time.Now().Add(-20 * time.Minute).Truncate(time.Second).Format(time.RFC3339)
	body := map[string]any{"client_id": e.served, "service_ids": []int64{e.service, cook}, "time": at}
	if r := e.api(e.token, "POST", "/api/v1/services", body); r.Code != http.StatusCreated || r.JSON["new"] != 2.0 {
		t.Fatalf("services: %d %s", r.Code, r.Body)
	}
	if r := e.api(e.token, "POST", "/api/v1/services", body); r.Code != 200 || r.JSON["new"] != 0.0 {
		t.Errorf("resent services: %d %s", r.Code, r.Body)
	}
	if n := e.count(`SELECT count(*) FROM service_ticks WHERE worker_id = $1 AND client_id = $2`, e.worker, e.served); n != 2 {
		t.Errorf("%d ticks stored, want 2", n)
	}
	other, err := e.st.AddOrganisation(context.Background(), "ЦСО Южный", "Europe/Samara")
	if err != nil {
		t.Fatal(err)
	}
	foreign := e.addService(other, "Чужая услуга")
	r := e.api(e.token, "POST", "/api/v1/services", map[string]any{"client_id": e.served, "service_ids": []int64{cook, foreign}, "time": at})
	if r.Code != 422 || r.errField() != "service_ids[1]" {
		t.Errorf("another organisation's service: %d %s", r.Code, r.Body)
	}
	if r := e.api(e.token, "POST", "/api/v1/services", map[string]any{"client_id": e.unserved, "service_ids": []int64{cook}, "time": at}); r.Code != 403 {
		t.Errorf("unserved client: %d %s", r.Code, r.Body)
	}
	if n := e.count(`SELECT count(*) FROM service_ticks`); n != 2 {
		t.Errorf("refused requests stored ticks: %d", n)
	}
}

func TestAPIPhotos(t *testing.T) {
	e := newAPIEnv(t)
	fix := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	e.api(e.token, "POST", "/api/v1/pings", map[string]any{"pings": []any{ping(fix, 55.7503, 37.6104)}})
	img := pngBytes(t)
	ct, body := photoForm(t, e.served, "kitchen.png", img)
	r := e.apiRaw(e.token, "POST", "/api/v1/photos", ct, body)
	if r.Code != http.StatusCreated || r.JSON["content_type"] != "image/png" || r.JSON["lat"] != 55.7503 || r.JSON["width"] != 4.0 {
		t.Fatalf("upload: %d %s", r.Code, r.Body)
	}
	id := int64(r.JSON["id"].(float64))
	got := e.apiRaw(e.token, "GET", fmt.Sprintf("/api/v1/photos/%d", id), "", nil)
	if got.Code != 200 || got.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got.Body, img) {
		t.Errorf("own photo: %d %s", got.Code, got.Header.Get("Content-Type"))
	}
	_, _, token2 := e.appWorker(e.org, "phone-2")
	if r := e.apiRaw(token2, "GET", fmt.Sprintf("/api/v1/photos/%d", id), "", nil); r.Code != 404 {
		t.Errorf("a colleague's photo: %d, want 404", r.Code)
	}

	// The type is checked by content: an executable named .jpg is refused.
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), bytes.Repeat([]byte{0}, 2048)...)
	ct, body = photoForm(t, e.served, "photo.jpg", exe)
	if r := e.apiRaw(e.token, "POST", "/api/v1/photos", ct, body); r.Code != http.StatusUnsupportedMediaType || r.errField() != "file" {
		t.Errorf("EXE as .jpg: %d %s", r.Code, r.Body)
	}
	// A JPEG signature on junk is not a readable image either.
	ct, body = photoForm(t, e.served, "photo.jpg", append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{1}, 600)...))
	if r := e.apiRaw(e.token, "POST", "/api/v1/photos", ct, body); r.Code != http.StatusUnsupportedMediaType {
		t.Errorf("junk JPEG: %d %s", r.Code, r.Body)
	}
	big := append(append([]byte{}, img...), bytes.Repeat([]byte{0}, 11<<20)...)
	ct, body = photoForm(t, e.served, "big.png", big)
	if r := e.apiRaw(e.token, "POST", "/api/v1/photos", ct, body); r.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("11 MB photo: %d %s", r.Code, r.Body)
	}
	if r := e.api(e.token, "POST", "/api/v1/photos", map[string]any{"client_id": e.served}); r.Code != http.StatusUnsupportedMediaType {
		t.Errorf("JSON instead of multipart: %d", r.Code)
	}
	ct, body = photoForm(t, e.unserved, "x.png", img)
	if r := e.apiRaw(e.token, "POST", "/api/v1/photos", ct, body); r.Code != 403 {
		t.Errorf("photo at an unserved client: %d", r.Code)
	}
	if n := e.count(`SELECT count(*) FROM photos`); n != 1 {
		t.Errorf("%d photos stored, want 1", n)
	}

	// Staff: the organisation's coordinator sees it; another's does not.
	ps, err := e.st.Photos(context.Background(), store.Scope{OrgID: e.org}, e.served, fix.Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(ps) != 1 || ps[0].ID != id || ps[0].Note != "Уборка выполнена" || ps[0].Data != nil {
		t.Errorf("store.Photos: %+v %v", ps, err)
	}
	e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	other, _ := e.st.AddOrganisation(context.Background(), "ЦСО Южный", "Europe/Samara")
	e.user(other, "south@example.ru", store.RoleAdmin, "correct horse battery")
	sup := e.client()
	sup.login("sup@example.ru", "correct horse battery")
	// A supervisor with no groups sees no workers' photos.
	if r := sup.get(fmt.Sprintf("/staff/photos/%d", id)); r.Code != 404 {
		t.Errorf("supervisor outside the worker's group: %d", r.Code)
	}
	admin := e.client()
	e.user(e.org, "admin@example.ru", store.RoleAdmin, "correct horse battery")
	admin.login("admin@example.ru", "correct horse battery")
	if r := admin.get(fmt.Sprintf("/staff/photos/%d", id)); r.Code != 200 || r.Header.Get("Content-Type") != "image/png" || r.Body != string(img) {
		t.Errorf("admin: %d %s", r.Code, r.Header.Get("Content-Type"))
	}
	south := e.client()
	south.login("south@example.ru", "correct horse battery")
	if r := south.get(fmt.Sprintf("/staff/photos/%d", id)); r.Code != 404 || strings.Contains(r.Body, "PNG") {
		t.Errorf("another organisation's admin: %d", r.Code)
	}
}

func TestAPICrossOrganisation(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	other, err := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Samara")
	if err != nil {
		t.Fatal(err)
	}
	_, _, tok := e.appWorker(other, "south-phone")
	// Something of ours to go after: a photo.
	ct, body := photoForm(t, e.served, "a.png", pngBytes(t))
	r := e.apiRaw(e.token, "POST", "/api/v1/photos", ct, body)
	if r.Code != 201 {
		t.Fatalf("upload: %d %s", r.Code, r.Body)
	}
	photo := int64(r.JSON["id"].(float64))
	e.api(e.token, "POST", "/api/v1/messages", map[string]any{"text": "Клиент не открывает"})

	me := e.api(tok, "GET", "/api/v1/me", nil)
	if me.Code != 200 || strings.Contains(string(me.Body), "Петров") || me.JSON["unread_messages"] != 0.0 {
		t.Errorf("the other organisation's worker sees our clients: %s", me.Body)
	}
	at := time.Now().Add(-time.Minute).Format(time.RFC3339)
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/checkins", map[string]any{"client_id": e.served, "kind": "in", "time": at}},
		{"/api/v1/services", map[string]any{"client_id": e.served, "service_ids": []int64{e.service}, "time": at}},
	} {
		if r := e.api(tok, "POST", c.path, c.body); r.Code != 404 {
			t.Errorf("%s with our client: %d %s, want 404", c.path, r.Code, r.Body)
		}
	}
	ct, body = photoForm(t, e.served, "b.png", pngBytes(t))
	if r := e.apiRaw(tok, "POST", "/api/v1/photos", ct, body); r.Code != 404 {
		t.Errorf("photo at our client: %d", r.Code)
	}
	if r := e.apiRaw(tok, "GET", fmt.Sprintf("/api/v1/photos/%d", photo), "", nil); r.Code != 404 {
		t.Errorf("our photo: %d", r.Code)
	}
	if r := e.api(tok, "GET", "/api/v1/messages", nil); r.Code != 200 || strings.Contains(string(r.Body), "открывает") {
		t.Errorf("our messages leak: %s", r.Body)
	}
	if n := e.count(`SELECT count(*) FROM app_checkins`) + e.count(`SELECT count(*) FROM service_ticks`); n != 0 {
		t.Errorf("%d rows written for another organisation's client", n)
	}
}

func TestAPIMessages(t *testing.T) {
	e := newAPIEnv(t)
	r := e.api(e.token, "POST", "/api/v1/messages", map[string]any{"text": "  Клиент просит перенести визит  ", "client_ref": "m-1"})
	if r.Code != http.StatusCreated || r.JSON["from"] != "worker" || r.JSON["text"] != "Клиент просит перенести визит" {
		t.Fatalf("send: %d %s", r.Code, r.Body)
	}
	first := r.JSON["id"]
	if r := e.api(e.token, "POST", "/api/v1/messages", map[string]any{"text": "Клиент просит перенести визит", "client_ref": "m-1"}); r.Code != 200 || r.JSON["id"] != first {
		t.Errorf("retried send: %d %s", r.Code, r.Body)
	}
	if r := e.api(e.token, "POST", "/api/v1/messages", map[string]any{"text": "   "}); r.Code != 422 || r.errField() != "text" {
		t.Errorf("empty text: %d %s", r.Code, r.Body)
	}

	e.user(e.org, "sup@example.ru", store.RoleAdmin, "correct horse battery")
	sup := e.client()
	sup.login("sup@example.ru", "correct horse battery")
	list := sup.get("/staff/messages")
	if list.Code != 200 || !strings.Contains(list.Body, "Иванова phone-1") || !strings.Contains(list.Body, `class="badge bad">1<`) ||
		!strings.Contains(list.Body, `href="/staff/messages"`) {
		t.Fatalf("conversations: %d\n%s", list.Code, list.Body)
	}
	thread := fmt.Sprintf("/staff/messages/%d", e.worker)
	if r := sup.get(thread); r.Code != 200 || !strings.Contains(r.Body, "Клиент просит перенести визит") {
		t.Fatalf("thread: %d", r.Code)
	}
	if r := sup.get("/staff/messages"); strings.Contains(r.Body, `class="badge bad"`) {
		t.Error("opening the conversation did not mark the message read")
	}
	if r := sup.post(thread, url.Values{"text": {""}}); r.Code != 422 || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Errorf("empty reply: %d", r.Code)
	}
	if r := sup.post(thread, url.Values{"text": {"Хорошо, перенесём на завтра"}}); r.Code != http.StatusSeeOther || r.Location != thread {
		t.Fatalf("reply: %d %s", r.Code, r.Location)
	}
	if r := e.api(e.token, "GET", "/api/v1/me", nil); r.JSON["unread_messages"] != 1.0 {
		t.Errorf("unread for the worker: %v", r.JSON["unread_messages"])
	}
	r = e.api(e.token, "GET", fmt.Sprintf("/api/v1/messages?since=%v", first), nil)
	msgs, _ := r.JSON["messages"].([]any)
	if r.Code != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["from"] != "staff" || msgs[0].(map[string]any)["author"] != "Тест admin" {
		t.Fatalf("poll: %d %s", r.Code, r.Body)
	}
	last := r.JSON["last_id"]
	if r := e.api(e.token, "GET", fmt.Sprintf("/api/v1/messages?since=%v", last), nil); len(r.JSON["messages"].([]any)) != 0 || r.JSON["last_id"] != last {
		t.Errorf("poll with nothing new: %s", r.Body)
	}
	if r := e.api(e.token, "GET", "/api/v1/messages", nil); len(r.JSON["messages"].([]any)) != 2 {
		t.Errorf("whole conversation: %s", r.Body)
	}
	if r := e.api(e.token, "GET", "/api/v1/me", nil); r.JSON["unread_messages"] != 0.0 {
		t.Errorf("fetched messages still unread: %v", r.JSON["unread_messages"])
	}
	if r := sup.get(thread); !strings.Contains(r.Body, "прочитано") {
		t.Error("the coordinator does not see the reply was read")
	}

	// Auditors read, never write; another organisation sees nothing.
	e.user(e.org, "aud@example.ru", store.RoleAuditor, "correct horse battery")
	aud := e.client()
	aud.login("aud@example.ru", "correct horse battery")
	if r := aud.get(thread); r.Code != 200 || strings.Contains(r.Body, `action="`+thread+`"`) {
		t.Errorf("auditor's view: %d (no reply form expected)", r.Code)
	}
	if r := aud.post(thread, url.Values{"text": {"x"}}); r.Code != 403 {
		t.Errorf("auditor reply: %d", r.Code)
	}
	other, _ := e.st.AddOrganisation(context.Background(), "ЦСО Южный", "Europe/Samara")
	e.user(other, "south@example.ru", store.RoleAdmin, "correct horse battery")
	south := e.client()
	south.login("south@example.ru", "correct horse battery")
	if r := south.get(thread); r.Code != 404 || strings.Contains(r.Body, "перенести") {
		t.Errorf("another organisation's admin opens the conversation: %d", r.Code)
	}
	if r := south.post(thread, url.Values{"text": {"чужое"}}); r.Code != 404 {
		t.Errorf("another organisation's admin replies: %d", r.Code)
	}
	if r := south.get("/staff/messages"); strings.Contains(r.Body, "Иванова") {
		t.Error("another organisation's list shows our worker")
	}
	if n := e.count(`SELECT count(*) FROM messages`); n != 2 {
		t.Errorf("%d messages stored, want 2", n)
	}
}
