package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The staff cabinet's directory: workers, devices, groups (this file),
// clients and services (directory_clients.go), planned and missed visits
// (directory_plans.go). Every method takes the caller's Scope: rows of
// another organisation, or outside a supervisor's groups, are ErrNotFound.
// Every change writes audit_log in the same transaction.

// In SQL below $1 is always the organisation and $2 the supervisor's groups
// (NULL = all groups).

// clientVisible: a supervisor sees the clients of their groups' workers.
const clientVisible = `($2::bigint[] IS NULL OR EXISTS (SELECT 1 FROM worker_clients vwc
	JOIN workers vw ON vw.id = vwc.worker_id WHERE vwc.client_id = c.id AND vw.group_id = ANY($2)))`

func (s *Store) audit(ctx context.Context, tx pgx.Tx, sc Scope, action, entity string, id int64, before, after any) error {
	return s.Audit(ctx, tx, AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: action, Entity: entity, EntityID: id}, before, after)
}

// inGroups reports whether the scope covers the group (0 = no group: only
// for the whole-organisation scope).
func (sc Scope) inGroups(groupID int64) bool {
	return sc.AllGroups() || (groupID != 0 && slices.Contains(sc.Groups, groupID))
}

// ---- workers ----

// DirWorker is a worker as the directory shows it.
type DirWorker struct {
	ID             int64   `json:"id"`
	OrgID          int64   `json:"-"`
	FullName       string  `json:"full_name"`
	Phone          string  `json:"phone"`
	GroupID        int64   `json:"group_id"`
	GroupName      string  `json:"-"`
	DeviceID       int64   `json:"device_id"`
	DeviceIdent    string  `json:"-"`
	DeviceProtocol string  `json:"-"`
	ClientIDs      []int64 `json:"client_ids"`
	// Archived: when and why (see archive.go); zero and "" while active.
	ArchivedAt    time.Time `json:"-"`
	ArchiveReason string    `json:"-"`
}

// Archived reports whether the worker is off the books.
func (w DirWorker) Archived() bool { return !w.ArchivedAt.IsZero() }

// dirWorkers finds workers in any archive state (one by id, or all).
func (s *Store) dirWorkers(ctx context.Context, q Querier, sc Scope, id int64, lock bool) ([]DirWorker, error) {
	return s.dirWorkersIn(ctx, q, sc, id, lock, AnyArchived)
}

func (s *Store) dirWorkersIn(ctx context.Context, q Querier, sc Scope, id int64, lock bool, f ArchiveFilter) ([]DirWorker, error) {
	sql := `SELECT w.id, w.org_id, w.full_name, w.phone, coalesce(w.group_id, 0), coalesce(g.name, ''),
		coalesce(w.device_id, 0), coalesce(d.ident, ''), coalesce(d.protocol, ''),
		array(SELECT client_id FROM worker_clients WHERE worker_id = w.id ORDER BY 1),
		w.archived_at, ` + archiveReasonSQL("worker", "w") + `
		FROM workers w LEFT JOIN groups g ON g.id = w.group_id LEFT JOIN devices d ON d.id = w.device_id
		WHERE w.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)) AND ($3 = 0 OR w.id = $3)
		AND ($4::boolean IS NULL OR (w.archived_at IS NOT NULL) = $4)
		ORDER BY w.full_name, w.id`
	if lock {
		sql += ` FOR UPDATE OF w`
	}
	rows, err := q.Query(ctx, sql, sc.OrgID, sc.Groups, id, f.arg())
	if err != nil {
		return nil, fmt.Errorf("store: workers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DirWorker, error) {
		var w DirWorker
		var at *time.Time
		err := r.Scan(&w.ID, &w.OrgID, &w.FullName, &w.Phone, &w.GroupID, &w.GroupName, &w.DeviceID, &w.DeviceIdent,
			&w.DeviceProtocol, &w.ClientIDs, &at, &w.ArchiveReason)
		if at != nil {
			w.ArchivedAt = *at
		}
		return w, err
	})
}

