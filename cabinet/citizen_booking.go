package cabinet

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"carevisit/store"
)

// changeLead is how long before an appointment it can still be changed or
// cancelled.
const changeLead = 24 * time.Hour

// bookingDays is how far ahead the calendar reaches.
const bookingDays = 30

// apptServices are the reasons for a visit to a department.
var apptServices = []string{"consultation", "recognition", "provider", "refusal", "payment", "documents"}

type slot struct {
	Start, End time.Time
	Free       int
}

// Key identifies a slot in forms (Unix seconds).
func (s slot) Key() string { return strconv.FormatInt(s.Start.Unix(), 10) }

type calDay struct {
	Date time.Time
	Key  string
	Free int
	Open bool
}

// schedule is a department's working pattern, for slot arithmetic.
type schedule struct {
	dept     store.Department
	hours    map[int]store.DeptHours
	holidays map[string]bool
	loc      *time.Location
}

func (a *App) loadSchedule(r *http.Request, d store.Department) (schedule, error) {
	s := schedule{dept: d, hours: map[int]store.DeptHours{}, holidays: map[string]bool{}, loc: time.UTC}
	if o, err := a.st.OrganisationByID(r.Context(), d.OrgID); err == nil {
		s.loc = o.Location()
	}
	hs, err := a.st.DepartmentHours(r.Context(), d.ID)
	if err != nil {
		return s, err
	}
	for _, h := range hs {
		s.hours[h.Weekday] = h
	}
	days, err := a.st.Holidays(r.Context(), d.ID, time.Now().In(s.loc).AddDate(0, 0, -1))
	for _, x := range days {
		s.holidays[x] = true
	}
	return s, err
}

// slots are the day's slots (day: any time on that local date) that start
// after now, with their free seats.
func (s schedule) slots(day time.Time, used map[time.Time]int, now time.Time) []slot {
	day = day.In(s.loc)
	midnight := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.loc)
	if s.holidays[midnight.Format(time.DateOnly)] {
		return nil
	}
	wd := int(midnight.Weekday())
	if wd == 0 {
		wd = 7
	}
	h, ok := s.hours[wd]
	if !ok {
		return nil
	}
	var out []slot
	step := s.dept.SlotMinutes
	for m := h.StartMin; m+step <= h.EndMin; m += step {
		st := time.Date(midnight.Year(), midnight.Month(), midnight.Day(), m/60, m%60, 0, 0, s.loc)
		if !st.After(now) {
			continue
		}
		free := s.dept.Capacity - used[st.UTC()]
		if free < 0 {
			free = 0
		}
		out = append(out, slot{Start: st, End: st.Add(time.Duration(step) * time.Minute), Free: free})
	}
	return out
}

// calendar lists the days from today on with their free seats.
func (s schedule) calendar(used map[time.Time]int, now time.Time) []calDay {
	today := now.In(s.loc)
	var out []calDay
	for i := 0; i < bookingDays; i++ {
		d := time.Date(today.Year(), today.Month(), today.Day()+i, 12, 0, 0, 0, s.loc)
		sl := s.slots(d, used, now)
		c := calDay{Date: d, Key: d.Format(time.DateOnly), Open: len(sl) > 0}
		for _, x := range sl {
			c.Free += x.Free
		}
		out = append(out, c)
	}
	return out
}

func (a *App) slotUse(r *http.Request, s schedule, now time.Time) (map[time.Time]int, error) {
	return a.st.SlotUse(r.Context(), s.dept.ID, now.Add(-24*time.Hour), now.AddDate(0, 0, bookingDays+1))
}

// newBookingNumber is short, unambiguous to read aloud, and unguessable.
func newBookingNumber() string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "Z-" + string(b[:4]) + "-" + string(b[4:])
}

