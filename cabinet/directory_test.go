package cabinet_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"carevisit/cabinet"
	"carevisit/store"
)

const dirPW = "correct horse battery"

// dirLogin signs a new user of org with role in and returns the client.
func (e *env) dirLogin(org int64, email, role string) *client {
	e.t.Helper()
	e.user(org, email, role, dirPW)
	c := e.client()
	if r := c.login(email, dirPW); r.Code != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d", email, r.Code)
	}
	return c
}

// created checks a 303 to prefix+id and returns the id.
func created(t *testing.T, r resp, prefix string) int64 {
	t.Helper()
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, prefix) {
		t.Fatalf("want 303 to %s<id>, got %d %q\n%s", prefix, r.Code, r.Location, r.Body)
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(r.Location, prefix), 10, 64)
	if err != nil {
		t.Fatalf("location %q: %v", r.Location, err)
	}
	return id
}

// fieldError asserts a 422 whose message sits right after the named field.
func fieldError(t *testing.T, r resp, id, msg string) {
	t.Helper()
	if r.Code != http.StatusUnprocessableEntity {
		t.Fatalf("want 422 for %s, got %d", id, r.Code)
	}
	i := strings.Index(r.Body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no field #%s in the page", id)
	}
	rest := r.Body[i:]
	j := strings.Index(rest, `class="field-error"`)
	if j < 0 || j > 1500 || !strings.Contains(html.UnescapeString(rest[j:min(len(rest), j+400)]), msg) {
		t.Fatalf("no error %q next to #%s:\n%s", msg, id, rest[:min(len(rest), 1500)])
	}
	if !strings.Contains(rest[:strings.Index(rest, ">")], `aria-invalid="true"`) {
		t.Errorf("#%s is not marked aria-invalid", id)
	}
}

