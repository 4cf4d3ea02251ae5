// Package ingest runs the device-facing side of carevisit: a gnet TCP server
// for the stream protocols (GT06, H02, watch), an HTTP endpoint for phone
// pings (OsmAnd), and the pipeline that commits positions to PostgreSQL in
// batches before acknowledging them.
package ingest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"carevisit/protocol"
	"carevisit/store"
)

// Config is the ingest configuration; zero values take the defaults.
type Config struct {
	// Listen maps a stream protocol ("gt06", "h02", "watch") to its TCP
	// address. Default: Traccar's ports, so devices set up for Traccar work.
	Listen map[string]string
	// OsmAndAddr is the HTTP address for phone pings ("" = ":5055", "-" = off).
	OsmAndAddr string
	// Codecs builds a decoder for a connection of each protocol.
	Codecs map[string]func() protocol.Codec
	// OsmAnd decodes a phone ping: method, target (path?query), content type, body.
	OsmAnd func(method, target, contentType string, body []byte, now time.Time) ([]protocol.Message, error)

	RegisterUnknown bool          // register unknown devices instead of refusing them
	IdleTimeout     time.Duration // close a connection silent this long (default 20 min)
	MaxConnsPerIP   int           // default 1000; < 0 = no cap
	MaxBuffered     int           // bytes kept for a paused or framing connection (default 256 KiB)
	QueueSize       int           // positions waiting for the writers (default 65536)
	Writers         int           // concurrent database writers (default 4)
	BatchMax        int           // rows per commit (default 2000)
	BatchDelay      time.Duration // longest wait to fill a batch (default 20 ms; bounds loss on crash)
	Multicore       bool          // one event loop per CPU
}

// DefaultListen are Traccar's default ports for these protocols.
var DefaultListen = map[string]string{"gt06": ":5023", "h02": ":5013", "watch": ":5093"}

func (c *Config) defaults() {
	if c.Listen == nil {
		c.Listen = DefaultListen
	}
	if c.OsmAndAddr == "" {
		c.OsmAndAddr = ":5055"
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 20 * time.Minute
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 1000
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = 256 << 10
	}
	if c.QueueSize == 0 {
		c.QueueSize = 65536
	}
	if c.Writers == 0 {
		// Four writers overlap one batch's commit with the next one's
		// insert: at 20,000 positions/s ack p99 fell from 293 to 71 ms
		// against two (docs/benchmarks-ingest.md).
		c.Writers = 4
	}
	if c.BatchMax == 0 {
		c.BatchMax = 2000
	}
	if c.BatchDelay == 0 {
		c.BatchDelay = 20 * time.Millisecond
	}
}

// Server is the ingest server. Create with New, run with Run.
type Server struct {
	gnet.BuiltinEventEngine

	cfg     Config
	st      *store.Store
	log     *slog.Logger
	M       *Metrics
	pipe    *Pipeline
	reg     registry
	unknown *unknownNotes
	ports   map[int]string // local port -> protocol

	eng    gnet.Engine
	booted atomic.Bool
	bootCh chan struct{}

	conns sync.Map // *session -> gnet.Conn, for the idle sweep

	ipMu    sync.Mutex
	ipConns map[string]int

	osmand *http.Server
	regSem chan struct{} // bounds concurrent registrations of unknown devices
}

