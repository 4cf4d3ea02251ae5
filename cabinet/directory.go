package cabinet

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

// The directory: workers, devices, groups, clients with their home
// geofences, services and planned visits. Lists and forms are scoped by
// store.Scope; admins create, supervisors edit what their groups cover,
// auditors only read.

func init() {
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		admin := r.With(a.requireWrite, a.requireRole(store.RoleAdmin))
		write := r.With(a.requireWrite)

		r.Get("/workers", a.workerList)
		admin.Post("/workers", a.workerCreate)
		r.Get("/workers/{id}", a.workerShow)
		write.Post("/workers/{id}", a.workerUpdate)
		admin.Post("/workers/{id}/archive", a.workerArchive)
		admin.Post("/workers/{id}/restore", a.workerRestore)

		r.Get("/devices", a.deviceList)
		admin.Post("/devices", a.deviceCreate)
		admin.Post("/devices/register", a.deviceRegister)
		r.Get("/devices/{id}", a.deviceShow)
		admin.Post("/devices/{id}", a.deviceUpdate)
		admin.Post("/devices/{id}/token", a.deviceNewToken)

		r.Get("/groups", a.groupList)
		admin.Post("/groups", a.groupCreate)
		admin.Post("/groups/{id}", a.groupRename)

		r.Get("/clients", a.clientList)
		r.With(a.requireRole(store.RoleAdmin)).Get("/clients/new", a.clientNew)
		admin.Post("/clients", a.clientCreate)
		r.Get("/clients/map", a.clientMap)
		r.Get("/clients/{id}", a.clientShow)
		write.Post("/clients/{id}", a.clientUpdate)
		write.Post("/clients/{id}/services", a.clientServices)
		admin.Post("/clients/{id}/archive", a.clientArchive)
		admin.Post("/clients/{id}/restore", a.clientRestore)

		r.Get("/services", a.serviceList)
		admin.Post("/services", a.serviceCreate)
		admin.Post("/services/{id}", a.serviceUpdate)

		r.Get("/plans", a.planList)
		write.Post("/plans", a.planCreate)
		r.Get("/plans/{id}", a.planShow)
		write.Post("/plans/{id}", a.planUpdate)
	})
	for _, it := range []navItem{
		{Key: "workers", Href: "/staff/workers", Label: "dir.nav.workers", Order: 20, Sub: true},
		{Key: "clients", Href: "/staff/clients", Label: "dir.nav.clients", Order: 21, Sub: true},
		{Key: "plans", Href: "/staff/plans", Label: "dir.nav.plans", Order: 22, Sub: true},
		{Key: "devices", Href: "/staff/devices", Label: "dir.nav.devices", Order: 23, Sub: true},
		{Key: "services", Href: "/staff/services", Label: "dir.nav.services", Order: 24, Sub: true},
		{Key: "groups", Href: "/staff/groups", Label: "dir.nav.groups", Order: 25, Sub: true},
	} {
		addNav(&staffNavItems, it)
	}
}

// ---- helpers ----

