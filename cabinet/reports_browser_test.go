package cabinet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"carevisit/internal/browsertest"
	"carevisit/store"
)

// In a real browser: the download form builds the report, the page follows
// the job's progress and downloads the workbook by itself; the schedule
// form shows the cron fields only for a custom schedule.
func TestReportsBrowser(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	e.user(e.org, "admin@example.ru", store.RoleAdmin, "correct horse battery")
	ctx := browsertest.New(t)
	dir := t.TempDir()

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "admin@example.ru"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("visits-today")),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: repPtr(true)})
			return err
		}),
		chromedp.Navigate(e.srv.URL+"/staff/reports"),
		chromedp.WaitVisible(chromedp.ID("rep-form")),
		chromedp.SetValue(chromedp.ID("from"), "2026-03-01"),
		chromedp.SetValue(chromedp.ID("to"), "2026-03-31"),
		chromedp.SetValue(chromedp.ID("scope"), fmt.Sprintf("g%d", f.ga)),
		chromedp.Click(chromedp.ID("rep-build")),
		chromedp.WaitVisible(chromedp.ID("rep-download")),
	)
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("rep-job-text")))
	if err != nil || !strings.Contains(text, "Отчёт готов") {
		t.Errorf("job text %q (%v)", text, err)
	}
	// The page started the download itself. Poll the download folder for a
	// complete workbook (a zip ends with its end-of-central-directory
	// record) rather than wait for browser events, which a loaded machine
	// may deliver late or coalesce.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if workbookIn(dir) {
			break
		}
		if time.Now().After(deadline) {
			names, _ := os.ReadDir(dir)
			t.Fatalf("no complete workbook downloaded within 60 s (folder: %v)", names)
		}
		time.Sleep(100 * time.Millisecond)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/staff/reports/schedules"),
		chromedp.WaitVisible(chromedp.ID("schedule-form")),
		chromedp.WaitNotVisible(chromedp.ID("cron")),
		chromedp.SetValue(chromedp.ID("preset"), "custom"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.getElementById('preset').dispatchEvent(new Event('change'))`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.ID("cron")),
	)
	if err != nil {
		t.Fatal(err)
	}
}

func repPtr[T any](v T) *T { return &v }

// workbookIn reports whether dir holds a complete .xlsx (zip) file.
func workbookIn(dir string) bool {
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil || len(b) < 22 || !strings.HasPrefix(string(b), "PK") {
			continue
		}
		if strings.Contains(string(b[max(0, len(b)-64*1024):]), "PK\x05\x06") {
			return true
		}
	}
	return false
}
