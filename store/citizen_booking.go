package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Booking is a citizen's appointment at a department.
type Booking struct {
	ID           int64
	OrgID        int64
	DepartmentID int64
	DeptName     string
	DeptAddress  string
	UserID       int64
	Number       string
	Service      string
	Start, End   time.Time
	Seat         int
	Status       string
	CreatedAt    time.Time
}

var (
	// ErrSlotFull is returned when every seat of the slot is taken.
	ErrSlotFull = errors.New("store: slot full")
	// ErrTooLate is returned when a booking is changed too close to its time.
	ErrTooLate = errors.New("store: too late to change the booking")
)

// takeSeat locks the department (so concurrent bookings of it queue up)
// and returns a free seat of the slot, or ErrSlotFull.
func takeSeat(ctx context.Context, tx pgx.Tx, orgID, deptID int64, start time.Time) (int, error) {
	var capacity int
	err := tx.QueryRow(ctx, `SELECT capacity FROM departments WHERE id = $1 AND org_id = $2 FOR UPDATE`, deptID, orgID).Scan(&capacity)
	if err != nil {
		return 0, notFound(err)
	}
	var seat int
	err = tx.QueryRow(ctx, `SELECT s FROM generate_series(1, $3::int) s WHERE s NOT IN (SELECT seat FROM bookings
		WHERE department_id = $1 AND slot_start = $2 AND status = 'active') ORDER BY s LIMIT 1`, deptID, start, capacity).Scan(&seat)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrSlotFull
	}
	return seat, err
}

// Book takes a seat in a slot. A full slot is ErrSlotFull; a taken number
// ErrDuplicate (pick another and retry).
func (s *Store) Book(ctx context.Context, b Booking) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		seat, err := takeSeat(ctx, tx, b.OrgID, b.DepartmentID, b.Start)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO bookings (org_id, department_id, user_id, number, service, slot_start, slot_end, seat)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, b.OrgID, b.DepartmentID, b.UserID, b.Number, b.Service,
			b.Start, b.End, seat).Scan(&id)
	})
	if errors.Is(err, ErrSlotFull) || errors.Is(err, ErrNotFound) {
		return 0, err
	}
	if err != nil {
		err = duplicate(err)
		if errors.Is(err, ErrDuplicate) {
			return 0, err
		}
		return 0, fmt.Errorf("store: book: %w", err)
	}
	return id, nil
}

// lockMine locks a citizen's active booking and checks it is at least lead
// ahead of now.
func lockMine(ctx context.Context, tx pgx.Tx, userID, id int64, now time.Time, lead time.Duration) (Booking, error) {
	b, err := scanBooking(tx.QueryRow(ctx, `SELECT `+bookingCols+bookingFrom+` WHERE b.id = $1 AND b.user_id = $2 AND b.status = 'active'
		FOR UPDATE OF b`, id, userID))
	if err != nil {
		return b, err
	}
	if b.Start.Sub(now) < lead {
		return b, ErrTooLate
	}
	return b, nil
}

// Reschedule moves a citizen's booking to another slot of the same
// department, if the booking is at least lead ahead.
func (s *Store) Reschedule(ctx context.Context, userID, id int64, start, end time.Time, now time.Time, lead time.Duration) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		b, err := lockMine(ctx, tx, userID, id, now, lead)
		if err != nil {
			return err
		}
		// Free the old seat first: a move within a full slot is a no-op.
		if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'cancelled' WHERE id = $1`, id); err != nil {
			return err
		}
		seat, err := takeSeat(ctx, tx, b.OrgID, b.DepartmentID, start)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE bookings SET status = 'active', slot_start = $2, slot_end = $3, seat = $4 WHERE id = $1`,
			id, start, end, seat)
		return err
	})
}

// CancelBooking cancels a citizen's booking if it is at least lead ahead and
// returns it.
func (s *Store) CancelBooking(ctx context.Context, userID, id int64, now time.Time, lead time.Duration) (Booking, error) {
	var b Booking
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if b, err = lockMine(ctx, tx, userID, id, now, lead); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1`, id)
		return err
	})
	return b, err
}

const bookingCols = `b.id, b.org_id, b.department_id, d.name, d.address, b.user_id, b.number, b.service, b.slot_start, b.slot_end,
	b.seat, b.status, b.created_at`

const bookingFrom = ` FROM bookings b JOIN departments d ON d.id = b.department_id `

func scanBooking(r pgx.Row) (Booking, error) {
	var b Booking
	err := r.Scan(&b.ID, &b.OrgID, &b.DepartmentID, &b.DeptName, &b.DeptAddress, &b.UserID, &b.Number, &b.Service, &b.Start,
		&b.End, &b.Seat, &b.Status, &b.CreatedAt)
	return b, notFound(err)
}

// MyBookings lists a citizen's bookings, the coming ones first.
func (s *Store) MyBookings(ctx context.Context, userID int64) ([]Booking, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+bookingCols+bookingFrom+` WHERE b.user_id = $1
		ORDER BY b.status, b.slot_start DESC LIMIT 200`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: bookings: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Booking, error) { return scanBooking(r) })
}

// MyBooking returns a citizen's booking.
func (s *Store) MyBooking(ctx context.Context, userID, id int64) (Booking, error) {
	return scanBooking(s.Pool.QueryRow(ctx, `SELECT `+bookingCols+bookingFrom+` WHERE b.id = $1 AND b.user_id = $2`, id, userID))
}

// DeptBookings lists a department's active bookings in [from, to), for staff.
func (s *Store) DeptBookings(ctx context.Context, orgID, deptID int64, from, to time.Time) ([]Booking, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+bookingCols+bookingFrom+` WHERE b.org_id = $1 AND b.department_id = $2
		AND b.status = 'active' AND b.slot_start >= $3 AND b.slot_start < $4 ORDER BY b.slot_start, b.seat`, orgID, deptID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: department bookings: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Booking, error) { return scanBooking(r) })
}

// SlotUse counts a department's active bookings per slot start in [from, to).
func (s *Store) SlotUse(ctx context.Context, deptID int64, from, to time.Time) (map[time.Time]int, error) {
	rows, err := s.Pool.Query(ctx, `SELECT slot_start, count(*) FROM bookings WHERE department_id = $1 AND status = 'active'
		AND slot_start >= $2 AND slot_start < $3 GROUP BY slot_start`, deptID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: slot use: %w", err)
	}
	defer rows.Close()
	out := map[time.Time]int{}
	for rows.Next() {
		var t time.Time
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t.UTC()] = n
	}
	return out, rows.Err()
}

// WatchSlots asks to be told when a slot of the department frees up on day.
func (s *Store) WatchSlots(ctx context.Context, userID, deptID int64, day time.Time, service string) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO booking_watches (user_id, department_id, day, service) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, department_id, day) DO UPDATE SET service = EXCLUDED.service`, userID, deptID, day.Format(time.DateOnly), service)
	if err != nil {
		return fmt.Errorf("store: watch slots: %w", err)
	}
	return nil
}

// TakeWatchers removes and returns the citizens waiting for a slot of the
// department on day (each is told once).
func (s *Store) TakeWatchers(ctx context.Context, deptID int64, day time.Time) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `DELETE FROM booking_watches WHERE department_id = $1 AND day = $2 RETURNING user_id`,
		deptID, day.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("store: watchers: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
