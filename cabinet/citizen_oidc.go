package cabinet

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"carevisit/store"
)

// Single sign-on through an external OpenID Connect provider (the
// Gosuslugi/ESIA pattern): authorization-code flow with PKCE, discovery,
// JWKS and RS256 ID-token verification, written out here rather than
// pulled in as a dependency.

// OIDCConfig configures sign-in through an OpenID Connect provider.
type OIDCConfig struct {
	Issuer       string   // e.g. https://esia.example.ru (discovery: Issuer + /.well-known/openid-configuration)
	ClientID     string   // CAREVISIT_OIDC_CLIENT_ID
	ClientSecret string   // CAREVISIT_OIDC_CLIENT_SECRET
	Scopes       []string // default: openid profile email phone
	HTTPClient   *http.Client
}

// SetOIDC turns on "Sign in with Gosuslugi" (/login/oidc). The provider
// is contacted on first use, so a provider that is down does not stop the
// server. The redirect URI to register with the provider is
// Config.BaseURL + /login/oidc/callback.
func (a *App) SetOIDC(cfg OIDCConfig) error {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("cabinet: OIDC issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return errors.New("cabinet: OIDC client id is empty")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid", "profile", "email", "phone"}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	a.cit.oidc.Store(&oidcClient{cfg: cfg, hc: hc})
	return nil
}

type oidcDiscovery struct {
	Issuer   string `json:"issuer"`
	AuthURL  string `json:"authorization_endpoint"`
	TokenURL string `json:"token_endpoint"`
	JWKSURL  string `json:"jwks_uri"`
	UserInfo string `json:"userinfo_endpoint"`
}

type oidcClient struct {
	cfg OIDCConfig
	hc  *http.Client

	mu     sync.Mutex
	disc   *oidcDiscovery
	discAt time.Time
	keys   map[string]*rsa.PublicKey
	keysAt time.Time
}

