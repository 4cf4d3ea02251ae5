package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"carevisit/protocol"
)

// Protocols a simulated device speaks.
const (
	ProtoGT06   = "gt06"
	ProtoH02    = "h02"
	ProtoWatch  = "watch"
	ProtoOsmAnd = "osmand"
)

// DefaultPorts are the server's default ports (Traccar's) per protocol.
var DefaultPorts = map[string]int{ProtoGT06: 5023, ProtoH02: 5013, ProtoWatch: 5093, ProtoOsmAnd: 5055}

// Config describes one simulated device; zero durations take the defaults.
type Config struct {
	Protocol string // ProtoGT06, ProtoH02, ProtoWatch or ProtoOsmAnd
	Ident    string // IMEI (GT06: 15 digits) or device id
	Addr     string // server host:port for the protocol (OsmAnd: its HTTP address)
	LocalIP  net.IP // source address of the connections; nil = the system's choice
	Clock    *Clock
	Track    *Track
	Log      *slog.Logger // nil = silent

	// Report intervals in simulated time. Moving is jittered by ±30% (so
	// 15 s gives 10.5-19.5 s); Still applies at a stop. KeepAlive is the
	// heartbeat (GT06 0x13, H02 HTBT) while still, or the watch LK link
	// message at all times.
	Moving, Still, KeepAlive time.Duration

	// AckTimeout (wall) is the longest wait for an ack (GT06 login and data
	// frames, watch LK/AL, an OsmAnd answer) before the device drops the
	// connection and resends later. Default 30 s.
	AckTimeout time.Duration
	// Backoff is the first reconnect delay (wall), doubled after each
	// failure up to MaxBackoff, with jitter. Defaults 1 s and 30 s.
	Backoff, MaxBackoff time.Duration
	// Window bounds acknowledged frames in flight (default 16); the rest
	// waits in the buffer, as a device uploads its archive in steps.
	Window int
	// MaxBuffer bounds positions kept while offline (default 20000); the
	// oldest are dropped beyond it, as a device's flash wraps.
	MaxBuffer int
	// Until (simulated) stops the reports; Run then returns once every
	// buffered position is delivered. Zero: run until the context ends.
	Until time.Time
	Maker string // watch maker code, default "3G"
	Seed  uint64 // jitter seed (0: from Ident)
}

