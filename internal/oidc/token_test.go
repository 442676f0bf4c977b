package oidc

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/google/go-cmp/cmp"
)

func noRateLimit(c *Config) { c.FailureBurst = -1 }

// cp1Claims is what the Azure CLI and the Python SDK send as claims.
const cp1Claims = `{"access_token":{"xms_cc":{"values":["CP1"]}}}`

func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t, noRateLimit)
	v2 := "/" + e.tenant.ID + "/oauth2/v2.0/token"
	v1 := "/" + e.tenant.ID + "/oauth2/token"
	v2URL := "https://" + testHost + v2
	secretForm := func(clientID, secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
			"scope": {testAudience + "/.default"}}
	}
	assertionForm := func(assertion string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {e.certSP.AppID}, "client_assertion": {assertion},
			"client_assertion_type": {assertionJWTTyp}, "scope": {testAudience + "/.default"}, "client_info": {"1"}, "claims": {cp1Claims}}
	}
	tests := []struct {
		name       string
		path       string // default v2
		form       url.Values
		opts       []reqOpt
		wantStatus int
		wantError  string
		wantCode   int
		wantClaims map[string]any // checked claims of the access token
		check      func(t *testing.T, body map[string]any)
	}{
		{
			name: "client secret in the form", form: secretForm(e.sp.AppID, e.secret), wantStatus: 200,
			wantClaims: map[string]any{"aud": testAudience, "iss": "https://" + testHost + "/" + e.tenant.ID + "/v2.0", "azp": e.sp.AppID,
				"oid": e.sp.ObjectID, "sub": e.sp.ObjectID, "tid": e.tenant.ID, "idtyp": "app", "ver": "2.0", "xms_kind": "app"},
		},
		{
			name: "client secret with HTTP Basic", wantStatus: 200,
			form: url.Values{"grant_type": {"client_credentials"}, "scope": {testAudience + "/.default"}},
			opts: []reqOpt{withBasic(e.sp.AppID, e.secret)}, wantClaims: map[string]any{"azp": e.sp.AppID},
		},
		{
			name: "Basic and form secret together", form: secretForm(e.sp.AppID, e.secret), opts: []reqOpt{withBasic(e.sp.AppID, e.secret)},
			wantStatus: 400, wantError: "invalid_request", wantCode: 7000216,
		},
		{name: "wrong secret", form: secretForm(e.sp.AppID, e.secret+"x"), wantStatus: 401, wantError: "invalid_client", wantCode: 7000215},
		{name: "unknown client", form: secretForm(directory.NewGUID(), e.secret), wantStatus: 400, wantError: "unauthorized_client", wantCode: 700016},
		{name: "disabled service principal", form: secretForm(e.disabledSP.AppID, e.disabledSecret), wantStatus: 400, wantError: "unauthorized_client", wantCode: 7000112},
		{name: "expired secret", form: secretForm(e.expiringSP.AppID, e.expiringSecret), wantStatus: 401, wantError: "invalid_client", wantCode: 7000222},
		{
			name: "another tenant's client", path: "/" + e.other.ID + "/oauth2/v2.0/token", form: secretForm(e.sp.AppID, e.secret),
			wantStatus: 400, wantError: "unauthorized_client", wantCode: 700016,
		},
		{name: "no credential", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.AppID}, "scope": {testAudience + "/.default"}},
			wantStatus: 401, wantError: "invalid_client", wantCode: 7000218},
		{
			name: "CLI certificate assertion, padded x5t, float exp and iat, ADFS path", path: "/adfs/oauth2/token",
			form:       assertionForm(e.cliAssertion(t, "https://"+testHost+"/adfs/oauth2/token", nil)),
			wantStatus: 200,
			wantClaims: map[string]any{"appid": e.certSP.AppID, "tid": e.tenant.ID, "ver": "1.0", "iss": "https://" + testHost + "/" + e.tenant.ID + "/"},
		},
		{
			name: "assertion with unpadded base64url x5t", wantStatus: 200,
			form: assertionForm(e.cliAssertion(t, v2URL, func(h, _ map[string]any) {
				s := sha1.Sum(e.cert.Raw)
				h["x5t"] = base64.RawURLEncoding.EncodeToString(s[:])
			})),
		},
		{
			name: "PS256 assertion with x5t#S256", wantStatus: 200,
			form: assertionForm(e.cliAssertion(t, v2URL, func(h, _ map[string]any) {
				s := sha256.Sum256(e.cert.Raw)
				delete(h, "x5t")
				h["x5t#S256"], h["alg"] = base64.RawURLEncoding.EncodeToString(s[:]), "PS256"
			})),
		},
		{
			name: "assertion audience as a list with the tenant name", wantStatus: 200,
			form: assertionForm(e.cliAssertion(t, "", func(_, c map[string]any) {
				c["aud"] = []string{"https://elsewhere.example/token", "https://" + testHost + "/contoso.test/oauth2/v2.0/token"}
			})),
		},
		{
			name:       "assertion without client_id takes it from iss",
			form:       url.Values{"grant_type": {"client_credentials"}, "client_assertion": {e.cliAssertion(t, v2URL, nil)}, "client_assertion_type": {assertionJWTTyp}, "scope": {testAudience + "/.default"}},
			wantStatus: 200, wantClaims: map[string]any{"azp": e.certSP.AppID},
		},
		{name: "assertion for another token endpoint", form: assertionForm(e.cliAssertion(t, "https://"+testHost+"/"+e.other.ID+"/oauth2/v2.0/token", nil)),
			wantStatus: 401, wantError: "invalid_client", wantCode: 700027},
		{name: "assertion for another host", form: assertionForm(e.cliAssertion(t, "https://login.microsoftonline.com/"+e.tenant.ID+"/oauth2/v2.0/token", nil)),
			wantStatus: 401, wantError: "invalid_client", wantCode: 700027},
		{name: "expired assertion", form: assertionForm(e.cliAssertion(t, v2URL, func(_, c map[string]any) { c["exp"] = float64(e.clk.Now().Unix()) - 600.5 })),
			wantStatus: 401, wantError: "invalid_client", wantCode: 700024},
		{name: "assertion not yet valid", form: assertionForm(e.cliAssertion(t, v2URL, func(_, c map[string]any) { c["nbf"] = float64(e.clk.Now().Unix()) + 3600.5 })),
			wantStatus: 401, wantError: "invalid_client", wantCode: 700024},
		{name: "assertion without jti", form: assertionForm(e.cliAssertion(t, v2URL, func(_, c map[string]any) { delete(c, "jti") })),
			wantStatus: 401, wantError: "invalid_client", wantCode: 50027},
		{name: "assertion with iss other than client_id", form: assertionForm(e.cliAssertion(t, v2URL, func(_, c map[string]any) {
			c["iss"], c["sub"] = e.sp.AppID, e.sp.AppID
		})), wantStatus: 401, wantError: "invalid_client", wantCode: 700021},
		{name: "assertion naming an unregistered certificate", form: assertionForm(e.cliAssertion(t, v2URL, func(h, _ map[string]any) {
			h["x5t"] = base64.StdEncoding.EncodeToString(make([]byte, 20))
		})), wantStatus: 401, wantError: "invalid_client", wantCode: 700027},
		{
			name: "assertion signed by another key", wantStatus: 401, wantError: "invalid_client", wantCode: 700027,
			form: func() url.Values {
				parts := strings.Split(e.cliAssertion(t, v2URL, nil), ".")
				other := strings.Split(e.cliAssertion(t, v2URL, func(_, c map[string]any) { c["jti"] = "other" }), ".")
				return assertionForm(parts[0] + "." + parts[1] + "." + other[2])
			}(),
		},
		{name: "HS256 assertion", form: assertionForm(e.cliAssertion(t, v2URL, func(h, _ map[string]any) { h["alg"] = "HS256" })),
			wantStatus: 401, wantError: "invalid_client", wantCode: 50027},
		{name: "assertion with the wrong assertion type", form: func() url.Values {
			f := assertionForm(e.cliAssertion(t, v2URL, nil))
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			return f
		}(), wantStatus: 400, wantError: "invalid_request"},
		{
			name: "ROPC user", wantStatus: 200,
			form: url.Values{"grant_type": {"password"}, "client_id": {"04b07795-8ddb-461a-bbee-02f9e1bf7b46"}, "username": {"ALICE@contoso.test"},
				"password": {e.password}, "scope": {testAudience + "/.default openid profile offline_access"}, "client_info": {"1"}},
			wantClaims: map[string]any{"idtyp": "user", "upn": "alice@contoso.test", "name": "Alice", "oid": e.user.ObjectID,
				"azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "xms_kind": "user"},
			check: func(t *testing.T, body map[string]any) {
				idt, _ := body["id_token"].(string)
				if idt == "" || body["client_info"] == nil {
					t.Fatalf("ROPC with openid: id_token %q, client_info %v; want both", idt, body["client_info"])
				}
				c := claimsOf(t, idt)
				want := map[string]any{"aud": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "iss": "https://" + testHost + "/" + e.tenant.ID + "/v2.0",
					"preferred_username": "alice@contoso.test", "tid": e.tenant.ID, "oid": e.user.ObjectID}
				for k, v := range want {
					if c[k] != v {
						t.Errorf("id_token %s = %v, want %v", k, c[k], v)
					}
				}
			},
		},
		{
			name:      "ROPC wrong password",
			form:      url.Values{"grant_type": {"password"}, "username": {"alice@contoso.test"}, "password": {"wrong password!"}, "scope": {testAudience + "/.default"}},
			wantError: "invalid_grant", wantStatus: 400, wantCode: 50126,
		},
		{
			name:      "ROPC unknown user",
			form:      url.Values{"grant_type": {"password"}, "username": {"mallory@contoso.test"}, "password": {e.password}, "scope": {testAudience + "/.default"}},
			wantError: "invalid_grant", wantStatus: 400, wantCode: 50126,
		},
		{
			name: "v1 resource field", path: v1, wantStatus: 200,
			form:       url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.AppID}, "client_secret": {e.secret}, "resource": {testAudience + "/"}},
			wantClaims: map[string]any{"aud": testAudience, "ver": "1.0", "appid": e.sp.AppID, "iss": "https://" + testHost + "/" + e.tenant.ID + "/"},
			check: func(t *testing.T, body map[string]any) {
				if body["resource"] != testAudience+"/" {
					t.Errorf("v1 resource = %v, want the requested %s/", body["resource"], testAudience)
				}
				if _, ok := body["expires_on"].(string); !ok {
					t.Errorf("v1 expires_on = %#v, want a string", body["expires_on"])
				}
			},
		},
		{
			name: "CP1 claims, client_info, telemetry and extra scopes are ignored", wantStatus: 200,
			path: v2 + "?client-request-id=" + directory.NewGUID(),
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.AppID}, "client_secret": {e.secret},
				"scope":       {testAudience + "/.default openid offline_access profile"},
				"claims":      {`{"id_token":{"signin_state":{"essential":false}},"access_token":{"xms_cc":{"values":["cp1"]}}}`},
				"client_info": {"1"}, "x-client-SKU": {"msal.js.node"}, "x-client-VER": {"5.6.0"}, "x-client-current-telemetry": {"5|771,2,,,|,"}},
			wantClaims: map[string]any{"aud": testAudience},
		},
		{
			name: "resource ending in a slash (//.default)", wantStatus: 200,
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.AppID}, "client_secret": {e.secret},
				"scope": {testAudience + "//.default"}},
			wantClaims: map[string]any{"aud": testAudience},
		},
		{
			name: "ADFS alias is the default tenant", path: "/adfs/oauth2/token", wantStatus: 200,
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.AppID}, "client_secret": {e.secret},
				"client_info": {"1"}, "claims": {cp1Claims}, "scope": {"https://management.core.windows.net//.default"}},
			wantClaims: map[string]any{"aud": "https://management.core.windows.net", "tid": e.tenant.ID, "iss": "https://" + testHost + "/" + e.tenant.ID + "/", "ver": "1.0"},
			check: func(t *testing.T, body map[string]any) {
				if body["resource"] != "https://management.core.windows.net/" {
					t.Errorf("ADFS response resource = %v, want https://management.core.windows.net/", body["resource"])
				}
			},
		},
		{
			name: "tenant by name", path: "/contoso.test/oauth2/v2.0/token", form: secretForm(e.sp.AppID, e.secret), wantStatus: 200,
			wantClaims: map[string]any{"tid": e.tenant.ID, "iss": "https://" + testHost + "/" + e.tenant.ID + "/v2.0"},
		},
		{
			name: "Global Administrator", form: secretForm(e.admin.AppID, e.adminSecret), wantStatus: 200,
			check: func(t *testing.T, body map[string]any) {
				c := claimsOf(t, body["access_token"].(string))
				if diff := cmp.Diff([]any{directory.GlobalAdministratorTemplateID}, c["wids"]); diff != "" {
					t.Errorf("wids mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]any{directory.RoleGlobalAdministrator}, c["roles"]); diff != "" {
					t.Errorf("roles mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "groups", form: secretForm(e.sp.AppID, e.secret), wantStatus: 200,
			check: func(t *testing.T, body map[string]any) {
				c := claimsOf(t, body["access_token"].(string))
				want := []any{e.group.ObjectID, e.nested.ObjectID}
				if want[0].(string) > want[1].(string) {
					want[0], want[1] = want[1], want[0]
				}
				if diff := cmp.Diff(want, c["groups"]); diff != "" {
					t.Errorf("groups mismatch (-want +got):\n%s", diff)
				}
			},
		},
		{name: "unknown tenant", path: "/nowhere/oauth2/v2.0/token", form: secretForm(e.sp.AppID, e.secret), wantStatus: 400, wantError: "invalid_request", wantCode: 90002},
		{name: "no grant type", form: url.Values{"client_id": {e.sp.AppID}}, wantStatus: 400, wantError: "invalid_request", wantCode: 900144},
		{name: "unsupported grant type", form: url.Values{"grant_type": {"authorization_code"}}, wantStatus: 400, wantError: "unsupported_grant_type", wantCode: 70003},
		{name: "no scope", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.AppID}, "client_secret": {e.secret}},
			wantStatus: 400, wantError: "invalid_request", wantCode: 900144},
		{name: "scopes of two resources", form: func() url.Values {
			f := secretForm(e.sp.AppID, e.secret)
			f.Set("scope", testAudience+"/.default https://vault.azure.net/.default")
			return f
		}(), wantStatus: 400, wantError: "invalid_scope", wantCode: 70011},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = v2
			}
			resp := e.post(path, tc.form, tc.opts...)
			if resp.status != tc.wantStatus {
				t.Fatalf("POST %s = %d %s, want %d", path, resp.status, resp.raw, tc.wantStatus)
			}
			if tc.wantError != "" {
				if resp.body["error"] != tc.wantError {
					t.Errorf("error = %v, want %s", resp.body["error"], tc.wantError)
				}
				if tc.wantCode != 0 {
					if diff := cmp.Diff([]any{float64(tc.wantCode)}, resp.body["error_codes"]); diff != "" {
						t.Errorf("error_codes mismatch (-want +got):\n%s", diff)
					}
				}
				for _, f := range []string{"error_description", "timestamp", "trace_id", "correlation_id"} {
					if s, _ := resp.body[f].(string); s == "" {
						t.Errorf("error response lacks %s", f)
					}
				}
				return
			}
			if got, ok := resp.body["expires_in"].(float64); !ok || got != 3600 {
				t.Errorf("expires_in = %#v, want the JSON number 3600", resp.body["expires_in"])
			}
			if resp.body["token_type"] != "Bearer" {
				t.Errorf("token_type = %v, want Bearer", resp.body["token_type"])
			}
			tok := resp.body["access_token"].(string)
			c := claimsOf(t, tok)
			for k, v := range tc.wantClaims {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
			if tc.check != nil {
				tc.check(t, resp.body)
			}
			if _, err := e.ver.Verify(t.Context(), tok); err != nil && c["aud"] == testAudience {
				t.Errorf("Verify(issued token) = %v, want nil", err)
			}
		})
	}
}

