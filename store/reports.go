package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file holds every query of the reports: the visit report's data and
// the e-mail schedules with their run log.
//
// Services come from what workers ticked in the app during the visit,
// corrections from supervisors' reviews, disputes from citizens' feedback,
// missed planned visits from missed_visits.

// VisitReportFilter selects the visits of one report. Zero IDs do not
// filter.
type VisitReportFilter struct {
	OrgID    int64
	GroupID  int64
	WorkerID int64
	// Groups, when non-nil, restricts the report to workers of these groups
	// (a supervisor's scope, store.Scope.Groups).
	Groups   []int64
	From, To time.Time // visits starting in [From, To)
}

// ReportWorker is one worker in a report's scope, with the per-worker
// figures that do not come from the visits rows.
type ReportWorker struct {
	ID            int64
	Name          string
	GroupName     string
	MissedPlanned int // planned visits in the period with no matching visit
}

// VisitReportRow is one visit line of a report. End is zero while the visit
// is open.
type VisitReportRow struct {
	VisitID       int64
	Start, End    time.Time
	DurationS     int
	Flags         []string
	WorkerID      int64 // 0 = no worker held the device
	WorkerName    string
	GroupName     string
	ClientID      int64
	ClientName    string
	ClientAddress string
	Services      string // services rendered, "; "-separated
	Corrections   string // manual corrections, "; "-separated
	Disputed      bool
}

// VisitReportSink receives a report's data: first the workers in scope and
// the number of visits, then each visit in start order. The row passed to
// Visit is reused: copy what you keep.
type VisitReportSink interface {
	Begin(workers []ReportWorker, visits int) error
	Visit(v *VisitReportRow) error
}

// reportScopeSQL filters workers (alias w) by the report's scope. $1 org, $2
// group, $3 worker, $4 allowed groups (NULL = all).
const reportScopeSQL = `w.org_id = $1 AND ($2 = 0 OR w.group_id = $2) AND ($3 = 0 OR w.id = $3)
	AND ($4::bigint[] IS NULL OR w.group_id = ANY($4))`

const reportWorkersSQL = `SELECT w.id, w.full_name, coalesce(g.name, ''),
	(SELECT count(*) FROM missed_visits m WHERE m.worker_id = w.id AND m.window_start >= $5 AND m.window_start < $6) AS missed_planned
	FROM workers w LEFT JOIN groups g ON g.id = w.group_id
	WHERE ` + reportScopeSQL + ` ORDER BY w.full_name, w.id`

// Visits of workers in scope; at organisation scope also the visits no
// worker is tied to.
const reportVisitsWhere = `FROM visits v
	LEFT JOIN workers w ON w.id = v.worker_id
	LEFT JOIN groups g ON g.id = w.group_id
	JOIN clients c ON c.id = v.client_id
	WHERE v.org_id = $1 AND v.start_time >= $5 AND v.start_time < $6
	AND ((` + reportScopeSQL + `) OR (v.worker_id IS NULL AND $2 = 0 AND $3 = 0 AND $4::bigint[] IS NULL))`

const reportVisitsSQL = `SELECT v.id, v.start_time, coalesce(v.end_time, '0001-01-01Z'), v.duration_s, v.flags,
	coalesce(v.worker_id, 0), coalesce(w.full_name, ''), coalesce(g.name, ''),
	c.id, c.full_name, c.address,
	-- services the worker ticked at this client during the visit
	coalesce((SELECT string_agg(DISTINCT sv.name, ', ') FROM service_ticks t JOIN services sv ON sv.id = t.service_id
		WHERE t.worker_id = v.worker_id AND t.client_id = v.client_id
		AND t.at >= v.start_time - interval '5 minutes' AND t.at <= coalesce(v.end_time, v.last_seen) + interval '5 minutes'), '') AS services,
	-- supervisors' reviews, oldest first: status, corrected times, reason
	coalesce((SELECT string_agg(r.status || coalesce(' ' || to_char(r.start_time AT TIME ZONE 'UTC', 'HH24:MI') || '-' ||
			to_char(r.end_time AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC', '') || ': ' || r.reason, '; ' ORDER BY r.at)
		FROM visit_reviews r WHERE r.visit_id = v.id), '') AS corrections,
	EXISTS (SELECT 1 FROM visit_feedback f WHERE f.visit_id = v.id AND f.status = 'disputed' AND f.resolved_at IS NULL) AS disputed
	` + reportVisitsWhere + ` ORDER BY v.start_time, v.id`

