package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"carevisit/firmware-sim/sim"
	"carevisit/protocol"
	"carevisit/protocol/gt06"
)

// loadConfig is the load generator's configuration.
type loadConfig struct {
	n           int
	rate        float64 // positions/s over all devices; 0 = as fast as acks allow
	window      int     // frames in flight per device at max rate
	duration    time.Duration
	server      string
	imeiBase    uint64
	sourceIPs   []net.IP
	dials       int // concurrent connection attempts
	connectWait time.Duration
	drain       time.Duration
	fixLead     time.Duration
}

// ring is the per-device record of send times, indexed by serial.
const ring = 64

type loader struct {
	cfg   loadConfig
	out   io.Writer
	hist  histogram
	start chan struct{}
	// set before start is closed
	sendFrom, sendUntil time.Time

	connected, connFail, loginFail, disconnects atomic.Int64
	sent, acked, throttled                      atomic.Int64
}

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	proto := fs.String("proto", "gt06", "protocol (only gt06: the one with per-frame acks)")
	var c loadConfig
	fs.IntVar(&c.n, "n", 1000, "devices (one TCP connection each)")
	fs.Float64Var(&c.rate, "rate", 2000, "positions per second over all devices (0 = as fast as acks come back)")
	fs.IntVar(&c.window, "window", 8, "frames in flight per device when -rate 0")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "sending time (after every device logged in)")
	fs.StringVar(&c.server, "server", "127.0.0.1:5023", "server address (loopback only)")
	base := fs.String("imei-base", "359710040000000", "IMEI of device 0; device i has base+i")
	ips := fs.String("source-ips", "127.0.0.1", "loopback source addresses: a range a-b or a comma list")
	fs.IntVar(&c.dials, "dials", 64, "concurrent connection attempts (connect and login)")
	fs.DurationVar(&c.connectWait, "connect-timeout", 60*time.Second, "longest time for all devices to connect and log in")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "wait this long for outstanding acks after sending stops")
	fs.DurationVar(&c.fixLead, "fix-lead", 2*time.Hour, "fix times start this far in the past, one second apart per device")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *proto != "gt06" {
		return fmt.Errorf("load: protocol %q not supported (gt06 only)", *proto)
	}
	if c.n <= 0 || c.duration <= 0 || c.rate < 0 || c.window < 1 || c.window > ring/2 {
		return fmt.Errorf("load: need -n > 0, -duration > 0, -rate >= 0 and 1 <= -window <= %d", ring/2)
	}
	var err error
	if c.imeiBase, err = strconv.ParseUint(*base, 10, 64); err != nil || len(*base) != 15 {
		return fmt.Errorf("load: -imei-base must be 15 digits")
	}
	if err := checkLoopback(c.server); err != nil {
		return err
	}
	if c.sourceIPs, err = parseIPRange(*ips); err != nil {
		return err
	}
	if perDev := c.rate / float64(c.n) * c.duration.Seconds(); c.rate > 0 && time.Duration(perDev)*time.Second > c.fixLead {
		return fmt.Errorf("load: %0.f fixes per device one second apart would run past now: raise -fix-lead", perDev)
	}
	if lim, err := raiseNoFile(); err == nil {
		if lim < uint64(c.n)+64 {
			fmt.Fprintf(stderr, "warning: open file limit %d is below %d connections\n", lim, c.n)
		}
	}
	l := &loader{cfg: c, out: stdout, start: make(chan struct{})}
	return l.run(ctx)
}

// raiseNoFile lifts the soft open-file limit to the hard limit.
func raiseNoFile() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

// checkLoopback refuses targets outside 127.0.0.0/8 and ::1: the load
// generator must never be pointed at someone else's server.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("load: -server %q: %w", addr, err)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("load: -server %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("load: -server %s resolves to %s: only loopback targets (127.0.0.0/8, ::1) are allowed", addr, ip)
		}
	}
	return nil
}

