package cabinet

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"carevisit/store"
)

// visitsDays is how far back the citizen's visit list reaches.
const visitsDays = 90

type visitsData struct {
	myBase
	Visits    []store.CitizenVisit
	Clients   []store.CitizenClient
	Relatives []store.Relative
	Own       []store.CitizenClient // recipients the citizen is ('self'): may grant access
}

func (a *App) myVisits(w http.ResponseWriter, r *http.Request) {
	a.visitsPage(w, r, http.StatusOK, a.myView(r, "my.visits.title", "my_visits"))
}

func (a *App) visitsPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ctx := r.Context()
	uid := userOf(r).ID
	now := time.Now()
	vs, err := a.st.CitizenVisits(ctx, uid, now.AddDate(0, 0, -visitsDays), now.Add(time.Hour))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	cs, err := a.st.CitizenClients(ctx, uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	rel, err := a.st.RelativesGranted(ctx, uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d := visitsData{myBase: a.base(r), Visits: vs, Clients: cs, Relatives: rel}
	for _, c := range cs {
		if c.Relation == "self" {
			d.Own = append(d.Own, c)
		}
	}
	v.Data = d
	a.render(w, r, status, "my_visits", v)
}

type visitData struct {
	myBase
	Visit store.CitizenVisit
	Stars []int
}

func (a *App) myVisit(w http.ResponseWriter, r *http.Request) {
	a.visitPage(w, r, http.StatusOK, a.myView(r, "my.visit.title", "my_visits"))
}

func (a *App) visitPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	vis, err := a.st.CitizenVisitByID(r.Context(), userOf(r).ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	if len(v.Form) == 0 {
		v.Form.Set("status", vis.Feedback)
		if vis.Rating > 0 {
			v.Form.Set("rating", strconv.Itoa(vis.Rating))
		}
		v.Form.Set("comment", vis.Comment)
	}
	v.Data = visitData{myBase: a.base(r), Visit: vis, Stars: []int{1, 2, 3, 4, 5}}
	a.render(w, r, status, "my_visit", v)
}

// myVisitFeedback confirms or disputes a visit; a dispute needs a comment
// and reaches the supervisors as an alert.
func (a *App) myVisitFeedback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	u := userOf(r)
	id := idParam(r, "id")
	if _, err := a.st.CitizenVisitByID(ctx, u.ID, id); err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.myView(r, "my.visit.title", "my_visits")
	v.Form = r.PostForm
	in := store.VisitFeedbackInput{UserID: u.ID, VisitID: id, Status: r.PostFormValue("status"),
		Comment: strings.TrimSpace(r.PostFormValue("comment"))}
	if in.Status != "confirmed" && in.Status != "disputed" {
		v.Errors["status"] = v.T("my.err.choose")
	}
	if s := r.PostFormValue("rating"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 5 {
			v.Errors["rating"] = v.T("my.err.rating")
		}
		in.Rating = n
	}
	if in.Status == "disputed" && in.Comment == "" {
		v.Errors["comment"] = v.T("my.err.dispute_comment")
	}
	if utf8.RuneCountInString(in.Comment) > 2000 {
		v.Errors["comment"] = v.T("form.err.too_long")
	}
	if len(v.Errors) > 0 {
		a.visitPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	alert, err := a.st.SaveVisitFeedback(ctx, in)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("visit feedback", "user", u.ID, "visit", id, "status", in.Status, "alert", alert)
	if in.Status == "disputed" {
		a.flash(w, "my.flash.disputed")
	} else {
		a.flash(w, "my.flash.confirmed")
	}
	a.redirect(w, r, fmt.Sprintf("/my/visits/%d", id))
}

// myAccessGrant lets a care recipient show their visits to a relative who
// has a citizen account (found by e-mail).
func (a *App) myAccessGrant(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	u := userOf(r)
	v := a.myView(r, "my.visits.title", "my_visits")
	v.Form = r.PostForm
	clientID := formInt(r, "client")
	cs, err := a.st.CitizenClients(ctx, u.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	var own *store.CitizenClient
	for i := range cs {
		if cs[i].ClientID == clientID && cs[i].Relation == "self" {
			own = &cs[i]
		}
	}
	if own == nil {
		a.notFound(w, r)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	rel, err := a.st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || err == nil && (rel.Role != store.RoleCitizen || rel.ID == u.ID) {
		v.Errors["email"] = v.T("my.err.relative_unknown")
		a.visitsPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if err := a.st.LinkCitizenClient(ctx, own.OrgID, rel.ID, clientID, "relative", u.ID); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("relative granted", "user", u.ID, "relative", rel.ID, "client", clientID)
	a.notifyCitizen(r, rel.ID, "my.note.access_granted", []string{u.FullName}, "/my/visits")
	a.flash(w, "my.flash.access_granted")
	a.redirect(w, r, "/my/visits")
}

func (a *App) myAccessRevoke(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	u := userOf(r)
	if err := a.st.UnlinkCitizenClient(r.Context(), formInt(r, "user"), formInt(r, "client"), u.ID); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("relative revoked", "user", u.ID, "relative", formInt(r, "user"))
	a.flash(w, "my.flash.access_revoked")
	a.redirect(w, r, "/my/visits")
}
