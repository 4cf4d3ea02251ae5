package cabinet

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed locales/*.json
var localeFS embed.FS

// Languages the cabinet speaks; Russian is the default.
var Languages = []string{"ru", "en"}

// catalog maps message keys to text per language.
type catalog map[string]map[string]string

// loadCatalog merges locales/<lang>.json and every locales/<feature>.<lang>.json
// (each feature keeps its own file); a key defined twice is an error.
func loadCatalog() (catalog, error) {
	c := catalog{}
	for _, lang := range Languages {
		c[lang] = map[string]string{}
		files, _ := fs.Glob(localeFS, "locales/*"+lang+".json")
		for _, f := range files {
			base := path.Base(f)
			if base != lang+".json" && !strings.HasSuffix(base, "."+lang+".json") {
				continue
			}
			b, err := localeFS.ReadFile(f)
			if err != nil {
				return nil, err
			}
			m := map[string]string{}
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for k, v := range m {
				if _, dup := c[lang][k]; dup {
					return nil, fmt.Errorf("%s: key %q defined twice", f, k)
				}
				c[lang][k] = v
			}
		}
	}
	return c, nil
}

// T translates key; args fill %s/%d verbs. A missing key shows itself, so
// it is noticed (and a test checks every key exists in every language).
func (c catalog) T(lang, key string, args ...any) string {
	s, ok := c[lang][key]
	if !ok {
		s, ok = c["ru"][key]
	}
	if !ok {
		s = key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Plural picks the Russian (one, few, many) or English (one, other) form:
// key.one, key.few, key.many.
func (c catalog) Plural(lang, key string, n int) string {
	form := "many"
	if lang == "en" {
		if n == 1 {
			form = "one"
		}
	} else {
		m10, m100 := n%10, n%100
		switch {
		case m10 == 1 && m100 != 11:
			form = "one"
		case m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14):
			form = "few"
		}
	}
	return c.T(lang, key+"."+form, n)
}

// langOf picks the language: ?lang= (remembered in a cookie), the cookie,
// the user's setting, then Russian. Accept-Language is not consulted: the
// users are Russian organisations, English is on request.
func langOf(r *http.Request, userLocale string) string {
	if l := r.URL.Query().Get("lang"); valid(l) {
		return l
	}
	if c, err := r.Cookie("lang"); err == nil && valid(c.Value) {
		return c.Value
	}
	if valid(userLocale) {
		return userLocale
	}
	return "ru"
}

func valid(l string) bool {
	for _, x := range Languages {
		if strings.EqualFold(l, x) {
			return true
		}
	}
	return false
}
