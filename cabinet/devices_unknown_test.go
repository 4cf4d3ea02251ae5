package cabinet_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"carevisit/store"
)

// The unknown-devices list is shared by every organisation, so its numbers
// are masked; guessing the rest is cut short after 10 mistyped numbers an
// hour per user, even when the 11th guess is right.
func TestUnknownDeviceGuessingLimited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const imei = "864717003283581"
	if err := e.st.NoteUnknown(ctx, store.UnknownDevice{Protocol: "gt06", Ident: imei, RemoteAddr: "10.9.8.7:5000",
		LastSeen: time.Now(), Count: 1}); err != nil {
		t.Fatal(err)
	}
	c := e.dirLogin(e.org, "admin@example.ru", store.RoleAdmin)
	if r := c.get("/staff/devices"); strings.Contains(r.Body, imei[:12]) || !strings.Contains(r.Body, "••••581") {
		t.Fatalf("the list shows more than the last 3 digits:\n%s", r.Body)
	}
	for i := range 10 {
		guess := fmt.Sprintf("8647170032%04d1", i)
		if r := c.post("/staff/devices/register", url.Values{"protocol": {"gt06"}, "ident": {guess}}); r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d: %d, want 422", i+1, r.Code)
		}
	}
	r := c.post("/staff/devices/register", url.Values{"protocol": {"gt06"}, "ident": {imei}})
	// 10 an hour: the next try is 6 minutes away.
	if r.Code != http.StatusTooManyRequests || !strings.Contains(r.Body, "Слишком много неверных номеров") || !strings.Contains(r.Body, "через 6 мин") {
		t.Errorf("11th attempt: %d, want 429 with the reason\n%s", r.Code, r.Body)
	}
	if _, err := e.st.DeviceByIdent(ctx, imei); err == nil {
		t.Error("the device was registered after 10 wrong guesses")
	}
	// Another administrator is not held up by the first one's mistakes.
	other := e.dirLogin(e.org, "admin2@example.ru", store.RoleAdmin)
	if r := other.post("/staff/devices/register", url.Values{"protocol": {"gt06"}, "ident": {imei}}); r.Code != http.StatusSeeOther {
		t.Errorf("another admin registering the right number: %d, want 303", r.Code)
	}
}
