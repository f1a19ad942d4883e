package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/helpmesh/helpmesh/internal/config"
)

// evilOP is a tiny provider of our own that signs ID tokens as each test
// case wants: it serves discovery, a JWKS, an authorization endpoint that
// answers at once, and a token endpoint that checks PKCE.
type evilOP struct {
	URL  string
	key  *rsa.PrivateKey
	mode string // what to get wrong

	mu         sync.Mutex
	nonce      string // of the current flow
	lastNonce  string // of the previous flow (for the replay)
	challenges map[string]string
	pkceOK     bool
}

func startEvilOP(t *testing.T) *evilOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &evilOP{URL: "http://" + ln.Addr().String(), key: key, challenges: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": e.URL, "authorization_endpoint": e.URL + "/authorize", "token_endpoint": e.URL + "/token",
			"jwks_uri": e.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := "code-" + q.Get("state")[:8]
		e.mu.Lock()
		e.lastNonce, e.nonce = e.nonce, q.Get("nonce")
		if q.Get("code_challenge_method") == "S256" {
			e.challenges[code] = q.Get("code_challenge")
		}
		e.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		code, verifier := r.PostFormValue("code"), r.PostFormValue("code_verifier")
		sum := sha256.Sum256([]byte(verifier))
		e.mu.Lock()
		e.pkceOK = verifier != "" && e.challenges[code] == base64.RawURLEncoding.EncodeToString(sum[:])
		ok := e.pkceOK
		e.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": e.idToken(t)})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

func (e *evilOP) idToken(t *testing.T) string {
	e.mu.Lock()
	mode, nonce, last := e.mode, e.nonce, e.lastNonce
	e.mu.Unlock()
	now := time.Now()
	claims := map[string]any{
		"iss": e.URL, "sub": "evil-sub-1", "aud": "helpmesh", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": nonce, "email": "eve@example.org", "email_verified": true, "name": "Eve",
	}
	key := any(e.key)
	switch mode {
	case "wrong-issuer":
		claims["iss"] = "http://127.0.0.1:1/"
	case "wrong-audience":
		claims["aud"] = "another-client"
	case "expired":
		claims["iat"], claims["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	case "replayed-nonce":
		claims["nonce"] = last
	case "no-nonce":
		delete(claims, "nonce")
	case "other-key":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		key = k
	}
	payload, _ := json.Marshal(claims)
	if mode == "alg-none" {
		hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return hdr + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOIDCAttacks: each forged or stale ID token is refused and leaves
// the browser signed out; the honest token signs in.
func TestOIDCAttacks(t *testing.T) {
	e := startEvilOP(t)
	a := startApp(t, nil, func(c *config.Config) {
		c.OIDC = []config.OIDCProvider{{Name: "evil", Issuer: e.URL, ClientID: "helpmesh", ClientSecret: "s"}}
	})
	signIn := func(mode string) (int, string, *http.Client) {
		e.mu.Lock()
		e.mode = mode
		e.mu.Unlock()
		c, _ := newClient(t)
		resp, err := c.Get(a.URL + "/auth/oidc/evil")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), c
	}
	// A first honest flow, so that there is an old nonce to replay.
	if code, body, c := signIn("honest"); code != http.StatusOK {
		t.Fatalf("honest sign-in: %d %.300s", code, body)
	} else if st, m := getMe(t, c, a.URL); st != http.StatusOK || m.Email != "eve@example.org" {
		t.Fatalf("honest sign-in gave no session: %d", st)
	}
	e.mu.Lock()
	if !e.pkceOK {
		t.Fatal("the token request carried no valid PKCE S256 verifier")
	}
	e.mu.Unlock()
	for _, mode := range []string{"wrong-issuer", "wrong-audience", "alg-none", "expired", "replayed-nonce", "no-nonce", "other-key"} {
		t.Run(mode, func(t *testing.T) {
			code, body, c := signIn(mode)
			if code != http.StatusUnauthorized || !strings.Contains(body, "sign-in failed") {
				t.Fatalf("%s: want 401, got %d: %.300s", mode, code, body)
			}
			if st, _ := getMe(t, c, a.URL); st != http.StatusUnauthorized {
				t.Fatalf("%s: the browser got a session (%d)", mode, st)
			}
		})
	}
	// Every refusal is in the audit log.
	log, err := a.Identity.AuditLog(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, l := range log {
		if l.Action == "signin_refused" {
			refused++
		}
	}
	if refused != 7 {
		t.Errorf("want 7 refusals in the audit log, got %d", refused)
	}
}
