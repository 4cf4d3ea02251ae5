// Package cabinet is carevisit's web application: the staff cabinet
// (supervisors, coordinators, administrators), the citizen cabinet and the
// worker app API. Server-rendered HTML (html/template), assets embedded,
// Russian by default and English on request.
//
// Security rules kept everywhere: passwords are argon2id hashes; sessions
// live in PostgreSQL behind HttpOnly SameSite cookies; cross-site requests
// are refused (net/http.CrossOriginProtection); every query takes the
// caller's organisation (store.Scope); personal data is never logged.
package cabinet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
	"carevisit/tracking"
)

// MailFunc sends a plain-text e-mail.
type MailFunc func(ctx context.Context, to, subject, body string) error

// Attachment is a file attached to an e-mail.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// MailAttachFunc sends a plain-text e-mail with attachments (a booking's
// QR code, say).
type MailAttachFunc func(ctx context.Context, to, subject, body string, att []Attachment) error

// Config holds the cabinet's settings.
type Config struct {
	BaseURL      string        // public address, for links in e-mails (e.g. https://care.example.ru)
	TileURL      string        // map tiles, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; "" = no tiles
	CookieSecure bool          // Secure cookies (behind HTTPS)
	SessionTTL   time.Duration // default 12 h
	LockAfter    int           // failed logins before a lock (default 5)
	LockFor      time.Duration // lock length (default 15 min)
	APIRate      float64       // app API requests per second per device (default 10)
	APIBurst     int           // and the burst above it (default 120)
}

// Deps are the cabinet's collaborators.
type Deps struct {
	Store   *store.Store
	Log     *slog.Logger
	Mail    MailFunc          // nil: e-mails are logged as not sent
	MailAtt MailAttachFunc    // nil: attachments fall back to Mail without them
	Tracker *tracking.Tracker // live visit events; nil in tests that do not need them
}

// App is the web application.
type App struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	mail   MailFunc
	mailAt MailAttachFunc
	tr     *tracking.Tracker
	cat    catalog
	tpl    *engine
	assets *assets
	router chi.Router
	hub    *hub

	apiLimit    *apiLimiter            // per-device request budget of the app API
	regMisses   *apiLimiter            // per-user budget of mistyped IMEIs when registering unknown devices
	onPositions func([]store.Position) // phone fixes to the visit detector (OnPhonePositions)
	cit         citizenState           // citizen cabinet: data key, single sign-on (citizen.go)
}

// New builds the application; templates and catalogs are checked here.
func New(cfg Config, d Deps) (*App, error) {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.LockAfter == 0 {
		cfg.LockAfter = 5
	}
	if cfg.LockFor == 0 {
		cfg.LockFor = 15 * time.Minute
	}
	if cfg.APIRate <= 0 {
		cfg.APIRate = 10
	}
	if cfg.APIBurst <= 0 {
		cfg.APIBurst = 120
	}
	cat, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	as, err := loadAssets()
	if err != nil {
		return nil, err
	}
	tpl, err := newEngine(as)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, st: d.Store, log: d.Log, mail: d.Mail, mailAt: d.MailAtt, tr: d.Tracker, cat: cat, tpl: tpl, assets: as,
		hub: newHub(), apiLimit: newAPILimiter(cfg.APIRate, cfg.APIBurst),
		regMisses: newAPILimiter(float64(dirRegMissesPerHour)/3600, dirRegMissesPerHour)}
	a.router = a.routes()
	return a, nil
}

// Handler is the whole web application, with cross-site request protection.
func (a *App) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	if a.cfg.BaseURL != "" {
		if u, err := url.Parse(a.cfg.BaseURL); err == nil && u.Host != "" {
			cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
		}
	}
	// The worker app API authenticates with a bearer token, not a cookie:
	// a cross-site form cannot carry it, so it needs no origin check.
	cop.AddInsecureBypassPattern("/api/")
	return cop.Handler(a.router)
}

// Run runs background work (live event fan-out, session clean-up) until
// ctx ends.
func (a *App) Run(ctx context.Context) {
	if a.tr != nil {
		go a.hub.run(ctx, a.tr.Subscribe())
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.st.DeleteExpiredSessions(ctx); err != nil {
				a.log.Warn("session clean-up", "err", err)
			}
		}
	}
}

func (a *App) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(a.recoverer, securityHeaders(a.cfg.TileURL), a.session)
	r.Handle("/static/*", a.assets.handler())
	r.Get("/", a.home)
	r.Get("/login", a.loginForm)
	r.Post("/login", a.loginSubmit)
	r.Post("/logout", a.logout)
	r.Get("/password/forgot", a.forgotForm)
	r.Post("/password/forgot", a.forgotSubmit)
	r.Get("/password/reset", a.resetForm)
	r.Post("/password/reset", a.resetSubmit)

	r.Route("/admin", func(r chi.Router) {
		r.Use(a.requireRole(store.RolePlatform))
		r.Get("/orgs", a.orgList)
		r.Post("/orgs", a.orgCreate)
	})
	r.Route("/staff", func(r chi.Router) {
		r.Use(a.requireRole(store.RoleAdmin, store.RoleSupervisor, store.RoleAuditor))
		r.Get("/", a.dashboard)
		r.Group(func(r chi.Router) {
			r.Use(a.requireRole(store.RoleAdmin))
			r.Get("/users", a.userList)
			r.Post("/users", a.userCreate)
		})
		for _, m := range staffModules {
			m(a, r)
		}
	})
	for _, m := range rootModules {
		m(a, r)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { a.notFound(w, r) })
	return r
}

