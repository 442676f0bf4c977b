package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/hsm"
	"github.com/cofferkms/coffer/internal/seal"
	"github.com/cofferkms/coffer/internal/store/memstore"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want, scope string
		dataPlane, rbac bool
	}{
		{"/keys/MyKey/", "/keys/MyKey", "", true, false},
		{"//keys//MyKey//WrapKey", "/keys/MyKey/wrapkey", "", true, false},
		{"/keys/k/0123ABCD0123ABCD0123ABCD0123ABCD/Sign", "/keys/k/0123abcd0123abcd0123abcd0123abcd/sign", "", true, false},
		{"/deletedKeys/K", "/deletedkeys/K", "", true, false},
		{"/RNG", "/rng", "", true, false},
		{"//providers/Microsoft.Authorization/roleAssignments/ABC", "/providers/microsoft.authorization/roleassignments/ABC", "/", true, true},
		{"///providers/Microsoft.Authorization/roleDefinitions", "/providers/microsoft.authorization/roledefinitions", "/", true, true},
		{"/keys/providers/Microsoft.Authorization/roleAssignments/x", "/providers/microsoft.authorization/roleassignments/x", "/keys", true, true},
		{"/keys/K1/providers/Microsoft.Authorization/roleAssignments", "/providers/microsoft.authorization/roleassignments", "/keys/K1", true, true},
		{"/settings/AllowKeyManagementOperationsThroughARM", "/settings/AllowKeyManagementOperationsThroughARM", "", true, false},
		{"/tenant/oauth2/v2.0/token", "/tenant/oauth2/v2.0/token", "", false, false},
		{"/", "/", "", false, false},
	}
	for _, tc := range tests {
		n := normalizePath(tc.in)
		if n.path != tc.want || n.scope != tc.scope || n.dataPlane != tc.dataPlane || n.rbac != tc.rbac {
			t.Errorf("normalizePath(%q) = %q scope %q dataPlane %v rbac %v; want %q %q %v %v", tc.in, n.path, n.scope, n.dataPlane, n.rbac, tc.want, tc.scope, tc.dataPlane, tc.rbac)
		}
	}
}

// staticAuth accepts one token, for handler tests that need no issuer.
type staticAuth struct{ token string }

func (a staticAuth) Authenticate(_ context.Context, bearer string) (*Principal, error) {
	if bearer != a.token {
		return nil, errors.New("unknown token")
	}
	return &Principal{ObjectID: "admin", TenantID: "t"}, nil
}

type onePool struct{ p *hsm.Pool }

func (o onePool) PoolForHost(string) (*hsm.Pool, bool) { return o.p, true }

// memAudit keeps events in memory.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error // when set, the log cannot write
}

func (m *memAudit) Append(_ context.Context, ev *audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.events = append(m.events, *ev)
	return nil
}

func (m *memAudit) Writable(string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail == nil
}

func (m *memAudit) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

type nopSeal struct{}

func (nopSeal) Wrap(_ context.Context, p, _ []byte) ([]byte, error)   { return p, nil }
func (nopSeal) Unwrap(_ context.Context, b, _ []byte) ([]byte, error) { return b, nil }
func (nopSeal) Describe() string                                      { return "none" }
func (nopSeal) Close() error                                          { return nil }

func mustPool(t testing.TB) *hsm.Pool {
	t.Helper()
	s, _ := newTestServer(t)
	return s.cfg.Pools.(onePool).p
}

