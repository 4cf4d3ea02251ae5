package cabinet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/reports"
	"carevisit/store"
)

func init() {
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		p := &repPages{a: a, jobs: newRepJobs(repJobTTL)}
		r.Get("/reports", p.form)
		// Building a report reads data and changes none: auditors may too.
		r.Post("/reports", p.start)
		r.Get("/reports/jobs/{id}", p.jobStatus)
		r.Get("/reports/jobs/{id}/file", p.jobFile)
		r.Get("/reports/schedules", p.schedules)
		r.With(a.requireWrite).Post("/reports/schedules", p.scheduleCreate)
		r.Get("/reports/schedules/{id}", p.scheduleRuns)
		r.With(a.requireWrite).Post("/reports/schedules/{id}/enable", p.scheduleSwitch(true))
		r.With(a.requireWrite).Post("/reports/schedules/{id}/disable", p.scheduleSwitch(false))
		r.With(a.requireWrite).Post("/reports/schedules/{id}/delete", p.scheduleDelete)
	})
	addNav(&staffNavItems, navItem{Key: "reports", Href: "/staff/reports", Label: "nav.reports", Order: 60})
}

// repPages are the report pages of one App, with its download jobs.
//
// Every download goes through a job, however small: one code path, one
// validation, and the whole file is on disk before its first byte is sent,
// so a failure becomes a message instead of a truncated download. The page
// fetches the file by itself when the job is done, so a small report still
// costs one click.
type repPages struct {
	a    *App
	jobs *repJobs
}

// repScopeData is what the scope menus offer: for a supervisor only their
// groups and their workers.
type repScopeData struct {
	AllOrg  bool // "org" means the whole organisation (false: the supervisor's groups)
	Groups  []store.Group
	Workers []store.LogWorker
}

func (p *repPages) scopeData(ctx context.Context, r *http.Request, sc store.Scope) (repScopeData, error) {
	d := repScopeData{AllOrg: sc.AllGroups()}
	var err error
	if d.Groups, err = p.a.logGroups(r, sc); err != nil {
		return d, err
	}
	d.Workers, err = p.a.st.LogWorkers(ctx, sc)
	return d, err
}

// repScope is a parsed scope choice: "org", "g<id>" or "w<id>".
type repScope struct {
	Kind  string // org, group, worker
	ID    int64
	Label string // group or worker name ("" for org)
}

// parseScope checks the choice against what the user may see: another
// organisation's (or group's) id is refused like a missing one.
func parseScope(d repScopeData, s string) (repScope, bool) {
	if s == "" || s == "org" {
		return repScope{Kind: "org"}, true
	}
	if len(s) < 2 {
		return repScope{}, false
	}
	id, err := strconv.ParseInt(s[1:], 10, 64)
	if err != nil || id <= 0 {
		return repScope{}, false
	}
	switch s[0] {
	case 'g':
		for _, g := range d.Groups {
			if g.ID == id {
				return repScope{Kind: "group", ID: id, Label: g.Name}, true
			}
		}
	case 'w':
		for _, w := range d.Workers {
			if w.ID == id {
				return repScope{Kind: "worker", ID: id, Label: w.Name}, true
			}
		}
	}
	return repScope{}, false
}

type repFormData struct {
	repScopeData
	Job  *repJobView
	Gone bool // the job asked for has expired (or is not the user's)
}

// repJobView is a job as the page and the status endpoint show it.
type repJobView struct {
	ID    string `json:"-"`
	State string `json:"state"` // queued, running, done, failed
	Done  int    `json:"done"`
	Total int    `json:"total"`
	File  string `json:"file,omitempty"` // download address when done
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"` // translated, when failed
}

func jobView(tr func(key string, args ...any) string, s repJobSnap) *repJobView {
	j := &repJobView{ID: s.ID, State: s.State, Done: s.Done, Total: s.Total}
	switch s.State {
	case repDone:
		j.File, j.Name = "/staff/reports/jobs/"+s.ID+"/file", s.FileName
	case repFailed:
		j.Error = tr(s.FailKey)
	}
	return j
}

// lastMonth is the previous calendar month in loc, as the form's default.
func lastMonth(now time.Time, loc *time.Location) (from, to time.Time) {
	n := now.In(loc)
	first := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc)
	return first.AddDate(0, -1, 0), first.AddDate(0, 0, -1)
}

func (p *repPages) form(w http.ResponseWriter, r *http.Request) {
	v := p.a.newView(r, "rep.title", "reports")
	d := repFormData{}
	if id := r.URL.Query().Get("job"); id != "" {
		if s, ok := p.jobs.get(id, userOf(r).ID); ok {
			d.Job = jobView(v.T, s)
			v.Form = s.Form
		} else {
			d.Gone = true
		}
	}
	if v.Form.Get("from") == "" {
		from, to := lastMonth(time.Now(), v.loc)
		v.Form.Set("from", from.Format("2006-01-02"))
		v.Form.Set("to", to.Format("2006-01-02"))
		v.Form.Set("format", string(reports.XLSX))
		v.Form.Set("lang", v.Lang)
	}
	p.formPage(w, r, http.StatusOK, v, d)
}

func (p *repPages) formPage(w http.ResponseWriter, r *http.Request, status int, v *view, d repFormData) {
	var err error
	if d.repScopeData, err = p.scopeData(r.Context(), r, p.a.scope(r)); err != nil {
		p.a.serverError(w, r, err)
		return
	}
	v.Data = d
	p.a.render(w, r, status, "rep_form", v)
}

// repRequest is a validated download form.
type repRequest struct {
	req   reports.Request
	scope repScope
}