func auditCount(t *testing.T, st *store.Store, entity string, id int64) int {
	t.Helper()
	var n int
	if err := st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE entity = $1 AND entity_id = $2
		AND after IS NOT NULL`, entity, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDirectoryAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)

	// Groups.
	if r := c.post("/staff/groups", url.Values{"name": {"Северный участок"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("add group: %d", r.Code)
	}
	groups, _ := e.st.DirGroups(ctx, store.Scope{OrgID: e.org})
	if len(groups) != 1 {
		t.Fatalf("groups: %+v", groups)
	}
	gid := groups[0].ID
	fieldError(t, c.post("/staff/groups", url.Values{"name": {"Северный участок"}}), "name", "Такое название уже есть")
	if r := c.post("/staff/groups/"+itoa(gid), url.Values{"name": {"Участок № 1"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("rename: %d", r.Code)
	}
	if r := c.get("/staff/groups"); !strings.Contains(r.Body, "Участок № 1") {
		t.Error("renamed group not listed")
	}

	// Devices: the IMEI is checked.
	fieldError(t, c.post("/staff/devices", url.Values{"protocol": {"gt06"}, "ident": {"86471700328358"}}), "ident", "15 цифр")
	fieldError(t, c.post("/staff/devices", url.Values{"protocol": {"gt06"}, "ident": {"86471700328358x"}}), "ident", "15 цифр")
	r := c.post("/staff/devices", url.Values{"protocol": {"gt06"}, "ident": {"864717003283581"}, "model": {"S20"}, "name": {"Трекер 1"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("add device: %d %s", r.Code, r.Body)
	}
	fieldError(t, c.post("/staff/devices", url.Values{"protocol": {"gt06"}, "ident": {"864717003283581"}}), "ident", "уже зарегистрировано")
	dev, err := e.st.DeviceByIdent(ctx, "864717003283581")
	if err != nil || dev.OrgID != e.org {
		t.Fatalf("device: %+v %v", dev, err)
	}

	// Clients: a circle, then validation of a bad one.
	cli := created(t, c.post("/staff/clients", url.Values{"name": {"Иванова Анна Петровна"}, "address": {"ул. Почтовая, 12"},
		"phone": {"+7 910 000-00-01"}, "fence_kind": {"circle"}, "lat": {"54.6292"}, "lon": {"39.7421"}, "radius": {"40"}}), "/staff/clients/")
	r = c.post("/staff/clients", url.Values{"name": {"Петров"}, "fence_kind": {"circle"}, "lat": {"54.6"}, "lon": {"39.7"}, "radius": {"0"}})
	fieldError(t, r, "radius", "от 5 до 1000 метров")
	fieldError(t, c.post("/staff/clients", url.Values{"name": {"Петров"}, "fence_kind": {"circle"}, "lat": {"95"}, "lon": {"39.7"}, "radius": {"30"}}),
		"lat", "от −90 до 90")
	fieldError(t, c.post("/staff/clients", url.Values{"name": {""}, "fence_kind": {"circle"}, "lat": {"54"}, "lon": {"39"}, "radius": {"30"}}),
		"name", "")
	// A bow-tie polygon crosses itself; an L-shape is fine.
	fieldError(t, c.post("/staff/clients", url.Values{"name": {"Петров"}, "fence_kind": {"polygon"},
		"polygon": {"54.6000, 39.7000\n54.6004, 39.7006\n54.6004, 39.7000\n54.6000, 39.7006"}}), "polygon", "пересекаются")
	fieldError(t, c.post("/staff/clients", url.Values{"name": {"Петров"}, "fence_kind": {"polygon"},
		"polygon": {"54.6000, 39.7000\n54.6004, 39.7006"}}), "polygon", "трёх разных точек")
	lshape := "54.6000, 39.7000\n54.6004, 39.7000\n54.6004, 39.7002\n54.6002, 39.7002\n54.6002, 39.7006\n54.6000, 39.7006"
	poly := created(t, c.post("/staff/clients", url.Values{"name": {"Петров Сергей"}, "fence_kind": {"polygon"}, "polygon": {lshape}}), "/staff/clients/")
	pc, err := e.st.DirClient(ctx, store.Scope{OrgID: e.org}, poly)
	if err != nil || pc.FenceKind != "polygon" || len(pc.Polygon) != 7 || pc.Polygon[0] != pc.Polygon[6] || pc.Polygon[1] != [2]float64{39.7, 54.6004} {
		t.Fatalf("L-shaped polygon stored as %+v (%v), want a closed [lon,lat] ring of 6 points", pc.Polygon, err)
	}
	page := c.get("/staff/clients/" + itoa(poly))
	for _, id := range []string{`id="client-map"`, `id="radius"`, `id="lat"`, `id="lon"`, `id="polygon"`, `id="save"`, `id="poly-undo"`} {
		if !strings.Contains(page.Body, id) {
			t.Errorf("client page lacks %s", id)
		}
	}

	// Editing the fence says visits can be recomputed; updated_at moves.
	before, _ := e.st.DirClient(ctx, store.Scope{OrgID: e.org}, cli)
	r = c.post("/staff/clients/"+itoa(cli), url.Values{"name": {"Иванова Анна Петровна"}, "address": {"ул. Почтовая, 12"},
		"fence_kind": {"circle"}, "lat": {"54.6293"}, "lon": {"39.7421"}, "radius": {"55"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("edit client: %d %s", r.Code, r.Body)
	}
	if r := c.get(r.Location); !strings.Contains(r.Body, "carevisit visits recompute") {
		t.Error("no recompute hint after a geofence change")
	}
	after, _ := e.st.DirClient(ctx, store.Scope{OrgID: e.org}, cli)
	if after.RadiusM != 55 || after.CenterLat != 54.6293 || !after.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("client after edit: %+v (updated %v, was %v)", after.Client, after.UpdatedAt, before.UpdatedAt)
	}
	if n := auditCount(t, e.st, "client", cli); n != 2 {
		t.Errorf("client audit rows: %d, want 2 (create, update)", n)
	}

	// Workers: group, device, clients.
	fieldError(t, c.post("/staff/workers", url.Values{"name": {"Соколова"}, "phone": {"позвоните мне"}}), "phone", "цифрами")
	wid := created(t, c.post("/staff/workers", url.Values{"name": {"Соколова Елена"}, "phone": {"+7 910 100-00-01"}, "group": {itoa(gid)},
		"device": {itoa(dev.ID)}, "clients": {itoa(cli), itoa(poly)}}), "/staff/workers/")
	w, err := e.st.DirWorker(ctx, store.Scope{OrgID: e.org}, wid)
	if err != nil || w.DeviceID != dev.ID || w.GroupID != gid || len(w.ClientIDs) != 2 {
		t.Fatalf("worker stored as %+v, %v", w, err)
	}
	// The held device is not offered to another worker, and is refused.
	if r := c.get("/staff/workers"); strings.Contains(section(r.Body, `<select id="device"`, `</select>`), `<option value="`+itoa(dev.ID)+`"`) {
		t.Error("a held device is offered for a new worker")
	}
	fieldError(t, c.post("/staff/workers", url.Values{"name": {"Морозов"}, "device": {itoa(dev.ID)}}), "device", "закреплено за другим")
	r = c.post("/staff/workers/"+itoa(wid), url.Values{"name": {"Соколова Елена Викторовна"}, "group": {itoa(gid)}, "clients": {itoa(cli)}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("edit worker: %d", r.Code)
	}
	w, _ = e.st.DirWorker(ctx, store.Scope{OrgID: e.org}, wid)
	if w.FullName != "Соколова Елена Викторовна" || w.DeviceID != 0 || len(w.ClientIDs) != 1 {
		t.Errorf("worker after edit: %+v", w)
	}
	var beforeJSON, afterJSON string
	e.st.Pool.QueryRow(ctx, `SELECT before::text, after::text FROM audit_log WHERE entity = 'worker' AND entity_id = $1 AND action = 'update'`, wid).
		Scan(&beforeJSON, &afterJSON)
	if !strings.Contains(beforeJSON, "Соколова Елена\"") || !strings.Contains(afterJSON, "Викторовна") {
		t.Errorf("worker audit before/after: %s / %s", beforeJSON, afterJSON)
	}

	// Services and a client's programme.
	fieldError(t, c.post("/staff/services", url.Values{"name": {"Приготовление пищи"}, "norm": {"-3"}}), "norm", "от 0 до 600")
	r = c.post("/staff/services", url.Values{"name": {"Приготовление пищи"}, "norm": {"30"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("add service: %d", r.Code)
	}
	svcs, _ := e.st.Services(ctx, e.org)
	if len(svcs) != 1 || svcs[0].NormMinutes != 30 || !svcs[0].Active {
		t.Fatalf("services: %+v", svcs)
	}
	sid := svcs[0].ID
	if r := c.post("/staff/services/"+itoa(sid), url.Values{"name": {"Приготовление пищи"}, "norm": {"35"}, "active": {"on"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("edit service: %d", r.Code)
	}
	if r := c.post("/staff/clients/"+itoa(cli)+"/services", url.Values{"services": {itoa(sid)}}); r.Code != http.StatusSeeOther {
		t.Fatalf("client services: %d", r.Code)
	}
	if r := c.get("/staff/clients/" + itoa(cli)); !strings.Contains(r.Body, `id="service-`+itoa(sid)+`" name="services" value="`+itoa(sid)+`" checked`) {
		t.Error("client's service not ticked on the client page")
	}

	// Planned visits.
	plan := url.Values{"client": {itoa(cli)}, "worker": {itoa(wid)}, "weekday": {"3"}, "start": {"10:00"}, "end": {"09:30"}, "services": {itoa(sid)}}
	fieldError(t, c.post("/staff/plans", plan), "end", "позже начала")
	plan.Set("end", "11:00")
	if r := c.post("/staff/plans", plan); r.Code != http.StatusSeeOther {
		t.Fatalf("add plan: %d %s", r.Code, r.Body)
	}
	ps, _ := e.st.Plans(ctx, store.Scope{OrgID: e.org}, store.PlanFilter{ClientID: cli})
	if len(ps) != 1 || ps[0].StartMin != 600 || ps[0].EndMin != 660 || ps[0].Weekday != 3 || !ps[0].Active {
		t.Fatalf("plans: %+v", ps)
	}
	for _, path := range []string{"/staff/clients/" + itoa(cli), "/staff/workers/" + itoa(wid), "/staff/plans?worker=" + itoa(wid)} {
		if r := c.get(path); !strings.Contains(r.Body, "Среда") || !strings.Contains(r.Body, "10:00–11:00") {
			t.Errorf("%s does not list the plan", path)
		}
	}
	plan.Del("active") // untick: cancel the plan
	if r := c.post("/staff/plans/"+itoa(ps[0].ID), plan); r.Code != http.StatusSeeOther {
		t.Fatalf("edit plan: %d", r.Code)
	}
	if p, _ := e.st.PlanByID(ctx, store.Scope{OrgID: e.org}, ps[0].ID); p.Active {
		t.Error("plan still active after untick")
	}

	// Every list and page renders, in both languages.
	for _, path := range []string{"/staff/workers", "/staff/devices", "/staff/groups", "/staff/clients", "/staff/clients/new",
		"/staff/clients/map", "/staff/services", "/staff/plans", "/staff/devices/" + itoa(dev.ID), "/staff/plans/" + itoa(ps[0].ID)} {
		for _, lang := range []string{"ru", "en"} {
			r := c.get(path + "?lang=" + lang)
			if r.Code != http.StatusOK {
				t.Errorf("%s (%s): %d", path, lang, r.Code)
			}
			if regexp.MustCompile(`>dir\.[a-z_.]+<`).MatchString(r.Body) || strings.Contains(r.Body, "%!") {
				t.Errorf("%s (%s) shows an untranslated key or a bad format", path, lang)
			}
		}
	}
	if r := c.get("/staff/clients/map"); !strings.Contains(r.Body, `"name":"Петров Сергей"`) {
		t.Error("map data lacks a client")
	}
}

// section is the part of s from start to the next end.
func section(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// dirOrg fills an organisation with a group, device, worker, client,
// service and plan named after tag, returning their ids.
type dirIDs struct{ group, device, worker, client, service, plan, app int64 }

func dirOrg(t *testing.T, st *store.Store, org int64, tag string, imei string) dirIDs {
	t.Helper()
	ctx := context.Background()
	sc := store.Scope{OrgID: org}
	var d dirIDs
	var err error
	must := func(id int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	d.group = must(st.SaveGroup(ctx, sc, store.DirGroup{Name: "Группа " + tag}))
	d.device = must(st.SaveDevice(ctx, sc, store.DirDevice{Ident: imei, Protocol: "gt06", Name: "Трекер " + tag}, nil))
	d.app = must(st.SaveDevice(ctx, sc, store.DirDevice{Ident: "app-" + tag, Protocol: "app", Name: "Телефон " + tag}, sha256.New().Sum([]byte(tag))))
	d.client, _, err = st.SaveClient(ctx, sc, store.Client{FullName: "Клиент " + tag, Address: "Адрес " + tag, FenceKind: "circle",
		CenterLat: 54.6, CenterLon: 39.7, RadiusM: 40})
	must(0, err)
	d.worker = must(st.SaveWorker(ctx, sc, store.DirWorker{FullName: "Работник " + tag, GroupID: d.group, DeviceID: d.device,
		ClientIDs: []int64{d.client}}))
	d.service = must(st.SaveService(ctx, sc, store.Service{Name: "Услуга " + tag, NormMinutes: 20, Active: true}))
	d.plan = must(st.SavePlan(ctx, sc, store.Plan{ClientID: d.client, WorkerID: d.worker, Weekday: 1, StartMin: 600, EndMin: 660,
		ServiceIDs: []int64{d.service}, Active: true}))
	return d
}

func TestDirectoryOtherOrganisation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := dirOrg(t, e.st, e.org, "Альфа", "864717003283581")
	orgB, _ := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Samara")
	dirOrg(t, e.st, orgB, "Бета", "864717003283599")
	secret := []string{"Альфа"}

	for _, role := range []string{store.RoleAdmin, store.RoleSupervisor, store.RoleAuditor} {
		c := e.dirLogin(orgB, role+"@south.ru", role)
		gets := []string{"/staff/workers/" + itoa(a.worker), "/staff/devices/" + itoa(a.device), "/staff/devices/" + itoa(a.app),
			"/staff/clients/" + itoa(a.client), "/staff/plans/" + itoa(a.plan)}
		for _, p := range gets {
			if r := c.get(p); r.Code != http.StatusNotFound {
				t.Errorf("%s GET %s: %d, want 404", role, p, r.Code)
			}
		}
		for _, p := range []string{"/staff/workers", "/staff/devices", "/staff/groups", "/staff/clients", "/staff/clients/map",
			"/staff/services", "/staff/plans", "/staff/plans?client=" + itoa(a.client), "/staff/plans?worker=" + itoa(a.worker)} {
			r := c.get(p)
			for _, s := range secret {
				if strings.Contains(r.Body, s) {
					t.Errorf("%s GET %s shows the other organisation's %q", role, p, s)
				}
			}
		}
		posts := map[string]url.Values{
			"/staff/workers/" + itoa(a.worker):               {"name": {"x"}},
			"/staff/devices/" + itoa(a.device):               {"protocol": {"gt06"}, "ident": {"864717003283581"}},
			"/staff/devices/" + itoa(a.app) + "/token":       {},
			"/staff/groups/" + itoa(a.group):                 {"name": {"x"}},
			"/staff/clients/" + itoa(a.client):               {"name": {"x"}, "fence_kind": {"circle"}, "lat": {"1"}, "lon": {"1"}, "radius": {"10"}},
			"/staff/clients/" + itoa(a.client) + "/services": {"services": {}},
			"/staff/services/" + itoa(a.service):             {"name": {"x"}, "norm": {"1"}},
			"/staff/plans/" + itoa(a.plan):                   {"client": {itoa(a.client)}, "worker": {itoa(a.worker)}, "weekday": {"1"}, "start": {"10:00"}, "end": {"11:00"}},
		}
		for p, f := range posts {
			r := c.post(p, f)
			if r.Code != http.StatusNotFound && r.Code != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 404 or 403", role, p, r.Code)
			}
			for _, s := range secret {
				if strings.Contains(r.Body, s) {
					t.Errorf("%s POST %s shows %q", role, p, s)
				}
			}
		}
		// Creating with the other organisation's ids refers to nothing.
		creates := map[string]url.Values{
			"/staff/workers": {"name": {"Чужой"}, "group": {itoa(a.group)}, "device": {itoa(a.device)}, "clients": {itoa(a.client)}},
			"/staff/plans":   {"client": {itoa(a.client)}, "worker": {itoa(a.worker)}, "weekday": {"1"}, "start": {"10:00"}, "end": {"11:00"}},
		}
		for p, f := range creates {
			r := c.post(p, f)
			if r.Code == http.StatusSeeOther {
				t.Errorf("%s POST %s with foreign ids succeeded", role, p)
			}
			for _, s := range secret {
				if strings.Contains(r.Body, s) {
					t.Errorf("%s POST %s shows %q", role, p, s)
				}
			}
		}
	}
	// Nothing of org A changed.
	w, _ := e.st.DirWorker(ctx, store.Scope{OrgID: e.org}, a.worker)
	cl, _ := e.st.DirClient(ctx, store.Scope{OrgID: e.org}, a.client)
	if w.FullName != "Работник Альфа" || cl.FullName != "Клиент Альфа" || len(cl.WorkerIDs) != 1 {
		t.Errorf("org A changed: %+v %+v", w, cl.Client)
	}
	var n int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM planned_visits WHERE org_id = $1`, e.org).Scan(&n)
	if n != 1 {
		t.Errorf("org A plans: %d", n)
	}
}