func (c *oidcClient) getJSON(ctx context.Context, u, bearer string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("oidc: GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v)
}

// discover reads (and caches for an hour) the provider's metadata.
func (c *oidcClient) discover(ctx context.Context) (*oidcDiscovery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disc != nil && time.Since(c.discAt) < time.Hour {
		return c.disc, nil
	}
	var d oidcDiscovery
	if err := c.getJSON(ctx, c.cfg.Issuer+"/.well-known/openid-configuration", "", &d); err != nil {
		return nil, err
	}
	if strings.TrimRight(d.Issuer, "/") != c.cfg.Issuer {
		return nil, fmt.Errorf("oidc: discovery issuer %q is not the configured %q", d.Issuer, c.cfg.Issuer)
	}
	if d.AuthURL == "" || d.TokenURL == "" || d.JWKSURL == "" {
		return nil, errors.New("oidc: discovery lacks an endpoint")
	}
	c.disc, c.discAt = &d, time.Now()
	return c.disc, nil
}

// key returns the provider's RSA key kid, fetching the key set again when
// the kid is unknown (key rotation), at most once a minute.
func (c *oidcClient) key(ctx context.Context, d *oidcDiscovery, kid string) (*rsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.keys[kid]; ok {
		return k, nil
	}
	if time.Since(c.keysAt) < time.Minute && c.keys != nil {
		return nil, fmt.Errorf("oidc: unknown key %q", kid)
	}
	var set struct {
		Keys []struct {
			Kty, Kid, N, E, Use string
		} `json:"keys"`
	}
	if err := c.getJSON(ctx, d.JWKSURL, "", &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 || len(n) < 256 {
			continue // malformed, or shorter than 2048 bits
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	c.keys, c.keysAt = keys, time.Now()
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("oidc: unknown key %q", kid)
}

// oidcClaims are the ID-token and user-info claims the cabinet uses.
type oidcClaims struct {
	Iss           string          `json:"iss"`
	Sub           string          `json:"sub"`
	Aud           json.RawMessage `json:"aud"`
	Exp           int64           `json:"exp"`
	Iat           int64           `json:"iat"`
	Nonce         string          `json:"nonce"`
	Email         string          `json:"email"`
	EmailVerified bool            `json:"email_verified"`
	Name          string          `json:"name"`
	FamilyName    string          `json:"family_name"`
	GivenName     string          `json:"given_name"`
	MiddleName    string          `json:"middle_name"`
	Birthdate     string          `json:"birthdate"`
	Gender        string          `json:"gender"`
	Phone         string          `json:"phone_number"`
	SNILS         string          `json:"snils"`
}

func (cl oidcClaims) audience(id string) bool {
	var one string
	if json.Unmarshal(cl.Aud, &one) == nil {
		return one == id
	}
	var many []string
	if json.Unmarshal(cl.Aud, &many) == nil {
		for _, a := range many {
			if a == id {
				return true
			}
		}
	}
	return false
}

// verify checks an ID token: RS256 signature by a key of the provider,
// issuer, audience, expiry and nonce.
func (c *oidcClient) verify(ctx context.Context, d *oidcDiscovery, raw, nonce string, now time.Time) (oidcClaims, error) {
	var cl oidcClaims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return cl, errors.New("oidc: malformed ID token")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return cl, errors.New("oidc: malformed ID token header")
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg != "RS256" {
		return cl, fmt.Errorf("oidc: ID token algorithm %q, want RS256", h.Alg)
	}
	key, err := c.key(ctx, d, h.Kid)
	if err != nil {
		return cl, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return cl, errors.New("oidc: malformed ID token signature")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return cl, errors.New("oidc: bad ID token signature")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(pb, &cl) != nil {
		return cl, errors.New("oidc: malformed ID token claims")
	}
	const skew = time.Minute
	switch {
	case strings.TrimRight(cl.Iss, "/") != c.cfg.Issuer:
		return cl, fmt.Errorf("oidc: ID token issuer %q", cl.Iss)
	case !cl.audience(c.cfg.ClientID):
		return cl, errors.New("oidc: ID token is for another client")
	case time.Unix(cl.Exp, 0).Before(now.Add(-skew)):
		return cl, errors.New("oidc: ID token expired")
	case cl.Iat != 0 && time.Unix(cl.Iat, 0).After(now.Add(skew)):
		return cl, errors.New("oidc: ID token issued in the future")
	case cl.Nonce == "" || cl.Nonce != nonce:
		return cl, errors.New("oidc: ID token nonce mismatch")
	case cl.Sub == "":
		return cl, errors.New("oidc: ID token without a subject")
	}
	return cl, nil
}

// exchange trades the code for tokens and returns the verified claims,
// completed from the user-info endpoint where the provider has one.
func (c *oidcClient) exchange(ctx context.Context, code, redirect, verifier, nonce string) (oidcClaims, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return oidcClaims{}, err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"code_verifier": {verifier}, "client_id": {c.cfg.ClientID}}
	req, err := http.NewRequestWithContext(ctx, "POST", d.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return oidcClaims{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	res, err := c.hc.Do(req)
	if err != nil {
		return oidcClaims{}, err
	}
	defer res.Body.Close()
	var tok struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&tok); err != nil || res.StatusCode != http.StatusOK || tok.IDToken == "" {
		return oidcClaims{}, fmt.Errorf("oidc: token endpoint: %s %s", res.Status, tok.Error)
	}
	cl, err := c.verify(ctx, d, tok.IDToken, nonce, time.Now())
	if err != nil {
		return cl, err
	}
	if d.UserInfo != "" && tok.AccessToken != "" {
		var info oidcClaims
		if err := c.getJSON(ctx, d.UserInfo, tok.AccessToken, &info); err == nil && info.Sub == cl.Sub {
			fill := func(dst *string, src string) {
				if *dst == "" {
					*dst = src
				}
			}
			fill(&cl.Email, info.Email)
			cl.EmailVerified = cl.EmailVerified || info.Email == cl.Email && info.EmailVerified
			fill(&cl.Name, info.Name)
			fill(&cl.FamilyName, info.FamilyName)
			fill(&cl.GivenName, info.GivenName)
			fill(&cl.MiddleName, info.MiddleName)
			fill(&cl.Birthdate, info.Birthdate)
			fill(&cl.Gender, info.Gender)
			fill(&cl.Phone, info.Phone)
			fill(&cl.SNILS, info.SNILS)
		}
	}
	return cl, nil
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

const oidcCookie = "cv_oidc"

func (a *App) oidcRedirectURI() string {
	return strings.TrimRight(a.cfg.BaseURL, "/") + "/login/oidc/callback"
}

func (a *App) oidcFail(w http.ResponseWriter, r *http.Request, key string, err error) {
	if err != nil {
		a.log.Warn("oidc sign-in failed", "err", err)
	}
	a.flash(w, key)
	a.redirect(w, r, "/login")
}

// oidcStart sends the browser to the provider with a fresh state, nonce
// and PKCE verifier kept in a short-lived cookie.
func (a *App) oidcStart(w http.ResponseWriter, r *http.Request) {
	c := a.cit.oidc.Load()
	if c == nil {
		a.oidcFail(w, r, "my.oidc.err.off", nil)
		return
	}
	d, err := c.discover(r.Context())
	if err != nil {
		a.oidcFail(w, r, "my.oidc.err.failed", err)
		return
	}
	state, nonce, verifier := randomString(), randomString(), randomString()
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state + "." + nonce + "." + verifier, Path: "/login/oidc",
		MaxAge: 600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
	ch := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {c.cfg.ClientID}, "redirect_uri": {a.oidcRedirectURI()},
		"scope": {strings.Join(c.cfg.Scopes, " ")}, "state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(ch[:])}, "code_challenge_method": {"S256"}}
	sep := "?"
	if strings.Contains(d.AuthURL, "?") {
		sep = "&"
	}
	http.Redirect(w, r, d.AuthURL+sep+q.Encode(), http.StatusSeeOther)
}

// oidcCallback finishes the sign-in: an account known by the provider's
// subject signs in; a citizen with the provider's verified e-mail is
// linked; anyone else gets a new account with what the provider supplied,
// to be completed on the profile page.
func (a *App) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := a.cit.oidc.Load()
	if c == nil {
		a.oidcFail(w, r, "my.oidc.err.off", nil)
		return
	}
	ck, err := r.Cookie(oidcCookie)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: "/login/oidc", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.cfg.CookieSecure})
	parts := []string{}
	if err == nil {
		parts = strings.Split(ck.Value, ".")
	}
	q := r.URL.Query()
	if len(parts) != 3 || q.Get("state") == "" || q.Get("state") != parts[0] {
		a.oidcFail(w, r, "my.oidc.err.failed", errors.New("state mismatch"))
		return
	}
	if e := q.Get("error"); e != "" || q.Get("code") == "" {
		a.oidcFail(w, r, "my.oidc.err.failed", fmt.Errorf("provider error %q", truncate(e, 60)))
		return
	}
	cl, err := c.exchange(ctx, q.Get("code"), a.oidcRedirectURI(), parts[2], parts[1])
	if err != nil {
		a.oidcFail(w, r, "my.oidc.err.failed", err)
		return
	}
	u, err := a.st.CitizenByOIDC(ctx, c.cfg.Issuer, cl.Sub)
	if errors.Is(err, store.ErrNotFound) {
		u, err = a.oidcAccount(r, c, cl)
	}
	if errors.Is(err, store.ErrDuplicate) {
		a.oidcFail(w, r, "my.oidc.err.email_taken", nil)
		return
	}
	if err != nil {
		a.oidcFail(w, r, "my.oidc.err.failed", err)
		return
	}
	if u.Disabled {
		a.oidcFail(w, r, "my.oidc.err.failed", fmt.Errorf("user %d disabled", u.ID))
		return
	}
	if err := a.startSession(w, r, u.ID); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.log.Info("login", "user", u.ID, "role", u.Role, "via", "oidc")
	a.redirect(w, r, "/my")
}

// oidcAccount links or creates the account for a first sign-in.
func (a *App) oidcAccount(r *http.Request, c *oidcClient, cl oidcClaims) (store.User, error) {
	ctx := r.Context()
	if cl.Email == "" {
		return store.User{}, errors.New("oidc: the provider gave no e-mail")
	}
	if cl.EmailVerified {
		u, err := a.st.UserByEmail(ctx, cl.Email)
		if err == nil {
			if u.Role != store.RoleCitizen {
				return u, store.ErrDuplicate
			}
			if err := a.st.EnsureCitizenProfile(ctx, u.ID); err != nil {
				return u, err
			}
			if err := a.st.LinkOIDC(ctx, u.ID, c.cfg.Issuer, cl.Sub); err != nil {
				return u, err
			}
			a.log.Info("oidc linked", "user", u.ID)
			return u, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	box, err := a.box()
	if err != nil {
		return store.User{}, err
	}
	name := strings.Join(strings.Fields(cl.FamilyName+" "+cl.GivenName+" "+cl.MiddleName), " ")
	if name == "" {
		name = cl.Name
	}
	p := store.CitizenProfile{OIDCIssuer: c.cfg.Issuer, OIDCSubject: cl.Sub}
	if g := strings.ToLower(cl.Gender); g == "male" || g == "female" {
		p.Gender = g
	}
	if t, why := parseBirthDate(cl.Birthdate, time.Now(), time.UTC); why == "" {
		p.BirthDate = t
	}
	if ph, ok := normPhone(cl.Phone); ok {
		p.Phone = ph
	}
	if s, ok := normSNILS(cl.SNILS); ok {
		p.SNILS, p.SNILSIndex = box.SealString(s, "snils"), box.Index(digits(s), "snils")
	}
	id, err := a.st.RegisterCitizen(ctx, store.User{Email: cl.Email, FullName: name, PasswordHash: noPassword,
		EmailConfirmed: cl.EmailVerified, Locale: langOf(r, "")}, p)
	if errors.Is(err, store.ErrSNILSTaken) {
		// Another account (with another e-mail) has this SNILS: the new
		// one starts without it, and the profile page says why.
		p.SNILS, p.SNILSIndex = nil, nil
		id, err = a.st.RegisterCitizen(ctx, store.User{Email: cl.Email, FullName: name, PasswordHash: noPassword,
			EmailConfirmed: cl.EmailVerified, Locale: langOf(r, "")}, p)
	}
	if err != nil {
		return store.User{}, err
	}
	a.log.Info("citizen registered", "user", id, "via", "oidc")
	return a.st.UserByID(ctx, id)
}
