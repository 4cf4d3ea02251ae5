package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Plan is a planned visit: every week on Weekday (ISO, 1 = Monday) from
// StartMin to EndMin minutes after local midnight in the organisation's
// time zone.
type Plan struct {
	ID         int64   `json:"id"`
	ClientID   int64   `json:"client_id"`
	WorkerID   int64   `json:"worker_id"`
	Weekday    int     `json:"weekday"`
	StartMin   int     `json:"start_min"`
	EndMin     int     `json:"end_min"`
	ServiceIDs []int64 `json:"service_ids"`
	Active     bool    `json:"active"`
	ClientName string  `json:"-"`
	WorkerName string  `json:"-"`
}

// PlanFilter selects plans; zero fields do not filter.
type PlanFilter struct {
	ID, ClientID, WorkerID int64
}

func (s *Store) plans(ctx context.Context, q Querier, sc Scope, f PlanFilter) ([]Plan, error) {
	// A supervisor sees the plans of their groups' workers.
	rows, err := q.Query(ctx, `SELECT p.id, p.client_id, p.worker_id, p.weekday, p.start_min, p.end_min, p.service_ids, p.active,
		c.full_name, w.full_name
		FROM planned_visits p JOIN clients c ON c.id = p.client_id JOIN workers w ON w.id = p.worker_id
		WHERE p.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))
		AND ($3 = 0 OR p.id = $3) AND ($4 = 0 OR p.client_id = $4) AND ($5 = 0 OR p.worker_id = $5)
		ORDER BY NOT p.active, p.weekday, p.start_min, w.full_name, p.id`, sc.OrgID, sc.Groups, f.ID, f.ClientID, f.WorkerID)
	if err != nil {
		return nil, fmt.Errorf("store: plans: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Plan, error) {
		var p Plan
		err := r.Scan(&p.ID, &p.ClientID, &p.WorkerID, &p.Weekday, &p.StartMin, &p.EndMin, &p.ServiceIDs, &p.Active,
			&p.ClientName, &p.WorkerName)
		return p, err
	})
}

// Plans lists planned visits in scope.
func (s *Store) Plans(ctx context.Context, sc Scope, f PlanFilter) ([]Plan, error) {
	return s.plans(ctx, s.Pool, sc, f)
}

// PlanByID finds one planned visit in scope.
func (s *Store) PlanByID(ctx context.Context, sc Scope, id int64) (Plan, error) {
	if id <= 0 {
		return Plan{}, ErrNotFound
	}
	return one(s.plans(ctx, s.Pool, sc, PlanFilter{ID: id}))
}

// SavePlan creates (ID 0) or updates a planned visit. Client and worker
// must be in scope and services the organisation's (ErrNotFound); an
// active plan needs a client and a worker who are not archived
// (ErrArchived). The worker is assigned to the client if not yet: a plan
// means they serve them.
func (s *Store) SavePlan(ctx context.Context, sc Scope, p Plan) (int64, error) {
	p.ServiceIDs = uniq(p.ServiceIDs)
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var before *Plan
		if p.ID != 0 {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM planned_visits WHERE id = $1 FOR UPDATE`, p.ID); err != nil {
				return err
			}
			b, err := one(s.plans(ctx, tx, sc, PlanFilter{ID: p.ID}))
			if err != nil {
				return err
			}
			before = &b
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients c WHERE c.id = $3 AND c.org_id = $1 AND `+clientVisible+`)
			AND EXISTS (SELECT 1 FROM workers w WHERE w.id = $4 AND w.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)))
			AND (SELECT count(*) FROM services WHERE org_id = $1 AND id = ANY($5)) = cardinality($5)`,
			sc.OrgID, sc.Groups, p.ClientID, p.WorkerID, p.ServiceIDs).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if p.Active {
			var archived bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1 AND archived_at IS NOT NULL)
				OR EXISTS (SELECT 1 FROM workers WHERE id = $2 AND archived_at IS NOT NULL)`, p.ClientID, p.WorkerID).Scan(&archived); err != nil {
				return err
			}
			if archived {
				return ErrArchived
			}
		}
		if before == nil {
			if err := tx.QueryRow(ctx, `INSERT INTO planned_visits (org_id, client_id, worker_id, weekday, start_min, end_min, service_ids, active)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, sc.OrgID, p.ClientID, p.WorkerID, p.Weekday, p.StartMin, p.EndMin,
				p.ServiceIDs, p.Active).Scan(&p.ID); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `UPDATE planned_visits SET client_id = $2, worker_id = $3, weekday = $4, start_min = $5,
			end_min = $6, service_ids = $7, active = $8 WHERE id = $1`, p.ID, p.ClientID, p.WorkerID, p.Weekday, p.StartMin, p.EndMin,
			p.ServiceIDs, p.Active); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO worker_clients (worker_id, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			p.WorkerID, p.ClientID); err != nil {
			return err
		}
		action := "create"
		if before != nil {
			action = "update"
		}
		return s.audit(ctx, tx, sc, action, "planned_visit", p.ID, before, p)
	})
	if err != nil {
		return 0, fmt.Errorf("store: save plan: %w", err)
	}
	return p.ID, nil
}

