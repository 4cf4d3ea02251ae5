package cabinet

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"carevisit/store"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assets serves embedded static files under /static/<hash>/<path>, so a
// changed file gets a new URL and old ones can be cached forever.
type assets struct {
	hash map[string]string // path -> short content hash
}

func loadAssets() (*assets, error) {
	a := &assets{hash: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		a.hash[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(h[:6])
		return nil
	})
	return a, err
}

// URL is the cache-busting address of a static file.
func (a *assets) URL(name string) string {
	h, ok := a.hash[name]
	if !ok {
		panic("cabinet: unknown static file " + name) // caught by the template test
	}
	return "/static/" + h + "/" + name
}

func (a *assets) handler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /static/<hash>/<path>: the hash only busts caches.
		rest := strings.TrimPrefix(r.URL.Path, "/static/")
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		name := rest[i+1:]
		if a.hash[name] == rest[:i] {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		r2 := *r
		u := *r.URL
		u.Path = "/" + name
		r2.URL = &u
		files.ServeHTTP(w, &r2)
	})
}

// engine holds one parsed template set per page: the layout, the partials
// and the page. Parsed at start: a broken template stops the server.
type engine struct {
	pages map[string]*template.Template
}

func newEngine(a *assets) (*engine, error) {
	funcs := template.FuncMap{
		"static": a.URL,
		"dur":    fmtDuration,
		"json": func(v any) (template.JS, error) {
			b, err := json.Marshal(v)
			return template.JS(b), err
		},
		"join": strings.Join,
		"add":  func(a, b int) int { return a + b },
		"query": func(kv ...string) template.URL {
			q := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					q.Set(kv[i], kv[i+1])
				}
			}
			return template.URL(q.Encode())
		},
		"contains": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
		"containsID": func(list []int64, id int64) bool {
			for _, x := range list {
				if x == id {
					return true
				}
			}
			return false
		},
	}
	e := &engine{pages: map[string]*template.Template{}}
	partials, _ := fs.Glob(templateFS, "templates/partials/*.html")
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "layout" {
			continue
		}
		files := append([]string{"templates/layout.html"}, partials...)
		files = append(files, p)
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, files...)
		if err != nil {
			return nil, fmt.Errorf("cabinet: template %s: %w", name, err)
		}
		e.pages[name] = t
	}
	return e, nil
}

// view is what every page template gets. Methods translate and format in
// the viewer's language and the organisation's time zone.
type view struct {
	Lang   string
	Title  string
	Nav    string
	User   *store.User
	Org    *store.Organisation
	Flash  string
	Errors map[string]string
	Form   url.Values
	Data   any
	Path   string
	Query  string
	Tiles  string // map tile URL template, "" = no tiles
	SSO    bool   // sign-in through the external OpenID Connect provider is on

	cat      catalog
	loc      *time.Location
	navCount func(navItem) int // badge numbers of menu entries; nil outside requests
}

// T translates.
func (v *view) T(key string, args ...any) string { return v.cat.T(v.Lang, key, args...) }

// Plural picks a plural form.
func (v *view) Plural(key string, n int) string { return v.cat.Plural(v.Lang, key, n) }

// Time formats a time in the organisation's zone ("" for zero).
func (v *view) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(v.loc).Format("02.01.2006 15:04")
}

// Clock formats hours and minutes in the organisation's zone.
func (v *view) Clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(v.loc).Format("15:04")
}

// Date formats a date in the organisation's zone.
func (v *view) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(v.loc).Format("02.01.2006")
}

// Zone is the organisation's time zone name.
func (v *view) Zone() string { return v.loc.String() }

// Err is the translated error for a form field ("" if none).
func (v *view) Err(field string) string { return v.Errors[field] }

// Val is a submitted form value, for re-rendering a form with errors.
func (v *view) Val(field string) string { return v.Form.Get(field) }

// Can reports whether the viewer holds one of the roles.
func (v *view) Can(roles ...string) bool {
	if v.User == nil {
		return false
	}
	for _, r := range roles {
		if v.User.Role == r {
			return true
		}
	}
	return false
}

// LangURL is the current page in another language.
func (v *view) LangURL(lang string) string {
	q, _ := url.ParseQuery(v.Query)
	q.Set("lang", lang)
	return v.Path + "?" + q.Encode()
}

func fmtDuration(seconds int) string {
	if seconds < 0 {
		seconds = 0
	}
	h, m := seconds/3600, seconds%3600/60
	return fmt.Sprintf("%d:%02d", h, m)
}

func (e *engine) render(w http.ResponseWriter, status int, page string, v *view) error {
	t, ok := e.pages[page]
	if !ok {
		return fmt.Errorf("cabinet: no template %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// navItem is an entry of the main menu.
type navItem struct {
	Key, Href, Label string
	Order            int
	// Sub puts the entry in the second row (the directory: workers, clients,
	// devices, ...); the first row holds the day's work.
	Sub bool
	// Count, if set, is a number shown as a badge (e.g. unseen alerts);
	// it runs once per page that shows the menu.
	Count func(a *App, r *http.Request) int
}

// NavCount is a menu entry's badge number (0 = no badge).
func (v *view) NavCount(it navItem) int {
	if v.navCount == nil || it.Count == nil {
		return 0
	}
	return v.navCount(it)
}

// staffNavItems and citizenNavItems are filled by the feature files' init
// functions and never change afterwards.
var staffNavItems, citizenNavItems []navItem

func addNav(list *[]navItem, it navItem) {
	*list = append(*list, it)
	for i := len(*list) - 1; i > 0 && (*list)[i].Order < (*list)[i-1].Order; i-- {
		(*list)[i], (*list)[i-1] = (*list)[i-1], (*list)[i]
	}
}

// StaffNav is the staff menu's first row.
func (v *view) StaffNav() []navItem { return pickNav(false) }

// StaffSubNav is the staff menu's second row: the directory.
func (v *view) StaffSubNav() []navItem { return pickNav(true) }

func pickNav(sub bool) []navItem {
	var out []navItem
	for _, it := range staffNavItems {
		if it.Sub == sub {
			out = append(out, it)
		}
	}
	return out
}

// CitizenNav is the citizen menu (for citizens only).
func (v *view) CitizenNav() []navItem {
	if v.User == nil || v.User.Role != "citizen" {
		return nil
	}
	return citizenNavItems
}
