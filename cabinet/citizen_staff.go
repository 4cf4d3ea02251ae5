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

// ---- staff: applications inbox ----

type staffAppsData struct {
	State    string
	States   []string
	Service  string
	Services []svcKind
	Counts   map[string]int
	Apps     []store.Application
	Now      time.Time
}

func (a *App) staffApps(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	v := a.newView(r, "my.staff.apps.title", "applications")
	q := r.URL.Query()
	state := q.Get("state")
	if state != store.AppWork && state != store.AppDone {
		state = store.AppReview
	}
	svc := q.Get("service")
	if _, ok := serviceByCode(svc); !ok {
		svc = ""
	}
	f := store.AppFilter{State: state, Service: svc}
	if q.Get("mine") != "" {
		f.Mine = sc.UserID
	}
	apps, err := a.st.OrgApplications(ctx, sc.OrgID, f)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	counts, err := a.st.AppCounts(ctx, sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Form = q
	v.Data = staffAppsData{State: state, States: []string{store.AppReview, store.AppWork, store.AppDone}, Service: svc,
		Services: citizenServices, Counts: counts, Apps: apps, Now: time.Now()}
	a.render(w, r, http.StatusOK, "citizen_staff_apps", v)
}

type staffAppData struct {
	App          store.Application
	Svc          svcKind
	Citizen      store.User
	HasCitizen   bool
	Masked       clearProfile
	Profile      store.CitizenProfile
	Docs         []store.Document
	Events       []store.AppEvent
	Providers    map[string]string
	WorkStatuses []string
	DoneStatuses []string
	DocKinds     []string
	Now          time.Time
}

// staffApp shows an application with the applicant's record; the access is
// written to the audit log.
func (a *App) staffApp(w http.ResponseWriter, r *http.Request) {
	a.staffAppPage(w, r, http.StatusOK, a.newView(r, "my.staff.app.title", "applications"))
}

func (a *App) staffAppPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ctx := r.Context()
	sc := a.scope(r)
	ap, err := a.st.OrgApplication(ctx, sc.OrgID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	d := staffAppData{App: ap, WorkStatuses: workStatuses, DoneStatuses: doneStatuses, DocKinds: docKindsOut, Now: time.Now()}
	d.Svc, _ = serviceByCode(ap.Service)
	if ap.UserID != 0 {
		u, p, err := a.st.CitizenForStaff(ctx, sc.OrgID, ap.UserID)
		if err == nil {
			clear, err := a.openProfile(&p)
			if err != nil {
				a.serverError(w, r, err)
				return
			}
			d.Citizen, d.Profile, d.Masked, d.HasCitizen = u, p, clear.masked(), true
		} else if !errors.Is(err, store.ErrNotFound) {
			a.serverError(w, r, err)
			return
		}
	}
	if d.Docs, err = a.st.Documents(ctx, store.DocFilter{OrgID: sc.OrgID, ApplicationID: ap.ID}); err != nil {
		a.serverError(w, r, err)
		return
	}
	if d.Events, err = a.st.AppEvents(ctx, ap.ID); err != nil {
		a.serverError(w, r, err)
		return
	}
	provs, err := a.st.Providers(ctx, sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Providers = map[string]string{}
	for _, p := range provs {
		d.Providers[strconv.FormatInt(p.ID, 10)] = p.Name
	}
	if r.Method == http.MethodGet {
		a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "view", Entity: "application", EntityID: ap.ID},
			nil, map[string]any{"citizen": ap.UserID})
	}
	v.Data = d
	a.render(w, r, status, "citizen_staff_app", v)
}

// changeApp applies a staff change, audits it and tells the citizen.
func (a *App) changeApp(w http.ResponseWriter, r *http.Request, c store.AppChange, note string, noteArgs func(store.Application) []string) {
	ctx := r.Context()
	sc := a.scope(r)
	c.OrgID, c.UserID, c.ID = sc.OrgID, sc.UserID, idParam(r, "id")
	before, err := a.st.ChangeApplication(ctx, c)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "update", Entity: "application", EntityID: c.ID,
		Reason: c.Comment}, map[string]any{"state": before.State, "status": before.Status}, map[string]any{"state": c.State, "status": c.Status})
	link := fmt.Sprintf("/my/applications/%d", c.ID)
	a.notifyCitizen(r, before.UserID, note, noteArgs(before), link)
	a.log.Info("application changed", "application", c.ID, "by", sc.UserID, "state", c.State, "status", c.Status)
	a.flash(w, "my.staff.flash.app_changed")
	a.redirect(w, r, fmt.Sprintf("/staff/applications/%d", c.ID))
}

func (a *App) staffAppTake(w http.ResponseWriter, r *http.Request) {
	a.changeApp(w, r, store.AppChange{State: store.AppWork, Status: "decision_pending", Take: true}, "my.note.app_status",
		func(ap store.Application) []string { return []string{ap.Number, "@my.status.decision_pending", ""} })
}

