package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"carevisit/internal/pgtest"
	"carevisit/protocol"
	"carevisit/protocol/gt06"
	"carevisit/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeWithoutDatabase(t *testing.T) {
	for _, dsn := range []string{"", "host=/nonexistent-socket-dir user=x dbname=y connect_timeout=2"} {
		cfg, err := parseServe([]string{"-database-url", dsn})
		if err != nil {
			t.Fatal(err)
		}
		_, err = newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("dsn %q: err = %v, want an error naming DATABASE_URL", dsn, err)
		}
	}
}

// The real server from its flags: a tracker reports, /metrics counts it,
// /readyz says ready.
func TestServeEndToEnd(t *testing.T) {
	dsn := pgtest.NewDB(t)
	httpAddr, gtAddr := freeAddr(t), freeAddr(t)
	cfg, err := parseServe([]string{"-database-url", dsn, "-http", httpAddr, "-gt06", gtAddr, "-h02", "-", "-watch", "-",
		"-osmand", "-", "-batch-delay", "5ms"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.st.AddDevice(ctx, store.Device{Ident: "864717003283581", Protocol: "gt06"}); err != nil {
		t.Fatal(err)
	}
	// The registry loads at Run; the device exists before that.
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}()
	<-a.ingest.Booted()

	c, err := net.Dial("tcp", gtAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(gt06.AppendLogin(nil, "864717003283581", 1))
	if _, err := io.ReadFull(c, make([]byte, 10)); err != nil {
		t.Fatalf("login ack: %v", err)
	}
	c.Write(gt06.AppendLocation(nil, protocol.Message{Type: protocol.TypePosition, Time: time.Now().Add(-time.Minute),
		Valid: true, Lat: 54.6, Lon: 39.7}, 2))
	if _, err := io.ReadFull(c, make([]byte, 10)); err != nil {
		t.Fatalf("location ack: %v", err)
	}

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		"carevisit_ingest_positions_persisted_total 1",
		`carevisit_ingest_connections{protocol="gt06"} 1`,
		`carevisit_ingest_frames_total{protocol="gt06",type="position"} 1`,
		"carevisit_ingest_commit_seconds_bucket",
		"carevisit_ingest_ack_seconds_count 1",
		"carevisit_ingest_queue_depth 0",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestDeviceCommands(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	runCmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append(args, "-database-url", dsn), nil, &out, io.Discard)
		return out.String(), err
	}
	if _, err := runCmd("device", "add", "-imei", "864717003283581", "-proto", "gt06", "-model", "S20"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd("device", "add", "-imei", "12ab", "-proto", "gt06"); err == nil || !strings.Contains(err.Error(), "15 digits") {
		t.Errorf("bad IMEI accepted: %v", err)
	}
	if _, err := runCmd("device", "add", "-imei", "864717003283581", "-proto", "gt06"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate IMEI: %v", err)
	}
	csv := t.TempDir() + "/devices.csv"
	writeFile(t, csv, "imei,protocol,model,name\n864717003283582,gt06,S20,Tracker 2\n4210051415,h02,,\nbad,nope,,\n")
	out, err := runCmd("device", "import", csv)
	if err == nil || !strings.Contains(out, "line 4") || !strings.Contains(out, "2 devices added, 1 lines failed") {
		t.Errorf("import: %v\n%s", err, out)
	}
	out, err = runCmd("device", "list")
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, "4210051415") {
		t.Errorf("list: %v\n%s", err, out)
	}
	if out, err := runCmd("demo", "seed"); err != nil || !strings.Contains(out, "seeded") {
		t.Errorf("demo seed: %v %s", err, out)
	}
	if out, err := runCmd("demo", "seed"); err != nil || !strings.Contains(out, "already") {
		t.Errorf("second demo seed: %v %s", err, out)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := writeFileErr(path, s); err != nil {
		t.Fatal(err)
	}
}

func writeFileErr(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