// parseIPRange parses "127.0.0.2-127.0.0.50" or "127.0.0.2,127.0.0.3";
// every address must be loopback.
func parseIPRange(s string) ([]net.IP, error) {
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a := net.ParseIP(lo).To4()
		if !isRange {
			ip := net.ParseIP(part)
			if ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("load: source address %q is not a loopback address", part)
			}
			out = append(out, ip)
			continue
		}
		b := net.ParseIP(hi).To4()
		if a == nil || b == nil || !a.IsLoopback() || !b.IsLoopback() {
			return nil, fmt.Errorf("load: source range %q: want two IPv4 loopback addresses", part)
		}
		x, y := ipv4(a), ipv4(b)
		if y < x || y-x > 1<<16 {
			return nil, fmt.Errorf("load: source range %q is empty or too large", part)
		}
		for v := x; v <= y; v++ {
			out = append(out, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)))
		}
	}
	return out, nil
}

func ipv4(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

func (l *loader) run(ctx context.Context) error {
	c := l.cfg
	// Hard stop whatever happens: connect phase, sending, drain, margin.
	ctx, cancel := context.WithTimeout(ctx, c.connectWait+c.duration+c.drain+10*time.Second)
	defer cancel()

	var ready, done sync.WaitGroup
	sem := make(chan struct{}, c.dials)
	ready.Add(c.n)
	done.Add(c.n)
	t0 := time.Now()
	fixBase := t0.Add(-c.fixLead).Truncate(time.Second)
	for i := 0; i < c.n; i++ {
		go func() {
			defer done.Done()
			l.device(ctx, i, sem, &ready, fixBase)
		}()
	}
	allReady := make(chan struct{})
	go func() { ready.Wait(); close(allReady) }()
	connectTimer := time.NewTimer(c.connectWait)
	prog := time.NewTicker(time.Second)
	defer prog.Stop()
connecting:
	for {
		select {
		case <-allReady:
			break connecting
		case <-connectTimer.C:
			fmt.Fprintf(l.out, "connect phase timed out after %v\n", c.connectWait)
			break connecting
		case <-ctx.Done():
			return ctx.Err()
		case <-prog.C:
			fmt.Fprintf(l.out, "connecting: %d logged in, %d connect failures, %d login failures\n",
				l.connected.Load(), l.connFail.Load(), l.loginFail.Load())
		}
	}
	connectTime := time.Since(t0)
	fmt.Fprintf(l.out, "connected %d of %d devices in %.1fs (%d connect failures, %d login failures)\n",
		l.connected.Load(), c.n, connectTime.Seconds(), l.connFail.Load(), l.loginFail.Load())
	if l.connected.Load() == 0 {
		return errors.New("load: no device connected")
	}
	l.sendFrom = time.Now()
	l.sendUntil = l.sendFrom.Add(c.duration)
	close(l.start)
	prog.Reset(time.Second)

	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	var lastSent, lastAcked int64
	sec := 0
	report := func() {
		s, a := l.sent.Load(), l.acked.Load()
		sec++
		fmt.Fprintf(l.out, "t=%3ds conns=%d sent=%d/s acked=%d/s in_flight=%d disconnects=%d\n",
			sec, l.connected.Load()-l.disconnects.Load(), s-lastSent, a-lastAcked, s-a, l.disconnects.Load())
		lastSent, lastAcked = s, a
	}
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-ctx.Done():
			fmt.Fprintln(l.out, "hard stop")
			break wait
		case <-prog.C:
			report()
		}
	}
	l.summary(time.Since(l.sendFrom))
	if l.acked.Load() == 0 {
		return errors.New("load: nothing was acknowledged")
	}
	return nil
}

