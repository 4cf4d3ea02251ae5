package cabinet_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"carevisit/internal/browsertest"
	"carevisit/store"
)

// A supervisor logs in with a real browser: a wrong password is explained
// on the page, the right one opens the overview in Russian.
func TestBrowserLogin(t *testing.T) {
	e := newEnv(t)
	e.user(e.org, "sup@example.ru", store.RoleSupervisor, "correct horse battery")
	ctx := browsertest.New(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/staff/"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "sup@example.ru"),
		chromedp.SendKeys(chromedp.ID("password"), "not my password"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("form-error")),
	)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("form-error")))
	if err != nil || !strings.Contains(msg, "Неверный адрес") {
		t.Fatalf("error message %q (%v)", msg, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("visits-today")),
	)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if h1 != "Сводка" {
		t.Errorf("landing page heading %q, want Сводка", h1)
	}
}
