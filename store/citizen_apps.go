package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Application states.
const (
	AppDraft  = "draft"
	AppReview = "review"
	AppWork   = "work"
	AppDone   = "done"
)

// Application is a citizen's application for a service.
type Application struct {
	ID          int64
	OrgID       int64
	UserID      int64 // 0 once the account is deleted
	Number      string
	Service     string
	State       string
	Status      string
	Form        map[string]string
	Applicant   string
	Reason      string
	AssigneeID  int64
	Assignee    string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt time.Time
	DueAt       time.Time
	DoneAt      time.Time
}

// Overdue reports whether a decision is late.
func (a Application) Overdue(now time.Time) bool {
	return !a.DueAt.IsZero() && a.State != AppDone && now.After(a.DueAt)
}

const appCols = `a.id, a.org_id, coalesce(a.user_id, 0), coalesce(a.number, ''), a.service, a.state, a.status, a.form,
	a.applicant, a.reason, coalesce(a.assignee_id, 0), coalesce(s.full_name, ''), a.created_at, a.updated_at,
	coalesce(a.submitted_at, '0001-01-01Z'), coalesce(a.due_at, '0001-01-01Z'), coalesce(a.done_at, '0001-01-01Z')`

const appFrom = ` FROM applications a LEFT JOIN users s ON s.id = a.assignee_id `

func scanApp(r pgx.Row) (Application, error) {
	var a Application
	var form []byte
	err := r.Scan(&a.ID, &a.OrgID, &a.UserID, &a.Number, &a.Service, &a.State, &a.Status, &form, &a.Applicant, &a.Reason,
		&a.AssigneeID, &a.Assignee, &a.CreatedAt, &a.UpdatedAt, &a.SubmittedAt, &a.DueAt, &a.DoneAt)
	if err != nil {
		return a, notFound(err)
	}
	for _, t := range []*time.Time{&a.SubmittedAt, &a.DueAt, &a.DoneAt} {
		if t.Year() == 1 {
			*t = time.Time{}
		}
	}
	a.Form = map[string]string{}
	if len(form) > 0 {
		if err := json.Unmarshal(form, &a.Form); err != nil {
			return a, fmt.Errorf("application %d form: %w", a.ID, err)
		}
	}
	return a, nil
}

