package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/cofferkms/coffer/internal/store/memstore"
)

const (
	testHost     = "coffer.test:8443"
	testAudience = "https://mhsm.coffer.test:8443"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// must returns v, or panics (failing the test) on a setup error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// env is a directory with one of each kind of principal, an issuer and a
// verifier, all on one fake clock.
type env struct {
	t      testing.TB
	clk    *fakeClock
	st     *memstore.Store
	dir    *directory.Directory
	iss    *Issuer
	ver    *Verifier
	tenant *directory.Tenant
	other  *directory.Tenant

	sp             *directory.Principal // client secret
	secret         string
	certSP         *directory.Principal // certificate
	certKey        *rsa.PrivateKey
	cert           *x509.Certificate
	disabledSP     *directory.Principal
	disabledSecret string
	expiringSP     *directory.Principal
	expiringSecret string // expired at the start of every test
	admin          *directory.Principal
	adminSecret    string
	user           *directory.Principal
	password       string
	vmSecret       string
	systemMI       *directory.Principal
	uami           *directory.Principal
	group, nested  *directory.Principal // sp ∈ group ∈ nested
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, clk: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, st: memstore.New(), password: "correct horse battery"}
	e.dir = must(directory.Open(ctx, directory.Config{Store: e.st, Now: e.clk.Now,
		Argon2: directory.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}}))
	e.tenant = must(e.dir.CreateTenant(ctx, "contoso.test"))
	e.other = must(e.dir.CreateTenant(ctx, "fabrikam.test"))
	newSP := func(name string, expires *time.Time) (*directory.Principal, string) {
		sp := must(e.dir.CreateServicePrincipal(ctx, e.tenant.ID, name))
		secret, _, err := e.dir.AddSecret(ctx, sp.ObjectID, expires)
		if err != nil {
			t.Fatal(err)
		}
		return sp, secret
	}
	e.sp, e.secret = newSP("app", nil)
	e.disabledSP, e.disabledSecret = newSP("disabled", nil)
	if err := e.dir.Disable(ctx, e.disabledSP.ObjectID); err != nil {
		t.Fatal(err)
	}
	soon := e.clk.Now().Add(time.Minute)
	e.expiringSP, e.expiringSecret = newSP("expiring", &soon)
	e.admin, e.adminSecret = newSP("break-glass", nil)
	if err := e.dir.SetGlobalAdmin(ctx, e.admin.ObjectID, true); err != nil {
		t.Fatal(err)
	}
	e.certSP = must(e.dir.CreateServicePrincipal(ctx, e.tenant.ID, "cert-app"))
	e.certKey, e.cert = newCert(t, e.clk.Now())
	if _, err := e.dir.AddCertificate(ctx, e.certSP.ObjectID, e.cert.Raw); err != nil {
		t.Fatal(err)
	}
	e.user = must(e.dir.CreateUser(ctx, e.tenant.ID, "alice@contoso.test", "Alice", e.password))
	e.group = must(e.dir.CreateGroup(ctx, e.tenant.ID, "readers"))
	e.nested = must(e.dir.CreateGroup(ctx, e.tenant.ID, "everyone"))
	for _, m := range [][2]string{{e.group.ObjectID, e.sp.ObjectID}, {e.nested.ObjectID, e.group.ObjectID}} {
		if err := e.dir.AddMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	_, e.vmSecret = must2(e.dir.CreateResource(ctx, e.tenant.ID, "vm1"))
	e.systemMI = must(e.dir.EnableSystemIdentity(ctx, "vm1"))
	e.uami = must(e.dir.CreateUserAssignedIdentity(ctx, e.tenant.ID, "payroll"))
	if err := e.dir.AttachIdentity(ctx, e.uami.ObjectID, "vm1"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Minute) // the expiring secret has expired

	cfg := Config{Directory: e.dir, Store: e.st, Now: e.clk.Now, IMDSResource: "vm1", MHSMSuffix: "mhsm.coffer.test:8443"}
	for _, o := range opts {
		o(&cfg)
	}
	e.iss = must(NewIssuer(ctx, cfg))
	e.ver = e.newVerifier(t)
	return e
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return a, b
}

func ownHost(h string) bool { return h == testHost || h == "localhost:8443" }

func (e *env) newVerifier(t testing.TB, external ...ExternalIssuer) *Verifier {
	t.Helper()
	return must(NewVerifier(VerifierConfig{Issuer: e.iss, Audiences: []string{testAudience, "https://other.audience/"},
		OwnHost: ownHost, Now: e.clk.Now, External: external}))
}

func newCert(t testing.TB, now time.Time) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := must(rsa.GenerateKey(rand.Reader, 2048))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cert-app"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}
	return key, must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))))
}

// reqOpt adjusts a test request.
type reqOpt func(*http.Request)

func withBasic(user, pass string) reqOpt { return func(r *http.Request) { r.SetBasicAuth(user, pass) } }
func withHeader(k, v string) reqOpt      { return func(r *http.Request) { r.Header.Set(k, v) } }
func fromAddr(addr string) reqOpt        { return func(r *http.Request) { r.RemoteAddr = addr } }
func withHost(h string) reqOpt           { return func(r *http.Request) { r.Host = h } }

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(method, target, body string, opts ...reqOpt) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "https://"+testHost+target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	e.iss.ServeHTTP(w, r)
	resp := response{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	if len(resp.raw) > 0 && resp.raw[0] == '{' {
		if err := json.Unmarshal(resp.raw, &resp.body); err != nil {
			e.t.Fatalf("%s %s: response is not JSON: %s", method, target, resp.raw)
		}
	}
	return resp
}

func (e *env) post(target string, form url.Values, opts ...reqOpt) response {
	e.t.Helper()
	return e.do("POST", target, form.Encode(), opts...)
}

// token obtains an access token with a client secret.
func (e *env) token(clientID, secret, resource string) string {
	e.t.Helper()
	resp := e.post("/"+e.tenant.ID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {resource + "/.default"}})
	tok, _ := resp.body["access_token"].(string)
	if resp.status != http.StatusOK || tok == "" {
		e.t.Fatalf("token endpoint: %d %s", resp.status, resp.raw)
	}
	return tok
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func headerOf(t testing.TB, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signJWT signs header and claims as given (RS256 or PS256 by the
// header's alg), the way clients outside Go build their JWTs.
func signJWT(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if header["alg"] == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], nil)
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// cliAssertion builds a client assertion exactly as the Azure CLI (MSAL
// Python) does: x5t is the certificate's SHA-1 in padded standard base64,
// exp and iat are fractional seconds.
func (e *env) cliAssertion(t testing.TB, aud string, mutate func(h, c map[string]any)) string {
	t.Helper()
	thumb := sha1.Sum(e.cert.Raw)
	now := float64(e.clk.Now().UnixNano()) / 1e9
	h := map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.StdEncoding.EncodeToString(thumb[:])}
	c := map[string]any{"aud": aud, "iss": e.certSP.AppID, "sub": e.certSP.AppID, "exp": now + 600.87, "iat": now + 0.13,
		"jti": directory.NewGUID()}
	if mutate != nil {
		mutate(h, c)
	}
	return signJWT(t, e.certKey, h, c)
}

func num(v any) float64 { f, _ := v.(float64); return f }

// resign re-signs a token's claims, changed by mutate, with the issuer's
// current key: a token we could have issued, but with other claims.
func (e *env) resign(t testing.TB, tok string, mutate func(c map[string]any)) string {
	t.Helper()
	c := claimsOf(t, tok)
	mutate(c)
	raw, err := e.iss.sign(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
