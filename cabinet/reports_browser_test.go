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
	progress := chromedp.Events(ctx, browser.DownloadProgress)

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
	// The page started the download itself.
	deadline, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ev, err := range progress {
		if err != nil {
			t.Fatal(err)
		}
		if deadline.Err() != nil {
			t.Fatal("no download within 30 s")
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil || !strings.HasPrefix(string(b), "PK") {
			t.Fatalf("downloaded file: %d bytes, %v", len(b), err)
		}
		break
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