func (l *loader) summary(elapsed time.Duration) {
	c := l.cfg
	s, a := l.sent.Load(), l.acked.Load()
	ratio := 0.0
	if s > 0 {
		ratio = float64(a) / float64(s)
	}
	send := c.duration.Seconds()
	fmt.Fprintf(l.out, "\ntotals: devices=%d connected=%d sent=%d acked=%d acked/sent=%.4f throttled=%d disconnects=%d connect_failures=%d login_failures=%d\n",
		c.n, l.connected.Load(), s, a, ratio, l.throttled.Load(), l.disconnects.Load(), l.connFail.Load(), l.loginFail.Load())
	fmt.Fprintf(l.out, "rates: sent %.0f/s acked %.0f/s over the %.0fs sending window (target %s)\n",
		float64(s)/send, float64(a)/send, send, rateName(c.rate))
	p50, p90, p99, mx := l.hist.quantile(0.5), l.hist.quantile(0.9), l.hist.quantile(0.99), l.hist.max.Load()
	fmt.Fprintf(l.out, "ack latency: p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", ms(p50), ms(p90), ms(p99), ms(mx))
	// One line for scripts.
	fmt.Fprintf(l.out, "RESULT devices=%d connected=%d sent=%d acked=%d ratio=%.4f sent_per_s=%.0f acked_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f connect_failures=%d login_failures=%d disconnects=%d\n",
		c.n, l.connected.Load(), s, a, ratio, float64(s)/send, float64(a)/send, ms(p50), ms(p90), ms(p99), ms(mx),
		l.connFail.Load(), l.loginFail.Load(), l.disconnects.Load())
}

func rateName(r float64) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%.0f/s", r)
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// device is one simulated GT06 tracker: connect, log in, wait for the
// start, then send locations on schedule (or keep a window full) and match
// acks by serial.
func (l *loader) device(ctx context.Context, i int, sem chan struct{}, ready *sync.WaitGroup, fixBase time.Time) {
	c := l.cfg
	imei := fmt.Sprintf("%015d", c.imeiBase+uint64(i))
	var conn net.Conn
	var err error
	func() {
		defer ready.Done()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		d := net.Dialer{Timeout: 10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: c.sourceIPs[i%len(c.sourceIPs)]}}
		// The slot covers the login too: a server registering unknown
		// devices answers logins slowly, and piling them up only times out.
		defer func() { <-sem }()
		conn, err = d.DialContext(ctx, "tcp", c.server)
		if err != nil {
			if l.connFail.Add(1) <= 3 {
				fmt.Fprintf(os.Stderr, "connect: %v\n", err)
			}
			return
		}
		if err = login(conn, imei); err != nil {
			l.loginFail.Add(1)
			conn.Close()
			conn = nil
			return
		}
		l.connected.Add(1)
	}()
	if conn == nil {
		return
	}
	defer conn.Close()
	select {
	case <-l.start:
	case <-ctx.Done():
		return
	}
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	dev := loadDevice{l: l, conn: conn, fix: fixBase, serial: 1,
		lat: 54.60 + 0.06*rng.Float64(), lon: 39.68 + 0.12*rng.Float64()}
	if c.rate > 0 {
		interval := time.Duration(float64(c.n) / c.rate * float64(time.Second))
		dev.paced(l.sendFrom.Add(time.Duration(rng.Float64()*float64(interval))), interval)
	} else {
		dev.windowed()
	}
	dev.drain(l.sendUntil.Add(c.drain))
}

func login(conn net.Conn, imei string) error {
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(gt06.AppendLogin(nil, imei, 1)); err != nil {
		return err
	}
	var buf [64]byte
	n := 0
	for {
		k, err := conn.Read(buf[n:])
		n += k
		if _, keys := sim.ParseGT06Acks(buf[:n], nil); len(keys) > 0 {
			if keys[0]>>16 == 0x01 {
				return nil
			}
			return fmt.Errorf("unexpected reply %x", keys[0])
		}
		if err != nil {
			return err
		}
		if n == len(buf) {
			return errors.New("login: no ack")
		}
	}
}

type loadDevice struct {
	l        *loader
	conn     net.Conn
	serial   uint16
	fix      time.Time
	lat, lon float64
	sentAt   [ring]int64 // unix nanos by serial % ring; 0 = not in flight
	inFlight int
	wbuf     []byte
	rbuf     [256]byte
	rn       int
}