func TestDirectorySupervisorAndAuditor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sc := store.Scope{OrgID: e.org}
	a := dirOrg(t, e.st, e.org, "Север", "864717003283581")
	// A second group with its own worker and client.
	g2, _ := e.st.SaveGroup(ctx, sc, store.DirGroup{Name: "Группа Юг"})
	c2, _, _ := e.st.SaveClient(ctx, sc, store.Client{FullName: "Клиент Юг", FenceKind: "circle", CenterLat: 54, CenterLon: 39, RadiusM: 30})
	w2, err := e.st.SaveWorker(ctx, sc, store.DirWorker{FullName: "Работник Юг", GroupID: g2, ClientIDs: []int64{c2}})
	if err != nil {
		t.Fatal(err)
	}
	supID := e.user(e.org, "sup@example.ru", store.RoleSupervisor, dirPW)
	if err := e.st.SetSupervisorGroups(ctx, e.org, supID, []int64{a.group}); err != nil {
		t.Fatal(err)
	}
	sup := e.client()
	sup.login("sup@example.ru", dirPW)

	r := sup.get("/staff/workers")
	if !strings.Contains(r.Body, "Работник Север") || strings.Contains(r.Body, "Работник Юг") {
		t.Errorf("supervisor's worker list: want only their group's worker")
	}
	if r := sup.get("/staff/clients"); !strings.Contains(r.Body, "Клиент Север") || strings.Contains(r.Body, "Клиент Юг") {
		t.Errorf("supervisor's client list: want only their workers' clients")
	}
	for _, p := range []string{"/staff/workers/" + itoa(w2), "/staff/clients/" + itoa(c2)} {
		if r := sup.get(p); r.Code != http.StatusNotFound {
			t.Errorf("supervisor GET %s: %d, want 404", p, r.Code)
		}
	}
	if r := sup.get("/staff/plans"); strings.Contains(r.Body, "Юг") {
		t.Error("supervisor's plans page shows another group")
	}
	// Supervisors edit their clients, not create directory entries.
	r = sup.post("/staff/clients/"+itoa(a.client), url.Values{"name": {"Клиент Север"}, "fence_kind": {"circle"}, "lat": {"54.6"},
		"lon": {"39.7"}, "radius": {"60"}})
	if r.Code != http.StatusSeeOther {
		t.Errorf("supervisor edits their client: %d", r.Code)
	}
	if r := sup.post("/staff/clients/"+itoa(c2), url.Values{"name": {"x"}, "fence_kind": {"circle"}, "lat": {"1"}, "lon": {"1"}, "radius": {"10"}}); r.Code != http.StatusNotFound {
		t.Errorf("supervisor edits another group's client: %d, want 404", r.Code)
	}
	if r := sup.post("/staff/groups", url.Values{"name": {"Новая"}}); r.Code != http.StatusForbidden {
		t.Errorf("supervisor creates a group: %d, want 403", r.Code)
	}
	// A supervisor cannot move their worker out of their groups.
	r = sup.post("/staff/workers/"+itoa(a.worker), url.Values{"name": {"Работник Север"}, "group": {itoa(g2)}})
	fieldError(t, r, "group", "Выберите")

	// Auditors read everything and change nothing.
	aud := e.dirLogin(e.org, "aud@example.ru", store.RoleAuditor)
	if r := aud.get("/staff/workers"); r.Code != 200 || !strings.Contains(r.Body, "Работник Юг") {
		t.Errorf("auditor's worker list: %d", r.Code)
	}
	if r := aud.get("/staff/clients/" + itoa(a.client)); r.Code != 200 || strings.Contains(r.Body, `id="save"`) {
		t.Errorf("auditor's client page: %d, must have no save button", r.Code)
	}
	e.st.NoteUnknown(ctx, store.UnknownDevice{Protocol: "h02", Ident: "4210051415", RemoteAddr: "10.0.0.1:5000", LastSeen: time.Now(), Count: 1})
	posts := []string{"/staff/workers", "/staff/workers/" + itoa(a.worker), "/staff/devices", "/staff/devices/register",
		"/staff/devices/" + itoa(a.device), "/staff/devices/" + itoa(a.app) + "/token", "/staff/groups", "/staff/groups/" + itoa(a.group),
		"/staff/clients", "/staff/clients/" + itoa(a.client), "/staff/clients/" + itoa(a.client) + "/services", "/staff/services",
		"/staff/services/" + itoa(a.service), "/staff/plans", "/staff/plans/" + itoa(a.plan)}
	var before int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&before)
	for _, p := range posts {
		if r := aud.post(p, url.Values{"name": {"x"}, "protocol": {"h02"}, "ident": {"4210051415"}}); r.Code != http.StatusForbidden {
			t.Errorf("auditor POST %s: %d, want 403", p, r.Code)
		}
	}
	var after int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&after)
	if after != before {
		t.Errorf("auditor's POSTs changed something: %d audit rows added", after-before)
	}
}

