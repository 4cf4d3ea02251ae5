package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Archiving takes a client or a worker off the books without deleting the
// row: visits, reports and the audit log keep referring to them. An
// archived client's home is no longer a geofence for the visit detector;
// an archived worker's device is freed. Restore clears the mark only: the
// planned visits stay cancelled and the device unlinked, for staff to
// decide again.

// ErrArchived is returned for a change that needs an active client or
// worker (editing, planning) when it is archived, and for archiving one
// twice.
var ErrArchived = errors.New("archived")

// ErrNotArchived is returned when restoring a client or worker that is not
// archived.
var ErrNotArchived = errors.New("not archived")

// ErrNoReason is returned when archiving without a reason.
var ErrNoReason = errors.New("a reason is required")

// ArchiveFilter picks directory rows by their archive state.
type ArchiveFilter int

const (
	NotArchived  ArchiveFilter = iota // active rows: lists and pickers
	OnlyArchived                      // the archive
	AnyArchived                       // both: names of everyone ever served
)

// arg is the SQL argument: NULL = any, else whether archived.
func (f ArchiveFilter) arg() *bool {
	var b bool
	switch f {
	case NotArchived:
		b = false
	case OnlyArchived:
		b = true
	default:
		return nil
	}
	return &b
}

// archiveReasonSQL is the reason of the latest 'archive' audit entry of
// the row alias.id of entity; empty for an active row.
func archiveReasonSQL(entity, alias string) string {
	return `CASE WHEN ` + alias + `.archived_at IS NULL THEN '' ELSE coalesce((SELECT ar.reason FROM audit_log ar
		WHERE ar.entity = '` + entity + `' AND ar.entity_id = ` + alias + `.id AND ar.org_id = ` + alias + `.org_id
		AND ar.action = 'archive' ORDER BY ar.at DESC, ar.id DESC LIMIT 1), '') END`
}

// maxReason is the longest archive reason kept, in characters.
const maxReason = 500

func archiveReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", ErrNoReason
	}
	if r := []rune(reason); len(r) > maxReason {
		reason = string(r[:maxReason])
	}
	return reason, nil
}

// DirClientsIn lists the clients the scope sees in the given archive state,
// by name. DirClients is DirClientsIn(NotArchived).
func (s *Store) DirClientsIn(ctx context.Context, sc Scope, f ArchiveFilter) ([]DirClient, error) {
	return s.dirClientsIn(ctx, s.Pool, sc, 0, f)
}

// DirWorkersIn lists the workers the scope sees in the given archive
// state, by name. DirWorkers is DirWorkersIn(NotArchived).
func (s *Store) DirWorkersIn(ctx context.Context, sc Scope, f ArchiveFilter) ([]DirWorker, error) {
	return s.dirWorkersIn(ctx, s.Pool, sc, 0, false, f)
}

// ArchiveClient takes the client off the books: archived_at is set and the
// client's planned visits are cancelled (active = false); assignments to
// workers stay for history and a restore. Outside the scope: ErrNotFound;
// already archived: ErrArchived; an empty reason: ErrNoReason.
func (s *Store) ArchiveClient(ctx context.Context, sc Scope, id int64, reason string) error {
	reason, err := archiveReason(reason)
	if err != nil {
		return fmt.Errorf("store: archive client: %w", err)
	}
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		c, err := s.lockClient(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		if c.Archived() {
			return ErrArchived
		}
		var at time.Time
		if err := tx.QueryRow(ctx, `UPDATE clients SET archived_at = now() WHERE id = $1 RETURNING archived_at`, id).Scan(&at); err != nil {
			return err
		}
		plans, err := cancelPlans(ctx, tx, `client_id`, id)
		if err != nil {
			return err
		}
		return s.auditArchive(ctx, tx, sc, "archive", "client", id, reason, map[string]any{"archived_at": nil},
			map[string]any{"archived_at": at, "cancelled_plans": plans})
	})
	if err != nil {
		return fmt.Errorf("store: archive client %d: %w", id, err)
	}
	return nil
}

