package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The worker app's data: who a token belongs to, what the worker serves,
// check-ins, service ticks and mock-location alerts. Photos and messages
// are in app_photos.go and app_messages.go.

// AppIdentity is what an app token stands for: the phone, its worker and
// the organisation. WorkerID is 0 while the device is not given to anyone.
type AppIdentity struct {
	DeviceID    int64
	DeviceIdent string
	DeviceName  string
	WorkerID    int64
	WorkerName  string
	WorkerPhone string
	Org         Organisation
}

// AppIdentityByToken finds the enabled 'app' device whose token hashes to
// tokenHash (SHA-256), with its worker and organisation; ErrNotFound
// otherwise. The device and the worker must be of one organisation.
func (s *Store) AppIdentityByToken(ctx context.Context, tokenHash []byte) (AppIdentity, error) {
	var id AppIdentity
	o := &id.Org
	err := s.Pool.QueryRow(ctx, `SELECT d.id, d.ident, d.name, coalesce(w.id, 0), coalesce(w.full_name, ''),
			coalesce(w.phone, ''), o.id, o.name, o.timezone, o.min_visit_minutes, o.created_at
		FROM devices d JOIN organisations o ON o.id = d.org_id
		LEFT JOIN workers w ON w.device_id = d.id AND w.org_id = d.org_id
		WHERE d.token_hash = $1 AND d.protocol = 'app' AND NOT d.disabled`, tokenHash).
		Scan(&id.DeviceID, &id.DeviceIdent, &id.DeviceName, &id.WorkerID, &id.WorkerName, &id.WorkerPhone,
			&o.ID, &o.Name, &o.Timezone, &o.MinVisitMinutes, &o.CreatedAt)
	return id, notFound(err)
}

// AppService is a service of a client's programme.
type AppService struct {
	ID          int64
	Name        string
	NormMinutes int
}

// AppClient is a client the worker serves, with the programme's services.
type AppClient struct {
	Client
	Services []AppService
}

// AppClients lists the clients assigned to the worker, with their home
// geofences and active services.
func (s *Store) AppClients(ctx context.Context, orgID, workerID int64) ([]AppClient, error) {
	rows, err := s.Pool.Query(ctx, `SELECT c.id, c.org_id, c.full_name, c.address, c.phone, c.notes, c.fence_kind,
			coalesce(c.center_lat, 0), coalesce(c.center_lon, 0), coalesce(c.radius_m, 0), coalesce(c.polygon::text, ''),
			coalesce((SELECT json_agg(json_build_object('id', s.id, 'name', s.name, 'norm', s.norm_minutes) ORDER BY s.name)
				FROM client_services cs JOIN services s ON s.id = cs.service_id AND s.active
				WHERE cs.client_id = c.id), '[]')::text
		FROM worker_clients wc JOIN clients c ON c.id = wc.client_id
		WHERE wc.worker_id = $1 AND c.org_id = $2 AND c.archived_at IS NULL ORDER BY c.full_name, c.id`, workerID, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: app clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppClient, error) {
		var c AppClient
		var poly, svc string
		if err := r.Scan(&c.ID, &c.OrgID, &c.FullName, &c.Address, &c.Phone, &c.Notes, &c.FenceKind,
			&c.CenterLat, &c.CenterLon, &c.RadiusM, &poly, &svc); err != nil {
			return c, err
		}
		if poly != "" {
			if err := json.Unmarshal([]byte(poly), &c.Polygon); err != nil {
				return c, fmt.Errorf("client %d polygon: %w", c.ID, err)
			}
		}
		var ss []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
			Norm int    `json:"norm"`
		}
		if err := json.Unmarshal([]byte(svc), &ss); err != nil {
			return c, err
		}
		c.Services = make([]AppService, len(ss))
		for i, x := range ss {
			c.Services[i] = AppService{ID: x.ID, Name: x.Name, NormMinutes: x.Norm}
		}
		return c, nil
	})
}

// AppPlannedVisit is a planned window of the worker's on one weekday.
type AppPlannedVisit struct {
	ID         int64
	ClientID   int64
	StartMin   int // minutes after local midnight
	EndMin     int
	ServiceIDs []int64
}

