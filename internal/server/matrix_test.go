package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/directory"
)

// TestPermissionMatrix checks, through real HTTP requests, every built-in
// role assigned at "/", "/keys" and "/keys/k1" against every data-plane
// operation on k1 and on its sibling k2. The expectations are data: the
// role × action × scope matrix in internal/authz/testdata and the
// operation → action table in testdata/operations.json, each with its
// source. An allowed request must not be refused with AccessDenied (it may
// still fail for other reasons: a deleted key, a bad blob); a denied one
// must be 403 AccessDenied naming the action and scope.
func TestPermissionMatrix(t *testing.T) {
	var matrix struct {
		Rows [][]any `json:"rows"`
	}
	raw, err := os.ReadFile("../authz/testdata/permission-matrix.json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &matrix)
	// allowed[roleID][action][assignmentScope][requestScope]
	allowed := map[string]bool{}
	roles := map[string]string{}
	for _, r := range matrix.Rows {
		roles[r[1].(string)] = r[0].(string)
		allowed[fmt.Sprint(r[1], "|", r[2], "|", r[3], "|", r[4])] = r[5].(bool)
	}
	var ops struct {
		Operations []struct {
			Name, Method, Path, Action, Scope string
			Body                              any
		} `json:"operations"`
	}
	raw, err = os.ReadFile("testdata/operations.json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &ops)

	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	for _, k := range []string{"k1", "k2"} {
		if s, m := ts.do("POST", "/keys/"+k+"/create"+v, `{"kty":"RSA-HSM"}`); s != 200 {
			t.Fatal(s, m)
		}
	}
	backups := map[string]string{}
	for _, k := range []string{"k1", "k2"} {
		_, m := ts.do("POST", "/keys/"+k+"/backup"+v, "")
		backups[k] = m["value"].(string)
	}
	tenant := ts.srv.tenant.ID
	tested := 0
	for roleID, roleName := range roles {
		for _, at := range []string{"/", "/keys", "/keys/k1"} {
			sp, err := ts.srv.dir.CreateServicePrincipal(ctx, tenant, "matrix "+roleName+" "+at)
			if err != nil {
				t.Fatal(err)
			}
			secret, _, err := ts.srv.dir.AddSecret(ctx, sp.ObjectID, nil)
			if err != nil {
				t.Fatal(err)
			}
			prefix := strings.TrimSuffix(at, "/")
			body := fmt.Sprintf(`{"properties":{"roleDefinitionId":"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/%s","principalId":%q}}`, roleID, sp.ObjectID)
			// A key scope holds at most ten assignments, as in Managed HSM,
			// so each one is removed once its role has been checked.
			assignment := prefix + "/providers/Microsoft.Authorization/roleAssignments/" + directory.NewGUID()
			if s, m := ts.do("PUT", assignment+v, body); s != 201 {
				t.Fatalf("assigning %s at %s: %d %v", roleName, at, s, m)
			}
			tok := tokenFor(t, ts, sp.AppID, secret)
			for _, op := range ops.Operations {
				targets := []string{"k1", "k2"}
				if op.Scope != "key" {
					targets = []string{"k1"}
				}
				for _, k := range targets {
					reqScope := map[string]string{"key": "/keys/" + k, "keys": "/keys", "root": "/"}[op.Scope]
					// The matrix lists key-scope requests against k1 for
					// assignments at "/" and "/keys"; by its scope rule those
					// cover every key alike, so k2 takes k1's row.
					rowScope := reqScope
					if at != "/keys/k1" && reqScope == "/keys/k2" {
						rowScope = "/keys/k1"
					}
					want, ok := allowed[fmt.Sprint(roleID, "|", "Microsoft.KeyVault/managedHsm/"+op.Action, "|", at, "|", rowScope)]
					if !ok {
						t.Fatalf("no matrix row for %s / %s at %s on %s", roleName, op.Action, at, rowScope)
					}
					path := strings.ReplaceAll(strings.ReplaceAll(op.Path, "{key}", k), "{guid}", directory.NewGUID())
					b := ""
					if op.Body != nil {
						raw, _ := json.Marshal(op.Body)
						b = strings.ReplaceAll(strings.ReplaceAll(string(raw), "{backup}", backups[k]), "{guid}", directory.NewGUID())
					}
					status, resp := ts.doRaw(op.Method, path+v, b, tok)
					var m map[string]any
					json.Unmarshal(resp, &m)
					denied := status == 403 && errCode(m) == "AccessDenied"
					if want && denied {
						t.Errorf("%s assigned at %s: %s on %s was refused: %s", roleName, at, op.Name, k, resp)
					}
					if !want && !denied {
						t.Errorf("%s assigned at %s: %s on %s = %d %s, want 403 AccessDenied", roleName, at, op.Name, k, status, resp)
					}
					if denied {
						msg := m["error"].(map[string]any)["message"].(string)
						if wantMsg := "Not authorized to access Microsoft.KeyVault/managedHsm/" + op.Action + " on " + reqScope; msg != wantMsg {
							t.Errorf("denial message %q, want %q", msg, wantMsg)
						}
					}
					tested++
				}
			}
			if s, m := ts.do("DELETE", assignment+v, ""); s != 200 {
				t.Fatalf("removing %s at %s: %d %v", roleName, at, s, m)
			}
		}
	}
	t.Logf("checked %d role × scope × operation × key combinations over HTTP", tested)
}

func tokenFor(t *testing.T, ts *testServer, appID, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {secret}, "scope": {ts.srv.cfg.Audience + "/.default"}}
	resp, err := ts.client.PostForm(ts.base+"/"+ts.srv.tenant.ID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("token for %s: %d %v", appID, resp.StatusCode, err)
	}
	return out.AccessToken
}
