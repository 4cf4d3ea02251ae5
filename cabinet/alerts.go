package cabinet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

func init() {
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		r.Get("/alerts", a.alertList)
		r.With(a.requireWrite).Post("/alerts/seen", a.alertSeen)
	})
	addNav(&staffNavItems, navItem{Key: "alerts", Href: "/staff/alerts", Label: "nav.alerts", Order: 15, Count: unseenAlertCount})
}

const alertPageSize = 50

type alertRow struct {
	store.Alert
	Summary string
	Link    string
}

type alertListData struct {
	Rows             []alertRow
	Total, Unseen    int
	Page, Last       int
	PrevURL, NextURL string
	Kinds            []string
}

func (a *App) alertList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	v := a.newView(r, "alerts.title", "alerts")
	q := r.URL.Query()
	f := store.AlertFilter{Limit: alertPageSize, Unseen: q.Get("unseen") == "1"}
	for _, k := range store.AlertKinds {
		if q.Get("kind") == k {
			f.Kind = k
			v.Form.Set("kind", k)
		}
	}
	if f.Unseen {
		v.Form.Set("unseen", "1")
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	f.Offset = (page - 1) * alertPageSize
	list, total, err := a.st.Alerts(ctx, sc, f)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	d := alertListData{Total: total, Page: page, Kinds: store.AlertKinds}
	if d.Unseen, err = a.st.UnseenAlerts(ctx, sc); err != nil {
		a.serverError(w, r, err)
		return
	}
	for _, al := range list {
		d.Rows = append(d.Rows, alertRow{Alert: al, Summary: alertSummary(v, al), Link: alertLink(v, al)})
	}
	pg := newPager("/staff/alerts", v.Form, page, total, alertPageSize)
	d.Last, d.PrevURL, d.NextURL = pg.Last, pg.PrevURL, pg.NextURL
	v.Data = d
	a.render(w, r, http.StatusOK, "alert_list", v)
}

// alertSeen marks the chosen alerts (or, with all=1, every unseen one in
// scope) as seen.
func (a *App) alertSeen(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	var ids []int64
	if r.PostFormValue("all") != "1" {
		ids = []int64{}
		for _, s := range r.PostForm["id"] {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	n, err := a.st.MarkAlertsSeen(r.Context(), sc, ids)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("alerts seen", "user", sc.UserID, "count", n)
	a.flash(w, "alerts.flash.seen")
	back := "/staff/alerts"
	if s := safeNext(r.PostFormValue("back")); strings.HasPrefix(s, "/staff/alerts") {
		back = s
	}
	a.redirect(w, r, back)
}

// alertSummary describes an alert in one line in the viewer's language.
func alertSummary(v *view, al store.Alert) string {
	var d map[string]any
	json.Unmarshal(al.Details, &d)
	tm := func(k string) string {
		if s, ok := d[k].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return v.Time(t)
			}
		}
		return ""
	}
	num := func(k string) int {
		f, _ := d[k].(float64)
		return int(f)
	}
	switch al.Kind {
	case store.AlertKindSOS:
		return v.T("alerts.sum.sos", tm("fix_time"))
	case store.AlertKindShortVisit:
		return v.T("alerts.sum.short_visit", fmtDuration(num("duration_s")), tm("start"))
	case store.AlertKindUnassigned:
		return v.T("alerts.sum.unassigned_visit", fmtDuration(num("duration_s")), tm("start"))
	case store.AlertKindOffline:
		return v.T("alerts.sum.offline", tm("last_fix"))
	case store.AlertKindLowBattery:
		return v.T("alerts.sum.low_battery", num("battery"))
	case store.AlertKindDispute:
		if r := num("rating"); r > 0 {
			return v.T("alerts.sum.dispute_rated", r)
		}
		return v.T("alerts.sum.dispute")
	case store.AlertKindMockLocation:
		return v.T("alerts.sum.mock_location", tm("first_fix"))
	case store.AlertKindMissedVisit:
		if tm("window_start") == "" {
			return ""
		}
		return v.T("alerts.sum.missed_visit", tm("window_start"), v.Clock(parseRFC(d["window_end"])))
	}
	return ""
}

