package cabinet

import (
	"io/fs"
	"regexp"
	"sort"
	"testing"
)

// Every key a template asks for with .T "key" exists in every language,
// and both languages have the same keys.
func TestCatalogsComplete(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for k := range cat["ru"] {
		if _, ok := cat["en"][k]; !ok {
			t.Errorf("key %q has no English text", k)
		}
	}
	for k := range cat["en"] {
		if _, ok := cat["ru"][k]; !ok {
			t.Errorf("key %q has no Russian text", k)
		}
	}
	re := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	var missing []string
	fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := templateFS.ReadFile(p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := cat["ru"][m[1]]; !ok {
				missing = append(missing, p+": "+m[1])
			}
		}
		return nil
	})
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("template uses a key with no text: %s", m)
	}
}

func TestTemplatesParse(t *testing.T) {
	as, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newEngine(as); err != nil {
		t.Fatal(err)
	}
}
