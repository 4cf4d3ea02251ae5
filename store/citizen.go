package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ---- departments and providers ----

// Department is an organisation's office where citizens register and come
// by appointment.
type Department struct {
	ID          int64
	OrgID       int64
	OrgName     string
	Name        string
	Region      string
	Address     string
	SlotMinutes int
	Capacity    int
}

// DeptHours are a department's hours on one ISO weekday, in minutes after
// local midnight.
type DeptHours struct {
	Weekday  int
	StartMin int
	EndMin   int
}

const deptCols = `d.id, d.org_id, o.name, d.name, d.region, d.address, d.slot_minutes, d.capacity`

func scanDept(r pgx.Row) (Department, error) {
	var d Department
	err := r.Scan(&d.ID, &d.OrgID, &d.OrgName, &d.Name, &d.Region, &d.Address, &d.SlotMinutes, &d.Capacity)
	return d, notFound(err)
}

// SaveDepartment creates (ID 0) or updates a department of d.OrgID; a taken
// name is ErrDuplicate, another organisation's id ErrNotFound.
func (s *Store) SaveDepartment(ctx context.Context, d Department) (int64, error) {
	if d.SlotMinutes == 0 {
		d.SlotMinutes = 30
	}
	if d.Capacity == 0 {
		d.Capacity = 1
	}
	var err error
	if d.ID == 0 {
		err = s.Pool.QueryRow(ctx, `INSERT INTO departments (org_id, name, region, address, slot_minutes, capacity)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, d.OrgID, d.Name, d.Region, d.Address, d.SlotMinutes, d.Capacity).Scan(&d.ID)
	} else {
		err = s.Pool.QueryRow(ctx, `UPDATE departments SET name = $3, region = $4, address = $5, slot_minutes = $6, capacity = $7
			WHERE id = $1 AND org_id = $2 RETURNING id`, d.ID, d.OrgID, d.Name, d.Region, d.Address, d.SlotMinutes, d.Capacity).Scan(&d.ID)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: save department: %w", duplicate(err))
	}
	return d.ID, nil
}

// Departments lists an organisation's departments (orgID 0: every
// organisation's, for registration).
func (s *Store) Departments(ctx context.Context, orgID int64) ([]Department, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+deptCols+` FROM departments d JOIN organisations o ON o.id = d.org_id
		WHERE $1 = 0 OR d.org_id = $1 ORDER BY o.name, d.region, d.name, d.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: departments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Department, error) { return scanDept(r) })
}

// DepartmentByID finds a department of orgID (0: of any organisation).
func (s *Store) DepartmentByID(ctx context.Context, orgID, id int64) (Department, error) {
	return scanDept(s.Pool.QueryRow(ctx, `SELECT `+deptCols+` FROM departments d JOIN organisations o ON o.id = d.org_id
		WHERE d.id = $2 AND ($1 = 0 OR d.org_id = $1)`, orgID, id))
}

// SetDepartmentHours replaces a department's weekly hours.
func (s *Store) SetDepartmentHours(ctx context.Context, orgID, deptID int64, hours []DeptHours) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1 AND org_id = $2)`, deptID, orgID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM department_hours WHERE department_id = $1`, deptID); err != nil {
			return err
		}
		for _, h := range hours {
			if _, err := tx.Exec(ctx, `INSERT INTO department_hours (department_id, weekday, start_min, end_min) VALUES ($1, $2, $3, $4)`,
				deptID, h.Weekday, h.StartMin, h.EndMin); err != nil {
				return fmt.Errorf("store: department hours: %w", err)
			}
		}
		return nil
	})
}

// DepartmentHours lists a department's weekly hours by weekday.
func (s *Store) DepartmentHours(ctx context.Context, deptID int64) ([]DeptHours, error) {
	rows, err := s.Pool.Query(ctx, `SELECT weekday, start_min, end_min FROM department_hours WHERE department_id = $1 ORDER BY weekday`, deptID)
	if err != nil {
		return nil, fmt.Errorf("store: department hours: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeptHours, error) {
		var h DeptHours
		err := r.Scan(&h.Weekday, &h.StartMin, &h.EndMin)
		return h, err
	})
}

