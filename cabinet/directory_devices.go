package cabinet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"carevisit/store"
)

type dirDevicesData struct {
	Devices   []store.DirDevice
	Device    store.DirDevice // the device shown (device page)
	Unknown   []dirUnknownRow
	Protocols []string
	Token     string // a new app token, shown once
}

// dirUnknownRow is an unregistered device as an organisation's admin sees
// it. The list is platform-wide (a device is nobody's until registered),
// so its identifier is masked and its network address left out: an admin
// registers a tracker by typing the full IMEI from its label, and cannot
// learn or claim another organisation's new devices from the list.
type dirUnknownRow struct {
	store.UnknownDevice
	Masked string // e.g. ••••••••••••581
	Tail   string // the characters shown, to find the row
}

// maskIdent keeps only the last 3 characters of an identifier (an IMEI's
// last is a check digit): with the model's type code known, 10,000
// candidates remain, and mistyped numbers are limited per user
// (dirRegMissesPerHour), so a number cannot be guessed from the list.
func maskIdent(s string) string {
	r := []rune(s)
	n := min(3, max(0, len(r)-6))
	return strings.Repeat("•", len(r)-n) + string(r[len(r)-n:])
}

func tail4(s string) string { // the row's key for tests and scripts: as many characters as are shown
	r := []rune(s)
	return string(r[len(r)-min(3, max(0, len(r)-6)):])
}

// dirRegMissesPerHour is how many mistyped numbers a user may send when
// registering unknown devices, per hour (a burst of as many).
const dirRegMissesPerHour = 10

