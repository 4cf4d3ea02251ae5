package cabinet

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"carevisit/store"

	"github.com/go-chi/chi/v5"
)

// Messages: one conversation per worker between the worker (the app) and
// the organisation's coordinators (the staff pages /staff/messages).

const (
	maxMessageRunes = 4000
	maxClientRef    = 64
)

type apiMessage struct {
	ID     int64      `json:"id"`
	From   string     `json:"from"`   // "worker" or "staff"
	Author string     `json:"author"` // the coordinator's name ("" for the worker)
	Text   string     `json:"text"`
	At     time.Time  `json:"at"`
	ReadAt *time.Time `json:"read_at"` // when the other side read it
	Ref    string     `json:"client_ref,omitempty"`
}

func toAPIMessage(m store.Message) apiMessage {
	out := apiMessage{ID: m.ID, From: "staff", Author: m.UserName, Text: m.Body, At: m.At, Ref: m.ClientRef}
	if m.FromWorker {
		out.From, out.Author = "worker", ""
	}
	if !m.ReadAt.IsZero() {
		t := m.ReadAt
		out.ReadAt = &t
	}
	return out
}

type apiMessages struct {
	Messages []apiMessage `json:"messages"`
	LastID   int64        `json:"last_id"` // pass as since= to poll
	More     bool         `json:"more"`    // more messages after these: ask again
}

// apiMessages returns the conversation: without since the newest limit
// messages, with since=id those after id (polling), oldest first. Staff
// messages returned count as read by the worker.
func (a *App) apiMessages(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			a.fail(w, r, problem(http.StatusBadRequest, "invalid", "limit", "limit must be 1 to 500"))
			return
		}
		limit = n
	}
	var ms []store.Message
	var err error
	since, hasSince := int64(0), q.Has("since")
	if hasSince {
		since, err = strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || since < 0 {
			a.fail(w, r, problem(http.StatusBadRequest, "invalid", "since", "since must be a message id"))
			return
		}
		ms, err = a.st.Messages(ctx, id.Org.ID, id.WorkerID, since, limit+1)
	} else {
		ms, err = a.st.LastMessages(ctx, id.Org.ID, id.WorkerID, limit)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := apiMessages{Messages: make([]apiMessage, 0, len(ms)), LastID: since}
	if len(ms) > limit {
		ms, out.More = ms[:limit], true
	}
	for _, m := range ms {
		out.Messages = append(out.Messages, toAPIMessage(m))
		out.LastID = m.ID
	}
	if len(ms) > 0 {
		if err := a.st.MarkMessagesRead(ctx, id.Org.ID, id.WorkerID, false, out.LastID); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiMessageSend stores the worker's message. With client_ref (the app's
// id for it) a retried send is stored once and answered 200.
func (a *App) apiMessageSend(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	var in struct {
		Text      string `json:"text"`
		ClientRef string `json:"client_ref"`
	}
	if err := decodeJSON(w, r, 64<<10, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	text := strings.TrimSpace(in.Text)
	if text == "" || utf8.RuneCountInString(text) > maxMessageRunes {
		a.fail(w, r, invalid("text", "text must hold 1 to %d characters", maxMessageRunes))
		return
	}
	if len(in.ClientRef) > maxClientRef {
		a.fail(w, r, invalid("client_ref", "client_ref is at most %d bytes", maxClientRef))
		return
	}
	m, created, err := a.st.AddMessage(ctx, store.Message{OrgID: id.Org.ID, WorkerID: id.WorkerID, FromWorker: true,
		Body: text, ClientRef: in.ClientRef})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, createdStatus(created), toAPIMessage(m))
}

// ---- staff pages ----

func (a *App) msgList(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "msg.title", "messages")
	cs, err := a.st.Conversations(r.Context(), a.scope(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = cs
	a.render(w, r, http.StatusOK, "msg_list", v)
}

type msgThreadData struct {
	Worker   store.ScopedWorker
	Messages []store.Message
	Photos   []store.Photo
}

// threadPhotoDays is how far back the conversation page shows the
// worker's photo reports.
const threadPhotoDays = 7

func (a *App) msgThread(w http.ResponseWriter, r *http.Request) {
	v := a.newView(r, "msg.thread_title", "messages")
	a.msgThreadPage(w, r, http.StatusOK, v)
}

func (a *App) msgThreadPage(w http.ResponseWriter, r *http.Request, status int, v *view) {
	ctx, sc := r.Context(), a.scope(r)
	wid, err := strconv.ParseInt(chi.URLParam(r, "workerID"), 10, 64)
	if err != nil {
		a.notFound(w, r)
		return
	}
	wk, err := a.st.WorkerInScope(ctx, sc, wid)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	ms, err := a.st.LastMessages(ctx, sc.OrgID, wk.ID, 200)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	// Reading marks the worker's messages read; an auditor's look does not.
	if len(ms) > 0 && !sc.ReadOnly {
		if err := a.st.MarkMessagesRead(ctx, sc.OrgID, wk.ID, true, ms[len(ms)-1].ID); err != nil {
			a.serverError(w, r, err)
			return
		}
	}
	now := time.Now()
	ps, err := a.st.WorkerPhotos(ctx, sc, wk.ID, now.AddDate(0, 0, -threadPhotoDays), now.Add(time.Minute))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	v.Data = msgThreadData{Worker: wk, Messages: ms, Photos: ps}
	a.render(w, r, status, "msg_thread", v)
}

func (a *App) msgReply(w http.ResponseWriter, r *http.Request) {
	ctx, sc := r.Context(), a.scope(r)
	wid, err := strconv.ParseInt(chi.URLParam(r, "workerID"), 10, 64)
	if err != nil {
		a.notFound(w, r)
		return
	}
	wk, err := a.st.WorkerInScope(ctx, sc, wid)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	r.ParseForm()
	v := a.newView(r, "msg.thread_title", "messages")
	v.Form = r.PostForm
	text := strings.TrimSpace(r.PostFormValue("text"))
	switch {
	case text == "":
		v.Errors["text"] = v.T("form.err.required")
	case utf8.RuneCountInString(text) > maxMessageRunes:
		v.Errors["text"] = v.T("form.err.too_long")
	}
	if len(v.Errors) > 0 {
		a.msgThreadPage(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if _, _, err := a.st.AddMessage(ctx, store.Message{OrgID: sc.OrgID, WorkerID: wk.ID, UserID: sc.UserID, Body: text}); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(w, "msg.flash.sent")
	a.redirect(w, r, "/staff/messages/"+strconv.FormatInt(wk.ID, 10))
}
