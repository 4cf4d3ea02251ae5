package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file holds the staff cabinet's visit log: the list with filters and
// paging, one visit's page, and supervisors' reviews (confirm, correct,
// annotate). Every query takes a Scope: another organisation's ids, or a
// supervisor's view of a worker outside their groups, read as not found.

// ErrReadOnly is returned when a read-only scope (an auditor) tries a change.
var ErrReadOnly = errors.New("read-only")

// VisitLogFilter selects log rows. Zero fields do not filter.
type VisitLogFilter struct {
	From, To time.Time // rows starting in [From, To)
	WorkerID int64
	GroupID  int64
	ClientID int64
	// Flag: "any" (some flag, or missed), a visit flag (short, unassigned,
	// low_evidence), "neighbour" (a neighbour's home fits nearly as well),
	// "missed" (planned windows with no visit), "open", "corrected" or
	// "reviewed".
	Flag    string
	VisitID int64 // one visit (no missed rows)
	Limit   int   // 0 = 50
	Offset  int
}

// VisitRow is one line of the log: a detected visit, or a missed planned
// visit (Missed; ID is then the missed_visits id and End the window's end).
type VisitRow struct {
	ID            int64
	Missed        bool
	DeviceID      int64
	WorkerID      int64 // 0 = the device had no worker
	WorkerName    string
	GroupName     string
	ClientID      int64
	ClientName    string
	ClientAddress string
	Start, End    time.Time // detected; End zero while open
	LastSeen      time.Time
	DurationS     int
	Flags         []string
	Review        string    // newest review's status, "" = none
	CorrStart     time.Time // newest correction, zero = none
	CorrEnd       time.Time
	Services      []string // services ticked in the app during the visit
	NormMinutes   int      // longest norm of the planned or ticked services, else the organisation's minimum
}

// Open reports whether the visit is in progress.
func (r VisitRow) Open() bool { return !r.Missed && r.End.IsZero() }

// Corrected reports whether a supervisor corrected the times.
func (r VisitRow) Corrected() bool { return !r.CorrStart.IsZero() }

// ShownStart is the corrected start if any, else the detected one.
func (r VisitRow) ShownStart() time.Time {
	if r.Corrected() {
		return r.CorrStart
	}
	return r.Start
}

// ShownEnd is the corrected end if any, else the detected one.
func (r VisitRow) ShownEnd() time.Time {
	if r.Corrected() {
		return r.CorrEnd
	}
	return r.End
}

// ShownDurationS is the duration after corrections (0 while open).
func (r VisitRow) ShownDurationS() int {
	if r.Corrected() {
		return int(r.CorrEnd.Sub(r.CorrStart) / time.Second)
	}
	if r.Open() || r.Missed {
		return 0
	}
	return r.DurationS
}

// Short reports whether the shown duration is below the norm.
func (r VisitRow) Short() bool {
	return !r.Open() && !r.Missed && r.NormMinutes > 0 && r.ShownDurationS() < r.NormMinutes*60
}

// tickSlack widens a visit for the service ticks that belong to it: the
// detected arrival and departure are estimates, and a worker may tick a
// service on the doorstep.
const tickSlack = "5 minutes"

// The norm follows ShortNorm (directory_plans.go): the largest norm of the
// services planned for the visit's window (any worker's plan for the
// client) and of those ticked, else the organisation's minimum.

