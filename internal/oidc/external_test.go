package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeIdP is an external OpenID provider on an httptest TLS server.
type fakeIdP struct {
	srv       *httptest.Server
	key       *rsa.PrivateKey
	discovery atomic.Int64 // discovery document fetches
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	idp := &fakeIdP{key: must(rsa.GenerateKey(rand.Reader, 2048))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		idp.discovery.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"issuer": idp.srv.URL, "jwks_uri": idp.srv.URL + "/keys",
			"authorization_endpoint": idp.srv.URL + "/authorize", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idp.key.PublicKey, KeyID: "idp-1", Algorithm: "RS256", Use: "sig"}}})
	})
	idp.srv = httptest.NewTLSServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

// token signs an Entra-like access token; mutate changes its claims.
func (idp *fakeIdP) token(t *testing.T, now time.Time, mutate func(h, c map[string]any)) string {
	t.Helper()
	h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "idp-1"}
	c := map[string]any{"iss": idp.srv.URL, "aud": "api://coffer", "tid": "tenant-a", "oid": "0A1B-USER", "sub": "pairwise-sub",
		"upn": "bob@partner.example", "name": "Bob", "groups": []string{"G-One", "g-two"}, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "uti": "external-uti"}
	if mutate != nil {
		mutate(h, c)
	}
	return signJWT(t, idp.key, h, c)
}

func TestExternalIssuer(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	idp := newFakeIdP(t)
	cfg := ExternalIssuer{Issuer: idp.srv.URL, Audiences: []string{"api://coffer"}, TenantID: "tenant-a"}
	v := must(NewVerifier(VerifierConfig{Issuer: e.iss, Directory: e.dir, Audiences: []string{testAudience}, OwnHost: ownHost, Now: e.clk.Now,
		HTTPClient: idp.srv.Client(), External: []ExternalIssuer{cfg}}))
	now := e.clk.Now()
	pubDER := must(x509.MarshalPKIXPublicKey(&idp.key.PublicKey))
	stranger := must(rsa.GenerateKey(rand.Reader, 2048))

	good := idp.token(t, now, nil)
	want := &Identity{TenantID: "tenant-a", ObjectID: "0a1b-user", UPN: "bob@partner.example", Name: "Bob", Kind: KindUser,
		Groups: []string{"g-one", "g-two"}, Issuer: idp.srv.URL, External: true, Expires: time.Unix(now.Add(time.Hour).Unix(), 0), TokenID: "external-uti"}
	got, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatalf("Verify(external token) = %v", err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("Verify(external token) mismatch (-want +got):\n%s", diff)
	}
	app, err := v.Verify(ctx, idp.token(t, now, func(_, c map[string]any) {
		delete(c, "oid")
		delete(c, "upn")
		c["idtyp"], c["azp"] = "app", "partner-app"
	}))
	if err != nil || app.ObjectID != "pairwise-sub" || app.Kind != KindApp || app.AppID != "partner-app" {
		t.Errorf("Verify(app token without oid) = %+v, %v; want sub as the object id, an app", app, err)
	}

	rejects := []struct {
		name  string
		token string
	}{
		{"wrong tenant", idp.token(t, now, func(_, c map[string]any) { c["tid"] = "tenant-b" })},
		// An external issuer cannot speak for this server's own principals
		// or groups (role assignments name them by object id alone).
		{"an embedded principal's object id", idp.token(t, now, func(_, c map[string]any) { c["oid"] = e.admin.ObjectID })},
		{"an embedded object as a group", idp.token(t, now, func(_, c map[string]any) { c["groups"] = []any{"g-one", e.sp.ObjectID} })},
		{"no tenant", idp.token(t, now, func(_, c map[string]any) { delete(c, "tid") })},
		{"wrong audience", idp.token(t, now, func(_, c map[string]any) { c["aud"] = testAudience })},
		{"expired", idp.token(t, now, func(_, c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })},
		{"algorithm not allowed for this issuer", idp.token(t, now, func(h, _ map[string]any) { h["alg"] = "PS256" })},
		{"HS256 keyed with the issuer's public key", hs256(map[string]any{"alg": "HS256", "kid": "idp-1"}, claimsOf(t, good),
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))},
		{"signed by another key", signJWT(t, stranger, map[string]any{"alg": "RS256", "kid": "idp-1"}, claimsOf(t, good))},
		{"untrusted issuer", signJWT(t, idp.key, map[string]any{"alg": "RS256", "kid": "idp-1"}, func() map[string]any {
			c := claimsOf(t, good)
			c["iss"] = "https://evil.example"
			return c
		}())},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := v.Verify(ctx, tc.token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify() = %+v, %v; want ErrInvalidToken", id, err)
			}
		})
	}

	t.Run("removing the issuer stops its cached tokens", func(t *testing.T) {
		checks := v.SignatureChecks()
		if _, err := v.Verify(ctx, good); err != nil {
			t.Fatal(err)
		}
		if v.SignatureChecks() != checks {
			t.Errorf("a cached external token was verified again")
		}
		if !v.RemoveIssuer(idp.srv.URL + "/") {
			t.Fatalf("RemoveIssuer() = false, want true")
		}
		if _, err := v.Verify(ctx, good); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify() after RemoveIssuer = %v, want ErrInvalidToken", err)
		}
		if v.RemoveIssuer(idp.srv.URL) {
			t.Errorf("RemoveIssuer() of an issuer no longer trusted = true")
		}
	})
	t.Run("re-trusting it with another tenant does not revive cached tokens", func(t *testing.T) {
		if err := v.AddIssuer(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, good); err != nil {
			t.Fatalf("Verify() after AddIssuer = %v", err)
		}
		other := cfg
		other.TenantID = "tenant-b"
		if err := v.AddIssuer(other); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, good); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify() of a tenant-a token after the issuer was reconfigured for tenant-b = %v, want ErrInvalidToken", err)
		}
		if got := len(v.ExternalIssuers()); got != 1 {
			t.Errorf("len(ExternalIssuers()) = %d, want 1", got)
		}
	})
	t.Run("an unchanged configuration keeps its discovered keys", func(t *testing.T) {
		before := idp.discovery.Load()
		if err := v.SetExternalIssuers(v.ExternalIssuers()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, idp.token(t, now, func(_, c map[string]any) { c["tid"], c["jti"] = "tenant-b", "again" })); err != nil {
			t.Fatal(err)
		}
		if got := idp.discovery.Load() - before; got != 0 {
			t.Errorf("discovery fetched %d times after reloading an unchanged configuration, want 0", got)
		}
	})
}

