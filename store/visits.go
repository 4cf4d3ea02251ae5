package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// visitKept selects the visits v that re-evaluation keeps as they are:
// closed visits to archived clients, and closed visits of another worker
// than the one now carrying the device (assignments are not kept in
// time). An open one is judged again: it ended when the device moved.
const visitKept = `(v.end_time IS NOT NULL AND EXISTS (SELECT 1 FROM clients c WHERE c.id = v.client_id AND c.archived_at IS NOT NULL))
	OR (v.end_time IS NOT NULL AND v.worker_id IS NOT NULL
		AND v.worker_id IS DISTINCT FROM (SELECT w.id FROM workers w WHERE w.device_id = v.device_id))`

// ReplaceVisits makes the device's visits that overlap [from, to) exactly
// vs, in one transaction: detection re-run over a span (late fixes, a
// corrected geofence) replaces what it decided before, never duplicates it.
// A new visit that continues a stored one (same client, overlapping time)
// updates that row, so its id (and the corrections, disputes and ratings
// that point at it) survive re-evaluation.
func (s *Store) ReplaceVisits(ctx context.Context, deviceID int64, from, to time.Time, vs []Visit) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// A visit left open by a worker who no longer carries the device
		// ended when they last were seen with it (the tracker went to a
		// colleague, or died at the client): close it, then it is kept.
		if _, err := tx.Exec(ctx, `UPDATE visits v SET end_time = last_seen,
				duration_s = greatest(0, extract(epoch FROM last_seen - start_time))::int
			WHERE device_id = $1 AND end_time IS NULL AND worker_id IS NOT NULL
				AND worker_id IS DISTINCT FROM (SELECT w.id FROM workers w WHERE w.device_id = v.device_id)`, deviceID); err != nil {
			return fmt.Errorf("store: close previous worker's visit: %w", err)
		}
		// Closed visits to archived clients, and visits of a worker who no
		// longer carries the device, are history: detection no longer
		// knows those homes or runs for that worker, so re-running it must
		// neither erase them nor give them to today's worker.
		rows, err := tx.Query(ctx, `SELECT id, client_id, start_time, coalesce(end_time, last_seen) FROM visits v
			WHERE device_id = $1 AND start_time < $3 AND coalesce(end_time, 'infinity') > $2 AND NOT (`+visitKept+`)
			ORDER BY start_time FOR UPDATE`,
			deviceID, from, to)
		if err != nil {
			return fmt.Errorf("store: replace visits: %w", err)
		}
		type old struct {
			id, client int64
			start, end time.Time
			used       bool
		}
		olds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (old, error) {
			var o old
			err := r.Scan(&o.id, &o.client, &o.start, &o.end)
			return o, err
		})
		if err != nil {
			return fmt.Errorf("store: replace visits: %w", err)
		}
		// Those kept visits also cover their time: a new visit mostly
		// inside one (the same stay given to a neighbour now that the
		// archived home is unknown) is not stored twice.
		rows, err = tx.Query(ctx, `SELECT start_time, coalesce(end_time, last_seen) FROM visits v
			WHERE device_id = $1 AND start_time < $3 AND coalesce(end_time, last_seen) > $2 AND (`+visitKept+`)`,
			deviceID, from, to)
		if err != nil {
			return fmt.Errorf("store: replace visits: %w", err)
		}
		type span struct{ start, end time.Time }
		kept, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (span, error) {
			var k span
			err := r.Scan(&k.start, &k.end)
			return k, err
		})
		if err != nil {
			return fmt.Errorf("store: replace visits: %w", err)
		}
		for _, v := range vs {
			end := v.End
			if end.IsZero() {
				end = v.LastSeen
			}
			if slices.ContainsFunc(kept, func(k span) bool {
				return 2*earliest(k.end, end).Sub(latest(k.start, v.Start)) >= end.Sub(v.Start)
			}) {
				continue
			}
			// The stored visit of the same client with the largest overlap.
			best, bestOv := -1, time.Duration(-1)
			for i := range olds {
				o := &olds[i]
				if o.used || o.client != v.ClientID {
					continue
				}
				ov := earliest(o.end, end).Sub(latest(o.start, v.Start))
				if ov >= 0 && ov > bestOv {
					best, bestOv = i, ov
				}
			}
			var endArg any
			if !v.End.IsZero() {
				endArg = v.End
			}
			ev := v.Evidence
			if len(ev) == 0 {
				ev = json.RawMessage("{}")
			}
			flags := v.Flags
			if flags == nil {
				flags = []string{}
			}
			if best >= 0 {
				olds[best].used = true
				_, err = tx.Exec(ctx, `UPDATE visits SET start_time = $2, end_time = $3, last_seen = $4, duration_s = $5,
					flags = $6, evidence = $7, worker_id = coalesce($8, worker_id), org_id = coalesce($9, org_id), updated_at = now()
					WHERE id = $1`, olds[best].id, v.Start, endArg, v.LastSeen, v.DurationS, flags, string(ev),
					nullID(v.WorkerID), nullID(v.OrgID))
			} else {
				// A kept visit may hold the same client and start: it stays.
				_, err = tx.Exec(ctx, `INSERT INTO visits (org_id, device_id, worker_id, client_id, start_time, end_time,
					last_seen, duration_s, flags, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
					ON CONFLICT (device_id, client_id, start_time) DO NOTHING`,
					nullID(v.OrgID), deviceID, nullID(v.WorkerID), v.ClientID, v.Start, endArg, v.LastSeen, v.DurationS, flags, string(ev))
			}
			if err != nil {
				return fmt.Errorf("store: store visit: %w", err)
			}
		}
		for _, o := range olds {
			if !o.used {
				if _, err := tx.Exec(ctx, `DELETE FROM visits WHERE id = $1`, o.id); err != nil {
					return fmt.Errorf("store: drop visit: %w", err)
				}
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

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