// visitLogCTE defines lv (visits and missed visits in scope and filter)
// and f (lv with the newest review, after the flag filter). Parameters:
// $1 org, $2 groups (NULL = all), $3 from, $4 to, $5 worker, $6 group,
// $7 client, $8 flag, $9 visit id.
const visitLogCTE = `
WITH lv AS (
	SELECT v.id, false AS missed, v.device_id, coalesce(v.worker_id, 0) AS worker_id, v.client_id, v.start_time,
		v.end_time, v.last_seen, v.duration_s,
		-- "neighbour": the detector found a neighbour's home fitting the
		-- fixes nearly as well (worth a look; not a stored flag)
		v.flags || CASE WHEN v.evidence ? 'neighbour_id' THEN ARRAY['neighbour'] ELSE ARRAY[]::text[] END AS flags
	FROM visits v LEFT JOIN workers w ON w.id = v.worker_id
	WHERE v.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))
		AND v.start_time >= $3 AND v.start_time < $4
		AND ($5 = 0 OR v.worker_id = $5) AND ($6 = 0 OR w.group_id = $6) AND ($7 = 0 OR v.client_id = $7)
		AND ($9 = 0 OR v.id = $9)
	UNION ALL
	SELECT m.id, true, 0, m.worker_id, m.client_id, m.window_start, m.window_end, m.window_end, 0, ARRAY['missed']
	FROM missed_visits m JOIN workers w ON w.id = m.worker_id
	WHERE $9 = 0 AND m.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))
		AND m.window_start >= $3 AND m.window_start < $4
		AND ($5 = 0 OR m.worker_id = $5) AND ($6 = 0 OR w.group_id = $6) AND ($7 = 0 OR m.client_id = $7)
), rv AS (
	-- Reviews are few: join each row's newest review and newest correction
	-- by hash rather than one lookup per row.
	SELECT r.visit_id, r.status, r.start_time, r.end_time, r.at, r.id FROM visit_reviews r
	WHERE r.visit_id IN (SELECT id FROM lv WHERE NOT missed)
), lr AS (
	SELECT DISTINCT ON (visit_id) visit_id, status FROM rv ORDER BY visit_id, at DESC, id DESC
), cr AS (
	SELECT DISTINCT ON (visit_id) visit_id, start_time, end_time FROM rv WHERE status = 'corrected'
	ORDER BY visit_id, at DESC, id DESC
), f AS (
	SELECT lv.*, coalesce(lr.status, '') AS review, cr.start_time AS corr_start, cr.end_time AS corr_end
	FROM lv
	LEFT JOIN lr ON NOT lv.missed AND lr.visit_id = lv.id
	LEFT JOIN cr ON NOT lv.missed AND cr.visit_id = lv.id
	WHERE $8 = ''
		OR ($8 = 'any' AND cardinality(lv.flags) > 0)
		OR ($8 = 'open' AND NOT lv.missed AND lv.end_time IS NULL)
		OR ($8 = 'corrected' AND cr.start_time IS NOT NULL)
		OR ($8 = 'reviewed' AND lr.status IS NOT NULL)
		OR $8 = ANY(lv.flags)
)`

func (f VisitLogFilter) args(sc Scope) []any {
	to := f.To
	if to.IsZero() {
		to = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return []any{sc.OrgID, sc.Groups, f.From, to, f.WorkerID, f.GroupID, f.ClientID, f.Flag, f.VisitID}
}

// VisitLog lists the rows of one page, newest first, and how many rows
// match in all.
func (s *Store) VisitLog(ctx context.Context, sc Scope, f VisitLogFilter) ([]VisitRow, int, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args := append(f.args(sc), f.Limit, f.Offset)
	rows, err := s.Pool.Query(ctx, visitLogCTE+`, p AS (
		SELECT f.*, count(*) OVER () AS total FROM f ORDER BY start_time DESC, id DESC LIMIT $10 OFFSET $11
	)
	SELECT p.id, p.missed, p.device_id, p.worker_id, coalesce(w.full_name, ''), coalesce(g.name, ''), p.client_id,
		c.full_name, c.address, p.start_time, coalesce(p.end_time, '0001-01-01Z'), p.last_seen, p.duration_s, p.flags,
		p.review, coalesce(p.corr_start, '0001-01-01Z'), coalesce(p.corr_end, '0001-01-01Z'),
		coalesce(tk.names, '{}'), coalesce(nullif(greatest(tk.norm, pn.norm), 0), o.min_visit_minutes), p.total
	FROM p
	JOIN organisations o ON o.id = $1
	JOIN clients c ON c.id = p.client_id
	LEFT JOIN workers w ON w.id = p.worker_id
	LEFT JOIN groups g ON g.id = w.group_id
	LEFT JOIN LATERAL (SELECT array_agg(DISTINCT s.name ORDER BY s.name) AS names, max(s.norm_minutes) AS norm
		FROM service_ticks t JOIN services s ON s.id = t.service_id
		WHERE NOT p.missed AND t.worker_id = p.worker_id AND t.client_id = p.client_id
			AND t.at >= p.start_time - interval '`+tickSlack+`'
			AND t.at <= coalesce(p.end_time, greatest(p.last_seen, now())) + interval '`+tickSlack+`') tk ON true
	LEFT JOIN LATERAL (SELECT max(s.norm_minutes) AS norm
		FROM planned_visits pv JOIN services s ON s.id = ANY(pv.service_ids)
		CROSS JOIN LATERAL (SELECT p.start_time AT TIME ZONE o.timezone AS ls,
			coalesce(p.end_time, greatest(p.last_seen, p.start_time)) AT TIME ZONE o.timezone AS le) lt
		WHERE pv.org_id = $1 AND pv.active AND pv.client_id = p.client_id AND s.org_id = $1
			AND pv.weekday = extract(isodow FROM lt.ls)
			AND lt.ls::date + make_interval(mins => pv.start_min) < lt.le
			AND lt.ls::date + make_interval(mins => pv.end_min) > lt.ls) pn ON true
	ORDER BY p.start_time DESC, p.id DESC`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: visit log: %w", err)
	}
	total := 0
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VisitRow, error) {
		var v VisitRow
		err := r.Scan(&v.ID, &v.Missed, &v.DeviceID, &v.WorkerID, &v.WorkerName, &v.GroupName, &v.ClientID,
			&v.ClientName, &v.ClientAddress, &v.Start, &v.End, &v.LastSeen, &v.DurationS, &v.Flags,
			&v.Review, &v.CorrStart, &v.CorrEnd, &v.Services, &v.NormMinutes, &total)
		v.End, v.CorrStart, v.CorrEnd = zeroYear1(v.End), zeroYear1(v.CorrStart), zeroYear1(v.CorrEnd)
		return v, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: visit log: %w", err)
	}
	if len(out) == 0 && f.Offset > 0 {
		// Past the last page: count without paging.
		err = s.Pool.QueryRow(ctx, visitLogCTE+` SELECT count(*) FROM f`, f.args(sc)...).Scan(&total)
		if err != nil {
			return nil, 0, fmt.Errorf("store: visit log count: %w", err)
		}
	}
	return out, total, nil
}