func one[T any](list []T, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if len(list) == 0 {
		return zero, ErrNotFound
	}
	return list[0], nil
}

// DirWorkers lists the active (not archived) workers the scope sees, by
// name: the list and every picker.
func (s *Store) DirWorkers(ctx context.Context, sc Scope) ([]DirWorker, error) {
	return s.DirWorkersIn(ctx, sc, NotArchived)
}

// DirWorker finds one worker in scope, archived or not.
func (s *Store) DirWorker(ctx context.Context, sc Scope, id int64) (DirWorker, error) {
	if id <= 0 {
		return DirWorker{}, ErrNotFound
	}
	return one(s.dirWorkers(ctx, s.Pool, sc, id, false))
}

// SaveWorker creates (ID 0) or updates a worker with its group, device and
// clients. The group must be in scope; device and clients must be the
// organisation's (ErrNotFound otherwise; for supervisors the clients must
// be visible to them); a device another worker holds is ErrDuplicate. An
// archived worker is not edited (ErrArchived); assignments to archived
// clients are kept whatever ClientIDs says, and none is added.
func (s *Store) SaveWorker(ctx context.Context, sc Scope, w DirWorker) (int64, error) {
	if !sc.inGroups(w.GroupID) {
		return 0, fmt.Errorf("store: save worker: group %d: %w", w.GroupID, ErrNotFound)
	}
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var before *DirWorker
		if w.ID != 0 {
			b, err := one(s.dirWorkers(ctx, tx, sc, w.ID, true))
			if err != nil {
				return err
			}
			before = &b
			if b.Archived() {
				return ErrArchived
			}
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT ($3 = 0 OR EXISTS (SELECT 1 FROM groups WHERE id = $3 AND org_id = $1))
			AND ($4 = 0 OR EXISTS (SELECT 1 FROM devices WHERE id = $4 AND org_id = $1))
			AND (SELECT count(*) FROM clients c WHERE c.org_id = $1 AND c.id = ANY($5) AND `+clientVisible+`
				AND (c.archived_at IS NULL OR EXISTS (SELECT 1 FROM worker_clients x WHERE x.worker_id = $6 AND x.client_id = c.id))) = cardinality($5)`,
			sc.OrgID, sc.Groups, w.GroupID, w.DeviceID, uniq(w.ClientIDs), w.ID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if w.ID == 0 {
			if err := tx.QueryRow(ctx, `INSERT INTO workers (org_id, full_name, phone, group_id, device_id)
				VALUES ($1, $2, $3, $4, $5) RETURNING id`, sc.OrgID, w.FullName, w.Phone, nullID(w.GroupID), nullID(w.DeviceID)).Scan(&w.ID); err != nil {
				return duplicate(err)
			}
		} else if _, err := tx.Exec(ctx, `UPDATE workers SET full_name = $2, phone = $3, group_id = $4, device_id = $5 WHERE id = $1`,
			w.ID, w.FullName, w.Phone, nullID(w.GroupID), nullID(w.DeviceID)); err != nil {
			return duplicate(err)
		}
		// Archived clients are not in the form: their rows stay (history, restore).
		if _, err := tx.Exec(ctx, `DELETE FROM worker_clients WHERE worker_id = $1 AND NOT client_id = ANY($2)
			AND client_id IN (SELECT id FROM clients WHERE archived_at IS NULL)`, w.ID, uniq(w.ClientIDs)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO worker_clients (worker_id, client_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`,
			w.ID, uniq(w.ClientIDs)); err != nil {
			return err
		}
		after, err := one(s.dirWorkers(ctx, tx, Scope{OrgID: sc.OrgID}, w.ID, false))
		if err != nil {
			return err
		}
		action := "create"
		if before != nil {
			action = "update"
		}
		return s.audit(ctx, tx, sc, action, "worker", w.ID, before, after)
	})
	if err != nil {
		return 0, fmt.Errorf("store: save worker: %w", err)
	}
	return w.ID, nil
}

