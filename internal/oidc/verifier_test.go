package oidc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// unsigned encodes header and claims with an empty signature.
func unsigned(header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// hs256 signs header and claims with HMAC-SHA256 under key.
func hs256(header, claims map[string]any, key []byte) string {
	input := strings.TrimSuffix(unsigned(header, claims), ".")
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifierRejects(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	good := e.token(e.sp.AppID, e.secret, testAudience)
	kid := headerOf(t, good)["kid"].(string)
	goodClaims := claimsOf(t, good)
	pubDER := must(x509.MarshalPKIXPublicKey(&e.iss.keys.keys[0].key.PublicKey))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	stranger := must(rsa.GenerateKey(rand.Reader, 2048))
	parts := strings.Split(good, ".")
	now := e.clk.Now().Unix()

	// Positive control: re-signing the claims unchanged gives a token
	// that verifies, so each rejection below is due to its one change.
	if _, err := e.ver.Verify(ctx, e.resign(t, good, func(map[string]any) {})); err != nil {
		t.Fatalf("Verify(re-signed unchanged claims) = %v, want nil", err)
	}

	tests := []struct {
		name   string
		token  string
		reason string // in the error
	}{
		{"alg none", unsigned(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, goodClaims), "accepted algorithm"},
		{"HS256 keyed with the RSA public key (PEM)", hs256(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, goodClaims, pubPEM), "accepted algorithm"},
		{"HS256 keyed with the RSA public key (DER)", hs256(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, goodClaims, pubDER), "accepted algorithm"},
		{"unknown kid", signJWT(t, stranger, map[string]any{"alg": "RS256", "kid": "not-a-key-of-ours"}, goodClaims), "unknown signing key"},
		{"our kid, another key", signJWT(t, stranger, map[string]any{"alg": "RS256", "kid": kid}, goodClaims), "signature does not verify"},
		{"no kid", signJWT(t, e.iss.keys.keys[0].key, map[string]any{"alg": "RS256"}, goodClaims), "unknown signing key"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(must(json.Marshal(func() map[string]any {
			c := claimsOf(t, good)
			c["oid"] = e.admin.ObjectID
			return c
		}()))) + "." + parts[2], "signature does not verify"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 256)), "signature does not verify"},
		{"wrong aud", e.token(e.sp.AppID, e.secret, "https://vault.azure.net"), "audience"},
		{"wrong iss host", e.resign(t, good, func(c map[string]any) { c["iss"] = "https://login.example.net/" + e.tenant.ID + "/v2.0" }), "not trusted"},
		{"iss over http", e.resign(t, good, func(c map[string]any) { c["iss"] = "http://" + testHost + "/" + e.tenant.ID + "/v2.0" }), "not trusted"},
		{"iss names another tenant", e.resign(t, good, func(c map[string]any) { c["iss"] = "https://" + testHost + "/" + e.other.ID + "/v2.0" }), "does not name the token's tenant"},
		{"tid of no tenant", e.resign(t, good, func(c map[string]any) {
			id := directory.NewGUID()
			c["tid"], c["iss"] = id, "https://"+testHost+"/"+id+"/v2.0"
		}), "does not exist"},
		{"expired", e.resign(t, good, func(c map[string]any) { c["exp"] = now - 60 }), "expired"},
		{"no exp", e.resign(t, good, func(c map[string]any) { delete(c, "exp") }), "expired"},
		{"nbf in the future", e.resign(t, good, func(c map[string]any) { c["nbf"] = now + 3600 }), "not yet valid"},
		{"no credential binding", e.resign(t, good, func(c map[string]any) { delete(c, "xms_crid") }), "credential binding"},
		{"credential of another principal", e.resign(t, good, func(c map[string]any) { c["oid"] = e.admin.ObjectID }), "revoked"},
		{"aud as a list", e.resign(t, good, func(c map[string]any) { c["aud"] = []string{testAudience} }), "claims are malformed"},
		{"empty", "", "empty or too large"},
		{"garbage", "not a token", "accepted algorithm"},
		{"three empty parts", "..", "accepted algorithm"},
		{"five parts (JWE)", "a.b.c.d.e", "accepted algorithm"},
		{"too large", good + strings.Repeat("A", maxTokenBytes), "empty or too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.ver.Verify(ctx, tc.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify() = %+v, %v; want ErrInvalidToken", id, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Verify() error = %q, want the reason %q", err, tc.reason)
			}
			if tc.token != "" && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token[len(tc.token)-20:]) {
				t.Errorf("Verify() error %q contains the token", err)
			}
		})
	}
}

