package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"carevisit/cabinet"
	"carevisit/firmware-sim/sim"
	"carevisit/internal/browsertest"
	"carevisit/internal/pgtest"
	"carevisit/protocol/gt06"
	"carevisit/store"
)

// The staff cabinet in a real browser against the real server: HTTP and
// GT06 on free ports, a fresh database, a simulated tracker over TCP. One
// server and one headless Chromium serve every step; the steps run in the
// order a coordinator would take them.
func TestBrowserCabinet(t *testing.T) {
	if testing.Short() {
		t.Skip("browser scenario: skipped with -short")
	}
	b := newBrowserEnv(t)
	t.Run("Login", b.testLogin)
	t.Run("ClientGeofence", b.testClientGeofence)
	t.Run("RegisterUnknownTracker", b.testRegisterUnknown)
	t.Run("LiveMap", b.testLiveMap)
	t.Run("VisitLog", b.testVisitLog)
	t.Run("ShortVisitFlag", b.testShortFlag)
	t.Run("CorrectVisit", b.testCorrectVisit)
}

const (
	bAdminEmail = "admin@example.ru"
	bAdminPass  = "correct horse battery"
	bAdminName  = "Петрова Ольга Ивановна"
	bWorkerName = "Иванова Анна Петровна"
	bClientA    = "Смирнова Нина Павловна" // the long visit
	bClientB    = "Кузнецов Пётр Ильич"    // the short one
	bTrackerID  = "864717003283571"        // the worker's tracker, registered
	bUnknownID  = "864717003283572"        // a tracker nobody registered
	bSimSpeed   = 300                      // the round's ~55 simulated minutes take ~11 s
)

// Where the simulated worker goes: home, a 20-minute visit at A, a
// 6-minute visit at B (the organisation's norm is 15), home again.
var (
	bHome  = sim.Stop{Name: "home", Lat: 54.6200, Lon: 39.7300, MinStay: 2 * time.Minute, MaxStay: 2 * time.Minute}
	bStopA = sim.Stop{Name: bClientA, Lat: 54.6230, Lon: 39.7340, RadiusM: 40, Visit: true, MinStay: 20 * time.Minute, MaxStay: 20 * time.Minute}
	bStopB = sim.Stop{Name: bClientB, Lat: 54.6215, Lon: 39.7370, RadiusM: 40, Visit: true, MinStay: 6 * time.Minute, MaxStay: 6 * time.Minute}
	bBack  = sim.Stop{Name: "back", Lat: 54.6200, Lon: 39.7300, MinStay: 5 * time.Hour, MaxStay: 5 * time.Hour}
)

type browserEnv struct {
	t      *testing.T
	a      *app
	base   string // http://host:port of the cabinet
	gtAddr string
	org    int64
	loc    *time.Location
	ctx    context.Context // the browser tab

	worker, device   int64
	clientA, clientB int64

	// The simulated round, started once by the live map step (or by the
	// first step that needs its visits).
	roundOnce sync.Once
	roundDone chan struct{}
	roundErr  error
	simStart  time.Time
	events    *eventLog

	logOnce sync.Once
	log     map[string]visitRow // the visit log once both visits are closed, by client name
}

