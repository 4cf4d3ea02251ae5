package sim

import (
	"context"
	"net"
	"time"

	"carevisit/protocol"
)

// noAck marks a frame the server does not acknowledge.
const noAck = ^uint32(0)

// wire is what differs between the stream protocols: frames out, acks in.
type wire interface {
	// hello is written first on a new connection; key != noAck means the
	// device waits for that ack before sending anything else (GT06 login).
	hello(dst []byte) (b []byte, key uint32)
	// data encodes a position or an alarm; key is the ack that confirms it.
	data(dst []byte, m *protocol.Message) (b []byte, key uint32)
	// keepAlive encodes a heartbeat; nil when the protocol has none.
	keepAlive(dst []byte, battery, steps int) (b []byte, key uint32)
	// acks parses what the server sent: the bytes consumed and the ack keys.
	acks(buf []byte, keys []uint32) (n int, out []uint32)
}

func (d *Device) newWire() wire {
	switch d.cfg.Protocol {
	case ProtoGT06:
		return &gt06Wire{imei: d.cfg.Ident}
	case ProtoH02:
		return &h02Wire{id: d.cfg.Ident}
	default:
		return newWatchWire(d.cfg.Maker, d.cfg.Ident)
	}
}

type inflight struct {
	m    protocol.Message
	key  uint32
	sent time.Time // wall
	pos  bool      // a position (else a keep-alive)
}

type readEvent struct {
	gen  int
	keys []uint32
	err  error
}

type dialResult struct {
	gen  int
	conn net.Conn
	err  error
}

// stream is the state of a TCP device's main loop.
type stream struct {
	d        *Device
	w        wire
	conn     net.Conn
	gen      int
	online   bool // hello acknowledged (or none needed)
	outage   bool // a connect failed or the connection dropped: fixes recorded now go out late
	helloKey uint32
	helloAt  time.Time
	fails    int
	redialAt time.Time // wall; zero while connected or dialing
	dialing  bool
	out      queue
	fly      []inflight
	buf      []byte
	readCh   chan readEvent
	dialCh   chan dialResult
	done     chan struct{}
}

func (d *Device) runStream(ctx context.Context) error {
	s := &stream{d: d, w: d.newWire(), out: queue{max: d.cfg.MaxBuffer},
		readCh: make(chan readEvent, 16), dialCh: make(chan dialResult, 1), done: make(chan struct{})}
	defer close(s.done)
	defer s.drop("stopped")
	clk := d.cfg.Clock
	nextReport := clk.Now()
	nextKeep := nextReport.Add(d.cfg.KeepAlive)
	moving := true
	s.redialAt = time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	reporting := true
	for {
		now := time.Now()
		if reporting && !d.cfg.Until.IsZero() && !clk.Now().Before(d.cfg.Until) {
			reporting = false
		}
		if !s.dialing && s.conn == nil && !s.redialAt.IsZero() && !now.Before(s.redialAt) {
			s.dial(ctx)
		}
		if s.conn != nil {
			s.checkTimeouts(now)
		}
		if s.online {
			s.flush()
		}
		if !reporting && len(s.out.items) == 0 && len(s.fly) == 0 {
			return nil
		}
		// Sleep until the next thing to do.
		wait := time.Hour
		if reporting {
			wait = min(wait, clk.Until(nextReport))
			if d.cfg.Protocol == ProtoWatch || !moving {
				wait = min(wait, clk.Until(nextKeep))
			}
		}
		if s.conn == nil && !s.dialing && !s.redialAt.IsZero() {
			wait = min(wait, time.Until(s.redialAt))
		}
		if s.conn != nil {
			wait = min(wait, s.nextTimeout(now).Sub(now))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.dialCh:
			s.dialed(r)
		case ev := <-s.readCh:
			if ev.gen == s.gen && s.conn != nil {
				s.received(ev)
			}
		case <-timer.C:
		}
		if !reporting {
			continue
		}
		t := clk.Now()
		if !t.Before(nextReport) && (d.cfg.Until.IsZero() || nextReport.Before(d.cfg.Until)) {
			m, st := d.report(nextReport)
			moving = st.Moving
			if !s.online && s.outage {
				m.Archive = true // recorded during an outage: uploaded late
			}
			if s.out.push(m) {
				d.count(func(s *Stats) { s.Dropped++ })
			}
			nextReport = d.nextReport(nextReport, moving)
			if !nextReport.After(t) {
				nextReport = t.Add(time.Second) // far behind (paused): do not burst
			}
		}
		if !t.Before(nextKeep) {
			if s.online && (d.cfg.Protocol == ProtoWatch || !moving) {
				s.keepAlive()
			}
			nextKeep = t.Add(d.cfg.KeepAlive)
		}
	}
}

func (s *stream) dial(ctx context.Context) {
	s.dialing = true
	s.gen++
	gen, cfg := s.gen, s.d.cfg
	go func() {
		dl := net.Dialer{Timeout: 10 * time.Second}
		if cfg.LocalIP != nil {
			dl.LocalAddr = &net.TCPAddr{IP: cfg.LocalIP}
		}
		c, err := dl.DialContext(ctx, "tcp", cfg.Addr)
		select {
		case s.dialCh <- dialResult{gen: gen, conn: c, err: err}:
		case <-s.done:
			if c != nil {
				c.Close()
			}
		}
	}()
}