func bookingQR(b store.Booking) ([]byte, error) {
	code, err := qr.Encode("carevisit:booking:"+b.Number, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	code, err = barcode.Scale(code, 256, 256)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = png.Encode(&buf, code)
	return buf.Bytes(), err
}

// ---- citizen pages ----

type apptsData struct {
	myBase
	Bookings []store.Booking
	Now      time.Time
}

func (a *App) myAppts(w http.ResponseWriter, r *http.Request) {
	v := a.myView(r, "my.appts.title", "my_appts")
	bs, err := a.st.MyBookings(r.Context(), userOf(r).ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = apptsData{myBase: a.base(r), Bookings: bs, Now: time.Now()}
	a.render(w, r, http.StatusOK, "my_appts", v)
}

type apptNewData struct {
	myBase
	Regions  []string
	Region   string
	Depts    []store.Department
	Dept     store.Department
	Services []string
	Service  string
	Days     []calDay
	Day      string
	DayLabel string
	Slots    []slot
	Change   store.Booking
	Watching bool
}

func (a *App) myApptNew(w http.ResponseWriter, r *http.Request) {
	a.apptNewPage(w, r, http.StatusOK, a.myView(r, "my.appt.new", "my_appts"), r.URL.Query())
}

// apptNewPage is the booking wizard: region → department and service →
// day → slot. Every step is a plain GET form, so it works without scripts.
func (a *App) apptNewPage(w http.ResponseWriter, r *http.Request, status int, v *view, q map[string][]string) {
	ctx := r.Context()
	get := func(k string) string {
		if x := q[k]; len(x) > 0 {
			return x[0]
		}
		return ""
	}
	d := apptNewData{myBase: a.base(r), Services: apptServices, Region: get("region"), Service: get("service"), Day: get("day")}
	if id, _ := strconv.ParseInt(get("change"), 10, 64); id != 0 {
		b, err := a.st.MyBooking(ctx, userOf(r).ID, id)
		if err != nil {
			a.storeErr(w, r, err)
			return
		}
		d.Change = b
		q["dept"] = []string{strconv.FormatInt(b.DepartmentID, 10)}
		d.Service = b.Service
	}
	depts, err := a.st.Departments(ctx, profileOf(r).OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	deptID, _ := strconv.ParseInt(get("dept"), 10, 64)
	seen := map[string]bool{}
	for _, x := range depts {
		if !seen[x.Region] {
			seen[x.Region] = true
			d.Regions = append(d.Regions, x.Region)
		}
		if x.ID == deptID {
			d.Dept = x
			if d.Region == "" {
				d.Region = x.Region
			}
		}
	}
	sort.Strings(d.Regions)
	for _, x := range depts {
		if d.Region == "" || x.Region == d.Region {
			d.Depts = append(d.Depts, x)
		}
	}
	if !validKind(d.Service, apptServices) {
		d.Service = ""
	}
	if d.Dept.ID != 0 {
		s, err := a.loadSchedule(r, d.Dept)
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		now := time.Now()
		used, err := a.slotUse(r, s, now)
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		d.Days = s.calendar(used, now)
		if day, err := time.ParseInLocation(time.DateOnly, d.Day, s.loc); err == nil {
			d.Slots = s.slots(day.Add(12*time.Hour), used, now)
			d.DayLabel = day.Format("02.01.2006")
		} else {
			d.Day = ""
		}
	}
	for k, x := range q {
		v.Form[k] = x
	}
	v.Data = d
	a.render(w, r, status, "my_appt_new", v)
}

// bookingInput checks a chosen department, day and slot.
func (a *App) pickSlot(r *http.Request, v *view, deptID int64, slotKey string) (store.Department, slot, bool) {
	d, err := a.st.DepartmentByID(r.Context(), profileOf(r).OrgID, deptID)
	if err != nil {
		v.Errors["dept"] = v.T("my.err.choose")
		return d, slot{}, false
	}
	s, err := a.loadSchedule(r, d)
	if err != nil {
		v.Errors["slot"] = v.T("error.internal")
		return d, slot{}, false
	}
	unix, _ := strconv.ParseInt(slotKey, 10, 64)
	start := time.Unix(unix, 0)
	for _, x := range s.slots(start, nil, time.Now()) {
		if x.Start.Equal(start) {
			return d, x, true
		}
	}
	v.Errors["slot"] = v.T("my.err.slot_invalid")
	return d, slot{}, false
}

func (a *App) myApptBook(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	u := userOf(r)
	v := a.myView(r, "my.appt.new", "my_appts")
	service := r.PostFormValue("service")
	if !validKind(service, apptServices) {
		v.Errors["service"] = v.T("my.err.choose")
	}
	d, sl, ok := a.pickSlot(r, v, formInt(r, "dept"), r.PostFormValue("slot"))
	status := http.StatusUnprocessableEntity
	var id int64
	if ok && len(v.Errors) == 0 {
		var err error
		for try := 0; try < 3; try++ {
			id, err = a.st.Book(ctx, store.Booking{OrgID: d.OrgID, DepartmentID: d.ID, UserID: u.ID, Number: newBookingNumber(),
				Service: service, Start: sl.Start, End: sl.End})
			if !errors.Is(err, store.ErrDuplicate) {
				break
			}
		}
		if errors.Is(err, store.ErrSlotFull) {
			v.Errors["slot"] = v.T("my.err.slot_taken")
			status = http.StatusConflict
		} else if err != nil {
			a.storeErr(w, r, err)
			return
		}
	}
	if len(v.Errors) > 0 {
		q := map[string][]string{"dept": {strconv.FormatInt(d.ID, 10)}, "service": {service}, "day": {r.PostFormValue("day")}}
		a.apptNewPage(w, r, status, v, q)
		return
	}
	b, err := a.st.MyBooking(ctx, u.ID, id)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("appointment booked", "user", u.ID, "booking", id, "department", d.ID)
	a.mailBooking(r, v, b, "my.mail.booking_subject", "my.mail.booking_body")
	link := fmt.Sprintf("/my/appointments/%d", id)
	if err := a.st.Notify(ctx, u.ID, "my.note.booked", []string{b.Number, v.Time(b.Start), b.DeptName}, link); err != nil {
		a.log.Error("notification not stored", "user", u.ID, "err", err)
	}
	a.flash(w, "my.flash.booked")
	a.redirect(w, r, link)
}

// mailBooking e-mails the booking with its QR code attached.
func (a *App) mailBooking(r *http.Request, v *view, b store.Booking, subject, body string) {
	u := userOf(r)
	png, err := bookingQR(b)
	if err != nil {
		a.log.Error("booking QR", "booking", b.ID, "err", err)
		return
	}
	text := v.T(body, u.FullName, b.Number, v.Time(b.Start), b.DeptName, b.DeptAddress, v.T("my.apptsvc."+b.Service),
		strings.TrimRight(a.cfg.BaseURL, "/")+fmt.Sprintf("/my/appointments/%d", b.ID))
	att := []Attachment{{Name: "booking-" + b.Number + ".png", ContentType: "image/png", Data: png}}
	if err := a.sendMailWith(r, u.Email, v.T(subject, b.Number), text, att); err != nil {
		a.log.Error("booking mail not sent", "booking", b.ID, "err", err)
	}
}

type apptData struct {
	myBase
	Booking   store.Booking
	CanChange bool
	Lead      int
}

func (a *App) myAppt(w http.ResponseWriter, r *http.Request) {
	a.apptPage(w, r, http.StatusOK, a.myView(r, "my.appt.title", "my_appts"))
}

func (a *App) apptPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	b, err := a.st.MyBooking(r.Context(), userOf(r).ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	v.Data = apptData{myBase: a.base(r), Booking: b, Lead: int(changeLead / time.Hour),
		CanChange: b.Status == "active" && time.Until(b.Start) >= changeLead}
	a.render(w, r, status, "my_appt", v)
}

func (a *App) myApptQR(w http.ResponseWriter, r *http.Request) {
	b, err := a.st.MyBooking(r.Context(), userOf(r).ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	png, err := bookingQR(b)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(png)
}

func (a *App) myApptCancel(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := userOf(r)
	v := a.myView(r, "my.appt.title", "my_appts")
	b, err := a.st.CancelBooking(ctx, u.ID, idParam(r, "id"), time.Now(), changeLead)
	if errors.Is(err, store.ErrTooLate) {
		v.Errors["cancel"] = v.T("my.err.too_late", int(changeLead/time.Hour))
		a.apptPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("appointment cancelled", "user", u.ID, "booking", b.ID)
	a.slotFreed(r, b)
	a.flash(w, "my.flash.cancelled")
	a.redirect(w, r, "/my/appointments")
}

// slotFreed tells those waiting for the department and day.
func (a *App) slotFreed(r *http.Request, b store.Booking) {
	o, err := a.st.OrganisationByID(r.Context(), b.OrgID)
	loc := time.UTC
	if err == nil {
		loc = o.Location()
	}
	day := b.Start.In(loc)
	ids, err := a.st.TakeWatchers(r.Context(), b.DepartmentID, day)
	if err != nil {
		a.log.Error("slot watchers", "department", b.DepartmentID, "err", err)
		return
	}
	link := fmt.Sprintf("/my/appointments/new?dept=%d&day=%s", b.DepartmentID, day.Format(time.DateOnly))
	for _, id := range ids {
		if id != b.UserID {
			a.notifyCitizen(r, id, "my.note.slot_free", []string{b.DeptName, day.Format("02.01.2006")}, link)
		}
	}
}

func (a *App) myApptMove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.ParseForm()
	u := userOf(r)
	v := a.myView(r, "my.appt.new", "my_appts")
	old, err := a.st.MyBooking(ctx, u.ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	status := http.StatusUnprocessableEntity
	_, sl, ok := a.pickSlot(r, v, old.DepartmentID, r.PostFormValue("slot"))
	if ok {
		err = a.st.Reschedule(ctx, u.ID, old.ID, sl.Start, sl.End, time.Now(), changeLead)
		switch {
		case errors.Is(err, store.ErrTooLate):
			v.Errors["slot"] = v.T("my.err.too_late", int(changeLead/time.Hour))
		case errors.Is(err, store.ErrSlotFull):
			v.Errors["slot"] = v.T("my.err.slot_taken")
			status = http.StatusConflict
		case err != nil:
			a.storeErr(w, r, err)
			return
		}
	}
	if len(v.Errors) > 0 {
		q := map[string][]string{"change": {strconv.FormatInt(old.ID, 10)}, "day": {r.PostFormValue("day")}}
		a.apptNewPage(w, r, status, v, q)
		return
	}
	b, err := a.st.MyBooking(ctx, u.ID, old.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("appointment moved", "user", u.ID, "booking", b.ID)
	a.slotFreed(r, old)
	a.mailBooking(r, v, b, "my.mail.moved_subject", "my.mail.booking_body")
	a.flash(w, "my.flash.moved")
	a.redirect(w, r, fmt.Sprintf("/my/appointments/%d", b.ID))
}

func (a *App) myApptWatch(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	p := profileOf(r)
	d, err := a.st.DepartmentByID(r.Context(), p.OrgID, formInt(r, "dept"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	o, _ := a.st.OrganisationByID(r.Context(), d.OrgID)
	day, err := time.ParseInLocation(time.DateOnly, r.PostFormValue("day"), o.Location())
	if err != nil {
		a.notFound(w, r)
		return
	}
	if err := a.st.WatchSlots(r.Context(), userOf(r).ID, d.ID, day, r.PostFormValue("service")); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(w, "my.flash.watching")
	a.redirect(w, r, fmt.Sprintf("/my/appointments/new?dept=%d&day=%s&service=%s", d.ID, day.Format(time.DateOnly), r.PostFormValue("service")))
}

// ---- staff: departments, schedules, providers ----

type deptsData struct {
	Depts     []store.Department
	Providers []store.Provider
}

func (a *App) staffDepts(w http.ResponseWriter, r *http.Request) {
	a.staffDeptsPage(w, r, http.StatusOK, a.newView(r, "my.staff.depts.title", "departments"))
}

func (a *App) staffDeptsPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	sc := a.scope(r)
	depts, err := a.st.Departments(r.Context(), sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	provs, err := a.st.Providers(r.Context(), sc.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if v.Form.Get("slot_minutes") == "" {
		v.Form.Set("slot_minutes", "30")
		v.Form.Set("capacity", "1")
	}
	v.Data = deptsData{Depts: depts, Providers: provs}
	a.render(w, r, status, "citizen_staff_depts", v)
}

type deptData struct {
	Dept     store.Department
	Hours    map[int]store.DeptHours
	Weekdays []int
	Holidays []string
	Bookings []store.Booking
}

func (a *App) staffDept(w http.ResponseWriter, r *http.Request) {
	a.staffDeptPage(w, r, http.StatusOK, a.newView(r, "my.staff.dept.title", "departments"), true)
}

func (a *App) staffDeptPage(w http.ResponseWriter, r *http.Request, status int, v *view, fill bool) {
	ctx := r.Context()
	sc := a.scope(r)
	d, err := a.st.DepartmentByID(ctx, sc.OrgID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	s, err := a.loadSchedule(r, d)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	dd := deptData{Dept: d, Hours: s.hours, Weekdays: []int{1, 2, 3, 4, 5, 6, 7}}
	for day := range s.holidays {
		dd.Holidays = append(dd.Holidays, day)
	}
	sort.Strings(dd.Holidays)
	now := time.Now()
	if dd.Bookings, err = a.st.DeptBookings(ctx, sc.OrgID, d.ID, now.Add(-time.Hour), now.AddDate(0, 0, 14)); err != nil {
		a.serverError(w, r, err)
		return
	}
	if fill {
		v.Form.Set("name", d.Name)
		v.Form.Set("region", d.Region)
		v.Form.Set("address", d.Address)
		v.Form.Set("slot_minutes", strconv.Itoa(d.SlotMinutes))
		v.Form.Set("capacity", strconv.Itoa(d.Capacity))
		for wd, h := range s.hours {
			v.Form.Set(fmt.Sprintf("start_%d", wd), fmtHM(h.StartMin))
			v.Form.Set(fmt.Sprintf("end_%d", wd), fmtHM(h.EndMin))
		}
	}
	v.Data = dd
	a.render(w, r, status, "citizen_staff_dept", v)
}

func fmtHM(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func parseHM(s string) (int, bool) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 1440, true
		}
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

func (a *App) staffDeptSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	r.ParseForm()
	id := idParam(r, "id")
	v := a.newView(r, "my.staff.depts.title", "departments")
	v.Form = r.PostForm
	d := store.Department{ID: id, OrgID: sc.OrgID, Name: strings.TrimSpace(r.PostFormValue("name")),
		Region: strings.TrimSpace(r.PostFormValue("region")), Address: strings.TrimSpace(r.PostFormValue("address"))}
	if d.Name == "" {
		v.Errors["name"] = v.T("form.err.required")
	}
	var err error
	if d.SlotMinutes, err = strconv.Atoi(r.PostFormValue("slot_minutes")); err != nil || d.SlotMinutes < 5 || d.SlotMinutes > 480 {
		v.Errors["slot_minutes"] = v.T("my.staff.err.slot_minutes")
	}
	if d.Capacity, err = strconv.Atoi(r.PostFormValue("capacity")); err != nil || d.Capacity < 1 || d.Capacity > 100 {
		v.Errors["capacity"] = v.T("my.staff.err.capacity")
	}
	if len(v.Errors) == 0 {
		id, err = a.st.SaveDepartment(ctx, d)
		if errors.Is(err, store.ErrDuplicate) {
			v.Errors["name"] = v.T("my.staff.err.dept_taken")
		} else if err != nil {
			a.storeErr(w, r, err)
			return
		}
	}
	if len(v.Errors) > 0 {
		if d.ID != 0 {
			v.Title = "my.staff.dept.title"
			a.staffDeptPage(w, r, http.StatusUnprocessableEntity, v, false)
		} else {
			a.staffDeptsPage(w, r, http.StatusUnprocessableEntity, v)
		}
		return
	}
	action := "update"
	if d.ID == 0 {
		action = "create"
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: action, Entity: "department", EntityID: id}, nil, d)
	a.flash(w, "my.staff.flash.dept_saved")
	a.redirect(w, r, fmt.Sprintf("/staff/departments/%d", id))
}

func (a *App) staffDeptHours(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	r.ParseForm()
	v := a.newView(r, "my.staff.dept.title", "departments")
	v.Form = r.PostForm
	var hours []store.DeptHours
	for wd := 1; wd <= 7; wd++ {
		s, e := r.PostFormValue(fmt.Sprintf("start_%d", wd)), r.PostFormValue(fmt.Sprintf("end_%d", wd))
		if strings.TrimSpace(s) == "" && strings.TrimSpace(e) == "" {
			continue
		}
		sm, ok1 := parseHM(s)
		em, ok2 := parseHM(e)
		if !ok1 || !ok2 || em <= sm {
			v.Errors[fmt.Sprintf("hours_%d", wd)] = v.T("my.staff.err.hours")
			continue
		}
		hours = append(hours, store.DeptHours{Weekday: wd, StartMin: sm, EndMin: em})
	}
	if len(v.Errors) > 0 {
		a.staffDeptPage(w, r, http.StatusUnprocessableEntity, v, false)
		return
	}
	id := idParam(r, "id")
	if err := a.st.SetDepartmentHours(ctx, sc.OrgID, id, hours); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "update", Entity: "department_hours", EntityID: id}, nil, hours)
	a.flash(w, "my.staff.flash.hours_saved")
	a.redirect(w, r, fmt.Sprintf("/staff/departments/%d", id))
}

func (a *App) staffDeptHoliday(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	r.ParseForm()
	id := idParam(r, "id")
	day, err := time.Parse(time.DateOnly, r.PostFormValue("day"))
	if err != nil {
		v := a.newView(r, "my.staff.dept.title", "departments")
		v.Errors["day"] = v.T("my.staff.err.day")
		a.staffDeptPage(w, r, http.StatusUnprocessableEntity, v, true)
		return
	}
	on := r.PostFormValue("remove") == ""
	if err := a.st.SetHoliday(ctx, sc.OrgID, id, day, on); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "update", Entity: "department_holiday", EntityID: id},
		nil, map[string]any{"day": day.Format(time.DateOnly), "closed": on})
	a.flash(w, "my.staff.flash.hours_saved")
	a.redirect(w, r, fmt.Sprintf("/staff/departments/%d", id))
}

func (a *App) staffProviderAdd(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := a.scope(r)
	r.ParseForm()
	v := a.newView(r, "my.staff.depts.title", "departments")
	v.Form = r.PostForm
	p := store.Provider{OrgID: sc.OrgID, Name: strings.TrimSpace(r.PostFormValue("provider_name")),
		Address: strings.TrimSpace(r.PostFormValue("provider_address")), Phone: strings.TrimSpace(r.PostFormValue("provider_phone")),
		Forms: strings.TrimSpace(r.PostFormValue("provider_forms"))}
	if p.Name == "" {
		v.Errors["provider_name"] = v.T("form.err.required")
	}
	var id int64
	var err error
	if len(v.Errors) == 0 {
		id, err = a.st.AddProvider(ctx, p)
		if errors.Is(err, store.ErrDuplicate) {
			v.Errors["provider_name"] = v.T("my.staff.err.provider_taken")
		} else if err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	if len(v.Errors) > 0 {
		a.staffDeptsPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	a.st.Audit(ctx, nil, store.AuditEntry{OrgID: sc.OrgID, UserID: sc.UserID, Action: "create", Entity: "provider", EntityID: id}, nil, p)
	a.flash(w, "my.staff.flash.provider_added")
	a.redirect(w, r, "/staff/departments")
}