func newBrowserEnv(t *testing.T) *browserEnv {
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	st, err := store.Open(ctx, dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := &browserEnv{t: t, roundDone: make(chan struct{})}
	b.loc, _ = time.LoadLocation("Europe/Moscow")
	if b.org, err = st.AddOrganisation(ctx, "ЦСО Рязань", "Europe/Moscow"); err != nil {
		t.Fatal(err)
	}
	h, err := cabinet.HashPassword(bAdminPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser(ctx, store.User{OrgID: b.org, Email: bAdminEmail, FullName: bAdminName, Role: store.RoleAdmin,
		PasswordHash: h, EmailConfirmed: true}); err != nil {
		t.Fatal(err)
	}
	// The worker, the tracker and both clients exist before the server
	// starts: ingest and the visit tracker load them at start (in
	// production they reload every 10 and 30 s).
	if b.device, err = st.AddDevice(ctx, store.Device{OrgID: b.org, Ident: bTrackerID, Protocol: "gt06", Model: "S20"}); err != nil {
		t.Fatal(err)
	}
	if b.worker, err = st.AddWorker(ctx, store.Worker{OrgID: b.org, FullName: bWorkerName, DeviceID: b.device}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stop sim.Stop
		id   *int64
		addr string
	}{{bStopA, &b.clientA, "ул. Есенина, 12, кв. 4"}, {bStopB, &b.clientB, "ул. Ленина, 3, кв. 17"}} {
		if *c.id, err = st.AddClient(ctx, store.Client{OrgID: b.org, FullName: c.stop.Name, Address: c.addr, FenceKind: "circle",
			CenterLat: c.stop.Lat, CenterLon: c.stop.Lon, RadiusM: c.stop.RadiusM}); err != nil {
			t.Fatal(err)
		}
		if err := st.AssignClient(ctx, b.worker, *c.id); err != nil {
			t.Fatal(err)
		}
	}

	httpAddr, gtAddr := freeAddr(t), freeAddr(t)
	b.base, b.gtAddr = "http://"+httpAddr, gtAddr
	cfg, err := parseServe([]string{"-database-url", dsn, "-http", httpAddr, "-gt06", gtAddr, "-h02", "-", "-watch", "-",
		"-osmand", "-", "-batch-delay", "5ms", "-base-url", b.base})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	// Warnings and errors of the server show in the test's output.
	b.a, err = newApp(runCtx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.a.run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	<-b.a.ingest.Booted()

	// The browser closes before the server stops (cleanups run last first).
	b.ctx = browsertest.New(t)
	// Record every Leaflet map the page makes (L.Map.addInitHook, before
	// the page's own scripts run), so the test converts pixels and reads
	// markers with Leaflet itself; the page exposes nothing for tests.
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: leafletHook}); err != nil {
		t.Fatal(err)
	}
	return b
}

const leafletHook = `(function () {
  var maps = window.__maps = [], lib;
  Object.defineProperty(window, 'L', { configurable: true, get: function () { return lib; }, set: function (v) {
    lib = v;
    if (v && v.Map && v.Map.addInitHook && !v.__hooked) { v.__hooked = true; v.Map.addInitHook(function () { maps.push(this); }); }
  } });
})();`

// ---- helpers ----

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.60q: %v", js, err)
	}
	return v
}

func (b *browserEnv) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func (b *browserEnv) text(t *testing.T, sel chromedp.CSS) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browserEnv) value(t *testing.T, id string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("value of #%s: %v", id, err)
	}
	return s
}

func (b *browserEnv) location(t *testing.T) string {
	t.Helper()
	u, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type latLon struct {
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	R       float64 `json:"r"`
	Visible bool    `json:"visible"` // inside the map's shown bounds
}

func (p latLon) String() string { return fmt.Sprintf("%.6f,%.6f", p.Lat, p.Lon) }

func (p latLon) dist(q latLon) float64 { return sim.DistanceM(p.Lat, p.Lon, q.Lat, q.Lon) }

// ---- 1. log in ----

func (b *browserEnv) testLogin(t *testing.T) {
	b.do(t,
		chromedp.Navigate(b.base+"/staff/"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), bAdminEmail),
		chromedp.SendKeys(chromedp.ID("password"), bAdminPass),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("visits-today")),
	)
	if h1 := b.text(t, "h1"); h1 != "Сводка" {
		t.Errorf("landing page heading %q, want Сводка", h1)
	}
	if who := b.text(t, ".who"); who != bAdminName {
		t.Errorf("signed in as %q, want %q", who, bAdminName)
	}
}

// ---- 2. a new client's home, drawn on the map ----

