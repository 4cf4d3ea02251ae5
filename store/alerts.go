package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alert kinds (alerts.kind).
const (
	AlertKindSOS          = "sos"
	AlertKindShortVisit   = "short_visit"
	AlertKindMissedVisit  = "missed_visit"
	AlertKindOffline      = "offline"
	AlertKindLowBattery   = "low_battery"
	AlertKindDispute      = "dispute"
	AlertKindMockLocation = "mock_location"
	AlertKindUnassigned   = "unassigned_visit"
)

// AlertKinds lists every kind, in the order the cabinet shows them.
var AlertKinds = []string{AlertKindSOS, AlertKindMissedVisit, AlertKindShortVisit, AlertKindUnassigned,
	AlertKindOffline, AlertKindLowBattery, AlertKindDispute, AlertKindMockLocation}

// Alert is one alert. WorkerName, ClientName and GroupID are read back
// (the worker is the alert's own, else the visit's, else the device's).
type Alert struct {
	ID         int64
	OrgID      int64
	Kind       string
	WorkerID   int64
	DeviceID   int64
	ClientID   int64
	VisitID    int64
	At         time.Time
	DedupKey   string // one alert per subject and period (per org and kind)
	Details    json.RawMessage
	SeenAt     time.Time
	SeenBy     int64
	WorkerName string
	ClientName string
	GroupID    int64
}

// AddAlert stores an alert unless one with the same org, kind and dedup
// key exists; created says which. q may be a transaction (nil = pool).
func (s *Store) AddAlert(ctx context.Context, q Querier, a Alert) (id int64, created bool, err error) {
	if q == nil {
		q = s.Pool
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	det := string(a.Details)
	if det == "" {
		det = "{}"
	}
	err = q.QueryRow(ctx, `INSERT INTO alerts (org_id, kind, worker_id, device_id, client_id, visit_id, at, dedup_key, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) ON CONFLICT (org_id, kind, dedup_key) DO NOTHING RETURNING id`,
		a.OrgID, a.Kind, nullID(a.WorkerID), nullID(a.DeviceID), nullID(a.ClientID), nullID(a.VisitID), a.At,
		a.DedupKey, det).Scan(&id)
	if err == pgx.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: add alert %s: %w", a.Kind, err)
	}
	return id, true, nil
}

// Alert thresholds used by RaiseAlerts.
const (
	SOSLookback       = time.Hour        // SOS fixes older than this raise nothing new
	SOSBurstGap       = 30 * time.Minute // SOS fixes closer than this are one alarm
	OfflineAfter      = 30 * time.Minute
	WorkdayStartHour  = 8
	WorkdayEndHour    = 20
	LowBatteryPercent = 15
	lowBatteryFresh   = time.Hour
	shortLookback     = 24 * time.Hour
)