func TestVerifierRevocation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	newSP := func() (*directory.Principal, string, string) {
		sp := must(e.dir.CreateServicePrincipal(ctx, e.tenant.ID, "victim"))
		secret, cred, err := e.dir.AddSecret(ctx, sp.ObjectID, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sp, secret, cred.ID
	}
	tests := []struct {
		name   string
		revoke func(oid, credID string) error
	}{
		{"disabled principal", func(oid, _ string) error { return e.dir.Disable(ctx, oid) }},
		{"deleted service principal", func(oid, _ string) error { return e.dir.Delete(ctx, oid) }},
		{"credentials reset", func(oid, _ string) error { _, _, err := e.dir.ResetCredentials(ctx, oid); return err }},
		{"credential removed", func(oid, credID string) error { return e.dir.RemoveCredential(ctx, oid, credID) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp, secret, credID := newSP()
			tok := e.token(sp.AppID, secret, testAudience)
			// Once verified (and cached), then revoked: the cached token is
			// refused without its signature being checked again.
			if _, err := e.ver.Verify(ctx, tok); err != nil {
				t.Fatalf("Verify() before revocation = %v", err)
			}
			checks := e.ver.SignatureChecks()
			if err := tc.revoke(sp.ObjectID, credID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ver.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify() of a cached token after revocation = %v, want ErrInvalidToken", err)
			}
			if got := e.ver.SignatureChecks() - checks; got != 0 {
				t.Errorf("revocation check verified the signature %d times, want 0", got)
			}
			// A verifier that never saw the token refuses it too.
			if _, err := e.newVerifier(t).Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify() of an uncached token after revocation = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestVerifierAccepts(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	c := claimsOf(t, tok)
	groups := []string{e.group.ObjectID, e.nested.ObjectID}
	slices.Sort(groups)
	ropc := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"04b07795-8ddb-461a-bbee-02f9e1bf7b46"},
		"username": {"alice@contoso.test"}, "password": {e.password}, "resource": {"https://other.audience"}}, withHost("localhost:8443"))
	userTok, _ := ropc.body["access_token"].(string)
	uc := claimsOf(t, userTok)
	exp := func(c map[string]any) time.Time { return time.Unix(int64(num(c["exp"])), 0) }
	tests := []struct {
		name  string
		token string
		want  Identity
	}{
		{"service principal with nested groups", tok, Identity{TenantID: e.tenant.ID, ObjectID: e.sp.ObjectID, AppID: e.sp.AppID, Kind: KindApp,
			Groups: groups, Issuer: "https://" + testHost + "/" + e.tenant.ID + "/v2.0", Expires: exp(c), TokenID: c["uti"].(string)}},
		{"Global Administrator", e.token(e.admin.AppID, e.adminSecret, testAudience), Identity{TenantID: e.tenant.ID, ObjectID: e.admin.ObjectID,
			AppID: e.admin.AppID, Kind: KindApp, GlobalAdmin: true, Issuer: "https://" + testHost + "/" + e.tenant.ID + "/v2.0"}},
		{"user via ADFS on another of our hosts, audience with a trailing slash configured", userTok, Identity{TenantID: e.tenant.ID,
			ObjectID: e.user.ObjectID, AppID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", UPN: "alice@contoso.test", Name: "Alice", Kind: KindUser,
			Issuer: "https://localhost:8443/" + e.tenant.ID + "/", Expires: exp(uc), TokenID: uc["uti"].(string)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.ver.Verify(ctx, tc.token)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			ignore := []string{}
			if tc.want.Expires.IsZero() {
				ignore = append(ignore, "Expires", "TokenID")
			}
			if diff := cmp.Diff(&tc.want, got, cmpopts.IgnoreFields(Identity{}, ignore...), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Verify() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifierCache(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	if _, err := e.ver.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	checks := e.ver.SignatureChecks()
	if checks != 1 {
		t.Fatalf("SignatureChecks() after one fresh token = %d, want 1", checks)
	}
	for range 10 {
		if _, err := e.ver.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.ver.SignatureChecks(); got != checks {
		t.Errorf("10 more verifications of a cached token: SignatureChecks() = %d, want %d", got, checks)
	}

	// Directory changes reach cached tokens: groups and roles are
	// re-resolved, liveness is enforced, all without re-verifying.
	extra := must(e.dir.CreateGroup(ctx, e.tenant.ID, "late"))
	if err := e.dir.AddMember(ctx, extra.ObjectID, e.sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.SetGlobalAdmin(ctx, e.sp.ObjectID, true); err != nil {
		t.Fatal(err)
	}
	id, err := e.ver.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(id.Groups, extra.ObjectID) || len(id.Groups) != 3 || !id.GlobalAdmin {
		t.Errorf("after directory changes, Verify() = groups %v, GlobalAdmin %v; want the new group and the role", id.Groups, id.GlobalAdmin)
	}
	if err := e.dir.Disable(ctx, e.sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ver.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify() of a disabled principal's cached token = %v, want ErrInvalidToken", err)
	}
	if err := e.dir.Enable(ctx, e.sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ver.Verify(ctx, tok); err != nil {
		t.Errorf("Verify() after re-enabling = %v, want nil", err)
	}
	if got := e.ver.SignatureChecks(); got != checks {
		t.Errorf("SignatureChecks() = %d after directory changes, want %d", got, checks)
	}
	// Returned identities are copies: a caller changing one does not
	// change what the next caller gets.
	id.ObjectID = "changed"
	if again, _ := e.ver.Verify(ctx, tok); again.ObjectID != e.sp.ObjectID {
		t.Errorf("a caller's change to an Identity leaked into the cache")
	}

	// The cached entry expires with the token.
	e.clk.Advance(time.Hour + leeway + time.Second)
	if _, err := e.ver.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify() of an expired cached token = %v, want ErrInvalidToken", err)
	}
	if e.ver.cache.get(sha256.Sum256([]byte(tok))) != nil {
		t.Errorf("the expired token is still cached")
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := tokenCache{max: 8, m: map[[32]byte]*cacheEntry{}}
	for i := range 100 {
		c.put(sha256.Sum256([]byte{byte(i)}), &cacheEntry{expires: now.Add(time.Hour)}, now)
		if len(c.m) > 8 {
			t.Fatalf("after %d insertions the cache holds %d entries, want at most 8", i+1, len(c.m))
		}
	}
	last := sha256.Sum256([]byte{99})
	if c.get(last) == nil {
		t.Errorf("the newest entry was evicted")
	}
}

func TestNewVerifierConfig(t *testing.T) {
	e := newEnv(t)
	for name, cfg := range map[string]VerifierConfig{
		"no issuer":    {Audiences: []string{testAudience}, OwnHost: ownHost},
		"no audience":  {Issuer: e.iss, OwnHost: ownHost},
		"no own hosts": {Issuer: e.iss, Audiences: []string{testAudience}},
		"http external issuer": {Issuer: e.iss, Audiences: []string{testAudience}, OwnHost: ownHost,
			External: []ExternalIssuer{{Issuer: "http://idp.example"}}},
		"HS256 external issuer": {Issuer: e.iss, Audiences: []string{testAudience}, OwnHost: ownHost,
			External: []ExternalIssuer{{Issuer: "https://idp.example", Algorithms: []string{"HS256"}}}},
		"duplicate external issuer": {Issuer: e.iss, Audiences: []string{testAudience}, OwnHost: ownHost,
			External: []ExternalIssuer{{Issuer: "https://idp.example"}, {Issuer: "https://idp.example/"}}},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("NewVerifier(%s) error = nil, want an error", name)
		}
	}
}
