package cabinet

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"carevisit/store"
)

// ---- services catalogue ----

func (a *App) serviceList(w http.ResponseWriter, r *http.Request) {
	a.servicePage(w, r, http.StatusOK, a.newView(r, "dir.services.title", "services"))
}

func (a *App) servicePage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	list, err := a.st.Services(r.Context(), a.scope(r).OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if v.Form.Get("norm") == "" {
		v.Form.Set("norm", "0")
	}
	v.Data = list
	a.render(w, r, status, "dir_services", v)
}

// serviceSave validates the service form; on an edit (id != 0) the fields
// carry the id as a suffix so the error shows next to that row.
func (a *App) serviceSave(w http.ResponseWriter, r *http.Request, id int64) {
	r.ParseForm()
	sc := a.scope(r)
	v := a.newView(r, "dir.services.title", "services")
	v.Form = r.PostForm
	sfx := ""
	if id != 0 {
		sfx = "_" + strconv.FormatInt(id, 10)
	}
	s := store.Service{ID: id, Name: dirText(v, "name"+sfx, r.PostFormValue("name"), true, 200),
		Active: id == 0 || r.PostFormValue("active") != ""}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("norm")))
	if err != nil || n < 0 || n > 600 {
		v.Errors["norm"+sfx] = v.T("dir.err.norm")
	}
	s.NormMinutes = n
	if len(v.Errors) == 0 {
		_, err := a.st.SaveService(r.Context(), sc, s)
		if errors.Is(err, store.ErrDuplicate) {
			v.Errors["name"+sfx] = v.T("dir.err.name_taken")
		} else if a.dirErr(w, r, err) {
			return
		}
	}
	if len(v.Errors) > 0 {
		if id != 0 {
			v.Form = url.Values{} // the new-service form stays empty
		}
		a.servicePage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	a.audited(r, "service", id)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/services")
}

func (a *App) serviceCreate(w http.ResponseWriter, r *http.Request) { a.serviceSave(w, r, 0) }

func (a *App) serviceUpdate(w http.ResponseWriter, r *http.Request) {
	id := dirID(r)
	list, err := a.st.Services(r.Context(), a.scope(r).OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !dirOneOf([]int64{id}, list, func(s store.Service) int64 { return s.ID }) {
		a.notFound(w, r)
		return
	}
	a.serviceSave(w, r, id)
}

// ---- planned visits ----

// dirPlanRow is a plan with its window and services spelled out.
type dirPlanRow struct {
	store.Plan
	Start, End string   // "HH:MM"
	Services   []string // names
}

func dirClock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// dirParseClock reads "HH:MM" (24:00 allowed for the end of the day).
func dirParseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

func (a *App) planRows(r *http.Request, sc store.Scope, plans []store.Plan) ([]dirPlanRow, error) {
	services, err := a.st.Services(r.Context(), sc.OrgID)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, s := range services {
		names[s.ID] = s.Name
	}
	rows := make([]dirPlanRow, len(plans))
	for i, p := range plans {
		rows[i] = dirPlanRow{Plan: p, Start: dirClock(p.StartMin), End: dirClock(p.EndMin)}
		for _, id := range p.ServiceIDs {
			rows[i].Services = append(rows[i].Services, names[id])
		}
	}
	return rows, nil
}

type dirPlansData struct {
	Plans    []dirPlanRow
	Plan     store.Plan // the plan shown (plan page)
	Clients  []store.DirClient
	Workers  []store.DirWorker
	Services []store.Service
	Selected []int64 // services ticked
	Weekdays []int
	Client   int64 // list filter
	Worker   int64 // list filter
	// Gone: the plan page's client or worker is archived (the plan was
	// cancelled with them); the page shows the plan, not a form.
	Gone bool
}

func (a *App) planChoices(r *http.Request, sc store.Scope) (dirPlansData, error) {
	ctx := r.Context()
	d := dirPlansData{Weekdays: []int{1, 2, 3, 4, 5, 6, 7}}
	var err error
	if d.Clients, err = a.st.DirClients(ctx, sc); err != nil {
		return d, err
	}
	if d.Workers, err = a.st.DirWorkers(ctx, sc); err != nil {
		return d, err
	}
	d.Services, err = a.st.Services(ctx, sc.OrgID)
	return d, err
}

func (a *App) planList(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "dir.plans.title", "plans")
	q := r.URL.Query()
	// ?client= / ?worker= filter the list and preset the new plan's form.
	v.Form.Set("client", q.Get("client"))
	v.Form.Set("worker", q.Get("worker"))
	v.Form.Set("weekday", "1")
	v.Form.Set("start", "09:00")
	v.Form.Set("end", "10:00")
	a.planListPage(w, r, http.StatusOK, v, dirFormID(q.Get("client")), dirFormID(q.Get("worker")))
}