func (s *stream) dialed(r dialResult) {
	s.dialing = false
	d := s.d
	if r.err != nil {
		d.count(func(st *Stats) { st.ConnectFailures++ })
		if s.fails == 0 {
			d.cfg.Log.Warn("connect failed", "device", d.cfg.Ident, "err", r.err)
		}
		s.redialAt = time.Now().Add(d.backoff(s.fails))
		s.fails++
		s.outage = true
		return
	}
	s.conn, s.redialAt = r.conn, time.Time{}
	d.count(func(st *Stats) { st.Connects++ })
	d.cfg.Log.Info("connected", "device", d.cfg.Ident, "protocol", d.cfg.Protocol, "local", r.conn.LocalAddr().String(),
		"buffered", len(s.out.items)+len(s.fly))
	go s.read(r.gen, r.conn)
	b, key := s.w.hello(s.buf[:0])
	if len(b) > 0 && !s.write(b) {
		return
	}
	if key == noAck {
		s.up()
		return
	}
	s.helloKey, s.helloAt = key, time.Now()
}

// up marks the connection usable for data.
func (s *stream) up() {
	s.online, s.outage, s.fails = true, false, 0
	if n := len(s.out.items); n > 0 {
		s.d.cfg.Log.Info("uploading buffered positions", "device", s.d.cfg.Ident, "count", n)
	}
}

func (s *stream) read(gen int, c net.Conn) {
	buf := make([]byte, 0, 1024)
	var keys []uint32
	tmp := make([]byte, 512)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		var used int
		used, keys = s.w.acks(buf, keys[:0])
		buf = append(buf[:0], buf[used:]...)
		if len(buf) > 4096 {
			buf = buf[:0] // not our protocol: never grow without bound
		}
		if len(keys) > 0 || err != nil {
			ev := readEvent{gen: gen, keys: append([]uint32(nil), keys...), err: err}
			select {
			case s.readCh <- ev:
			case <-s.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *stream) received(ev readEvent) {
	d := s.d
	for _, k := range ev.keys {
		if !s.online && k == s.helloKey {
			s.up()
			d.cfg.Log.Info("login acknowledged", "device", d.cfg.Ident)
			continue
		}
		for i := range s.fly {
			if s.fly[i].key == k {
				pos := s.fly[i].pos
				s.fly = append(s.fly[:i], s.fly[i+1:]...)
				d.count(func(st *Stats) {
					if pos {
						st.Acked++
					} else {
						st.KeepAliveAcks++
					}
				})
				break
			}
		}
	}
	s.setPending()
	if ev.err != nil {
		s.drop("connection closed by server: " + ev.err.Error())
	}
}

func (s *stream) setPending() {
	n := int64(len(s.out.items))
	for i := range s.fly {
		if s.fly[i].pos {
			n++
		}
	}
	s.d.count(func(st *Stats) { st.Pending = n })
}

// nextTimeout is when the login or the oldest data frame times out.
func (s *stream) nextTimeout(now time.Time) time.Time {
	t := now.Add(time.Hour)
	if !s.online {
		t = s.helloAt.Add(s.d.cfg.AckTimeout)
	}
	for i := range s.fly {
		if s.fly[i].key != noAck {
			return minTime(t, s.fly[i].sent.Add(s.d.cfg.AckTimeout))
		}
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *stream) checkTimeouts(now time.Time) {
	if !now.Before(s.nextTimeout(now)) {
		s.drop("no ack in time")
	}
}

// flush sends buffered positions while the window has room.
func (s *stream) flush() {
	d := s.d
	for s.conn != nil && len(s.out.items) > 0 && len(s.fly) < d.cfg.Window {
		m := s.out.pop()
		b, key := s.w.data(s.buf[:0], &m)
		s.buf = b[:0]
		if !s.write(b) {
			s.out.pushFront([]protocol.Message{m})
			break
		}
		d.count(func(st *Stats) {
			st.Sent++
			if m.Archive {
				st.Late++
			}
		})
		if key == noAck {
			d.count(func(st *Stats) { st.Delivered++ })
			continue
		}
		s.fly = append(s.fly, inflight{m: m, key: key, sent: time.Now(), pos: true})
	}
	s.setPending()
}

func (s *stream) keepAlive() {
	b, key := s.w.keepAlive(s.buf[:0], int(s.d.battery), s.d.steps)
	if len(b) == 0 {
		return
	}
	s.buf = b[:0]
	if s.write(b) {
		s.d.count(func(st *Stats) { st.KeepAlives++ })
		if key != noAck {
			s.fly = append(s.fly, inflight{key: key, sent: time.Now()})
		}
	}
}

func (s *stream) write(b []byte) bool {
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.conn.Write(b); err != nil {
		s.drop("write: " + err.Error())
		return false
	}
	return true
}

// drop closes the connection; unacknowledged positions go back to the
// buffer, flagged as late, and a reconnect is scheduled.
func (s *stream) drop(reason string) {
	if s.conn == nil {
		return
	}
	d := s.d
	s.conn.Close()
	s.conn, s.online, s.outage = nil, false, true
	s.gen++ // ignore what the old reader still reports
	var back []protocol.Message
	for _, f := range s.fly {
		if f.pos {
			f.m.Archive = true
			back = append(back, f.m)
		}
	}
	s.fly = s.fly[:0]
	s.out.pushFront(back)
	d.count(func(st *Stats) {
		st.Disconnects++
		st.Resent += int64(len(back))
	})
	s.setPending()
	s.redialAt = time.Now().Add(d.backoff(s.fails))
	s.fails++
	d.cfg.Log.Info("disconnected", "device", d.cfg.Ident, "reason", reason, "unacked", len(back),
		"buffered", len(s.out.items))
}