func newTestServer(t testing.TB) (*Server, *memAudit) {
	t.Helper()
	d, err := seal.CreateDomain(context.Background(), memstore.New(), nopSeal{}, "pools/p/", keymat.Secret{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := hsm.Open(context.Background(), hsm.Config{Name: "p", Store: d.Store(), Keys: d})
	if err != nil {
		t.Fatal(err)
	}
	p.SeedAssignments(context.Background(), []string{"admin"}, []string{hsm.RoleAdministrator, hsm.RoleCryptoOfficer, hsm.RoleCryptoUser})
	al := &memAudit{}
	s, err := New(Config{Pools: onePool{p}, Auth: staticAuth{"tok"}, Audit: al,
		Challenge: Challenge{Resource: "https://mhsm.test", Tenant: "tenant-guid"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, al
}

func serve(s *Server, method, target, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://p.mhsm.test"+target, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestChallengeComesFirst(t *testing.T) {
	s, al := newTestServer(t)
	for _, target := range []string{"/keys/k/create", "/keys/k/create?api-version=bogus", "/keys/a%2Fb", "/keys/a/b/c/d/e"} {
		rec := serve(s, "POST", target, `not json`, "")
		want := `Bearer authorization="https://p.mhsm.test/tenant-guid", resource="https://mhsm.test"`
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != want || rec.Body.Len() != 0 {
			t.Errorf("POST %s = %d %q %q, want 401 with the challenge and no body", target, rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
		}
	}
	for _, ev := range al.events {
		if ev.OperationName != "Authentication" || ev.ResultType != audit.ResultFailure || ev.HTTPStatusCode != 401 {
			t.Errorf("unauthenticated request audited as %+v", ev)
		}
	}
	if len(al.events) != 4 {
		t.Errorf("%d events for 4 requests", len(al.events))
	}
}

func TestPercentEncodedQueryNames(t *testing.T) {
	s, _ := newTestServer(t)
	rec := serve(s, "POST", "/keys/k/create?api%2Dversion=2025-07-01", `{"kty":"EC-HSM"}`, "tok")
	if rec.Code != 200 {
		t.Fatalf("create with api%%2Dversion = %d %s", rec.Code, rec.Body)
	}
	var b map[string]any
	json.Unmarshal(rec.Body.Bytes(), &b)
	kid := b["key"].(map[string]any)["kid"].(string)
	if !strings.HasPrefix(kid, "https://p.mhsm.test/keys/k/") {
		t.Errorf("kid %q is not built from the request host", kid)
	}
	if rec.Header().Get("x-ms-request-id") == "" {
		t.Error("no x-ms-request-id")
	}
}

func TestNextLinkIsAbsolute(t *testing.T) {
	s, _ := newTestServer(t)
	for _, n := range []string{"a", "b", "c"} {
		serve(s, "POST", "/keys/"+n+"/create?api-version=7.4", `{"kty":"oct-HSM"}`, "tok")
	}
	rec := serve(s, "GET", "/keys?api-version=7.4&maxresults=2", "", "tok")
	var page struct {
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"nextLink"`
	}
	json.Unmarshal(rec.Body.Bytes(), &page)
	if len(page.Value) != 2 || !strings.HasPrefix(page.NextLink, "https://p.mhsm.test/keys?") || !strings.Contains(page.NextLink, "api-version=7.4") {
		t.Fatalf("page = %d items, nextLink %q", len(page.Value), page.NextLink)
	}
	rec = serve(s, "GET", strings.TrimPrefix(page.NextLink, "https://p.mhsm.test"), "", "tok")
	page.Value, page.NextLink = nil, ""
	json.Unmarshal(rec.Body.Bytes(), &page)
	if len(page.Value) != 1 || page.NextLink != "" {
		t.Fatalf("second page = %d items, nextLink %q", len(page.Value), page.NextLink)
	}
}

// fuzzRoutes are the request decoders the fuzzer drives; each body goes
// through decoding, validation and the domain.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/keys/f/create"}, {"PUT", "/keys/f"}, {"PATCH", "/keys/f/"}, {"POST", "/keys/f/encrypt"},
	{"POST", "/keys/f/decrypt"}, {"POST", "/keys/f/wrapkey"}, {"POST", "/keys/f/unwrapkey"}, {"POST", "/keys/f/sign"},
	{"POST", "/keys/f/verify"}, {"POST", "/keys/restore"}, {"PUT", "/keys/f/rotationpolicy"}, {"POST", "/rng"},
	{"PUT", "/providers/Microsoft.Authorization/roleDefinitions/11111111-1111-1111-1111-111111111111"},
	{"PUT", "/providers/Microsoft.Authorization/roleAssignments/22222222-2222-2222-2222-222222222222"},
	{"PATCH", "/settings/AllowKeyManagementOperationsThroughARM"},
}

func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"kty":"EC-HSM","crv":"P-256"}`, `{"kty":"RSA","key_size":2048,"key_ops":["sign"]}`, `{"key":{"kty":"oct","k":"AAECAwQFBgcICQoLDA0ODw"}}`,
		`{"alg":"A256GCM","value":"AA"}`, `{"alg":"ES256","value":"` + strings.Repeat("A", 43) + `"}`, `{"count":16}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}`,
		`{"properties":{"roleName":"r","permissions":[{"dataActions":["Microsoft.KeyVault/managedHsm/keys/read/action"]}]}}`,
		`{"properties":{"roleDefinitionId":"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b","principalId":"33333333-3333-3333-3333-333333333333"}}`,
		`{"value":"true"}`, `{"attributes":{"enabled":false},"tags":{"a":"b"}}`,
	} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), seed)
		}
	}
	s, _ := newTestServer(f)
	serve(s, "POST", "/keys/f/create?api-version=7.4", `{"kty":"oct-HSM","key_ops":["encrypt","decrypt","wrapKey","unwrapKey","sign","verify"]}`, "tok")
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		rec := serve(s, r.method, r.path+"?api-version=7.4", body, "tok")
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q = %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s: error response is not Key Vault shaped: %s", r.method, r.path, rec.Body)
			}
		}
	})
}

