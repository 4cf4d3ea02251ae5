package cabinet

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Route is one method and pattern the router serves.
type Route struct{ Method, Pattern string }

// Routes lists every registered route, so tests can walk them all (a route
// added later is walked too).
func (a *App) Routes() []Route {
	var rs []Route
	chi.Walk(a.router, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		rs = append(rs, Route{method, pattern})
		return nil
	})
	return rs
}
