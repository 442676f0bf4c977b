package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// A new tenant comes with its first Global Administrator, who manages that
// tenant and no other.
func TestNewTenantHasAdministrator(t *testing.T) {
	ts := startServer(t, t.TempDir())
	b := ts.srv.Bootstrap()
	token := func(tenant, clientID, secret string) string {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
			"scope": {"https://graph.microsoft.com/.default"}}
		resp, err := ts.client.PostForm(ts.base+"/"+tenant+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
			t.Fatalf("token for %s in %s: status %d, %v", clientID, tenant, resp.StatusCode, err)
		}
		return out.AccessToken
	}
	ga := token(b.TenantID, b.ClientID, b.ClientSecret)
	status, raw := ts.doRaw("POST", "/directory/v1/tenants", `{"name":"fabrikam"}`, ga)
	var created struct {
		ID            string `json:"id"`
		Administrator struct {
			Principal struct {
				AppID    string `json:"appId"`
				ObjectID string `json:"objectId"`
				TenantID string `json:"tenantId"`
			} `json:"principal"`
			Secret string `json:"secret"`
		} `json:"administrator"`
	}
	if status != 201 || json.Unmarshal(raw, &created) != nil || created.Administrator.Secret == "" || created.Administrator.Principal.TenantID != created.ID {
		t.Fatalf("POST /directory/v1/tenants = %d %s", status, raw)
	}
	admin := token(created.ID, created.Administrator.Principal.AppID, created.Administrator.Secret)
	if status, raw := ts.doRaw("POST", "/directory/v1/"+created.ID+"/servicePrincipals", `{"displayName":"fabrikam app"}`, admin); status != 201 {
		t.Errorf("the new tenant's administrator creating a service principal = %d %s", status, raw)
	}
	if status, raw := ts.doRaw("GET", "/directory/v1/"+b.TenantID+"/principals", "", admin); status != 403 || !strings.Contains(string(raw), "Authorization_RequestDenied") {
		t.Errorf("the new tenant's administrator listing the default tenant = %d %s, want 403", status, raw)
	}
	// Resource names are unique across the server: the new tenant's
	// administrator must not reach the default tenant's by naming them
	// under its own tenant.
	if status, raw := ts.doRaw("POST", "/directory/v1/"+b.TenantID+"/resources", `{"name":"billing-vm"}`, ga); status != 201 {
		t.Fatalf("creating a resource in the default tenant = %d %s", status, raw)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/resources/billing-vm/systemIdentity", ""},
		{"DELETE", "/resources/billing-vm", ""},
	} {
		if status, raw := ts.doRaw(tc.method, "/directory/v1/"+created.ID+tc.path, tc.body, admin); status != 404 {
			t.Errorf("%s %s by another tenant's administrator = %d %s, want 404", tc.method, tc.path, status, raw)
		}
	}
	status, raw = ts.doRaw("POST", "/directory/v1/"+created.ID+"/managedIdentities", `{"name":"shared"}`, admin)
	var mi struct {
		ObjectID string `json:"objectId"`
	}
	if status != 201 || json.Unmarshal(raw, &mi) != nil {
		t.Fatalf("creating a user-assigned identity = %d %s", status, raw)
	}
	if status, raw := ts.doRaw("POST", "/directory/v1/"+created.ID+"/managedIdentities/"+mi.ObjectID+"/attach", `{"resource":"billing-vm"}`, admin); status != 404 {
		t.Errorf("attaching to another tenant's resource = %d %s, want 404", status, raw)
	}
	if status, raw := ts.doRaw("DELETE", "/directory/v1/"+b.TenantID+"/resources/billing-vm", "", ga); status != 204 {
		t.Errorf("the default tenant's administrator deleting its resource = %d %s", status, raw)
	}
}
