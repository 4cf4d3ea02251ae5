package cabinet_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"carevisit/store"
)

// When the detector says the fixes fit a neighbour's home nearly as well,
// the visit page names that neighbour (linked) for those who may see them,
// and says only "another group's" to a supervisor who may not.
func TestVisitPageNamesAmbiguousNeighbour(t *testing.T) {
	e, _ := newAppEnv(t)
	ctx := context.Background()
	ga, _ := e.st.AddGroup(ctx, e.org, "Участок 1")
	gb, _ := e.st.AddGroup(ctx, e.org, "Участок 2")
	w := e.worker(e.org, "Орлов Пётр", "860000000000004")
	cl := e.clientAt(e.org, "Иванова Анна Петровна", "ул. Ленина, 5, п. 1", 55.75, 37.61)
	nb := e.clientAt(e.org, "Петрова Мария Ивановна", "ул. Ленина, 5, п. 2", 55.75, 37.6102)
	other := e.worker(e.org, "Сидоров Иван", "860000000000005")
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, ga, w.worker)
	e.exec(`UPDATE workers SET group_id = $1 WHERE id = $2`, gb, other.worker)
	if err := e.st.AssignClient(ctx, w.worker, cl); err != nil {
		t.Fatal(err)
	}
	if err := e.st.AssignClient(ctx, other.worker, nb); err != nil {
		t.Fatal(err)
	}
	now := msk(2026, 3, 11, 12, 0)
	v := e.visit(e.org, w, cl, now.Add(-40*time.Minute), now.Add(-10*time.Minute))
	sharp := e.visit(e.org, w, cl, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	e.exec(`UPDATE visits SET evidence = evidence || jsonb_build_object('neighbour_id', $1::bigint, 'neighbour_margin', 1.2) WHERE id = $2`, nb, v)

	admin := e.loginAs(e.org, "admin@example.ru", store.RoleAdmin)
	r := admin.get(fmt.Sprintf("/staff/visits/%d", v))
	if !strings.Contains(r.Body, `id="visit-neighbour"`) || !strings.Contains(r.Body, fmt.Sprintf(`<a href="/staff/clients/%d">Петрова Мария Ивановна</a>`, nb)) {
		t.Errorf("admin: no neighbour note naming the neighbour:\n%s", r.Body)
	}
	if strings.Contains(r.Body, "neighbour_id") || strings.Contains(r.Body, "neighbour_margin") {
		t.Error("the raw evidence keys are shown")
	}
	if r := admin.get(fmt.Sprintf("/staff/visits/%d", sharp)); strings.Contains(r.Body, `id="visit-neighbour"`) {
		t.Error("a neighbour note on a visit whose fixes are clear")
	}
	// The log can list the visits worth a look.
	r = admin.get("/staff/visits?from=2026-03-11&to=2026-03-11&flag=neighbour")
	if !strings.Contains(r.Body, fmt.Sprintf(`id="visit-%d"`, v)) || strings.Contains(r.Body, fmt.Sprintf(`id="visit-%d"`, sharp)) ||
		!strings.Contains(r.Body, "flag-neighbour") {
		t.Errorf("flag=neighbour does not select the ambiguous visit only:\n%s", r.Body)
	}
	sup := e.loginAs(e.org, "sup@example.ru", store.RoleSupervisor)
	var uid int64
	e.st.Pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'sup@example.ru'`).Scan(&uid)
	e.st.SetSupervisorGroups(ctx, e.org, uid, []int64{ga})
	r = sup.get(fmt.Sprintf("/staff/visits/%d", v))
	if !strings.Contains(r.Body, `id="visit-neighbour"`) || strings.Contains(r.Body, "Петрова") {
		t.Errorf("supervisor of the worker's group only: want the note without the other group's client's name:\n%s", r.Body)
	}
}
