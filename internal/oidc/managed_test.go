package oidc

import (
	"strconv"
	"testing"
	"time"
)

func TestManagedIdentityEndpoints(t *testing.T) {
	e := newEnv(t, noRateLimit)
	uamiSecret, _, err := e.dir.ResetCredentials(t.Context(), e.uami.ObjectID)
	if err != nil {
		t.Fatal(err)
	}
	const loopback = "127.0.0.1:50000"
	res := "resource=" + testAudience
	tests := []struct {
		name       string
		target     string
		opts       []reqOpt
		wantStatus int
		wantClient string // client_id in the response and appid in the token
		imds       bool
	}{
		{name: "App Service, system-assigned", target: "/msi/token?api-version=2019-08-01&" + res,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 200, wantClient: e.systemMI.AppID},
		{name: "App Service, resource with /.default", target: "/msi/token?api-version=2019-08-01&resource=" + testAudience + "/.default",
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 200, wantClient: e.systemMI.AppID},
		{name: "App Service, user-assigned by client_id", target: "/msi/token?api-version=2019-08-01&" + res + "&client_id=" + e.uami.AppID,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 200, wantClient: e.uami.AppID},
		{name: "App Service, user-assigned by object_id", target: "/msi/token?api-version=2019-08-01&" + res + "&object_id=" + e.uami.ObjectID,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 200, wantClient: e.uami.AppID},
		{name: "App Service, user-assigned by mi_res_id", target: "/msi/token?api-version=2019-08-01&" + res + "&mi_res_id=" + e.uami.ResourceID,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 200, wantClient: e.uami.AppID},
		{name: "App Service, the identity's own secret", target: "/msi/token?api-version=2019-08-01&" + res,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", uamiSecret)}, wantStatus: 200, wantClient: e.uami.AppID},
		{name: "App Service, unknown selector", target: "/msi/token?api-version=2019-08-01&" + res + "&client_id=" + e.sp.AppID,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 400},
		{name: "App Service, wrong header", target: "/msi/token?api-version=2019-08-01&" + res,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", "not-the-secret")}, wantStatus: 401},
		{name: "App Service, no header", target: "/msi/token?api-version=2019-08-01&" + res, wantStatus: 401},
		{name: "App Service, no resource", target: "/msi/token?api-version=2019-08-01",
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 400},
		{name: "App Service, no api-version", target: "/msi/token?" + res,
			opts: []reqOpt{withHeader("X-IDENTITY-HEADER", e.vmSecret)}, wantStatus: 400},
		{name: "IMDS", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res, imds: true,
			opts: []reqOpt{withHeader("Metadata", "true"), fromAddr(loopback)}, wantStatus: 200, wantClient: e.systemMI.AppID},
		{name: "IMDS with a trailing slash (JS)", target: "/metadata/identity/oauth2/token/?api-version=2018-02-01&" + res, imds: true,
			opts: []reqOpt{withHeader("Metadata", "true"), fromAddr(loopback)}, wantStatus: 200, wantClient: e.systemMI.AppID},
		{name: "IMDS user-assigned by msi_res_id", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res + "&msi_res_id=" + e.uami.ResourceID, imds: true,
			opts: []reqOpt{withHeader("Metadata", "true"), fromAddr("[::1]:50000")}, wantStatus: 200, wantClient: e.uami.AppID},
		{name: "IMDS with an identity header from afar", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res, imds: true,
			opts: []reqOpt{withHeader("Metadata", "true"), withHeader("X-IDENTITY-HEADER", uamiSecret)}, wantStatus: 200, wantClient: e.uami.AppID},
		{name: "IMDS without Metadata: true", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res,
			opts: []reqOpt{fromAddr(loopback)}, wantStatus: 400},
		{name: "IMDS forwarded", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res,
			opts: []reqOpt{withHeader("Metadata", "true"), withHeader("X-Forwarded-For", "203.0.113.9"), fromAddr(loopback)}, wantStatus: 400},
		{name: "IMDS from another machine", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res,
			opts: []reqOpt{withHeader("Metadata", "true"), fromAddr("192.0.2.7:5000")}, wantStatus: 403},
		{name: "IMDS wrong header", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&" + res,
			opts: []reqOpt{withHeader("Metadata", "true"), withHeader("X-IDENTITY-HEADER", "nope"), fromAddr(loopback)}, wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do("GET", tc.target, "", tc.opts...)
			if resp.status != tc.wantStatus {
				t.Fatalf("GET %s = %d %s, want %d", tc.target, resp.status, resp.raw, tc.wantStatus)
			}
			if tc.wantStatus != 200 {
				if resp.body["error"] == nil {
					t.Errorf("error response %s lacks error", resp.raw)
				}
				return
			}
			b := resp.body
			exp := e.clk.Now().Truncate(time.Second).Add(time.Hour).Unix()
			if b["expires_on"] != strconv.FormatInt(exp, 10) || b["token_type"] != "Bearer" || b["client_id"] != tc.wantClient {
				t.Errorf("response = %s; want expires_on %d as a string, Bearer, client_id %s", resp.raw, exp, tc.wantClient)
			}
			if b["resource"] == nil {
				t.Errorf("response lacks resource")
			}
			_, hasExpiresIn := b["expires_in"].(string)
			_, hasNotBefore := b["not_before"].(string)
			if hasExpiresIn != tc.imds || hasNotBefore != tc.imds {
				t.Errorf("expires_in/not_before present = %v/%v, want %v (IMDS shape only)", hasExpiresIn, hasNotBefore, tc.imds)
			}
			tok := b["access_token"].(string)
			c := claimsOf(t, tok)
			if c["appid"] != tc.wantClient || c["aud"] != testAudience || c["xms_kind"] != "managedIdentity" || c["idtyp"] != "app" {
				t.Errorf("token claims = %v", c)
			}
			id, err := e.ver.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify(managed identity token) = %v", err)
			}
			if id.Kind != KindManagedIdentity || id.AppID != tc.wantClient {
				t.Errorf("Verify() = %+v, want a managed identity with client id %s", id, tc.wantClient)
			}
		})
	}

	t.Run("rotating the resource secret revokes its tokens", func(t *testing.T) {
		resp := e.do("GET", "/msi/token?api-version=2019-08-01&"+res, "", withHeader("X-IDENTITY-HEADER", e.vmSecret))
		tok := resp.body["access_token"].(string)
		if _, err := e.ver.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dir.RotateResourceSecret(t.Context(), "vm1"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ver.Verify(t.Context(), tok); err == nil {
			t.Errorf("Verify() after the resource secret was rotated: error = nil, want an error")
		}
	})
}

func TestIMDSNotConfigured(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IMDSResource = "" })
	resp := e.do("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="+testAudience, "",
		withHeader("Metadata", "true"), fromAddr("127.0.0.1:1"))
	if resp.status != 400 || resp.body["error_description"] == nil {
		t.Errorf("IMDS without a configured resource = %d %s, want 400 Identity not found", resp.status, resp.raw)
	}
}
