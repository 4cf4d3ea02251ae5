package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CitizenVisit is a social worker's visit as a care recipient (or a granted
// relative) sees it: a supervisor's correction replaces the detected times,
// rejected visits are not shown.
type CitizenVisit struct {
	ID         int64
	OrgID      int64
	ClientID   int64
	ClientName string
	WorkerName string
	Start, End time.Time
	DurationS  int
	Services   []string
	Feedback   string // "", "confirmed", "disputed"
	Rating     int
	Comment    string
}

const citizenVisitSQL = `SELECT v.id, c.org_id, v.client_id, c.full_name, coalesce(w.full_name, ''),
	coalesce(r.start_time, v.start_time), coalesce(r.end_time, v.end_time, '0001-01-01Z'),
	CASE WHEN r.start_time IS NOT NULL AND r.end_time IS NOT NULL THEN extract(epoch FROM r.end_time - r.start_time)::int ELSE v.duration_s END,
	coalesce((SELECT array_agg(DISTINCT sv.name ORDER BY sv.name) FROM service_ticks t JOIN services sv ON sv.id = t.service_id
		WHERE t.client_id = v.client_id AND t.worker_id = v.worker_id
		AND t.at >= v.start_time AND t.at <= coalesce(v.end_time, v.last_seen)), '{}'),
	coalesce(f.status, ''), coalesce(f.rating, 0), coalesce(f.comment, '')
	FROM citizen_clients cc JOIN visits v ON v.client_id = cc.client_id JOIN clients c ON c.id = v.client_id
	LEFT JOIN workers w ON w.id = v.worker_id
	LEFT JOIN visit_feedback f ON f.visit_id = v.id AND f.user_id = cc.user_id
	LEFT JOIN LATERAL (SELECT status, start_time, end_time FROM visit_reviews WHERE visit_id = v.id
		ORDER BY at DESC, id DESC LIMIT 1) r ON true
	WHERE cc.user_id = $1 AND coalesce(r.status, '') <> 'rejected' `

func scanCitizenVisit(r pgx.Row) (CitizenVisit, error) {
	var v CitizenVisit
	err := r.Scan(&v.ID, &v.OrgID, &v.ClientID, &v.ClientName, &v.WorkerName, &v.Start, &v.End, &v.DurationS, &v.Services,
		&v.Feedback, &v.Rating, &v.Comment)
	if v.End.Year() == 1 {
		v.End = time.Time{}
	}
	return v, notFound(err)
}

// CitizenVisits lists the visits to a citizen's linked recipients that
// started in [from, to), newest first.
func (s *Store) CitizenVisits(ctx context.Context, userID int64, from, to time.Time) ([]CitizenVisit, error) {
	rows, err := s.Pool.Query(ctx, citizenVisitSQL+` AND v.start_time >= $2 AND v.start_time < $3 ORDER BY v.start_time DESC LIMIT 500`,
		userID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: citizen visits: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CitizenVisit, error) { return scanCitizenVisit(r) })
}

// CitizenVisitByID returns one visit the citizen may see (else ErrNotFound).
func (s *Store) CitizenVisitByID(ctx context.Context, userID, visitID int64) (CitizenVisit, error) {
	return scanCitizenVisit(s.Pool.QueryRow(ctx, citizenVisitSQL+` AND v.id = $2`, userID, visitID))
}

// VisitFeedbackInput is a citizen's confirmation or dispute of a visit.
type VisitFeedbackInput struct {
	UserID, VisitID int64
	Status          string // "confirmed" or "disputed"
	Rating          int    // 0 = none
	Comment         string
}

// SaveVisitFeedback stores the citizen's feedback on a visit they may see;
// a dispute raises a 'dispute' alert for the supervisors (one per visit and
// citizen, re-opened by a new dispute). It returns the alert id (0 if none).
func (s *Store) SaveVisitFeedback(ctx context.Context, in VisitFeedbackInput) (int64, error) {
	var alertID int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var orgID, clientID, workerID, deviceID int64
		err := tx.QueryRow(ctx, `SELECT c.org_id, v.client_id, coalesce(v.worker_id, 0), v.device_id FROM visits v
			JOIN clients c ON c.id = v.client_id JOIN citizen_clients cc ON cc.client_id = v.client_id AND cc.user_id = $1
			WHERE v.id = $2`, in.UserID, in.VisitID).Scan(&orgID, &clientID, &workerID, &deviceID)
		if err != nil {
			return notFound(err)
		}
		var rating any
		if in.Rating > 0 {
			rating = in.Rating
		}
		var fbID int64
		if err := tx.QueryRow(ctx, `INSERT INTO visit_feedback (visit_id, user_id, status, rating, comment) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (visit_id, user_id) DO UPDATE SET status = EXCLUDED.status, rating = EXCLUDED.rating,
			comment = EXCLUDED.comment, at = now(), resolved_at = NULL RETURNING id`,
			in.VisitID, in.UserID, in.Status, rating, in.Comment).Scan(&fbID); err != nil {
			return err
		}
		if in.Status != "disputed" {
			return nil
		}
		return tx.QueryRow(ctx, `INSERT INTO alerts (org_id, kind, worker_id, device_id, client_id, visit_id, dedup_key, details)
			VALUES ($1, 'dispute', $2, $3, $4, $5, $6, jsonb_build_object('feedback_id', $7::bigint, 'user_id', $8::bigint, 'rating', $9::int))
			ON CONFLICT (org_id, kind, dedup_key) DO UPDATE SET at = now(), seen_at = NULL, seen_by = NULL, details = EXCLUDED.details
			RETURNING id`, orgID, nullID(workerID), deviceID, clientID, in.VisitID,
			fmt.Sprintf("visit:%d:user:%d", in.VisitID, in.UserID), fbID, in.UserID, in.Rating).Scan(&alertID)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: visit feedback: %w", err)
	}
	return alertID, err
}