var (
	dirIMEIRe    = regexp.MustCompile(`^[0-9]{15}$`)
	dirNumericRe = regexp.MustCompile(`^[0-9]{6,20}$`)
	dirIdentRe   = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,64}$`)
)

// dirCheckIdent validates a device's IMEI / id for its protocol.
func dirCheckIdent(v *view, protocol, ident string) {
	var ok bool
	switch protocol {
	case "gt06":
		ok = dirIMEIRe.MatchString(ident)
		if !ok {
			v.Errors["ident"] = v.T("dir.err.imei")
			return
		}
	case "h02", "watch":
		ok = dirNumericRe.MatchString(ident)
	default:
		ok = dirIdentRe.MatchString(ident)
	}
	if !ok {
		v.Errors["ident"] = v.T("dir.err.ident")
	}
}

func dirParseDevice(v *view, r *http.Request) store.DirDevice {
	f := r.PostForm
	d := store.DirDevice{
		Protocol: f.Get("protocol"),
		Ident:    dirText(v, "ident", f.Get("ident"), false, 64),
		Model:    dirText(v, "model", f.Get("model"), false, 100),
		Name:     dirText(v, "name", f.Get("name"), false, 100),
		Disabled: f.Get("disabled") != "",
	}
	if !slices.Contains(store.Protocols, d.Protocol) {
		v.Errors["protocol"] = v.T("dir.err.choose")
		return d
	}
	if d.Ident == "" && d.Protocol == "app" {
		// A dirPhone has no IMEI to tell: give it a readable unique id.
		b := make([]byte, 5)
		rand.Read(b)
		d.Ident = "app-" + hex.EncodeToString(b)
		v.Form.Set("ident", d.Ident)
	}
	if d.Ident == "" {
		v.Errors["ident"] = v.T("form.err.required")
	} else if v.Errors["ident"] == "" {
		dirCheckIdent(v, d.Protocol, d.Ident)
	}
	return d
}

func (a *App) deviceList(w http.ResponseWriter, r *http.Request) {
	a.deviceListPage(w, r, http.StatusOK, a.newView(r, "dir.devices.title", "devices"))
}

func (a *App) deviceListPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ctx := r.Context()
	d := dirDevicesData{Protocols: store.Protocols}
	var err error
	if d.Devices, err = a.st.DirDevices(ctx, a.scope(r)); err != nil {
		a.serverError(w, r, err)
		return
	}
	// The unknown list is ingest-wide (a device is nobody's until
	// registered): only administrators, who may register, see it.
	if v.Can(store.RoleAdmin) {
		us, err := a.st.UnknownDevices(ctx)
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		for _, u := range us {
			d.Unknown = append(d.Unknown, dirUnknownRow{UnknownDevice: u, Masked: maskIdent(u.Ident), Tail: tail4(u.Ident)})
		}
	}
	if v.Form.Get("protocol") == "" {
		v.Form.Set("protocol", "gt06")
	}
	v.Data = d
	a.render(w, r, status, "dir_devices", v)
}

func (a *App) deviceCreate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	v := a.newView(r, "dir.devices.title", "devices")
	v.Form = r.PostForm
	d := dirParseDevice(v, r)
	if len(v.Errors) > 0 {
		a.deviceListPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	var tok string
	var hash []byte
	if d.Protocol == "app" {
		tok, hash = newToken()
	}
	id, err := a.st.SaveDevice(r.Context(), sc, d, hash)
	if errors.Is(err, store.ErrDuplicate) {
		v.Errors["ident"] = v.T("dir.err.ident_taken")
		a.deviceListPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if a.dirErr(w, r, err) {
		return
	}
	a.audited(r, "device", id)
	if tok != "" {
		a.showToken(w, r, id, tok)
		return
	}
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/devices")
}

// showToken renders the device page with its new token: the only time the
// token is shown (the database keeps its SHA-256). Not a redirect, so the
// token never sits in a cookie or URL.
func (a *App) showToken(w http.ResponseWriter, r *http.Request, id int64, tok string) {
	d, err := a.st.DirDevice(r.Context(), a.scope(r), id)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.device.title", "devices")
	w.Header().Set("Cache-Control", "no-store")
	a.devicePage(w, r, http.StatusOK, v, d, tok)
}

func (a *App) deviceShow(w http.ResponseWriter, r *http.Request) {
	d, err := a.st.DirDevice(r.Context(), a.scope(r), dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.device.title", "devices")
	v.Form.Set("ident", d.Ident)
	v.Form.Set("protocol", d.Protocol)
	v.Form.Set("model", d.Model)
	v.Form.Set("name", d.Name)
	if d.Disabled {
		v.Form.Set("disabled", "on")
	}
	a.devicePage(w, r, http.StatusOK, v, d, "")
}

func (a *App) devicePage(w http.ResponseWriter, r *http.Request, status int, v *view, d store.DirDevice, tok string) {
	if tok != "" {
		v.Form.Set("ident", d.Ident)
		v.Form.Set("protocol", d.Protocol)
		v.Form.Set("model", d.Model)
		v.Form.Set("name", d.Name)
	}
	v.Data = dirDevicesData{Device: d, Protocols: store.Protocols, Token: tok}
	a.render(w, r, status, "dir_device", v)
}

func (a *App) deviceUpdate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sc := a.scope(r)
	old, err := a.st.DirDevice(r.Context(), sc, dirID(r))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v := a.newView(r, "dir.device.title", "devices")
	v.Form = r.PostForm
	d := dirParseDevice(v, r)
	d.ID = old.ID
	if len(v.Errors) > 0 {
		a.devicePage(w, r, http.StatusUnprocessableEntity, v, old, "")
		return
	}
	var tok string
	var hash []byte
	if d.Protocol == "app" && !old.HasToken {
		tok, hash = newToken()
	}
	_, err = a.st.SaveDevice(r.Context(), sc, d, hash)
	if errors.Is(err, store.ErrDuplicate) {
		v.Errors["ident"] = v.T("dir.err.ident_taken")
		a.devicePage(w, r, http.StatusUnprocessableEntity, v, old, "")
		return
	}
	if a.dirErr(w, r, err) {
		return
	}
	a.audited(r, "device", d.ID)
	if tok != "" {
		a.showToken(w, r, d.ID, tok)
		return
	}
	a.flash(w, "dir.flash.saved")
	a.redirect(w, r, "/staff/devices/"+strconv.FormatInt(d.ID, 10))
}

func (a *App) deviceNewToken(w http.ResponseWriter, r *http.Request) {
	id := dirID(r)
	tok, hash := newToken()
	if err := a.st.SetDeviceToken(r.Context(), a.scope(r), id, hash); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.audited(r, "device token", id)
	a.showToken(w, r, id, tok)
}

// deviceRegister registers a device from the unknown list with the
// protocol and ident it connected with; the ingest server picks it up at
// its next registry reload (10 s).
func (a *App) deviceRegister(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	ident := strings.TrimSpace(r.PostFormValue("ident"))
	sc := a.scope(r)
	if blocked, wait := a.regMisses.blocked(sc.UserID, time.Now()); blocked {
		a.log.Warn("device registration: too many mistyped numbers", "user", sc.UserID)
		v := a.newView(r, "dir.devices.title", "devices")
		v.Form = r.PostForm
		v.Errors["unknown_ident"] = v.T("dir.devices.err.too_many", int(math.Ceil(wait.Minutes())))
		a.deviceListPage(w, r, http.StatusTooManyRequests, v)
		return
	}
	id, err := a.st.RegisterUnknown(r.Context(), sc, r.PostFormValue("protocol"), ident)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if d, err := a.st.DeviceByIdent(r.Context(), ident); err == nil && d.OrgID == a.scope(r).OrgID {
			a.flash(w, "dir.devices.flash.gone") // registered meanwhile (another tab)
			a.redirect(w, r, "/staff/devices")
			return
		}
		// A mistyped IMEI: say so on the list, with what was typed kept
		// for correction. (Another organisation's device reads the same.)
		a.regMisses.allow(sc.UserID, time.Now())
		v := a.newView(r, "dir.devices.title", "devices")
		v.Form = r.PostForm
		v.Errors["unknown_ident"] = v.T("dir.devices.err.no_match")
		a.deviceListPage(w, r, http.StatusUnprocessableEntity, v)
		return
	case errors.Is(err, store.ErrDuplicate):
		a.flash(w, "dir.devices.flash.taken")
		a.redirect(w, r, "/staff/devices")
		return
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	a.audited(r, "device registered", id)
	a.flash(w, "dir.devices.flash.registered")
	a.redirect(w, r, "/staff/devices/"+strconv.FormatInt(id, 10))
}