// SetHoliday adds (on) or removes a department's closed day.
func (s *Store) SetHoliday(ctx context.Context, orgID, deptID int64, day time.Time, on bool) error {
	var tag pgconn.CommandTag
	var err error
	if on {
		tag, err = s.Pool.Exec(ctx, `INSERT INTO department_holidays (department_id, day)
			SELECT id, $3 FROM departments WHERE id = $1 AND org_id = $2 ON CONFLICT DO NOTHING`, deptID, orgID, day.Format(time.DateOnly))
		if err == nil && tag.RowsAffected() == 0 {
			var ok bool
			s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1 AND org_id = $2)`, deptID, orgID).Scan(&ok)
			if !ok {
				return ErrNotFound
			}
		}
	} else {
		_, err = s.Pool.Exec(ctx, `DELETE FROM department_holidays h USING departments d
			WHERE h.department_id = d.id AND d.id = $1 AND d.org_id = $2 AND h.day = $3`, deptID, orgID, day.Format(time.DateOnly))
	}
	if err != nil {
		return fmt.Errorf("store: holiday: %w", err)
	}
	return nil
}

// Holidays lists a department's closed days from today on, as YYYY-MM-DD.
func (s *Store) Holidays(ctx context.Context, deptID int64, from time.Time) ([]string, error) {
	rows, err := s.Pool.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD') FROM department_holidays
		WHERE department_id = $1 AND day >= $2::date ORDER BY day`, deptID, from.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("store: holidays: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Provider is an entry of the register of social-service providers.
type Provider struct {
	ID      int64
	OrgID   int64
	Name    string
	Address string
	Phone   string
	Forms   string
}

// AddProvider adds a provider to the organisation's register.
func (s *Store) AddProvider(ctx context.Context, p Provider) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO providers (org_id, name, address, phone, forms) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		p.OrgID, p.Name, p.Address, p.Phone, p.Forms).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: add provider: %w", duplicate(err))
	}
	return id, nil
}

// Providers lists an organisation's active providers.
func (s *Store) Providers(ctx context.Context, orgID int64) ([]Provider, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, org_id, name, address, phone, forms FROM providers
		WHERE org_id = $1 AND active ORDER BY name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: providers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Provider, error) {
		var p Provider
		err := r.Scan(&p.ID, &p.OrgID, &p.Name, &p.Address, &p.Phone, &p.Forms)
		return p, err
	})
}

// ---- citizens ----

// CitizenProfile is a citizen's personal data. SNILS, Passport and INN are
// sealed ciphertexts: the store never sees them in clear.
type CitizenProfile struct {
	UserID       int64
	OrgID        int64 // 0 = not completed yet
	DepartmentID int64
	Gender       string
	BirthDate    time.Time
	SNILS        []byte
	SNILSIndex   []byte
	Passport     []byte
	INN          []byte
	Phone        string
	RegAddress   string
	ResAddress   string
	OIDCIssuer   string
	OIDCSubject  string
	CreatedAt    time.Time
}

// Complete reports whether the profile has what the cabinet needs.
func (p CitizenProfile) Complete() bool {
	return p.OrgID != 0 && p.DepartmentID != 0 && !p.BirthDate.IsZero() && len(p.SNILS) > 0 && p.Gender != ""
}

// ErrSNILSTaken is returned when another account has the same SNILS.
var ErrSNILSTaken = errors.New("store: SNILS already registered")

func citizenDup(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		if pe.ConstraintName == "citizen_profiles_snils_index_key" {
			return ErrSNILSTaken
		}
		return ErrDuplicate
	}
	return err
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(time.DateOnly)
}

// RegisterCitizen creates a citizen user with a profile in one transaction.
// A taken e-mail is ErrDuplicate, a taken SNILS ErrSNILSTaken.
func (s *Store) RegisterCitizen(ctx context.Context, u User, p CitizenProfile) (int64, error) {
	u.Role = RoleCitizen
	u.OrgID = 0
	if u.Locale == "" {
		u.Locale = "ru"
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO users (email, full_name, role, password_hash, locale, email_confirmed)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, u.Email, u.FullName, u.Role, u.PasswordHash, u.Locale, u.EmailConfirmed).Scan(&id); err != nil {
			return err
		}
		p.UserID = id
		return saveProfile(ctx, tx, p, true)
	})
	if err != nil {
		return 0, fmt.Errorf("store: register citizen: %w", citizenDup(err))
	}
	return id, nil
}

func saveProfile(ctx context.Context, q Querier, p CitizenProfile, insert bool) error {
	args := []any{p.UserID, nullID(p.OrgID), nullID(p.DepartmentID), p.Gender, nullDate(p.BirthDate), nullBytes(p.SNILS),
		nullBytes(p.SNILSIndex), nullBytes(p.Passport), nullBytes(p.INN), p.Phone, p.RegAddress, p.ResAddress,
		nullStr(p.OIDCIssuer), nullStr(p.OIDCSubject)}
	var err error
	if insert {
		_, err = q.Exec(ctx, `INSERT INTO citizen_profiles (user_id, org_id, department_id, gender, birth_date, snils_enc,
			snils_index, passport_enc, inn_enc, phone, reg_address, res_address, oidc_issuer, oidc_subject)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	} else {
		_, err = q.Exec(ctx, `UPDATE citizen_profiles SET org_id = $2, department_id = $3, gender = $4, birth_date = $5,
			snils_enc = $6, snils_index = $7, passport_enc = $8, inn_enc = $9, phone = $10, reg_address = $11,
			res_address = $12, oidc_issuer = coalesce($13, oidc_issuer), oidc_subject = coalesce($14, oidc_subject),
			updated_at = now() WHERE user_id = $1`, args...)
	}
	return err
}

// UpdateCitizen stores a citizen's name and profile.
func (s *Store) UpdateCitizen(ctx context.Context, userID int64, fullName string, p CitizenProfile) error {
	p.UserID = userID
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET full_name = $2 WHERE id = $1 AND role = 'citizen'`, userID, fullName); err != nil {
			return err
		}
		return saveProfile(ctx, tx, p, false)
	})
	if err != nil {
		return fmt.Errorf("store: update citizen: %w", citizenDup(err))
	}
	return nil
}