func TestExternalIssuerStaticJWKS(t *testing.T) {
	e := newEnv(t)
	idp := newFakeIdP(t)
	v := must(NewVerifier(VerifierConfig{Issuer: e.iss, Audiences: []string{"api://coffer"}, OwnHost: ownHost, Now: e.clk.Now,
		External: []ExternalIssuer{{Issuer: idp.srv.URL, JWKSURL: idp.srv.URL + "/keys", HTTPClient: idp.srv.Client()}}}))
	if _, err := v.Verify(t.Context(), idp.token(t, e.clk.Now(), nil)); err != nil {
		t.Fatalf("Verify() with a static JWKS URL = %v", err)
	}
	if got := idp.discovery.Load(); got != 0 {
		t.Errorf("discovery fetched %d times with a static JWKS URL, want 0", got)
	}
}

func TestExternalIssuerUnreachable(t *testing.T) {
	e := newEnv(t)
	idp := newFakeIdP(t)
	url := idp.srv.URL
	tok := idp.token(t, e.clk.Now(), nil)
	idp.srv.Close()
	v := must(NewVerifier(VerifierConfig{Issuer: e.iss, Audiences: []string{"api://coffer"}, OwnHost: ownHost, Now: e.clk.Now,
		External: []ExternalIssuer{{Issuer: url}}}))
	for range 2 {
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify() with the issuer unreachable = %v, want ErrInvalidToken", err)
		}
	}
}