func uniq(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id > 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// ---- devices ----

// DirDevice is a device as the directory shows it.
type DirDevice struct {
	ID         int64     `json:"id"`
	Ident      string    `json:"ident"`
	Protocol   string    `json:"protocol"`
	Model      string    `json:"model"`
	Name       string    `json:"name"`
	Disabled   bool      `json:"disabled"`
	HasToken   bool      `json:"has_token"`
	WorkerID   int64     `json:"-"`
	WorkerName string    `json:"-"`
	LastFix    time.Time `json:"-"` // zero = never
}

func (s *Store) dirDevices(ctx context.Context, q Querier, sc Scope, id int64) ([]DirDevice, error) {
	// Supervisors see the devices of their groups' workers and free ones
	// (to hand one to a worker).
	rows, err := q.Query(ctx, `SELECT d.id, d.ident, d.protocol, d.model, d.name, d.disabled, d.token_hash IS NOT NULL,
		coalesce(w.id, 0), coalesce(w.full_name, ''), coalesce(p.fix_time, '0001-01-01Z')
		FROM devices d LEFT JOIN workers w ON w.device_id = d.id LEFT JOIN device_last_position p ON p.device_id = d.id
		WHERE d.org_id = $1 AND ($2::bigint[] IS NULL OR w.id IS NULL OR w.group_id = ANY($2)) AND ($3 = 0 OR d.id = $3)
		ORDER BY d.name, d.ident`, sc.OrgID, sc.Groups, id)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DirDevice, error) {
		var d DirDevice
		err := r.Scan(&d.ID, &d.Ident, &d.Protocol, &d.Model, &d.Name, &d.Disabled, &d.HasToken, &d.WorkerID, &d.WorkerName, &d.LastFix)
		if d.LastFix.Year() == 1 {
			d.LastFix = time.Time{}
		}
		return d, err
	})
}

// DirDevices lists the organisation's devices the scope sees.
func (s *Store) DirDevices(ctx context.Context, sc Scope) ([]DirDevice, error) {
	return s.dirDevices(ctx, s.Pool, sc, 0)
}

// DirDevice finds one device in scope.
func (s *Store) DirDevice(ctx context.Context, sc Scope, id int64) (DirDevice, error) {
	if id <= 0 {
		return DirDevice{}, ErrNotFound
	}
	return one(s.dirDevices(ctx, s.Pool, sc, id))
}

// SaveDevice creates (ID 0) or updates a device of the organisation; a
// taken ident is ErrDuplicate. tokenHash, when not nil, becomes the device's
// app token hash (a device that is not an "app" device loses its token).
func (s *Store) SaveDevice(ctx context.Context, sc Scope, d DirDevice, tokenHash []byte) (int64, error) {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var before *DirDevice
		if d.ID != 0 {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM devices WHERE id = $1 FOR UPDATE`, d.ID); err != nil {
				return err
			}
			b, err := one(s.dirDevices(ctx, tx, sc, d.ID))
			if err != nil {
				return err
			}
			before = &b
			if _, err := tx.Exec(ctx, `UPDATE devices SET ident = $2, protocol = $3, model = $4, name = $5, disabled = $6,
				token_hash = CASE WHEN $3 <> 'app' THEN NULL ELSE coalesce($7, token_hash) END WHERE id = $1`,
				d.ID, d.Ident, d.Protocol, d.Model, d.Name, d.Disabled, tokenHash); err != nil {
				return duplicate(err)
			}
		} else {
			if err := tx.QueryRow(ctx, `INSERT INTO devices (org_id, ident, protocol, model, name, disabled, token_hash)
				VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3 = 'app' THEN $7::bytea END) RETURNING id`,
				sc.OrgID, d.Ident, d.Protocol, d.Model, d.Name, d.Disabled, tokenHash).Scan(&d.ID); err != nil {
				return duplicate(err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM unknown_devices WHERE ident = $1`, d.Ident); err != nil {
			return err
		}
		after, err := one(s.dirDevices(ctx, tx, Scope{OrgID: sc.OrgID}, d.ID))
		if err != nil {
			return err
		}
		action := "create"
		if before != nil {
			action = "update"
		}
		return s.audit(ctx, tx, sc, action, "device", d.ID, before, after)
	})
	if err != nil {
		return 0, fmt.Errorf("store: save device: %w", err)
	}
	return d.ID, nil
}

