package sim

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/gt06"
)

func TestClockSpeedAndCap(t *testing.T) {
	wall := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	now := wall
	c := newClock(wall.Add(-time.Hour), 10, func() time.Time { return now })
	tests := []struct {
		elapsed time.Duration
		want    time.Time
	}{
		{0, wall.Add(-time.Hour)},
		{time.Minute, wall.Add(-50 * time.Minute)},
		{6 * time.Minute, wall.Add(-0 * time.Minute)}, // caught up: 60 min of sim in 6 min, wall at +6 min
		{10 * time.Minute, wall.Add(10 * time.Minute)},
	}
	for _, tc := range tests {
		now = wall.Add(tc.elapsed)
		got := c.Now()
		if tc.elapsed == 6*time.Minute {
			// sped-up clock shows wall-1h+60min = wall; wall is +6 min: not capped yet.
			if !got.Equal(wall) {
				t.Errorf("after %v: Now = %v, want %v", tc.elapsed, got, wall)
			}
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("after %v: Now = %v, want %v", tc.elapsed, got, tc.want)
		}
		if got.After(now) {
			t.Errorf("after %v: simulated time %v is ahead of wall %v", tc.elapsed, got, now)
		}
	}
	// Until: 10 simulated minutes take 1 wall minute while behind.
	now = wall
	if got := c.Until(wall.Add(-50 * time.Minute)); got != time.Minute {
		t.Errorf("Until 10 sim min = %v, want 1m", got)
	}
	// Past the catch-up point the wall clock governs: sim shows wall+1h at wall+1h.
	if got := c.Until(wall.Add(time.Hour)); got != time.Hour {
		t.Errorf("Until wall+1h = %v, want 1h", got)
	}
	// A future start is moved to now.
	f := newClock(wall.Add(time.Hour), 5, func() time.Time { return wall })
	if got := f.Now(); !got.Equal(wall) {
		t.Errorf("future start: Now = %v, want %v", got, wall)
	}
}

// TestTrackRound walks home -> client -> home and checks the timing of legs
// and visits and where the fixes fall.
func TestTrackRound(t *testing.T) {
	home := Stop{Name: "home", Lat: 54.6261, Lon: 39.7361}
	client := Stop{Name: "c1", Lat: 54.6292, Lon: 39.7421, RadiusM: 40, Visit: true}
	start := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	for seed := uint64(1); seed <= 5; seed++ {
		tr := NewTrack([]Stop{home, client}, start, seed, TrackOptions{})
		var events []Event
		var lastLeave time.Time
		end := start.Add(6 * time.Hour)
		for ts := start; ts.Before(end); ts = ts.Add(5 * time.Second) {
			st := tr.At(ts)
			for _, ev := range tr.Events() {
				events = append(events, ev)
				if ev.Kind == EventLeave {
					lastLeave = ev.Time
				}
				if ev.Kind == EventArrive && !lastLeave.IsZero() {
					// Straight leg at 1.2-1.5 m/s (stay points are within 10 m of the centres).
					d := DistanceM(home.Lat, home.Lon, client.Lat, client.Lon)
					dur := ev.Time.Sub(lastLeave).Seconds()
					if dur < (d-20)/1.5 || dur > (d+20)/1.2 {
						t.Errorf("seed %d: leg of %.0f m took %.0f s", seed, d, dur)
					}
				}
			}
			if st.Stop == 1 {
				if !st.Indoor {
					t.Fatalf("seed %d: at a client but not indoors", seed)
				}
				if got := DistanceM(st.Lat, st.Lon, client.Lat, client.Lon); got > 0.6*40+10+0.5 {
					t.Errorf("seed %d: indoor fix %.1f m from the client, outside the allowed scatter", seed, got)
				}
			}
			if st.Moving {
				if st.SpeedKmh < 1.2*3.6*0.9 || st.SpeedKmh > 1.5*3.6*1.1 {
					t.Errorf("seed %d: walking speed %.1f km/h", seed, st.SpeedKmh)
				}
				if err := DistanceM(st.Lat, st.Lon, st.TrueLat, st.TrueLon); err > 20 {
					t.Errorf("seed %d: outdoor error %.1f m", seed, err)
				}
			}
		}
		visits := 0
		for i := 0; i+1 < len(events); i++ {
			a, b := events[i], events[i+1]
			if a.Kind == b.Kind {
				t.Fatalf("seed %d: events do not alternate: %v then %v", seed, a, b)
			}
			if a.Kind == EventArrive && a.Visit {
				visits++
				if d := b.Time.Sub(a.Time); d < 3*time.Minute || d > 20*time.Minute {
					t.Errorf("seed %d: visit lasted %v, want 3-20 min", seed, d)
				}
			}
		}
		if visits < 5 {
			t.Errorf("seed %d: %d visits in 6 hours, want several", seed, visits)
		}
	}
}

