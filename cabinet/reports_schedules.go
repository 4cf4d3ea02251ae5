package cabinet

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/robfig/cron/v3"

	"carevisit/reports"
	"carevisit/store"
)

// repCron reads cron specs as the scheduler does (reports/schedule.go):
// five fields or a descriptor, always in the organisation's zone.
var repCron = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// repPresets are the schedule presets in menu order, then a custom spec.
var repPresets = []string{"daily", "weekly", "monthly", "custom"}

// repMaxRecipients bounds one schedule's mailing list.
const repMaxRecipients = 20

// repRunsShown is how many runs the run log shows.
const repRunsShown = 100

// parseCron validates a spec in the organisation's zone; a spec naming its
// own zone is refused (the organisation's setting decides).
func parseCron(spec, tz string) (cron.Schedule, error) {
	if strings.Contains(spec, "TZ=") {
		return nil, errors.New("time zone in spec")
	}
	return repCron.Parse("CRON_TZ=" + tz + " " + spec)
}

// repSchedule is a schedule as the list shows it.
type repSchedule struct {
	store.ReportSchedule
	ScopeLabel string
	Next       time.Time // zero when disabled
	CanEdit    bool
}

type repSchedulesData struct {
	repScopeData
	Rows     []repSchedule
	Presets  []string
	CanWrite bool
}

// visibleSchedules lists the organisation's schedules the user may see:
// everything for administrators and auditors; for a supervisor those about
// their groups or their workers (a schedule about the whole organisation
// or another group is none of theirs).
func (p *repPages) visibleSchedules(r *http.Request, v *view, sc store.Scope, d repScopeData) ([]repSchedule, error) {
	all, err := p.a.st.ReportSchedules(r.Context(), sc.OrgID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []repSchedule
	for _, s := range all {
		row, ok := scheduleRow(v, sc, d, s, now)
		if ok {
			out = append(out, row)
		}
	}
	return out, nil
}

func scheduleRow(v *view, sc store.Scope, d repScopeData, s store.ReportSchedule, now time.Time) (repSchedule, bool) {
	row := repSchedule{ReportSchedule: s, CanEdit: !sc.ReadOnly}
	switch s.Scope {
	case "org":
		row.ScopeLabel = v.T("rep.scope.org")
		if !sc.AllGroups() {
			return row, false
		}
	default:
		key := "g"
		if s.Scope == "worker" {
			key = "w"
		}
		got, ok := parseScope(d, key+strconv.FormatInt(s.ScopeID, 10))
		if !ok && !sc.AllGroups() {
			return row, false
		}
		row.ScopeLabel = v.T("rep.scope."+s.Scope) + ": " + got.Label
		if !ok { // the group or worker was deleted since
			row.ScopeLabel = v.T("rep.scope."+s.Scope) + " #" + strconv.FormatInt(s.ScopeID, 10)
		}
	}
	if s.Enabled {
		if sch, err := parseCron(s.CronSpec, s.Timezone); err == nil {
			row.Next = sch.Next(now)
		}
	}
	return row, true
}

func (p *repPages) schedules(w http.ResponseWriter, r *http.Request) {
	v := p.a.newView(r, "rep.sched.title", "reports")
	v.Form.Set("preset", "monthly")
	v.Form.Set("format", string(reports.XLSX))
	v.Form.Set("lang", v.Lang)
	v.Form.Set("period", "day")
	p.schedulesPage(w, r, http.StatusOK, v)
}

func (p *repPages) schedulesPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	sc := p.a.scope(r)
	d, err := p.scopeData(r.Context(), r, sc)
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	rows, err := p.visibleSchedules(r, v, sc, d)
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	v.Data = repSchedulesData{repScopeData: d, Rows: rows, Presets: repPresets, CanWrite: !sc.ReadOnly}
	p.a.render(w, r, status, "rep_schedules", v)
}

// parseRecipients splits a list of plain addresses (commas, semicolons,
// spaces or new lines between them); bad is the first one that is not an
// address.
func parseRecipients(s string) (list []string, bad string) {
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(c rune) bool {
		return c == ',' || c == ';' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
	}) {
		a, err := mail.ParseAddress(f)
		if err != nil || a.Address != f {
			return nil, f
		}
		if k := strings.ToLower(f); !seen[k] {
			seen[k] = true
			list = append(list, f)
		}
	}
	return list, ""
}

