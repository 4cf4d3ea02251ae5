package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Organisation is a social-service organisation (a tenant).
type Organisation struct {
	ID              int64
	Name            string
	Timezone        string
	MinVisitMinutes int
	CreatedAt       time.Time
}

// Location returns the organisation's time zone (UTC if unknown).
func (o Organisation) Location() *time.Location {
	if loc, err := time.LoadLocation(o.Timezone); err == nil {
		return loc
	}
	return time.UTC
}

// Organisations lists every organisation (platform administrators only).
func (s *Store) Organisations(ctx context.Context) ([]Organisation, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, name, timezone, min_visit_minutes, created_at FROM organisations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: organisations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organisation, error) {
		var o Organisation
		err := r.Scan(&o.ID, &o.Name, &o.Timezone, &o.MinVisitMinutes, &o.CreatedAt)
		return o, err
	})
}

// OrganisationByID finds one organisation.
func (s *Store) OrganisationByID(ctx context.Context, id int64) (Organisation, error) {
	var o Organisation
	err := s.Pool.QueryRow(ctx, `SELECT id, name, timezone, min_visit_minutes, created_at FROM organisations WHERE id = $1`, id).
		Scan(&o.ID, &o.Name, &o.Timezone, &o.MinVisitMinutes, &o.CreatedAt)
	return o, notFound(err)
}

// Group is a group / area of workers.
type Group struct {
	ID    int64
	OrgID int64
	Name  string
}

// AddGroup creates a group in an organisation.
func (s *Store) AddGroup(ctx context.Context, orgID int64, name string) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO groups (org_id, name) VALUES ($1, $2) RETURNING id`, orgID, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add group: %w", duplicate(err))
	}
	return id, nil
}

// Groups lists an organisation's groups.
func (s *Store) Groups(ctx context.Context, orgID int64) ([]Group, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, org_id, name FROM groups WHERE org_id = $1 ORDER BY name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: groups: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) {
		var g Group
		err := r.Scan(&g.ID, &g.OrgID, &g.Name)
		return g, err
	})
}

// SetSupervisorGroups replaces the groups a supervisor sees; every group
// must belong to the supervisor's organisation.
func (s *Store) SetSupervisorGroups(ctx context.Context, orgID, userID int64, groupIDs []int64) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM supervisor_groups WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO supervisor_groups (user_id, group_id)
			SELECT u.id, g.id FROM users u JOIN groups g ON g.org_id = u.org_id
			WHERE u.id = $1 AND u.org_id = $2 AND g.id = ANY($3)`, userID, orgID, groupIDs)
		return err
	})
}

// SupervisorGroups lists the group ids a supervisor sees.
func (s *Store) SupervisorGroups(ctx context.Context, userID int64) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT group_id FROM supervisor_groups WHERE user_id = $1 ORDER BY 1`, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// Scope is what a staff user may see: their organisation, and for a
// supervisor only the workers of their groups (Groups != nil). Every
// cabinet query takes one, so another organisation's rows are never read.
type Scope struct {
	OrgID    int64
	UserID   int64
	Role     string
	Groups   []int64 // nil = the whole organisation
	ReadOnly bool
}

// AllGroups reports whether the scope covers every group.
func (sc Scope) AllGroups() bool { return sc.Groups == nil }
