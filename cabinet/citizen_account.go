package cabinet

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"carevisit/secretbox"
	"carevisit/store"
)

// noPassword is the hash of an account made by single sign-on: no password
// matches it until the citizen sets one.
const noPassword = "!"

// profileInput is the personal data of the registration and profile forms.
type profileInput struct {
	FullName   string
	Gender     string
	BirthDate  time.Time
	SNILS      string
	Passport   string
	INN        string
	Phone      string
	RegAddress string
	ResAddress string
	Dept       store.Department
}

// readProfile validates the personal-data fields, reporting next to each.
func (a *App) readProfile(r *http.Request, v *view, depts []store.Department) profileInput {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	var in profileInput
	in.FullName = f("full_name")
	if in.FullName == "" {
		v.Errors["full_name"] = v.T("form.err.required")
	} else if len(in.FullName) > 200 {
		v.Errors["full_name"] = v.T("form.err.too_long")
	}
	in.Gender = f("gender")
	if in.Gender != "male" && in.Gender != "female" {
		v.Errors["gender"] = v.T("my.err.choose")
	}
	deptID, _ := strconv.ParseInt(f("department"), 10, 64)
	for _, d := range depts {
		if d.ID == deptID {
			in.Dept = d
		}
	}
	if in.Dept.ID == 0 {
		v.Errors["department"] = v.T("my.err.choose")
	}
	loc := time.UTC
	if in.Dept.ID != 0 {
		if o, err := a.st.OrganisationByID(r.Context(), in.Dept.OrgID); err == nil {
			loc = o.Location()
		}
	}
	var why string
	if f("birth_date") == "" {
		v.Errors["birth_date"] = v.T("form.err.required")
	} else if in.BirthDate, why = parseBirthDate(f("birth_date"), time.Now(), loc); why == "future" {
		v.Errors["birth_date"] = v.T("reg.err.birth_future")
	} else if why != "" {
		v.Errors["birth_date"] = v.T("reg.err.birth_format")
	}
	var ok bool
	if in.SNILS, ok = normSNILS(f("snils")); !ok {
		v.Errors["snils"] = v.T("reg.err.snils")
	}
	if in.Passport, ok = normPassport(f("passport")); !ok {
		v.Errors["passport"] = v.T("reg.err.passport")
	}
	if in.INN, ok = validINN(f("inn")); !ok {
		v.Errors["inn"] = v.T("reg.err.inn")
	}
	if in.Phone, ok = normPhone(f("phone")); !ok {
		v.Errors["phone"] = v.T("reg.err.phone")
	}
	in.RegAddress, in.ResAddress = f("reg_address"), f("res_address")
	if r.PostFormValue("same_address") != "" && in.ResAddress == "" {
		in.ResAddress = in.RegAddress
	}
	for k, s := range map[string]string{"reg_address": in.RegAddress, "res_address": in.ResAddress} {
		if s == "" {
			v.Errors[k] = v.T("form.err.required")
		} else if len(s) > 500 {
			v.Errors[k] = v.T("form.err.too_long")
		}
	}
	return in
}

// sealed turns the input into a profile with the identifiers encrypted.
func (in profileInput) sealed(b *secretbox.Box) store.CitizenProfile {
	return store.CitizenProfile{OrgID: in.Dept.OrgID, DepartmentID: in.Dept.ID, Gender: in.Gender, BirthDate: in.BirthDate,
		SNILS: b.SealString(in.SNILS, "snils"), SNILSIndex: b.Index(digits(in.SNILS), "snils"),
		Passport: b.SealString(in.Passport, "passport"), INN: b.SealString(in.INN, "inn"),
		Phone: in.Phone, RegAddress: in.RegAddress, ResAddress: in.ResAddress}
}

// clearProfile is a profile with its identifiers decrypted, for its owner.
type clearProfile struct {
	SNILS, Passport, INN string
}

func (a *App) openProfile(p *store.CitizenProfile) (clearProfile, error) {
	var c clearProfile
	if len(p.SNILS) == 0 && len(p.Passport) == 0 && len(p.INN) == 0 {
		return c, nil
	}
	b, err := a.box()
	if err != nil {
		return c, err
	}
	if c.SNILS, err = b.OpenString(p.SNILS, "snils"); err != nil {
		return c, err
	}
	if c.Passport, err = b.OpenString(p.Passport, "passport"); err != nil {
		return c, err
	}
	c.INN, err = b.OpenString(p.INN, "inn")
	return c, err
}

func (c clearProfile) masked() clearProfile {
	return clearProfile{SNILS: maskSNILS(c.SNILS), Passport: maskTail(c.Passport, 3), INN: maskTail(c.INN, 2)}
}

