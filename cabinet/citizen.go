package cabinet

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"carevisit/secretbox"
	"carevisit/store"
)

// The citizen cabinet (/my...): care recipients and their relatives apply
// for services, keep their documents, book appointments and see, confirm or
// dispute their social worker's visits. Staff process applications under
// /staff/applications and set departments' schedules under
// /staff/departments. Personal data (SNILS, passport, INN, documents) is
// sealed with AES-256-GCM (package secretbox) before it reaches the store.

// citizenState is the citizen cabinet's run-time configuration, set after
// New by the server (SetDataKey, SetOIDC).
type citizenState struct {
	box  atomic.Pointer[secretbox.Box]
	oidc atomic.Pointer[oidcClient]
}

// SetDataKey sets the 32-byte key that encrypts citizens' SNILS, passport,
// INN and uploaded documents at rest (AES-256-GCM). Without it the citizen
// cabinet refuses to store personal data. Use secretbox.ParseKey to read
// it from the environment (CAREVISIT_DATA_KEY: 64 hex digits or base64).
func (a *App) SetDataKey(key []byte) error {
	b, err := secretbox.New(key)
	if err != nil {
		return err
	}
	a.cit.box.Store(b)
	return nil
}

var errNoDataKey = errors.New("cabinet: no data key set (SetDataKey, CAREVISIT_DATA_KEY): personal data cannot be stored")

func (a *App) box() (*secretbox.Box, error) {
	if b := a.cit.box.Load(); b != nil {
		return b, nil
	}
	return nil, errNoDataKey
}

func init() {
	rootModules = append(rootModules, func(a *App, r chi.Router) {
		r.Get("/register", a.regForm)
		r.Post("/register", a.regSubmit)
		r.Get("/register/confirm", a.regConfirm)
		r.Get("/email/confirm", a.emailConfirm)
		r.Get("/login/oidc", a.oidcStart)
		r.Get("/login/oidc/callback", a.oidcCallback)
		r.Route("/my", func(r chi.Router) {
			r.Use(a.requireRole(store.RoleCitizen), a.citizenCtx)
			r.Get("/", a.myHome)
			r.Get("/services/{code}", a.myService)
			r.Post("/ratings", a.myRate)

			r.Get("/applications", a.myApps)
			r.Get("/applications/new", a.myAppNew)
			r.Post("/applications/new", a.myAppSave)
			r.Get("/applications/{id}", a.myApp)
			r.Post("/applications/{id}", a.myAppSave)
			r.Post("/applications/{id}/delete", a.myAppDelete)
			r.Post("/applications/{id}/documents", a.myAppUpload)
			r.Post("/applications/{id}/documents/{doc}/delete", a.myDocDelete)

			r.Get("/documents", a.myDocs)
			r.Get("/documents/{doc}", a.myDocDownload)
			r.Get("/notifications", a.myNotes)
			r.Get("/notifications/{id}", a.myNoteOpen)
			r.Post("/notifications/read", a.myNotesRead)

			r.Get("/appointments", a.myAppts)
			r.Get("/appointments/new", a.myApptNew)
			r.Post("/appointments", a.myApptBook)
			r.Post("/appointments/watch", a.myApptWatch)
			r.Get("/appointments/{id}", a.myAppt)
			r.Get("/appointments/{id}/qr.png", a.myApptQR)
			r.Post("/appointments/{id}/cancel", a.myApptCancel)
			r.Post("/appointments/{id}/move", a.myApptMove)

			r.Get("/visits", a.myVisits)
			r.Get("/visits/{id}", a.myVisit)
			r.Post("/visits/{id}/feedback", a.myVisitFeedback)
			r.Post("/visits/access", a.myAccessGrant)
			r.Post("/visits/access/revoke", a.myAccessRevoke)

			r.Get("/profile", a.myProfile)
			r.Post("/profile", a.myProfileSave)
			r.Post("/profile/password", a.myPassword)
			r.Post("/profile/email", a.myEmail)
			r.Get("/profile/export", a.myExport)
			r.Post("/profile/delete", a.myDelete)
		})
	})
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		r.Get("/applications", a.staffApps)
		r.Get("/applications/{id}", a.staffApp)
		r.Get("/applications/{id}/documents/{doc}", a.staffDocDownload)
		r.With(a.requireWrite).Post("/applications/{id}/take", a.staffAppTake)
		r.With(a.requireWrite).Post("/applications/{id}/status", a.staffAppStatus)
		r.With(a.requireWrite).Post("/applications/{id}/request", a.staffAppRequestDocs)
		r.With(a.requireWrite).Post("/applications/{id}/documents", a.staffAppUpload)
		r.Get("/citizens/{id}", a.staffCitizen)
		r.With(a.requireWrite).Post("/citizens/{id}/clients", a.staffCitizenLink)
		r.Get("/departments", a.staffDepts)
		r.With(a.requireWrite).Post("/departments", a.staffDeptSave)
		r.Get("/departments/{id}", a.staffDept)
		r.With(a.requireWrite).Post("/departments/{id}", a.staffDeptSave)
		r.With(a.requireWrite).Post("/departments/{id}/hours", a.staffDeptHours)
		r.With(a.requireWrite).Post("/departments/{id}/holidays", a.staffDeptHoliday)
		r.With(a.requireWrite).Post("/providers", a.staffProviderAdd)
	})
	addNav(&staffNavItems, navItem{Key: "applications", Href: "/staff/applications", Label: "nav.applications", Order: 60})
	addNav(&staffNavItems, navItem{Key: "departments", Href: "/staff/departments", Label: "nav.departments", Order: 61, Sub: true})
	addNav(&citizenNavItems, navItem{Key: "my", Href: "/my", Label: "nav.my.home", Order: 10})
	addNav(&citizenNavItems, navItem{Key: "my_apps", Href: "/my/applications", Label: "nav.my.applications", Order: 20})
	addNav(&citizenNavItems, navItem{Key: "my_docs", Href: "/my/documents", Label: "nav.my.documents", Order: 30})
	addNav(&citizenNavItems, navItem{Key: "my_appts", Href: "/my/appointments", Label: "nav.my.appointments", Order: 40})
	addNav(&citizenNavItems, navItem{Key: "my_visits", Href: "/my/visits", Label: "nav.my.visits", Order: 50})
	addNav(&citizenNavItems, navItem{Key: "my_notes", Href: "/my/notifications", Label: "nav.my.notifications", Order: 60})
	addNav(&citizenNavItems, navItem{Key: "my_profile", Href: "/my/profile", Label: "nav.my.profile", Order: 70})
}