// VisitReport reads a report's data in one read-only snapshot, so the count,
// the workers and the visits agree even while detection writes new visits.
// Visits are streamed: memory does not grow with the period.
func (s *Store) VisitReport(ctx context.Context, f VisitReportFilter, sink VisitReportSink) error {
	tx, err := s.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: visit report: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var groups any
	if f.Groups != nil {
		groups = f.Groups
	}
	args := []any{f.OrgID, f.GroupID, f.WorkerID, groups, f.From, f.To}

	// The workers query takes the period too once it counts missed visits.
	rows, err := tx.Query(ctx, reportWorkersSQL, args...)
	if err != nil {
		return fmt.Errorf("store: report workers: %w", err)
	}
	workers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReportWorker, error) {
		var w ReportWorker
		err := r.Scan(&w.ID, &w.Name, &w.GroupName, &w.MissedPlanned)
		return w, err
	})
	if err != nil {
		return fmt.Errorf("store: report workers: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) `+reportVisitsWhere, args...).Scan(&n); err != nil {
		return fmt.Errorf("store: report count: %w", err)
	}
	if err := sink.Begin(workers, n); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, reportVisitsSQL, args...)
	if err != nil {
		return fmt.Errorf("store: report visits: %w", err)
	}
	defer rows.Close()
	var v VisitReportRow
	for rows.Next() {
		if err := rows.Scan(&v.VisitID, &v.Start, &v.End, &v.DurationS, &v.Flags, &v.WorkerID, &v.WorkerName,
			&v.GroupName, &v.ClientID, &v.ClientName, &v.ClientAddress, &v.Services, &v.Corrections, &v.Disputed); err != nil {
			return fmt.Errorf("store: report visits: %w", err)
		}
		if v.End.Year() == 1 {
			v.End = time.Time{}
		}
		if err := sink.Visit(&v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: report visits: %w", err)
	}
	return nil
}

// ReportScopeName returns the name of the group (groupID != 0) or worker
// a report covers, if it belongs to orgID; ErrNotFound otherwise.
func (s *Store) ReportScopeName(ctx context.Context, orgID, groupID, workerID int64) (string, error) {
	var name string
	var err error
	if groupID != 0 {
		err = s.Pool.QueryRow(ctx, `SELECT name FROM groups WHERE id = $1 AND org_id = $2`, groupID, orgID).Scan(&name)
	} else {
		err = s.Pool.QueryRow(ctx, `SELECT full_name FROM workers WHERE id = $1 AND org_id = $2`, workerID, orgID).Scan(&name)
	}
	return name, notFound(err)
}

