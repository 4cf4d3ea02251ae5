package cabinet

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"carevisit/store"
)

// ---- platform administrator: organisations ----

func (a *App) orgList(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "orgs.title", "orgs")
	a.orgPage(w, r, http.StatusOK, v)
}

func (a *App) orgPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	orgs, err := a.st.Organisations(r.Context())
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = orgs
	if v.Form.Get("tz") == "" {
		v.Form.Set("tz", "Europe/Moscow")
	}
	a.render(w, r, status, "orgs", v)
}

// orgCreate creates an organisation with its first administrator.
func (a *App) orgCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	v := a.newView(r, "orgs.title", "orgs")
	v.Form = r.PostForm
	name := strings.TrimSpace(r.PostFormValue("name"))
	tz := strings.TrimSpace(r.PostFormValue("tz"))
	if name == "" {
		v.Errors["name"] = v.T("form.err.required")
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "" {
		v.Errors["tz"] = v.T("orgs.err.tz")
	}
	admin := userInput{Name: r.PostFormValue("admin_name"), Email: r.PostFormValue("admin_email"),
		Password: r.PostFormValue("admin_password"), Role: store.RoleAdmin}
	admin.validate(v, "admin_")
	if len(v.Errors) > 0 {
		a.orgPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	orgID, err := a.st.AddOrganisation(ctx, name, tz)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	admin.OrgID = orgID
	if _, err := a.createUser(ctx, admin); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			v.Errors["admin_email"] = v.T("form.err.email_taken")
			a.orgPage(w, r, http.StatusUnprocessableEntity, v)
			return
		}
		a.serverError(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: orgID, UserID: userOf(r).ID, Action: "create", Entity: "organisation",
		EntityID: orgID}, nil, map[string]any{"name": name, "timezone": tz})
	a.flash(w, "orgs.flash.created")
	a.redirect(w, r, "/admin/orgs")
}

// ---- organisation administrator: users ----

type userInput struct {
	OrgID    int64
	Name     string
	Email    string
	Password string
	Role     string
	Groups   []int64
}

func (u *userInput) validate(v *view, prefix string) {
	u.Name = strings.TrimSpace(u.Name)
	u.Email = strings.TrimSpace(u.Email)
	if u.Name == "" {
		v.Errors[prefix+"name"] = v.T("form.err.required")
	}
	if addr, err := mail.ParseAddress(u.Email); err != nil || addr.Address != u.Email {
		v.Errors[prefix+"email"] = v.T("form.err.email")
	}
	if msg := passwordProblem(v, u.Password); msg != "" {
		v.Errors[prefix+"password"] = msg
	}
}

func (a *App) createUser(ctx context.Context, in userInput) (int64, error) {
	h, err := HashPassword(in.Password)
	if err != nil {
		return 0, err
	}
	id, err := a.st.AddUser(ctx, store.User{OrgID: in.OrgID, Email: in.Email, FullName: in.Name, Role: in.Role,
		PasswordHash: h, EmailConfirmed: true})
	if err != nil {
		return 0, err
	}
	if in.Role == store.RoleSupervisor {
		if err := a.st.SetSupervisorGroups(ctx, in.OrgID, id, in.Groups); err != nil {
			return id, err
		}
	}
	return id, nil
}

type usersData struct {
	Users  []store.User
	Groups []store.Group
	Roles  []string
}

func (a *App) userList(w http.ResponseWriter, r *http.Request) {
	a.userPage(w, r, http.StatusOK, a.newView(r, "users.title", "users"))
}

func (a *App) userPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	sc := a.scope(r)
	users, err := a.st.Users(r.Context(), sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	groups, err := a.st.Groups(r.Context(), sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = usersData{Users: users, Groups: groups,
		Roles: []string{store.RoleAdmin, store.RoleSupervisor, store.RoleAuditor, store.RoleWorker}}
	a.render(w, r, status, "users", v)
}

func (a *App) userCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	sc := a.scope(r)
	v := a.newView(r, "users.title", "users")
	v.Form = r.PostForm
	in := userInput{OrgID: sc.OrgID, Name: r.PostFormValue("name"), Email: r.PostFormValue("email"),
		Password: r.PostFormValue("password"), Role: r.PostFormValue("role")}
	in.validate(v, "")
	switch in.Role {
	case store.RoleAdmin, store.RoleSupervisor, store.RoleAuditor, store.RoleWorker:
	default:
		v.Errors["role"] = v.T("users.err.role")
	}
	for _, g := range r.PostForm["groups"] {
		if id, err := strconv.ParseInt(g, 10, 64); err == nil {
			in.Groups = append(in.Groups, id)
		}
	}
	if len(v.Errors) > 0 {
		a.userPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	id, err := a.createUser(ctx, in)
	if errors.Is(err, store.ErrDuplicate) {
		v.Errors["email"] = v.T("form.err.email_taken")
		a.userPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "create", Entity: "user", EntityID: id},
		nil, map[string]any{"role": in.Role, "groups": in.Groups})
	a.flash(w, "users.flash.created")
	a.redirect(w, r, "/staff/users")
}

// ---- dashboard ----

type dashboardData struct {
	Workers, Devices, Clients, Unknown int
	VisitsToday, OpenVisits, Flagged   int
}

func (a *App) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	v := a.newView(r, "dashboard.title", "dashboard")
	var d dashboardData
	startOfDay := time.Now().In(v.loc)
	startOfDay = time.Date(startOfDay.Year(), startOfDay.Month(), startOfDay.Day(), 0, 0, 0, 0, v.loc)
	err := a.st.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM workers w WHERE w.org_id = $1 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))),
		(SELECT count(*) FROM devices WHERE org_id = $1),
		(SELECT count(*) FROM clients WHERE org_id = $1),
		(SELECT count(*) FROM unknown_devices),
		(SELECT count(*) FROM visits v LEFT JOIN workers w ON w.id = v.worker_id
			WHERE v.org_id = $1 AND v.start_time >= $3 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))),
		(SELECT count(*) FROM visits v LEFT JOIN workers w ON w.id = v.worker_id
			WHERE v.org_id = $1 AND v.end_time IS NULL AND ($2::bigint[] IS NULL OR w.group_id = ANY($2))),
		(SELECT count(*) FROM visits v LEFT JOIN workers w ON w.id = v.worker_id
			WHERE v.org_id = $1 AND v.start_time >= $3 AND cardinality(v.flags) > 0 AND ($2::bigint[] IS NULL OR w.group_id = ANY($2)))`,
		sc.OrgID, sc.Groups, startOfDay).Scan(&d.Workers, &d.Devices, &d.Clients, &d.Unknown, &d.VisitsToday, &d.OpenVisits, &d.Flagged)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = d
	a.render(w, r, http.StatusOK, "dashboard", v)
}
