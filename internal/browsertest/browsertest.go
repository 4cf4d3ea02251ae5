// Package browsertest starts a headless Chromium for the cabinet's browser
// tests (chromedp). Chromium comes from Debian's package; `make test`
// installs it. A missing browser fails the test with what to install: a
// browser test never passes without a browser.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the browser: $CAREVISIT_CHROMIUM, then the usual names.
func Path() (string, bool) {
	if p := os.Getenv("CAREVISIT_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// New returns a browser tab context that lives until the test ends. Each
// test gets a fresh profile (cookies, storage).
func New(t testing.TB) context.Context {
	t.Helper()
	path, ok := Path()
	if !ok {
		t.Fatal("browser test: Chromium not found. Install it (apt-get install chromium) or set CAREVISIT_CHROMIUM; `make test` installs it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// The machine has no network beyond loopback: keep Chromium from
		// trying to reach Google at start.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("lang", "ru-RU"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser now, so a broken install fails here with a clear error.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser test: cannot start %s: %v", path, err)
	}
	return ctx
}