// New prepares a server; nothing listens until Run.
func New(cfg Config, st *store.Store, promReg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	s := &Server{cfg: cfg, st: st, log: log, ports: map[int]string{}, ipConns: map[string]int{},
		bootCh: make(chan struct{}), regSem: make(chan struct{}, 4)}
	for proto, addr := range cfg.Listen {
		if cfg.Codecs[proto] == nil {
			return nil, fmt.Errorf("ingest: no decoder for protocol %q", proto)
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("ingest: listen address %q for %s: %w", addr, proto, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("ingest: listen address %q for %s needs a fixed port", addr, proto)
		}
		s.ports[n] = proto
	}
	s.pipe = newPipeline(st, cfg.QueueSize, cfg.BatchMax, cfg.BatchDelay, log)
	s.M = newMetrics(promReg, func() float64 { return float64(s.pipe.Depth()) })
	s.pipe.m = s.M
	s.unknown = &unknownNotes{ch: make(chan store.UnknownDevice, 4096), st: st, log: log}
	return s, nil
}

// OnCommitted registers a consumer of committed positions (before Run).
func (s *Server) OnCommitted(f Committed) { s.pipe.onCommit = f }

// Ready reports whether the server accepts and persists data.
func (s *Server) Ready() bool { return s.booted.Load() && s.pipe.healthy.Load() }

// Booted is closed once the TCP listeners accept connections.
func (s *Server) Booted() <-chan struct{} { return s.bootCh }

// Run listens and serves until ctx is cancelled, then stops accepting,
// flushes the queue and returns.
func (s *Server) Run(ctx context.Context) error {
	list, err := s.st.Devices(ctx)
	if err != nil {
		return err
	}
	s.reg.replace(list)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	go s.unknown.run(bg)
	go s.refreshLoop(bg)
	s.pipe.start(s.cfg.Writers)

	errc := make(chan error, 2)
	if s.cfg.OsmAndAddr != "-" && s.cfg.OsmAnd != nil {
		ln, err := net.Listen("tcp", s.cfg.OsmAndAddr)
		if err != nil {
			s.pipe.close()
			return fmt.Errorf("ingest: osmand listen %s: %w", s.cfg.OsmAndAddr, err)
		}
		s.osmand = &http.Server{Handler: s.osmandHandler(), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
		go func() {
			if err := s.osmand.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var addrs []string
	for _, addr := range s.cfg.Listen {
		addrs = append(addrs, "tcp://"+addr)
	}
	go func() {
		errc <- gnet.Rotate(s, addrs,
			gnet.WithMulticore(s.cfg.Multicore),
			gnet.WithReusePort(false),
			// A restart must not wait for the old connections' TIME_WAIT.
			gnet.WithReuseAddr(true),
			gnet.WithTicker(true),
			gnet.WithTCPKeepAlive(3*time.Minute),
			gnet.WithReadBufferCap(16<<10),
			gnet.WithLogger(gnetLogger{s.log}))
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	if s.booted.Load() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.eng.Stop(sctx); err != nil {
			s.log.Warn("gnet stop", "err", err)
		}
		cancel()
	}
	if s.osmand != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.osmand.Shutdown(sctx)
		cancel()
	}
	s.pipe.close()
	if runErr != nil {
		return fmt.Errorf("ingest: %w", runErr)
	}
	return nil
}

func (s *Server) refreshLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			list, err := s.st.Devices(ctx)
			if err != nil {
				s.log.Warn("device list refresh", "err", err)
				continue
			}
			s.reg.replace(list)
		}
	}
}

// session is one connection's state. Fields without atomics belong to the
// connection's event loop.
type session struct {
	proto      string
	codec      protocol.Codec
	ip         string
	remote     string
	device     store.Device
	identified bool
	lastSeen   atomic.Int64 // unix milliseconds; read by the idle sweep
	pending    atomic.Bool  // waiting for the registration of an unknown device
	paused     atomic.Bool  // waiting for room in the queue
	crcSeen    uint64
	msgs       []protocol.Message
	reply      []byte
	attrs      []byte
	recs       []record
	frames     map[string]prometheus.Counter
}

func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	s.booted.Store(true)
	close(s.bootCh)
	s.log.Info("ingest listening", "tcp", s.cfg.Listen, "osmand", s.cfg.OsmAndAddr)
	return gnet.None
}

func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	proto := "unknown"
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		proto = s.ports[a.Port]
	}
	mk := s.cfg.Codecs[proto]
	if mk == nil {
		s.M.ConnsRefused.WithLabelValues("no_protocol").Inc()
		return nil, gnet.Close
	}
	ip := ""
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = a.IP.String()
	}
	if s.cfg.MaxConnsPerIP > 0 {
		s.ipMu.Lock()
		n := s.ipConns[ip]
		if n >= s.cfg.MaxConnsPerIP {
			s.ipMu.Unlock()
			s.M.ConnsRefused.WithLabelValues("per_ip_cap").Inc()
			s.log.Warn("connection refused: per-IP cap", "ip", ip, "cap", s.cfg.MaxConnsPerIP)
			return nil, gnet.Close
		}
		s.ipConns[ip] = n + 1
		s.ipMu.Unlock()
	}
	sess := &session{proto: proto, codec: mk(), ip: ip, frames: map[string]prometheus.Counter{}}
	if c.RemoteAddr() != nil {
		sess.remote = c.RemoteAddr().String()
	}
	sess.lastSeen.Store(time.Now().UnixMilli())
	c.SetContext(sess)
	s.conns.Store(sess, c)
	s.M.Connections.WithLabelValues(proto).Inc()
	return nil, gnet.None
}

func (s *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	sess, ok := c.Context().(*session)
	if !ok {
		return gnet.None
	}
	s.conns.Delete(sess)
	s.M.Connections.WithLabelValues(sess.proto).Dec()
	if s.cfg.MaxConnsPerIP > 0 {
		s.ipMu.Lock()
		if n := s.ipConns[sess.ip] - 1; n > 0 {
			s.ipConns[sess.ip] = n
		} else {
			delete(s.ipConns, sess.ip)
		}
		s.ipMu.Unlock()
	}
	return gnet.None
}

