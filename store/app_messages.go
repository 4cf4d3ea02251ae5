package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Message is one message of a worker's conversation with the coordinators.
type Message struct {
	ID         int64
	OrgID      int64
	WorkerID   int64
	FromWorker bool
	UserID     int64  // staff author (0 for the worker's messages)
	UserName   string // staff author's name
	Body       string
	At         time.Time
	ReadAt     time.Time // zero: unread by the other side
	ClientRef  string    // the app's id of the message, for retries
}

const messageCols = `m.id, m.org_id, m.worker_id, m.from_worker, coalesce(m.user_id, 0), coalesce(u.full_name, ''), m.body, m.at,
	coalesce(m.read_at, '0001-01-01Z'), coalesce(m.client_ref, '')`

func scanMessage(r pgx.Row) (Message, error) {
	var m Message
	err := r.Scan(&m.ID, &m.OrgID, &m.WorkerID, &m.FromWorker, &m.UserID, &m.UserName, &m.Body, &m.At, &m.ReadAt, &m.ClientRef)
	return m, notFound(err)
}

// AddMessage stores a message. A worker's message with a ClientRef already
// stored is not stored again: the stored one is returned, created false.
func (s *Store) AddMessage(ctx context.Context, m Message) (Message, bool, error) {
	var ref any
	if m.ClientRef != "" {
		ref = m.ClientRef
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO messages (org_id, worker_id, from_worker, user_id, body, client_ref)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (worker_id, client_ref) WHERE client_ref IS NOT NULL DO NOTHING RETURNING id`,
		m.OrgID, m.WorkerID, m.FromWorker, nullID(m.UserID), m.Body, ref).Scan(&id)
	created := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.Pool.QueryRow(ctx, `SELECT id FROM messages WHERE worker_id = $1 AND client_ref = $2`, m.WorkerID, ref).Scan(&id)
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("store: add message: %w", err)
	}
	out, err := scanMessage(s.Pool.QueryRow(ctx, `SELECT `+messageCols+` FROM messages m LEFT JOIN users u ON u.id = m.user_id
		WHERE m.id = $1`, id))
	return out, created, err
}

// Messages returns the worker's conversation after message sinceID, oldest
// first, at most limit messages.
func (s *Store) Messages(ctx context.Context, orgID, workerID, sinceID int64, limit int) ([]Message, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+messageCols+` FROM messages m LEFT JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1 AND m.worker_id = $2 AND m.id > $3 ORDER BY m.id LIMIT $4`, orgID, workerID, sinceID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
}

// LastMessages returns the newest limit messages of the worker's
// conversation, oldest first.
func (s *Store) LastMessages(ctx context.Context, orgID, workerID int64, limit int) ([]Message, error) {
	rows, err := s.Pool.Query(ctx, `SELECT * FROM (SELECT `+messageCols+` FROM messages m LEFT JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1 AND m.worker_id = $2 ORDER BY m.id DESC LIMIT $3) x ORDER BY 1`, orgID, workerID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
}

// MarkMessagesRead marks the messages of one side of the worker's
// conversation (fromWorker: those the worker sent, read by staff) up to
// upToID as read.
func (s *Store) MarkMessagesRead(ctx context.Context, orgID, workerID int64, fromWorker bool, upToID int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE messages SET read_at = now()
		WHERE org_id = $1 AND worker_id = $2 AND from_worker = $3 AND id <= $4 AND read_at IS NULL`,
		orgID, workerID, fromWorker, upToID)
	if err != nil {
		return fmt.Errorf("store: mark messages read: %w", err)
	}
	return nil
}

// UnreadByWorker counts the staff messages the worker has not read.
func (s *Store) UnreadByWorker(ctx context.Context, orgID, workerID int64) (int, error) {
	var n int
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM messages
		WHERE org_id = $1 AND worker_id = $2 AND NOT from_worker AND read_at IS NULL`, orgID, workerID).Scan(&n)
	return n, err
}

// Conversation is a worker's conversation in the coordinators' list.
type Conversation struct {
	WorkerID   int64
	WorkerName string
	HasApp     bool // the worker holds a device with the app
	Unread     int  // the worker's messages no coordinator has read
	Total      int
	LastAt     time.Time // zero: no messages yet
	LastBody   string
	LastFromWk bool
}

// Conversations lists the workers the scope may see with their
// conversations: those with unread messages first, then by the newest
// message, then by name.
func (s *Store) Conversations(ctx context.Context, sc Scope) ([]Conversation, error) {
	rows, err := s.Pool.Query(ctx, `SELECT w.id, w.full_name, coalesce(d.protocol = 'app', false),
			coalesce(st.unread, 0), coalesce(st.total, 0), coalesce(l.at, '0001-01-01Z'), coalesce(l.body, ''),
			coalesce(l.from_worker, false)
		FROM workers w
		LEFT JOIN devices d ON d.id = w.device_id
		LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE from_worker AND read_at IS NULL) AS unread, count(*) AS total
			FROM messages WHERE worker_id = w.id) st ON true
		LEFT JOIN LATERAL (SELECT at, body, from_worker FROM messages WHERE worker_id = w.id ORDER BY id DESC LIMIT 1) l ON true
		WHERE w.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))
		ORDER BY coalesce(st.unread, 0) > 0 DESC, l.at DESC NULLS LAST, w.full_name, w.id`, sc.OrgID, scopeGroups(sc))
	if err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Conversation, error) {
		var c Conversation
		err := r.Scan(&c.WorkerID, &c.WorkerName, &c.HasApp, &c.Unread, &c.Total, &c.LastAt, &c.LastBody, &c.LastFromWk)
		return c, err
	})
}

// ScopedWorker is a worker the scope may see, for pages about one worker.
type ScopedWorker struct {
	ID       int64
	FullName string
	DeviceID int64
}

// WorkerInScope finds a worker the scope may see; ErrNotFound otherwise.
func (s *Store) WorkerInScope(ctx context.Context, sc Scope, workerID int64) (ScopedWorker, error) {
	var w ScopedWorker
	err := s.Pool.QueryRow(ctx, `SELECT id, full_name, coalesce(device_id, 0) FROM workers
		WHERE id = $1 AND org_id = $2 AND ($3::bigint[] IS NULL OR group_id = ANY($3))`,
		workerID, sc.OrgID, scopeGroups(sc)).Scan(&w.ID, &w.FullName, &w.DeviceID)
	return w, notFound(err)
}
