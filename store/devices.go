package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Device is a registered tracker or phone.
type Device struct {
	ID       int64
	OrgID    int64 // 0 = not yet assigned to an organisation
	Ident    string
	Protocol string
	Model    string
	Name     string
	Disabled bool
}

// ErrDuplicate is returned when a unique value (a device's IMEI) is taken.
var ErrDuplicate = errors.New("already exists")

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func duplicate(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrDuplicate
	}
	return err
}

// Protocols are the protocol names a device may have.
var Protocols = []string{"gt06", "h02", "watch", "osmand", "app"}

// AddDevice registers a device and returns its id. A device that was in the
// unknown list leaves it.
func (s *Store) AddDevice(ctx context.Context, d Device) (int64, error) {
	var org any
	if d.OrgID != 0 {
		org = d.OrgID
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO devices (org_id, ident, protocol, model, name) VALUES ($1, $2, $3, $4, $5)
			RETURNING id`, org, d.Ident, d.Protocol, d.Model, d.Name).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM unknown_devices WHERE ident = $1`, d.Ident)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: add device %s: %w", d.Ident, duplicate(err))
	}
	return id, nil
}

// Devices lists devices, ordered by id.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, coalesce(org_id, 0), ident, protocol, model, name, disabled FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Device, error) {
		var d Device
		err := r.Scan(&d.ID, &d.OrgID, &d.Ident, &d.Protocol, &d.Model, &d.Name, &d.Disabled)
		return d, err
	})
}

// DeviceByIdent finds a device by IMEI / id.
func (s *Store) DeviceByIdent(ctx context.Context, ident string) (Device, error) {
	var d Device
	err := s.Pool.QueryRow(ctx, `SELECT id, coalesce(org_id, 0), ident, protocol, model, name, disabled FROM devices WHERE ident = $1`, ident).
		Scan(&d.ID, &d.OrgID, &d.Ident, &d.Protocol, &d.Model, &d.Name, &d.Disabled)
	return d, notFound(err)
}

// UnknownDevice is a device that connected without being registered.
type UnknownDevice struct {
	Protocol   string
	Ident      string
	RemoteAddr string
	FirstSeen  time.Time
	LastSeen   time.Time
	Count      int64
}

// NoteUnknown records that an unregistered device connected.
func (s *Store) NoteUnknown(ctx context.Context, u UnknownDevice) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO unknown_devices AS u (protocol, ident, remote_addr, first_seen, last_seen, seen_count)
		VALUES ($1, $2, $3, $4, $4, greatest($5, 1))
		ON CONFLICT (protocol, ident) DO UPDATE SET remote_addr = excluded.remote_addr,
			last_seen = greatest(u.last_seen, excluded.last_seen), seen_count = u.seen_count + excluded.seen_count`,
		u.Protocol, u.Ident, u.RemoteAddr, u.LastSeen, u.Count)
	if err != nil {
		return fmt.Errorf("store: note unknown device: %w", err)
	}
	return nil
}

// UnknownDevices lists unregistered devices, most recent first.
func (s *Store) UnknownDevices(ctx context.Context) ([]UnknownDevice, error) {
	rows, err := s.Pool.Query(ctx, `SELECT protocol, ident, remote_addr, first_seen, last_seen, seen_count
		FROM unknown_devices ORDER BY last_seen DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: unknown devices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UnknownDevice, error) {
		var u UnknownDevice
		err := r.Scan(&u.Protocol, &u.Ident, &u.RemoteAddr, &u.FirstSeen, &u.LastSeen, &u.Count)
		return u, err
	})
}

// AddOrganisation creates an organisation.
func (s *Store) AddOrganisation(ctx context.Context, name, tz string) (int64, error) {
	if _, err := time.LoadLocation(tz); err != nil {
		return 0, fmt.Errorf("store: time zone %q: %w", tz, err)
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO organisations (name, timezone) VALUES ($1, $2) RETURNING id`, name, tz).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add organisation: %w", err)
	}
	return id, nil
}
