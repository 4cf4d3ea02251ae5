package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"carevisit/cabinet"
	"carevisit/geofence"
	"carevisit/ingest"
	"carevisit/mailer"
	"carevisit/protocol"
	"carevisit/protocol/gt06"
	"carevisit/protocol/h02"
	"carevisit/protocol/osmand"
	"carevisit/protocol/watch"
	"carevisit/reports"
	"carevisit/secretbox"
	"carevisit/store"
	"carevisit/tracking"
)

// codecs are the stream protocols the server speaks.
var codecs = map[string]func() protocol.Codec{
	"gt06":  func() protocol.Codec { return gt06.New() },
	"h02":   func() protocol.Codec { return h02.New() },
	"watch": func() protocol.Codec { return watch.New() },
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func envDur(key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

// serveConfig is everything `serve` needs, from flags and environment.
type serveConfig struct {
	DatabaseURL string
	HTTPAddr    string
	LogFormat   string
	LogLevel    string
	Ingest      ingest.Config
	DBConns     int
	Cabinet     cabinet.Config
}

func parseServe(args []string) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (env DATABASE_URL)")
	fs.StringVar(&c.HTTPAddr, "http", env("CAREVISIT_HTTP", ":8080"), "HTTP address for /metrics, /healthz, /readyz (env CAREVISIT_HTTP)")
	gt := fs.String("gt06", env("CAREVISIT_GT06", ":5023"), "GT06/Concox TCP address (env CAREVISIT_GT06; \"-\" = off)")
	hq := fs.String("h02", env("CAREVISIT_H02", ":5013"), "H02 TCP address (env CAREVISIT_H02; \"-\" = off)")
	wt := fs.String("watch", env("CAREVISIT_WATCH", ":5093"), "watch protocol TCP address (env CAREVISIT_WATCH; \"-\" = off)")
	fs.StringVar(&c.Ingest.OsmAndAddr, "osmand", env("CAREVISIT_OSMAND", ":5055"), "OsmAnd HTTP address (env CAREVISIT_OSMAND; \"-\" = off)")
	fs.BoolVar(&c.Ingest.RegisterUnknown, "register-unknown", os.Getenv("CAREVISIT_REGISTER_UNKNOWN") == "1", "register unknown devices instead of refusing them (env CAREVISIT_REGISTER_UNKNOWN=1)")
	fs.DurationVar(&c.Ingest.IdleTimeout, "idle-timeout", envDur("CAREVISIT_IDLE_TIMEOUT", 20*time.Minute), "close device connections silent this long")
	fs.IntVar(&c.Ingest.MaxConnsPerIP, "max-conns-per-ip", envInt("CAREVISIT_MAX_CONNS_PER_IP", 1000), "device connections allowed from one IP address (-1 = no cap)")
	fs.IntVar(&c.Ingest.QueueSize, "queue", envInt("CAREVISIT_QUEUE", 65536), "positions queued for the database writers")
	fs.IntVar(&c.Ingest.Writers, "writers", envInt("CAREVISIT_WRITERS", 4), "database writer goroutines")
	fs.IntVar(&c.Ingest.BatchMax, "batch-max", envInt("CAREVISIT_BATCH_MAX", 2000), "rows per commit")
	fs.DurationVar(&c.Ingest.BatchDelay, "batch-delay", envDur("CAREVISIT_BATCH_DELAY", 20*time.Millisecond), "longest wait to fill a batch")
	fs.BoolVar(&c.Ingest.Multicore, "multicore", os.Getenv("CAREVISIT_MULTICORE") != "0", "one event loop per CPU core")
	fs.StringVar(&c.Cabinet.BaseURL, "base-url", env("CAREVISIT_BASE_URL", "http://localhost:8080"), "public address of the cabinet, for links in e-mails (env CAREVISIT_BASE_URL)")
	fs.StringVar(&c.Cabinet.TileURL, "tile-url", os.Getenv("CAREVISIT_TILE_URL"), "map tile URL template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; empty = maps without tiles (env CAREVISIT_TILE_URL)")
	fs.StringVar(&c.LogFormat, "log-format", env("CAREVISIT_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", env("CAREVISIT_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Ingest.Listen = map[string]string{}
	for proto, addr := range map[string]string{"gt06": *gt, "h02": *hq, "watch": *wt} {
		if addr != "-" && addr != "" {
			c.Ingest.Listen[proto] = addr
		}
	}
	c.DBConns = c.Ingest.Writers + 12
	c.Cabinet.CookieSecure = strings.HasPrefix(c.Cabinet.BaseURL, "https://")
	return c, nil
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServe(args)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	return app.run(ctx)
}

// app is the running server: database, ingest, HTTP. Tests build it on
// free ports and drive it over real TCP.
type app struct {
	cfg     serveConfig
	log     *slog.Logger
	st      *store.Store
	ingest  *ingest.Server
	tracker *tracking.Tracker
	web     *cabinet.App
	mail    *mailer.Mailer // nil without SMTP
	http    *http.Server
	httpLn  net.Listener
}

func newApp(ctx context.Context, cfg serveConfig, log *slog.Logger) (*app, error) {
	st, err := openDB(ctx, cfg.DatabaseURL, int32(cfg.DBConns))
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Ingest.Codecs = codecs
	cfg.Ingest.OsmAnd = osmand.Decode
	srv, err := ingest.New(cfg.Ingest, st, reg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	tracker, err := tracking.NewTracker(ctx, st, geofence.DefaultParams(), log)
	if err != nil {
		st.Close()
		return nil, err
	}
	srv.OnCommitted(tracker.Committed)
	var mail *mailer.Mailer
	if mc := mailer.ConfigFromEnv(); mc.Enabled() {
		if mail, err = mailer.New(mc); err != nil {
			st.Close()
			return nil, err
		}
	}
	sendMail, sendMailAtt := mailFuncs(mail, log)
	web, err := cabinet.New(cfg.Cabinet, cabinet.Deps{Store: st, Log: log, Tracker: tracker, Mail: sendMail, MailAtt: sendMailAtt})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := configureCitizen(web, log); err != nil {
		st.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !srv.Ready() {
			http.Error(w, "not ready: ingest not listening or database unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	return &app{cfg: cfg, log: log, st: st, ingest: srv, tracker: tracker, web: web, mail: mail, httpLn: ln,
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

func (a *app) run(ctx context.Context) error {
	defer a.st.Close()
	go func() {
		if err := a.http.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http", "err", err)
		}
	}()
	go a.partitionLoop(ctx)
	go a.missedLoop(ctx)
	go a.web.Run(ctx)
	go a.web.RunAlerts(ctx, 30*time.Second)
	if a.mail != nil {
		go (&reports.Scheduler{Store: a.st, Mailer: a.mail, Log: a.log}).Run(ctx)
	} else {
		a.log.Info("scheduled report e-mails off: no SMTP server configured (CAREVISIT_SMTP_HOST)")
	}
	// The tracker outlives ingest: the writers' last batches still reach it.
	tctx, stopTracker := context.WithCancel(context.WithoutCancel(ctx))
	trackerDone := make(chan struct{})
	go func() { a.tracker.Run(tctx); close(trackerDone) }()
	a.log.Info("carevisit serving", "http", a.httpLn.Addr().String())
	err := a.ingest.Run(ctx)
	stopTracker()
	<-trackerDone
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	a.http.Shutdown(sctx)
	cancel()
	return err
}

// configureCitizen gives the citizen cabinet its data key (SNILS, passport,
// INN and documents are encrypted with it) and, when configured, the
// single sign-on provider.
func configureCitizen(web *cabinet.App, log *slog.Logger) error {
	if k := os.Getenv("CAREVISIT_DATA_KEY"); k != "" {
		key, err := secretbox.ParseKey(k)
		if err != nil {
			return fmt.Errorf("CAREVISIT_DATA_KEY: %w", err)
		}
		if err := web.SetDataKey(key); err != nil {
			return fmt.Errorf("CAREVISIT_DATA_KEY: %w", err)
		}
	} else {
		log.Warn("CAREVISIT_DATA_KEY is not set: the citizen cabinet cannot store personal data (registration is refused)")
	}
	if iss := os.Getenv("CAREVISIT_OIDC_ISSUER"); iss != "" {
		if err := web.SetOIDC(cabinet.OIDCConfig{Issuer: iss, ClientID: os.Getenv("CAREVISIT_OIDC_CLIENT_ID"),
			ClientSecret: os.Getenv("CAREVISIT_OIDC_CLIENT_SECRET")}); err != nil {
			return fmt.Errorf("single sign-on (CAREVISIT_OIDC_ISSUER): %w", err)
		}
	}
	return nil
}

// missedLoop flags planned visits whose window passed with no visit.
func (a *app) missedLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := a.st.DetectMissed(ctx, time.Now()); err != nil {
				a.log.Warn("missed visits", "err", err)
			} else if n > 0 {
				a.log.Info("missed planned visits flagged", "count", n)
			}
		}
	}
}

// partitionLoop keeps weekly position partitions prepared ahead.
func (a *app) partitionLoop(ctx context.Context) {
	t := time.NewTicker(6 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.st.EnsurePartitions(ctx, time.Now()); err != nil {
				a.log.Warn("partitions", "err", err)
			}
		}
	}
}
