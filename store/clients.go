package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Client is a care recipient with the home geofence.
type Client struct {
	ID        int64
	OrgID     int64
	FullName  string
	Address   string
	Phone     string
	Notes     string
	FenceKind string // "circle" or "polygon"
	CenterLat float64
	CenterLon float64
	RadiusM   float64
	Polygon   [][2]float64 // [lon, lat] pairs, closed ring
}

// Worker is a social worker of an organisation.
type Worker struct {
	ID       int64
	OrgID    int64
	FullName string
	Phone    string
	DeviceID int64 // 0 = none
}

// AddClient creates a client in org and returns its id.
func (s *Store) AddClient(ctx context.Context, c Client) (int64, error) {
	var poly any
	if c.FenceKind == "polygon" {
		b, err := json.Marshal(c.Polygon)
		if err != nil {
			return 0, err
		}
		poly = string(b)
	}
	var lat, lon, r any
	if c.FenceKind == "circle" {
		lat, lon, r = c.CenterLat, c.CenterLon, c.RadiusM
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO clients (org_id, full_name, address, phone, notes, fence_kind,
		center_lat, center_lon, radius_m, polygon) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) RETURNING id`,
		c.OrgID, c.FullName, c.Address, c.Phone, c.Notes, c.FenceKind, lat, lon, r, poly).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add client: %w", err)
	}
	return id, nil
}

// Clients lists every active client of the organisation (orgID 0 = all
// organisations, for the ingest-wide geofence index). Archived clients are
// left out: their homes are no longer visited.
func (s *Store) Clients(ctx context.Context, orgID int64) ([]Client, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, org_id, full_name, address, phone, notes, fence_kind,
		coalesce(center_lat, 0), coalesce(center_lon, 0), coalesce(radius_m, 0), coalesce(polygon::text, '')
		FROM clients WHERE ($1 = 0 OR org_id = $1) AND archived_at IS NULL ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) {
		var c Client
		var poly string
		if err := r.Scan(&c.ID, &c.OrgID, &c.FullName, &c.Address, &c.Phone, &c.Notes, &c.FenceKind,
			&c.CenterLat, &c.CenterLon, &c.RadiusM, &poly); err != nil {
			return c, err
		}
		if poly != "" {
			if err := json.Unmarshal([]byte(poly), &c.Polygon); err != nil {
				return c, fmt.Errorf("client %d polygon: %w", c.ID, err)
			}
		}
		return c, nil
	})
}

// AddWorker creates a worker in org, optionally holding a device.
func (s *Store) AddWorker(ctx context.Context, w Worker) (int64, error) {
	var dev any
	if w.DeviceID != 0 {
		dev = w.DeviceID
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO workers (org_id, full_name, phone, device_id) VALUES ($1, $2, $3, $4) RETURNING id`,
		w.OrgID, w.FullName, w.Phone, dev).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add worker: %w", duplicate(err))
	}
	return id, nil
}

// AssignClient makes the worker serve the client (both of one organisation).
func (s *Store) AssignClient(ctx context.Context, workerID, clientID int64) error {
	tag, err := s.Pool.Exec(ctx, `INSERT INTO worker_clients (worker_id, client_id)
		SELECT w.id, c.id FROM workers w JOIN clients c ON c.org_id = w.org_id WHERE w.id = $1 AND c.id = $2
		ON CONFLICT DO NOTHING`, workerID, clientID)
	if err != nil {
		return fmt.Errorf("store: assign client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM worker_clients WHERE worker_id = $1 AND client_id = $2)`, workerID, clientID).Scan(&exists)
		if !exists {
			return fmt.Errorf("store: assign client %d to worker %d: %w", clientID, workerID, ErrNotFound)
		}
	}
	return nil
}

// DeviceAssignment ties a device to its worker, organisation and clients:
// what the visit detector needs to narrow candidates.
type DeviceAssignment struct {
	DeviceID  int64
	WorkerID  int64
	OrgID     int64
	ClientIDs []int64
}

// Assignments lists, for every device held by an active worker, the
// worker's active clients (archived workers and clients are left out; the
// assignment rows stay for history).
func (s *Store) Assignments(ctx context.Context) ([]DeviceAssignment, error) {
	rows, err := s.Pool.Query(ctx, `SELECT w.device_id, w.id, w.org_id,
		coalesce(array_agg(wc.client_id ORDER BY wc.client_id) FILTER (WHERE wc.client_id IS NOT NULL), '{}')
		FROM workers w LEFT JOIN (worker_clients wc JOIN clients c ON c.id = wc.client_id AND c.archived_at IS NULL)
			ON wc.worker_id = w.id
		WHERE w.device_id IS NOT NULL AND w.archived_at IS NULL GROUP BY w.id ORDER BY w.device_id`)
	if err != nil {
		return nil, fmt.Errorf("store: assignments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceAssignment, error) {
		var a DeviceAssignment
		err := r.Scan(&a.DeviceID, &a.WorkerID, &a.OrgID, &a.ClientIDs)
		return a, err
	})
}
