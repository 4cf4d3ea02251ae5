package cabinet

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"carevisit/store"
)

type dirClientsData struct {
	Clients  []store.DirClient
	Client   store.DirClient
	Workers  map[int64]string // worker names by id (in scope), archived ones too
	Gone     map[int64]bool   // archived workers by id
	Archived bool             // the list shows the archive (?archived=1)
	Services []store.Service
	Plans    []dirPlanRow
	Missed   []store.MissedVisit
	// Where the map opens when the client has no fence yet.
	DefaultLat, DefaultLon float64
	Selected               []int64 // services ticked
}

// Geofence limits: a home is a flat or a house with its yard.
const (
	dirMinRadiusM = 5
	dirMaxRadiusM = 1000
	dirMaxPolyM   = 2000 // largest extent of a polygon
)

// dirFloat reads a decimal with a dot or a comma.
func dirFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", "."), 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		err = strconv.ErrSyntax
	}
	return f, err
}

// dirParseFence validates the geofence fields into c.
func dirParseFence(v *view, f map[string][]string, c *store.Client) {
	get := func(k string) string {
		if len(f[k]) > 0 {
			return f[k][0]
		}
		return ""
	}
	c.FenceKind = get("fence_kind")
	switch c.FenceKind {
	case "circle":
		num := func(field string, lo, hi float64, msg string) float64 {
			s := get(field)
			if strings.TrimSpace(s) == "" {
				v.Errors[field] = v.T("form.err.required")
				return 0
			}
			x, err := dirFloat(s)
			if err != nil || x < lo || x > hi {
				v.Errors[field] = v.T(msg)
			}
			return x
		}
		c.CenterLat = num("lat", -90, 90, "dir.err.lat")
		c.CenterLon = num("lon", -180, 180, "dir.err.lon")
		c.RadiusM = num("radius", dirMinRadiusM, dirMaxRadiusM, "dir.err.radius")
		c.Polygon = nil
	case "polygon":
		ring, msg := dirParsePolygon(get("polygon"))
		if msg != "" {
			v.Errors["polygon"] = v.T(msg)
		}
		c.Polygon = ring
		c.CenterLat, c.CenterLon, c.RadiusM = 0, 0, 0
	default:
		v.Errors["fence_kind"] = v.T("dir.err.choose")
	}
}

// dirParsePolygon reads "lat, lon" lines (or ";"-separated pairs) into a
// closed [lon, lat] ring and returns a message key when it is not a usable
// home outline.
func dirParsePolygon(s string) ([][2]float64, string) {
	var pts [][2]float64
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ';' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if len(parts) != 2 {
			// "54,62920, 39,74210": decimal commas.
			parts = strings.Split(line, ", ")
			if len(parts) != 2 {
				return nil, "dir.err.polygon_syntax"
			}
		}
		lat, err1 := dirFloat(parts[0])
		lon, err2 := dirFloat(parts[1])
		if err1 != nil || err2 != nil {
			return nil, "dir.err.polygon_syntax"
		}
		if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return nil, "dir.err.polygon_range"
		}
		p := [2]float64{lon, lat}
		if len(pts) > 0 && pts[len(pts)-1] == p {
			continue // a double click
		}
		pts = append(pts, p)
	}
	if len(pts) > 1 && pts[0] == pts[len(pts)-1] {
		pts = pts[:len(pts)-1]
	}
	distinct := map[[2]float64]bool{}
	for _, p := range pts {
		distinct[p] = true
	}
	if len(distinct) < 3 {
		return nil, "dir.err.polygon_points"
	}
	// Work in metres around the first point: homes are small.
	kx := 111320 * math.Cos(pts[0][1]*math.Pi/180)
	xy := make([][2]float64, len(pts))
	for i, p := range pts {
		xy[i] = [2]float64{(p[0] - pts[0][0]) * kx, (p[1] - pts[0][1]) * 110540}
	}
	var area float64
	for i := range xy {
		j := (i + 1) % len(xy)
		area += xy[i][0]*xy[j][1] - xy[j][0]*xy[i][1]
		for k := range xy {
			if math.Hypot(xy[i][0]-xy[k][0], xy[i][1]-xy[k][1]) > dirMaxPolyM {
				return nil, "dir.err.polygon_large"
			}
		}
	}
	if dirSelfIntersects(xy) {
		return nil, "dir.err.polygon_crossing"
	}
	if math.Abs(area)/2 < 4 {
		return nil, "dir.err.polygon_flat"
	}
	return append(pts, pts[0]), ""
}