// AppPlanned lists the worker's active planned visits on an ISO weekday
// (1 = Monday), in time order.
func (s *Store) AppPlanned(ctx context.Context, orgID, workerID int64, weekday int) ([]AppPlannedVisit, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, client_id, start_min, end_min, service_ids FROM planned_visits
		WHERE org_id = $1 AND worker_id = $2 AND weekday = $3 AND active ORDER BY start_min, id`, orgID, workerID, weekday)
	if err != nil {
		return nil, fmt.Errorf("store: app planned: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppPlannedVisit, error) {
		var p AppPlannedVisit
		err := r.Scan(&p.ID, &p.ClientID, &p.StartMin, &p.EndMin, &p.ServiceIDs)
		return p, err
	})
}

// ErrNotAssigned is returned when a client of the organisation is not one
// the worker serves.
var ErrNotAssigned = errors.New("client not assigned to the worker")

// AppCheckClient returns nil when the client is the worker's, ErrNotAssigned
// when it is another client of the organisation, ErrNotFound otherwise (a
// client of another organisation is indistinguishable from none).
func (s *Store) AppCheckClient(ctx context.Context, orgID, workerID, clientID int64) error {
	var assigned bool
	// An archived client is no longer served: the app's check-ins and
	// ticks for them are refused like for any client not assigned.
	err := s.Pool.QueryRow(ctx, `SELECT c.archived_at IS NULL AND EXISTS (SELECT 1 FROM worker_clients WHERE worker_id = $2 AND client_id = c.id)
		FROM clients c WHERE c.id = $3 AND c.org_id = $1`, orgID, workerID, clientID).Scan(&assigned)
	if err != nil {
		return notFound(err)
	}
	if !assigned {
		return ErrNotAssigned
	}
	return nil
}

// Checkin is a worker's check-in ("in") or check-out ("out") at a client.
type Checkin struct {
	ID        int64
	OrgID     int64
	WorkerID  int64
	DeviceID  int64
	ClientID  int64
	Kind      string // "in" or "out"
	At        time.Time
	Lat, Lon  *float64 // nil: the phone had no position
	AccuracyM *float64
	Mock      bool
}

// AddCheckin stores a check-in; a resent one (same worker, client, kind and
// time) is stored once: created is false and the id is the stored row's.
func (s *Store) AddCheckin(ctx context.Context, c Checkin) (id int64, created bool, err error) {
	err = s.Pool.QueryRow(ctx, `INSERT INTO app_checkins (org_id, worker_id, device_id, client_id, kind, at, lat, lon, accuracy_m, mock)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (worker_id, client_id, kind, at) DO NOTHING RETURNING id`,
		c.OrgID, c.WorkerID, nullID(c.DeviceID), c.ClientID, c.Kind, c.At, c.Lat, c.Lon, c.AccuracyM, c.Mock).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("store: add checkin: %w", err)
	}
	err = s.Pool.QueryRow(ctx, `SELECT id FROM app_checkins WHERE worker_id = $1 AND client_id = $2 AND kind = $3 AND at = $4`,
		c.WorkerID, c.ClientID, c.Kind, c.At).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("store: add checkin: %w", err)
	}
	return id, false, nil
}

// Checkins lists the check-ins at a client (clientID 0: all clients) with
// from <= at < to that the scope may see, in time order: evidence for the
// visit page.
func (s *Store) Checkins(ctx context.Context, sc Scope, clientID int64, from, to time.Time) ([]Checkin, error) {
	rows, err := s.Pool.Query(ctx, `SELECT k.id, k.org_id, k.worker_id, coalesce(k.device_id, 0), k.client_id, k.kind, k.at,
			k.lat, k.lon, k.accuracy_m::float8, k.mock
		FROM app_checkins k JOIN workers w ON w.id = k.worker_id
		WHERE k.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)) AND ($3 = 0 OR k.client_id = $3)
			AND k.at >= $4 AND k.at < $5
		ORDER BY k.at, k.id`, sc.OrgID, scopeGroups(sc), clientID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: checkins: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkin, error) {
		var c Checkin
		err := r.Scan(&c.ID, &c.OrgID, &c.WorkerID, &c.DeviceID, &c.ClientID, &c.Kind, &c.At, &c.Lat, &c.Lon, &c.AccuracyM, &c.Mock)
		return c, err
	})
}

// scopeGroups is the scope's group filter as a query argument: NULL for
// the whole organisation, an array (maybe empty: nothing) for a supervisor.
func scopeGroups(sc Scope) any {
	if sc.Groups == nil {
		return nil
	}
	return sc.Groups
}

// BadServiceError names a service id that is not an active service of the
// organisation, by its index in the request.
type BadServiceError struct {
	Index int
	ID    int64
}

func (e *BadServiceError) Error() string {
	return fmt.Sprintf("service %d (item %d) is not an active service of the organisation", e.ID, e.Index)
}

// AddServiceTicks records services the worker ticked at a client at one
// time, all or none. Every id must be an active service of the organisation
// (*BadServiceError otherwise). A resent tick is stored once; created counts
// the new rows.
func (s *Store) AddServiceTicks(ctx context.Context, orgID, workerID, clientID int64, at time.Time, serviceIDs []int64) (created int64, err error) {
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM services WHERE org_id = $1 AND active AND id = ANY($2)`, orgID, serviceIDs)
		if err != nil {
			return err
		}
		ok, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		known := make(map[int64]bool, len(ok))
		for _, id := range ok {
			known[id] = true
		}
		for i, id := range serviceIDs {
			if !known[id] {
				return &BadServiceError{Index: i, ID: id}
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO service_ticks (org_id, worker_id, client_id, service_id, at)
			SELECT $1, $2, $3, unnest($4::bigint[]), $5 ON CONFLICT DO NOTHING`, orgID, workerID, clientID, serviceIDs, at)
		created = tag.RowsAffected()
		return err
	})
	var bad *BadServiceError
	if err != nil && !errors.As(err, &bad) {
		err = fmt.Errorf("store: add service ticks: %w", err)
	}
	return created, err
}

// RaiseAppAlert stores an alert unless one with the same organisation, kind
// and dedupKey exists; raised reports whether this call created it.
// details is marshalled to JSON (nil: {}).
func (s *Store) RaiseAppAlert(ctx context.Context, orgID int64, kind, dedupKey string, workerID, deviceID, clientID int64,
	at time.Time, details any) (raised bool, err error) {
	d := []byte("{}")
	if details != nil {
		if d, err = json.Marshal(details); err != nil {
			return false, err
		}
	}
	tag, err := s.Pool.Exec(ctx, `INSERT INTO alerts (org_id, kind, worker_id, device_id, client_id, at, dedup_key, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (org_id, kind, dedup_key) DO NOTHING`,
		orgID, kind, nullID(workerID), nullID(deviceID), nullID(clientID), at, dedupKey, string(d))
	if err != nil {
		return false, fmt.Errorf("store: raise alert: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