// RaiseAlerts creates the alerts that positions and visits call for at
// now and returns the new ones. Safe to run often and from several
// servers: each alert has a dedup key, so it is created once.
//   - sos: a fix with alarm 'sos' that starts a burst (no SOS fix of the
//     device in the SOSBurstGap before it); one per burst.
//   - short_visit: a closed visit flagged short and not yet reviewed.
//   - unassigned_visit: a closed visit to a client not assigned to the
//     worker, not yet reviewed.
//   - offline: a worker's device with no fix for OfflineAfter within
//     working hours (08:00-20:00 local, Monday to Friday); one per device
//     and local day.
//   - low_battery: the newest fix (within an hour) reports a battery below
//     LowBatteryPercent; one per device and local day.
func (s *Store) RaiseAlerts(ctx context.Context, now time.Time) ([]Alert, error) {
	var cands []Alert
	add := func(q string, args ...any) error {
		rows, err := s.Pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
			var a Alert
			var det string
			err := r.Scan(&a.OrgID, &a.Kind, &a.WorkerID, &a.DeviceID, &a.ClientID, &a.VisitID, &a.At, &a.DedupKey, &det)
			a.Details = json.RawMessage(det)
			return a, err
		})
		cands = append(cands, got...)
		return err
	}
	// Every candidate query skips subjects already alerted (the unique
	// index answers), so a run costs little when nothing happens.
	err := add(`SELECT d.org_id, 'sos', coalesce(w.id, 0), d.id, 0, 0, p.fix_time,
			'device:' || d.id || ':' || floor(extract(epoch FROM p.fix_time))::bigint,
			json_build_object('lat', p.lat, 'lon', p.lon, 'fix_time', p.fix_time)::text
		FROM positions p JOIN devices d ON d.id = p.device_id LEFT JOIN workers w ON w.device_id = d.id
		WHERE p.alarm = 'sos' AND p.fix_time > $1 AND p.fix_time <= $2 AND d.org_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM positions q WHERE q.device_id = p.device_id AND q.alarm = 'sos'
				AND q.fix_time < p.fix_time AND q.fix_time >= p.fix_time - $3::interval)
			AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.org_id = d.org_id AND a.kind = 'sos'
				AND a.dedup_key = 'device:' || d.id || ':' || floor(extract(epoch FROM p.fix_time))::bigint)`,
		now.Add(-SOSLookback), now.Add(5*time.Minute), SOSBurstGap)
	if err == nil {
		err = add(`SELECT v.org_id, 'short_visit', coalesce(v.worker_id, 0), v.device_id, v.client_id, v.id, v.end_time,
				'visit:' || v.id, json_build_object('duration_s', v.duration_s, 'start', v.start_time, 'end', v.end_time)::text
			FROM visits v
			WHERE 'short' = ANY(v.flags) AND v.end_time IS NOT NULL AND v.end_time > $1 AND v.end_time <= $2
				AND v.org_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM visit_reviews r WHERE r.visit_id = v.id)
				AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.org_id = v.org_id AND a.kind = 'short_visit'
					AND a.dedup_key = 'visit:' || v.id)`, now.Add(-shortLookback), now)
	}
	if err == nil {
		err = add(`SELECT v.org_id, 'unassigned_visit', coalesce(v.worker_id, 0), v.device_id, v.client_id, v.id, v.end_time,
				'visit:' || v.id, json_build_object('duration_s', v.duration_s, 'start', v.start_time, 'end', v.end_time)::text
			FROM visits v
			WHERE 'unassigned' = ANY(v.flags) AND v.end_time IS NOT NULL AND v.end_time > $1 AND v.end_time <= $2
				AND v.org_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM visit_reviews r WHERE r.visit_id = v.id)
				AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.org_id = v.org_id AND a.kind = 'unassigned_visit'
					AND a.dedup_key = 'visit:' || v.id)`, now.Add(-shortLookback), now)
	}
	if err == nil {
		err = add(`SELECT d.org_id, 'low_battery', coalesce(w.id, 0), d.id, 0, 0, lp.fix_time,
				'device:' || d.id || ':' || to_char(lp.fix_time AT TIME ZONE o.timezone, 'YYYY-MM-DD'),
				json_build_object('battery', lp.battery, 'fix_time', lp.fix_time)::text
			FROM device_last_position lp JOIN devices d ON d.id = lp.device_id
			JOIN organisations o ON o.id = d.org_id LEFT JOIN workers w ON w.device_id = d.id
			WHERE lp.battery IS NOT NULL AND lp.battery >= 0 AND lp.battery < $3 AND NOT d.disabled
				AND lp.fix_time > $1 AND lp.fix_time <= $2
				AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.org_id = d.org_id AND a.kind = 'low_battery'
					AND a.dedup_key = 'device:' || d.id || ':' || to_char(lp.fix_time AT TIME ZONE o.timezone, 'YYYY-MM-DD'))`,
			now.Add(-lowBatteryFresh), now.Add(5*time.Minute), LowBatteryPercent)
	}
	if err == nil {
		err = s.offlineCandidates(ctx, now, &cands)
	}
	if err != nil {
		return nil, fmt.Errorf("store: raise alerts: %w", err)
	}
	var out []Alert
	for _, a := range cands {
		id, created, err := s.AddAlert(ctx, nil, a)
		if err != nil {
			return out, err
		}
		if created {
			a.ID = id
			out = append(out, a)
		}
	}
	return out, nil
}

