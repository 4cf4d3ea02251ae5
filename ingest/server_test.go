package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"carevisit/ingest"
	"carevisit/internal/pgtest"
	"carevisit/protocol"
	"carevisit/protocol/gt06"
	"carevisit/protocol/h02"
	"carevisit/protocol/osmand"
	"carevisit/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	imeiA = "864717003283581"
	imeiB = "864717003283582"
	h02ID = "4210051415"
	wID   = "9059011020"
	phone = "phone-17"
)

type harness struct {
	t      *testing.T
	st     *store.Store
	srv    *ingest.Server
	addr   map[string]string
	osmand string
	dev    map[string]int64
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a real server on free loopback ports against a fresh database
// with four registered devices.
func start(t *testing.T, mod func(*ingest.Config), extraGT06 ...string) *harness {
	t.Helper()
	st := pgtest.NewStore(t)
	ctx := context.Background()
	h := &harness{t: t, st: st, addr: map[string]string{}, dev: map[string]int64{}}
	for ident, proto := range map[string]string{imeiA: "gt06", imeiB: "gt06", h02ID: "h02", wID: "watch", phone: "osmand"} {
		id, err := st.AddDevice(ctx, store.Device{Ident: ident, Protocol: proto})
		if err != nil {
			t.Fatal(err)
		}
		h.dev[ident] = id
	}
	for _, ident := range extraGT06 {
		id, err := st.AddDevice(ctx, store.Device{Ident: ident, Protocol: "gt06"})
		if err != nil {
			t.Fatal(err)
		}
		h.dev[ident] = id
	}
	cfg := ingest.Config{
		Listen: map[string]string{},
		Codecs: map[string]func() protocol.Codec{
			"gt06":  func() protocol.Codec { return gt06.New() },
			"h02":   func() protocol.Codec { return h02.New() },
			"watch": watchCodec,
		},
		OsmAnd:     osmand.Decode,
		BatchDelay: 5 * time.Millisecond,
		Multicore:  true,
	}
	for _, p := range []string{"gt06", "h02", "watch"} {
		a := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.Listen[p] = a
		h.addr[p] = a
	}
	h.osmand = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.OsmAndAddr = h.osmand
	if mod != nil {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := ingest.New(cfg, st, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	select {
	case <-srv.Booted():
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start in 10 s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	})
	return h
}

func (h *harness) dial(proto string) net.Conn {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", h.addr[proto], 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// read reads exactly n bytes or fails.
func read(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d reply bytes: %v", n, err)
	}
	return b
}

// readUntil reads until the byte sep (text protocols).
func readUntil(t *testing.T, c net.Conn, sep byte) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	b := make([]byte, 1)
	for {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("reading reply: %v (got %q)", err, out)
		}
		out = append(out, b[0])
		if b[0] == sep {
			return string(out)
		}
	}
}

// expectClosed asserts the server closes c without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n > 0 {
		t.Fatalf("got %x, want the connection closed without a reply", b[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open after 5 s, want it closed")
	}
}

// expectSilent asserts nothing arrives within d.
func expectSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n > 0 {
		t.Fatalf("got %x before the data was committed", b[:n])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connection failed: %v", err)
	}
}

