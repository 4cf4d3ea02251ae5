// Package shared finds the project's shared material (../shared beside the
// repository: protocol vectors, the visit benchmark) for tests.
package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of ../shared (beside the module root), or
// $CAREVISIT_SHARED when set. A test that needs it fails loudly when it is
// missing: silently skipping would let CI pass without checking anything.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("CAREVISIT_SHARED"); d != "" {
		return d
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("shared: %v", err)
	}
	d := filepath.Join(filepath.Dir(root), "shared")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("shared material missing: %s not found (it must sit beside the repository; set CAREVISIT_SHARED to point elsewhere): %v", d, err)
	}
	return d
}

// Path joins elems under Dir and checks the result exists.
func Path(tb testing.TB, elems ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elems...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared material missing: %v", err)
	}
	return p
}

func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", os.ErrNotExist
		}
		d = p
	}
}