// dirSelfIntersects reports whether two non-adjacent edges of the closed ring
// of points cross or touch.
func dirSelfIntersects(p [][2]float64) bool {
	n := len(p)
	for i := 0; i < n; i++ {
		a, b := p[i], p[(i+1)%n]
		for j := i + 1; j < n; j++ {
			if j == i+1 || (i == 0 && j == n-1) {
				continue // adjacent edges share a vertex
			}
			if dirSegmentsCross(a, b, p[j], p[(j+1)%n]) {
				return true
			}
		}
	}
	return false
}

func dirSegmentsCross(a, b, c, d [2]float64) bool {
	orient := func(p, q, r [2]float64) float64 {
		return (q[0]-p[0])*(r[1]-p[1]) - (q[1]-p[1])*(r[0]-p[0])
	}
	onSeg := func(p, q, r [2]float64) bool { // r on segment pq, given collinear
		return math.Min(p[0], q[0]) <= r[0] && r[0] <= math.Max(p[0], q[0]) &&
			math.Min(p[1], q[1]) <= r[1] && r[1] <= math.Max(p[1], q[1])
	}
	d1, d2, d3, d4 := orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && onSeg(c, d, a)) || (d2 == 0 && onSeg(c, d, b)) ||
		(d3 == 0 && onSeg(a, b, c)) || (d4 == 0 && onSeg(a, b, d))
}

// dirPolygonText is the form's "lat, lon" lines for a ring.
func dirPolygonText(ring [][2]float64) string {
	if len(ring) > 1 && ring[0] == ring[len(ring)-1] {
		ring = ring[:len(ring)-1]
	}
	var b strings.Builder
	for _, p := range ring {
		fmt.Fprintf(&b, "%s, %s\n", dirCoord(p[1]), dirCoord(p[0]))
	}
	return b.String()
}

func dirCoord(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func dirParseClient(v *view, r *http.Request) store.Client {
	f := r.PostForm
	c := store.Client{
		FullName: dirText(v, "name", f.Get("name"), true, 200),
		Address:  dirText(v, "address", f.Get("address"), false, 300),
		Phone:    dirPhone(v, "phone", f.Get("phone")),
		Notes:    dirText(v, "notes", f.Get("notes"), false, 2000),
	}
	dirParseFence(v, f, &c)
	return c
}

func dirClientForm(v *view, c store.DirClient) {
	v.Form.Set("name", c.FullName)
	v.Form.Set("address", c.Address)
	v.Form.Set("phone", c.Phone)
	v.Form.Set("notes", c.Notes)
	v.Form.Set("fence_kind", c.FenceKind)
	if c.FenceKind == "circle" {
		v.Form.Set("lat", dirCoord(c.CenterLat))
		v.Form.Set("lon", dirCoord(c.CenterLon))
		v.Form.Set("radius", dirCoord(c.RadiusM))
	} else {
		v.Form.Set("polygon", dirPolygonText(c.Polygon))
	}
	v.Form["services"] = dirIDStrings(c.ServiceIDs)
}

func (a *App) clientList(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "dir.clients.title", "clients")
	sc := a.scope(r)
	d := dirClientsData{Archived: r.URL.Query().Get("archived") == "1"}
	f := store.NotArchived
	if d.Archived {
		f = store.OnlyArchived
	}
	var err error
	if d.Clients, err = a.st.DirClientsIn(r.Context(), sc, f); err != nil {
		a.serverError(w, r, err)
		return
	}
	if d.Workers, d.Gone, err = a.workerNames(r, sc); err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = d
	a.render(w, r, http.StatusOK, "dir_clients", v)
}