// SetDeviceToken replaces the app token hash of an "app" device
// (ErrNotFound for other devices).
func (s *Store) SetDeviceToken(ctx context.Context, sc Scope, id int64, tokenHash []byte) error {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		d, err := one(s.dirDevices(ctx, tx, sc, id))
		if err != nil {
			return err
		}
		if d.Protocol != "app" {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `UPDATE devices SET token_hash = $2 WHERE id = $1 AND org_id = $3`, id, tokenHash, sc.OrgID); err != nil {
			return err
		}
		// The token itself is never logged; only that it changed.
		return s.audit(ctx, tx, sc, "new_token", "device", id, map[string]any{"has_token": d.HasToken}, map[string]any{"has_token": true})
	})
	if err != nil {
		return fmt.Errorf("store: device token: %w", err)
	}
	return nil
}

// RegisterUnknown registers a device from the unknown list into the
// organisation with the protocol and ident it connected with. Not in the
// list: ErrNotFound; registered meanwhile: ErrDuplicate.
func (s *Store) RegisterUnknown(ctx context.Context, sc Scope, protocol, ident string) (int64, error) {
	var id int64
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM unknown_devices WHERE protocol = $1 AND ident = $2`, protocol, ident)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if err := tx.QueryRow(ctx, `INSERT INTO devices (org_id, ident, protocol) VALUES ($1, $2, $3) RETURNING id`,
			sc.OrgID, ident, protocol).Scan(&id); err != nil {
			return duplicate(err)
		}
		return s.audit(ctx, tx, sc, "register", "device", id, nil, map[string]any{"ident": ident, "protocol": protocol})
	})
	if err != nil {
		return 0, fmt.Errorf("store: register device: %w", err)
	}
	return id, nil
}

// ---- groups ----

// DirGroup is a group with its number of workers.
type DirGroup struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Workers int    `json:"-"`
}

// DirGroups lists the groups the scope sees, by name.
func (s *Store) DirGroups(ctx context.Context, sc Scope) ([]DirGroup, error) {
	rows, err := s.Pool.Query(ctx, `SELECT g.id, g.name, (SELECT count(*) FROM workers w WHERE w.group_id = g.id AND w.archived_at IS NULL)
		FROM groups g WHERE g.org_id = $1 AND ($2::bigint[] IS NULL OR g.id = ANY($2)) ORDER BY g.name, g.id`, sc.OrgID, sc.Groups)
	if err != nil {
		return nil, fmt.Errorf("store: groups: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DirGroup, error) {
		var g DirGroup
		err := r.Scan(&g.ID, &g.Name, &g.Workers)
		return g, err
	})
}

// SaveGroup creates (ID 0) or renames a group; a taken name is ErrDuplicate.
func (s *Store) SaveGroup(ctx context.Context, sc Scope, g DirGroup) (int64, error) {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if g.ID == 0 {
			if err := tx.QueryRow(ctx, `INSERT INTO groups (org_id, name) VALUES ($1, $2) RETURNING id`, sc.OrgID, g.Name).Scan(&g.ID); err != nil {
				return duplicate(err)
			}
			return s.audit(ctx, tx, sc, "create", "group", g.ID, nil, map[string]any{"name": g.Name})
		}
		if !sc.inGroups(g.ID) {
			return ErrNotFound
		}
		var old string
		if err := tx.QueryRow(ctx, `SELECT name FROM groups WHERE id = $1 AND org_id = $2 FOR UPDATE`, g.ID, sc.OrgID).Scan(&old); err != nil {
			return notFound(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE groups SET name = $2 WHERE id = $1`, g.ID, g.Name); err != nil {
			return duplicate(err)
		}
		return s.audit(ctx, tx, sc, "update", "group", g.ID, map[string]any{"name": old}, map[string]any{"name": g.Name})
	})
	if err != nil {
		return 0, fmt.Errorf("store: save group: %w", err)
	}
	return g.ID, nil
}
