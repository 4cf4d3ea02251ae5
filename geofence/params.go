package geofence

import "time"

// Params are the detector's knobs. Every value has a physical meaning; the
// reasons are given here and in docs/visits.md. DefaultParams is what the
// benchmark numbers were measured with.
type Params struct {
	// CoarseAccuracyM: fixes with a worse accuracy are cell-tower (LBS)
	// positions (300-1500 m). They show the device is alive but cannot tell
	// one entrance from the next, so they never move the decision.
	CoarseAccuracyM float64
	// HDOPToM converts a tracker's HDOP to an accuracy in metres (a typical
	// single-frequency receiver error of ~5 m per unit of HDOP).
	HDOPToM float64
	// UnknownAccuracyM is assumed when a fix has neither accuracy nor HDOP.
	UnknownAccuracyM float64
	// HeartbeatAccuracyM: a valid=false fix without accuracy repeats the
	// last known position; it says "still here" only as well as that
	// position did, and indoors that was the last fix at the door.
	HeartbeatAccuracyM float64

	// CoreM is the distance from the home (circle centre; polygon: 10 m
	// inside the outline) within which a good fix counts as "at the client".
	// Indoors, fixes scatter 10-30 m around the flat (multipath through
	// walls), so the break-even point sits at CoreM + AccuracyShare*accuracy.
	CoreM float64
	// AccuracyShare of a fix's accuracy (capped at MaxAccuracyM) widens the
	// core: a Wi-Fi fix with 40 m accuracy 45 m away is still consistent.
	AccuracyShare float64
	MaxAccuracyM  float64
	// InFenceFloor bounds the support of a fix beyond the break-even
	// distance but still inside the geofence (plus GateM and accuracy):
	// weak evidence of leaving, since indoor multipath holds fixes 40-70 m
	// off for minutes; only fixes outside the fence count fully (-1).
	InFenceFloor float64
	// HeartbeatInFence is the least support of a heartbeat repeating a
	// position inside the geofence: trackers send heartbeats when they sit
	// still (motion-triggered) or lose GPS indoors, both signs of a visit;
	// a worker waiting outside at a light keeps a GPS fix.
	HeartbeatInFence float64
	// HeartbeatChainGap: a heartbeat that follows a silence longer than
	// this says nothing about the position (trackers heartbeat every 1-5
	// minutes; after a silence the repeated position can be stale).
	HeartbeatChainGap time.Duration
	// GateM: a fix farther than this (plus its accuracy) outside the
	// geofence itself never supports the client, whatever the distance to
	// the centre: the configured geofence has the last word.
	GateM float64
	// PolygonSlackM is added to GateM for polygon fences: indoor fixes
	// scatter 20-40 m around the flat, beyond the building's outline.
	PolygonSlackM float64
	// VehicleSpeedMS: a GPS speed above this is a bus or car, never a
	// person inside a flat (indoor GPS speed noise stays under 1.5 m/s).
	VehicleSpeedMS float64
	// JumpM: a fix farther than this from both of its neighbours, which are
	// close to each other, is a single-fix jump and is ignored. Multipath
	// bursts (30-150 m) are left to the smoothing below. A lone fix between
	// two silences longer than BridgeGap is held to StillM instead: a
	// device that moves reports often, so it sat still.
	JumpM float64

	// BridgeGap and BridgeSupport: a position fix next to a silence longer
	// than BridgeGap supports, at least BridgeSupport, every client whose
	// geofence holds it and the fix across the silence (the worker went
	// quiet inside the geofence and came back inside it).
	BridgeGap     time.Duration
	BridgeSupport float64

	// WeightCap: a fix speaks for the time around it, half-way to each
	// neighbour, but for no more than WeightCap on each side: across a long
	// silence the fixes on both sides share the time, up to a limit.
	WeightCap time.Duration
	// SwitchPenalty is the cost, in seconds of fully supporting fixes, of
	// entering or leaving a visit. A visit must be supported by at least
	// 2*SwitchPenalty of evidence, and an excursion shorter than that
	// (multipath burst, a cell fix, noise) does not split a visit.
	SwitchPenalty time.Duration
	// ClientSwitchPenalty is the cost of going from one client straight to
	// another (neighbours in one building, back to back). Indoor noise is
	// correlated in time and drifts towards a neighbour's entrance for
	// minutes, so this is much higher than leaving and entering.
	ClientSwitchPenalty time.Duration
	// OutdoorAccuracyM and TransitSpeedMS define a transit fix (clear sky
	// and moving): there a change of client costs only 2*SwitchPenalty.
	OutdoorAccuracyM float64
	TransitSpeedMS   float64
	// TransitSupport caps the support of a transit fix: walking outdoors is
	// evidence of not being inside, whatever the distance.
	TransitSupport float64
	// IndoorNoiseM and NoiseCorrelation describe how indoor fixes wander
	// around their visit's mean position: 13 m (per axis), correlated over
	// ~90 s. A fix counts as min(its time, NoiseCorrelation) /
	// NoiseCorrelation of an independent sample.
	IndoorNoiseM     float64
	NoiseCorrelation time.Duration
	// VisitOffsetM: the mean of a visit's fixes sits this far (per axis)
	// from the geocoded home: the geocode is a few metres off the flat and
	// the walls bend the signal the same way for the whole visit.
	VisitOffsetM float64
	// SplitPrior: the log-likelihood ratio (nats) a change of centroid
	// must reach to split a stay into visits of two clients.
	SplitPrior float64
	// RevisitGap and RevisitPrior: a worker visits a client once a shift
	// (home care is planned as a few visits a week per client). When two
	// visits to one client fall within RevisitGap, the one whose fixes
	// fit a neighbour's home nearly as well (within RevisitPrior nats, odds
	// of ~20:1) goes to that neighbour, if the neighbour has no visit in
	// the shift. Fixes that clearly say the same client twice are kept.
	RevisitGap   time.Duration
	RevisitPrior float64
	// UnassignedPenalty and UnassignedPrior: a home not assigned to the
	// worker (a candidate with Assigned=false, e.g. a colleague's client
	// visited as a substitute) wins a stay that also touches an assigned
	// home only on clearly better evidence: UnassignedPenalty more of
	// time-weighted support in the client Viterbi, UnassignedPrior nats
	// more in the centroid fit. Where the fixes cannot tell, the visit is
	// put on the worker's own client.
	UnassignedPenalty time.Duration
	UnassignedPrior   float64
	// PlanBonus and PlanPrior: a client whose visit is on the worker's
	// schedule at the time of a stay (Candidate.Planned) starts that much
	// ahead in the client Viterbi (PlanBonus of support) and the centroid
	// fit (PlanPrior nats): it wins where the fixes fit two neighbours
	// about equally, not where they clearly say the other.
	PlanBonus time.Duration
	PlanPrior float64
	// MaxNearby bounds how many unassigned homes the live detector adds
	// for a device (homes where it stood still; see NearbyFunc).
	MaxNearby int
	// CloudM: fixes farther than this (plus accuracy) from every home the
	// stay touches are left out of the centroids (multipath, approach).
	CloudM float64
	// OutdoorRatio: GPS fixes with an accuracy within this times the
	// device's accuracy while walking (within the hour) look outdoors:
	// indoors the ratio is 1.8-2 at the median (1.0-1.2 at p10), outdoor
	// stops and doorsteps 0.5-1.25. A part of a stay that looks outdoors
	// throughout (no Wi-Fi, cell-tower or heartbeat fixes) is not split off
	// as a visit of its own (a stop on the way), and open-sky fixes at the
	// edges of an indoor visit are the worker waiting at the door.
	OutdoorRatio float64
	// MaxSilence: a visit never spans a silence longer than this (motion
	// triggered trackers are silent for a whole visit, at most ~1.5 h).
	MaxSilence time.Duration

	// MergeGap and AwayM: two stretches at the same client less than
	// MergeGap apart are one visit unless a fix in between shows the
	// worker on the move outdoors or farther than AwayM from the home
	// (indoor noise and multipath push fixes out for a minute or two).
	MergeGap time.Duration
	AwayM    float64

	// WalkSpeedMS and DoorM place the start and end between the last fix
	// outside and the first fix inside: the worker walks at ~1.3 m/s and the
	// door is about DoorM from the home's centre.
	WalkSpeedMS float64
	DoorM       float64
	// WalkingSpeedMS: a GPS speed at or above this is a walk (people walk
	// at 1-1.6 m/s; 90 % of indoor fixes read less).
	WalkingSpeedMS float64
	// StillM: fixes before and after a silence closer than this mean the
	// device did not move (indoor scatter is 10-40 m).
	StillM float64
	// SilenceReports: an interval longer than this many usual report
	// intervals is a silence, not an ordinary gap between two fixes.
	SilenceReports float64
	// MinDuration: shorter detections are dropped. Real visits last at
	// least 2 minutes; stops at crossings and bus stops of a minute or two
	// near a client's door do not count.
	MinDuration time.Duration

	// NormDuration: visits shorter than this get FlagShort (the
	// organisation's norm; set per organisation).
	NormDuration time.Duration
	// MinEvidenceFixes: fewer position fixes at the client than this gives
	// FlagLowEvidence.
	MinEvidenceFixes int
	// GapNote: silences longer than this inside a visit are counted in the
	// evidence.
	GapNote time.Duration
}