func FuzzPaths(f *testing.F) {
	for _, p := range []string{"/keys/a//b/", "/keys/a/providers/Microsoft.Authorization/roleAssignments", "//providers//x", "/deletedkeys/%2F"} {
		f.Add(p)
	}
	s, _ := newTestServer(f)
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n#?") {
			return
		}
		req, err := http.NewRequest("GET", "https://p.mhsm.test"+p+"?api-version=7.4", nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %q = %d %s", p, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("GET %q = %d without an error body", p, rec.Code)
		}
	})
}

// TestAuditFailureRefusesBeforeActing checks a state-changing request is
// not carried out when its event could not be recorded, and that requests
// are answered again once the log writes.
func TestAuditFailureRefusesBeforeActing(t *testing.T) {
	s, al := newTestServer(t)
	al.setFail(fmt.Errorf("%w: disk full", audit.ErrUnavailable))
	for _, tc := range []struct{ method, target, body string }{
		{"POST", "/keys/k/create?api-version=7.4", `{"kty":"EC-HSM"}`},
		{"GET", "/keys?api-version=7.4", ""},
	} {
		rec := serve(s, tc.method, tc.target, tc.body, "tok")
		var b map[string]map[string]string
		json.Unmarshal(rec.Body.Bytes(), &b)
		if rec.Code != 503 || b["error"]["code"] != "AuditUnavailable" || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s with a failing audit log = %d %s, want 503 AuditUnavailable with Retry-After", tc.method, tc.target, rec.Code, rec.Body)
		}
	}
	al.setFail(nil)
	if rec := serve(s, "GET", "/keys/k?api-version=7.4", "", "tok"); rec.Code != 404 {
		t.Errorf("GET the key a refused request would have created = %d %s, want 404", rec.Code, rec.Body)
	}
	if rec := serve(s, "POST", "/keys/k/create?api-version=7.4", `{"kty":"EC-HSM"}`, "tok"); rec.Code != 200 {
		t.Errorf("create after the log recovered = %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestTokenInEventIsAnswered checks a request whose event held token-like
// text (recorded redacted) is answered normally.
func TestTokenInEventIsAnswered(t *testing.T) {
	s, err := New(Config{Pools: onePool{mustPool(t)}, Auth: staticAuth{"tok"}, Audit: tokenGuardAudit{},
		Challenge: Challenge{Resource: "https://mhsm.test", Tenant: "tenant-guid"}})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(s, "POST", "/keys/k/create?api-version=7.4", `{"kty":"EC-HSM"}`, "tok"); rec.Code != 200 {
		t.Errorf("create = %d %s, want 200", rec.Code, rec.Body)
	}
}

type tokenGuardAudit struct{}

func (tokenGuardAudit) Append(context.Context, *audit.Event) error { return audit.ErrTokenInEvent }
func (tokenGuardAudit) Writable(string) bool                       { return true }