func dirID(r *http.Request) int64 {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

func dirIDs(vals []string) []int64 {
	var out []int64
	for _, s := range vals {
		if id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && id > 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func dirFormID(s string) int64 {
	ids := dirIDs([]string{s})
	if len(ids) == 0 {
		return 0
	}
	return ids[0]
}

func dirIDStrings(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out
}

// dirText trims a form value and checks its length.
func dirText(v *view, field, s string, required bool, max int) string {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		v.Errors[field] = v.T("form.err.required")
	case len([]rune(s)) > max:
		v.Errors[field] = v.T("dir.err.too_long", max)
	}
	return s
}

var dirPhoneRe = regexp.MustCompile(`^\+?[0-9 ()\-]{5,24}$`)

func dirPhone(v *view, field, s string) string {
	s = strings.TrimSpace(s)
	digits := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if s != "" && (!dirPhoneRe.MatchString(s) || digits < 5) {
		v.Errors[field] = v.T("dir.err.phone")
	}
	return s
}

// dirOneOf reports whether every id is among the choices.
func dirOneOf[T any](ids []int64, choices []T, id func(T) int64) bool {
	for _, x := range ids {
		if !slices.ContainsFunc(choices, func(c T) bool { return id(c) == x }) {
			return false
		}
	}
	return true
}

// dirErr turns store refusals of a save into a 404 (a row outside the
// scope), a 409 (a client or worker archived meanwhile) and anything else
// into a 500; it reports whether it wrote.
func (a *App) dirErr(w http.ResponseWriter, r *http.Request, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, store.ErrArchived) {
		a.render(w, r, http.StatusConflict, "error", a.newView(r, "dir.archive.conflict", ""))
		return true
	}
	a.storeErr(w, r, err)
	return true
}

func (a *App) audited(r *http.Request, what string, id int64) {
	a.log.Info("directory change", "what", what, "id", id, "user", userOf(r).ID)
}

// ---- workers ----

type dirWorkersData struct {
	Workers  []store.DirWorker
	Worker   store.DirWorker // the worker shown (worker page)
	Groups   []store.DirGroup
	Devices  []store.DirDevice // devices free or held by this worker
	Clients  []store.DirClient // active clients: the ones to assign
	Selected []int64           // clients ticked in the form
	Plans    []dirPlanRow
	Missed   []store.MissedVisit
	Names    map[int64]string // client names by id, archived ones too
	Gone     map[int64]bool   // archived clients by id
	Archived bool             // the list shows the archive (?archived=1)
}

func (a *App) workerChoices(r *http.Request, sc store.Scope, workerID int64) (dirWorkersData, error) {
	ctx := r.Context()
	var d dirWorkersData
	var err error
	if d.Groups, err = a.st.DirGroups(ctx, sc); err != nil {
		return d, err
	}
	devs, err := a.st.DirDevices(ctx, sc)
	if err != nil {
		return d, err
	}
	for _, dv := range devs {
		if dv.WorkerID == 0 || dv.WorkerID == workerID {
			d.Devices = append(d.Devices, dv)
		}
	}
	all, err := a.st.DirClientsIn(ctx, sc, store.AnyArchived)
	if err != nil {
		return d, err
	}
	d.Names, d.Gone = map[int64]string{}, map[int64]bool{}
	for _, c := range all {
		d.Names[c.ID] = c.FullName
		if c.Archived() {
			d.Gone[c.ID] = true // named on the worker's page, never offered
		} else {
			d.Clients = append(d.Clients, c)
		}
	}
	return d, nil
}

func (a *App) workerList(w http.ResponseWriter, r *http.Request) {
	a.workerListPage(w, r, http.StatusOK, a.newView(r, "dir.workers.title", "workers"))
}

func (a *App) workerListPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	sc := a.scope(r)
	d, err := a.workerChoices(r, sc, 0)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	// ?archived=1 lists the archive instead (a failed create re-renders
	// the active list).
	d.Archived = r.Method == http.MethodGet && r.URL.Query().Get("archived") == "1"
	f := store.NotArchived
	if d.Archived {
		f = store.OnlyArchived
	}
	if d.Workers, err = a.st.DirWorkersIn(r.Context(), sc, f); err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Selected = dirIDs(v.Form["clients"])
	v.Data = d
	a.render(w, r, status, "dir_workers", v)
}

// dirParseWorker validates the worker form against the choices the user has.
func dirParseWorker(v *view, r *http.Request, d dirWorkersData, sc store.Scope) store.DirWorker {
	f := r.PostForm
	wk := store.DirWorker{
		FullName:  dirText(v, "name", f.Get("name"), true, 200),
		Phone:     dirPhone(v, "phone", f.Get("phone")),
		GroupID:   dirFormID(f.Get("group")),
		DeviceID:  dirFormID(f.Get("device")),
		ClientIDs: dirIDs(f["clients"]),
	}
	if wk.GroupID == 0 && !sc.AllGroups() {
		v.Errors["group"] = v.T("dir.err.choose") // a supervisor's worker stays in their groups
	} else if wk.GroupID != 0 && !dirOneOf([]int64{wk.GroupID}, d.Groups, func(g store.DirGroup) int64 { return g.ID }) {
		v.Errors["group"] = v.T("dir.err.choose")
	}
	if wk.DeviceID != 0 && !dirOneOf([]int64{wk.DeviceID}, d.Devices, func(x store.DirDevice) int64 { return x.ID }) {
		v.Errors["device"] = v.T("dir.err.device_taken")
	}
	if !dirOneOf(wk.ClientIDs, d.Clients, func(c store.DirClient) int64 { return c.ID }) {
		v.Errors["clients"] = v.T("dir.err.choose")
	}
	return wk
}

