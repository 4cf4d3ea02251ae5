package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

const metresPerDegLat = 6371000 * math.Pi / 180

// offset moves (lat, lon) by east/north metres (equirectangular: fine over
// the few kilometres of a round).
func offset(lat, lon, east, north float64) (float64, float64) {
	return lat + north/metresPerDegLat, lon + east/(metresPerDegLat*math.Cos(lat*math.Pi/180))
}

// DistanceM is the distance in metres between two points (haversine).
func DistanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371000
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// bearing is the initial course from the first point to the second, in
// degrees clockwise from north.
func bearing(lat1, lon1, lat2, lon2 float64) float64 {
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dl := (lon2 - lon1) * math.Pi / 180
	y := math.Sin(dl) * math.Cos(p2)
	x := math.Cos(p1)*math.Sin(p2) - math.Sin(p1)*math.Cos(p2)*math.Cos(dl)
	return math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
}

// Stop is a place on a round: the worker's home or a client's home.
type Stop struct {
	Name     string
	Lat, Lon float64
	// RadiusM is the client's geofence radius; during a visit the device
	// stays well inside it (fix noise included). 0 = 40 m.
	RadiusM float64
	// Visit marks a client visit: indoors, with degraded fixes. Otherwise
	// the stop is a pause outdoors (the worker's home between rounds).
	Visit bool
	// MinStay and MaxStay bound the stay (uniform); zero = 3-20 minutes for
	// a visit, 2-5 minutes otherwise.
	MinStay, MaxStay time.Duration
}

// TrackOptions tune the movement; zero values take the defaults.
type TrackOptions struct {
	WalkMS     [2]float64 // walking speed range, default 1.2-1.5 m/s
	RideMS     [2]float64 // riding (bus, car) speed range, default 6-11 m/s
	RideAboveM float64    // legs longer than this are ridden, default 1500 m
	// NoiseM is the outdoor GPS error (standard deviation per axis, metres,
	// default 3); indoors it is IndoorNoiseM (default 8). The error is
	// correlated over NoiseTau (default 60 s), as real receivers drift
	// rather than jump.
	NoiseM, IndoorNoiseM float64
	NoiseTau             time.Duration
	// InvalidIndoor is the share of indoor fixes without a GPS solution
	// (the device repeats its last fix with valid=false). Default 0.1.
	InvalidIndoor float64
}

func (o *TrackOptions) defaults() {
	if o.WalkMS == [2]float64{} {
		o.WalkMS = [2]float64{1.2, 1.5}
	}
	if o.RideMS == [2]float64{} {
		o.RideMS = [2]float64{6, 11}
	}
	if o.RideAboveM == 0 {
		o.RideAboveM = 1500
	}
	if o.NoiseM == 0 {
		o.NoiseM = 3
	}
	if o.IndoorNoiseM == 0 {
		o.IndoorNoiseM = 8
	}
	if o.NoiseTau == 0 {
		o.NoiseTau = 60 * time.Second
	}
	if o.InvalidIndoor == 0 {
		o.InvalidIndoor = 0.1
	}
}

// Event is a change of the worker's activity.
type Event struct {
	Time  time.Time
	Kind  string // EventArrive or EventLeave
	Stop  int    // index into the stops
	Name  string
	Visit bool
}

// Event kinds.
const (
	EventArrive = "arrive"
	EventLeave  = "leave"
)

// State is where the device is at a moment, as its GPS reports it.
type State struct {
	Time             time.Time
	TrueLat, TrueLon float64 // where the worker really is
	Lat, Lon         float64 // what the receiver reports (noise included)
	SpeedKmh, Course float64
	Moving           bool
	Stop             int  // index of the stop the worker is at, -1 on the way
	Indoor           bool // at a client: degraded fixes
	Valid            bool // the receiver has a solution (else Lat/Lon repeat the last one)
	Sats             int
	HDOP             float64
	AccuracyM        float64
}

// segment is a stay at a stop or a straight leg between two stay points.
type segment struct {
	start, end time.Time
	fromLat    float64
	fromLon    float64
	toLat      float64
	toLon      float64
	stop       int // the stop stayed at, or the stop the leg leads to
	stay       bool
	speedMS    float64
}

// Track moves a worker around a round of stops, looping: it stays at a
// stop, walks (or rides, for long legs) a straight leg to the next stop's
// stay point, and so on. It is deterministic for a seed. At must be called
// with non-decreasing times.
type Track struct {
	stops  []Stop
	opt    TrackOptions
	rng    *rand.Rand
	seg    segment
	events []Event

	// correlated receiver error, metres east/north
	noiseE, noiseN float64
	noiseT         time.Time
	sigma          float64
	lastLat        float64
	lastLon        float64
	haveLast       bool
}