// staffModules and rootModules let each feature file register its routes
// (directory, visits, live map, app API, citizen cabinet) without one big
// routing table that every change has to touch.
var (
	staffModules []func(a *App, r chi.Router)
	rootModules  []func(a *App, r chi.Router)
)

// ---- request context ----

type ctxKey int

const userKey ctxKey = 1

func userOf(r *http.Request) *store.User {
	u, _ := r.Context().Value(userKey).(*store.User)
	return u
}

// scope is what the signed-in staff user may see.
func (a *App) scope(r *http.Request) store.Scope {
	u := userOf(r)
	if u == nil {
		return store.Scope{OrgID: -1}
	}
	sc := store.Scope{OrgID: u.OrgID, UserID: u.ID, Role: u.Role, ReadOnly: u.Role == store.RoleAuditor}
	if u.Role == store.RoleSupervisor {
		groups, err := a.st.SupervisorGroups(r.Context(), u.ID)
		if err != nil || groups == nil {
			groups = []int64{}
		}
		sc.Groups = groups
	}
	return sc
}

// newView prepares the data every template gets.
func (a *App) newView(r *http.Request, title, nav string) *view {
	u := userOf(r)
	locale := ""
	if u != nil {
		locale = u.Locale
	}
	v := &view{Lang: langOf(r, locale), Title: title, Nav: nav, User: u, cat: a.cat, loc: time.UTC,
		Errors: map[string]string{}, Form: url.Values{}, Path: r.URL.Path, Query: r.URL.RawQuery, Tiles: a.cfg.TileURL}
	v.SSO = a.cit.oidc.Load() != nil
	if u != nil && u.OrgID != 0 {
		if o, err := a.st.OrganisationByID(r.Context(), u.OrgID); err == nil {
			v.Org = &o
			v.loc = o.Location()
		}
	}
	if c, err := r.Cookie("flash"); err == nil {
		v.Flash = v.T(c.Value)
	}
	v.navCount = func(it navItem) int { return it.Count(a, r) }
	return v
}

func (a *App) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	if v.Flash != "" {
		http.SetCookie(w, &http.Cookie{Name: "flash", Path: "/", MaxAge: -1})
	}
	if q := r.URL.Query().Get("lang"); valid(q) {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
	}
	if err := a.tpl.render(w, status, page, v); err != nil {
		a.log.Error("render", "page", page, "err", err)
	}
}

// flash stores a message key shown once on the next page.
func (a *App) flash(w http.ResponseWriter, key string) {
	http.SetCookie(w, &http.Cookie{Name: "flash", Value: key, Path: "/", MaxAge: 60, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
}

func (a *App) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "error.not_found", "")
	a.render(w, r, http.StatusNotFound, "error", v)
}

func (a *App) forbidden(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "error.forbidden", "")
	a.render(w, r, http.StatusForbidden, "error", v)
}

// serverError logs err (never personal data: callers pass store errors,
// which carry ids, not names) and shows a generic page.
func (a *App) serverError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// The worker app reads JSON, never the HTML error page.
		apiError(w, http.StatusInternalServerError, "internal", "internal error, retry later", "")
		return
	}
	v := a.newView(r, "error.internal", "")
	a.render(w, r, http.StatusInternalServerError, "error", v)
}

// storeErr maps store errors to pages: not found (or another
// organisation's id) is a 404, never a hint that the row exists.
func (a *App) storeErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		a.notFound(w, r)
		return
	}
	a.serverError(w, r, err)
}

// ---- middleware ----

func (a *App) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.serverError(w, r, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(tileURL string) func(http.Handler) http.Handler {
	img := "'self' data: blob:"
	if u, err := url.Parse(strings.ReplaceAll(tileURL, "{s}", "a")); err == nil && u.Host != "" {
		host := u.Host
		if strings.Contains(tileURL, "{s}") {
			host = "*." + strings.SplitN(u.Host, ".", 2)[1]
		}
		img += " " + u.Scheme + "://" + host
	}
	csp := "default-src 'self'; img-src " + img + "; style-src 'self' 'unsafe-inline'; script-src 'self'; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("X-Frame-Options", "DENY")
			next.ServeHTTP(w, r)
		})
	}
}

const sessionCookie = "cv_session"

// session loads the signed-in user, if any.
func (a *App) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err == nil && c.Value != "" {
			u, err := a.st.SessionUser(r.Context(), hashToken(c.Value))
			if err == nil {
				r = r.WithContext(context.WithValue(r.Context(), userKey, &u))
			} else if !errors.Is(err, store.ErrNotFound) {
				a.serverError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireRole lets through users with one of the roles; others get the
// login page (not signed in) or 403.
func (a *App) requireRole(roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u := userOf(r)
			if u == nil {
				a.redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
				return
			}
			for _, role := range roles {
				if u.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			a.forbidden(w, r)
		})
	}
}

// requireWrite refuses changes by read-only users (auditors).
func (a *App) requireWrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := userOf(r); u == nil || u.Role == store.RoleAuditor {
			a.forbidden(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
