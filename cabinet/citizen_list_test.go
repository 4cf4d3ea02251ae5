package cabinet_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"carevisit/store"
)

// Staff find the citizens registered with their organisation by name or
// e-mail; other organisations' citizens never appear, and no personal
// numbers are listed.
func TestStaffCitizenList(t *testing.T) {
	e := newCitizenEnv(t)
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 2)
	_, anna := e.citizen("anna@example.ru", "112-233-445 95", dept)
	_, boris := e.citizen("boris@example.ru", "123-456-789 64", dept)
	e.exec(`UPDATE users SET full_name = 'Борисов Борис Борисович' WHERE id = $1`, boris)
	org2, err := e.st.AddOrganisation(ctx, "ЦСО Южный", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	dept2 := e.dept(org2, "Южное отделение", 1)
	_, foreign := e.citizen("foreign@example.ru", "001-001-997 00", dept2)

	aud := e.loginAs(e.org, "auditor@example.ru", store.RoleAuditor)
	r := aud.get("/staff/citizens")
	if r.Code != http.StatusOK || !strings.Contains(r.Body, fmt.Sprintf(`<a href="/staff/citizens/%d">Петрова Анна Ивановна</a>`, anna)) ||
		!strings.Contains(r.Body, fmt.Sprintf(`id="citizen-%d"`, boris)) || !strings.Contains(r.Body, "Отделение №1") {
		t.Fatalf("list: %d\n%s", r.Code, r.Body)
	}
	if strings.Contains(r.Body, fmt.Sprintf(`id="citizen-%d"`, foreign)) || strings.Contains(r.Body, "foreign@example.ru") {
		t.Error("another organisation's citizen is listed")
	}
	if strings.Contains(r.Body, "112-233-445") || strings.Contains(r.Body, "4510") || strings.Contains(r.Body, "500100732259") {
		t.Error("personal numbers in the list")
	}
	r = aud.get("/staff/citizens?q=" + "борис")
	if !strings.Contains(r.Body, fmt.Sprintf(`id="citizen-%d"`, boris)) || strings.Contains(r.Body, fmt.Sprintf(`id="citizen-%d"`, anna)) {
		t.Errorf("search by part of the name, any case:\n%s", r.Body)
	}
	if r := aud.get("/staff/citizens?q=anna%40example"); !strings.Contains(r.Body, fmt.Sprintf(`id="citizen-%d"`, anna)) {
		t.Error("search by e-mail")
	}
	if r := aud.get("/staff/citizens?q=%25"); !strings.Contains(r.Body, `id="citizens-empty"`) {
		t.Error("a % in the search matched everyone")
	}
}