func TestParseGT06Acks(t *testing.T) {
	var b []byte
	b = gt06.AppendReply(b, 0x01, 1)
	b = gt06.AppendReply(b, 0x22, 0xBEEF)
	b = append(b, 0x00, 0x13) // junk
	b = gt06.AppendReply(b, 0x13, 7)
	full := len(b)
	b = append(b, gt06.AppendReply(nil, 0x22, 9)[:4]...) // partial
	n, keys := ParseGT06Acks(b, nil)
	want := []uint32{gt06Key(0x01, 1), gt06Key(0x22, 0xBEEF), gt06Key(0x13, 7)}
	if n != full || len(keys) != len(want) {
		t.Fatalf("consumed %d of %d, keys %x; want %d, %x", n, len(b), keys, full, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("key %d = %x, want %x", i, keys[i], want[i])
		}
	}
}

// gt06Server is a tiny GT06 server: it acks every frame, records every
// position it processed, and can cut the first connection after some
// positions and refuse connections for a while.
type gt06Server struct {
	t          *testing.T
	ln         net.Listener
	loginDelay time.Duration
	cutAfter   int           // cut the connection after this many positions (0 = never)
	downFor    time.Duration // then close new connections at once for this long

	mu        sync.Mutex
	got       map[int64]int  // fix time -> times processed
	archived  map[int64]bool // fix time -> arrived with the re-upload flag
	processed int
	early     int // data frames before the login was acknowledged
	downUntil time.Time
	cut       bool
	conns     int
}