func (d *loadDevice) frame(dst []byte) []byte {
	d.serial++
	if d.serial == 0 {
		d.serial = 2 // 1 is the login's
	}
	d.fix = d.fix.Add(time.Second)
	d.lat += 0.00001
	m := protocol.Message{Time: d.fix, Valid: true, Lat: d.lat, Lon: d.lon, SpeedKmh: 5, Course: 90, Sats: 9,
		MCC: 250, MNC: 1, LAC: 7701, CID: 20001}
	return gt06.AppendLocation(dst, m, d.serial)
}

// send writes k location frames in one write.
func (d *loadDevice) send(k int) bool {
	d.wbuf = d.wbuf[:0]
	now := time.Now().UnixNano()
	for range k {
		d.wbuf = d.frame(d.wbuf)
		d.sentAt[d.serial%ring] = now
	}
	if _, err := d.conn.Write(d.wbuf); err != nil {
		d.l.disconnects.Add(1)
		return false
	}
	d.inFlight += k
	d.l.sent.Add(int64(k))
	return true
}

// read reads acks until the deadline; false when the connection is gone.
func (d *loadDevice) read(deadline time.Time) bool {
	d.conn.SetReadDeadline(deadline)
	n, err := d.conn.Read(d.rbuf[d.rn:])
	if n > 0 {
		d.rn += n
		used, keys := sim.ParseGT06Acks(d.rbuf[:d.rn], nil)
		now := time.Now().UnixNano()
		for _, k := range keys {
			if k>>16 != 0x22 {
				continue
			}
			slot := &d.sentAt[uint16(k)%ring]
			if *slot == 0 {
				continue // ack we did not wait for
			}
			d.l.hist.add(now - *slot)
			*slot = 0
			d.inFlight--
			d.l.acked.Add(1)
		}
		d.rn = copy(d.rbuf[:], d.rbuf[used:d.rn])
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true
		}
		d.l.disconnects.Add(1)
		return false
	}
	return true
}

// paced sends one location every interval from first until sendUntil.
func (d *loadDevice) paced(next time.Time, interval time.Duration) {
	until := d.l.sendUntil
	for {
		now := time.Now()
		if !now.Before(until) {
			return
		}
		if !now.Before(next) {
			if d.inFlight < ring/2 {
				if !d.send(1) {
					return
				}
			} else {
				d.l.throttled.Add(1) // the server is not keeping up: do not pile on
			}
			next = next.Add(interval)
			continue
		}
		if !d.read(minTime(next, until)) {
			return
		}
	}
}

// windowed keeps the window full until sendUntil: throughput bound by acks.
func (d *loadDevice) windowed() {
	until := d.l.sendUntil
	w := d.l.cfg.window
	for time.Now().Before(until) {
		if d.inFlight < w {
			if !d.send(w - d.inFlight) {
				return
			}
		}
		if !d.read(until) {
			return
		}
	}
}

// drain waits for the outstanding acks.
func (d *loadDevice) drain(deadline time.Time) {
	for d.inFlight > 0 && time.Now().Before(deadline) {
		if !d.read(deadline) {
			return
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// histogram is a lock-free latency histogram with ~2.5% wide log buckets.
type histogram struct {
	b   [400]atomic.Int64
	max atomic.Int64
}

const histBase = 1.05

func (h *histogram) add(ns int64) {
	i := 0
	if ns > 1000 {
		i = min(int(math.Log(float64(ns)/1000)/math.Log(histBase))+1, len(h.b)-1)
	}
	h.b[i].Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// quantile returns the upper bound of the bucket holding quantile q (ns).
func (h *histogram) quantile(q float64) int64 {
	var total int64
	for i := range h.b {
		total += h.b[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var n int64
	for i := range h.b {
		n += h.b[i].Load()
		if n >= want {
			if i == 0 {
				return 1000
			}
			return min(int64(1000*math.Pow(histBase, float64(i))), h.max.Load())
		}
	}
	return h.max.Load()
}