// workerNames names every worker in scope, archived ones too (they still
// served the client), and tells which are archived.
func (a *App) workerNames(r *http.Request, sc store.Scope) (map[int64]string, map[int64]bool, error) {
	ws, err := a.st.DirWorkersIn(r.Context(), sc, store.AnyArchived)
	m, gone := map[int64]string{}, map[int64]bool{}
	for _, w := range ws {
		m[w.ID] = w.FullName
		if w.Archived() {
			gone[w.ID] = true
		}
	}
	return m, gone, err
}

// dirMapHome is a client's home for the map of all homes.
type dirMapHome struct {
	ID      int64        `json:"id"`
	Name    string       `json:"name"`
	Address string       `json:"address"`
	Kind    string       `json:"kind"`
	Lat     float64      `json:"lat"`
	Lon     float64      `json:"lon"`
	RadiusM float64      `json:"r"`
	Polygon [][2]float64 `json:"poly,omitempty"`
}

func (a *App) clientMap(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "dir.clients.map_title", "clients")
	cs, err := a.st.DirClients(r.Context(), a.scope(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	homes := make([]dirMapHome, 0, len(cs))
	for _, c := range cs {
		homes = append(homes, dirMapHome{ID: c.ID, Name: c.FullName, Address: c.Address, Kind: c.FenceKind,
			Lat: c.CenterLat, Lon: c.CenterLon, RadiusM: c.RadiusM, Polygon: c.Polygon})
	}
	v.Data = homes
	a.render(w, r, http.StatusOK, "dir_clients_map", v)
}

// dirDefaultCentre is where a new client's map opens: the middle of the
// organisation's other homes, or Moscow.
func dirDefaultCentre(cs []store.DirClient) (float64, float64) {
	var lat, lon float64
	n := 0
	for _, c := range cs {
		if c.FenceKind == "circle" {
			lat, lon, n = lat+c.CenterLat, lon+c.CenterLon, n+1
		} else if len(c.Polygon) > 0 {
			lat, lon, n = lat+c.Polygon[0][1], lon+c.Polygon[0][0], n+1
		}
	}
	if n == 0 {
		return 55.7558, 37.6173
	}
	return lat / float64(n), lon / float64(n)
}

func (a *App) clientNew(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "dir.client.new_title", "clients")
	v.Form.Set("fence_kind", "circle")
	v.Form.Set("radius", "40")
	a.clientPage(w, r, http.StatusOK, v, store.DirClient{})
}

func (a *App) clientPage(w http.ResponseWriter, r *http.Request, status int, v *view, c store.DirClient) {
	ctx := r.Context()
	sc := a.scope(r)
	d := dirClientsData{Client: c}
	var err error
	if c.ID == 0 {
		all, err := a.st.DirClients(ctx, sc)
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		d.DefaultLat, d.DefaultLon = dirDefaultCentre(all)
	} else {
		d.DefaultLat, d.DefaultLon = dirDefaultCentre([]store.DirClient{c})
		if d.Workers, d.Gone, err = a.workerNames(r, sc); err != nil {
			a.serverError(w, r, err)
			return
		}
		if d.Services, err = a.st.Services(ctx, sc.OrgID); err != nil {
			a.serverError(w, r, err)
			return
		}
		plans, err := a.st.Plans(ctx, sc, store.PlanFilter{ClientID: c.ID})
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		if d.Plans, err = a.planRows(r, sc, plans); err != nil {
			a.serverError(w, r, err)
			return
		}
		if d.Missed, err = a.st.MissedVisits(ctx, sc, c.ID, 0, time.Now().AddDate(0, 0, -14)); err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	d.Selected = dirIDs(v.Form["services"])
	v.Data = d
	a.render(w, r, status, "dir_client", v)
}

func (a *App) clientCreate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	v := a.newView(r, "dir.client.new_title", "clients")
	v.Form = r.PostForm
	c := dirParseClient(v, r)
	if len(v.Errors) > 0 {
		a.clientPage(w, r, http.StatusUnprocessableEntity, v, store.DirClient{})
		return
	}
	id, _, err := a.st.SaveClient(r.Context(), a.scope(r), c)
	if a.dirErr(w, r, err) {
		return
	}
	a.audited(r, "client", id)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/clients/"+strconv.FormatInt(id, 10))
}

