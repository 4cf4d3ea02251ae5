package cabinet

import (
	"bytes"
	"errors"
	"image"
	_ "image/jpeg" // DecodeConfig for uploaded photos
	_ "image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"carevisit/store"
)

// Photo limits: a phone camera's JPEG is 2–6 MB; 10 MB leaves room and
// keeps the database (where photos live, backed up with the rest) sane.
const (
	maxPhotoBytes = 10 << 20
	maxPhotoSide  = 20000
	maxNoteRunes  = 2000
)

// photoFormats maps the sniffed content type to image's format name.
var photoFormats = map[string]string{"image/jpeg": "jpeg", "image/png": "png"}

type photoResult struct {
	ID          int64      `json:"id"`
	ClientID    int64      `json:"client_id"`
	At          time.Time  `json:"at"`
	Lat         *float64   `json:"lat"`
	Lon         *float64   `json:"lon"`
	PlaceAt     *time.Time `json:"place_at"`
	ContentType string     `json:"content_type"`
	Size        int        `json:"size"`
	Width       int        `json:"width"`
	Height      int        `json:"height"`
	Note        string     `json:"note"`
}

// readPhotoForm streams the multipart body: client_id, note and file
// (read up to the limit, never spooled to disk).
func readPhotoForm(w http.ResponseWriter, r *http.Request) (clientID int64, note string, data []byte, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPhotoBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return 0, "", nil, problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "", "send multipart/form-data")
	}
	var gotClient, gotFile bool
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, "", nil, multipartProblem(err)
		}
		switch part.FormName() {
		case "client_id":
			b, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return 0, "", nil, multipartProblem(err)
			}
			clientID, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil || clientID <= 0 {
				return 0, "", nil, invalid("client_id", "client_id must be a client's id")
			}
			gotClient = true
		case "note":
			b, err := io.ReadAll(io.LimitReader(part, 4*maxNoteRunes+1))
			if err != nil {
				return 0, "", nil, multipartProblem(err)
			}
			if !utf8.Valid(b) || utf8.RuneCount(b) > maxNoteRunes {
				return 0, "", nil, invalid("note", "note must be UTF-8 text of at most %d characters", maxNoteRunes)
			}
			note = strings.TrimSpace(string(b))
		case "file":
			if data, err = io.ReadAll(io.LimitReader(part, maxPhotoBytes+1)); err != nil {
				return 0, "", nil, multipartProblem(err)
			}
			if len(data) > maxPhotoBytes {
				return 0, "", nil, problem(http.StatusRequestEntityTooLarge, "too_large", "file", "the photo is larger than %d MB", maxPhotoBytes>>20)
			}
			gotFile = true
		}
		part.Close()
	}
	if !gotClient {
		return 0, "", nil, invalid("client_id", "client_id is required")
	}
	if !gotFile || len(data) == 0 {
		return 0, "", nil, invalid("file", "file is required")
	}
	return clientID, note, data, nil
}

func multipartProblem(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problem(http.StatusRequestEntityTooLarge, "too_large", "file", "the request is larger than %d MB", maxPhotoBytes>>20)
	}
	return problem(http.StatusBadRequest, "bad_multipart", "", "malformed multipart body")
}

// photoType checks by content (never by name or the declared type) that
// data is a JPEG or PNG image and returns its type and size.
func photoType(data []byte) (contentType string, cfg image.Config, err error) {
	ct := http.DetectContentType(data)
	format, ok := photoFormats[ct]
	if !ok {
		return "", cfg, problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "file", "only JPEG and PNG photos are accepted")
	}
	cfg, got, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || got != format {
		return "", cfg, problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "file", "the file is not a readable JPEG or PNG image")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxPhotoSide || cfg.Height > maxPhotoSide {
		return "", cfg, invalid("file", "the image is %d×%d pixels; at most %d on a side", cfg.Width, cfg.Height, maxPhotoSide)
	}
	return ct, cfg, nil
}

// apiPhotoUpload stores a photo report. The server stamps the time and
// the device's last known place (with that fix's time, so a stale place
// shows as stale).
func (a *App) apiPhotoUpload(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), identOf(r)
	clientID, note, data, err := readPhotoForm(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ct, cfg, err := photoType(data)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.st.AppCheckClient(ctx, id.Org.ID, id.WorkerID, clientID); err != nil {
		a.fail(w, r, err)
		return
	}
	p := store.Photo{OrgID: id.Org.ID, WorkerID: id.WorkerID, DeviceID: id.DeviceID, ClientID: clientID,
		At: time.Now().UTC().Truncate(time.Microsecond), ContentType: ct, Width: cfg.Width, Height: cfg.Height, Note: note, Data: data}
	last, err := a.st.LastPositionOf(ctx, id.DeviceID)
	switch {
	case err == nil:
		p.Lat, p.Lon, p.PlaceAt = &last.Lat, &last.Lon, &last.FixTime
	case !errors.Is(err, store.ErrNotFound):
		a.fail(w, r, err)
		return
	}
	if p.ID, err = a.st.AddPhoto(ctx, p); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, photoResult{ID: p.ID, ClientID: clientID, At: p.At, Lat: p.Lat, Lon: p.Lon, PlaceAt: p.PlaceAt,
		ContentType: ct, Size: len(data), Width: cfg.Width, Height: cfg.Height, Note: note})
}

// apiPhoto serves one of the worker's own photos.
func (a *App) apiPhoto(w http.ResponseWriter, r *http.Request) {
	id := identOf(r)
	pid, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		a.fail(w, r, store.ErrNotFound)
		return
	}
	p, err := a.st.WorkerPhoto(r.Context(), id.Org.ID, id.WorkerID, pid)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	servePhoto(w, p)
}

// staffPhoto serves a photo to the staff who may see its worker.
func (a *App) staffPhoto(w http.ResponseWriter, r *http.Request) {
	pid, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		a.notFound(w, r)
		return
	}
	p, err := a.st.Photo(r.Context(), a.scope(r), pid)
	if err != nil {
		a.storeErr(w, r, err)
		return
	}
	servePhoto(w, p)
}

func servePhoto(w http.ResponseWriter, p store.Photo) {
	h := w.Header()
	h.Set("Content-Type", p.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(p.Data)))
	// Personal data: the browser may keep it, shared caches may not.
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Disposition", "inline")
	w.Write(p.Data)
}