func zeroYear1(t time.Time) time.Time {
	if t.Year() == 1 {
		return time.Time{}
	}
	return t
}

// VisitStat is one closed visit for the log's charts.
type VisitStat struct {
	Start      time.Time
	DurationS  int // after corrections
	WorkerID   int64
	WorkerName string
}

// MaxVisitStats caps the rows behind the charts.
const MaxVisitStats = 50000

// VisitStats lists the closed visits matching f (paging ignored), for
// charts over the whole selection rather than one page.
func (s *Store) VisitStats(ctx context.Context, sc Scope, f VisitLogFilter) ([]VisitStat, error) {
	rows, err := s.Pool.Query(ctx, visitLogCTE+`
	SELECT f.start_time, CASE WHEN f.corr_start IS NOT NULL
			THEN extract(epoch FROM f.corr_end - f.corr_start)::int ELSE f.duration_s END,
		f.worker_id, coalesce(w.full_name, '')
	FROM f LEFT JOIN workers w ON w.id = f.worker_id
	WHERE NOT f.missed AND f.end_time IS NOT NULL
	ORDER BY f.start_time LIMIT `+fmt.Sprint(MaxVisitStats), f.args(sc)...)
	if err != nil {
		return nil, fmt.Errorf("store: visit stats: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VisitStat, error) {
		var v VisitStat
		err := r.Scan(&v.Start, &v.DurationS, &v.WorkerID, &v.WorkerName)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: visit stats: %w", err)
	}
	return out, nil
}

// VisitDetail is one visit's page: the log row, the evidence and the
// client's home geofence.
type VisitDetail struct {
	VisitRow
	Evidence json.RawMessage
	Client   Client
}

// VisitByID returns a visit in scope, or ErrNotFound.
func (s *Store) VisitByID(ctx context.Context, sc Scope, id int64) (VisitDetail, error) {
	var d VisitDetail
	if id <= 0 {
		return d, ErrNotFound
	}
	rows, _, err := s.VisitLog(ctx, sc, VisitLogFilter{VisitID: id, Limit: 1})
	if err != nil {
		return d, err
	}
	if len(rows) == 0 {
		return d, ErrNotFound
	}
	d.VisitRow = rows[0]
	var ev, poly string
	c := &d.Client
	err = s.Pool.QueryRow(ctx, `SELECT v.evidence::text, c.id, c.org_id, c.full_name, c.address, c.fence_kind,
		coalesce(c.center_lat, 0), coalesce(c.center_lon, 0), coalesce(c.radius_m, 0), coalesce(c.polygon::text, '')
		FROM visits v JOIN clients c ON c.id = v.client_id WHERE v.id = $1 AND v.org_id = $2`, id, sc.OrgID).
		Scan(&ev, &c.ID, &c.OrgID, &c.FullName, &c.Address, &c.FenceKind, &c.CenterLat, &c.CenterLon, &c.RadiusM, &poly)
	if err != nil {
		return d, fmt.Errorf("store: visit %d: %w", id, notFound(err))
	}
	d.Evidence = json.RawMessage(ev)
	if poly != "" {
		if err := json.Unmarshal([]byte(poly), &c.Polygon); err != nil {
			return d, fmt.Errorf("store: client %d polygon: %w", c.ID, err)
		}
	}
	return d, nil
}

// VisitReview is a supervisor's confirmation, correction or note.
type VisitReview struct {
	ID         int64
	VisitID    int64
	UserID     int64
	UserName   string
	At         time.Time
	Status     string    // confirmed, corrected, annotated
	Start, End time.Time // corrected times (zero unless corrected)
	Reason     string
}

// Review statuses a supervisor may set.
const (
	ReviewConfirmed = "confirmed"
	ReviewCorrected = "corrected"
	ReviewAnnotated = "annotated"
)

// VisitReviews lists a visit's reviews, newest first (the visit must be in
// scope).
func (s *Store) VisitReviews(ctx context.Context, sc Scope, visitID int64) ([]VisitReview, error) {
	rows, err := s.Pool.Query(ctx, `SELECT r.id, r.visit_id, coalesce(r.user_id, 0), coalesce(u.full_name, ''), r.at,
		r.status, coalesce(r.start_time, '0001-01-01Z'), coalesce(r.end_time, '0001-01-01Z'), r.reason
		FROM visit_reviews r JOIN visits v ON v.id = r.visit_id LEFT JOIN workers w ON w.id = v.worker_id
		LEFT JOIN users u ON u.id = r.user_id
		WHERE r.visit_id = $1 AND v.org_id = $2 AND ($3::bigint[] IS NULL OR w.group_id = ANY($3))
		ORDER BY r.at DESC, r.id DESC`, visitID, sc.OrgID, sc.Groups)
	if err != nil {
		return nil, fmt.Errorf("store: visit reviews: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VisitReview, error) {
		var v VisitReview
		err := r.Scan(&v.ID, &v.VisitID, &v.UserID, &v.UserName, &v.At, &v.Status, &v.Start, &v.End, &v.Reason)
		v.Start, v.End = zeroYear1(v.Start), zeroYear1(v.End)
		return v, err
	})
}

// ReviewVisit records a review and its audit entry in one transaction.
// The detected times in visits are never changed; a correction carries the
// new times (End after Start), other statuses none.
func (s *Store) ReviewVisit(ctx context.Context, sc Scope, rv VisitReview) (int64, error) {
	if sc.ReadOnly {
		return 0, ErrReadOnly
	}
	switch rv.Status {
	case ReviewConfirmed, ReviewAnnotated:
		rv.Start, rv.End = time.Time{}, time.Time{}
	case ReviewCorrected:
		if rv.Start.IsZero() || !rv.End.After(rv.Start) {
			return 0, fmt.Errorf("store: review visit %d: the end must follow the start", rv.VisitID)
		}
	default:
		return 0, fmt.Errorf("store: review visit %d: status %q", rv.VisitID, rv.Status)
	}
	if rv.Reason == "" {
		return 0, fmt.Errorf("store: review visit %d: a reason is required", rv.VisitID)
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var start, end, cs, ce time.Time
		var prev string
		err := tx.QueryRow(ctx, `SELECT v.start_time, coalesce(v.end_time, '0001-01-01Z'),
			coalesce((SELECT status FROM visit_reviews WHERE visit_id = v.id ORDER BY at DESC, id DESC LIMIT 1), ''),
			coalesce(cr.start_time, '0001-01-01Z'), coalesce(cr.end_time, '0001-01-01Z')
			FROM visits v LEFT JOIN workers w ON w.id = v.worker_id
			LEFT JOIN LATERAL (SELECT start_time, end_time FROM visit_reviews WHERE visit_id = v.id AND status = 'corrected'
				ORDER BY at DESC, id DESC LIMIT 1) cr ON true
			WHERE v.id = $1 AND v.org_id = $2 AND ($3::bigint[] IS NULL OR w.group_id = ANY($3))
			FOR UPDATE OF v`, rv.VisitID, sc.OrgID, sc.Groups).Scan(&start, &end, &prev, &cs, &ce)
		if err != nil {
			return notFound(err)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO visit_reviews (visit_id, user_id, status, start_time, end_time, reason)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, rv.VisitID, nullID(sc.UserID), rv.Status,
			nullTimeArg(rv.Start), nullTimeArg(rv.End), rv.Reason).Scan(&id); err != nil {
			return err
		}
		before := reviewSnapshot(prev, start, end, cs, ce)
		after := reviewSnapshot(prev, start, end, cs, ce)
		after["status"] = rv.Status
		if rv.Status == ReviewCorrected {
			after["start"], after["end"] = rv.Start.UTC(), rv.End.UTC()
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: rv.Status, Entity: "visit",
			EntityID: rv.VisitID, Reason: rv.Reason}, before, after)
	})
	if err != nil {
		return 0, fmt.Errorf("store: review visit %d: %w", rv.VisitID, err)
	}
	return id, nil
}