// missedGrace is how far a visit may lie outside the planned window and
// still count for it.
const missedGrace = 15 * time.Minute

// DetectMissed records, for every active planned visit whose window (in
// the organisation's zone) ended more than the 15-minute grace before now
// within the last 7 days, a missed visit and a 'missed_visit' alert when
// no visit of that worker (or of the worker's device) at that client
// overlaps the window widened by the grace. Windows that started before
// the plan was created are skipped, and so are archived clients and
// workers (their plans are cancelled on archiving; this is the safety
// net). Idempotent: it returns the number of newly missed windows.
func (s *Store) DetectMissed(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.Pool.QueryRow(ctx, `WITH win AS (
		SELECT p.id, p.org_id, p.client_id, p.worker_id, w.device_id,
			(d + make_interval(mins => p.start_min)) AT TIME ZONE o.timezone AS ws,
			(d + make_interval(mins => p.end_min)) AT TIME ZONE o.timezone AS we,
			p.created_at
		FROM planned_visits p
		JOIN organisations o ON o.id = p.org_id
		JOIN workers w ON w.id = p.worker_id
		JOIN clients c ON c.id = p.client_id
		CROSS JOIN LATERAL generate_series((($1::timestamptz - interval '8 days') AT TIME ZONE o.timezone)::date::timestamp,
			($1::timestamptz AT TIME ZONE o.timezone)::date::timestamp, interval '1 day') d
		WHERE p.active AND w.archived_at IS NULL AND c.archived_at IS NULL AND extract(isodow FROM d) = p.weekday
	), due AS (
		SELECT * FROM win
		WHERE we + $2::interval <= $1 AND ws >= $1 - interval '7 days' AND ws >= created_at
		AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.client_id = win.client_id
			AND (v.worker_id = win.worker_id OR v.device_id = win.device_id)
			AND v.start_time < win.we + $2::interval
			AND coalesce(v.end_time, v.last_seen) > win.ws - $2::interval)
	), ins AS (
		INSERT INTO missed_visits (org_id, planned_visit_id, client_id, worker_id, window_start, window_end)
		SELECT org_id, id, client_id, worker_id, ws, we FROM due
		ON CONFLICT (planned_visit_id, window_start) DO NOTHING
		RETURNING org_id, planned_visit_id, client_id, worker_id, window_start, window_end
	), al AS (
		INSERT INTO alerts (org_id, kind, worker_id, device_id, client_id, at, dedup_key, details)
		SELECT ins.org_id, 'missed_visit', ins.worker_id, w.device_id, ins.client_id, $1,
			'planned:' || ins.planned_visit_id || ':' || to_char(ins.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			jsonb_build_object('planned_visit_id', ins.planned_visit_id, 'window_start', ins.window_start, 'window_end', ins.window_end)
		FROM ins JOIN workers w ON w.id = ins.worker_id
		ON CONFLICT (org_id, kind, dedup_key) DO NOTHING
	)
	SELECT count(*) FROM ins`, now, missedGrace.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: detect missed visits: %w", err)
	}
	return n, nil
}

// MissedVisit is a planned window that passed with no visit.
type MissedVisit struct {
	ID, PlanID, ClientID, WorkerID int64
	ClientName, WorkerName         string
	Start, End                     time.Time
}

