package cabinet

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"carevisit/store"
)

// dummyHash is compared against when the e-mail is unknown, so a wrong
// e-mail takes as long as a wrong password (no account probing by timing).
// Computed on first use: argon2id costs 64 MiB, which every other command
// of the binary should not pay at start.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("carevisit-timing-equaliser")
	return h
})

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if u == nil {
		a.redirect(w, r, "/login")
		return
	}
	a.redirect(w, r, landing(u))
}

func landing(u *store.User) string {
	switch u.Role {
	case store.RolePlatform:
		return "/admin/orgs"
	case store.RoleCitizen:
		return "/my"
	case store.RoleWorker:
		return "/worker"
	default:
		return "/staff/"
	}
}

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	if u := userOf(r); u != nil {
		a.redirect(w, r, landing(u))
		return
	}
	v := a.newView(r, "login.title", "")
	v.Form.Set("next", r.URL.Query().Get("next"))
	a.render(w, r, http.StatusOK, "login", v)
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.HasPrefix(next, "/\\") {
		return next
	}
	return ""
}

func (a *App) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	v := a.newView(r, "login.title", "")
	v.Form = r.PostForm
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	if email == "" {
		v.Errors["email"] = v.T("login.err.email_required")
	}
	if password == "" {
		v.Errors["password"] = v.T("login.err.password_required")
	}
	if len(v.Errors) > 0 {
		a.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	u, err := a.st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		CheckPassword(dummyHash(), password)
		v.Errors["form"] = v.T("login.err.wrong")
		a.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	now := time.Now()
	if u.LockedUntil.After(now) {
		v.Errors["form"] = v.T("login.err.locked", v.Clock(u.LockedUntil))
		a.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	ok, _ := CheckPassword(u.PasswordHash, password)
	if !ok || u.Disabled {
		until, err := a.st.LoginFailed(ctx, u.ID, a.cfg.LockAfter, a.cfg.LockFor)
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		a.log.Info("login failed", "user", u.ID)
		if until.After(now) {
			v.Errors["form"] = v.T("login.err.locked", v.Clock(until))
		} else {
			v.Errors["form"] = v.T("login.err.wrong")
		}
		a.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	if !u.EmailConfirmed {
		v.Errors["form"] = v.T("login.err.unconfirmed")
		a.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	if err := a.st.LoginSucceeded(ctx, u.ID); err != nil {
		a.serverError(w, r, err)
		return
	}
	if err := a.startSession(w, r, u.ID); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("login", "user", u.ID, "role", u.Role)
	to := safeNext(r.PostFormValue("next"))
	if to == "" {
		to = landing(&u)
	}
	a.redirect(w, r, to)
}

// startSession issues a fresh session token (never reusing one from before
// the login: no session fixation).
func (a *App) startSession(w http.ResponseWriter, r *http.Request, userID int64) error {
	tok, h := newToken()
	exp := time.Now().Add(a.cfg.SessionTTL)
	ip := r.RemoteAddr
	if err := a.st.CreateSession(r.Context(), h, userID, exp, truncate(r.UserAgent(), 200), ip); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", Expires: exp, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.st.DeleteSession(r.Context(), hashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
	a.flash(w, "login.flash.logged_out")
	a.redirect(w, r, "/login")
}

func (a *App) forgotForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "forgot", a.newView(r, "forgot.title", ""))
}

// forgotSubmit always answers the same, registered address or not.
func (a *App) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := a.newView(r, "forgot.title", "")
	email := strings.TrimSpace(r.PostFormValue("email"))
	if _, err := mail.ParseAddress(email); err != nil {
		v.Form = r.PostForm
		v.Errors["email"] = v.T("form.err.email")
		a.render(w, r, http.StatusUnprocessableEntity, "forgot", v)
		return
	}
	if u, err := a.st.UserByEmail(ctx, email); err == nil && !u.Disabled {
		tok, h := newToken()
		if err := a.st.CreateToken(ctx, h, u.ID, "password_reset", "", time.Now().Add(time.Hour)); err != nil {
			a.serverError(w, r, err)
			return
		}
		link := strings.TrimRight(a.cfg.BaseURL, "/") + "/password/reset?token=" + tok
		body := v.T("forgot.mail.body", u.FullName, link)
		if err := a.sendMail(r, u.Email, v.T("forgot.mail.subject"), body); err != nil {
			a.log.Error("password reset mail not sent", "user", u.ID, "err", err)
		}
	}
	a.flash(w, "forgot.flash.sent")
	a.redirect(w, r, "/login")
}

func (a *App) sendMail(r *http.Request, to, subject, body string) error {
	if a.mail == nil {
		return errors.New("no mail server configured (CAREVISIT_SMTP_HOST)")
	}
	return a.mail(r.Context(), to, subject, body)
}

// sendMailWith sends with attachments where the server can, else without.
func (a *App) sendMailWith(r *http.Request, to, subject, body string, att []Attachment) error {
	if a.mailAt != nil {
		return a.mailAt(r.Context(), to, subject, body, att)
	}
	return a.sendMail(r, to, subject, body)
}

func (a *App) resetForm(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "reset.title", "")
	tok := r.URL.Query().Get("token")
	if _, err := a.st.PeekToken(r.Context(), hashToken(tok), "password_reset"); err != nil {
		v.Errors["form"] = v.T("reset.err.token")
	}
	v.Form.Set("token", tok)
	a.render(w, r, http.StatusOK, "reset", v)
}

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 10

func (a *App) resetSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := a.newView(r, "reset.title", "")
	r.ParseForm()
	v.Form.Set("token", r.PostFormValue("token"))
	p1, p2 := r.PostFormValue("password"), r.PostFormValue("password2")
	if msg := passwordProblem(v, p1); msg != "" {
		v.Errors["password"] = msg
	} else if p1 != p2 {
		v.Errors["password2"] = v.T("form.err.password_mismatch")
	}
	if len(v.Errors) > 0 {
		a.render(w, r, http.StatusUnprocessableEntity, "reset", v)
		return
	}
	uid, _, err := a.st.UseToken(ctx, hashToken(r.PostFormValue("token")), "password_reset")
	if err != nil {
		v.Errors["form"] = v.T("reset.err.token")
		a.render(w, r, http.StatusUnprocessableEntity, "reset", v)
		return
	}
	h, err := HashPassword(p1)
	if err == nil {
		err = a.st.SetPassword(ctx, uid, h)
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("password reset", "user", uid)
	a.flash(w, "reset.flash.done")
	a.redirect(w, r, "/login")
}

// passwordProblem explains what is wrong with a new password ("" if fine).
func passwordProblem(v *view, p string) string {
	if len([]rune(p)) < MinPasswordLen {
		return v.T("form.err.password_short", MinPasswordLen)
	}
	if len(p) > 200 {
		return v.T("form.err.too_long")
	}
	return ""
}