func (a *App) clientShow(w http.ResponseWriter, r *http.Request) {
	c, err := a.st.DirClient(r.Context(), a.scope(r), dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.client.title", "clients")
	dirClientForm(v, c)
	a.clientPage(w, r, http.StatusOK, v, c)
}

func (a *App) clientUpdate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	old, err := a.st.DirClient(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	if dirArchivedEdit(a, w, r, old.Archived(), "/staff/clients/"+strconv.FormatInt(old.ID, 10)) {
		return
	}
	v := a.newView(r, "dir.client.title", "clients")
	v.Form = r.PostForm
	v.Form["services"] = dirIDStrings(old.ServiceIDs)
	c := dirParseClient(v, r)
	c.ID = old.ID
	if len(v.Errors) > 0 {
		a.clientPage(w, r, http.StatusUnprocessableEntity, v, old)
		return
	}
	_, changed, err := a.st.SaveClient(r.Context(), sc, c)
	if a.dirErr(w, r, err) {
		return
	}
	a.audited(r, "client", c.ID)
	if changed {
		// Live detection picks the new fence up on its next reload; visits
		// already stored keep the old one until recomputed.
		a.flash(w, "dir.clients.flash.fence_changed")
	} else {
		a.flash(w, "dir.flash.saved")
	}
	a.redirect(w, r, "/staff/clients/"+strconv.FormatInt(c.ID, 10))
}

func (a *App) clientServices(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	c, err := a.st.DirClient(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	if dirArchivedEdit(a, w, r, c.Archived(), "/staff/clients/"+strconv.FormatInt(c.ID, 10)) {
		return
	}
	ids := dirIDs(r.PostForm["services"])
	services, err := a.st.Services(r.Context(), sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !dirOneOf(ids, services, func(s store.Service) int64 { return s.ID }) {
		v := a.newView(r, "dir.client.title", "clients")
		dirClientForm(v, c)
		v.Form["services"] = r.PostForm["services"]
		v.Errors["services"] = v.T("dir.err.choose")
		a.clientPage(w, r, http.StatusUnprocessableEntity, v, c)
		return
	}
	if a.dirErr(w, r, a.st.SetClientServices(r.Context(), sc, c.ID, ids)) {
		return
	}
	a.audited(r, "client services", c.ID)
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/clients/"+strconv.FormatInt(c.ID, 10))
}

// ---- archive ----

func (a *App) clientArchive(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	c, err := a.st.DirClient(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.client.title", "clients")
	reason := dirArchiveReason(v, r)
	if len(v.Errors) > 0 {
		dirClientForm(v, c)
		v.Form.Set("reason", r.PostFormValue("reason"))
		a.clientPage(w, r, http.StatusUnprocessableEntity, v, c)
		return
	}
	a.archived(w, r, a.st.ArchiveClient(r.Context(), sc, c.ID, reason), "client archived", c.ID,
		"/staff/clients/"+strconv.FormatInt(c.ID, 10), "dir.archive.flash.client_archived")
}

func (a *App) clientRestore(w http.ResponseWriter, r *http.Request) {
	id := dirID(r)
	a.archived(w, r, a.st.RestoreClient(r.Context(), a.scope(r), id), "client restored", id,
		"/staff/clients/"+strconv.FormatInt(id, 10), "dir.archive.flash.client_restored")
}