func (h *harness) count(ident string) int {
	var n int
	if err := h.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM positions WHERE device_id = $1`, h.dev[ident]).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) waitRows(ident string, want int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := h.count(ident)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("device %s has %d stored positions, want %d", ident, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var t0 = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

func fix(i int) protocol.Message {
	return protocol.Message{Type: protocol.TypePosition, Time: t0.Add(time.Duration(i) * 10 * time.Second), Valid: true,
		Lat: 54.6251 + float64(i)*0.0001, Lon: 39.7351, SpeedKmh: 4, Course: 90, Sats: 7,
		Has: protocol.HasSats | protocol.HasSpeed | protocol.HasCourse, MCC: 250, MNC: 1, LAC: 100, CID: 200}
}

// login logs a GT06 device in and checks the login ack.
func login(t *testing.T, c net.Conn, imei string) {
	t.Helper()
	send(t, c, gt06.AppendLogin(nil, imei, 1))
	want := gt06.AppendReply(nil, 0x01, 1)
	if got := read(t, c, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("login ack = %x, want %x", got, want)
	}
}

func TestGT06(t *testing.T) {
	h := start(t, nil)

	t.Run("login, location acked after commit", func(t *testing.T) {
		c := h.dial("gt06")
		login(t, c, imeiA)
		frame := gt06.AppendLocation(nil, fix(0), 2)
		send(t, c, frame)
		ack := read(t, c, 10)
		if h.count(imeiA) != 1 {
			t.Fatalf("ack arrived before the position was stored")
		}
		if ack[3] != frame[3] {
			t.Errorf("ack type %#x, want %#x", ack[3], frame[3])
		}
		var lat float64
		h.st.Pool.QueryRow(context.Background(), `SELECT lat FROM positions WHERE device_id = $1`, h.dev[imeiA]).Scan(&lat)
		if d := lat - fix(0).Lat; d > 1e-5 || d < -1e-5 {
			t.Errorf("stored lat %v, want %v", lat, fix(0).Lat)
		}
		// The live map's last position follows within a second; an older
		// fix sent afterwards (a late upload) does not rewind it.
		old := fix(0)
		old.Time = old.Time.Add(-time.Hour)
		send(t, c, gt06.AppendLocation(nil, old, 3))
		read(t, c, 10)
		deadline := time.Now().Add(3 * time.Second)
		for {
			last, err := h.st.LastPositionOf(context.Background(), h.dev[imeiA])
			if err == nil && last.FixTime.Equal(fix(0).Time) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("last position %+v (%v), want the fix at %v", last, err, fix(0).Time)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("split and coalesced frames, resend stored once", func(t *testing.T) {
		c := h.dial("gt06")
		// The login split over three writes.
		lg := gt06.AppendLogin(nil, imeiB, 1)
		for _, part := range [][]byte{lg[:2], lg[2:7], lg[7:]} {
			send(t, c, part)
			time.Sleep(20 * time.Millisecond)
		}
		read(t, c, 10)
		// Three locations in one write, then the same three again (a device
		// that lost our acks resends).
		var b []byte
		for i := 1; i <= 3; i++ {
			b = gt06.AppendLocation(b, fix(i), uint16(10+i))
		}
		send(t, c, b)
		read(t, c, 30)
		send(t, c, b)
		read(t, c, 30)
		h.waitRows(imeiB, 3)
	})

	t.Run("garbage between frames is skipped", func(t *testing.T) {
		c := h.dial("gt06")
		login(t, c, imeiA)
		b := append([]byte("\x00\xffnoise\r\n"), gt06.AppendLocation(nil, fix(20), 3)...)
		send(t, c, b)
		read(t, c, 10)
		h.waitRows(imeiA, 3)
	})

	t.Run("a wrong CRC is counted, and the fix is still stored and acked", func(t *testing.T) {
		c := h.dial("gt06")
		login(t, c, imeiA)
		before := testutil.ToFloat64(h.srv.M.CRCMismatches.WithLabelValues("gt06"))
		frame := gt06.AppendLocation(nil, fix(60), 7)
		frame[len(frame)-3] ^= 0xff // last CRC byte, before 0D 0A
		send(t, c, frame)
		read(t, c, 10)
		if after := testutil.ToFloat64(h.srv.M.CRCMismatches.WithLabelValues("gt06")); after != before+1 {
			t.Errorf("CRC mismatches %v -> %v, want +1", before, after)
		}
		var n int
		h.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM positions WHERE device_id = $1 AND fix_time = $2`,
			h.dev[imeiA], fix(60).Time).Scan(&n)
		if n != 1 {
			t.Errorf("fix with a wrong CRC stored %d times, want 1", n)
		}
	})

	t.Run("unknown IMEI gets no reply, is closed and listed", func(t *testing.T) {
		c := h.dial("gt06")
		send(t, c, gt06.AppendLogin(nil, "359710049000001", 1))
		expectClosed(t, c)
		deadline := time.Now().Add(5 * time.Second)
		for {
			list, err := h.st.UnknownDevices(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 1 && list[0].Ident == "359710049000001" && list[0].Protocol == "gt06" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("unknown devices = %+v, want the unknown IMEI listed", list)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("data before login closes the connection", func(t *testing.T) {
		c := h.dial("gt06")
		send(t, c, gt06.AppendLocation(nil, fix(30), 1))
		expectClosed(t, c)
	})

	t.Run("oversize frame closes only that connection", func(t *testing.T) {
		good := h.dial("gt06")
		login(t, good, imeiA)
		bad := h.dial("gt06")
		login(t, bad, imeiB)
		send(t, bad, []byte{0x79, 0x79, 0xff, 0xff, 0x22, 0x01, 0x02})
		expectClosed(t, bad)
		send(t, good, gt06.AppendLocation(nil, fix(40), 9))
		read(t, good, 10)
	})

	t.Run("a slow sender, one byte at a time", func(t *testing.T) {
		c := h.dial("gt06")
		login(t, c, imeiA)
		for _, b := range gt06.AppendLocation(nil, fix(50), 4) {
			send(t, c, []byte{b})
			time.Sleep(5 * time.Millisecond)
		}
		read(t, c, 10)
	})

	t.Run("heartbeat answered at once", func(t *testing.T) {
		c := h.dial("gt06")
		login(t, c, imeiA)
		send(t, c, gt06.AppendHeartbeat(nil, protocol.Message{Battery: 80, Has: protocol.HasBattery}, 5))
		want := gt06.AppendReply(nil, 0x13, 5)
		if got := read(t, c, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("heartbeat ack %x, want %x", got, want)
		}
	})

	t.Run("metrics count frames and errors", func(t *testing.T) {
		if v := testutil.ToFloat64(h.srv.M.Frames.WithLabelValues("gt06", protocol.TypePosition)); v < 5 {
			t.Errorf("gt06 position frames counted %v, want >= 5", v)
		}
		if v := testutil.ToFloat64(h.srv.M.DecodeErrors.WithLabelValues("gt06", "garbage")); v < 1 {
			t.Errorf("garbage counted %v, want >= 1", v)
		}
		if v := testutil.ToFloat64(h.srv.M.Duplicates); v < 3 {
			t.Errorf("duplicates counted %v, want >= 3", v)
		}
	})
}

func TestH02(t *testing.T) {
	h := start(t, nil)

	t.Run("h02 V1 stored and answered", func(t *testing.T) {
		c := h.dial("h02")
		send(t, c, h02.AppendV1(nil, h02ID, fix(0)))
		reply := readUntil(t, c, '#')
		if !strings.HasPrefix(reply, "*HQ,"+h02ID+",V4,V1,") {
			t.Errorf("reply %q, want *HQ,<id>,V4,V1,...#", reply)
		}
		h.waitRows(h02ID, 1)
	})

}

func TestOsmAnd(t *testing.T) {
	h := start(t, nil)
	get := func(q string) (int, string) {
		resp, err := http.Get("http://" + h.osmand + "/?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ts := t0.Unix()
	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"good ping", fmt.Sprintf("id=%s&lat=54.62&lon=39.73&timestamp=%d&accuracy=12&batt=77", phone, ts), 200},
		{"resent ping", fmt.Sprintf("id=%s&lat=54.62&lon=39.73&timestamp=%d&accuracy=12&batt=77", phone, ts), 200},
		{"no id", fmt.Sprintf("lat=54.62&lon=39.73&timestamp=%d", ts), 400},
		{"lat 200", fmt.Sprintf("id=%s&lat=200&lon=39.73&timestamp=%d", phone, ts+1), 400},
		{"unknown device", fmt.Sprintf("id=nobody&lat=54.62&lon=39.73&timestamp=%d", ts), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.query)
			if code != tc.code {
				t.Errorf("status %d (%q), want %d", code, body, tc.code)
			}
		})
	}
	h.waitRows(phone, 1)
	var acc float32
	var batt int
	var source string
	h.st.Pool.QueryRow(context.Background(), `SELECT accuracy_m, battery, source FROM positions WHERE device_id = $1`, h.dev[phone]).Scan(&acc, &batt, &source)
	if acc != 12 || batt != 77 || source != "phone" {
		t.Errorf("stored accuracy %v battery %v source %q, want 12, 77, phone", acc, batt, source)
	}
}

func TestRegisterUnknown(t *testing.T) {
	h := start(t, func(c *ingest.Config) { c.RegisterUnknown = true })
	c := h.dial("gt06")
	const imei = "359710049000002"
	login(t, c, imei)
	send(t, c, gt06.AppendLocation(nil, fix(0), 2))
	read(t, c, 10)
	d, err := h.st.DeviceByIdent(context.Background(), imei)
	if err != nil {
		t.Fatalf("device not registered: %v", err)
	}
	h.dev[imei] = d.ID
	h.waitRows(imei, 1)
}

func TestLimits(t *testing.T) {
	h := start(t, func(c *ingest.Config) {
		c.MaxConnsPerIP = 2
		c.IdleTimeout = 800 * time.Millisecond
	})
	t.Run("per-IP cap", func(t *testing.T) {
		a, b := h.dial("gt06"), h.dial("gt06")
		login(t, a, imeiA)
		login(t, b, imeiB)
		c := h.dial("gt06")
		expectClosed(t, c)
	})
	t.Run("idle connection closed", func(t *testing.T) {
		time.Sleep(time.Second) // let the cap test's connections go idle and close
		c := h.dial("gt06")
		login(t, c, imeiA)
		expectClosed(t, c)
	})
}

// The database goes away under load: no ack without a commit, and ingest
// resumes when it returns. Renaming the table makes every insert fail the
// way a lost database does, on a real server.
func TestDatabaseAway(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	c := h.dial("gt06")
	login(t, c, imeiA)
	if _, err := h.st.Pool.Exec(ctx, `ALTER TABLE positions RENAME TO positions_away`); err != nil {
		t.Fatal(err)
	}
	send(t, c, gt06.AppendLocation(nil, fix(0), 2))
	expectSilent(t, c, 700*time.Millisecond)
	if h.srv.Ready() {
		t.Error("server reports ready while it cannot commit")
	}
	if _, err := h.st.Pool.Exec(ctx, `ALTER TABLE positions_away RENAME TO positions`); err != nil {
		t.Fatal(err)
	}
	read(t, c, 10)
	h.waitRows(imeiA, 1)
	if !h.srv.Ready() {
		t.Error("server not ready after the database came back")
	}
}

// Many devices at once over real TCP: every acked position is stored.
func TestManyDevices(t *testing.T) {
	const n, per = 50, 20
	var imeis []string
	for i := 0; i < n; i++ {
		imeis = append(imeis, fmt.Sprintf("35971004910%04d", i))
	}
	h := start(t, nil, imeis...)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			imei := fmt.Sprintf("35971004910%04d", i)
			c, err := net.Dial("tcp", h.addr["gt06"])
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.Write(gt06.AppendLogin(nil, imei, 1))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 10)); err != nil {
				errs <- fmt.Errorf("%s login: %w", imei, err)
				return
			}
			for j := 0; j < per; j++ {
				c.Write(gt06.AppendLocation(nil, fix(j), uint16(j+2)))
				if _, err := io.ReadFull(c, make([]byte, 10)); err != nil {
					errs <- fmt.Errorf("%s ack %d: %w", imei, j, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var total int
	h.st.Pool.QueryRow(ctx, `SELECT count(*) FROM positions`).Scan(&total)
	if total != n*per {
		t.Errorf("stored %d positions, want %d", total, n*per)
	}
}