func TestTokenErrorEchoesCorrelationID(t *testing.T) {
	e := newEnv(t, noRateLimit)
	id := directory.NewGUID()
	resp := e.post("/"+e.tenant.ID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}}, withHeader("client-request-id", id))
	if resp.body["correlation_id"] != id {
		t.Errorf("correlation_id = %v, want the client-request-id %s", resp.body["correlation_id"], id)
	}
	if !strings.HasPrefix(resp.body["error_description"].(string), "AADSTS900144: ") {
		t.Errorf("error_description = %q, want it to start with AADSTS900144", resp.body["error_description"])
	}
}

func TestAssertionReplay(t *testing.T) {
	e := newEnv(t, noRateLimit)
	path := "/" + e.tenant.ID + "/oauth2/v2.0/token"
	assertion := e.cliAssertion(t, "https://"+testHost+path, nil)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.certSP.AppID}, "client_assertion": {assertion},
		"client_assertion_type": {assertionJWTTyp}, "scope": {testAudience + "/.default"}}
	if resp := e.post(path, form); resp.status != 200 {
		t.Fatalf("first use of the assertion = %d %s, want 200", resp.status, resp.raw)
	}
	resp := e.post(path, form)
	if resp.status != 401 || !strings.Contains(resp.body["error_description"].(string), "already been used") {
		t.Errorf("second use of the assertion = %d %s, want 401 (jti replay)", resp.status, resp.raw)
	}
	// A new jti is a new assertion.
	if resp := e.post(path, url.Values{"grant_type": {"client_credentials"}, "client_assertion": {e.cliAssertion(t, "https://"+testHost+path, nil)},
		"client_assertion_type": {assertionJWTTyp}, "scope": {testAudience + "/.default"}}); resp.status != 200 {
		t.Errorf("a fresh assertion = %d %s, want 200", resp.status, resp.raw)
	}
}

