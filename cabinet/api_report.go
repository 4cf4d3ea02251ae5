package cabinet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"carevisit/store"
)

// ---- POST /pings ----

// maxPings bounds one upload; a phone that was offline sends several.
const maxPings = 1000

// pingIn is one fix as the app sends it (Android Location's fields).
type pingIn struct {
	Time     string   `json:"time"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
	Accuracy *float64 `json:"accuracy"` // metres
	Speed    *float64 `json:"speed"`    // m/s
	Bearing  *float64 `json:"bearing"`  // degrees
	Altitude *float64 `json:"altitude"` // metres
	Battery  *int     `json:"battery"`  // percent
	Mock     bool     `json:"mock"`     // mock-location provider on
	Provider string   `json:"provider"` // gps, network, fused
}

// rangeCheck validates an optional number: nil is fine.
func rangeCheck(field string, v *float64, lo, hi float64) *apiProblem {
	if v != nil && (*v < lo || *v > hi) {
		return invalid(field, "%s must be between %g and %g", field, lo, hi)
	}
	return nil
}

func checkLatLon(prefix string, lat, lon *float64, required bool) *apiProblem {
	if lat == nil || lon == nil {
		if required || lat != nil || lon != nil {
			f := prefix + "lat"
			if lat != nil {
				f = prefix + "lon"
			}
			return invalid(f, "%s is required", f)
		}
		return nil
	}
	if p := rangeCheck(prefix+"lat", lat, -90, 90); p != nil {
		return p
	}
	return rangeCheck(prefix+"lon", lon, -180, 180)
}

// position validates a fix and converts it for storage.
func (in *pingIn) position(prefix string, deviceID int64, now time.Time) (store.Position, *apiProblem) {
	p := store.Position{DeviceID: deviceID, RecvTime: now, Valid: !in.Mock, AccuracyM: store.NaN32, SpeedKmh: store.NaN32,
		Course: store.NaN32, AltitudeM: store.NaN32, HDOP: store.NaN32, Sats: -1, Battery: -1, Source: "phone"}
	t, bad := parseAppTime(prefix+"time", in.Time, now)
	if bad != nil {
		return p, bad
	}
	p.FixTime = t
	if bad := checkLatLon(prefix, in.Lat, in.Lon, true); bad != nil {
		return p, bad
	}
	p.Lat, p.Lon = *in.Lat, *in.Lon
	for _, c := range []struct {
		name   string
		v      *float64
		lo, hi float64
		dst    *float32
		scale  float64
	}{
		{"accuracy", in.Accuracy, 0, 100000, &p.AccuracyM, 1},
		{"speed", in.Speed, 0, 150, &p.SpeedKmh, 3.6},
		{"bearing", in.Bearing, 0, 360, &p.Course, 1},
		{"altitude", in.Altitude, -1000, 20000, &p.AltitudeM, 1},
	} {
		if bad := rangeCheck(prefix+c.name, c.v, c.lo, c.hi); bad != nil {
			return p, bad
		}
		if c.v != nil {
			*c.dst = float32(*c.v * c.scale)
		}
	}
	if in.Battery != nil {
		if *in.Battery < 0 || *in.Battery > 100 {
			return p, invalid(prefix+"battery", "%sbattery must be between 0 and 100", prefix)
		}
		p.Battery = int16(*in.Battery)
	}
	if len(in.Provider) > 32 {
		return p, invalid(prefix+"provider", "%sprovider is too long", prefix)
	}
	// A network (cell / Wi-Fi) position is coarse, like a tracker's LBS fix.
	p.Approximate = in.Provider == "network"
	attrs := map[string]any{}
	if in.Provider != "" {
		attrs["provider"] = in.Provider
	}
	if in.Mock {
		attrs["mock"] = true
	}
	if len(attrs) > 0 {
		b, _ := json.Marshal(attrs)
		p.Attributes = string(b)
	}
	return p, nil
}

type pingsResult struct {
	Accepted int   `json:"accepted"`
	New      int64 `json:"new"`
}

// apiPings stores a batch of fixes: all or nothing. Every item is
// validated first; the first bad one is reported with its index and nothing
// is stored. The batch is one INSERT (one commit) that skips fixes already
// stored (device + fix time), so a resend after a lost answer is harmless
// and answered the same way.
func (a *App) apiPings(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	var body struct {
		Pings []json.RawMessage `json:"pings"`
	}
	if err := decodeJSON(w, r, maxJSONBody, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(body.Pings) == 0 {
		a.fail(w, r, invalid("pings", "pings must hold at least one fix"))
		return
	}
	if len(body.Pings) > maxPings {
		a.fail(w, r, problem(http.StatusRequestEntityTooLarge, "too_many", "pings", "at most %d fixes per request", maxPings))
		return
	}
	now := time.Now()
	var batch store.PositionBatch
	ps := make([]store.Position, 0, len(body.Pings))
	mockDays := map[string]time.Time{} // local day -> first mock fix
	loc := id.Org.Location()
	for i, raw := range body.Pings {
		prefix := fmt.Sprintf("pings[%d].", i)
		var in pingIn
		p, bad := store.Position{}, (*apiProblem)(nil)
		if err := json.Unmarshal(raw, &in); err != nil {
			bad = jsonProblem(err, fmt.Sprintf("pings[%d]", i))
		} else {
			p, bad = in.position(prefix, id.DeviceID, now)
		}
		if bad != nil {
			bad.Index = &i
			a.fail(w, r, bad)
			return
		}
		if in.Mock {
			day := p.FixTime.In(loc).Format("2006-01-02")
			if t, ok := mockDays[day]; !ok || p.FixTime.Before(t) {
				mockDays[day] = p.FixTime
			}
		}
		batch.Add(&p)
		ps = append(ps, p)
	}
	n, err := a.st.InsertPositions(ctx, &batch)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for day, first := range mockDays {
		a.mockAlert(r, id, day, first, 0)
	}
	if n > 0 {
		// The detector judges presence: a mock fix proves nothing.
		live := slices.DeleteFunc(ps, func(p store.Position) bool { return !p.Valid })
		slices.SortFunc(live, func(x, y store.Position) int { return x.FixTime.Compare(y.FixTime) })
		a.phonePositions(live)
	}
	writeJSON(w, http.StatusOK, pingsResult{Accepted: len(ps), New: n})
}

// mockAlert raises the device's mock-location alert for a local day (one
// per device and day). Failing to raise it does not fail the upload: the
// fixes are stored, marked, and the next upload tries again.
func (a *App) mockAlert(r *http.Request, id *store.AppIdentity, day string, at time.Time, clientID int64) {
	_, err := a.st.RaiseAppAlert(r.Context(), id.Org.ID, "mock_location", fmt.Sprintf("device:%d:%s", id.DeviceID, day),
		id.WorkerID, id.DeviceID, clientID, at, map[string]any{"day": day, "first_fix": at})
	if err != nil {
		a.log.Error("mock-location alert", "device", id.DeviceID, "err", err)
	}
}

// ---- POST /checkins ----

type checkinIn struct {
	ClientID int64    `json:"client_id"`
	Kind     string   `json:"kind"` // "in" or "out"
	Time     string   `json:"time"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
	Accuracy *float64 `json:"accuracy"`
	Mock     bool     `json:"mock"`
}