func (c *Config) defaults() {
	if c.Moving == 0 {
		c.Moving = 15 * time.Second
	}
	if c.Still == 0 {
		c.Still = 2 * time.Minute
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 3 * time.Minute
		if c.Protocol == ProtoWatch {
			c.KeepAlive = 5 * time.Minute
		}
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.Window == 0 {
		c.Window = 16
	}
	if c.MaxBuffer == 0 {
		c.MaxBuffer = 20000
	}
	if c.Maker == "" {
		c.Maker = "3G"
	}
	if c.Seed == 0 {
		for _, b := range []byte(c.Ident) {
			c.Seed = c.Seed*131 + uint64(b)
		}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Stats counts what a device did.
type Stats struct {
	Generated       int64 // fixes produced
	Sent            int64 // position frames written, resends included
	Resent          int64 // positions sent but unacknowledged when the connection dropped (sent again, late)
	Late            int64 // positions uploaded late (archive / re-upload flag set)
	Acked           int64 // positions acknowledged by the server
	Delivered       int64 // positions written on protocols without acks (H02, watch UD)
	Dropped         int64 // positions lost to a full buffer
	Pending         int64 // positions buffered or waiting for their ack now
	KeepAlives      int64
	KeepAliveAcks   int64
	Alarms          int64
	Connects        int64 // TCP connections made (phones: first stored ping and each recovery)
	ConnectFailures int64
	Disconnects     int64
}

// Device is one simulated tracker or phone. Create with NewDevice, run
// with Run; SOS and Stats may be called from other goroutines.
type Device struct {
	cfg   Config
	rng   *rand.Rand
	sos   chan struct{}
	mu    sync.Mutex
	stats Stats

	battery float64
	steps   int
}

// NewDevice checks cfg and prepares a device.
func NewDevice(cfg Config) (*Device, error) {
	cfg.defaults()
	switch cfg.Protocol {
	case ProtoGT06, ProtoH02, ProtoWatch, ProtoOsmAnd:
	default:
		return nil, fmt.Errorf("sim: unknown protocol %q", cfg.Protocol)
	}
	if cfg.Clock == nil || cfg.Track == nil || cfg.Ident == "" || cfg.Addr == "" {
		return nil, errors.New("sim: a device needs Clock, Track, Ident and Addr")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	return &Device{cfg: cfg, rng: rng, sos: make(chan struct{}, 1), battery: 60 + 40*rng.Float64()}, nil
}

// Ident is the device's identifier.
func (d *Device) Ident() string { return d.cfg.Ident }

// SOS makes the next report an SOS alarm.
func (d *Device) SOS() {
	select {
	case d.sos <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func (d *Device) count(f func(s *Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// Run simulates the device until ctx ends or, with Config.Until, until
// everything reported before Until is delivered. It returns nil then.
func (d *Device) Run(ctx context.Context) error {
	if d.cfg.Protocol == ProtoOsmAnd {
		return d.runPhone(ctx)
	}
	return d.runStream(ctx)
}

// report produces the next fix and logs the worker's events.
func (d *Device) report(t time.Time) (protocol.Message, State) {
	st := d.cfg.Track.At(t)
	for _, ev := range d.cfg.Track.Events() {
		d.logEvent(ev)
		if ev.Kind == EventArrive && !ev.Visit {
			d.battery = 100 // charged at home
		}
	}
	d.battery = math.Max(15, d.battery-0.0015*d.cfg.Moving.Seconds()) // ~4%/h while reporting
	if st.Moving {
		d.steps += int(d.cfg.Moving.Seconds() * 1.6)
	}
	m := protocol.Message{
		Type: protocol.TypePosition, DeviceID: d.cfg.Ident, Time: t.UTC().Truncate(time.Second),
		Valid: st.Valid, Lat: st.Lat, Lon: st.Lon, SpeedKmh: st.SpeedKmh, Course: math.Round(st.Course),
		Sats: st.Sats, HDOP: math.Round(st.HDOP*10) / 10, AccuracyM: st.AccuracyM, Battery: int(d.battery),
		Steps: d.steps, RSSI: 3 + d.rng.IntN(2),
		MCC: 250, MNC: 1, LAC: 7700 + int64(d.cfg.Seed%50), CID: 20000 + int64(d.rng.IntN(40)),
		Has: protocol.HasBattery | protocol.HasSats | protocol.HasHDOP | protocol.HasSpeed | protocol.HasCourse |
			protocol.HasCell | protocol.HasRSSI,
	}
	select {
	case <-d.sos:
		m.Alarm = "sos"
		d.count(func(s *Stats) { s.Alarms++ })
		d.cfg.Log.Info("SOS alarm", "device", d.cfg.Ident, "sim", m.Time.Format(time.TimeOnly))
	default:
	}
	d.count(func(s *Stats) { s.Generated++ })
	return m, st
}

func (d *Device) logEvent(ev Event) {
	what := "pause"
	if ev.Visit {
		what = "visit"
	}
	kind := "start"
	if ev.Kind == EventLeave {
		kind = "end"
	}
	d.cfg.Log.Info(what+" "+kind, "device", d.cfg.Ident, "protocol", d.cfg.Protocol, "place", ev.Name,
		"sim", ev.Time.Format(time.TimeOnly))
}

// nextReport is when the report after one at t is due.
func (d *Device) nextReport(t time.Time, moving bool) time.Time {
	if !moving {
		return t.Add(d.cfg.Still)
	}
	j := 0.7 + 0.6*d.rng.Float64()
	return t.Add(max(time.Second, time.Duration(float64(d.cfg.Moving)*j)))
}

// backoff returns the wait before reconnect attempt n (0-based), jittered.
func (d *Device) backoff(n int) time.Duration {
	b := d.cfg.Backoff << min(n, 16)
	if b > d.cfg.MaxBackoff || b <= 0 {
		b = d.cfg.MaxBackoff
	}
	return time.Duration(float64(b) * (0.75 + 0.5*d.rng.Float64()))
}

// queue holds positions waiting to be sent, oldest first.
type queue struct {
	items []protocol.Message
	max   int
}

func (q *queue) push(m protocol.Message) (dropped bool) {
	if len(q.items) >= q.max {
		copy(q.items, q.items[1:])
		q.items = q.items[:len(q.items)-1]
		dropped = true
	}
	q.items = append(q.items, m)
	return dropped
}

func (q *queue) pushFront(ms []protocol.Message) {
	q.items = append(append(make([]protocol.Message, 0, len(ms)+len(q.items)), ms...), q.items...)
	if over := len(q.items) - q.max; over > 0 {
		q.items = q.items[over:]
	}
}

func (q *queue) pop() protocol.Message {
	m := q.items[0]
	q.items = q.items[1:]
	return m
}