// OnTick closes idle connections. gnet has no read deadlines, and a tracker
// that lost its network leaves a half-open socket behind.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	cutoff := time.Now().Add(-s.cfg.IdleTimeout).UnixMilli()
	s.conns.Range(func(k, v any) bool {
		if k.(*session).lastSeen.Load() < cutoff {
			v.(gnet.Conn).Close()
		}
		return true
	})
	return min(s.cfg.IdleTimeout/4, 5*time.Second), gnet.None
}

// frame outcomes
const (
	frameDone  = iota // consumed
	frameRetry        // leave the bytes: paused or waiting for registration
	frameClose        // close the connection
)

func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	sess := c.Context().(*session)
	sess.lastSeen.Store(time.Now().UnixMilli())
	if sess.pending.Load() {
		return s.checkBuffered(c, sess)
	}
	buf, _ := c.Peek(-1)
	consumed := 0
	action := gnet.None
loop:
	for consumed < len(buf) {
		n, skip, err := sess.codec.Frame(buf[consumed:])
		switch {
		case err != nil && errors.Is(err, protocol.ErrGarbage) && skip > 0:
			// Line ends after text frames (H02 sends "#\r\n") are not garbage.
			if !onlyLineEnds(buf[consumed : consumed+skip]) {
				s.M.DecodeErrors.WithLabelValues(sess.proto, "garbage").Inc()
			}
			consumed += skip
			continue
		case err != nil:
			s.M.DecodeErrors.WithLabelValues(sess.proto, errReason(err)).Inc()
			s.log.Info("stream cannot be resynchronised: closing", "protocol", sess.proto, "remote", sess.remote,
				"err", err, "head", headHex(buf[consumed:]))
			action = gnet.Close
			break loop
		case n == 0:
			if len(buf)-consumed > protocol.MaxFrame {
				s.M.DecodeErrors.WithLabelValues(sess.proto, "too_large").Inc()
				action = gnet.Close
			}
			break loop
		}
		switch s.handleFrame(c, sess, buf[consumed:consumed+n]) {
		case frameDone:
			consumed += n
		case frameRetry:
			break loop
		case frameClose:
			consumed += n
			action = gnet.Close
			break loop
		}
	}
	if consumed > 0 {
		c.Discard(consumed)
	}
	if action == gnet.None && (sess.paused.Load() || sess.pending.Load()) {
		return s.checkBuffered(c, sess)
	}
	return action
}

// checkBuffered bounds what a connection we are not reading may hold: gnet
// keeps reading the socket into user memory, so past MaxBuffered the
// connection is closed and the device resends what we did not acknowledge.
func (s *Server) checkBuffered(c gnet.Conn, sess *session) gnet.Action {
	if c.InboundBuffered() > s.cfg.MaxBuffered {
		s.M.ConnsRefused.WithLabelValues("buffer_full").Inc()
		return gnet.Close
	}
	return gnet.None
}

