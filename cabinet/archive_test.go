package cabinet_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"carevisit/geofence"
	"carevisit/store"
	"carevisit/tracking"
)

// detector reports whether a directory loaded now, as the live detector
// does, has the client's home as a candidate of the device's worker, and
// as an unassigned home near the other device.
func detector(t *testing.T, st *store.Store, dev, other, client int64, lat, lon float64) (candidate, nearby bool) {
	t.Helper()
	d, err := tracking.LoadDirectory(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(client, 10)
	if _, cands, ok := d.Candidates(strconv.FormatInt(dev, 10)); ok {
		candidate = slices.ContainsFunc(cands, func(c geofence.Candidate) bool { return c.Fence.ClientID == id })
	}
	for _, g := range d.Nearby(strconv.FormatInt(other, 10), lat, lon) {
		nearby = nearby || g.ClientID == id
	}
	return candidate, nearby
}

// follow GETs a redirect's target and returns the page with the flash.
func follow(t *testing.T, c *client, r resp) resp {
	t.Helper()
	if r.Code != http.StatusSeeOther {
		t.Fatalf("want 303, got %d\n%s", r.Code, r.Body)
	}
	return c.get(r.Location)
}

func archiveAudits(t *testing.T, st *store.Store, org int64, entity string, id int64) []store.AuditEntry {
	t.Helper()
	es, err := st.AuditLog(context.Background(), org, entity, id, 100)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func auditRows(t *testing.T, st *store.Store, entity string, id int64, action string) (reasons []string) {
	t.Helper()
	rows, err := st.Pool.Query(context.Background(), `SELECT reason FROM audit_log WHERE entity = $1 AND entity_id = $2 AND action = $3
		ORDER BY id`, entity, id, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		reasons = append(reasons, s)
	}
	return reasons
}

func planActive(t *testing.T, st *store.Store, org, plan int64) bool {
	t.Helper()
	p, err := st.PlanByID(context.Background(), store.Scope{OrgID: org}, plan)
	if err != nil {
		t.Fatal(err)
	}
	return p.Active
}

// offered reports whether a <select id="…"> offers the value.
func offered(body, selectID string, id int64) bool {
	return strings.Contains(section(body, `<select id="`+selectID+`"`, `</select>`), `<option value="`+itoa(id)+`"`)
}

func TestDirectoryArchiveClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sc := store.Scope{OrgID: e.org}
	a := dirOrg(t, e.st, e.org, "Альфа", "864717003283581")
	other := e.worker(e.org, "Морозова Ольга", "860000000000009") // not assigned: sees the home as an unassigned one
	start := time.Now().Add(-50 * time.Hour).Truncate(time.Minute)
	visit := e.visit(e.org, seeded{a.device, a.worker}, a.client, start, start.Add(40*time.Minute))
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	page := "/staff/clients/" + itoa(a.client)

	if cand, near := detector(t, e.st, a.device, other.dev, a.client, 54.6, 39.7); !cand || !near {
		t.Fatalf("before archiving the detector lacks the home: candidate %v, nearby %v", cand, near)
	}
	if r := c.get(page); !strings.Contains(r.Body, `id="archive-form"`) || strings.Contains(r.Body, `id="archived-banner"`) {
		t.Fatal("an active client's page for an admin: want the archive form and no banner")
	}

	// No reason: 422 with the message next to the field; nothing changes.
	fieldError(t, c.post(page+"/archive", url.Values{"reason": {"   "}}), "reason", "Укажите причину")
	if cl, _ := e.st.DirClient(ctx, sc, a.client); cl.Archived() || !planActive(t, e.st, e.org, a.plan) ||
		len(auditRows(t, e.st, "client", a.client, "archive")) != 0 {
		t.Fatal("an archiving without a reason changed something")
	}

	// Archive.
	const reason = "Переехала к дочери в другой город"
	r := follow(t, c, c.post(page+"/archive", url.Values{"reason": {reason}}))
	cl, _ := e.st.DirClient(ctx, sc, a.client)
	if !cl.Archived() {
		t.Fatal("client not archived")
	}
	body := html.UnescapeString(r.Body)
	banner := fmt.Sprintf("В архиве с %s: %s", cl.ArchivedAt.In(moscow).Format("02.01.2006"), reason)
	for _, want := range []string{banner, "перенесён в архив", `id="restore"`} {
		if !strings.Contains(body, want) {
			t.Errorf("archived client's page lacks %q", want)
		}
	}
	for _, gone := range []string{`id="save"`, `id="save-services"`, `id="add-plan"`, `id="archive-form"`} {
		if strings.Contains(body, gone) {
			t.Errorf("archived client's page still has %s", gone)
		}
	}
	if r := c.get("/staff/clients"); strings.Contains(r.Body, "Клиент Альфа") {
		t.Error("archived client still in the list")
	}
	r = c.get("/staff/clients?archived=1")
	if row := section(r.Body, `href="/staff/clients/`+itoa(a.client)+`"`, `</tr>`); !strings.Contains(row, "Клиент Альфа") ||
		!strings.Contains(row, `archived-badge`) || !strings.Contains(row, "в архиве") {
		t.Errorf("archive list lacks the client with the badge:\n%s", row)
	}
	if planActive(t, e.st, e.org, a.plan) {
		t.Error("the client's plan is still active")
	}
	if got := auditRows(t, e.st, "client", a.client, "archive"); !slices.Equal(got, []string{reason}) {
		t.Errorf("archive audit reasons %q, want [%q]", got, reason)
	}
	if cs, _ := e.st.Clients(ctx, e.org); slices.ContainsFunc(cs, func(x store.Client) bool { return x.ID == a.client }) {
		t.Error("Clients() still returns the archived client")
	}
	as, _ := e.st.Assignments(ctx)
	for _, x := range as {
		if slices.Contains(x.ClientIDs, a.client) {
			t.Errorf("Assignments() still gives device %d the archived client", x.DeviceID)
		}
	}
	if cand, near := detector(t, e.st, a.device, other.dev, a.client, 54.6, 39.7); cand || near {
		t.Errorf("after archiving the detector still has the home: candidate %v, nearby %v", cand, near)
	}
	// Not offered for new plans nor assignments.
	if r := c.get("/staff/plans"); offered(r.Body, "client", a.client) {
		t.Error("the plans form offers the archived client")
	}
	if r := c.get("/staff/workers/" + itoa(other.worker)); strings.Contains(r.Body, `id="client-`+itoa(a.client)+`"`) {
		t.Error("the worker form offers the archived client")
	}
	if r := c.post("/staff/plans", url.Values{"client": {itoa(a.client)}, "worker": {itoa(a.worker)}, "weekday": {"2"},
		"start": {"10:00"}, "end": {"11:00"}}); r.Code != http.StatusUnprocessableEntity {
		t.Errorf("planning the archived client: %d, want 422", r.Code)
	}
	// Its cancelled plan is shown, not offered for editing.
	if r := c.get("/staff/plans/" + itoa(a.plan)); r.Code != 200 || !strings.Contains(r.Body, `id="plan-archived"`) || strings.Contains(r.Body, `name="weekday"`) {
		t.Errorf("plan page of the archived client: %d, want the note and no form\n%s", r.Code, r.Body)
	}
	// History keeps the name.
	if r := c.get("/staff/visits/" + itoa(visit)); r.Code != 200 || !strings.Contains(r.Body, "Клиент Альфа") {
		t.Errorf("visit page of the archived client: %d, name shown %v", r.Code, strings.Contains(r.Body, "Клиент Альфа"))
	}
	day := start.In(moscow).Format(time.DateOnly)
	if r := c.get("/staff/visits?from=" + day + "&to=" + day); !strings.Contains(rowOf(r.Body, "visit-"+itoa(visit)), "Клиент Альфа") {
		t.Error("visit log row of the archived client lacks the name")
	}
	// A stale edit form changes nothing; archiving twice says so.
	r = follow(t, c, c.post(page, url.Values{"name": {"Другое имя"}, "fence_kind": {"circle"}, "lat": {"54.6"}, "lon": {"39.7"}, "radius": {"40"}}))
	if cl, _ := e.st.DirClient(ctx, sc, a.client); cl.FullName != "Клиент Альфа" || !strings.Contains(r.Body, "изменения не сохранены") {
		t.Errorf("editing an archived client: name %q", cl.FullName)
	}
	if r := follow(t, c, c.post(page+"/archive", url.Values{"reason": {"ещё раз"}})); !strings.Contains(r.Body, "Уже в архиве") {
		t.Error("a second archiving is not reported")
	}

	// Restore: back in the list and the detector; the plan stays cancelled.
	r = follow(t, c, c.post(page+"/restore", nil))
	if !strings.Contains(r.Body, "Плановые визиты остались отменёнными") || strings.Contains(r.Body, `id="archived-banner"`) ||
		!strings.Contains(r.Body, `id="save"`) {
		t.Error("restored client's page: want the flash about plans, no banner, the edit form")
	}
	if r := c.get("/staff/clients"); !strings.Contains(r.Body, "Клиент Альфа") {
		t.Error("restored client not in the list")
	}
	if r := c.get("/staff/clients?archived=1"); strings.Contains(r.Body, "Клиент Альфа") {
		t.Error("restored client still in the archive list")
	}
	if planActive(t, e.st, e.org, a.plan) {
		t.Error("restore switched the plan back on")
	}
	if cand, near := detector(t, e.st, a.device, other.dev, a.client, 54.6, 39.7); !cand || !near {
		t.Errorf("after restore the detector lacks the home: candidate %v, nearby %v", cand, near)
	}
	if es := archiveAudits(t, e.st, e.org, "client", a.client); len(es) == 0 || es[0].Action != "restore" {
		t.Error("no audit entry for the restore")
	}
}

func TestDirectoryArchiveWorker(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sc := store.Scope{OrgID: e.org}
	a := dirOrg(t, e.st, e.org, "Альфа", "864717003283581")
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	page := "/staff/workers/" + itoa(a.worker)

	fieldError(t, c.post(page+"/archive", url.Values{"reason": {""}}), "reason", "Укажите причину")
	if w, _ := e.st.DirWorker(ctx, sc, a.worker); w.Archived() || w.DeviceID != a.device {
		t.Fatal("an archiving without a reason changed something")
	}

	r := follow(t, c, c.post(page+"/archive", url.Values{"reason": {"Уволилась"}}))
	w, _ := e.st.DirWorker(ctx, sc, a.worker)
	if !w.Archived() || w.DeviceID != 0 {
		t.Fatalf("archived worker %+v: want archived with no device", w)
	}
	body := html.UnescapeString(r.Body)
	for _, want := range []string{"В архиве с " + w.ArchivedAt.In(moscow).Format("02.01.2006") + ": Уволилась", "устройство освобождено", `id="restore"`} {
		if !strings.Contains(body, want) {
			t.Errorf("archived worker's page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="worker-form"`) || strings.Contains(body, `id="archive-form"`) {
		t.Error("archived worker's page still has the edit or archive form")
	}
	if planActive(t, e.st, e.org, a.plan) {
		t.Error("the worker's plan is still active")
	}
	if got := auditRows(t, e.st, "worker", a.worker, "archive"); !slices.Equal(got, []string{"Уволилась"}) {
		t.Errorf("archive audit reasons %q", got)
	}
	if r := c.get("/staff/workers"); strings.Contains(r.Body, "Работник Альфа") {
		t.Error("archived worker still in the list")
	}
	if r := c.get("/staff/workers?archived=1"); !strings.Contains(section(r.Body, `href="/staff/workers/`+itoa(a.worker)+`"`, `</tr>`), "archived-badge") {
		t.Error("archive list lacks the worker with the badge")
	}
	if r := c.get("/staff/plans"); offered(r.Body, "worker", a.worker) {
		t.Error("the plans form offers the archived worker")
	}
	if r := c.get("/staff/clients/" + itoa(a.client)); !strings.Contains(section(r.Body, `id="client-workers"`, `</ul>`), "Работник Альфа") {
		t.Error("the client's page no longer names the archived worker who served them")
	}

	// The tracker is free: offered and given to a new worker.
	r = c.get("/staff/workers")
	if !offered(r.Body, "device", a.device) {
		t.Fatal("the freed device is not offered to a new worker")
	}
	nw := created(t, c.post("/staff/workers", url.Values{"name": {"Новикова Анна"}, "group": {itoa(a.group)}, "device": {itoa(a.device)},
		"clients": {itoa(a.client)}}), "/staff/workers/")
	as, _ := e.st.Assignments(ctx)
	if i := slices.IndexFunc(as, func(x store.DeviceAssignment) bool { return x.DeviceID == a.device }); i < 0 || as[i].WorkerID != nw {
		t.Errorf("device %d not with the new worker %d: %+v", a.device, nw, as)
	}
	// A stale edit form of the archived worker cannot take the device back.
	r = follow(t, c, c.post(page, url.Values{"name": {"Работник Альфа"}, "group": {itoa(a.group)}, "device": {itoa(a.device)}}))
	if w, _ := e.st.DirWorker(ctx, sc, a.worker); w.DeviceID != 0 || !strings.Contains(r.Body, "изменения не сохранены") {
		t.Errorf("editing an archived worker: %+v", w)
	}

	// Restore: no device, plans still cancelled, and the flash says so.
	r = follow(t, c, c.post(page+"/restore", nil))
	if !strings.Contains(r.Body, "Устройство к нему не привязано") || !strings.Contains(r.Body, `id="worker-form"`) {
		t.Error("restored worker's page: want the flash about the device and the edit form")
	}
	w, _ = e.st.DirWorker(ctx, sc, a.worker)
	if w.Archived() || w.DeviceID != 0 || planActive(t, e.st, e.org, a.plan) {
		t.Errorf("restored worker %+v: want active, no device, plan cancelled", w)
	}
	if r := c.get("/staff/workers"); !strings.Contains(r.Body, "Работник Альфа") {
		t.Error("restored worker not in the list")
	}
}

func TestDirectoryArchiveRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sc := store.Scope{OrgID: e.org}
	a := dirOrg(t, e.st, e.org, "Альфа", "864717003283581")
	// An archived pair to try restoring.
	gone := dirOrg(t, e.st, e.org, "Архив", "864717003283599")
	if err := e.st.ArchiveClient(ctx, sc, gone.client, "переезд"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ArchiveWorker(ctx, sc, gone.worker, "увольнение"); err != nil {
		t.Fatal(err)
	}
	orgB, _ := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Samara")
	dirOrg(t, e.st, orgB, "Бета", "864717003283607")
	sup := e.user(e.org, "sup@example.ru", store.RoleSupervisor, dirPW)
	if err := e.st.SetSupervisorGroups(ctx, e.org, sup, []int64{a.group, gone.group}); err != nil {
		t.Fatal(err)
	}
	supC := e.client()
	supC.login("sup@example.ru", dirPW)
	var audits int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&audits)

	posts := map[string]url.Values{
		"/staff/clients/" + itoa(a.client) + "/archive":    {"reason": {"x"}},
		"/staff/workers/" + itoa(a.worker) + "/archive":    {"reason": {"x"}},
		"/staff/clients/" + itoa(gone.client) + "/restore": nil,
		"/staff/workers/" + itoa(gone.worker) + "/restore": nil,
	}
	for who, c := range map[string]*client{"supervisor": supC, "auditor": e.dirLogin(e.org, "aud@example.ru", store.RoleAuditor)} {
		for p, f := range posts {
			if r := c.post(p, f); r.Code != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", who, p, r.Code)
			}
		}
		// Their pages show no archive controls.
		for _, p := range []string{"/staff/clients/" + itoa(a.client), "/staff/workers/" + itoa(a.worker),
			"/staff/clients/" + itoa(gone.client), "/staff/workers/" + itoa(gone.worker)} {
			if r := c.get(p); strings.Contains(r.Body, `id="archive-form"`) || strings.Contains(r.Body, `id="restore"`) {
				t.Errorf("%s sees archive controls on %s", who, p)
			}
		}
	}
	bAdmin := e.dirLogin(orgB, "admin@south.ru", store.RoleAdmin)
	for p, f := range posts {
		r := bAdmin.post(p, f)
		if r.Code != http.StatusNotFound {
			t.Errorf("admin of another organisation POST %s: %d, want 404", p, r.Code)
		}
		if strings.Contains(r.Body, "Альфа") || strings.Contains(r.Body, "Клиент Архив") || strings.Contains(r.Body, "Работник Архив") {
			t.Errorf("admin of another organisation POST %s sees organisation A's data", p)
		}
	}
	if r := bAdmin.get("/staff/clients?archived=1"); strings.Contains(r.Body, "Клиент Архив") {
		t.Error("another organisation's archive list shows A's client")
	}

	// The archive pages render in both languages, without raw keys.
	adm := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	for _, lang := range []string{"en", "ru"} {
		for _, p := range []string{"/staff/clients/" + itoa(gone.client), "/staff/workers/" + itoa(gone.worker),
			"/staff/clients?archived=1", "/staff/workers?archived=1", "/staff/clients/" + itoa(a.client), "/staff/workers/" + itoa(a.worker)} {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			r := adm.get(p + sep + "lang=" + lang)
			if r.Code != 200 || strings.Contains(r.Body, ">dir.") || strings.Contains(r.Body, "%!") {
				t.Errorf("%s (%s): %d, or an untranslated key or a bad format", p, lang, r.Code)
			}
		}
	}

	// Nothing changed.
	cl, _ := e.st.DirClient(ctx, sc, a.client)
	w, _ := e.st.DirWorker(ctx, sc, a.worker)
	gc, _ := e.st.DirClient(ctx, sc, gone.client)
	gw, _ := e.st.DirWorker(ctx, sc, gone.worker)
	if cl.Archived() || w.Archived() || w.DeviceID != a.device || !planActive(t, e.st, e.org, a.plan) || !gc.Archived() || !gw.Archived() {
		t.Errorf("refused requests changed something: client %v worker %v (device %d) plan %v; archived client %v worker %v",
			cl.Archived(), w.Archived(), w.DeviceID, planActive(t, e.st, e.org, a.plan), gc.Archived(), gw.Archived())
	}
	var after int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&after)
	if after != audits {
		t.Errorf("refused requests wrote %d audit rows", after-audits)
	}
}
