package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Roles.
const (
	RolePlatform   = "platform"   // platform administrator: creates organisations
	RoleAdmin      = "admin"      // organisation administrator
	RoleSupervisor = "supervisor" // supervisor / coordinator: sees their groups
	RoleWorker     = "worker"     // social worker: the app only
	RoleAuditor    = "auditor"    // read-only
	RoleCitizen    = "citizen"    // care recipient or relative
)

// User is a person who logs in.
type User struct {
	ID             int64
	OrgID          int64 // 0 for platform administrators and citizens
	Email          string
	FullName       string
	Role           string
	PasswordHash   string
	Locale         string
	WorkerID       int64
	FailedLogins   int
	LockedUntil    time.Time
	EmailConfirmed bool
	Disabled       bool
}

const userCols = `id, coalesce(org_id, 0), email, full_name, role, password_hash, locale, coalesce(worker_id, 0),
	failed_logins, coalesce(locked_until, '0001-01-01Z'), email_confirmed, disabled`

// userColsU is userCols qualified for joins with users as u.
const userColsU = `u.id, coalesce(u.org_id, 0), u.email, u.full_name, u.role, u.password_hash, u.locale,
	coalesce(u.worker_id, 0), u.failed_logins, coalesce(u.locked_until, '0001-01-01Z'), u.email_confirmed, u.disabled`

func scanUser(r pgx.Row) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.OrgID, &u.Email, &u.FullName, &u.Role, &u.PasswordHash, &u.Locale, &u.WorkerID,
		&u.FailedLogins, &u.LockedUntil, &u.EmailConfirmed, &u.Disabled)
	return u, notFound(err)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// AddUser creates a user; the e-mail must be unused (ErrDuplicate).
func (s *Store) AddUser(ctx context.Context, u User) (int64, error) {
	if u.Locale == "" {
		u.Locale = "ru"
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO users (org_id, email, full_name, role, password_hash, locale, worker_id, email_confirmed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		nullID(u.OrgID), u.Email, u.FullName, u.Role, u.PasswordHash, u.Locale, nullID(u.WorkerID), u.EmailConfirmed).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add user: %w", duplicate(err))
	}
	return id, nil
}

// UserByEmail finds a user by e-mail, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(email) = lower($1)`, email))
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

// Users lists an organisation's staff users.
func (s *Store) Users(ctx context.Context, orgID int64) ([]User, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE org_id = $1 ORDER BY full_name, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

// LoginFailed counts a failed password and locks the account for lockFor
// once the count reaches lockAfter. It returns the lock end (zero if none).
func (s *Store) LoginFailed(ctx context.Context, userID int64, lockAfter int, lockFor time.Duration) (time.Time, error) {
	var until time.Time
	err := s.Pool.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
		locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + $3::interval ELSE locked_until END
		WHERE id = $1 RETURNING coalesce(locked_until, '0001-01-01Z')`, userID, lockAfter, lockFor.String()).Scan(&until)
	if err != nil {
		return until, fmt.Errorf("store: login failed: %w", err)
	}
	return until, nil
}

// LoginSucceeded clears the failure count.
func (s *Store) LoginSucceeded(ctx context.Context, userID int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, userID)
	return err
}

// SetPassword replaces the password hash, clears any lock and ends every
// session of the user (a reset must log out whoever had the old password).
func (s *Store) SetPassword(ctx context.Context, userID int64, hash string) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1`, userID, hash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
		return err
	})
}

// SetLocale stores the user's language.
func (s *Store) SetLocale(ctx context.Context, userID int64, locale string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE users SET locale = $2 WHERE id = $1`, userID, locale)
	return err
}

// CreateSession stores a session under the hash of its token.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, userID int64, expires time.Time, ua, ip string) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5)`,
		tokenHash, userID, expires, ua, ip)
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionUser returns the user of a live session.
func (s *Store) SessionUser(ctx context.Context, tokenHash []byte) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userColsU+` FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled`, tokenHash))
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// DeleteExpiredSessions removes dead sessions and tokens.
func (s *Store) DeleteExpiredSessions(ctx context.Context) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now(); DELETE FROM user_tokens WHERE expires_at < now() - interval '7 days'`)
	return err
}

// CreateToken stores a one-time token (hashed).
func (s *Store) CreateToken(ctx context.Context, tokenHash []byte, userID int64, purpose, data string, expires time.Time) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO user_tokens (token_hash, user_id, purpose, data, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		tokenHash, userID, purpose, data, expires)
	if err != nil {
		return fmt.Errorf("store: create token: %w", err)
	}
	return nil
}

// UseToken consumes a live one-time token: it works once.
func (s *Store) UseToken(ctx context.Context, tokenHash []byte, purpose string) (userID int64, data string, err error) {
	err = s.Pool.QueryRow(ctx, `UPDATE user_tokens SET used_at = now() WHERE token_hash = $1 AND purpose = $2
		AND used_at IS NULL AND expires_at > now() RETURNING user_id, data`, tokenHash, purpose).Scan(&userID, &data)
	return userID, data, notFound(err)
}

// PeekToken checks a token without consuming it (to show the reset form).
func (s *Store) PeekToken(ctx context.Context, tokenHash []byte, purpose string) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `SELECT user_id FROM user_tokens WHERE token_hash = $1 AND purpose = $2
		AND used_at IS NULL AND expires_at > now()`, tokenHash, purpose).Scan(&id)
	return id, notFound(err)
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID       int64
	OrgID    int64
	UserID   int64
	UserName string
	At       time.Time
	Action   string
	Entity   string
	EntityID int64
	Reason   string
	Before   json.RawMessage
	After    json.RawMessage
}

// Audit appends to the audit log; before/after are marshalled to JSON.
func (s *Store) Audit(ctx context.Context, q Querier, e AuditEntry, before, after any) error {
	if q == nil {
		q = s.Pool
	}
	var b, a any
	if before != nil {
		j, err := json.Marshal(before)
		if err != nil {
			return err
		}
		b = string(j)
	}
	if after != nil {
		j, err := json.Marshal(after)
		if err != nil {
			return err
		}
		a = string(j)
	}
	_, err := q.Exec(ctx, `INSERT INTO audit_log (org_id, user_id, action, entity, entity_id, reason, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)`,
		nullID(e.OrgID), nullID(e.UserID), e.Action, e.Entity, nullID(e.EntityID), e.Reason, b, a)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditLog lists an organisation's audit entries, newest first; entity and
// entityID filter when set.
func (s *Store) AuditLog(ctx context.Context, orgID int64, entity string, entityID int64, limit int) ([]AuditEntry, error) {
	rows, err := s.Pool.Query(ctx, `SELECT a.id, coalesce(a.org_id, 0), coalesce(a.user_id, 0), coalesce(u.full_name, ''),
		a.at, a.action, a.entity, coalesce(a.entity_id, 0), a.reason, coalesce(a.before, 'null'), coalesce(a.after, 'null')
		FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
		WHERE a.org_id = $1 AND ($2 = '' OR a.entity = $2) AND ($3 = 0 OR a.entity_id = $3)
		ORDER BY a.at DESC, a.id DESC LIMIT $4`, orgID, entity, entityID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		var b, a []byte
		err := r.Scan(&e.ID, &e.OrgID, &e.UserID, &e.UserName, &e.At, &e.Action, &e.Entity, &e.EntityID, &e.Reason, &b, &a)
		e.Before, e.After = b, a
		return e, err
	})
}
