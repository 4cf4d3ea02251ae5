package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ---- clients ----

// DirClient is a client with what the directory shows around it.
type DirClient struct {
	Client
	UpdatedAt  time.Time `json:"-"`
	WorkerIDs  []int64
	ServiceIDs []int64
	// Archived: when and why (see archive.go); zero and "" while active.
	ArchivedAt    time.Time `json:"-"`
	ArchiveReason string    `json:"-"`
}

// Archived reports whether the client is off the books.
func (c DirClient) Archived() bool { return !c.ArchivedAt.IsZero() }

// dirClients finds clients in any archive state (one by id, or all).
func (s *Store) dirClients(ctx context.Context, q Querier, sc Scope, id int64) ([]DirClient, error) {
	return s.dirClientsIn(ctx, q, sc, id, AnyArchived)
}

func (s *Store) dirClientsIn(ctx context.Context, q Querier, sc Scope, id int64, f ArchiveFilter) ([]DirClient, error) {
	rows, err := q.Query(ctx, `SELECT c.id, c.org_id, c.full_name, c.address, c.phone, c.notes, c.fence_kind,
		coalesce(c.center_lat, 0), coalesce(c.center_lon, 0), coalesce(c.radius_m, 0), coalesce(c.polygon::text, ''), c.updated_at,
		array(SELECT worker_id FROM worker_clients WHERE client_id = c.id ORDER BY 1),
		array(SELECT service_id FROM client_services WHERE client_id = c.id ORDER BY 1),
		c.archived_at, `+archiveReasonSQL("client", "c")+`
		FROM clients c WHERE c.org_id = $1 AND `+clientVisible+` AND ($3 = 0 OR c.id = $3)
		AND ($4::boolean IS NULL OR (c.archived_at IS NOT NULL) = $4)
		ORDER BY c.full_name, c.id`, sc.OrgID, sc.Groups, id, f.arg())
	if err != nil {
		return nil, fmt.Errorf("store: clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DirClient, error) {
		var c DirClient
		var poly string
		var at *time.Time
		if err := r.Scan(&c.ID, &c.OrgID, &c.FullName, &c.Address, &c.Phone, &c.Notes, &c.FenceKind,
			&c.CenterLat, &c.CenterLon, &c.RadiusM, &poly, &c.UpdatedAt, &c.WorkerIDs, &c.ServiceIDs, &at, &c.ArchiveReason); err != nil {
			return c, err
		}
		if at != nil {
			c.ArchivedAt = *at
		}
		if poly != "" {
			if err := json.Unmarshal([]byte(poly), &c.Polygon); err != nil {
				return c, fmt.Errorf("client %d polygon: %w", c.ID, err)
			}
		}
		return c, nil
	})
}

// DirClients lists the active (not archived) clients the scope sees, by
// name: the list, the map and every picker.
func (s *Store) DirClients(ctx context.Context, sc Scope) ([]DirClient, error) {
	return s.DirClientsIn(ctx, sc, NotArchived)
}

// DirClient finds one client in scope, archived or not.
func (s *Store) DirClient(ctx context.Context, sc Scope, id int64) (DirClient, error) {
	if id <= 0 {
		return DirClient{}, ErrNotFound
	}
	return one(s.dirClients(ctx, s.Pool, sc, id))
}

func fenceArgs(c Client) (lat, lon, r, poly any, err error) {
	switch c.FenceKind {
	case "circle":
		return c.CenterLat, c.CenterLon, c.RadiusM, nil, nil
	case "polygon":
		b, err := json.Marshal(c.Polygon)
		return nil, nil, nil, string(b), err
	}
	return nil, nil, nil, nil, fmt.Errorf("fence kind %q", c.FenceKind)
}

// UpdateClient replaces the client's details and home geofence (the client
// of c.OrgID with c.ID; ErrNotFound otherwise) and sets updated_at. Visits
// already detected are not re-evaluated: that is `carevisit visits recompute`.
func (s *Store) UpdateClient(ctx context.Context, c Client) error {
	return updateClient(ctx, s.Pool, c)
}

func updateClient(ctx context.Context, q Querier, c Client) error {
	lat, lon, r, poly, err := fenceArgs(c)
	if err != nil {
		return fmt.Errorf("store: update client: %w", err)
	}
	tag, err := q.Exec(ctx, `UPDATE clients SET full_name = $3, address = $4, phone = $5, notes = $6, fence_kind = $7,
		center_lat = $8, center_lon = $9, radius_m = $10, polygon = $11::jsonb, updated_at = now()
		WHERE id = $1 AND org_id = $2`, c.ID, c.OrgID, c.FullName, c.Address, c.Phone, c.Notes, c.FenceKind, lat, lon, r, poly)
	if err != nil {
		return fmt.Errorf("store: update client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: update client %d: %w", c.ID, ErrNotFound)
	}
	return nil
}