func (a *App) planListPage(w http.ResponseWriter, r *http.Request, status int, v *view, client, worker int64) {
	sc := a.scope(r)
	d, err := a.planChoices(r, sc)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Client, d.Worker = client, worker
	plans, err := a.st.Plans(r.Context(), sc, store.PlanFilter{ClientID: client, WorkerID: worker})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if d.Plans, err = a.planRows(r, sc, plans); err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Selected = dirIDs(v.Form["services"])
	v.Data = d
	a.render(w, r, status, "dir_plans", v)
}

func dirParsePlan(v *view, r *http.Request, d dirPlansData) store.Plan {
	f := r.PostForm
	p := store.Plan{ClientID: dirFormID(f.Get("client")), WorkerID: dirFormID(f.Get("worker")), ServiceIDs: dirIDs(f["services"]),
		Active: f.Get("active") != ""}
	if p.ClientID == 0 || !dirOneOf([]int64{p.ClientID}, d.Clients, func(c store.DirClient) int64 { return c.ID }) {
		v.Errors["client"] = v.T("dir.err.choose")
	}
	if p.WorkerID == 0 || !dirOneOf([]int64{p.WorkerID}, d.Workers, func(w store.DirWorker) int64 { return w.ID }) {
		v.Errors["worker"] = v.T("dir.err.choose")
	}
	if !dirOneOf(p.ServiceIDs, d.Services, func(s store.Service) int64 { return s.ID }) {
		v.Errors["services"] = v.T("dir.err.choose")
	}
	wd, err := strconv.Atoi(f.Get("weekday"))
	if err != nil || wd < 1 || wd > 7 {
		v.Errors["weekday"] = v.T("dir.err.choose")
	}
	p.Weekday = wd
	var ok bool
	if p.StartMin, ok = dirParseClock(f.Get("start")); !ok || p.StartMin >= 24*60 {
		v.Errors["start"] = v.T("dir.err.clock")
	}
	if p.EndMin, ok = dirParseClock(f.Get("end")); !ok {
		v.Errors["end"] = v.T("dir.err.clock")
	} else if v.Errors["start"] == "" && p.EndMin <= p.StartMin {
		v.Errors["end"] = v.T("dir.err.end_before_start")
	}
	return p
}

func (a *App) planCreate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	v := a.newView(r, "dir.plans.title", "plans")
	v.Form = r.PostForm
	d, err := a.planChoices(r, sc)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p := dirParsePlan(v, r, d)
	p.Active = true
	if len(v.Errors) > 0 {
		a.planListPage(w, r, http.StatusUnprocessableEntity, v, 0, 0)
		return
	}
	id, err := a.st.SavePlan(r.Context(), sc, p)
	if a.dirErr(w, r, err) {
		return
	}
	a.audited(r, "planned visit", id)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/plans?client="+strconv.FormatInt(p.ClientID, 10))
}

func (a *App) planShow(w http.ResponseWriter, r *http.Request) {
	p, err := a.st.PlanByID(r.Context(), a.scope(r), dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.plan.title", "plans")
	v.Form.Set("client", strconv.FormatInt(p.ClientID, 10))
	v.Form.Set("worker", strconv.FormatInt(p.WorkerID, 10))
	v.Form.Set("weekday", strconv.Itoa(p.Weekday))
	v.Form.Set("start", dirClock(p.StartMin))
	v.Form.Set("end", dirClock(p.EndMin))
	v.Form["services"] = dirIDStrings(p.ServiceIDs)
	if p.Active {
		v.Form.Set("active", "on")
	}
	a.planPage(w, r, http.StatusOK, v, p)
}

func (a *App) planPage(w http.ResponseWriter, r *http.Request, status int, v *view, p store.Plan) {
	d, err := a.planChoices(r, a.scope(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Plan = p
	d.Selected = dirIDs(v.Form["services"])
	sc := a.scope(r)
	if c, err := a.st.DirClient(r.Context(), sc, p.ClientID); err == nil && c.Archived() {
		d.Gone = true
	}
	if wk, err := a.st.DirWorker(r.Context(), sc, p.WorkerID); err == nil && wk.Archived() {
		d.Gone = true
	}
	v.Data = d
	a.render(w, r, status, "dir_plan", v)
}

func (a *App) planUpdate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	old, err := a.st.PlanByID(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.plan.title", "plans")
	v.Form = r.PostForm
	d, err := a.planChoices(r, sc)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p := dirParsePlan(v, r, d)
	p.ID = old.ID
	if len(v.Errors) > 0 {
		a.planPage(w, r, http.StatusUnprocessableEntity, v, old)
		return
	}
	if _, err := a.st.SavePlan(r.Context(), sc, p); a.dirErr(w, r, err) {
		return
	}
	a.audited(r, "planned visit", p.ID)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/plans/"+strconv.FormatInt(p.ID, 10))
}