func TestTokenLifetimeConfig(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TokenLifetime = 10 * time.Minute })
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	c := claimsOf(t, tok)
	if got := num(c["exp"]) - num(c["iat"]); got != 600 {
		t.Errorf("exp - iat = %v, want 600", got)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	tid := e.tenant.ID
	tests := []struct {
		name, path, host string
		want             map[string]string
	}{
		{"v2", "/" + tid + "/v2.0/.well-known/openid-configuration", testHost, map[string]string{
			"issuer": "https://" + testHost + "/" + tid + "/v2.0", "token_endpoint": "https://" + testHost + "/" + tid + "/oauth2/v2.0/token",
			"authorization_endpoint": "https://" + testHost + "/" + tid + "/oauth2/v2.0/authorize", "jwks_uri": "https://" + testHost + "/" + tid + "/discovery/v2.0/keys",
			"device_authorization_endpoint": "https://" + testHost + "/" + tid + "/oauth2/v2.0/devicecode", "tenant_id": tid}},
		{"v1 names the tenant id even when asked by name", "/contoso.test/.well-known/openid-configuration", "localhost:8443", map[string]string{
			"issuer": "https://localhost:8443/" + tid + "/", "token_endpoint": "https://localhost:8443/contoso.test/oauth2/token",
			"jwks_uri": "https://localhost:8443/contoso.test/discovery/keys"}},
		{"ADFS", "/adfs/.well-known/openid-configuration", "127.0.0.1:9443", map[string]string{
			"issuer": "https://127.0.0.1:9443/adfs", "token_endpoint": "https://127.0.0.1:9443/adfs/oauth2/token",
			"authorization_endpoint": "https://127.0.0.1:9443/adfs/oauth2/authorize", "tenant_id": tid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do("GET", tc.path, "", withHost(tc.host))
			if resp.status != 200 {
				t.Fatalf("GET %s = %d %s", tc.path, resp.status, resp.raw)
			}
			for k, v := range tc.want {
				if resp.body[k] != v {
					t.Errorf("%s = %v, want %s", k, resp.body[k], v)
				}
			}
			// The document's own links work.
			jwks, _ := resp.body["jwks_uri"].(string)
			u, _ := url.Parse(jwks)
			if r := e.do("GET", u.Path, "", withHost(tc.host)); r.status != 200 || len(r.body["keys"].([]any)) != 1 {
				t.Errorf("GET jwks_uri %s = %d %s, want one key", u.Path, r.status, r.raw)
			}
		})
	}
	if resp := e.do("GET", "/nowhere/v2.0/.well-known/openid-configuration", ""); resp.status != 400 {
		t.Errorf("discovery for an unknown tenant = %d, want 400", resp.status)
	}
	resp := e.do("GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://"+testHost+"/common/oauth2/v2.0/authorize", "")
	if resp.status != 200 || !strings.HasPrefix(resp.body["tenant_discovery_endpoint"].(string), "https://"+testHost+"/") {
		t.Errorf("instance discovery = %d %s", resp.status, resp.raw)
	}
}