// DefaultParams returns the parameters used for the benchmark.
func DefaultParams() Params {
	return Params{
		CoarseAccuracyM:     100,
		HDOPToM:             5,
		UnknownAccuracyM:    15,
		HeartbeatAccuracyM:  20,
		CoreM:               30,
		AccuracyShare:       1.0,
		MaxAccuracyM:        60,
		InFenceFloor:        -0.2,
		HeartbeatInFence:    0.4,
		HeartbeatChainGap:   30 * time.Minute,
		GateM:               10,
		PolygonSlackM:       15,
		VehicleSpeedMS:      2.5,
		JumpM:               150,
		BridgeGap:           5 * time.Minute,
		BridgeSupport:       0.5,
		WeightCap:           5 * time.Minute,
		SwitchPenalty:       40 * time.Second,
		ClientSwitchPenalty: 10 * time.Minute,
		OutdoorAccuracyM:    6,
		TransitSpeedMS:      0.7,
		TransitSupport:      0,
		IndoorNoiseM:        13,
		NoiseCorrelation:    90 * time.Second,
		VisitOffsetM:        10,
		SplitPrior:          3,
		RevisitGap:          12 * time.Hour,
		RevisitPrior:        3,
		UnassignedPenalty:   10 * time.Minute,
		UnassignedPrior:     3,
		MaxNearby:           32,
		PlanBonus:           5 * time.Minute,
		PlanPrior:           3,
		CloudM:              60,
		OutdoorRatio:        1.3,
		MaxSilence:          3 * time.Hour,
		MergeGap:            10 * time.Minute,
		AwayM:               150,
		WalkSpeedMS:         1.3,
		WalkingSpeedMS:      0.9,
		StillM:              50,
		SilenceReports:      3,
		DoorM:               10,
		MinDuration:         120 * time.Second,
		NormDuration:        10 * time.Minute,
		MinEvidenceFixes:    2,
		GapNote:             5 * time.Minute,
	}
}
