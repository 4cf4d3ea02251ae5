package cabinet_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"carevisit/cabinet"
)

// fakeIDP is an OpenID Connect provider for tests: discovery, authorize
// (answers at once for a configured person), token with PKCE and client
// authentication, JWKS with an RSA key.
type fakeIDP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	claims map[string]any // the person who "signs in"

	mu    sync.Mutex
	codes map[string]idpCode
	// badSig makes the next ID token carry a wrong signature.
	badSig bool
}

type idpCode struct{ redirect, nonce, challenge string }

func newFakeIDP(t *testing.T) *fakeIDP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIDP{t: t, key: key, codes: map[string]idpCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "carevisit" || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			!strings.Contains(q.Get("scope"), "openid") {
			http.Error(w, "bad request", 400)
			return
		}
		code := fmt.Sprintf("code-%d", time.Now().UnixNano())
		p.mu.Lock()
		p.codes[code] = idpCode{redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"), challenge: q.Get("code_challenge")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		r.ParseForm()
		p.mu.Lock()
		c, known := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		bad := p.badSig
		p.badSig = false
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		switch {
		case !ok || id != "carevisit" || secret != "s3cret":
			http.Error(w, `{"error":"invalid_client"}`, 401)
			return
		case !known || c.redirect != r.PostFormValue("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			http.Error(w, `{"error":"invalid_grant"}`, 400)
			return
		}
		claims := map[string]any{"iss": p.srv.URL, "aud": "carevisit", "exp": time.Now().Add(5 * time.Minute).Unix(),
			"iat": time.Now().Unix(), "nonce": c.nonce}
		for k, v := range p.claims {
			claims[k] = v
		}
		tok := p.sign(claims)
		if bad {
			tok = tok[:len(tok)-4] + "AAAA"
		}
		json.NewEncoder(w).Encode(map[string]string{"id_token": tok, "access_token": "at", "token_type": "Bearer"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(p.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(p.key.E)).Bytes())}}})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeIDP) sign(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"})
	b, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		p.t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// oidcLogin walks the browser through /login/oidc, the provider and back.
func oidcLogin(t *testing.T, c *client, idp *fakeIDP, tamperState bool) resp {
	t.Helper()
	r := c.get("/login/oidc")
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, idp.srv.URL+"/authorize?") {
		t.Fatalf("/login/oidc: %d %q", r.Code, r.Location)
	}
	res, err := c.hc.Get(r.Location)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(back, "http://cabinet.test/login/oidc/callback?") {
		t.Fatalf("provider answered %d %q", res.StatusCode, back)
	}
	path := strings.TrimPrefix(back, "http://cabinet.test")
	if tamperState {
		path = strings.Replace(path, "state=", "state=x", 1)
	}
	return c.get(path)
}

func TestCitizenOIDC(t *testing.T) {
	idp := newFakeIDP(t)
	idp.claims = map[string]any{"sub": "esia-1001", "email": "ivan@example.ru", "email_verified": true,
		"family_name": "Иванов", "given_name": "Иван", "middle_name": "Петрович", "birthdate": "1951-02-03",
		"gender": "male", "phone_number": "+7 (912) 000-11-22", "snils": "112-233-445 95"}
	e := newCitizenEnv(t, func(a *cabinet.App) {
		if err := a.SetOIDC(cabinet.OIDCConfig{Issuer: idp.srv.URL, ClientID: "carevisit", ClientSecret: "s3cret"}); err != nil {
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	dept := e.dept(e.org, "Отделение №1", 1)

	c := e.client()
	if r := oidcLogin(t, c, idp, true); r.Code != http.StatusSeeOther || r.Location != "/login" {
		t.Fatalf("tampered state: %d %q", r.Code, r.Location)
	}
	if r := c.get("/my"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatal("a tampered state signed in")
	}
	idp.badSig = true
	if r := oidcLogin(t, c, idp, false); r.Code != http.StatusSeeOther || r.Location != "/login" {
		t.Fatalf("bad signature: %d %q", r.Code, r.Location)
	}
	if r := c.get("/my"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatal("an ID token with a bad signature signed in")
	}

	r := oidcLogin(t, c, idp, false)
	if r.Code != http.StatusSeeOther || r.Location != "/my" {
		t.Fatalf("callback: %d %q", r.Code, r.Location)
	}
	// The profile is not complete: the provider gave no department,
	// passport, INN or addresses.
	if r := c.get("/my"); r.Code != http.StatusSeeOther || r.Location != "/my/profile" {
		t.Fatalf("incomplete profile: %d %q", r.Code, r.Location)
	}
	p := c.get("/my/profile")
	for _, want := range []string{`value="Иванов Иван Петрович"`, `value="1951-02-03"`, `value="112-233-445 95"`, `79120001122"`,
		`value="male" checked`, `id="complete-hint"`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("profile lacks %s", want)
		}
	}
	form := url.Values{"full_name": {"Иванов Иван Петрович"}, "gender": {"male"}, "birth_date": {"1951-02-03"},
		"snils": {"112-233-445 95"}, "passport": {"4511 654321"}, "inn": {"500100732259"}, "phone": {"+79120001122"},
		"reg_address": {"г. Тула, ул. Мира, 7"}, "same_address": {"1"}, "department": {fmt.Sprint(dept)}}
	if r := c.post("/my/profile", form); r.Code != http.StatusSeeOther {
		t.Fatalf("complete the profile: %d\n%s", r.Code, r.Body)
	}
	if r := c.get("/my"); r.Code != 200 {
		t.Fatalf("home after completing: %d", r.Code)
	}
	// Signing in again finds the same account.
	c2 := e.client()
	if r := oidcLogin(t, c2, idp, false); r.Location != "/my" {
		t.Fatalf("second sign-in: %q", r.Location)
	}
	if r := c2.get("/my"); r.Code != 200 {
		t.Fatalf("second sign-in home: %d", r.Code)
	}
	var n int
	e.st.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'citizen'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d citizen accounts, want 1", n)
	}
	// The account has no password: the password form does not ask for one.
	if r := c2.post("/my/profile/password", url.Values{"new_password": {"a brand new password"}, "new_password2": {"a brand new password"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("set a first password: %d", r.Code)
	}
	if r := e.client().login("ivan@example.ru", "a brand new password"); r.Code != http.StatusSeeOther {
		t.Errorf("password login after single sign-on: %d", r.Code)
	}
}