func TestJWKSMatchesTokens(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	resp := e.do("GET", "/"+e.tenant.ID+"/discovery/v2.0/keys", "")
	var set struct {
		Keys []struct{ Kid, Kty, Alg, Use, N, E string }
	}
	if err := json.Unmarshal(resp.raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS = %s, want one key", resp.raw)
	}
	k := set.Keys[0]
	if k.Kid != headerOf(t, tok)["kid"] || k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" || k.N == "" || k.E != "AQAB" {
		t.Errorf("JWKS key = %+v, want the RSA signing key of the token (kid %v)", k, headerOf(t, tok)["kid"])
	}
	if n, _ := base64.RawURLEncoding.DecodeString(k.N); len(n) != 256 {
		t.Errorf("signing key modulus is %d bytes, want 256 (RSA-2048)", len(n))
	}
}

func TestCloudEndpoints(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sp.AppID, e.secret, "https://management.core.windows.net/")
	bearer := withHeader("Authorization", "Bearer "+tok)

	resp := e.do("GET", "/subscriptions?api-version=2019-11-01", "", bearer)
	subs, _ := resp.body["value"].([]any)
	if resp.status != 200 || len(subs) != 1 {
		t.Fatalf("GET /subscriptions = %d %s, want one subscription", resp.status, resp.raw)
	}
	if s := subs[0].(map[string]any); s["state"] != "Enabled" || s["subscriptionId"] != e.tenant.ID || s["tenantId"] != e.tenant.ID {
		t.Errorf("subscription = %v, want the tenant's, Enabled", s)
	}
	if resp := e.do("GET", "/subscriptions/"+e.tenant.ID+"?api-version=2019-11-01", "", bearer); resp.status != 200 {
		t.Errorf("GET /subscriptions/{id} = %d", resp.status)
	}
	if resp := e.do("GET", "/subscriptions/"+e.other.ID+"?api-version=2019-11-01", "", bearer); resp.status != 404 {
		t.Errorf("GET another tenant's subscription = %d, want 404", resp.status)
	}
	if resp := e.do("GET", "/tenants?api-version=2020-01-01", "", bearer); resp.status != 200 || len(resp.body["value"].([]any)) != 1 {
		t.Errorf("GET /tenants = %d %s", resp.status, resp.raw)
	}
	for name, opt := range map[string]reqOpt{
		"no token":      func(*http.Request) {},
		"garbage token": withHeader("Authorization", "Bearer abc.def.ghi"),
	} {
		resp := e.do("GET", "/subscriptions?api-version=2019-11-01", "", opt)
		if errObj, _ := resp.body["error"].(map[string]any); resp.status != 401 || errObj["code"] != "InvalidAuthenticationToken" {
			t.Errorf("GET /subscriptions with %s = %d %s, want 401 InvalidAuthenticationToken", name, resp.status, resp.raw)
		}
	}
	if err := e.dir.Disable(t.Context(), e.sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	if resp := e.do("GET", "/subscriptions?api-version=2019-11-01", "", bearer); resp.status != 401 {
		t.Errorf("GET /subscriptions with a disabled principal's token = %d, want 401", resp.status)
	}

	// az cloud register (msrestazure) reads the 2015-01-01 object; newer
	// clients read a list of clouds.
	old := e.do("GET", "/metadata/endpoints?api-version=2015-01-01", "")
	auth, _ := old.body["authentication"].(map[string]any)
	if old.status != 200 || auth["loginEndpoint"] != "https://"+testHost+"/adfs" || old.body["graphEndpoint"] == nil {
		t.Errorf("metadata 2015-01-01 = %d %s", old.status, old.raw)
	}
	newer := e.do("GET", "/metadata/endpoints?api-version=2019-05-01", "")
	var clouds []map[string]any
	if err := json.Unmarshal(newer.raw, &clouds); err != nil || len(clouds) != 1 {
		t.Fatalf("metadata 2019-05-01 = %s, want a list of one cloud", newer.raw)
	}
	if s := clouds[0]["suffixes"].(map[string]any); s["mhsmDns"] != ".mhsm.coffer.test:8443" {
		t.Errorf("mhsmDns = %v, want .mhsm.coffer.test:8443", s["mhsmDns"])
	}
}

