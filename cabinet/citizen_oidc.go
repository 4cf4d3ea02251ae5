package cabinet

import "net/http"

type oidcClient struct{}

func (a *App) oidcStart(w http.ResponseWriter, r *http.Request)    { a.notFound(w, r) }
func (a *App) oidcCallback(w http.ResponseWriter, r *http.Request) { a.notFound(w, r) }
