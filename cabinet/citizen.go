package cabinet

import (
	"sync/atomic"

	"carevisit/secretbox"
)

// citizenState is the citizen cabinet's run-time configuration, set after
// New by the server (SetDataKey, SetOIDC).
type citizenState struct {
	box  atomic.Pointer[secretbox.Box]
	oidc atomic.Pointer[oidcClient]
}

// oidcClient is filled in by citizen_oidc.go.
type oidcClient struct{}

// SetDataKey sets the 32-byte key that encrypts citizens' SNILS, passport,
// INN and uploaded documents at rest (AES-256-GCM). Without it the citizen
// cabinet refuses to store personal data. Use secretbox.ParseKey to read
// it from the environment (CAREVISIT_DATA_KEY: 64 hex digits or base64).
func (a *App) SetDataKey(key []byte) error {
	b, err := secretbox.New(key)
	if err != nil {
		return err
	}
	a.cit.box.Store(b)
	return nil
}