func (a *App) workerSaveErr(w http.ResponseWriter, r *http.Request, v *view, err error, again func(int)) {
	if errors.Is(err, store.ErrDuplicate) {
		v.Errors["device"] = v.T("dir.err.device_taken")
		again(http.StatusUnprocessableEntity)
		return
	}
	a.storeErr(w, r, err)
}

func (a *App) workerCreate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	v := a.newView(r, "dir.workers.title", "workers")
	v.Form = r.PostForm
	d, err := a.workerChoices(r, sc, 0)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	wk := dirParseWorker(v, r, d, sc)
	again := func(status int) { a.workerListPage(w, r, status, v) }
	if len(v.Errors) > 0 {
		again(http.StatusUnprocessableEntity)
		return
	}
	id, err := a.st.SaveWorker(r.Context(), sc, wk)
	if err != nil {
		a.workerSaveErr(w, r, v, err, again)
		return
	}
	a.audited(r, "worker", id)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/workers/"+strconv.FormatInt(id, 10))
}

func (a *App) workerShow(w http.ResponseWriter, r *http.Request) {
	wk, err := a.st.DirWorker(r.Context(), a.scope(r), dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.worker.title", "workers")
	dirWorkerForm(v, wk)
	a.workerPage(w, r, http.StatusOK, v, wk)
}

func dirWorkerForm(v *view, wk store.DirWorker) {
	v.Form.Set("name", wk.FullName)
	v.Form.Set("phone", wk.Phone)
	v.Form.Set("group", strconv.FormatInt(wk.GroupID, 10))
	v.Form.Set("device", strconv.FormatInt(wk.DeviceID, 10))
	v.Form["clients"] = dirIDStrings(wk.ClientIDs)
}

func (a *App) workerPage(w http.ResponseWriter, r *http.Request, status int, v *view, wk store.DirWorker) {
	ctx := r.Context()
	sc := a.scope(r)
	d, err := a.workerChoices(r, sc, wk.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d.Worker = wk
	d.Selected = dirIDs(v.Form["clients"])
	plans, err := a.st.Plans(ctx, sc, store.PlanFilter{WorkerID: wk.ID})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if d.Plans, err = a.planRows(r, sc, plans); err != nil {
		a.serverError(w, r, err)
		return
	}
	if d.Missed, err = a.st.MissedVisits(ctx, sc, 0, wk.ID, time.Now().AddDate(0, 0, -14)); err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = d
	a.render(w, r, status, "dir_worker", v)
}

func (a *App) workerUpdate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	old, err := a.st.DirWorker(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	if dirArchivedEdit(a, w, r, old.Archived(), "/staff/workers/"+strconv.FormatInt(old.ID, 10)) {
		return
	}
	v := a.newView(r, "dir.worker.title", "workers")
	v.Form = r.PostForm
	d, err := a.workerChoices(r, sc, old.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	wk := dirParseWorker(v, r, d, sc)
	wk.ID = old.ID
	again := func(status int) { a.workerPage(w, r, status, v, old) }
	if len(v.Errors) > 0 {
		again(http.StatusUnprocessableEntity)
		return
	}
	if _, err := a.st.SaveWorker(r.Context(), sc, wk); err != nil {
		a.workerSaveErr(w, r, v, err, again)
		return
	}
	a.audited(r, "worker", wk.ID)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/workers/"+strconv.FormatInt(wk.ID, 10))
}

// ---- archive ----

// dirMaxReason is the longest archive reason, in characters.
const dirMaxReason = 500

// dirArchiveReason reads the archive form's reason, required: it goes to
// the audit log and the banner of the archived page.
func dirArchiveReason(v *view, r *http.Request) string {
	s := dirText(v, "reason", r.PostFormValue("reason"), true, dirMaxReason)
	if s == "" {
		v.Errors["reason"] = v.T("dir.archive.err.reason")
	}
	return s
}

// dirArchivedEdit answers an edit of an archived row (a stale tab: the
// page shows no forms then) with a flash back to its page; it reports
// whether it did.
func dirArchivedEdit(a *App, w http.ResponseWriter, r *http.Request, archived bool, back string) bool {
	if !archived {
		return false
	}
	a.flash(w, "dir.archive.flash.is_archived")
	a.redirect(w, r, back)
	return true
}

// archived finishes an archive or restore: a repeated click (already in
// that state) is a flash, not an error.
func (a *App) archived(w http.ResponseWriter, r *http.Request, err error, what string, id int64, back, flash string) {
	switch {
	case errors.Is(err, store.ErrArchived):
		flash = "dir.archive.flash.already"
	case errors.Is(err, store.ErrNotArchived):
		flash = "dir.archive.flash.not_archived"
	case err != nil:
		a.storeErr(w, r, err)
		return
	default:
		a.audited(r, what, id)
	}
	a.flash(w, flash)
	a.redirect(w, r, back)
}

func (a *App) workerArchive(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	wk, err := a.st.DirWorker(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.worker.title", "workers")
	reason := dirArchiveReason(v, r)
	if len(v.Errors) > 0 {
		dirWorkerForm(v, wk)
		v.Form.Set("reason", r.PostFormValue("reason"))
		a.workerPage(w, r, http.StatusUnprocessableEntity, v, wk)
		return
	}
	a.archived(w, r, a.st.ArchiveWorker(r.Context(), sc, wk.ID, reason), "worker archived", wk.ID,
		"/staff/workers/"+strconv.FormatInt(wk.ID, 10), "dir.archive.flash.worker_archived")
}

func (a *App) workerRestore(w http.ResponseWriter, r *http.Request) {
	id := dirID(r)
	a.archived(w, r, a.st.RestoreWorker(r.Context(), a.scope(r), id), "worker restored", id,
		"/staff/workers/"+strconv.FormatInt(id, 10), "dir.archive.flash.worker_restored")
}

// ---- groups ----

func (a *App) groupList(w http.ResponseWriter, r *http.Request) {
	a.groupPage(w, r, http.StatusOK, a.newView(r, "dir.groups.title", "groups"))
}

func (a *App) groupPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	groups, err := a.st.DirGroups(r.Context(), a.scope(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = groups
	a.render(w, r, status, "dir_groups", v)
}

func (a *App) groupSave(w http.ResponseWriter, r *http.Request, id int64) {
	r.ParseForm()
	sc := a.scope(r)
	v := a.newView(r, "dir.groups.title", "groups")
	v.Form = r.PostForm
	field := "name"
	if id != 0 {
		field = "name_" + strconv.FormatInt(id, 10)
	}
	g := store.DirGroup{ID: id, Name: dirText(v, field, r.PostFormValue("name"), true, 100)}
	if len(v.Errors) == 0 {
		_, err := a.st.SaveGroup(r.Context(), sc, g)
		if errors.Is(err, store.ErrDuplicate) {
			v.Errors[field] = v.T("dir.err.name_taken")
		} else if a.dirErr(w, r, err) {
			return
		}
	}
	if len(v.Errors) > 0 {
		a.groupPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	a.audited(r, "group", id)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/groups")
}

func (a *App) groupCreate(w http.ResponseWriter, r *http.Request) { a.groupSave(w, r, 0) }

func (a *App) groupRename(w http.ResponseWriter, r *http.Request) {
	id := dirID(r)
	groups, err := a.st.DirGroups(r.Context(), a.scope(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !slices.ContainsFunc(groups, func(g store.DirGroup) bool { return g.ID == id }) {
		a.notFound(w, r)
		return
	}
	a.groupSave(w, r, id)
}