// offlineCandidates finds workers' devices silent for OfflineAfter of
// today's working hours in their organisation's zone.
func (s *Store) offlineCandidates(ctx context.Context, now time.Time, cands *[]Alert) error {
	rows, err := s.Pool.Query(ctx, `SELECT d.org_id, w.id, d.id, o.timezone, lp.fix_time
		FROM devices d JOIN workers w ON w.device_id = d.id AND w.org_id = d.org_id
		JOIN organisations o ON o.id = d.org_id JOIN device_last_position lp ON lp.device_id = d.id
		WHERE NOT d.disabled AND lp.fix_time < $1`, now.Add(-OfflineAfter))
	if err != nil {
		return err
	}
	type dev struct {
		org, worker, device int64
		tz                  string
		last                time.Time
	}
	devs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dev, error) {
		var d dev
		err := r.Scan(&d.org, &d.worker, &d.device, &d.tz, &d.last)
		return d, err
	})
	if err != nil {
		return err
	}
	for _, d := range devs {
		since, ok := OfflineSince(now, d.last, Organisation{Timezone: d.tz}.Location())
		if !ok {
			continue
		}
		det, _ := json.Marshal(map[string]any{"last_fix": d.last.UTC(), "since": since.UTC()})
		*cands = append(*cands, Alert{OrgID: d.org, Kind: AlertKindOffline, WorkerID: d.worker, DeviceID: d.device,
			At: now, DedupKey: fmt.Sprintf("device:%d:%s", d.device, now.In(Organisation{Timezone: d.tz}.Location()).Format("2006-01-02")),
			Details: det})
	}
	return nil
}

// OfflineSince reports whether a device last heard at last is offline at
// now by the working-hours rule, and since when the silence counts (the
// last fix, or the start of today's working hours if later).
func OfflineSince(now, last time.Time, loc *time.Location) (time.Time, bool) {
	l := now.In(loc)
	if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return time.Time{}, false
	}
	start := time.Date(l.Year(), l.Month(), l.Day(), WorkdayStartHour, 0, 0, 0, loc)
	end := time.Date(l.Year(), l.Month(), l.Day(), WorkdayEndHour, 0, 0, 0, loc)
	if now.Before(start) || !now.Before(end) {
		return time.Time{}, false
	}
	since := last
	if since.Before(start) {
		since = start
	}
	return since, now.Sub(since) > OfflineAfter
}

// AlertFilter selects alerts. Zero fields do not filter.
type AlertFilter struct {
	Kind   string
	Unseen bool
	Limit  int // 0 = 50
	Offset int
}

// alertFrom joins an alert to its effective worker (own, visit's, device's)
// and client; $1 org, $2 groups (NULL = all).
const alertFrom = `FROM alerts a
	LEFT JOIN visits av ON av.id = a.visit_id
	LEFT JOIN workers dw ON dw.device_id = a.device_id
	LEFT JOIN workers w ON w.id = coalesce(a.worker_id, av.worker_id, dw.id)
	LEFT JOIN clients c ON c.id = coalesce(a.client_id, av.client_id)
	WHERE a.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))`

const alertCols = `a.id, a.org_id, a.kind, coalesce(w.id, 0), coalesce(a.device_id, 0), coalesce(c.id, 0),
	coalesce(a.visit_id, 0), a.at, a.dedup_key, a.details::text, coalesce(a.seen_at, '0001-01-01Z'),
	coalesce(a.seen_by, 0), coalesce(w.full_name, ''), coalesce(c.full_name, ''), coalesce(w.group_id, 0)`

func scanAlert(r pgx.Row, extra ...any) (Alert, error) {
	var a Alert
	var det string
	dst := append([]any{&a.ID, &a.OrgID, &a.Kind, &a.WorkerID, &a.DeviceID, &a.ClientID, &a.VisitID, &a.At,
		&a.DedupKey, &det, &a.SeenAt, &a.SeenBy, &a.WorkerName, &a.ClientName, &a.GroupID}, extra...)
	err := r.Scan(dst...)
	a.Details = json.RawMessage(det)
	a.SeenAt = zeroYear1(a.SeenAt)
	return a, err
}