func (s *Server) handleFrame(c gnet.Conn, sess *session, frame []byte) int {
	msgs, reply, err := sess.codec.Decode(frame, sess.msgs[:0], sess.reply[:0])
	sess.msgs, sess.reply = msgs[:0], reply[:0]
	if cc, ok := sess.codec.(interface{ CRCMismatches() uint64 }); ok {
		if n := cc.CRCMismatches(); n != sess.crcSeen {
			s.M.CRCMismatches.WithLabelValues(sess.proto).Add(float64(n - sess.crcSeen))
			sess.crcSeen = n
		}
	}
	if err != nil {
		reason := errReason(err)
		s.M.DecodeErrors.WithLabelValues(sess.proto, reason).Inc()
		if errors.Is(err, protocol.ErrNoDevice) {
			// Data before a login: the device will log in again after we close.
			s.log.Info("data before login: closing", "protocol", sess.proto, "remote", sess.remote)
			return frameClose
		}
		s.log.Debug("frame not decoded", "protocol", sess.proto, "remote", sess.remote, "err", err, "len", len(frame))
		return frameDone
	}
	if !sess.identified {
		id := sess.codec.DeviceID()
		if id == "" {
			for i := range msgs {
				if msgs[i].DeviceID != "" {
					id = msgs[i].DeviceID
					break
				}
			}
		}
		if id == "" {
			return frameDone // nothing addressed to anyone yet (e.g. a bare keep-alive)
		}
		d, ok := s.reg.lookup(id)
		if !ok {
			s.M.UnknownDevices.Inc()
			s.unknown.note(store.UnknownDevice{Protocol: sess.proto, Ident: id, RemoteAddr: sess.remote,
				LastSeen: time.Now(), Count: 1})
			if s.cfg.RegisterUnknown {
				sess.pending.Store(true)
				go s.register(c, sess, id)
				return frameRetry // decoded again once registered
			}
			s.log.Info("unknown device: no reply, closing", "protocol", sess.proto, "ident", id, "remote", sess.remote)
			return frameClose
		}
		sess.device, sess.identified = d, true
		sess.codec.SetDeviceID(id)
		if m, ok := sess.codec.(interface{ SetModel(string) }); ok && d.Model != "" {
			m.SetModel(d.Model)
		}
	}

	now := time.Now()
	recs := sess.recs[:0]
	for i := range msgs {
		m := &msgs[i]
		s.frameCounter(sess, m.Type).Inc()
		if !m.IsPosition() {
			continue
		}
		p, attrs, reason := toPosition(m, sess.device.ID, "tracker", now, sess.attrs)
		sess.attrs = attrs
		if reason != "" {
			s.M.Rejected.WithLabelValues(reason).Inc()
			s.log.Debug("position rejected", "protocol", sess.proto, "device", sess.device.ID, "reason", reason)
			continue
		}
		recs = append(recs, record{pos: p, since: now})
	}
	sess.recs = recs[:0]
	if len(recs) > 0 && !s.pipe.Room(len(recs)) {
		if !sess.paused.Swap(true) {
			s.M.Paused.Inc()
			s.pipe.waiters.add(func() {
				sess.paused.Store(false)
				c.Wake(nil)
			})
		}
		return frameRetry
	}
	if len(reply) > 0 {
		if len(recs) > 0 {
			// The reply acknowledges data: it goes out after the commit.
			recs[len(recs)-1].ack = &connAck{c: c, b: append([]byte(nil), reply...)}
		} else if _, err := c.Write(reply); err != nil {
			return frameClose
		}
	}
	for i := range recs {
		if !s.pipe.offer(recs[i]) {
			// Room was checked on this loop; other loops raced us. Losing the
			// rest of the frame is acceptable only because it was not
			// acknowledged: close so the device resends.
			s.M.Rejected.WithLabelValues("queue_full").Add(float64(len(recs) - i))
			return frameClose
		}
		recs[i] = record{}
	}
	return frameDone
}

func (s *Server) frameCounter(sess *session, typ string) prometheus.Counter {
	c, ok := sess.frames[typ]
	if !ok {
		c = s.M.Frames.WithLabelValues(sess.proto, typ)
		sess.frames[typ] = c
	}
	return c
}

// register adds an unknown device (serve --register-unknown) off the event
// loop, then wakes the connection to decode the waiting frame again. At most
// a few registrations run at once, so a fleet logging in for the first time
// does not take every database connection from the writers.
func (s *Server) register(c gnet.Conn, sess *session, ident string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case s.regSem <- struct{}{}:
		defer func() { <-s.regSem }()
	case <-ctx.Done():
		c.Close()
		return
	}
	d := store.Device{Ident: ident, Protocol: sess.proto, Name: sess.proto + " " + ident}
	id, err := s.st.AddDevice(ctx, d)
	if errors.Is(err, store.ErrDuplicate) {
		d, err = s.st.DeviceByIdent(ctx, ident)
		id = d.ID
	}
	if err != nil {
		s.log.Warn("register unknown device", "ident", ident, "err", err)
		c.Close()
		return
	}
	d.ID = id
	s.reg.put(d)
	sess.pending.Store(false)
	c.Wake(nil)
}

type connAck struct {
	c gnet.Conn
	b []byte
}

func (a *connAck) Ack(err error) {
	if err == nil {
		a.c.AsyncWrite(a.b, nil) // fails harmlessly if the device has gone
	}
}

func errReason(err error) string {
	for _, e := range []struct {
		err    error
		reason string
	}{
		{protocol.ErrGarbage, "garbage"}, {protocol.ErrTooLarge, "too_large"}, {protocol.ErrBadCRC, "bad_crc"},
		{protocol.ErrNoDevice, "no_device"}, {protocol.ErrShort, "short"}, {protocol.ErrMalformed, "malformed"},
	} {
		if errors.Is(err, e.err) {
			return e.reason
		}
	}
	return "other"
}

func onlyLineEnds(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func headHex(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return hex.EncodeToString(b)
}

// gnetLogger routes gnet's own logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Info(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