func (a *App) staffAppStatus(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	status := r.PostFormValue("status")
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	state := stateOfStatus(status)
	v := a.newView(r, "my.staff.app.title", "applications")
	v.Form = r.PostForm
	if state == "" {
		v.Errors["status"] = v.T("my.err.choose")
	}
	if status == "refused" && comment == "" {
		v.Errors["comment"] = v.T("my.staff.err.reason_required")
	}
	if utf8.RuneCountInString(comment) > 2000 {
		v.Errors["comment"] = v.T("form.err.too_long")
	}
	if len(v.Errors) > 0 {
		a.staffAppPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	a.changeApp(w, r, store.AppChange{State: state, Status: status, Comment: comment}, "my.note.app_status",
		func(ap store.Application) []string { return []string{ap.Number, "@my.status." + status, comment} })
}

func (a *App) staffAppRequestDocs(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	comment := strings.TrimSpace(r.PostFormValue("missing"))
	v := a.newView(r, "my.staff.app.title", "applications")
	v.Form = r.PostForm
	if comment == "" {
		v.Errors["missing"] = v.T("form.err.required")
	} else if utf8.RuneCountInString(comment) > 2000 {
		v.Errors["missing"] = v.T("form.err.too_long")
	}
	if len(v.Errors) > 0 {
		a.staffAppPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	a.changeApp(w, r, store.AppChange{State: store.AppWork, Status: "incomplete", Comment: comment}, "my.note.app_docs_requested",
		func(ap store.Application) []string { return []string{ap.Number, comment} })
}

func (a *App) staffAppUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	ap, err := a.st.OrgApplication(ctx, sc.OrgID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "my.staff.app.title", "applications")
	parseUploadForm(w, r, v, "file")
	v.Form = r.PostForm
	up := readUpload(r, v, "file")
	if up == nil && v.Errors["file"] == "" {
		v.Errors["file"] = v.T("my.err.file_missing")
	}
	kind := r.PostFormValue("kind")
	if !validKind(kind, docKindsOut) {
		v.Errors["kind"] = v.T("my.err.choose")
	}
	if ap.UserID == 0 {
		v.Errors["file"] = v.T("my.staff.err.no_citizen")
	}
	if len(v.Errors) > 0 {
		a.staffAppPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	id, err := a.saveDoc(r, up, store.Document{OrgID: sc.OrgID, UserID: ap.UserID, ApplicationID: ap.ID, Direction: "out", Kind: kind})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "create", Entity: "citizen_document", EntityID: id},
		nil, map[string]any{"application": ap.ID, "kind": kind})
	a.notifyCitizen(r, ap.UserID, "my.note.doc_sent", []string{ap.Number, "@my.doc." + kind}, "/my/documents")
	a.flash(w, "my.staff.flash.doc_sent")
	a.redirect(w, r, fmt.Sprintf("/staff/applications/%d", ap.ID))
}

func (a *App) staffDocDownload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	d, err := a.st.DocumentData(ctx, store.DocFilter{OrgID: sc.OrgID, ApplicationID: idParam(r, "id")}, idParam(r, "doc"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "view", Entity: "citizen_document", EntityID: d.ID},
		nil, map[string]any{"application": d.ApplicationID})
	a.sendDoc(w, r, d)
}

// ---- staff: a citizen's record ----

type staffCitizenData struct {
	Citizen store.User
	Profile store.CitizenProfile
	Masked  clearProfile
	Dept    store.Department
	Linked  []store.CitizenClient
	Clients []store.Client
	Apps    []store.Application
}

func (a *App) staffCitizen(w http.ResponseWriter, r *http.Request) {
	a.staffCitizenPage(w, r, http.StatusOK, a.newView(r, "my.staff.citizen.title", "applications"))
}

func (a *App) staffCitizenPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ctx := r.Context()
	sc := a.scope(r)
	u, p, err := a.st.CitizenForStaff(ctx, sc.OrgID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	clear, err := a.openProfile(&p)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d := staffCitizenData{Citizen: u, Profile: p, Masked: clear.masked()}
	d.Dept, _ = a.st.DepartmentByID(ctx, sc.OrgID, p.DepartmentID)
	if d.Linked, err = a.st.CitizenClients(ctx, u.ID); err != nil {
		a.serverError(w, r, err)
		return
	}
	if d.Clients, err = a.st.Clients(ctx, sc.OrgID); err != nil {
		a.serverError(w, r, err)
		return
	}
	all, err := a.st.OrgApplications(ctx, sc.OrgID, store.AppFilter{})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	for _, ap := range all {
		if ap.UserID == u.ID {
			d.Apps = append(d.Apps, ap)
		}
	}
	if r.Method == http.MethodGet {
		a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "view", Entity: "citizen", EntityID: u.ID}, nil, nil)
	}
	v.Data = d
	a.render(w, r, status, "citizen_staff_citizen", v)
}

// staffCitizenLink links the citizen's account to the care recipient they
// are, so they see that recipient's visits.
func (a *App) staffCitizenLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	uid := idParam(r, "id")
	if _, _, err := a.st.CitizenForStaff(ctx, sc.OrgID, uid); err != nil {
		a.storeErr(w, r, err)
		return
	}
	clientID := formInt(r, "client")
	var err error
	if r.PostFormValue("unlink") != "" {
		err = a.st.UnlinkCitizenClient(ctx, uid, clientID, 0)
	} else {
		err = a.st.LinkCitizenClient(ctx, sc.OrgID, uid, clientID, "self", 0)
	}
	if errors.Is(err, store.ErrNotFound) {
		v := a.newView(r, "my.staff.citizen.title", "applications")
		v.Errors["client"] = v.T("my.err.choose")
		a.staffCitizenPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "update", Entity: "citizen", EntityID: uid},
		nil, map[string]any{"client": clientID, "unlink": r.PostFormValue("unlink") != ""})
	a.flash(w, "my.staff.flash.linked")
	a.redirect(w, r, fmt.Sprintf("/staff/citizens/%d", uid))
}