func TestGroupOverage(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.GroupOverageLimit = 1 })
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	c := claimsOf(t, tok)
	if _, ok := c["groups"]; ok {
		t.Errorf("a token over the group limit carries groups")
	}
	names, _ := c["_claim_names"].(map[string]any)
	sources, _ := c["_claim_sources"].(map[string]any)
	src, _ := sources["src1"].(map[string]any)
	endpoint, _ := src["endpoint"].(string)
	if names["groups"] != "src1" || endpoint == "" {
		t.Fatalf("overage claims = %v, %v; want Entra's shape", c["_claim_names"], c["_claim_sources"])
	}
	// The verifier resolves the groups from the directory.
	id, err := e.ver.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Groups) != 2 {
		t.Errorf("Verify() of an overage token: Groups = %v, want the 2 transitive groups", id.Groups)
	}
	// The overage endpoint answers the principal itself.
	u, _ := url.Parse(endpoint)
	resp := e.do("POST", u.Path, `{"securityEnabledOnly":false}`, withHeader("Authorization", "Bearer "+tok))
	if diff := cmp.Diff(map[string]any{"value": []any{id.Groups[0], id.Groups[1]}}, resp.body); resp.status != 200 || diff != "" {
		t.Errorf("POST %s = %d, mismatch (-want +got):\n%s", u.Path, resp.status, diff)
	}
	sp2 := must(e.dir.CreateServicePrincipal(t.Context(), e.tenant.ID, "nosy"))
	secret2, _, err := e.dir.AddSecret(t.Context(), sp2.ObjectID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"another principal", e.token(sp2.AppID, secret2, testAudience), 403},
		{"a Global Administrator", e.token(e.admin.AppID, e.adminSecret, testAudience), 200},
	} {
		if resp := e.do("POST", u.Path, "{}", withHeader("Authorization", "Bearer "+tc.token)); resp.status != tc.status {
			t.Errorf("POST %s by %s = %d, want %d", u.Path, tc.name, resp.status, tc.status)
		}
	}
}

// TestAssertionStateAfterSignature checks that a disabled application is
// told so only when its assertion proves it holds the certificate's key.
func TestAssertionStateAfterSignature(t *testing.T) {
	e := newEnv(t, noRateLimit)
	path := "/" + e.tenant.ID + "/oauth2/v2.0/token"
	aud := "https://" + testHost + path
	if err := e.dir.Disable(t.Context(), e.certSP.ObjectID); err != nil {
		t.Fatal(err)
	}
	form := func(assertion string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
			"client_assertion_type": {assertionJWTTyp}, "scope": {testAudience + "/.default"}}
	}
	valid := e.cliAssertion(t, aud, nil)
	parts := strings.Split(valid, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Split(e.cliAssertion(t, aud, nil), ".")[2]
	tests := []struct {
		name      string
		assertion string
		wantCode  float64
	}{
		{"forged signature", forged, 700027},
		{"valid signature", valid, 7000112},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(path, form(tc.assertion))
			if codes, _ := resp.body["error_codes"].([]any); len(codes) != 1 || codes[0] != tc.wantCode {
				t.Errorf("POST token = %d %s, want AADSTS%v", resp.status, resp.raw, tc.wantCode)
			}
		})
	}
}