// NewTrack starts a track at stops[0] at time start. The first stay is
// shortened at random so devices started together do not move in step.
func NewTrack(stops []Stop, start time.Time, seed uint64, opt TrackOptions) *Track {
	if len(stops) == 0 {
		panic("sim: a track needs at least one stop")
	}
	opt.defaults()
	t := &Track{stops: stops, opt: opt, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	lat, lon := t.stayPoint(0)
	t.seg = t.newStay(0, lat, lon, start)
	t.seg.end = start.Add(time.Duration(t.rng.Float64() * float64(t.seg.end.Sub(start))))
	t.noiseT = start
	return t
}

// Stops returns the stops of the round.
func (t *Track) Stops() []Stop { return t.stops }

func (t *Track) radius(i int) float64 {
	if r := t.stops[i].RadiusM; r > 0 {
		return r
	}
	return 40
}

// stayPoint picks where in (or at) the stop the worker stays: the flat is
// a few metres from the geofence centre.
func (t *Track) stayPoint(i int) (float64, float64) {
	s := t.stops[i]
	r := math.Min(10, t.radius(i)/4) * math.Sqrt(t.rng.Float64())
	a := t.rng.Float64() * 2 * math.Pi
	return offset(s.Lat, s.Lon, r*math.Cos(a), r*math.Sin(a))
}

func (t *Track) newStay(i int, lat, lon float64, start time.Time) segment {
	s := t.stops[i]
	lo, hi := s.MinStay, s.MaxStay
	if lo == 0 && hi == 0 {
		lo, hi = 2*time.Minute, 5*time.Minute
		if s.Visit {
			lo, hi = 3*time.Minute, 20*time.Minute
		}
	}
	if hi < lo {
		hi = lo
	}
	d := lo + time.Duration(t.rng.Float64()*float64(hi-lo))
	return segment{start: start, end: start.Add(d), fromLat: lat, fromLon: lon, toLat: lat, toLon: lon, stop: i, stay: true}
}

// next moves to the segment after the current one, recording events.
func (t *Track) next() {
	cur := t.seg
	if cur.stay {
		s := t.stops[cur.stop]
		t.events = append(t.events, Event{Time: cur.end, Kind: EventLeave, Stop: cur.stop, Name: s.Name, Visit: s.Visit})
		to := (cur.stop + 1) % len(t.stops)
		lat, lon := t.stayPoint(to)
		dist := DistanceM(cur.toLat, cur.toLon, lat, lon)
		sp := t.opt.WalkMS
		if dist > t.opt.RideAboveM {
			sp = t.opt.RideMS
		}
		v := sp[0] + t.rng.Float64()*(sp[1]-sp[0])
		d := time.Duration(dist / v * float64(time.Second))
		t.seg = segment{start: cur.end, end: cur.end.Add(d), fromLat: cur.toLat, fromLon: cur.toLon,
			toLat: lat, toLon: lon, stop: to, speedMS: v}
		return
	}
	s := t.stops[cur.stop]
	t.events = append(t.events, Event{Time: cur.end, Kind: EventArrive, Stop: cur.stop, Name: s.Name, Visit: s.Visit})
	t.seg = t.newStay(cur.stop, cur.toLat, cur.toLon, cur.end)
}

// Events returns (and forgets) the events up to the last At call.
func (t *Track) Events() []Event {
	ev := t.events
	t.events = nil
	return ev
}

// At returns the device's state at ts.
func (t *Track) At(ts time.Time) State {
	for !ts.Before(t.seg.end) {
		t.next()
	}
	seg := t.seg
	st := State{Time: ts, Stop: -1}
	if seg.stay {
		st.TrueLat, st.TrueLon, st.Stop = seg.toLat, seg.toLon, seg.stop
		st.Indoor = t.stops[seg.stop].Visit
	} else {
		f := 0.0
		if total := seg.end.Sub(seg.start); total > 0 {
			f = float64(ts.Sub(seg.start)) / float64(total)
		}
		st.TrueLat = seg.fromLat + f*(seg.toLat-seg.fromLat)
		st.TrueLon = seg.fromLon + f*(seg.toLon-seg.fromLon)
		st.Moving = true
		st.Course = bearing(seg.fromLat, seg.fromLon, seg.toLat, seg.toLon)
		st.SpeedKmh = seg.speedMS * 3.6 * (0.9 + 0.2*t.rng.Float64())
	}
	t.receiver(&st)
	return st
}

// receiver adds the GPS error and the fix quality.
func (t *Track) receiver(st *State) {
	sigma := t.opt.NoiseM
	if st.Indoor {
		sigma = t.opt.IndoorNoiseM
	}
	if t.sigma != 0 && sigma != t.sigma {
		// In or out of a building: the error changes scale at once, the
		// drift keeps its direction.
		t.noiseE, t.noiseN = t.noiseE*sigma/t.sigma, t.noiseN*sigma/t.sigma
	}
	t.sigma = sigma
	// First-order Gauss-Markov error: correlated over NoiseTau.
	dt := st.Time.Sub(t.noiseT).Seconds()
	t.noiseT = st.Time
	a := math.Exp(-dt / t.opt.NoiseTau.Seconds())
	k := sigma * math.Sqrt(1-a*a)
	t.noiseE = a*t.noiseE + k*t.rng.NormFloat64()
	t.noiseN = a*t.noiseN + k*t.rng.NormFloat64()
	e, n := t.noiseE, t.noiseN
	if st.Indoor {
		// Keep indoor scatter well inside the geofence, as at a real flat.
		lim := 0.6 * t.radius(st.Stop)
		if d := math.Hypot(e, n); d > lim {
			e, n = e*lim/d, n*lim/d
		}
		st.Sats = 3 + t.rng.IntN(4)
		st.HDOP = 1.8 + 2.2*t.rng.Float64()
		st.SpeedKmh = 1.5 * t.rng.Float64()
		st.Valid = t.rng.Float64() >= t.opt.InvalidIndoor
	} else {
		st.Sats = 7 + t.rng.IntN(6)
		st.HDOP = 0.7 + 0.7*t.rng.Float64()
		st.Valid = true
		if !st.Moving {
			st.SpeedKmh = 0.5 * t.rng.Float64()
		}
	}
	st.AccuracyM = math.Round(st.HDOP*5*10) / 10
	if !st.Valid && t.haveLast {
		st.Lat, st.Lon = t.lastLat, t.lastLon
		st.SpeedKmh = 0
		return
	}
	st.Valid = true
	st.Lat, st.Lon = offset(st.TrueLat, st.TrueLon, e, n)
	t.lastLat, t.lastLon, t.haveLast = st.Lat, st.Lon, true
}
