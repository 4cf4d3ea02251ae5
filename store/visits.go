package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Visit is a stored visit. End is zero while the visit is open.
type Visit struct {
	ID        int64
	OrgID     int64
	DeviceID  int64
	WorkerID  int64 // 0 = none
	ClientID  int64
	Start     time.Time
	End       time.Time
	LastSeen  time.Time // newest evidence of the worker there (open visits)
	DurationS int
	Flags     []string
	Evidence  json.RawMessage
}

// Open reports whether the visit is in progress.
func (v Visit) Open() bool { return v.End.IsZero() }

// ReplaceVisits makes the device's visits that overlap [from, to) exactly
// vs, in one transaction: detection re-run over a span (late fixes, a
// corrected geofence) replaces what it decided before, never duplicates it.
func (s *Store) ReplaceVisits(ctx context.Context, deviceID int64, from, to time.Time, vs []Visit) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM visits WHERE device_id = $1 AND start_time < $3
			AND coalesce(end_time, 'infinity') > $2`, deviceID, from, to); err != nil {
			return fmt.Errorf("store: replace visits: %w", err)
		}
		for _, v := range vs {
			var end any
			if !v.End.IsZero() {
				end = v.End
			}
			var worker any
			if v.WorkerID != 0 {
				worker = v.WorkerID
			}
			var org any
			if v.OrgID != 0 {
				org = v.OrgID
			}
			ev := v.Evidence
			if len(ev) == 0 {
				ev = json.RawMessage("{}")
			}
			flags := v.Flags
			if flags == nil {
				flags = []string{}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO visits (org_id, device_id, worker_id, client_id, start_time, end_time,
				last_seen, duration_s, flags, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (device_id, client_id, start_time) DO UPDATE SET end_time = excluded.end_time,
				last_seen = excluded.last_seen, duration_s = excluded.duration_s, flags = excluded.flags,
				evidence = excluded.evidence, updated_at = now()`,
				org, deviceID, worker, v.ClientID, v.Start, end, v.LastSeen, v.DurationS, flags, string(ev)); err != nil {
				return fmt.Errorf("store: insert visit: %w", err)
			}
		}
		return nil
	})
}

// VisitFilter selects visits. Zero fields do not filter.
type VisitFilter struct {
	OrgID    int64
	DeviceID int64
	ClientID int64
	From, To time.Time
}

// Visits lists visits starting in [From, To), oldest first.
func (s *Store) Visits(ctx context.Context, f VisitFilter) ([]Visit, error) {
	if f.To.IsZero() {
		f.To = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rows, err := s.Pool.Query(ctx, `SELECT id, coalesce(org_id, 0), device_id, coalesce(worker_id, 0), client_id,
		start_time, coalesce(end_time, '0001-01-01Z'), last_seen, duration_s, flags, evidence
		FROM visits WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR device_id = $2) AND ($3 = 0 OR client_id = $3)
		AND start_time >= $4 AND start_time < $5 ORDER BY start_time, id`,
		f.OrgID, f.DeviceID, f.ClientID, f.From, f.To)
	if err != nil {
		return nil, fmt.Errorf("store: visits: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Visit, error) {
		var v Visit
		var ev []byte
		err := r.Scan(&v.ID, &v.OrgID, &v.DeviceID, &v.WorkerID, &v.ClientID, &v.Start, &v.End, &v.LastSeen,
			&v.DurationS, &v.Flags, &ev)
		if v.End.Year() == 1 {
			v.End = time.Time{}
		}
		v.Evidence = ev
		return v, err
	})
}

// MinVisitMinutes returns each organisation's short-visit norm.
func (s *Store) MinVisitMinutes(ctx context.Context) (map[int64]int, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, min_visit_minutes FROM organisations`)
	if err != nil {
		return nil, fmt.Errorf("store: organisations: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var m int
		if err := rows.Scan(&id, &m); err != nil {
			return nil, err
		}
		out[id] = m
	}
	return out, rows.Err()
}

// DevicesWithPositions lists devices with fixes in [from, to).
func (s *Store) DevicesWithPositions(ctx context.Context, from, to time.Time) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT DISTINCT device_id FROM positions WHERE fix_time >= $1 AND fix_time < $2 ORDER BY 1`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: devices with positions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