func newGT06Server(t *testing.T) *gt06Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &gt06Server{t: t, ln: ln, got: map[int64]int{}, archived: map[int64]bool{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *gt06Server) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.conns++
	down := time.Now().Before(s.downUntil)
	s.mu.Unlock()
	if down {
		return
	}
	codec := gt06.New()
	var buf []byte
	tmp := make([]byte, 4096)
	loggedIn := false
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			fl, skip, ferr := codec.Frame(buf)
			if ferr != nil && errors.Is(ferr, protocol.ErrGarbage) {
				buf = buf[skip:]
				continue
			}
			if ferr != nil {
				s.t.Errorf("server: framing: %v", ferr)
				return
			}
			if fl == 0 {
				break
			}
			frame := buf[:fl]
			msgs, reply, derr := codec.Decode(frame, nil, nil)
			buf = buf[fl:]
			if derr != nil {
				s.t.Errorf("server: decode: %v", derr)
				return
			}
			for _, m := range msgs {
				switch m.Type {
				case protocol.TypeLogin:
					time.Sleep(s.loginDelay)
					// Anything already sent before the ack is a protocol error.
					c.SetReadDeadline(time.Now().Add(time.Millisecond))
					if k, _ := c.Read(tmp); k > 0 || len(buf) > 0 {
						s.mu.Lock()
						s.early++
						s.mu.Unlock()
					}
					c.SetReadDeadline(time.Time{})
					loggedIn = true
				case protocol.TypePosition:
					if !loggedIn {
						s.mu.Lock()
						s.early++
						s.mu.Unlock()
					}
					s.mu.Lock()
					k := m.Time.Unix()
					s.got[k]++
					if m.Archive {
						s.archived[k] = true
					}
					s.processed++
					cut := !s.cut && s.cutAfter > 0 && s.processed >= s.cutAfter
					if cut {
						s.cut = true
						s.downUntil = time.Now().Add(s.downFor)
					}
					s.mu.Unlock()
					if _, err := c.Write(reply); err != nil {
						return
					}
					if cut {
						// Stop processing: FIN after the acks sent so far,
						// then discard whatever still arrives (lost in transit).
						c.(*net.TCPConn).CloseWrite()
						io.Copy(io.Discard, c)
						return
					}
					reply = nil
				}
			}
			if reply != nil {
				if _, err := c.Write(reply); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func testDevice(t *testing.T, proto, addr string, until time.Duration) (*Device, *Clock) {
	t.Helper()
	start := time.Now().Add(-10 * time.Hour)
	clk := NewClock(start, 600) // 15 s between fixes = 25 ms
	home := Stop{Name: "home", Lat: 54.6261, Lon: 39.7361, MinStay: time.Minute, MaxStay: 2 * time.Minute}
	client := Stop{Name: "c1", Lat: 54.6292, Lon: 39.7421, RadiusM: 40, Visit: true, MinStay: 3 * time.Minute, MaxStay: 5 * time.Minute}
	d, err := NewDevice(Config{Protocol: proto, Ident: "359710040000001", Addr: addr, Clock: clk,
		Track: NewTrack([]Stop{home, client}, start, 42, TrackOptions{}), Until: start.Add(until),
		Still: 30 * time.Second, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d, clk
}

func runDevice(t *testing.T, d *Device) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("device did not finish: %+v", d.Stats())
	}
}

// TestGT06LoginThenDataExactlyOnce: the device waits for the login ack and
// every position arrives once, acknowledged.
func TestGT06LoginThenDataExactlyOnce(t *testing.T) {
	t.Parallel()
	srv := newGT06Server(t)
	srv.loginDelay = 100 * time.Millisecond
	d, _ := testDevice(t, ProtoGT06, srv.ln.Addr().String(), 30*time.Minute)
	runDevice(t, d)
	st := d.Stats()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.early != 0 {
		t.Errorf("%d data frames sent before the login was acknowledged", srv.early)
	}
	if st.Generated < 40 || st.Acked != st.Generated || st.Pending != 0 {
		t.Errorf("stats %+v: want every generated position acked", st)
	}
	if len(srv.got) != int(st.Generated) {
		t.Errorf("server has %d distinct fixes, device generated %d", len(srv.got), st.Generated)
	}
	for k, n := range srv.got {
		if n != 1 {
			t.Errorf("fix %d arrived %d times", k, n)
		}
	}
}

// TestGT06DisconnectBuffersAndUploadsLate: the server cuts the connection
// and refuses new ones for a while; the device buffers, reconnects with
// backoff and uploads the buffered positions with the re-upload flag; every
// position is processed exactly once.
func TestGT06DisconnectBuffersAndUploadsLate(t *testing.T) {
	t.Parallel()
	srv := newGT06Server(t)
	srv.cutAfter = 10
	srv.downFor = 500 * time.Millisecond // 5 simulated minutes at 600x: ~20 fixes
	d, _ := testDevice(t, ProtoGT06, srv.ln.Addr().String(), 40*time.Minute)
	runDevice(t, d)
	st := d.Stats()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if st.Disconnects < 1 || st.Connects < 2 || srv.conns < 3 {
		t.Errorf("stats %+v, server saw %d connections: want a cut, refused reconnects and a new session", st, srv.conns)
	}
	if st.Acked != st.Generated || st.Pending != 0 {
		t.Errorf("stats %+v: want every generated position acked", st)
	}
	if len(srv.got) != int(st.Generated) {
		t.Errorf("server has %d distinct fixes, device generated %d", len(srv.got), st.Generated)
	}
	for k, n := range srv.got {
		if n != 1 {
			t.Errorf("fix %d processed %d times", k, n)
		}
	}
	if len(srv.archived) < 10 || int64(len(srv.archived)) != st.Late {
		t.Errorf("%d fixes arrived with the re-upload flag, device sent %d late; want ~20 (5 min offline)",
			len(srv.archived), st.Late)
	}
	// In time order the flags read: live, one late block (the outage), live.
	keys := make([]int64, 0, len(srv.got))
	for k := range srv.got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var runs []bool
	for _, k := range keys {
		if a := srv.archived[k]; len(runs) == 0 || runs[len(runs)-1] != a {
			runs = append(runs, a)
		}
	}
	if !slices.Equal(runs, []bool{false, true, false}) {
		t.Errorf("late/live runs in time order %v, want live, one late block, live", runs)
	}
}