func TestUnknownDeviceRegistration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.st.NoteUnknown(ctx, store.UnknownDevice{Protocol: "h02", Ident: "4210051415", RemoteAddr: "10.1.2.3:40000",
		LastSeen: time.Now(), Count: 3}); err != nil {
		t.Fatal(err)
	}
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	r := c.get("/staff/devices")
	// Offered masked (the list is shared by every organisation), without
	// its network address.
	if !strings.Contains(r.Body, `data-tail="415"`) || !strings.Contains(r.Body, "•••••••415") {
		t.Fatalf("unknown device not offered masked:\n%s", r.Body)
	}
	if strings.Contains(r.Body, "4210051415") || strings.Contains(r.Body, "10.1.2.3") {
		t.Fatal("the unknown list shows another organisation's possible device number or address")
	}
	// A mistyped number is explained next to the list, nothing registered.
	r = c.post("/staff/devices/register", url.Values{"protocol": {"h02"}, "ident": {"4210051416"}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "не выходило на связь") || !strings.Contains(r.Body, `value="4210051416" aria-invalid="true"`) {
		t.Errorf("mistyped IMEI: %d\n%s", r.Code, r.Body)
	}
	if _, err := e.st.DeviceByIdent(ctx, "4210051416"); err == nil {
		t.Error("a mistyped number was registered")
	}
	id := created(t, c.post("/staff/devices/register", url.Values{"protocol": {"h02"}, "ident": {"4210051415"}}), "/staff/devices/")
	d, err := e.st.DeviceByIdent(ctx, "4210051415")
	if err != nil || d.ID != id || d.OrgID != e.org || d.Protocol != "h02" {
		t.Fatalf("registered device %+v, %v", d, err)
	}
	if u, _ := e.st.UnknownDevices(ctx); len(u) != 0 {
		t.Errorf("still unknown: %+v", u)
	}
	r = c.get("/staff/devices")
	if strings.Contains(r.Body, `data-tail="415"`) || !strings.Contains(r.Body, `href="/staff/devices/`+itoa(id)+`"`) {
		t.Error("device not moved from the unknown list to the devices")
	}
	// A second click (another tab) does not fail loudly nor duplicate.
	if r := c.post("/staff/devices/register", url.Values{"protocol": {"h02"}, "ident": {"4210051415"}}); r.Code != http.StatusSeeOther {
		t.Errorf("second registration: %d", r.Code)
	}
	if n := auditCount(t, e.st, "device", id); n != 1 {
		t.Errorf("audit rows for the registration: %d", n)
	}
}

