package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CitizenRow is one citizen in the staff list: no personal numbers, only
// what finds the person and their file.
type CitizenRow struct {
	ID         int64
	FullName   string
	Email      string
	Department string
	Registered time.Time
	Apps       int // applications, drafts excluded
	Clients    int // care recipients the citizen is linked to
}

// OrgCitizens lists the citizens registered with the organisation, by
// name, optionally those whose name or e-mail contains q (any case); at
// most limit, and how many match in all.
//
// The match is done here rather than with ILIKE: case-insensitive
// matching of Cyrillic in PostgreSQL depends on the cluster's locale
// (none under C), Go's folding does not.
func (s *Store) OrgCitizens(ctx context.Context, orgID int64, q string, limit int) ([]CitizenRow, int, error) {
	rows, err := s.Pool.Query(ctx, `SELECT u.id, u.full_name, u.email FROM citizen_profiles p JOIN users u ON u.id = p.user_id
		WHERE p.org_id = $1 ORDER BY u.full_name, u.id`, orgID)
	if err != nil {
		return nil, 0, fmt.Errorf("store: citizens: %w", err)
	}
	type name struct {
		id          int64
		full, email string
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (name, error) {
		var n name
		err := r.Scan(&n.id, &n.full, &n.email)
		return n, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: citizens: %w", err)
	}
	q = strings.ToLower(strings.TrimSpace(q))
	var ids []int64
	total := 0
	for _, n := range all {
		if q != "" && !strings.Contains(strings.ToLower(n.full), q) && !strings.Contains(strings.ToLower(n.email), q) {
			continue
		}
		total++
		if len(ids) < limit {
			ids = append(ids, n.id)
		}
	}
	if len(ids) == 0 {
		return nil, total, nil
	}
	rows, err = s.Pool.Query(ctx, `SELECT u.id, u.full_name, u.email, coalesce(d.name, ''), p.created_at,
			(SELECT count(*) FROM applications a WHERE a.user_id = u.id AND a.org_id = p.org_id AND a.state <> 'draft'),
			(SELECT count(*) FROM citizen_clients cc JOIN clients c ON c.id = cc.client_id
				WHERE cc.user_id = u.id AND c.org_id = p.org_id)
		FROM citizen_profiles p JOIN users u ON u.id = p.user_id
		LEFT JOIN departments d ON d.id = p.department_id AND d.org_id = p.org_id
		WHERE p.org_id = $1 AND u.id = ANY($2) ORDER BY u.full_name, u.id`, orgID, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("store: citizens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CitizenRow, error) {
		var c CitizenRow
		err := r.Scan(&c.ID, &c.FullName, &c.Email, &c.Department, &c.Registered, &c.Apps, &c.Clients)
		return c, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: citizens: %w", err)
	}
	return out, total, nil
}
