package cabinet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

// ---- home: services, measures, ratings ----

type measure struct {
	Subject string // rating subject: "app:<id>" or "service:<id>"
	AppID   int64
	Number  string
	Service string // online service code
	Status  string
	Name    string // programme service name
	Rating  store.Rating
}

type homeData struct {
	myBase
	Services []svcKind
	Measures []measure
	IPPSU    []store.IPPSUService
	Clients  []store.CitizenClient
	Stars    []int
}

// positive statuses are measures the citizen receives.
var positiveStatuses = map[string]bool{"payment_assigned": true, "recognized_needy": true, "providing": true, "guardianship_set": true}

// measures lists what the citizen receives: applications granted and the
// services of their individual programme, with their ratings.
func (a *App) measures(r *http.Request) ([]measure, []store.IPPSUService, error) {
	ctx := r.Context()
	uid := userOf(r).ID
	apps, err := a.st.MyApplications(ctx, uid)
	if err != nil {
		return nil, nil, err
	}
	ratings, err := a.st.MyRatings(ctx, uid)
	if err != nil {
		return nil, nil, err
	}
	var out []measure
	for _, ap := range apps {
		if ap.State == store.AppWork && positiveStatuses[ap.Status] || ap.State == store.AppDone && ap.Status == "contract_ended" {
			s := "app:" + strconv.FormatInt(ap.ID, 10)
			out = append(out, measure{Subject: s, AppID: ap.ID, Number: ap.Number, Service: ap.Service, Status: ap.Status, Rating: ratings[s]})
		}
	}
	ippsu, err := a.st.IPPSUServices(ctx, uid)
	if err != nil {
		return nil, nil, err
	}
	seen := map[int64]bool{}
	for _, x := range ippsu {
		if seen[x.ServiceID] {
			continue
		}
		seen[x.ServiceID] = true
		s := "service:" + strconv.FormatInt(x.ServiceID, 10)
		out = append(out, measure{Subject: s, Name: x.Name, Rating: ratings[s]})
	}
	return out, ippsu, nil
}

func (a *App) myHome(w http.ResponseWriter, r *http.Request) {
	a.homePage(w, r, http.StatusOK, a.myView(r, "my.home.title", "my"))
}

func (a *App) homePage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ms, ippsu, err := a.measures(r)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	clients, err := a.st.CitizenClients(r.Context(), userOf(r).ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = homeData{myBase: a.base(r), Services: citizenServices, Measures: ms, IPPSU: ippsu, Clients: clients, Stars: []int{1, 2, 3, 4, 5}}
	a.render(w, r, status, "my_home", v)
}

type serviceData struct {
	myBase
	Svc svcKind
}

func (a *App) myService(w http.ResponseWriter, r *http.Request) {
	s, ok := serviceByCode(chi.URLParam(r, "code"))
	if !ok {
		a.notFound(w, r)
		return
	}
	v := a.myView(r, "my.svc."+s.Code+".title", "my")
	v.Data = serviceData{myBase: a.base(r), Svc: s}
	a.render(w, r, http.StatusOK, "my_service", v)
}

func (a *App) myRate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	v := a.myView(r, "my.home.title", "my")
	v.Form = r.PostForm
	subject := r.PostFormValue("subject")
	ms, _, err := a.measures(r)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	known := false
	for _, m := range ms {
		known = known || m.Subject == subject
	}
	if !known {
		a.notFound(w, r)
		return
	}
	rating, _ := strconv.Atoi(r.PostFormValue("rating"))
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if rating < 1 || rating > 5 {
		v.Errors["rating:"+subject] = v.T("my.err.rating")
	}
	if utf8.RuneCountInString(comment) > 2000 {
		v.Errors["comment:"+subject] = v.T("form.err.too_long")
	}
	if len(v.Errors) > 0 {
		a.homePage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err := a.st.RateService(r.Context(), userOf(r).ID, profileOf(r).OrgID, store.Rating{Subject: subject, Rating: rating, Comment: comment}); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(w, "my.flash.rated")
	a.redirect(w, r, "/my")
}

// ---- applications ----

var appTabs = []string{store.AppReview, store.AppWork, store.AppDone, store.AppDraft}

type appsData struct {
	myBase
	Tab    string
	Tabs   []string
	Counts map[string]int
	Apps   []store.Application
}