const profileCols = `p.user_id, coalesce(p.org_id, 0), coalesce(p.department_id, 0), p.gender,
	coalesce(p.birth_date, '0001-01-01'::date), coalesce(p.snils_enc, ''), coalesce(p.snils_index, ''),
	coalesce(p.passport_enc, ''), coalesce(p.inn_enc, ''), p.phone, p.reg_address, p.res_address,
	coalesce(p.oidc_issuer, ''), coalesce(p.oidc_subject, ''), p.created_at`

func scanProfile(r pgx.Row) (CitizenProfile, error) {
	var p CitizenProfile
	err := r.Scan(&p.UserID, &p.OrgID, &p.DepartmentID, &p.Gender, &p.BirthDate, &p.SNILS, &p.SNILSIndex, &p.Passport,
		&p.INN, &p.Phone, &p.RegAddress, &p.ResAddress, &p.OIDCIssuer, &p.OIDCSubject, &p.CreatedAt)
	if p.BirthDate.Year() == 1 {
		p.BirthDate = time.Time{}
	}
	return p, notFound(err)
}

// CitizenProfileOf returns a citizen's own profile.
func (s *Store) CitizenProfileOf(ctx context.Context, userID int64) (CitizenProfile, error) {
	return scanProfile(s.Pool.QueryRow(ctx, `SELECT `+profileCols+` FROM citizen_profiles p WHERE p.user_id = $1`, userID))
}

// CitizenForStaff returns a citizen registered with the organisation, for
// staff (another organisation's citizen is ErrNotFound).
func (s *Store) CitizenForStaff(ctx context.Context, orgID, userID int64) (User, CitizenProfile, error) {
	row := s.Pool.QueryRow(ctx, `SELECT `+profileCols+`, `+userColsU+` FROM citizen_profiles p JOIN users u ON u.id = p.user_id
		WHERE p.user_id = $2 AND p.org_id = $1`, orgID, userID)
	var p CitizenProfile
	var u User
	err := row.Scan(&p.UserID, &p.OrgID, &p.DepartmentID, &p.Gender, &p.BirthDate, &p.SNILS, &p.SNILSIndex, &p.Passport,
		&p.INN, &p.Phone, &p.RegAddress, &p.ResAddress, &p.OIDCIssuer, &p.OIDCSubject, &p.CreatedAt,
		&u.ID, &u.OrgID, &u.Email, &u.FullName, &u.Role, &u.PasswordHash, &u.Locale, &u.WorkerID, &u.FailedLogins,
		&u.LockedUntil, &u.EmailConfirmed, &u.Disabled)
	if p.BirthDate.Year() == 1 {
		p.BirthDate = time.Time{}
	}
	return u, p, notFound(err)
}

// CitizenByOIDC finds the citizen who signed in before through the provider.
func (s *Store) CitizenByOIDC(ctx context.Context, issuer, subject string) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userColsU+` FROM citizen_profiles p JOIN users u ON u.id = p.user_id
		WHERE p.oidc_issuer = $1 AND p.oidc_subject = $2`, issuer, subject))
}

// LinkOIDC records the provider's subject for an existing citizen.
func (s *Store) LinkOIDC(ctx context.Context, userID int64, issuer, subject string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE citizen_profiles SET oidc_issuer = $2, oidc_subject = $3 WHERE user_id = $1`, userID, issuer, subject)
	if err != nil {
		return fmt.Errorf("store: link oidc: %w", citizenDup(err))
	}
	return nil
}

// ConfirmEmail marks a user's e-mail as confirmed.
func (s *Store) ConfirmEmail(ctx context.Context, userID int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE users SET email_confirmed = true WHERE id = $1`, userID)
	return err
}