// RestoreClient puts an archived client back on the books. Planned visits
// cancelled by the archiving stay cancelled. Outside the scope:
// ErrNotFound; not archived: ErrNotArchived.
func (s *Store) RestoreClient(ctx context.Context, sc Scope, id int64) error {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		c, err := s.lockClient(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		if !c.Archived() {
			return ErrNotArchived
		}
		if _, err := tx.Exec(ctx, `UPDATE clients SET archived_at = NULL WHERE id = $1`, id); err != nil {
			return err
		}
		return s.auditArchive(ctx, tx, sc, "restore", "client", id, "",
			map[string]any{"archived_at": c.ArchivedAt, "reason": c.ArchiveReason}, map[string]any{"archived_at": nil})
	})
	if err != nil {
		return fmt.Errorf("store: restore client %d: %w", id, err)
	}
	return nil
}

// ArchiveWorker takes the worker off the books: archived_at is set, the
// device is freed (to be handed to someone else) and the worker's planned
// visits are cancelled; assignments to clients stay. Outside the scope:
// ErrNotFound; already archived: ErrArchived; an empty reason: ErrNoReason.
func (s *Store) ArchiveWorker(ctx context.Context, sc Scope, id int64, reason string) error {
	reason, err := archiveReason(reason)
	if err != nil {
		return fmt.Errorf("store: archive worker: %w", err)
	}
	err = s.InTx(ctx, func(tx pgx.Tx) error {
		w, err := s.lockWorker(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		if w.Archived() {
			return ErrArchived
		}
		var at time.Time
		if err := tx.QueryRow(ctx, `UPDATE workers SET archived_at = now(), device_id = NULL WHERE id = $1 RETURNING archived_at`,
			id).Scan(&at); err != nil {
			return err
		}
		plans, err := cancelPlans(ctx, tx, `worker_id`, id)
		if err != nil {
			return err
		}
		return s.auditArchive(ctx, tx, sc, "archive", "worker", id, reason,
			map[string]any{"archived_at": nil, "device_id": w.DeviceID},
			map[string]any{"archived_at": at, "device_id": 0, "cancelled_plans": plans})
	})
	if err != nil {
		return fmt.Errorf("store: archive worker %d: %w", id, err)
	}
	return nil
}

// RestoreWorker puts an archived worker back on the books, with no device
// and the planned visits still cancelled. Outside the scope: ErrNotFound;
// not archived: ErrNotArchived.
func (s *Store) RestoreWorker(ctx context.Context, sc Scope, id int64) error {
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		w, err := s.lockWorker(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		if !w.Archived() {
			return ErrNotArchived
		}
		if _, err := tx.Exec(ctx, `UPDATE workers SET archived_at = NULL WHERE id = $1`, id); err != nil {
			return err
		}
		return s.auditArchive(ctx, tx, sc, "restore", "worker", id, "",
			map[string]any{"archived_at": w.ArchivedAt, "reason": w.ArchiveReason}, map[string]any{"archived_at": nil})
	})
	if err != nil {
		return fmt.Errorf("store: restore worker %d: %w", id, err)
	}
	return nil
}

// lockClient locks the organisation's client row and reads it in scope.
func (s *Store) lockClient(ctx context.Context, tx pgx.Tx, sc Scope, id int64) (DirClient, error) {
	if id <= 0 {
		return DirClient{}, ErrNotFound
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM clients WHERE id = $1 AND org_id = $2 FOR UPDATE`, id, sc.OrgID); err != nil {
		return DirClient{}, err
	}
	return one(s.dirClients(ctx, tx, sc, id))
}

// lockWorker locks the worker row in scope and reads it.
func (s *Store) lockWorker(ctx context.Context, tx pgx.Tx, sc Scope, id int64) (DirWorker, error) {
	if id <= 0 {
		return DirWorker{}, ErrNotFound
	}
	return one(s.dirWorkers(ctx, tx, sc, id, true))
}

// cancelPlans deactivates the active planned visits whose column (client_id
// or worker_id) is id and returns their ids.
func cancelPlans(ctx context.Context, tx pgx.Tx, column string, id int64) ([]int64, error) {
	rows, err := tx.Query(ctx, `UPDATE planned_visits SET active = false WHERE `+column+` = $1 AND active RETURNING id`, id)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if ids == nil {
		ids = []int64{}
	}
	return ids, err
}

// auditArchive is s.audit with the reason in the audit entry's own column.
func (s *Store) auditArchive(ctx context.Context, tx pgx.Tx, sc Scope, action, entity string, id int64, reason string, before, after any) error {
	return s.Audit(ctx, tx, AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: action, Entity: entity, EntityID: id,
		Reason: reason}, before, after)
}