func (p *repPages) scheduleCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	sc := p.a.scope(r)
	v := p.a.newView(r, "rep.sched.title", "reports")
	v.Form = r.PostForm
	f := r.PostForm
	s := store.ReportSchedule{OrgID: sc.OrgID, Kind: "visits", Format: f.Get("format"), Lang: f.Get("lang"),
		Preset: f.Get("preset")}

	switch s.Preset {
	case "daily", "weekly", "monthly":
	case "custom":
		s.CronSpec = strings.TrimSpace(f.Get("cron"))
		s.Period = f.Get("period")
		if s.CronSpec == "" {
			v.Errors["cron"] = v.T("form.err.required")
		} else if _, err := parseCron(s.CronSpec, v.Zone()); err != nil {
			v.Errors["cron"] = v.T("rep.err.cron")
		}
		if s.Period != "day" && s.Period != "week" && s.Period != "month" {
			v.Errors["period"] = v.T("rep.err.choose")
		}
	default:
		v.Errors["preset"] = v.T("rep.err.choose")
	}
	d, err := p.scopeData(ctx, r, sc)
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	scope, ok := parseScope(d, f.Get("scope"))
	switch {
	case !ok:
		v.Errors["scope"] = v.T("rep.err.scope")
	case scope.Kind == "org" && !sc.AllGroups():
		// A supervisor's reports cover their groups; an organisation-wide
		// mail is the administrators' decision.
		v.Errors["scope"] = v.T("rep.err.scope_org")
	}
	s.Scope, s.ScopeID = scope.Kind, scope.ID
	if s.Format != string(reports.XLSX) && s.Format != string(reports.CSV) {
		v.Errors["format"] = v.T("rep.err.choose")
	}
	if !valid(s.Lang) {
		v.Errors["lang"] = v.T("rep.err.choose")
	}
	list, bad := parseRecipients(f.Get("recipients"))
	switch {
	case bad != "":
		v.Errors["recipients"] = v.T("rep.err.recipient", bad)
	case len(list) == 0:
		v.Errors["recipients"] = v.T("form.err.required")
	case len(list) > repMaxRecipients:
		v.Errors["recipients"] = v.T("rep.err.recipients_many", repMaxRecipients)
	}
	s.Recipients = list
	if len(v.Errors) > 0 {
		p.schedulesPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	id, err := reports.NewSchedule(ctx, p.a.st, s)
	if errors.Is(err, reports.ErrBadSchedule) {
		// Checked above; left: the group or worker was deleted meanwhile.
		v.Errors["form"] = v.T("rep.err.schedule")
		p.schedulesPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	p.a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "create", Entity: "report_schedule",
		EntityID: id}, nil, map[string]any{"scope": s.Scope, "scope_id": s.ScopeID, "preset": s.Preset, "cron": s.CronSpec,
		"period": s.Period, "format": s.Format, "lang": s.Lang, "recipients": len(s.Recipients)})
	p.a.flash(w, "rep.flash.created")
	p.a.redirect(w, r, "/staff/reports/schedules")
}

// schedule loads a schedule the user may see; anything else (another
// organisation's id, another group's) is store.ErrNotFound.
func (p *repPages) schedule(r *http.Request, v *view, sc store.Scope) (repSchedule, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		return repSchedule{}, store.ErrNotFound
	}
	s, err := p.a.st.ReportSchedule(r.Context(), sc.OrgID, id)
	if err != nil {
		return repSchedule{}, err
	}
	d, err := p.scopeData(r.Context(), r, sc)
	if err != nil {
		return repSchedule{}, err
	}
	row, ok := scheduleRow(v, sc, d, s, time.Now())
	if !ok {
		return repSchedule{}, fmt.Errorf("schedule %d out of scope: %w", id, store.ErrNotFound)
	}
	return row, nil
}

type repRunsData struct {
	Schedule repSchedule
	Runs     []store.ReportRun
	CanWrite bool
}

func (p *repPages) scheduleRuns(w http.ResponseWriter, r *http.Request) {
	sc := p.a.scope(r)
	v := p.a.newView(r, "rep.runs.title", "reports")
	s, err := p.schedule(r, v, sc)
	if err != nil {
		p.a.storeErr(w, r, err)
		return
	}
	runs, err := p.a.st.ReportRuns(r.Context(), sc.OrgID, s.ID, repRunsShown)
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	v.Data = repRunsData{Schedule: s, Runs: runs, CanWrite: !sc.ReadOnly}
	p.a.render(w, r, http.StatusOK, "rep_schedule", v)
}

func (p *repPages) scheduleSwitch(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sc := p.a.scope(r)
		s, err := p.schedule(r, p.a.newView(r, "", ""), sc)
		if err == nil {
			err = p.a.st.SetReportScheduleEnabled(r.Context(), sc.OrgID, s.ID, on)
		}
		if err != nil {
			p.a.storeErr(w, r, err)
			return
		}
		p.a.st.Audit(r.Context(), nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "update",
			Entity: "report_schedule", EntityID: s.ID}, map[string]any{"enabled": s.Enabled}, map[string]any{"enabled": on})
		if on {
			p.a.flash(w, "rep.flash.enabled")
		} else {
			p.a.flash(w, "rep.flash.disabled")
		}
		p.a.redirect(w, r, "/staff/reports/schedules")
	}
}

func (p *repPages) scheduleDelete(w http.ResponseWriter, r *http.Request) {
	sc := p.a.scope(r)
	s, err := p.schedule(r, p.a.newView(r, "", ""), sc)
	if err == nil {
		err = p.a.st.DeleteReportSchedule(r.Context(), sc.OrgID, s.ID)
	}
	if err != nil {
		p.a.storeErr(w, r, err)
		return
	}
	p.a.st.Audit(r.Context(), nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "delete",
		Entity: "report_schedule", EntityID: s.ID}, map[string]any{"scope": s.Scope, "scope_id": s.ScopeID,
		"cron": s.CronSpec, "recipients": len(s.Recipients)}, nil)
	p.a.flash(w, "rep.flash.deleted")
	p.a.redirect(w, r, "/staff/reports/schedules")
}