func (a *App) myApps(w http.ResponseWriter, r *http.Request) {
	v := a.myView(r, "my.apps.title", "my_apps")
	all, err := a.st.MyApplications(r.Context(), userOf(r).ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	tab := r.URL.Query().Get("tab")
	if stateOfTab(tab) == "" {
		tab = store.AppReview
	}
	d := appsData{myBase: a.base(r), Tab: tab, Tabs: appTabs, Counts: map[string]int{}}
	for _, ap := range all {
		d.Counts[ap.State]++
		if ap.State == tab {
			d.Apps = append(d.Apps, ap)
		}
	}
	v.Data = d
	a.render(w, r, http.StatusOK, "my_apps", v)
}

func stateOfTab(t string) string {
	for _, s := range appTabs {
		if s == t {
			return s
		}
	}
	return ""
}

type appFormData struct {
	myBase
	Svc       svcKind
	App       store.Application
	Docs      []store.Document
	Providers []store.Provider
	DocKinds  []string
}

func (a *App) myAppNew(w http.ResponseWriter, r *http.Request) {
	s, ok := serviceByCode(r.URL.Query().Get("service"))
	if !ok {
		a.notFound(w, r)
		return
	}
	v := a.myView(r, "my.app.new", "my_apps")
	a.appFormPage(w, r, http.StatusOK, v, s, store.Application{Service: s.Code})
}

func (a *App) appFormPage(w http.ResponseWriter, r *http.Request, status int, v *view, s svcKind, ap store.Application) {
	provs, err := a.st.Providers(r.Context(), profileOf(r).OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	var docs []store.Document
	if ap.ID != 0 {
		if docs, err = a.st.Documents(r.Context(), store.DocFilter{UserID: userOf(r).ID, ApplicationID: ap.ID}); err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	v.Data = appFormData{myBase: a.base(r), Svc: s, App: ap, Docs: docs, Providers: provs, DocKinds: docKindsIn}
	a.render(w, r, status, "my_app_form", v)
}

type appViewData struct {
	myBase
	Svc       svcKind
	App       store.Application
	Docs      []store.Document
	Events    []store.AppEvent
	Providers map[string]string
	DocKinds  []string
	CanUpload bool
}

func (a *App) myApp(w http.ResponseWriter, r *http.Request) {
	ap, err := a.st.MyApplication(r.Context(), userOf(r).ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	s, _ := serviceByCode(ap.Service)
	if ap.State == store.AppDraft {
		v := a.myView(r, "my.app.draft", "my_apps")
		for k, val := range ap.Form {
			v.Form.Set(k, val)
		}
		a.appFormPage(w, r, http.StatusOK, v, s, ap)
		return
	}
	a.appViewPage(w, r, http.StatusOK, a.myView(r, "my.app.title", "my_apps"), s, ap)
}

func (a *App) appViewPage(w http.ResponseWriter, r *http.Request, status int, v *view, s svcKind, ap store.Application) {
	ctx := r.Context()
	docs, err := a.st.Documents(ctx, store.DocFilter{UserID: userOf(r).ID, ApplicationID: ap.ID})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	ev, err := a.st.AppEvents(ctx, ap.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	provs, err := a.st.Providers(ctx, ap.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	names := map[string]string{}
	for _, p := range provs {
		names[strconv.FormatInt(p.ID, 10)] = p.Name
	}
	v.Data = appViewData{myBase: a.base(r), Svc: s, App: ap, Docs: docs, Events: ev, Providers: names, DocKinds: docKindsIn,
		CanUpload: ap.State != store.AppDone}
	a.render(w, r, status, "my_app", v)
}

// parseUploadForm parses a multipart (or plain) form; a body far over the
// limit is reported next to the file field.
func parseUploadForm(w http.ResponseWriter, r *http.Request, v *view, field string) {
	r.Body = http.MaxBytesReader(w, r.Body, 3*maxDocSize)
	err := r.ParseMultipartForm(1 << 20)
	if err != nil && !errors.Is(err, http.ErrNotMultipart) {
		v.Errors[field] = v.T("my.err.file_size", maxDocSize>>20)
	}
}

const maxDocSize = 5 << 20

// upload is a checked file: PDF, JPEG or PNG by content, at most 5 MB.
type upload struct {
	Name        string
	ContentType string
	Data        []byte
}

// sniffDoc recognises the accepted types by their first bytes.
func sniffDoc(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "application/pdf"
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	}
	return ""
}

// readUpload reads the file of field; nil without error if none was sent.
func readUpload(r *http.Request, v *view, field string) *upload {
	if v.Errors[field] != "" || r.MultipartForm == nil {
		return nil
	}
	f, h, err := r.FormFile(field)
	if errors.Is(err, http.ErrMissingFile) {
		return nil
	}
	if err != nil {
		v.Errors[field] = v.T("my.err.file_read")
		return nil
	}
	defer f.Close()
	if h.Size > maxDocSize {
		v.Errors[field] = v.T("my.err.file_size", maxDocSize>>20)
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDocSize+1))
	if err != nil {
		v.Errors[field] = v.T("my.err.file_read")
		return nil
	}
	if len(data) > maxDocSize {
		v.Errors[field] = v.T("my.err.file_size", maxDocSize>>20)
		return nil
	}
	if len(data) == 0 {
		v.Errors[field] = v.T("my.err.file_empty")
		return nil
	}
	ct := sniffDoc(data)
	if ct == "" {
		v.Errors[field] = v.T("my.err.file_type")
		return nil
	}
	name := path.Base(strings.ReplaceAll(h.Filename, "\\", "/"))
	if name == "." || name == "/" || !utf8.ValidString(name) {
		name = "document"
	}
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return &upload{Name: name, ContentType: ct, Data: data}
}

func validKind(k string, kinds []string) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// saveDoc seals and stores an upload.
func (a *App) saveDoc(r *http.Request, up *upload, d store.Document) (int64, error) {
	box, err := a.box()
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(up.Data)
	d.Name, d.ContentType, d.Size, d.SHA256 = up.Name, up.ContentType, len(up.Data), sum[:]
	d.Data = box.Seal(up.Data, "document")
	d.UploadedBy = userOf(r).ID
	return a.st.AddDocument(r.Context(), d)
}

func (a *App) openDoc(d store.Document) ([]byte, error) {
	box, err := a.box()
	if err != nil {
		return nil, err
	}
	return box.Open(d.Data, "document")
}

// myAppSave creates or updates a draft, attaches a file if one came, and
// submits when asked (action=submit).
func (a *App) myAppSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := userOf(r)
	p := profileOf(r)
	if _, err := a.box(); err != nil {
		a.serverError(w, r, err)
		return
	}
	var ap store.Application
	if id := idParam(r, "id"); id != 0 {
		var err error
		if ap, err = a.st.MyApplication(ctx, u.ID, id); err != nil {
			a.storeErr(w, r, err)
			return
		}
		if ap.State != store.AppDraft {
			a.redirect(w, r, fmt.Sprintf("/my/applications/%d", ap.ID))
			return
		}
	} else {
		ap = store.Application{Service: r.URL.Query().Get("service"), OrgID: p.OrgID, UserID: u.ID}
	}
	s, ok := serviceByCode(ap.Service)
	if !ok {
		a.notFound(w, r)
		return
	}
	v := a.myView(r, "my.app.new", "my_apps")
	if ap.ID != 0 {
		v.Title = "my.app.draft"
	}
	parseUploadForm(w, r, v, "file")
	v.Form = r.PostForm
	if v.Form == nil {
		v.Form = map[string][]string{}
	}
	submit := r.PostFormValue("action") == "submit"
	provs, err := a.st.Providers(ctx, p.OrgID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	ap.Form = validateServiceForm(v, s, r.PostFormValue, provs, submit)
	up := readUpload(r, v, "file")
	kind := r.PostFormValue("kind")
	if up != nil && !validKind(kind, docKindsIn) {
		v.Errors["kind"] = v.T("my.err.choose")
	}
	if len(v.Errors) > 0 {
		v.Errors["form"] = v.T("my.err.fix_below")
		a.appFormPage(w, r, http.StatusUnprocessableEntity, v, s, ap)
		return
	}
	ap.Applicant = u.FullName
	id, err := a.st.SaveDraft(ctx, ap)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	ap.ID = id
	if up != nil {
		if _, err := a.saveDoc(r, up, store.Document{OrgID: p.OrgID, UserID: u.ID, ApplicationID: id, Direction: "in", Kind: kind}); err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	link := fmt.Sprintf("/my/applications/%d", id)
	if !submit {
		a.flash(w, "my.flash.draft_saved")
		a.redirect(w, r, link)
		return
	}
	number, err := a.st.SubmitApplication(ctx, u.ID, id, s.DecisionDays)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.log.Info("application submitted", "user", u.ID, "application", id, "service", s.Code)
	a.notifyCitizen(r, u.ID, "my.note.app_submitted", []string{number, "@my.svc." + s.Code + ".title"}, link)
	a.flash(w, "my.flash.submitted")
	a.redirect(w, r, link)
}

func (a *App) myAppDelete(w http.ResponseWriter, r *http.Request) {
	if err := a.st.DeleteDraft(r.Context(), userOf(r).ID, idParam(r, "id")); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.flash(w, "my.flash.draft_deleted")
	a.redirect(w, r, "/my/applications?tab=draft")
}

// myAppUpload adds a document to a submitted application (staff asked for
// a missing one, say).
func (a *App) myAppUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := userOf(r)
	ap, err := a.st.MyApplication(ctx, u.ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	link := fmt.Sprintf("/my/applications/%d", ap.ID)
	if ap.State == store.AppDraft {
		a.redirect(w, r, link)
		return
	}
	s, _ := serviceByCode(ap.Service)
	v := a.myView(r, "my.app.title", "my_apps")
	parseUploadForm(w, r, v, "file")
	v.Form = r.PostForm
	up := readUpload(r, v, "file")
	if up == nil && v.Errors["file"] == "" {
		v.Errors["file"] = v.T("my.err.file_missing")
	}
	kind := r.PostFormValue("kind")
	if !validKind(kind, docKindsIn) {
		v.Errors["kind"] = v.T("my.err.choose")
	}
	if ap.State == store.AppDone {
		v.Errors["file"] = v.T("my.err.app_done")
	}
	if len(v.Errors) > 0 {
		a.appViewPage(w, r, http.StatusUnprocessableEntity, v, s, ap)
		return
	}
	if _, err := a.saveDoc(r, up, store.Document{OrgID: ap.OrgID, UserID: u.ID, ApplicationID: ap.ID, Direction: "in", Kind: kind}); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("document added", "user", u.ID, "application", ap.ID)
	a.flash(w, "my.flash.uploaded")
	a.redirect(w, r, link)
}

func (a *App) myDocDelete(w http.ResponseWriter, r *http.Request) {
	if err := a.st.DeleteDraftDocument(r.Context(), userOf(r).ID, idParam(r, "doc")); err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.flash(w, "my.flash.doc_removed")
	a.redirect(w, r, fmt.Sprintf("/my/applications/%d", idParam(r, "id")))
}

// ---- documents ----

type docsData struct {
	myBase
	Docs []store.Document
}

func (a *App) myDocs(w http.ResponseWriter, r *http.Request) {
	v := a.myView(r, "my.docs.title", "my_docs")
	docs, err := a.st.Documents(r.Context(), store.DocFilter{UserID: userOf(r).ID})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = docsData{myBase: a.base(r), Docs: docs}
	a.render(w, r, http.StatusOK, "my_docs", v)
}

func (a *App) myDocDownload(w http.ResponseWriter, r *http.Request) {
	d, err := a.st.DocumentData(r.Context(), store.DocFilter{UserID: userOf(r).ID}, idParam(r, "doc"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	a.sendDoc(w, r, d)
}

// sendDoc decrypts and sends a document as a download (never rendered
// inline: a file is shown by the viewer's own program).
func (a *App) sendDoc(w http.ResponseWriter, r *http.Request, d store.Document) {
	data, err := a.openDoc(d)
	if err != nil {
		a.serverError(w, r, fmt.Errorf("document %d: %w", d.ID, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", d.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name}))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "private, no-store")
	w.Write(data)
}

// ---- notifications ----

type notesData struct {
	myBase
	Notes []store.Notification
}

func (a *App) myNotes(w http.ResponseWriter, r *http.Request) {
	v := a.myView(r, "my.notes.title", "my_notes")
	notes, err := a.st.Notifications(r.Context(), userOf(r).ID, 200)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = notesData{myBase: a.base(r), Notes: notes}
	a.render(w, r, http.StatusOK, "my_notes", v)
}

func (a *App) myNoteOpen(w http.ResponseWriter, r *http.Request) {
	link, err := a.st.MarkRead(r.Context(), userOf(r).ID, idParam(r, "id"))
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	if safeNext(link) == "" {
		link = "/my/notifications"
	}
	a.redirect(w, r, link)
}

func (a *App) myNotesRead(w http.ResponseWriter, r *http.Request) {
	if _, err := a.st.MarkRead(r.Context(), userOf(r).ID, 0); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.redirect(w, r, "/my/notifications")
}