// ReportSchedule is a report e-mailed on a cron schedule. Timezone and
// UpdatedAt are read-only (the organisation's zone; the last change).
type ReportSchedule struct {
	ID         int64
	OrgID      int64
	Kind       string // "visits"
	Scope      string // "org", "group" or "worker"
	ScopeID    int64  // group or worker id; 0 for "org"
	Format     string // "xlsx" or "csv"
	Lang       string // "ru" or "en"
	Preset     string // "daily", "weekly", "monthly" or "custom"
	CronSpec   string // 5-field cron, in the organisation's time zone
	Period     string // "day", "week" or "month" before the due time
	Recipients []string
	Enabled    bool
	Timezone   string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ReportRun is one due time of a schedule and what became of it.
type ReportRun struct {
	ID            int64
	ScheduleID    int64
	DueAt         time.Time
	Status        string // pending, running, retry, sent, failed
	Attempts      int
	Error         string
	NextAttemptAt time.Time
	SentAt        time.Time // zero until sent
}

// ErrBadSchedule is returned for a schedule the database refuses (a check
// constraint): the caller's input is wrong.
var ErrBadSchedule = errors.New("invalid report schedule")

// CreateReportSchedule stores a schedule in its organisation; the scope's
// group or worker must belong to the same organisation. Validate the cron
// spec before (reports.NewSchedule does).
func (s *Store) CreateReportSchedule(ctx context.Context, r ReportSchedule) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO report_schedules (org_id, kind, scope, scope_id, format, lang, preset,
		cron_spec, period, recipients, enabled)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
		WHERE $3 = 'org' OR ($3 = 'group' AND EXISTS (SELECT 1 FROM groups WHERE id = $4 AND org_id = $1))
			OR ($3 = 'worker' AND EXISTS (SELECT 1 FROM workers WHERE id = $4 AND org_id = $1))
		RETURNING id`,
		r.OrgID, r.Kind, r.Scope, r.ScopeID, r.Format, r.Lang, r.Preset, r.CronSpec, r.Period, r.Recipients, r.Enabled).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store: report schedule: %s %d: %w", r.Scope, r.ScopeID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: report schedule: %w", badSchedule(err))
	}
	return id, nil
}

const reportScheduleCols = `s.id, s.org_id, s.kind, s.scope, s.scope_id, s.format, s.lang, s.preset, s.cron_spec, s.period,
	s.recipients, s.enabled, o.timezone, s.created_at, s.updated_at`

func scanReportSchedule(r pgx.CollectableRow) (ReportSchedule, error) {
	var s ReportSchedule
	err := r.Scan(&s.ID, &s.OrgID, &s.Kind, &s.Scope, &s.ScopeID, &s.Format, &s.Lang, &s.Preset, &s.CronSpec,
		&s.Period, &s.Recipients, &s.Enabled, &s.Timezone, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

// ReportSchedules lists an organisation's schedules (orgID 0: every
// organisation's enabled schedules, for the scheduler).
func (s *Store) ReportSchedules(ctx context.Context, orgID int64) ([]ReportSchedule, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+reportScheduleCols+` FROM report_schedules s JOIN organisations o ON o.id = s.org_id
		WHERE ($1 = 0 AND s.enabled) OR s.org_id = $1 ORDER BY s.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: report schedules: %w", err)
	}
	return pgx.CollectRows(rows, scanReportSchedule)
}

// ReportSchedule returns one schedule of the organisation.
func (s *Store) ReportSchedule(ctx context.Context, orgID, id int64) (ReportSchedule, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+reportScheduleCols+` FROM report_schedules s JOIN organisations o ON o.id = s.org_id
		WHERE s.id = $1 AND s.org_id = $2`, id, orgID)
	if err != nil {
		return ReportSchedule{}, fmt.Errorf("store: report schedule: %w", err)
	}
	sc, err := pgx.CollectExactlyOneRow(rows, scanReportSchedule)
	return sc, notFound(err)
}

// SetReportScheduleEnabled switches a schedule on or off. Switching on does
// not catch up due times that passed while it was off.
func (s *Store) SetReportScheduleEnabled(ctx context.Context, orgID, id int64, enabled bool) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE report_schedules SET enabled = $3, updated_at = now()
		WHERE id = $1 AND org_id = $2`, id, orgID, enabled)
	if err != nil {
		return fmt.Errorf("store: report schedule: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: report schedule %d: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteReportSchedule removes a schedule and its run log.
func (s *Store) DeleteReportSchedule(ctx context.Context, orgID, id int64) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM report_schedules WHERE id = $1 AND org_id = $2`, id, orgID)
	if err != nil {
		return fmt.Errorf("store: report schedule: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: report schedule %d: %w", id, ErrNotFound)
	}
	return nil
}

const reportRunCols = `r.id, r.schedule_id, r.due_at, r.status, r.attempts, r.error, r.next_attempt_at,
	coalesce(r.sent_at, '0001-01-01Z')`

func scanReportRun(r pgx.CollectableRow) (ReportRun, error) {
	var run ReportRun
	err := r.Scan(&run.ID, &run.ScheduleID, &run.DueAt, &run.Status, &run.Attempts, &run.Error, &run.NextAttemptAt, &run.SentAt)
	if run.SentAt.Year() == 1 {
		run.SentAt = time.Time{}
	}
	return run, err
}