func (b *browserEnv) testClientGeofence(t *testing.T) {
	const name, address = "Орлова Вера Николаевна", "ул. Грибоедова, 8, кв. 21"
	b.do(t,
		chromedp.Navigate(b.base+"/staff/clients/new"),
		chromedp.WaitVisible(chromedp.ID("client-map")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("address"), address),
		chromedp.ScrollIntoView(chromedp.ID("client-map")),
	)
	type rect struct{ X, Y, W, H float64 }
	r := evalJS[rect](t, b.ctx, `(() => { const r = document.getElementById('client-map').getBoundingClientRect();
		return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`)
	if r.W < 200 || r.H < 200 || r.Y < 0 || r.Y+r.H > 900 {
		t.Fatalf("map not in view: %+v", r)
	}
	// toLatLon converts a viewport point with the page's own map.
	toLatLon := func(x, y float64) latLon {
		return evalJS[latLon](t, b.ctx, fmt.Sprintf(`(() => { const p = window.__maps[0].containerPointToLatLng([%f, %f]);
			return {lat: p.lat, lon: p.lng}; })()`, x-r.X, y-r.Y))
	}
	// Click east-north of the middle: the centre lands there; then drag
	// the centre marker a little further, as a user adjusts it.
	cx, cy := float64(int(r.X+r.W/2+70)), float64(int(r.Y+r.H/2-50))
	b.do(t, chromedp.MouseClickXY(cx, cy))
	click := toLatLon(cx, cy)
	waitFor(t, 3*time.Second, "the click to fill #lat", func() (bool, error) { return b.value(t, "lat") != "", nil })
	got := latLon{Lat: mustFloat(t, b.value(t, "lat")), Lon: mustFloat(t, b.value(t, "lon"))}
	if d := got.dist(click); d > 2 {
		t.Errorf("after the click #lat/#lon = %v, %0.1f m from the clicked point %v", got, d, click)
	}
	dx, dy := cx+45, cy+30
	b.do(t, chromedp.DragAndDropXY(cx, cy, dx, dy))
	want := toLatLon(dx, dy)
	waitFor(t, 3*time.Second, "the drag to move the centre", func() (bool, error) {
		got = latLon{Lat: mustFloat(t, b.value(t, "lat")), Lon: mustFloat(t, b.value(t, "lon"))}
		return got.dist(want) < 3, fmt.Errorf("#lat/#lon %v, dropped at %v", got, want)
	})
	if click.dist(want) < 20 {
		t.Fatalf("the drag moved the point only %.1f m", click.dist(want))
	}
	b.do(t, chromedp.Clear(chromedp.ID("radius")), chromedp.SendKeys(chromedp.ID("radius"), "60"))
	circle := `(() => { const m = window.__maps[0]; let c = null;
		m.eachLayer(l => { if (l instanceof L.Circle) { const p = l.getLatLng(); c = {lat: p.lat, lon: p.lng, r: l.getRadius(), visible: m.getBounds().contains(p)}; } });
		return c; })()`
	if c := evalJS[latLon](t, b.ctx, circle); c.R != 60 || c.dist(want) > 3 {
		t.Errorf("the map's circle before saving: %v r=%v, want %v r=60", c, c.R, want)
	}

	b.do(t, chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("client-services")))
	m := regexp.MustCompile(`/staff/clients/(\d+)$`).FindStringSubmatch(b.location(t))
	if m == nil {
		t.Fatalf("after saving the browser is at %s, want the client's page", b.location(t))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if f := b.text(t, ".flash"); f != "Сохранено." {
		t.Errorf("flash %q", f)
	}
	if h := b.text(t, "#client-name"); h != name {
		t.Errorf("client page heading %q, want %q", h, name)
	}
	// The saved page shows the geofence: the circle on the map, in view,
	// and the numbers in the form.
	c := evalJS[latLon](t, b.ctx, circle)
	if c.R != 60 || c.dist(want) > 3 || !c.Visible {
		t.Errorf("client page map circle %v r=%v visible=%v, want %v r=60 in view", c, c.R, c.Visible, want)
	}
	if r := b.value(t, "radius"); r != "60" {
		t.Errorf("#radius %q", r)
	}
	var row store.Client
	if err := b.a.st.Pool.QueryRow(context.Background(), `SELECT full_name, address, fence_kind, center_lat, center_lon, radius_m
		FROM clients WHERE id = $1 AND org_id = $2`, id, b.org).Scan(&row.FullName, &row.Address, &row.FenceKind, &row.CenterLat,
		&row.CenterLon, &row.RadiusM); err != nil {
		t.Fatal(err)
	}
	stored := latLon{Lat: row.CenterLat, Lon: row.CenterLon}
	if row.FullName != name || row.Address != address || row.FenceKind != "circle" || row.RadiusM != 60 || stored.dist(want) > 3 {
		t.Errorf("stored client %+v, want %s at %v (%.1f m off) r=60", row, name, want, stored.dist(want))
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return f
}

// ---- 3. an unknown tracker, registered with one click ----

// trackerLogin sends a GT06 login and reports whether the server acknowledged
// it (an unknown tracker gets no answer: the server closes).
func trackerLogin(addr, imei string, wait time.Duration) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(gt06.AppendLogin(nil, imei, 1)); err != nil {
		return false, err
	}
	ack := make([]byte, 10)
	if _, err := io.ReadFull(c, ack); err != nil {
		return false, err
	}
	return ack[0] == 0x78 && ack[1] == 0x78 && ack[3] == 0x01, nil
}

