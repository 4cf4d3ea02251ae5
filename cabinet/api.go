package cabinet

// The worker app API: JSON over HTTP at /api/v1 for the social workers'
// phones. A phone is a device with protocol 'app' holding a token (only its
// SHA-256 is stored), sent as "Authorization: Bearer <token>". Every
// request acts as the device's worker, within the worker's organisation.
// The contract is docs/openapi.json; a test checks every route is there.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

func init() {
	rootModules = append(rootModules, func(a *App, r chi.Router) { a.apiRoutes(r) })
	staffModules = append(staffModules, func(a *App, r chi.Router) {
		r.Get("/photos/{id}", a.staffPhoto)
		r.Get("/messages", a.msgList)
		r.Get("/messages/{workerID}", a.msgThread)
		r.With(a.requireWrite).Post("/messages/{workerID}", a.msgReply)
	})
	addNav(&staffNavItems, navItem{Key: "messages", Href: "/staff/messages", Label: "nav.messages", Order: 70})
}

// apiRoutes mounts the app API; the OpenAPI test walks exactly these.
func (a *App) apiRoutes(r chi.Router) {
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(a.apiAuth)
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			apiError(w, http.StatusNotFound, "not_found", "no such endpoint", "")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed here", "")
		})
		r.Get("/me", a.apiMe)
		r.Post("/pings", a.apiPings)
		r.Post("/checkins", a.apiCheckin)
		r.Post("/services", a.apiServices)
		r.Post("/photos", a.apiPhotoUpload)
		r.Get("/photos/{id}", a.apiPhoto)
		r.Get("/messages", a.apiMessages)
		r.Post("/messages", a.apiMessageSend)
	})
}

// OnPhonePositions sets where fixes uploaded by the app go once committed
// (the live visit detector). Without it they go to Deps.Tracker, if any.
// Call before serving.
func (a *App) OnPhonePositions(f func([]store.Position)) { a.onPositions = f }

func (a *App) phonePositions(ps []store.Position) {
	switch {
	case len(ps) == 0:
	case a.onPositions != nil:
		a.onPositions(ps)
	case a.tr != nil:
		a.tr.Committed(ps)
	}
}

// ---- errors and JSON ----

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Index   *int   `json:"index,omitempty"` // the bad item of a batch
}

// apiProblem is a request the API refuses, with what to show the app.
type apiProblem struct {
	Status int
	apiErrorBody
}

func (p *apiProblem) Error() string { return p.Code + ": " + p.Message }