var tokenRe = regexp.MustCompile(`id="device-token" readonly value="([A-Za-z0-9_-]{20,})"`)

func TestDeviceTokenShownOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	r := c.post("/staff/devices", url.Values{"protocol": {"app"}, "ident": {""}, "name": {"Телефон Соколовой"}})
	if r.Code != http.StatusOK {
		t.Fatalf("add app device: %d", r.Code)
	}
	m := tokenRe.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no token shown:\n%s", r.Body)
	}
	tok := m[1]
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token page Cache-Control %q, want no-store", cc)
	}
	var id int64
	var ident string
	var hash []byte
	if err := e.st.Pool.QueryRow(ctx, `SELECT id, ident, token_hash FROM devices WHERE org_id = $1`, e.org).Scan(&id, &ident, &hash); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(tok))
	if !bytes.Equal(hash, want[:]) {
		t.Errorf("stored hash %x is not SHA-256 of the shown token", hash)
	}
	if !strings.HasPrefix(ident, "app-") {
		t.Errorf("generated ident %q", ident)
	}
	var leaked int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE before::text LIKE '%'||$1||'%' OR after::text LIKE '%'||$1||'%'`, tok).Scan(&leaked)
	if leaked != 0 {
		t.Error("the token is in the audit log")
	}
	for _, p := range []string{"/staff/devices/" + itoa(id), "/staff/devices"} {
		if r := c.get(p); strings.Contains(r.Body, tok) {
			t.Errorf("%s shows the token again", p)
		}
	}
	// A new token replaces the old one.
	r = c.post("/staff/devices/"+itoa(id)+"/token", url.Values{})
	m = tokenRe.FindStringSubmatch(r.Body)
	if r.Code != http.StatusOK || m == nil || m[1] == tok {
		t.Fatalf("new token: %d %v", r.Code, m)
	}
	e.st.Pool.QueryRow(ctx, `SELECT token_hash FROM devices WHERE id = $1`, id).Scan(&hash)
	want = sha256.Sum256([]byte(m[1]))
	if !bytes.Equal(hash, want[:]) {
		t.Error("new token's hash not stored")
	}
	// Trackers have no token to renew.
	tid := dirOrg(t, e.st, e.org, "T", "864717003283581").device
	if r := c.post("/staff/devices/"+itoa(tid)+"/token", url.Values{}); r.Code != http.StatusNotFound {
		t.Errorf("token for a tracker: %d, want 404", r.Code)
	}
}

func TestDirectoryMissedVisitsShown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := dirOrg(t, e.st, e.org, "М", "864717003283581")
	msk, _ := time.LoadLocation("Europe/Moscow")
	now := time.Now().In(msk)
	// The plan's window: the hour that began three hours ago (Moscow time).
	start := now.Add(-3 * time.Hour).Truncate(time.Hour)
	wd := int(start.Weekday())
	if wd == 0 {
		wd = 7
	}
	if _, err := e.st.Pool.Exec(ctx, `UPDATE planned_visits SET weekday = $1, start_min = $2, end_min = $2 + 60, created_at = $3`,
		wd, start.Hour()*60, start.AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	n, err := e.st.DetectMissed(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("DetectMissed = %d, %v; want 1", n, err)
	}
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	for _, p := range []string{"/staff/clients/" + itoa(a.client), "/staff/workers/" + itoa(a.worker)} {
		if r := c.get(p); !strings.Contains(r.Body, `id="missed"`) || !strings.Contains(r.Body, start.Format("02.01.2006 15:04")) {
			t.Errorf("%s does not show the missed window", p)
		}
	}
}

func TestSeedDemoDirectory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sc := store.Scope{OrgID: e.org}
	var clients []int64
	for _, n := range []string{"Иванова", "Петров", "Смирнова"} {
		id, _, _ := e.st.SaveClient(ctx, sc, store.Client{FullName: n, FenceKind: "circle", CenterLat: 54.6, CenterLon: 39.7, RadiusM: 40})
		clients = append(clients, id)
	}
	e.st.SaveWorker(ctx, sc, store.DirWorker{FullName: "Соколова", ClientIDs: clients[:2]})
	e.st.SaveWorker(ctx, sc, store.DirWorker{FullName: "Морозов", ClientIDs: clients[2:]})
	for i := 0; i < 2; i++ {
		if err := cabinet.SeedDemoDirectory(ctx, e.st, e.org); err != nil {
			t.Fatal(err)
		}
	}
	svcs, _ := e.st.Services(ctx, e.org)
	plans, _ := e.st.Plans(ctx, sc, store.PlanFilter{})
	if len(svcs) != 5 || len(plans) != 15 {
		t.Fatalf("seeded %d services and %d plans, want 5 and 15 (3 clients × 5 weekdays), once", len(svcs), len(plans))
	}
	cook := svcs[0].NormMinutes
	for _, s := range svcs {
		if s.Name == "Приготовление пищи" {
			cook = s.NormMinutes
		}
	}
	if cook != 30 {
		t.Errorf("cooking norm %d, want 30", cook)
	}
	for _, id := range clients {
		c, _ := e.st.DirClient(ctx, sc, id)
		if len(c.ServiceIDs) < 2 {
			t.Errorf("client %d services %v", id, c.ServiceIDs)
		}
	}
}