// parseRequest validates the form: dates in the organisation's zone, at
// most reports.MaxDays, a scope the user may see.
func (p *repPages) parseRequest(r *http.Request, v *view, sc store.Scope) (repRequest, error) {
	var out repRequest
	f := r.PostForm
	day := func(field string) time.Time {
		s := strings.TrimSpace(f.Get(field))
		if s == "" {
			v.Errors[field] = v.T("form.err.required")
			return time.Time{}
		}
		d, err := time.ParseInLocation("2006-01-02", s, v.loc)
		if err != nil {
			v.Errors[field] = v.T("rep.err.date")
		}
		return d
	}
	from, to := day("from"), day("to")
	if !from.IsZero() && !to.IsZero() {
		switch {
		case to.Before(from):
			v.Errors["to"] = v.T("rep.err.before")
		case to.After(from.AddDate(0, 0, reports.MaxDays-1)): // both days count
			v.Errors["to"] = v.T("rep.err.long", reports.MaxDays)
		}
	}
	d, err := p.scopeData(r.Context(), r, sc)
	if err != nil {
		return out, err
	}
	scope, ok := parseScope(d, f.Get("scope"))
	if !ok {
		v.Errors["scope"] = v.T("rep.err.scope")
	}
	format := reports.Format(f.Get("format"))
	if format != reports.XLSX && format != reports.CSV {
		v.Errors["format"] = v.T("rep.err.choose")
	}
	lang := f.Get("lang")
	if !valid(lang) {
		v.Errors["lang"] = v.T("rep.err.choose")
	}
	out.scope = scope
	out.req = reports.Request{OrgID: sc.OrgID, From: from, To: to, Groups: sc.Groups, Lang: lang, Format: format}
	switch scope.Kind {
	case "group":
		out.req.GroupID = scope.ID
	case "worker":
		out.req.WorkerID = scope.ID
	}
	return out, nil
}

func (p *repPages) start(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc, u := p.a.scope(r), userOf(r)
	v := p.a.newView(r, "rep.title", "reports")
	v.Form = r.PostForm
	in, err := p.parseRequest(r, v, sc)
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	if len(v.Errors) > 0 {
		p.formPage(w, r, http.StatusUnprocessableEntity, v, repFormData{})
		return
	}
	req := in.req
	j := &repJob{userID: u.ID, orgID: sc.OrgID, form: r.PostForm, fileName: repFileName(req, in.scope),
		asciiName: reports.FileName(req), ctype: req.Format.ContentType()}
	log := p.a.log
	build := func(ctx context.Context, w io.Writer, progress func(done, total int)) error {
		req.Progress = progress
		return reports.BuildVisits(ctx, p.a.st, req, w)
	}
	err = p.jobs.start(j, build, func(err error) {
		if err != nil {
			log.Error("report build", "org", sc.OrgID, "user", u.ID, "err", err)
		}
	})
	if errors.Is(err, errRepTooMany) {
		v.Errors["form"] = v.T("rep.err.too_many", repJobsPerUser)
		p.formPage(w, r, http.StatusTooManyRequests, v, repFormData{})
		return
	}
	if err != nil {
		p.a.serverError(w, r, err)
		return
	}
	// Exports of personal data are audited (ids and the period, no names).
	p.a.st.Audit(r.Context(), nil, store.AuditEntry{OrgID: sc.OrgID, UserID: u.ID, Action: "export", Entity: "report"}, nil,
		map[string]any{"kind": "visits", "from": req.From.Format("2006-01-02"), "to": req.To.Format("2006-01-02"),
			"scope": in.scope.Kind, "scope_id": in.scope.ID, "format": req.Format})
	p.a.redirect(w, r, "/staff/reports?job="+url.QueryEscape(j.id))
}

// repFileName is the offered file name: "Визиты_<scope>_2026-11-01_2026-11-30.xlsx"
// in Russian, reports.FileName's in English.
func repFileName(req reports.Request, sc repScope) string {
	if req.Lang == "en" {
		return reports.FileName(req)
	}
	name := "Визиты"
	if sc.Label != "" {
		name += "_" + sc.Label
	}
	name += "_" + req.From.Format("2006-01-02") + "_" + req.To.Format("2006-01-02") + "." + string(req.Format)
	// No path separators or characters Windows refuses in file names.
	return strings.Map(func(c rune) rune {
		if strings.ContainsRune(`/\:*?"<>| `, c) || c < 0x20 {
			return '_'
		}
		return c
	}, name)
}

// contentDisposition is an RFC 6266 attachment header: an ASCII filename
// for old clients and the real name as RFC 5987 filename*.
func contentDisposition(name, ascii string) string {
	var b strings.Builder
	for _, c := range []byte(name) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return `attachment; filename="` + strings.NewReplacer(`"`, "_", `\`, "_").Replace(ascii) + `"; filename*=UTF-8''` + b.String()
}

func (p *repPages) jobStatus(w http.ResponseWriter, r *http.Request) {
	s, ok := p.jobs.get(chi.URLParam(r, "id"), userOf(r).ID)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"state": "gone"})
		return
	}
	lang := langOf(r, userOf(r).Locale)
	writeJSON(w, http.StatusOK, jobView(func(key string, args ...any) string { return p.a.cat.T(lang, key, args...) }, s))
}

func (p *repPages) jobFile(w http.ResponseWriter, r *http.Request) {
	s, ok := p.jobs.get(chi.URLParam(r, "id"), userOf(r).ID)
	if !ok || s.State != repDone {
		p.a.notFound(w, r)
		return
	}
	f, err := os.Open(s.Path)
	if err != nil { // expired in between
		p.a.notFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", s.ContentType)
	h.Set("Content-Disposition", contentDisposition(s.FileName, s.AsciiName))
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", s.Finished, f)
}
