package cabinet

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

// The staff list of citizens registered with the organisation: find a
// person by name or e-mail and open their file (each opening is audited
// there). Personal numbers are never listed.

func init() {
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		r.Get("/citizens", a.staffCitizens)
	})
	addNav(&staffNavItems, navItem{Key: "citizens", Href: "/staff/citizens", Label: "nav.citizens", Order: 62, Sub: true})
}

// citizenListMax bounds one page: a search narrows it down.
const citizenListMax = 200

type citizenListData struct {
	Q     string
	Rows  []store.CitizenRow
	Total int
	More  bool
}

func (a *App) staffCitizens(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "cit.list.title", "citizens")
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len([]rune(q)) > 100 {
		q = string([]rune(q)[:100])
	}
	rows, total, err := a.st.OrgCitizens(r.Context(), a.scope(r).OrgID, q, citizenListMax)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = citizenListData{Q: q, Rows: rows, Total: total, More: total > len(rows)}
	a.render(w, r, http.StatusOK, "citizen_staff_list", v)
}
