package geofence

import (
	"strings"
	"time"
)

// Source is the kind of device that produced a fix.
type Source string

const (
	SourceTracker Source = "tracker"
	SourcePhone   Source = "phone"
)

// Fix is one position report of a device, as decoded by the ingest layer.
type Fix struct {
	DeviceID  string
	Time      time.Time // when the position was measured (UTC)
	Lat, Lon  float64   // WGS84 degrees
	Valid     bool      // the device's own validity flag
	AccuracyM float64   // horizontal accuracy, metres (~68 %); 0 = unknown
	HDOP      float64   // 0 = unknown
	Sats      int       // satellites used; 0 = unknown or none
	SpeedMS   float64   // ground speed, m/s; negative = unknown
	Source    Source
}

// Flag is something a supervisor should look at on a visit.
type Flag uint8

const (
	// FlagShort: shorter than the organisation's norm (Params.NormDuration).
	FlagShort Flag = 1 << iota
	// FlagUnassigned: the client is not among the worker's assigned clients.
	FlagUnassigned
	// FlagLowEvidence: the visit rests on fewer than Params.MinEvidenceFixes
	// usable position fixes (cell-tower positions and heartbeats are
	// evidence, not proof).
	FlagLowEvidence
)

// Flags is a set of Flag.
type Flags uint8

// Has reports whether f is set.
func (fs Flags) Has(f Flag) bool { return fs&Flags(f) != 0 }

// Names lists the set flags as lower-case words, for JSON and logs.
func (fs Flags) Names() []string {
	var out []string
	for _, x := range []struct {
		f Flag
		n string
	}{{FlagShort, "short"}, {FlagUnassigned, "unassigned"}, {FlagLowEvidence, "low_evidence"}} {
		if fs.Has(x.f) {
			out = append(out, x.n)
		}
	}
	return out
}

func (fs Flags) String() string { return strings.Join(fs.Names(), ",") }

// Evidence summarises the fixes a visit rests on.
type Evidence struct {
	Fixes       int     // all fixes from Start to End (after de-duplication)
	Inside      int     // position fixes that place the worker at the client
	GoodGPS     int     // position fixes with accuracy ≤ 20 m
	Approx      int     // cell-tower / coarse fixes (accuracy > CoarseAccuracyM)
	Heartbeats  int     // valid=false fixes repeating the last position
	Rejected    int     // jumps and other fixes ignored as implausible
	Tracker     int     // fixes from a tracker
	Phone       int     // fixes from a phone
	MaxGapS     float64 // longest time without any fix within the visit, s
	Gaps        int     // silences longer than Params.GapNote within the visit
	MedianDistM float64 // median distance of position fixes to the home, m
	// Neighbour is another candidate client whose home the visit's fixes
	// fit nearly as well (within Params.RevisitPrior nats): neighbours in
	// one block that GPS cannot tell apart. A supervisor checking the
	// visit sees who else it could have been. Empty when the fixes are
	// clear.
	Neighbour       string
	NeighbourMargin float64 // nats by which the chosen client fits better
}

// Visit is a detected visit of a device (worker) to a client.
type Visit struct {
	ID       string // stable while the visit is re-evaluated (live path)
	DeviceID string
	WorkerID string
	ClientID string
	Start    time.Time
	End      time.Time
	Open     bool // the worker is (as far as we know) still there
	Evidence Evidence
	Flags    Flags
}

// Duration is End - Start.
func (v Visit) Duration() time.Duration { return v.End.Sub(v.Start) }

// EventKind says what happened to a visit.
type EventKind uint8

const (
	VisitStarted   EventKind = iota + 1 // a new (open) visit
	VisitUpdated                        // times, evidence or flags changed
	VisitEnded                          // the visit closed
	VisitCancelled                      // re-evaluation with late fixes removed it
	FlagRaised                          // a flag appeared on a visit
)

func (k EventKind) String() string {
	switch k {
	case VisitStarted:
		return "visit_started"
	case VisitUpdated:
		return "visit_updated"
	case VisitEnded:
		return "visit_ended"
	case VisitCancelled:
		return "visit_cancelled"
	case FlagRaised:
		return "flag_raised"
	}
	return "unknown"
}

// Event is emitted by the live detector.
type Event struct {
	Kind  EventKind
	Visit Visit // the visit as it now stands (as last reported for VisitCancelled)
	Flag  Flag  // for FlagRaised
}