func collectApps(rows pgx.Rows, err error) ([]Application, error) {
	if err != nil {
		return nil, fmt.Errorf("store: applications: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Application, error) { return scanApp(r) })
}

// SaveDraft creates (ID 0) or updates a citizen's draft application.
// Only drafts can be edited: another state is ErrNotFound.
func (s *Store) SaveDraft(ctx context.Context, a Application) (int64, error) {
	form, err := json.Marshal(a.Form)
	if err != nil {
		return 0, err
	}
	if a.ID == 0 {
		err = s.Pool.QueryRow(ctx, `INSERT INTO applications (org_id, user_id, service, form, applicant)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, a.OrgID, a.UserID, a.Service, string(form), a.Applicant).Scan(&a.ID)
	} else {
		err = s.Pool.QueryRow(ctx, `UPDATE applications SET form = $3, applicant = $4, updated_at = now()
			WHERE id = $1 AND user_id = $2 AND state = 'draft' RETURNING id`, a.ID, a.UserID, string(form), a.Applicant).Scan(&a.ID)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: save draft: %w", err)
	}
	return a.ID, nil
}

// SubmitApplication turns a draft into a submitted application with a
// number (YYYY-NNNNNN) and, when decisionDays > 0, a decision deadline.
func (s *Store) SubmitApplication(ctx context.Context, userID, id int64, decisionDays int) (string, error) {
	var number string
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE applications SET state = 'review', status = '', submitted_at = now(), updated_at = now(),
			number = to_char(now(), 'YYYY') || '-' || lpad(nextval('application_number_seq')::text, 6, '0'),
			due_at = CASE WHEN $3 > 0 THEN now() + make_interval(days => $3) END
			WHERE id = $1 AND user_id = $2 AND state = 'draft' RETURNING number`, id, userID, decisionDays).Scan(&number)
		if err != nil {
			return notFound(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO application_events (application_id, user_id, state) VALUES ($1, $2, 'review')`, id, userID)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: submit application: %w", err)
	}
	return number, err
}

// MyApplications lists a citizen's applications, newest first.
func (s *Store) MyApplications(ctx context.Context, userID int64) ([]Application, error) {
	return collectApps(s.Pool.Query(ctx, `SELECT `+appCols+appFrom+` WHERE a.user_id = $1
		ORDER BY coalesce(a.submitted_at, a.created_at) DESC, a.id DESC`, userID))
}

// MyApplication returns a citizen's own application.
func (s *Store) MyApplication(ctx context.Context, userID, id int64) (Application, error) {
	return scanApp(s.Pool.QueryRow(ctx, `SELECT `+appCols+appFrom+` WHERE a.id = $2 AND a.user_id = $1`, userID, id))
}

// DeleteDraft removes a citizen's draft (and its uploads).
func (s *Store) DeleteDraft(ctx context.Context, userID, id int64) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM applications WHERE id = $1 AND user_id = $2 AND state = 'draft'`, id, userID)
	if err != nil {
		return fmt.Errorf("store: delete draft: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// AppFilter selects applications in the staff inbox.
type AppFilter struct {
	State   string // review, work, done; "" = all submitted
	Service string
	Mine    int64 // assignee
}

// OrgApplications lists an organisation's submitted applications, the
// oldest waiting first.
func (s *Store) OrgApplications(ctx context.Context, orgID int64, f AppFilter) ([]Application, error) {
	return collectApps(s.Pool.Query(ctx, `SELECT `+appCols+appFrom+` WHERE a.org_id = $1 AND a.state <> 'draft'
		AND ($2 = '' OR a.state = $2) AND ($3 = '' OR a.service = $3) AND ($4 = 0 OR a.assignee_id = $4)
		ORDER BY CASE WHEN a.state = 'done' THEN 1 ELSE 0 END, a.due_at NULLS LAST, a.submitted_at, a.id LIMIT 500`,
		orgID, f.State, f.Service, f.Mine))
}

// OrgApplication returns a submitted application of the organisation.
func (s *Store) OrgApplication(ctx context.Context, orgID, id int64) (Application, error) {
	return scanApp(s.Pool.QueryRow(ctx, `SELECT `+appCols+appFrom+` WHERE a.id = $2 AND a.org_id = $1 AND a.state <> 'draft'`, orgID, id))
}

// AppCounts counts an organisation's applications per state.
func (s *Store) AppCounts(ctx context.Context, orgID int64) (map[string]int, error) {
	rows, err := s.Pool.Query(ctx, `SELECT state, count(*) FROM applications WHERE org_id = $1 AND state <> 'draft' GROUP BY state`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: application counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// AppChange is a staff change of an application.
type AppChange struct {
	OrgID, ID, UserID int64
	State, Status     string
	Comment           string
	Take              bool // also make the user the assignee
}

// ChangeApplication sets state and status, records the event and returns
// the application as it was before. A refusal's comment becomes its reason.
func (s *Store) ChangeApplication(ctx context.Context, c AppChange) (Application, error) {
	var before Application
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		before, err = scanApp(tx.QueryRow(ctx, `SELECT `+appCols+appFrom+` WHERE a.id = $2 AND a.org_id = $1 AND a.state <> 'draft'
			FOR UPDATE OF a`, c.OrgID, c.ID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE applications SET state = $2, status = $3, updated_at = now(),
			reason = CASE WHEN $3 = 'refused' THEN $4 ELSE reason END,
			assignee_id = CASE WHEN $5 THEN $6 ELSE assignee_id END,
			done_at = CASE WHEN $2 = 'done' THEN coalesce(done_at, now()) ELSE NULL END
			WHERE id = $1`, c.ID, c.State, c.Status, c.Comment, c.Take, c.UserID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO application_events (application_id, user_id, state, status, comment) VALUES ($1, $2, $3, $4, $5)`,
			c.ID, nullID(c.UserID), c.State, c.Status, c.Comment)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: change application: %w", err)
	}
	return before, err
}

// AppEvent is a line of an application's history.
type AppEvent struct {
	At      time.Time
	State   string
	Status  string
	Comment string
	Who     string
	Staff   bool
}

// AppEvents lists an application's history, oldest first.
func (s *Store) AppEvents(ctx context.Context, appID int64) ([]AppEvent, error) {
	rows, err := s.Pool.Query(ctx, `SELECT e.at, e.state, e.status, e.comment, coalesce(u.full_name, ''), coalesce(u.role, '') NOT IN ('', 'citizen')
		FROM application_events e LEFT JOIN users u ON u.id = e.user_id WHERE e.application_id = $1 ORDER BY e.at, e.id`, appID)
	if err != nil {
		return nil, fmt.Errorf("store: application events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppEvent, error) {
		var e AppEvent
		err := r.Scan(&e.At, &e.State, &e.Status, &e.Comment, &e.Who, &e.Staff)
		return e, err
	})
}

// ---- documents ----

// Document is a file in the citizen cabinet. Data is sealed; it is only
// read by DocumentData.
type Document struct {
	ID            int64
	OrgID         int64
	UserID        int64
	ApplicationID int64
	AppNumber     string
	Direction     string // "in": from the citizen; "out": from the organisation
	Kind          string
	Name          string
	ContentType   string
	Size          int
	SHA256        []byte
	Data          []byte
	UploadedBy    int64
	CreatedAt     time.Time
}

// AddDocument stores a document.
func (s *Store) AddDocument(ctx context.Context, d Document) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO citizen_documents (org_id, user_id, application_id, direction, kind, name,
		content_type, size, sha256, data, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		nullID(d.OrgID), nullID(d.UserID), nullID(d.ApplicationID), d.Direction, d.Kind, d.Name, d.ContentType, d.Size,
		d.SHA256, d.Data, nullID(d.UploadedBy)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add document: %w", err)
	}
	return id, nil
}

const docCols = `d.id, coalesce(d.org_id, 0), coalesce(d.user_id, 0), coalesce(d.application_id, 0), coalesce(a.number, ''),
	d.direction, d.kind, d.name, d.content_type, d.size, d.sha256, coalesce(d.uploaded_by, 0), d.created_at`

func scanDoc(r pgx.Row, withData bool) (Document, error) {
	var d Document
	dst := []any{&d.ID, &d.OrgID, &d.UserID, &d.ApplicationID, &d.AppNumber, &d.Direction, &d.Kind, &d.Name, &d.ContentType,
		&d.Size, &d.SHA256, &d.UploadedBy, &d.CreatedAt}
	if withData {
		dst = append(dst, &d.Data)
	}
	return d, notFound(r.Scan(dst...))
}

// DocFilter selects documents: a citizen's (UserID) or an application's.
type DocFilter struct {
	UserID        int64
	OrgID         int64
	ApplicationID int64
}

// Documents lists documents without their data, newest first.
func (s *Store) Documents(ctx context.Context, f DocFilter) ([]Document, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+docCols+` FROM citizen_documents d LEFT JOIN applications a ON a.id = d.application_id
		WHERE ($1 = 0 OR d.user_id = $1) AND ($2 = 0 OR d.org_id = $2) AND ($3 = 0 OR d.application_id = $3)
		AND ($1 <> 0 OR $2 <> 0) ORDER BY d.created_at DESC, d.id DESC`, f.UserID, f.OrgID, f.ApplicationID)
	if err != nil {
		return nil, fmt.Errorf("store: documents: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Document, error) { return scanDoc(r, false) })
}

// DocumentData returns one document with its data, if it matches the filter
// (a citizen's own, or one of the organisation's applications).
func (s *Store) DocumentData(ctx context.Context, f DocFilter, id int64) (Document, error) {
	return scanDoc(s.Pool.QueryRow(ctx, `SELECT `+docCols+`, d.data FROM citizen_documents d LEFT JOIN applications a ON a.id = d.application_id
		WHERE d.id = $4 AND ($1 = 0 OR d.user_id = $1) AND ($2 = 0 OR d.org_id = $2) AND ($3 = 0 OR d.application_id = $3)
		AND ($1 <> 0 OR $2 <> 0)`, f.UserID, f.OrgID, f.ApplicationID, id), true)
}

// DeleteDraftDocument removes a citizen's upload from a draft application.
func (s *Store) DeleteDraftDocument(ctx context.Context, userID, id int64) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM citizen_documents d USING applications a WHERE d.id = $2 AND d.user_id = $1
		AND d.direction = 'in' AND a.id = d.application_id AND a.state = 'draft'`, userID, id)
	if err != nil {
		return fmt.Errorf("store: delete document: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ---- notifications ----

// Notification is a message in the citizen cabinet: Key and Args are
// translated when shown.
type Notification struct {
	ID     int64
	UserID int64
	At     time.Time
	Key    string
	Args   []string
	Link   string
	Read   bool
}

// Notify adds a notification for a citizen.
func (s *Store) Notify(ctx context.Context, userID int64, key string, args []string, link string) error {
	if args == nil {
		args = []string{}
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO citizen_notifications (user_id, key, args, link) VALUES ($1, $2, $3, $4)`, userID, key, args, link)
	if err != nil {
		return fmt.Errorf("store: notify: %w", err)
	}
	return nil
}

// Notifications lists a citizen's notifications, newest first.
func (s *Store) Notifications(ctx context.Context, userID int64, limit int) ([]Notification, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, user_id, at, key, args, link, read_at IS NOT NULL FROM citizen_notifications
		WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := r.Scan(&n.ID, &n.UserID, &n.At, &n.Key, &n.Args, &n.Link, &n.Read)
		return n, err
	})
}

// UnreadCount counts a citizen's unread notifications.
func (s *Store) UnreadCount(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM citizen_notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	return n, err
}

// MarkRead marks one notification (id) or all (id 0) as read and returns
// the link of the one.
func (s *Store) MarkRead(ctx context.Context, userID, id int64) (string, error) {
	if id == 0 {
		_, err := s.Pool.Exec(ctx, `UPDATE citizen_notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL`, userID)
		return "", err
	}
	var link string
	err := s.Pool.QueryRow(ctx, `UPDATE citizen_notifications SET read_at = coalesce(read_at, now()) WHERE user_id = $1 AND id = $2
		RETURNING link`, userID, id).Scan(&link)
	return link, notFound(err)
}

// ---- ratings ----

// Rating is a citizen's rating of a service.
type Rating struct {
	Subject string
	Rating  int
	Comment string
	At      time.Time
}

// RateService stores (replaces) a citizen's rating of a subject.
func (s *Store) RateService(ctx context.Context, userID, orgID int64, r Rating) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO service_ratings (user_id, org_id, subject, rating, comment) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, subject) DO UPDATE SET rating = EXCLUDED.rating, comment = EXCLUDED.comment, at = now()`,
		userID, orgID, r.Subject, r.Rating, r.Comment)
	if err != nil {
		return fmt.Errorf("store: rate: %w", err)
	}
	return nil
}

// MyRatings lists a citizen's ratings by subject.
func (s *Store) MyRatings(ctx context.Context, userID int64) (map[string]Rating, error) {
	rows, err := s.Pool.Query(ctx, `SELECT subject, rating, comment, at FROM service_ratings WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: ratings: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rating, error) {
		var x Rating
		err := r.Scan(&x.Subject, &x.Rating, &x.Comment, &x.At)
		return x, err
	})
	out := map[string]Rating{}
	for _, x := range list {
		out[x.Subject] = x
	}
	return out, err
}

// IPPSUService is a service of a care recipient's individual programme.
type IPPSUService struct {
	ClientID    int64
	ServiceID   int64
	Name        string
	NormMinutes int
}

// IPPSUServices lists the programme services of the citizen's linked
// recipients.
func (s *Store) IPPSUServices(ctx context.Context, userID int64) ([]IPPSUService, error) {
	rows, err := s.Pool.Query(ctx, `SELECT cs.client_id, sv.id, sv.name, sv.norm_minutes FROM citizen_clients cc
		JOIN client_services cs ON cs.client_id = cc.client_id JOIN services sv ON sv.id = cs.service_id
		WHERE cc.user_id = $1 ORDER BY cs.client_id, sv.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: ippsu: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (IPPSUService, error) {
		var x IPPSUService
		err := r.Scan(&x.ClientID, &x.ServiceID, &x.Name, &x.NormMinutes)
		return x, err
	})
}