func (b *browserEnv) testRegisterUnknown(t *testing.T) {
	acked, err := trackerLogin(b.gtAddr, bUnknownID, 3*time.Second)
	if acked {
		t.Fatal("the server acknowledged an unregistered tracker's login")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("an unknown tracker's connection stays open (want it closed): %v", err)
	}

	// The list is shared by every organisation: the number is masked, and
	// the admin types the full IMEI from the tracker's label.
	row := `#unknown-devices tr[data-protocol="gt06"][data-tail="` + bUnknownID[len(bUnknownID)-3:] + `"]`
	waitFor(t, 8*time.Second, "the tracker in the unknown list", func() (bool, error) {
		if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+"/staff/devices"), chromedp.WaitReady(chromedp.ID("unknown"))); err != nil {
			return false, err
		}
		return evalJS[bool](t, b.ctx, `document.querySelector('`+row+`') !== null`), nil
	})
	if text := b.text(t, chromedp.CSS(row)); strings.Contains(text, bUnknownID[:len(bUnknownID)-3]) || !strings.Contains(text, bUnknownID[len(bUnknownID)-3:]) || !strings.Contains(text, "gt06") {
		t.Errorf("unknown list row %q: want the protocol and the IMEI masked to its last 3 digits", text)
	}
	b.do(t, chromedp.SendKeys(chromedp.CSS(row+` input[name="ident"]`), bUnknownID),
		chromedp.Click(chromedp.CSS(row+` button`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	registered := time.Now()
	if u := b.location(t); !regexp.MustCompile(`/staff/devices/\d+$`).MatchString(u) {
		t.Errorf("after registering the browser is at %s, want the device's page", u)
	}
	if f := b.text(t, ".flash"); !strings.Contains(f, "Устройство зарегистрировано") {
		t.Errorf("flash %q", f)
	}
	var org int64
	if err := b.a.st.Pool.QueryRow(context.Background(), `SELECT org_id FROM devices WHERE ident = $1`, bUnknownID).Scan(&org); err != nil || org != b.org {
		t.Fatalf("registered device's organisation %d (%v), want %d", org, err, b.org)
	}
	// The ingest server reloads its registry every 10 s: the tracker's
	// next login within that is acknowledged.
	waitFor(t, 13*time.Second, "the tracker's login to be acknowledged", func() (bool, error) {
		return trackerLogin(b.gtAddr, bUnknownID, time.Second)
	})
	took := time.Since(registered)
	t.Logf("login acknowledged %.1f s after registration", took.Seconds())
	if took > 11500*time.Millisecond {
		t.Errorf("login acknowledged only %v after registration, want within the 10 s reload", took)
	}
}

// ---- 4. the live map follows a simulated tracker ----

// startRound runs the simulated worker's round once, in the background.
func (b *browserEnv) startRound() {
	b.roundOnce.Do(func() {
		b.simStart = time.Now().Add(-time.Hour).Truncate(time.Second)
		clock := sim.NewClock(b.simStart, bSimSpeed)
		track := sim.NewTrack([]sim.Stop{bHome, bStopA, bStopB, bBack}, b.simStart, 11, sim.TrackOptions{})
		b.events = &eventLog{day: b.simStart}
		d, err := sim.NewDevice(sim.Config{Protocol: sim.ProtoGT06, Ident: bTrackerID, Addr: b.gtAddr, Clock: clock, Track: track,
			Moving: 15 * time.Second, Still: 30 * time.Second, Until: b.simStart.Add(55 * time.Minute), Log: slog.New(b.events)})
		if err != nil {
			b.roundErr = err
			close(b.roundDone)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		b.t.Cleanup(func() { cancel(); <-b.roundDone })
		go func() {
			defer close(b.roundDone)
			defer cancel()
			if err := d.Run(ctx); err != nil {
				b.roundErr = fmt.Errorf("device run: %w (stats %+v)", err, d.Stats())
			} else if s := d.Stats(); s.Acked == 0 || s.Pending != 0 {
				b.roundErr = fmt.Errorf("device stats %+v: want every position acknowledged", s)
			}
		}()
	})
}

func (b *browserEnv) waitRound(t *testing.T) {
	t.Helper()
	b.startRound()
	select {
	case <-b.roundDone:
	case <-time.After(45 * time.Second):
		t.Fatal("the simulated round did not finish in 45 s")
	}
	if b.roundErr != nil {
		t.Fatal(b.roundErr)
	}
}

func (b *browserEnv) testLiveMap(t *testing.T) {
	row := fmt.Sprintf("#live-worker-%d", b.worker)
	b.do(t, chromedp.Navigate(b.base+"/staff/live"), chromedp.WaitVisible(chromedp.CSS(row)))
	if s := b.text(t, chromedp.CSS(row+" .label")); s != "нет данных от трекера" {
		t.Errorf("before the tracker reports the worker is %q", s)
	}
	waitFor(t, 5*time.Second, "the event stream to connect", func() (bool, error) {
		s := b.text(t, "#live-status")
		return s == "Обновляется автоматически", errors.New(s)
	})
	evalJS[bool](t, b.ctx, `window.__samePage = true`)

	b.startRound()
	// Each snapshot (every 5 s) moves the marker; collect the positions the
	// map shows until two are far apart.
	markers := `(() => { const m = window.__maps[0], out = [];
		m.eachLayer(l => { if (l instanceof L.CircleMarker && !(l instanceof L.Circle)) { const p = l.getLatLng(); out.push({lat: p.lat, lon: p.lng, visible: m.getBounds().contains(p)}); } });
		return out; })()`
	var seen []latLon
	waitFor(t, 25*time.Second, "the worker's marker to move 100 m", func() (bool, error) {
		ms := evalJS[[]latLon](t, b.ctx, markers)
		if len(ms) > 1 {
			t.Fatalf("the live map shows %d markers for one worker: %v", len(ms), ms)
		}
		if len(ms) == 1 && (len(seen) == 0 || seen[len(seen)-1] != ms[0]) {
			seen = append(seen, ms[0])
		}
		return len(seen) > 1 && seen[0].dist(seen[len(seen)-1]) > 100, fmt.Errorf("markers seen %v", seen)
	})
	t.Logf("marker positions shown: %v", seen)
	// The map fits the worker when the first fix arrives (it opened before
	// any); it does not follow later moves, which the user may pan away from.
	if !seen[0].Visible {
		t.Errorf("the first marker, at %v, is outside the map's view", seen[0])
	}
	for _, p := range seen {
		// Every position shown is a fix the tracker sent.
		var n int
		if err := b.a.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM positions WHERE device_id = $1
			AND abs(lat - $2) < 2e-6 AND abs(lon - $3) < 2e-6`, b.device, p.Lat, p.Lon).Scan(&n); err != nil || n == 0 {
			t.Errorf("marker at %v matches no stored fix of the tracker (%d, %v)", p, n, err)
		}
	}
	if s := b.text(t, chromedp.CSS(row+" .label")); s == "нет данных от трекера" {
		t.Errorf("the worker list still says %q", s)
	}
	if !evalJS[bool](t, b.ctx, `window.__samePage === true`) {
		t.Error("the page reloaded: the marker must move by the event stream")
	}
}

// ---- 5-7. the visit log ----

type visitRow struct {
	ID       string      `json:"id"`
	Client   string      `json:"client"`
	Worker   string      `json:"worker"`
	Duration string      `json:"duration"`
	Norm     string      `json:"norm"`
	Open     bool        `json:"open"`
	Flags    []visitFlag `json:"flags"`
}

type visitFlag struct {
	Class string `json:"cls"`
	Text  string `json:"text"`
}

func (r visitRow) hasFlag(class string) (string, bool) {
	for _, f := range r.Flags {
		if strings.Contains(" "+f.Class+" ", " "+class+" ") {
			return f.Text, true
		}
	}
	return "", false
}

// minutes reads a shown duration "H:MM".
func (r visitRow) minutes(t *testing.T) int {
	t.Helper()
	h, m, ok := strings.Cut(r.Duration, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("duration %q of visit %s is not H:MM", r.Duration, r.ID)
	}
	return hh*60 + mm
}

const visitRowsJS = `Array.from(document.querySelectorAll('#visit-table tbody tr[id^="visit-"]')).map(tr => ({
	id: tr.id, client: tr.cells[0].textContent.trim(), worker: tr.cells[2].textContent.trim(),
	duration: tr.cells[5].textContent.trim(), norm: tr.cells[7].textContent.trim(), open: tr.classList.contains('open'),
	flags: Array.from(tr.querySelectorAll('td.flags .badge')).map(s => ({cls: s.className, text: s.textContent.trim()}))}))`

// visitLog waits for the round's two visits to show closed in the log.
func (b *browserEnv) visitLog(t *testing.T) map[string]visitRow {
	t.Helper()
	b.waitRound(t)
	b.logOnce.Do(func() {
		var rows []visitRow
		waitFor(t, 15*time.Second, "both visits closed in the log", func() (bool, error) {
			if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+"/staff/visits"), chromedp.WaitReady(chromedp.ID("visit-table"))); err != nil {
				return false, err
			}
			rows = evalJS[[]visitRow](t, b.ctx, visitRowsJS)
			closed := 0
			for _, r := range rows {
				if !r.Open {
					closed++
				}
			}
			return closed >= 2, fmt.Errorf("rows %+v", rows)
		})
		b.log = map[string]visitRow{}
		for _, r := range rows {
			if _, dup := b.log[r.Client]; dup {
				t.Errorf("two visits at %s: %+v", r.Client, rows)
			}
			b.log[r.Client] = r
		}
		if len(rows) != 2 {
			t.Errorf("the log shows %d visits, want 2: %+v", len(rows), rows)
		}
	})
	if b.log == nil {
		t.Fatal("no visit log (an earlier step failed reading it)")
	}
	return b.log
}

func (b *browserEnv) testVisitLog(t *testing.T) {
	log := b.visitLog(t)
	r, ok := log[bClientA]
	if !ok {
		t.Fatalf("no visit at %s in the log: %+v", bClientA, log)
	}
	if r.Worker != bWorkerName || r.Open {
		t.Errorf("visit at %s: worker %q open=%v", bClientA, r.Worker, r.Open)
	}
	truth := b.events.visits()[bClientA]
	if truth.start.IsZero() || truth.end.IsZero() {
		t.Fatalf("the simulator logged no stay at %s: %+v", bClientA, b.events.visits())
	}
	stay := truth.end.Sub(truth.start)
	if got := time.Duration(r.minutes(t)) * time.Minute; got < stay-2*time.Minute || got > stay+2*time.Minute {
		t.Errorf("visit at %s shows %s, the worker stayed %v (±2 min)", bClientA, r.Duration, stay)
	}
	if f, ok := r.hasFlag("flag-short"); ok {
		t.Errorf("the 20-minute visit is flagged %q", f)
	}
	t.Logf("visit at A: shown %s, simulated stay %v", r.Duration, stay)
}

func (b *browserEnv) testShortFlag(t *testing.T) {
	log := b.visitLog(t)
	r, ok := log[bClientB]
	if !ok {
		t.Fatalf("no visit at %s in the log: %+v", bClientB, log)
	}
	if r.Norm != "15 мин" {
		t.Errorf("norm column %q, want the organisation's 15 мин", r.Norm)
	}
	if m := r.minutes(t); m < 4 || m >= 15 {
		t.Errorf("the 6-minute visit shows %s", r.Duration)
	}
	if f, ok := r.hasFlag("flag-short"); !ok || f != "короткий" {
		t.Errorf("the short visit's flags %+v, want the badge «короткий»", r.Flags)
	}
}

func (b *browserEnv) testCorrectVisit(t *testing.T) {
	log := b.visitLog(t)
	r, ok := log[bClientA]
	if !ok {
		t.Fatalf("no visit at %s in the log", bClientA)
	}
	b.do(t, chromedp.Click(chromedp.CSS("#"+r.ID+" td a")), chromedp.WaitVisible(chromedp.ID("correct-form")))
	oldStart, oldEnd := b.value(t, "start"), b.value(t, "end")
	const layout = "2006-01-02T15:04"
	s0, err1 := time.ParseInLocation(layout, oldStart, b.loc)
	e0, err2 := time.ParseInLocation(layout, oldEnd, b.loc)
	if err1 != nil || err2 != nil {
		t.Fatalf("prefilled times %q %q: %v %v", oldStart, oldEnd, err1, err2)
	}
	s1, e1 := s0.Add(-4*time.Minute), e0.Add(3*time.Minute)
	submit := chromedp.Click(chromedp.CSS("#correct-form button[type=submit]"))

	// Without a reason: the page says so next to the field and keeps the
	// rest of what was typed.
	b.do(t,
		chromedp.Click(chromedp.ID("status-corrected")),
		chromedp.SetValue(chromedp.ID("start"), s1.Format(layout)),
		chromedp.SetValue(chromedp.ID("end"), e1.Format(layout)),
		submit,
		chromedp.WaitVisible(chromedp.CSS("#reason[aria-invalid=true]")),
	)
	if e := b.text(t, "#reason + .field-error"); e != "Укажите причину: она сохраняется в журнале изменений." {
		t.Errorf("error next to the reason %q", e)
	}
	if n := evalJS[int](t, b.ctx, `document.querySelectorAll('.field-error').length`); n != 1 {
		t.Errorf("%d field errors, want only the reason's", n)
	}
	if !evalJS[bool](t, b.ctx, `document.getElementById('status-corrected').checked`) || b.value(t, "start") != s1.Format(layout) ||
		b.value(t, "end") != e1.Format(layout) {
		t.Errorf("the form lost its input: corrected=%v start=%q end=%q", evalJS[bool](t, b.ctx, `document.getElementById('status-corrected').checked`),
			b.value(t, "start"), b.value(t, "end"))
	}

	const reason = "Трекер остался в прихожей: работница пришла раньше, ушла позже"
	before := time.Now()
	b.do(t, chromedp.SendKeys(chromedp.ID("reason"), reason), submit, chromedp.WaitVisible(chromedp.CSS(".flash")))
	after := time.Now()
	if f := b.text(t, ".flash"); f != "Время визита исправлено." {
		t.Errorf("flash %q", f)
	}
	show := func(x time.Time) string { return x.In(b.loc).Format("02.01.2006 15:04") }
	if s, e := b.text(t, "#shown-start"), b.text(t, "#shown-end"); s != show(s1) || e != show(e1) {
		t.Errorf("shown times %q – %q, want %q – %q", s, e, show(s1), show(e1))
	}
	if d, want := b.text(t, "#shown-duration"), fmt.Sprintf("%d:%02d", int(e1.Sub(s1).Hours()), int(e1.Sub(s1).Minutes())%60); !strings.HasPrefix(d, want) {
		t.Errorf("shown duration %q, want %s", d, want)
	}
	if d := b.text(t, "#detected"); !strings.Contains(d, show(s0)) || !strings.Contains(d, show(e0)) {
		t.Errorf("detected times %q, want the original %s – %s", d, show(s0), show(e0))
	}
	if rv := b.text(t, "#reviews tbody tr"); !strings.Contains(rv, bAdminName) || !strings.Contains(rv, "время исправлено") ||
		!strings.Contains(rv, reason) || !strings.Contains(rv, show(s1)+" – "+show(e1)) {
		t.Errorf("review row %q", rv)
	}

	// The audit entry: when, who, what, why, and each field before → after.
	type change struct {
		Field string `json:"field"`
		Text  string `json:"text"`
	}
	type entry struct {
		When    string   `json:"when"`
		Text    string   `json:"text"`
		Changes []change `json:"changes"`
	}
	es := evalJS[[]entry](t, b.ctx, `Array.from(document.querySelectorAll('#audit ol.audit > li')).map(li => ({
		when: li.querySelector('strong').textContent.trim(), text: li.textContent.replace(/\s+/g, ' ').trim(),
		changes: Array.from(li.querySelectorAll('ul li')).map(c => ({field: c.querySelector('code').textContent, text: c.textContent.trim()}))}))`)
	if len(es) != 1 {
		t.Fatalf("audit shows %d entries, want 1: %+v", len(es), es)
	}
	e := es[0]
	when, err := time.ParseInLocation("02.01.2006 15:04", e.When, b.loc)
	if err != nil || when.Before(before.Truncate(time.Minute).Add(-time.Minute)) || when.After(after.Add(time.Minute)) {
		t.Errorf("audit time %q (%v), want the moment of saving %s", e.When, err, show(after))
	}
	if want := " · " + bAdminName + " · время исправлено · «" + reason + "»"; !strings.Contains(e.Text, want) {
		t.Errorf("audit entry %q lacks %q", e.Text, want)
	}
	changes := map[string]string{}
	for _, c := range e.Changes {
		changes[c.Field] = c.Text
	}
	for field, want := range map[string]string{
		"start":  "start: " + show(s0) + " → " + show(s1),
		"end":    "end: " + show(e0) + " → " + show(e1),
		"status": "status: — → corrected",
	} {
		if changes[field] != want {
			t.Errorf("audit change of %s %q, want %q", field, changes[field], want)
		}
	}
}