// reviewSnapshot is a visit's shown state for the audit log.
func reviewSnapshot(status string, start, end, cs, ce time.Time) map[string]any {
	m := map[string]any{"status": status, "detected_start": start.UTC(), "start": start.UTC()}
	if !end.IsZero() && end.Year() > 1 {
		m["detected_end"], m["end"] = end.UTC(), end.UTC()
	}
	if cs.Year() > 1 {
		m["start"], m["end"] = cs.UTC(), ce.UTC()
	}
	return m
}

func nullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// LogWorker is a worker as the log's filters and the live map see one.
type LogWorker struct {
	ID       int64
	Name     string
	GroupID  int64
	DeviceID int64 // 0 = none
}

// LogWorkers lists the workers in scope, by name.
func (s *Store) LogWorkers(ctx context.Context, sc Scope) ([]LogWorker, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, full_name, coalesce(group_id, 0), coalesce(device_id, 0) FROM workers
		WHERE org_id = $1 AND ($2::bigint[] IS NULL OR group_id = ANY($2)) ORDER BY full_name, id`, sc.OrgID, sc.Groups)
	if err != nil {
		return nil, fmt.Errorf("store: workers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogWorker, error) {
		var w LogWorker
		err := r.Scan(&w.ID, &w.Name, &w.GroupID, &w.DeviceID)
		return w, err
	})
}

// LogWorkerByID returns a worker in scope, or ErrNotFound.
func (s *Store) LogWorkerByID(ctx context.Context, sc Scope, id int64) (LogWorker, error) {
	var w LogWorker
	err := s.Pool.QueryRow(ctx, `SELECT id, full_name, coalesce(group_id, 0), coalesce(device_id, 0) FROM workers
		WHERE id = $3 AND org_id = $1 AND ($2::bigint[] IS NULL OR group_id = ANY($2))`, sc.OrgID, sc.Groups, id).
		Scan(&w.ID, &w.Name, &w.GroupID, &w.DeviceID)
	return w, notFound(err)
}

// LogClient is a client as the log's filter lists one.
type LogClient struct {
	ID   int64
	Name string
}

// LogClients lists the clients in scope: the whole organisation's, or for
// a supervisor those served by the workers of their groups.
func (s *Store) LogClients(ctx context.Context, sc Scope) ([]LogClient, error) {
	rows, err := s.Pool.Query(ctx, `SELECT c.id, c.full_name FROM clients c WHERE c.org_id = $1
		AND ($2::bigint[] IS NULL OR EXISTS (SELECT 1 FROM worker_clients wc JOIN workers w ON w.id = wc.worker_id
			WHERE wc.client_id = c.id AND w.group_id = ANY($2)))
		ORDER BY c.full_name, c.id`, sc.OrgID, sc.Groups)
	if err != nil {
		return nil, fmt.Errorf("store: clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogClient, error) {
		var c LogClient
		err := r.Scan(&c.ID, &c.Name)
		return c, err
	})
}

// TrackVisit is a visit drawn on a worker's day track.
type TrackVisit struct {
	ID         int64
	ClientName string
	Start, End time.Time // End zero while open
	Lat, Lon   float64   // the home's centre (a polygon's first vertex)
	Flags      []string
}

// WorkerDayVisits lists the visits of a worker in scope that overlap
// [from, to), oldest first.
func (s *Store) WorkerDayVisits(ctx context.Context, sc Scope, workerID int64, from, to time.Time) ([]TrackVisit, error) {
	rows, err := s.Pool.Query(ctx, `SELECT v.id, c.full_name, v.start_time, coalesce(v.end_time, '0001-01-01Z'),
		coalesce(c.center_lat, (c.polygon->0->>1)::float8, 0), coalesce(c.center_lon, (c.polygon->0->>0)::float8, 0), v.flags
		FROM visits v JOIN workers w ON w.id = v.worker_id JOIN clients c ON c.id = v.client_id
		WHERE v.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)) AND v.worker_id = $3
			AND v.start_time < $5 AND coalesce(v.end_time, 'infinity') > $4
		ORDER BY v.start_time`, sc.OrgID, sc.Groups, workerID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: worker day visits: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TrackVisit, error) {
		var v TrackVisit
		err := r.Scan(&v.ID, &v.ClientName, &v.Start, &v.End, &v.Lat, &v.Lon, &v.Flags)
		v.End = zeroYear1(v.End)
		return v, err
	})
}