func problem(status int, code, field, format string, args ...any) *apiProblem {
	return &apiProblem{Status: status, apiErrorBody: apiErrorBody{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

// invalid is a 422 about one field.
func invalid(field, format string, args ...any) *apiProblem {
	return problem(http.StatusUnprocessableEntity, "invalid", field, format, args...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, message, field string) {
	writeJSON(w, status, map[string]apiErrorBody{"error": {Code: code, Message: message, Field: field}})
}

// fail answers err: an *apiProblem as itself, store.ErrNotFound as a 404,
// anything else as a logged 500 that tells the app to retry.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	var p *apiProblem
	switch {
	case errors.As(err, &p):
		if p.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="carevisit"`)
		}
		writeJSON(w, p.Status, map[string]*apiErrorBody{"error": &p.apiErrorBody})
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", "not found", "")
	case errors.Is(err, store.ErrNotAssigned):
		apiError(w, http.StatusForbidden, "not_assigned", "this client is not assigned to you", "client_id")
	default:
		a.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error, try again later", "")
	}
}

// maxJSONBody bounds a JSON request: 1000 pings fit comfortably.
const maxJSONBody = 1 << 20

// decodeJSON reads a JSON object body into dst: application/json only,
// at most limit bytes, one value. A value of the wrong type is reported
// with its field.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "", "send application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err, "")
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonProblem(err, "")
		}
		return problem(http.StatusBadRequest, "bad_json", "", "one JSON object expected, found more")
	}
	return nil
}

// jsonProblem turns a decoding error into an answer; prefix names the
// item the value was part of ("pings[3]").
func jsonProblem(err error, prefix string) *apiProblem {
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return problem(http.StatusRequestEntityTooLarge, "too_large", "", "the body is larger than %d bytes", mbe.Limit)
	case errors.As(err, &te):
		field := te.Field
		if prefix != "" {
			field = strings.TrimSuffix(prefix+"."+field, ".")
		}
		return problem(http.StatusUnprocessableEntity, "wrong_type", field, "%s must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return problem(http.StatusBadRequest, "bad_json", prefix, "malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF):
		return problem(http.StatusBadRequest, "bad_json", "", "empty body")
	}
	return problem(http.StatusBadRequest, "bad_json", prefix, "malformed JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "true or false"
	case goKind == "slice", goKind == "array":
		return "an array"
	}
	return "an object"
}

// ---- authentication ----

type apiKey int

const identKey apiKey = 1

func identOf(r *http.Request) *store.AppIdentity {
	id, _ := r.Context().Value(identKey).(*store.AppIdentity)
	return id
}

// apiAuth admits a request with the bearer token of an enabled app device
// given to a worker.
func (a *App) apiAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			a.fail(w, r, problem(http.StatusUnauthorized, "unauthorized", "", "send the device token: Authorization: Bearer <token>"))
			return
		}
		id, err := a.st.AppIdentityByToken(r.Context(), hashToken(tok))
		if errors.Is(err, store.ErrNotFound) {
			a.fail(w, r, problem(http.StatusUnauthorized, "invalid_token", "", "the token is unknown or revoked"))
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if id.WorkerID == 0 {
			a.fail(w, r, problem(http.StatusForbidden, "no_worker", "", "this device is not given to a worker"))
			return
		}
		if ok, wait, first := a.apiLimit.take(id.DeviceID, time.Now()); !ok {
			if first { // once per flood, not once per request
				a.log.Warn("api rate limited", "device", id.DeviceID, "path", r.URL.Path)
			}
			limited(w, wait)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identKey, &id)))
	})
}

// ---- times ----

// Limits on the times a phone reports: its clock may run a little fast,
// and a phone offline for weeks still uploads; older fixes would land
// outside the prepared position partitions.
const (
	maxClockSkew = 5 * time.Minute
	maxFixAge    = 7 * 7 * 24 * time.Hour
)

func parseAppTime(field, s string, now time.Time) (time.Time, *apiProblem) {
	if s == "" {
		return time.Time{}, invalid(field, "%s is required (RFC 3339, e.g. 2025-03-01T09:30:00+03:00)", field)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalid(field, "%s is not an RFC 3339 time", field)
	}
	if t.After(now.Add(maxClockSkew)) {
		return time.Time{}, invalid(field, "%s is in the future: check the phone's clock", field)
	}
	if t.Before(now.Add(-maxFixAge)) {
		return time.Time{}, invalid(field, "%s is too old (more than 7 weeks ago)", field)
	}
	return t.UTC(), nil
}

func isoWeekday(t time.Time) int {
	if wd := int(t.Weekday()); wd != 0 {
		return wd
	}
	return 7
}

// ---- GET /me ----

type apiFence struct {
	Kind    string       `json:"kind"`
	Lat     *float64     `json:"lat,omitempty"`
	Lon     *float64     `json:"lon,omitempty"`
	RadiusM *float64     `json:"radius_m,omitempty"`
	Polygon [][2]float64 `json:"polygon,omitempty"` // [lon, lat] pairs
}

type apiService struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	NormMinutes int    `json:"norm_minutes"`
}

type apiClient struct {
	ID       int64        `json:"id"`
	FullName string       `json:"full_name"`
	Address  string       `json:"address"`
	Phone    string       `json:"phone"`
	Notes    string       `json:"notes"`
	Fence    apiFence     `json:"fence"`
	Services []apiService `json:"services"`
}

type apiPlanned struct {
	ID         int64     `json:"id"`
	ClientID   int64     `json:"client_id"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	ServiceIDs []int64   `json:"service_ids"`
}

type apiMe struct {
	Worker struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
		Phone    string `json:"phone"`
	} `json:"worker"`
	Device struct {
		ID    int64  `json:"id"`
		Ident string `json:"ident"`
		Name  string `json:"name"`
	} `json:"device"`
	Organisation struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		Timezone string `json:"timezone"`
	} `json:"organisation"`
	ServerTime     time.Time    `json:"server_time"`
	Clients        []apiClient  `json:"clients"`
	PlannedToday   []apiPlanned `json:"planned_today"`
	UnreadMessages int          `json:"unread_messages"`
}

func (a *App) apiMe(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	var me apiMe
	me.Worker.ID, me.Worker.FullName, me.Worker.Phone = id.WorkerID, id.WorkerName, id.WorkerPhone
	me.Device.ID, me.Device.Ident, me.Device.Name = id.DeviceID, id.DeviceIdent, id.DeviceName
	me.Organisation.ID, me.Organisation.Name, me.Organisation.Timezone = id.Org.ID, id.Org.Name, id.Org.Timezone
	now := time.Now()
	me.ServerTime = now.UTC().Truncate(time.Second)

	clients, err := a.st.AppClients(ctx, id.Org.ID, id.WorkerID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	me.Clients = make([]apiClient, 0, len(clients))
	for _, c := range clients {
		ac := apiClient{ID: c.ID, FullName: c.FullName, Address: c.Address, Phone: c.Phone, Notes: c.Notes,
			Fence: apiFence{Kind: c.FenceKind}, Services: make([]apiService, 0, len(c.Services))}
		if c.FenceKind == "polygon" {
			ac.Fence.Polygon = c.Polygon
		} else {
			ac.Fence.Lat, ac.Fence.Lon, ac.Fence.RadiusM = &c.CenterLat, &c.CenterLon, &c.RadiusM
		}
		for _, s := range c.Services {
			ac.Services = append(ac.Services, apiService{ID: s.ID, Name: s.Name, NormMinutes: s.NormMinutes})
		}
		me.Clients = append(me.Clients, ac)
	}

	loc := id.Org.Location()
	today := now.In(loc)
	planned, err := a.st.AppPlanned(ctx, id.Org.ID, id.WorkerID, isoWeekday(today))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	me.PlannedToday = make([]apiPlanned, 0, len(planned))
	y, m, d := today.Date()
	for _, p := range planned {
		ids := p.ServiceIDs
		if ids == nil {
			ids = []int64{}
		}
		// time.Date normalises the minutes as wall-clock time: right on
		// daylight-saving days too.
		me.PlannedToday = append(me.PlannedToday, apiPlanned{ID: p.ID, ClientID: p.ClientID,
			Start: time.Date(y, m, d, 0, p.StartMin, 0, 0, loc), End: time.Date(y, m, d, 0, p.EndMin, 0, 0, loc), ServiceIDs: ids})
	}
	if me.UnreadMessages, err = a.st.UnreadByWorker(ctx, id.Org.ID, id.WorkerID); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, me)
}