// FenceChanged reports whether two clients' home geofences differ.
func FenceChanged(a, b Client) bool {
	if a.FenceKind != b.FenceKind {
		return true
	}
	if a.FenceKind == "circle" {
		return a.CenterLat != b.CenterLat || a.CenterLon != b.CenterLon || a.RadiusM != b.RadiusM
	}
	if len(a.Polygon) != len(b.Polygon) {
		return true
	}
	for i := range a.Polygon {
		if a.Polygon[i] != b.Polygon[i] {
			return true
		}
	}
	return false
}

// SaveClient creates (ID 0) or updates a client of the organisation in
// scope. It reports whether the home geofence changed (always for a new
// client). An archived client is not edited (ErrArchived).
func (s *Store) SaveClient(ctx context.Context, sc Scope, c Client) (int64, bool, error) {
	c.OrgID = sc.OrgID
	changed := true
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if c.ID == 0 {
			lat, lon, r, poly, err := fenceArgs(c)
			if err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `INSERT INTO clients (org_id, full_name, address, phone, notes, fence_kind,
				center_lat, center_lon, radius_m, polygon) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) RETURNING id`,
				c.OrgID, c.FullName, c.Address, c.Phone, c.Notes, c.FenceKind, lat, lon, r, poly).Scan(&c.ID); err != nil {
				return err
			}
			return s.audit(ctx, tx, sc, "create", "client", c.ID, nil, c)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM clients WHERE id = $1 FOR UPDATE`, c.ID); err != nil {
			return err
		}
		before, err := one(s.dirClients(ctx, tx, sc, c.ID))
		if err != nil {
			return err
		}
		if before.Archived() {
			return ErrArchived
		}
		changed = FenceChanged(before.Client, c)
		if err := updateClient(ctx, tx, c); err != nil {
			return err
		}
		return s.audit(ctx, tx, sc, "update", "client", c.ID, before.Client, c)
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: save client: %w", err)
	}
	return c.ID, changed, nil
}

// SetClientServices replaces a client's services (from the individual
// programme); every service must be the organisation's. An archived
// client is not edited (ErrArchived).
func (s *Store) SetClientServices(ctx context.Context, sc Scope, clientID int64, serviceIDs []int64) error {
	ids := uniq(serviceIDs)
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		before, err := one(s.dirClients(ctx, tx, sc, clientID))
		if err != nil {
			return err
		}
		if before.Archived() {
			return ErrArchived
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM services WHERE org_id = $1 AND id = ANY($2)`, sc.OrgID, ids).Scan(&n); err != nil {
			return err
		}
		if n != len(ids) {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM client_services WHERE client_id = $1 AND NOT service_id = ANY($2)`, clientID, ids); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO client_services (client_id, service_id) SELECT $1, unnest($2::bigint[])
			ON CONFLICT DO NOTHING`, clientID, ids); err != nil {
			return err
		}
		return s.audit(ctx, tx, sc, "update", "client_services", clientID,
			map[string]any{"service_ids": before.ServiceIDs}, map[string]any{"service_ids": ids})
	})
	if err != nil {
		return fmt.Errorf("store: client services: %w", err)
	}
	return nil
}

// ---- services ----

// Service is an item of the services catalogue with its norm: the least
// time a visit for it should take.
type Service struct {
	ID          int64  `json:"id"`
	OrgID       int64  `json:"-"`
	Name        string `json:"name"`
	NormMinutes int    `json:"norm_minutes"`
	Active      bool   `json:"active"`
}

// Services lists the organisation's services catalogue, by name.
func (s *Store) Services(ctx context.Context, orgID int64) ([]Service, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, org_id, name, norm_minutes, active FROM services WHERE org_id = $1
		ORDER BY NOT active, name, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: services: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Service, error) {
		var v Service
		err := r.Scan(&v.ID, &v.OrgID, &v.Name, &v.NormMinutes, &v.Active)
		return v, err
	})
}

// SaveService creates (ID 0) or updates a service; a taken name is
// ErrDuplicate.
func (s *Store) SaveService(ctx context.Context, sc Scope, v Service) (int64, error) {
	v.OrgID = sc.OrgID
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if v.ID == 0 {
			if err := tx.QueryRow(ctx, `INSERT INTO services (org_id, name, norm_minutes, active) VALUES ($1, $2, $3, $4) RETURNING id`,
				v.OrgID, v.Name, v.NormMinutes, v.Active).Scan(&v.ID); err != nil {
				return duplicate(err)
			}
			return s.audit(ctx, tx, sc, "create", "service", v.ID, nil, v)
		}
		var b Service
		if err := tx.QueryRow(ctx, `SELECT id, org_id, name, norm_minutes, active FROM services WHERE id = $1 AND org_id = $2 FOR UPDATE`,
			v.ID, v.OrgID).Scan(&b.ID, &b.OrgID, &b.Name, &b.NormMinutes, &b.Active); err != nil {
			return notFound(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE services SET name = $2, norm_minutes = $3, active = $4 WHERE id = $1`,
			v.ID, v.Name, v.NormMinutes, v.Active); err != nil {
			return duplicate(err)
		}
		return s.audit(ctx, tx, sc, "update", "service", v.ID, b, v)
	})
	if err != nil {
		return 0, fmt.Errorf("store: save service: %w", err)
	}
	return v.ID, nil
}