const profileKey ctxKey = 60

// citizenCtx loads the citizen's profile; until it is complete (a first
// single sign-on) only the profile page opens.
func (a *App) citizenCtx(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		p, err := a.st.CitizenProfileOf(r.Context(), u.ID)
		if errors.Is(err, store.ErrNotFound) {
			if err = a.st.EnsureCitizenProfile(r.Context(), u.ID); err == nil {
				p, err = a.st.CitizenProfileOf(r.Context(), u.ID)
			}
		}
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		if !p.Complete() && r.URL.Path != "/my/profile" {
			a.flash(w, "my.flash.complete_profile")
			a.redirect(w, r, "/my/profile")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), profileKey, &p)))
	})
}

func profileOf(r *http.Request) *store.CitizenProfile {
	p, _ := r.Context().Value(profileKey).(*store.CitizenProfile)
	if p == nil {
		return &store.CitizenProfile{}
	}
	return p
}

// myBase is what every citizen page shows besides its own data.
type myBase struct {
	Unread int
}

// myView is newView in the citizen's organisation's time zone.
func (a *App) myView(r *http.Request, title, nav string) *view {
	v := a.newView(r, title, nav)
	if p := profileOf(r); p.OrgID != 0 && v.Org == nil {
		if o, err := a.st.OrganisationByID(r.Context(), p.OrgID); err == nil {
			v.Org = &o
			v.loc = o.Location()
		}
	}
	return v
}

func (a *App) base(r *http.Request) myBase {
	n, err := a.st.UnreadCount(r.Context(), userOf(r).ID)
	if err != nil {
		a.log.Warn("unread count", "user", userOf(r).ID, "err", err)
	}
	return myBase{Unread: n}
}

func idParam(r *http.Request, name string) int64 {
	id, _ := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	return id
}

func formInt(r *http.Request, name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(r.FormValue(name)), 10, 64)
	return n
}

// notifyCitizen leaves a notification in the cabinet and e-mails a copy in
// the citizen's language. Failures are logged: the change itself is done.
func (a *App) notifyCitizen(r *http.Request, userID int64, key string, args []string, link string) {
	ctx := r.Context()
	if userID == 0 {
		return
	}
	if err := a.st.Notify(ctx, userID, key, args, link); err != nil {
		a.log.Error("notification not stored", "user", userID, "err", err)
		return
	}
	u, err := a.st.UserByID(ctx, userID)
	if err != nil {
		a.log.Error("notification mail", "user", userID, "err", err)
		return
	}
	lang := u.Locale
	if !valid(lang) {
		lang = "ru"
	}
	body := a.cat.T(lang, "my.mail.hello", u.FullName) + "\n\n" + noteText(a.cat, lang, key, args)
	if link != "" {
		body += "\n\n" + strings.TrimRight(a.cfg.BaseURL, "/") + link
	}
	body += "\n\n" + a.cat.T(lang, "my.mail.footer")
	if err := a.sendMail(r, u.Email, a.cat.T(lang, "my.mail.subject"), body); err != nil {
		a.log.Error("notification mail not sent", "user", userID, "err", err)
	}
}

// noteText renders a notification: arguments starting with "@" are message
// keys themselves (a status name), shown in the reader's language.
func noteText(c catalog, lang, key string, args []string) string {
	anys := make([]any, len(args))
	for i, s := range args {
		if strings.HasPrefix(s, "@") {
			anys[i] = c.T(lang, s[1:])
		} else {
			anys[i] = s
		}
	}
	return strings.TrimSpace(c.T(lang, key, anys...))
}

// Note is a notification's text in the viewer's language.
func (v *view) Note(n store.Notification) string { return noteText(v.cat, v.Lang, n.Key, n.Args) }

// KB formats a file size.
func (v *view) KB(n int) string {
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " " + v.T("my.mb")
	}
	return strconv.Itoa((n+1023)/1024) + " " + v.T("my.kb")
}