func parseRFC(x any) time.Time {
	s, _ := x.(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func alertLink(v *view, al store.Alert) string {
	if al.VisitID != 0 {
		return fmt.Sprintf("/staff/visits/%d", al.VisitID)
	}
	if al.WorkerID != 0 {
		return fmt.Sprintf("/staff/live/track?worker=%d&date=%s", al.WorkerID, v.DayParam(al.At))
	}
	return ""
}

// ---- background: raising and mailing ----

// RunAlerts raises alerts from positions and visits every interval (and
// once at start), pushes them to the live map and e-mails them, until ctx
// ends. Safe to run on several servers: alerts are deduplicated and each
// is claimed by one mailer.
func (a *App) RunAlerts(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := a.CheckAlerts(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("alerts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckAlerts is one round of RunAlerts: it raises the alerts due at now,
// publishes them to the organisations' live streams and mails every alert
// not mailed yet (including those raised elsewhere: missed visits,
// disputes, mock locations). It returns how many alerts it raised.
func (a *App) CheckAlerts(ctx context.Context, now time.Time) (int, error) {
	raised, err := a.st.RaiseAlerts(ctx, now)
	for _, al := range raised {
		a.log.Info("alert raised", "org", al.OrgID, "kind", al.Kind, "worker", al.WorkerID, "device", al.DeviceID, "visit", al.VisitID)
		b, _ := json.Marshal(map[string]any{"kind": "alert", "alert_kind": al.Kind, "worker_id": al.WorkerID,
			"device_id": al.DeviceID, "visit_id": al.VisitID, "at": al.At})
		a.hub.publish(al.OrgID, b)
	}
	if err != nil {
		return len(raised), err
	}
	_, err = a.MailAlerts(ctx, now)
	return len(raised), err
}

// alertMailWindow: alerts older than this when first seen by the mailer
// (a server that was down for a day) are not mailed any more.
const alertMailWindow = 24 * time.Hour

// MailAlerts e-mails the alerts no mailer has taken yet to the
// organisations' administrators (all alerts) and supervisors (those of
// their groups' workers), one e-mail per person, in their language. It
// returns the number of e-mails sent. Alerts whose every e-mail failed
// are returned to the queue for the next round.
func (a *App) MailAlerts(ctx context.Context, now time.Time) (int, error) {
	list, err := a.st.ClaimAlertsToMail(ctx, now.Add(-alertMailWindow), 500)
	if err != nil || len(list) == 0 {
		return 0, err
	}
	if a.mail == nil {
		a.log.Warn("alert e-mails not sent: no mail server configured", "alerts", len(list))
		return 0, nil
	}
	byOrg := map[int64][]store.Alert{}
	var orgs []int64
	for _, al := range list {
		if byOrg[al.OrgID] == nil {
			orgs = append(orgs, al.OrgID)
		}
		byOrg[al.OrgID] = append(byOrg[al.OrgID], al)
	}
	sent := 0
	var failed []int64
	for _, org := range orgs {
		alerts := byOrg[org]
		n, delivered, err := a.mailOrgAlerts(ctx, org, alerts)
		sent += n
		if err != nil {
			return sent, err
		}
		for _, al := range alerts {
			if !delivered[al.ID] {
				failed = append(failed, al.ID)
			}
		}
	}
	if len(failed) > 0 {
		if err := a.st.UnclaimAlertMail(ctx, failed); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// mailOrgAlerts sends one organisation's alerts; delivered marks the
// alerts that reached at least one person (or had nobody to reach).
func (a *App) mailOrgAlerts(ctx context.Context, orgID int64, alerts []store.Alert) (int, map[int64]bool, error) {
	delivered := map[int64]bool{}
	org, err := a.st.OrganisationByID(ctx, orgID)
	if err != nil {
		return 0, delivered, err
	}
	people, err := a.st.AlertRecipients(ctx, orgID)
	if err != nil {
		return 0, delivered, err
	}
	reach := map[int64]bool{}
	sent := 0
	for _, p := range people {
		var mine []store.Alert
		for _, al := range alerts {
			if p.Role == store.RoleAdmin || al.GroupID != 0 && hasID(p.Groups, al.GroupID) {
				mine = append(mine, al)
				reach[al.ID] = true
			}
		}
		if len(mine) == 0 {
			continue
		}
		lang := p.Locale
		if !valid(lang) {
			lang = "ru"
		}
		v := &view{Lang: lang, cat: a.cat, loc: org.Location()}
		subject, body := alertMail(v, a.cfg.BaseURL, org.Name, mine)
		if err := a.mail(ctx, p.Email, subject, body); err != nil {
			a.log.Error("alert mail not sent", "user", p.UserID, "err", err)
			continue
		}
		sent++
		for _, al := range mine {
			delivered[al.ID] = true
		}
	}
	for _, al := range alerts {
		if !reach[al.ID] {
			delivered[al.ID] = true // nobody to tell: nothing to retry
		}
	}
	return sent, delivered, nil
}

func hasID(list []int64, x int64) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// alertMail composes one person's alert e-mail: no client addresses or
// phones, only what the cabinet link needs to make sense.
func alertMail(v *view, baseURL, orgName string, alerts []store.Alert) (subject, body string) {
	subject = v.T("alerts.mail.subject", v.Plural("alerts.n_alerts", len(alerts)))
	var b strings.Builder
	b.WriteString(v.T("alerts.mail.intro", orgName))
	b.WriteString("\n\n")
	for _, al := range alerts {
		b.WriteString("• ")
		b.WriteString(v.Time(al.At))
		b.WriteString(" — ")
		b.WriteString(v.T("alerts.kind." + al.Kind))
		if al.WorkerName != "" {
			b.WriteString(" — ")
			b.WriteString(al.WorkerName)
		}
		if s := alertSummary(v, al); s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(v.T("alerts.mail.link", strings.TrimRight(baseURL, "/")+"/staff/alerts"))
	b.WriteString("\n")
	return subject, b.String()
}

// unseenAlertCount is the menu badge: unseen alerts in the user's scope.
func unseenAlertCount(a *App, r *http.Request) int {
	u := userOf(r)
	if u == nil || u.Role != store.RoleAdmin && u.Role != store.RoleSupervisor && u.Role != store.RoleAuditor {
		return 0
	}
	n, err := a.st.UnseenAlerts(r.Context(), a.scope(r))
	if err != nil {
		a.log.Warn("unseen alerts", "user", u.ID, "err", err)
		return 0
	}
	return n
}