// Alerts lists the alerts in scope, newest first, and how many match.
func (s *Store) Alerts(ctx context.Context, sc Scope, f AlertFilter) ([]Alert, int, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+alertCols+`, count(*) OVER () `+alertFrom+`
		AND ($3 = '' OR a.kind = $3) AND (NOT $4 OR a.seen_at IS NULL)
		ORDER BY a.at DESC, a.id DESC LIMIT $5 OFFSET $6`, sc.OrgID, sc.Groups, f.Kind, f.Unseen, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: alerts: %w", err)
	}
	total := 0
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) { return scanAlert(r, &total) })
	if err != nil {
		return nil, 0, fmt.Errorf("store: alerts: %w", err)
	}
	return out, total, nil
}

// UnseenAlerts counts the unseen alerts in scope.
func (s *Store) UnseenAlerts(ctx context.Context, sc Scope) (int, error) {
	var n int
	err := s.Pool.QueryRow(ctx, `SELECT count(*) `+alertFrom+` AND a.seen_at IS NULL`, sc.OrgID, sc.Groups).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: unseen alerts: %w", err)
	}
	return n, nil
}

// MarkAlertsSeen marks alerts in scope as seen by the scope's user; nil ids
// marks every unseen one. It returns how many changed.
func (s *Store) MarkAlertsSeen(ctx context.Context, sc Scope, ids []int64) (int, error) {
	if sc.ReadOnly {
		return 0, ErrReadOnly
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE alerts SET seen_at = now(), seen_by = $3
		WHERE seen_at IS NULL AND ($4::bigint[] IS NULL OR id = ANY($4)) AND id IN (SELECT a.id `+alertFrom+`)`,
		sc.OrgID, sc.Groups, nullID(sc.UserID), ids)
	if err != nil {
		return 0, fmt.Errorf("store: mark alerts seen: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ClaimAlertsToMail takes up to limit alerts raised after since that no
// mailer has taken yet and marks them mailed (so two servers do not both
// send them); older unmailed ones are marked without being returned.
func (s *Store) ClaimAlertsToMail(ctx context.Context, since time.Time, limit int) ([]Alert, error) {
	if _, err := s.Pool.Exec(ctx, `UPDATE alerts SET mailed_at = now() WHERE mailed_at IS NULL AND at <= $1`, since); err != nil {
		return nil, fmt.Errorf("store: claim alerts: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `WITH claimed AS (
			UPDATE alerts SET mailed_at = now() WHERE id IN (SELECT id FROM alerts WHERE mailed_at IS NULL AND at > $1
				ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *)
		SELECT `+alertCols+` FROM claimed a
		LEFT JOIN visits av ON av.id = a.visit_id
		LEFT JOIN workers dw ON dw.device_id = a.device_id
		LEFT JOIN workers w ON w.id = coalesce(a.worker_id, av.worker_id, dw.id)
		LEFT JOIN clients c ON c.id = coalesce(a.client_id, av.client_id)
		ORDER BY a.org_id, a.at, a.id`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("store: claim alerts: %w", err)
	}
	return out, nil
}

// UnclaimAlertMail returns alerts whose e-mail failed to the queue.
func (s *Store) UnclaimAlertMail(ctx context.Context, ids []int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE alerts SET mailed_at = NULL WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("store: unclaim alerts: %w", err)
	}
	return nil
}

// AlertRecipient is a staff user who receives alert e-mails.
type AlertRecipient struct {
	UserID int64
	Email  string
	Name   string
	Role   string
	Locale string
	Groups []int64 // a supervisor's groups
}

// AlertRecipients lists an organisation's active administrators and
// supervisors.
func (s *Store) AlertRecipients(ctx context.Context, orgID int64) ([]AlertRecipient, error) {
	rows, err := s.Pool.Query(ctx, `SELECT u.id, u.email, u.full_name, u.role, u.locale,
		coalesce(array_agg(sg.group_id ORDER BY sg.group_id) FILTER (WHERE sg.group_id IS NOT NULL), '{}')
		FROM users u LEFT JOIN supervisor_groups sg ON sg.user_id = u.id
		WHERE u.org_id = $1 AND u.role IN ('admin', 'supervisor') AND NOT u.disabled AND u.email_confirmed
		GROUP BY u.id ORDER BY u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: alert recipients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AlertRecipient, error) {
		var a AlertRecipient
		err := r.Scan(&a.UserID, &a.Email, &a.Name, &a.Role, &a.Locale, &a.Groups)
		return a, err
	})
}