type createdResult struct {
	ID      int64 `json:"id"`
	Created bool  `json:"created"`
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// apiCheckin records "I arrived" / "I left" at one of the worker's clients.
// A resend is stored once and answered 200 with the same id.
func (a *App) apiCheckin(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	var in checkinIn
	if err := decodeJSON(w, r, maxJSONBody, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	now := time.Now()
	if in.ClientID <= 0 {
		a.fail(w, r, invalid("client_id", "client_id is required"))
		return
	}
	if in.Kind != "in" && in.Kind != "out" {
		a.fail(w, r, invalid("kind", `kind must be "in" or "out"`))
		return
	}
	at, bad := parseAppTime("time", in.Time, now)
	if bad == nil {
		bad = checkLatLon("", in.Lat, in.Lon, false)
	}
	if bad == nil {
		bad = rangeCheck("accuracy", in.Accuracy, 0, 100000)
	}
	if bad != nil {
		a.fail(w, r, bad)
		return
	}
	if err := a.st.AppCheckClient(ctx, id.Org.ID, id.WorkerID, in.ClientID); err != nil {
		a.fail(w, r, err)
		return
	}
	cid, created, err := a.st.AddCheckin(ctx, store.Checkin{OrgID: id.Org.ID, WorkerID: id.WorkerID, DeviceID: id.DeviceID,
		ClientID: in.ClientID, Kind: in.Kind, At: at, Lat: in.Lat, Lon: in.Lon, AccuracyM: in.Accuracy, Mock: in.Mock})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Mock {
		a.mockAlert(r, id, at.In(id.Org.Location()).Format("2006-01-02"), at, in.ClientID)
	}
	writeJSON(w, createdStatus(created), createdResult{ID: cid, Created: created})
}

// ---- POST /services ----

type servicesIn struct {
	ClientID   int64   `json:"client_id"`
	ServiceIDs []int64 `json:"service_ids"`
	Time       string  `json:"time"`
}

type servicesResult struct {
	Accepted int   `json:"accepted"`
	New      int64 `json:"new"`
}

// apiServices records the services ticked at a client: all or none, each
// (worker, client, service, time) once.
func (a *App) apiServices(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	var in servicesIn
	if err := decodeJSON(w, r, maxJSONBody, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.ClientID <= 0 {
		a.fail(w, r, invalid("client_id", "client_id is required"))
		return
	}
	if len(in.ServiceIDs) == 0 || len(in.ServiceIDs) > 100 {
		a.fail(w, r, invalid("service_ids", "service_ids must hold 1 to 100 ids"))
		return
	}
	at, bad := parseAppTime("time", in.Time, time.Now())
	if bad != nil {
		a.fail(w, r, bad)
		return
	}
	if err := a.st.AppCheckClient(ctx, id.Org.ID, id.WorkerID, in.ClientID); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.st.AddServiceTicks(ctx, id.Org.ID, id.WorkerID, in.ClientID, at, in.ServiceIDs)
	var bs *store.BadServiceError
	if errors.As(err, &bs) {
		p := invalid(fmt.Sprintf("service_ids[%d]", bs.Index), "service %d is not an active service of your organisation", bs.ID)
		p.Index = &bs.Index
		a.fail(w, r, p)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, createdStatus(n > 0), servicesResult{Accepted: len(in.ServiceIDs), New: n})
}