// ReportRuns lists the newest runs of an organisation's schedules (one
// schedule if scheduleID != 0), newest due time first.
func (s *Store) ReportRuns(ctx context.Context, orgID, scheduleID int64, limit int) ([]ReportRun, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+reportRunCols+` FROM report_runs r JOIN report_schedules s ON s.id = r.schedule_id
		WHERE s.org_id = $1 AND ($2 = 0 OR r.schedule_id = $2) ORDER BY r.due_at DESC, r.id DESC LIMIT $3`,
		orgID, scheduleID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: report runs: %w", err)
	}
	return pgx.CollectRows(rows, scanReportRun)
}

// AddReportRun records that a schedule is due at dueAt. It is idempotent:
// the (schedule, due time) key makes every instance that sees the same due
// time agree on one run, and created tells whether this call made it.
func (s *Store) AddReportRun(ctx context.Context, scheduleID int64, dueAt, now time.Time) (created bool, err error) {
	tag, err := s.Pool.Exec(ctx, `INSERT INTO report_runs (schedule_id, due_at, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $3) ON CONFLICT (schedule_id, due_at) DO NOTHING`, scheduleID, dueAt, now)
	if err != nil {
		return false, fmt.Errorf("store: add report run: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimReportRun takes the oldest run that is due for an attempt (new, to be
// retried, or running under an expired lease: its owner died) and leases it
// to owner until now+lease. SKIP LOCKED lets instances claim different runs
// at once; the recheck of the status in the same statement means a run is
// never held by two owners. ok is false when nothing is due.
func (s *Store) ClaimReportRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (run ReportRun, ok bool, err error) {
	const due = `((r.status IN ('pending', 'retry') AND r.next_attempt_at <= $2)
		OR (r.status = 'running' AND r.lease_until <= $2))`
	rows, err := s.Pool.Query(ctx, `UPDATE report_runs r SET status = 'running', attempts = r.attempts + 1,
		lease_owner = $1, lease_until = $3
		WHERE r.id = (SELECT r.id FROM report_runs r JOIN report_schedules s ON s.id = r.schedule_id AND s.enabled
			WHERE `+due+` ORDER BY r.next_attempt_at, r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED)
		AND `+due+` RETURNING `+reportRunCols, owner, now, now.Add(lease))
	if err != nil {
		return run, false, fmt.Errorf("store: claim report run: %w", err)
	}
	run, err = pgx.CollectExactlyOneRow(rows, scanReportRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return run, false, nil
	}
	if err != nil {
		return run, false, fmt.Errorf("store: claim report run: %w", err)
	}
	return run, true, nil
}

// FinishReportRun marks a run sent. It only touches a run owner still holds:
// an owner whose lease expired and was taken over does not overwrite the
// new owner's state.
func (s *Store) FinishReportRun(ctx context.Context, id int64, owner string, sentAt time.Time) error {
	_, err := s.Pool.Exec(ctx, `UPDATE report_runs SET status = 'sent', sent_at = $3, error = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND status = 'running'`, id, owner, sentAt)
	if err != nil {
		return fmt.Errorf("store: finish report run: %w", err)
	}
	return nil
}

// FailReportRun records a failed attempt: the run is retried at next, or
// given up ('failed') when final.
func (s *Store) FailReportRun(ctx context.Context, id int64, owner, msg string, next time.Time, final bool) error {
	status := "retry"
	if final {
		status = "failed"
	}
	_, err := s.Pool.Exec(ctx, `UPDATE report_runs SET status = $3, error = $4, next_attempt_at = $5, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND status = 'running'`, id, owner, status, msg, next)
	if err != nil {
		return fmt.Errorf("store: fail report run: %w", err)
	}
	return nil
}

func badSchedule(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23514" || pe.Code == "22P02") {
		return fmt.Errorf("%w: %s", ErrBadSchedule, pe.ConstraintName)
	}
	return err
}