// ChangeEmail sets a confirmed new e-mail (ErrDuplicate if taken meanwhile).
func (s *Store) ChangeEmail(ctx context.Context, userID int64, email string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE users SET email = $2, email_confirmed = true WHERE id = $1`, userID, email)
	if err != nil {
		return fmt.Errorf("store: change email: %w", duplicate(err))
	}
	return nil
}

// Citizens lists the citizens registered with an organisation.
func (s *Store) Citizens(ctx context.Context, orgID int64) ([]User, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+userColsU+` FROM citizen_profiles p JOIN users u ON u.id = p.user_id
		WHERE p.org_id = $1 ORDER BY u.full_name, u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: citizens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

// DeleteCitizen erases a citizen account: profile, uploads and drafts,
// notifications, bookings, links. Submitted applications (and the
// documents in them) are the organisation's records: they stay, detached
// from the account.
func (s *Store) DeleteCitizen(ctx context.Context, userID int64) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM applications WHERE user_id = $1 AND state = 'draft'`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM citizen_documents WHERE user_id = $1 AND application_id IS NULL`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM visit_feedback WHERE user_id = $1`, userID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1 AND role = 'citizen'`, userID)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return err
	})
}

// ---- care recipients linked to citizen accounts ----

// CitizenClient is a care recipient a citizen account sees.
type CitizenClient struct {
	ClientID  int64
	OrgID     int64
	FullName  string
	Address   string
	Relation  string // "self" or "relative"
	GrantedBy int64
}

// LinkCitizenClient links a citizen to a client of orgID (staff: 'self';
// a recipient granting a relative: 'relative'). ErrNotFound if the client is
// not the organisation's or the user is not a citizen.
func (s *Store) LinkCitizenClient(ctx context.Context, orgID, userID, clientID int64, relation string, grantedBy int64) error {
	tag, err := s.Pool.Exec(ctx, `INSERT INTO citizen_clients (user_id, client_id, relation, granted_by)
		SELECT u.id, c.id, $4, $5 FROM users u, clients c
		WHERE u.id = $2 AND u.role = 'citizen' AND c.id = $3 AND c.org_id = $1
			AND (c.archived_at IS NULL OR $4 = 'relative') -- staff link only served clients
		ON CONFLICT (user_id, client_id) DO UPDATE SET relation = EXCLUDED.relation, granted_by = EXCLUDED.granted_by`,
		orgID, userID, clientID, relation, nullID(grantedBy))
	if err != nil {
		return fmt.Errorf("store: link citizen: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// UnlinkCitizenClient removes a link; a recipient may only remove the
// relatives they granted (grantedBy != 0 restricts to those).
func (s *Store) UnlinkCitizenClient(ctx context.Context, userID, clientID, grantedBy int64) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM citizen_clients WHERE user_id = $1 AND client_id = $2
		AND ($3 = 0 OR (granted_by = $3 AND relation = 'relative'))`, userID, clientID, grantedBy)
	if err != nil {
		return fmt.Errorf("store: unlink citizen: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// CitizenClients lists the care recipients a citizen sees.
func (s *Store) CitizenClients(ctx context.Context, userID int64) ([]CitizenClient, error) {
	rows, err := s.Pool.Query(ctx, `SELECT c.id, c.org_id, c.full_name, c.address, cc.relation, coalesce(cc.granted_by, 0)
		FROM citizen_clients cc JOIN clients c ON c.id = cc.client_id WHERE cc.user_id = $1 ORDER BY cc.relation DESC, c.full_name`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: citizen clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CitizenClient, error) {
		var c CitizenClient
		err := r.Scan(&c.ClientID, &c.OrgID, &c.FullName, &c.Address, &c.Relation, &c.GrantedBy)
		return c, err
	})
}

// Relative is a citizen granted access to a recipient.
type Relative struct {
	UserID   int64
	ClientID int64
	FullName string
	Email    string
}

// RelativesGranted lists the relatives a recipient granted access.
func (s *Store) RelativesGranted(ctx context.Context, grantedBy int64) ([]Relative, error) {
	rows, err := s.Pool.Query(ctx, `SELECT u.id, cc.client_id, u.full_name, u.email FROM citizen_clients cc
		JOIN users u ON u.id = cc.user_id WHERE cc.granted_by = $1 AND cc.relation = 'relative' ORDER BY u.full_name`, grantedBy)
	if err != nil {
		return nil, fmt.Errorf("store: relatives: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Relative, error) {
		var x Relative
		err := r.Scan(&x.UserID, &x.ClientID, &x.FullName, &x.Email)
		return x, err
	})
}

// EnsureCitizenProfile creates an empty profile for a citizen who has none
// (an account made by staff or a first single sign-on), to be completed.
func (s *Store) EnsureCitizenProfile(ctx context.Context, userID int64) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO citizen_profiles (user_id) SELECT id FROM users WHERE id = $1 AND role = 'citizen'
		ON CONFLICT DO NOTHING`, userID)
	return err
}