// ---- registration ----

type regData struct {
	Depts []store.Department
	OIDC  bool
}

func (a *App) regForm(w http.ResponseWriter, r *http.Request) {
	if u := userOf(r); u != nil {
		a.redirect(w, r, landing(u))
		return
	}
	a.regPage(w, r, http.StatusOK, a.newView(r, "reg.title", ""))
}

func (a *App) regPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	depts, err := a.st.Departments(r.Context(), 0)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = regData{Depts: depts, OIDC: a.cit.oidc.Load() != nil}
	a.render(w, r, status, "reg_form", v)
}

func (a *App) regSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	box, err := a.box()
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	r.ParseForm()
	v := a.newView(r, "reg.title", "")
	v.Form = r.PostForm
	depts, err := a.st.Departments(ctx, 0)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	in := a.readProfile(r, v, depts)
	email := strings.TrimSpace(r.PostFormValue("email"))
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		v.Errors["email"] = v.T("form.err.email")
	}
	p1 := r.PostFormValue("password")
	if msg := passwordProblem(v, p1); msg != "" {
		v.Errors["password"] = msg
	} else if p1 != r.PostFormValue("password2") {
		v.Errors["password2"] = v.T("form.err.password_mismatch")
	}
	if r.PostFormValue("consent") == "" {
		v.Errors["consent"] = v.T("reg.err.consent")
	}
	if len(v.Errors) > 0 {
		a.regPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	hash, err := HashPassword(p1)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	id, err := a.st.RegisterCitizen(ctx, store.User{Email: email, FullName: in.FullName, PasswordHash: hash, Locale: v.Lang},
		in.sealed(box))
	switch {
	case errors.Is(err, store.ErrDuplicate):
		v.Errors["email"] = v.T("form.err.email_taken")
	case errors.Is(err, store.ErrSNILSTaken):
		v.Errors["snils"] = v.T("reg.err.snils_taken")
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	if len(v.Errors) > 0 {
		a.regPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	a.log.Info("citizen registered", "user", id, "department", in.Dept.ID)
	if err := a.sendConfirm(r, v, id, email, in.FullName); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(w, "reg.flash.sent")
	a.redirect(w, r, "/login")
}

func (a *App) sendConfirm(r *http.Request, v *view, userID int64, email, name string) error {
	tok, h := newToken()
	if err := a.st.CreateToken(r.Context(), h, userID, "email_confirm", "", time.Now().Add(48*time.Hour)); err != nil {
		return err
	}
	link := strings.TrimRight(a.cfg.BaseURL, "/") + "/register/confirm?token=" + tok
	if err := a.sendMail(r, email, v.T("reg.mail.subject"), v.T("reg.mail.body", name, link)); err != nil {
		a.log.Error("confirmation mail not sent", "user", userID, "err", err)
	}
	return nil
}

func (a *App) regConfirm(w http.ResponseWriter, r *http.Request) {
	uid, _, err := a.st.UseToken(r.Context(), hashToken(r.URL.Query().Get("token")), "email_confirm")
	if errors.Is(err, store.ErrNotFound) {
		a.flash(w, "reg.err.token")
		a.redirect(w, r, "/login")
		return
	}
	if err == nil {
		err = a.st.ConfirmEmail(r.Context(), uid)
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("e-mail confirmed", "user", uid)
	a.flash(w, "reg.flash.confirmed")
	a.redirect(w, r, "/login")
}

func (a *App) emailConfirm(w http.ResponseWriter, r *http.Request) {
	uid, email, err := a.st.UseToken(r.Context(), hashToken(r.URL.Query().Get("token")), "email_change")
	to := "/login"
	if userOf(r) != nil {
		to = "/my/profile"
	}
	if errors.Is(err, store.ErrNotFound) {
		a.flash(w, "reg.err.token")
		a.redirect(w, r, to)
		return
	}
	if err == nil {
		err = a.st.ChangeEmail(r.Context(), uid, email)
	}
	if errors.Is(err, store.ErrDuplicate) {
		a.flash(w, "my.err.email_taken_now")
		a.redirect(w, r, to)
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("e-mail changed", "user", uid)
	a.flash(w, "my.flash.email_changed")
	a.redirect(w, r, to)
}

// ---- profile ----

type profileData struct {
	myBase
	Depts       []store.Department
	Clear       clearProfile
	HasPassword bool
	Complete    bool
	OIDC        bool
}

func (a *App) myProfile(w http.ResponseWriter, r *http.Request) {
	v := a.myView(r, "my.profile.title", "my_profile")
	p := profileOf(r)
	u := userOf(r)
	clear, err := a.openProfile(p)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Form.Set("full_name", u.FullName)
	v.Form.Set("gender", p.Gender)
	if !p.BirthDate.IsZero() {
		v.Form.Set("birth_date", p.BirthDate.Format(time.DateOnly))
	}
	v.Form.Set("snils", clear.SNILS)
	v.Form.Set("passport", clear.Passport)
	v.Form.Set("inn", clear.INN)
	v.Form.Set("phone", p.Phone)
	v.Form.Set("reg_address", p.RegAddress)
	v.Form.Set("res_address", p.ResAddress)
	if p.DepartmentID != 0 {
		v.Form.Set("department", strconv.FormatInt(p.DepartmentID, 10))
	}
	a.profilePage(w, r, http.StatusOK, v, clear)
}

func (a *App) profilePage(w http.ResponseWriter, r *http.Request, status int, v *view, clear clearProfile) {
	depts, err := a.st.Departments(r.Context(), 0)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p := profileOf(r)
	v.Data = profileData{myBase: a.base(r), Depts: depts, Clear: clear, HasPassword: userOf(r).PasswordHash != noPassword,
		Complete: p.Complete(), OIDC: p.OIDCSubject != ""}
	a.render(w, r, status, "my_profile", v)
}

func (a *App) myProfileSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	box, err := a.box()
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	r.ParseForm()
	v := a.myView(r, "my.profile.title", "my_profile")
	v.Form = r.PostForm
	depts, err := a.st.Departments(ctx, 0)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	in := a.readProfile(r, v, depts)
	u := userOf(r)
	if len(v.Errors) == 0 {
		p := in.sealed(box)
		err = a.st.UpdateCitizen(ctx, u.ID, in.FullName, p)
		if errors.Is(err, store.ErrSNILSTaken) {
			v.Errors["snils"] = v.T("reg.err.snils_taken")
		} else if err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	if len(v.Errors) > 0 {
		clear, _ := a.openProfile(profileOf(r))
		a.profilePage(w, r, http.StatusUnprocessableEntity, v, clear)
		return
	}
	a.log.Info("citizen profile saved", "user", u.ID)
	a.flash(w, "my.flash.profile_saved")
	a.redirect(w, r, "/my/profile")
}

func (a *App) myPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	u := userOf(r)
	v := a.myView(r, "my.profile.title", "my_profile")
	if u.PasswordHash != noPassword {
		if ok, _ := CheckPassword(u.PasswordHash, r.PostFormValue("current")); !ok {
			v.Errors["current"] = v.T("my.err.current_password")
		}
	}
	p1 := r.PostFormValue("new_password")
	if msg := passwordProblem(v, p1); msg != "" {
		v.Errors["new_password"] = msg
	} else if p1 != r.PostFormValue("new_password2") {
		v.Errors["new_password2"] = v.T("form.err.password_mismatch")
	}
	if len(v.Errors) > 0 {
		a.profileErr(w, r, v)
		return
	}
	h, err := HashPassword(p1)
	if err == nil {
		err = a.st.SetPassword(ctx, u.ID, h) // ends every session, this one too
	}
	if err == nil {
		err = a.startSession(w, r, u.ID)
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("citizen password changed", "user", u.ID)
	a.flash(w, "my.flash.password_changed")
	a.redirect(w, r, "/my/profile")
}

// profileErr re-renders the profile page with the saved profile and the
// errors of one of its smaller forms.
func (a *App) profileErr(w http.ResponseWriter, r *http.Request, v *view) {
	p := profileOf(r)
	clear, err := a.openProfile(p)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	submitted := v.Form
	v.Form = map[string][]string{}
	for k, vals := range submitted {
		v.Form[k] = vals
	}
	v.Form.Set("full_name", userOf(r).FullName)
	v.Form.Set("gender", p.Gender)
	if !p.BirthDate.IsZero() {
		v.Form.Set("birth_date", p.BirthDate.Format(time.DateOnly))
	}
	v.Form.Set("snils", clear.SNILS)
	v.Form.Set("passport", clear.Passport)
	v.Form.Set("inn", clear.INN)
	v.Form.Set("phone", p.Phone)
	v.Form.Set("reg_address", p.RegAddress)
	v.Form.Set("res_address", p.ResAddress)
	v.Form.Set("department", strconv.FormatInt(p.DepartmentID, 10))
	a.profilePage(w, r, http.StatusUnprocessableEntity, v, clear)
}

func (a *App) myEmail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	u := userOf(r)
	v := a.myView(r, "my.profile.title", "my_profile")
	email := strings.TrimSpace(r.PostFormValue("new_email"))
	v.Form.Set("new_email", email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		v.Errors["new_email"] = v.T("form.err.email")
	} else if strings.EqualFold(email, u.Email) {
		v.Errors["new_email"] = v.T("my.err.same_email")
	} else if _, err := a.st.UserByEmail(ctx, email); err == nil {
		v.Errors["new_email"] = v.T("form.err.email_taken")
	}
	if u.PasswordHash != noPassword {
		if ok, _ := CheckPassword(u.PasswordHash, r.PostFormValue("email_password")); !ok {
			v.Errors["email_password"] = v.T("my.err.current_password")
		}
	}
	if len(v.Errors) > 0 {
		a.profileErr(w, r, v)
		return
	}
	tok, h := newToken()
	if err := a.st.CreateToken(ctx, h, u.ID, "email_change", email, time.Now().Add(24*time.Hour)); err != nil {
		a.serverError(w, r, err)
		return
	}
	link := strings.TrimRight(a.cfg.BaseURL, "/") + "/email/confirm?token=" + tok
	if err := a.sendMail(r, email, v.T("my.mail.email_subject"), v.T("my.mail.email_body", u.FullName, link)); err != nil {
		a.log.Error("e-mail change mail not sent", "user", u.ID, "err", err)
	}
	a.flash(w, "my.flash.email_sent")
	a.redirect(w, r, "/my/profile")
}

// ---- the citizen's own data ----

type exportDoc struct {
	store.Document
	Content []byte `json:"content_base64"`
}

type exportApp struct {
	store.Application
	History []store.AppEvent
}

// myExport hands the citizen everything the cabinet holds about them, as
// JSON, with their documents inline (base64).
func (a *App) myExport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := userOf(r)
	p := profileOf(r)
	clear, err := a.openProfile(p)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	apps, err := a.st.MyApplications(ctx, u.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	var xapps []exportApp
	for _, ap := range apps {
		ev, err := a.st.AppEvents(ctx, ap.ID)
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		xapps = append(xapps, exportApp{Application: ap, History: ev})
	}
	docs, err := a.st.Documents(ctx, store.DocFilter{UserID: u.ID})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	var xdocs []exportDoc
	for _, d := range docs {
		full, err := a.st.DocumentData(ctx, store.DocFilter{UserID: u.ID}, d.ID)
		if err == nil {
			full.Data, err = a.openDoc(full)
		}
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		xdocs = append(xdocs, exportDoc{Document: d, Content: full.Data})
	}
	notes, _ := a.st.Notifications(ctx, u.ID, 1000)
	bookings, _ := a.st.MyBookings(ctx, u.ID)
	clients, _ := a.st.CitizenClients(ctx, u.ID)
	ratings, _ := a.st.MyRatings(ctx, u.ID)
	visits, _ := a.st.CitizenVisits(ctx, u.ID, time.Time{}, time.Now().Add(24*time.Hour))
	out := map[string]any{
		"exported_at": time.Now().UTC(),
		"account":     map[string]any{"id": u.ID, "email": u.Email, "full_name": u.FullName, "locale": u.Locale},
		"profile": map[string]any{"gender": p.Gender, "birth_date": p.BirthDate.Format(time.DateOnly), "snils": clear.SNILS,
			"passport": clear.Passport, "inn": clear.INN, "phone": p.Phone, "registration_address": p.RegAddress,
			"residence_address": p.ResAddress, "department_id": p.DepartmentID, "organisation_id": p.OrgID,
			"oidc_subject": p.OIDCSubject, "created_at": p.CreatedAt},
		"applications": xapps, "documents": xdocs, "notifications": notes, "bookings": bookings,
		"care_recipients": clients, "ratings": ratings, "visits": visits,
	}
	a.log.Info("citizen data exported", "user", u.ID)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="carevisit-my-data.json"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		a.log.Warn("export", "user", u.ID, "err", err)
	}
}

// myDelete erases the account at once (see store.DeleteCitizen for what
// the organisation keeps).
func (a *App) myDelete(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	u := userOf(r)
	v := a.myView(r, "my.profile.title", "my_profile")
	if r.PostFormValue("confirm") != "yes" {
		v.Errors["confirm"] = v.T("my.err.delete_confirm")
	}
	if u.PasswordHash != noPassword {
		if ok, _ := CheckPassword(u.PasswordHash, r.PostFormValue("delete_password")); !ok {
			v.Errors["delete_password"] = v.T("my.err.current_password")
		}
	}
	if len(v.Errors) > 0 {
		a.profileErr(w, r, v)
		return
	}
	if err := a.st.DeleteCitizen(r.Context(), u.ID); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("citizen account deleted", "user", u.ID)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
	a.flash(w, "my.flash.deleted")
	a.redirect(w, r, "/login")
}