// MissedVisits lists missed windows in scope since a time, newest first;
// clientID and workerID filter when not 0.
func (s *Store) MissedVisits(ctx context.Context, sc Scope, clientID, workerID int64, since time.Time) ([]MissedVisit, error) {
	rows, err := s.Pool.Query(ctx, `SELECT m.id, m.planned_visit_id, m.client_id, m.worker_id, c.full_name, w.full_name,
		m.window_start, m.window_end
		FROM missed_visits m JOIN clients c ON c.id = m.client_id JOIN workers w ON w.id = m.worker_id
		WHERE m.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)) AND ($3 = 0 OR m.client_id = $3)
		AND ($4 = 0 OR m.worker_id = $4) AND m.window_start >= $5
		ORDER BY m.window_start DESC, m.id`, sc.OrgID, sc.Groups, clientID, workerID, since)
	if err != nil {
		return nil, fmt.Errorf("store: missed visits: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MissedVisit, error) {
		var m MissedVisit
		err := r.Scan(&m.ID, &m.PlanID, &m.ClientID, &m.WorkerID, &m.ClientName, &m.WorkerName, &m.Start, &m.End)
		return m, err
	})
}

// PlannedServicesAt returns the services of the active planned visits of
// the client whose window (in the organisation's zone) overlaps
// [start, end): what a visit at that time was planned to deliver.
func (s *Store) PlannedServicesAt(ctx context.Context, orgID, clientID int64, start, end time.Time) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT DISTINCT unnest(p.service_ids) FROM planned_visits p
		JOIN organisations o ON o.id = p.org_id
		CROSS JOIN LATERAL generate_series((($3::timestamptz - interval '1 day') AT TIME ZONE o.timezone)::date::timestamp,
			($4::timestamptz AT TIME ZONE o.timezone)::date::timestamp, interval '1 day') d
		WHERE p.org_id = $1 AND p.client_id = $2 AND p.active AND extract(isodow FROM d) = p.weekday
		AND (d + make_interval(mins => p.start_min)) AT TIME ZONE o.timezone < $4
		AND (d + make_interval(mins => p.end_min)) AT TIME ZONE o.timezone > $3
		ORDER BY 1`, orgID, clientID, start, end)
	if err != nil {
		return nil, fmt.Errorf("store: planned services: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// ShortNorm is the least length in minutes of a visit to the client that
// delivered serviceIDs (those planned for its window and those ticked in
// the app): the largest norm among them, or the organisation's
// min_visit_minutes when none has a norm. Another organisation's client is
// ErrNotFound; services of another organisation are ignored.
func (s *Store) ShortNorm(ctx context.Context, orgID, clientID int64, serviceIDs []int64) (int, error) {
	var norm int
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(nullif((SELECT max(norm_minutes) FROM services WHERE org_id = $1 AND id = ANY($3)), 0),
		o.min_visit_minutes)
		FROM organisations o JOIN clients c ON c.org_id = o.id WHERE o.id = $1 AND c.id = $2`,
		orgID, clientID, uniq(serviceIDs)).Scan(&norm)
	if err != nil {
		return 0, fmt.Errorf("store: short norm: %w", notFound(err))
	}
	return norm, nil
}

// PlanWindow is one weekly window of an active planned visit, for the
// visit detector: the worker is expected at the client then.
type PlanWindow struct {
	WorkerID, ClientID int64
	Weekday            int // ISO: 1 = Monday
	StartMin, EndMin   int // minutes after local midnight
	Timezone           string
}

// ActivePlanWindows lists the active planned visits of active workers and
// clients, in every organisation.
func (s *Store) ActivePlanWindows(ctx context.Context) ([]PlanWindow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT p.worker_id, p.client_id, p.weekday, p.start_min, p.end_min, o.timezone
		FROM planned_visits p JOIN organisations o ON o.id = p.org_id
		JOIN workers w ON w.id = p.worker_id JOIN clients c ON c.id = p.client_id
		WHERE p.active AND w.archived_at IS NULL AND c.archived_at IS NULL
		ORDER BY p.worker_id, p.client_id, p.weekday, p.start_min`)
	if err != nil {
		return nil, fmt.Errorf("store: plan windows: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PlanWindow, error) {
		var w PlanWindow
		err := r.Scan(&w.WorkerID, &w.ClientID, &w.Weekday, &w.StartMin, &w.EndMin, &w.Timezone)
		return w, err
	})
}
