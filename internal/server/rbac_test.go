package server

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/directory"
)

const (
	rbacBase   = "/providers/Microsoft.Authorization/"
	roleIDBase = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
	cryptoUser = "21dbd100-6940-42c2-9190-5d6cb909625b"
)

// rbacState renders every role definition and role assignment (at every
// scope the test uses) and the settings, so a test can show that refused
// requests stored nothing.
func (ts *testServer) rbacState(keys ...string) string {
	ts.t.Helper()
	var lines []string
	_, defs := ts.do("GET", rbacBase+"roleDefinitions"+v, "")
	for _, d := range defs["value"].([]any) {
		b, _ := json.Marshal(d)
		lines = append(lines, "def "+string(b))
	}
	for _, scope := range append([]string{"", "/keys"}, keys...) {
		_, as := ts.do("GET", scope+rbacBase+"roleAssignments"+v, "")
		for _, a := range as["value"].([]any) {
			b, _ := json.Marshal(a)
			lines = append(lines, "asg "+string(b))
		}
	}
	_, st := ts.do("GET", "/settings"+v, "")
	b, _ := json.Marshal(st)
	lines = append(lines, "settings "+string(b))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func assignmentBody(role, principal string) string {
	return fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, roleIDBase+role, principal)
}

func customRole(name string, actions ...string) string {
	q := make([]string, len(actions))
	for i, a := range actions {
		q[i] = fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf(`{"properties":{"roleName":%q,"type":"CustomRole","permissions":[{"dataActions":[%s]}],"assignableScopes":["/"]}}`, name, strings.Join(q, ","))
}

// TestRBACBadInput sends malformed and over-limit role requests: each gets
// an Azure-shaped 4xx naming the problem, and nothing is stored.
func TestRBACBadInput(t *testing.T) {
	cfg := devConfig(t.TempDir())
	cfg.Limits.MaxCustomRoles, cfg.Limits.MaxAssignmentsKeyScope, cfg.Limits.MaxAssignmentsPoolScope = 1, 1, 6
	ts := startServerConfig(t, cfg)
	if s, m := ts.do("POST", "/keys/k1/create"+v, `{"kty":"EC-HSM"}`); s != 200 {
		t.Fatal(s, m)
	}
	principal := directory.NewGUID()
	existingRole, existingAsg, keyAsg := directory.NewGUID(), directory.NewGUID(), directory.NewGUID()
	if s, m := ts.do("PUT", rbacBase+"roleDefinitions/"+existingRole+v, customRole("Signer", "Microsoft.KeyVault/managedHsm/keys/sign/action")); s != 201 {
		t.Fatal(s, m)
	}
	if s, m := ts.do("PUT", rbacBase+"roleAssignments/"+existingAsg+v, assignmentBody(cryptoUser, principal)); s != 201 {
		t.Fatal(s, m)
	}
	if s, m := ts.do("PUT", "/keys/k1"+rbacBase+"roleAssignments/"+keyAsg+v, assignmentBody(cryptoUser, principal)); s != 201 {
		t.Fatal(s, m)
	}
	// Fill the pool-wide scopes to their limit of six (the development
	// pool starts with its administrator's assignments).
	for i := 0; ; i++ {
		s, m := ts.do("PUT", "/keys"+rbacBase+"roleAssignments/"+directory.NewGUID()+v, assignmentBody(cryptoUser, directory.NewGUID()))
		if s == 400 && strings.Contains(m["error"].(map[string]any)["message"].(string), "maximum number") {
			break
		}
		if s != 201 || i > 6 {
			t.Fatalf("filling /keys: %d %v", s, m)
		}
	}
	before := ts.rbacState("/keys/k1")
	g := directory.NewGUID

	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"assignment name not a GUID", "PUT", rbacBase + "roleAssignments/not-a-guid", assignmentBody(cryptoUser, g()), 400, "BadParameter"},
		{"principal id not a GUID", "PUT", "/keys/k1" + rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, "alice"), 400, "BadParameter"},
		{"role id not a GUID", "PUT", "/keys/k1" + rbacBase + "roleAssignments/" + g(), assignmentBody("crypto-user", g()), 400, "BadParameter"},
		{"unknown role id", "PUT", "/keys/k1" + rbacBase + "roleAssignments/" + g(), assignmentBody(g(), g()), 400, "RoleDefinitionDoesNotExist"},
		{"missing properties", "PUT", "/keys/k1" + rbacBase + "roleAssignments/" + g(), `{}`, 400, "BadParameter"},
		{"assignment body not JSON", "PUT", "/keys/k1" + rbacBase + "roleAssignments/" + g(), `{"properties":`, 400, "BadParameter"},
		{"duplicate assignment name", "PUT", rbacBase + "roleAssignments/" + existingAsg, assignmentBody(cryptoUser, g()), 409, "RoleAssignmentExists"},
		{"same role and principal twice", "PUT", rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, principal), 409, "RoleAssignmentExists"},
		{"over the key-scope limit", "PUT", "/keys/k1" + rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, g()), 400, "BadParameter"},
		{"over the pool-scope limit", "PUT", rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, g()), 400, "BadParameter"},
		{"scope outside keys", "PUT", "/secrets" + rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, g()), 400, "BadParameter"},
		{"scope below a key", "PUT", "/keys/k1/versions" + rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, g()), 400, "BadParameter"},
		{"scope with a bad key name", "PUT", "/keys/bad_name" + rbacBase + "roleAssignments/" + g(), assignmentBody(cryptoUser, g()), 400, "BadParameter"},
		{"get unknown assignment", "GET", rbacBase + "roleAssignments/" + g(), "", 404, "RoleAssignmentNotFound"},
		{"delete unknown assignment", "DELETE", rbacBase + "roleAssignments/" + g(), "", 404, "RoleAssignmentNotFound"},
		{"unsupported assignment $filter", "GET", rbacBase + "roleAssignments?api-version=7.4&$filter=roleName%20eq%20'x'", "", 400, "BadParameter"},
		{"unquoted principalId $filter", "GET", rbacBase + "roleAssignments?api-version=7.4&$filter=principalId%20eq%20x%20or%201", "", 400, "BadParameter"},
		{"unsupported definition $filter", "GET", rbacBase + "roleDefinitions?api-version=7.4&$filter=type%20eq%20'CustomRole'", "", 400, "BadParameter"},
		{"role name not a GUID", "PUT", rbacBase + "roleDefinitions/signer", customRole("Other", "Microsoft.KeyVault/managedHsm/keys/sign/action"), 400, "BadParameter"},
		{"unknown permission", "PUT", rbacBase + "roleDefinitions/" + g(), customRole("Other", "Microsoft.KeyVault/managedHsm/keys/explode/action"), 400, "BadParameter"},
		{"wildcard permission", "PUT", rbacBase + "roleDefinitions/" + g(), customRole("Other", "Microsoft.KeyVault/managedHsm/keys/*"), 400, "BadParameter"},
		{"management-plane action", "PUT", rbacBase + "roleDefinitions/" + g(), `{"properties":{"roleName":"Other","permissions":[{"actions":["Microsoft.KeyVault/managedHSMs/read"]}]}}`, 400, "BadParameter"},
		{"role at a key scope", "PUT", "/keys/k1" + rbacBase + "roleDefinitions/" + g(), customRole("Other", "Microsoft.KeyVault/managedHsm/keys/sign/action"), 400, "BadParameter"},
		{"built-in role name taken", "PUT", rbacBase + "roleDefinitions/" + g(), customRole("Managed HSM Crypto User", "Microsoft.KeyVault/managedHsm/keys/sign/action"), 409, "RoleDefinitionWithSameNameExists"},
		{"custom role name taken", "PUT", rbacBase + "roleDefinitions/" + g(), customRole("signer", "Microsoft.KeyVault/managedHsm/keys/sign/action"), 409, "RoleDefinitionWithSameNameExists"},
		{"over the custom-role limit", "PUT", rbacBase + "roleDefinitions/" + g(), customRole("Other", "Microsoft.KeyVault/managedHsm/keys/sign/action"), 400, "BadParameter"},
		{"change a built-in role", "PUT", rbacBase + "roleDefinitions/" + cryptoUser, customRole("Mine", "Microsoft.KeyVault/managedHsm/keys/sign/action"), 403, "Forbidden"},
		{"delete a built-in role", "DELETE", rbacBase + "roleDefinitions/" + cryptoUser, "", 403, "Forbidden"},
		{"delete unknown role", "DELETE", rbacBase + "roleDefinitions/" + g(), "", 404, "RoleDefinitionNotFound"},
		{"unknown setting", "GET", "/settings/NoSuchSetting", "", 404, "SettingNotFound"},
		{"setting not a boolean", "PATCH", "/settings/AllowKeyManagementOperationsThroughARM", `{"value":"yes"}`, 400, "BadParameter"},
		{"setting value not a string", "PATCH", "/settings/AllowKeyManagementOperationsThroughARM", `{"value":true}`, 400, "BadParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if !strings.Contains(path, "api-version") {
				path += v
			}
			status, m := ts.do(tc.method, path, tc.body)
			if m["error"] == nil {
				t.Fatalf("%s %s = %d %v, want an error", tc.method, tc.path, status, m)
			}
			if status != tc.status || errCode(m) != tc.code {
				t.Errorf("%s %s = %d %s %v, want %d %s", tc.method, tc.path, status, errCode(m), m["error"], tc.status, tc.code)
			}
			if msg, _ := m["error"].(map[string]any)["message"].(string); msg == "" {
				t.Errorf("error has no message: %v", m)
			}
		})
	}
	if after := ts.rbacState("/keys/k1"); after != before {
		t.Errorf("rejected requests changed the stored state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRBACFilters checks the documented $filter forms narrow listings as
// Managed HSM's do.
func TestRBACFilters(t *testing.T) {
	ts := startServer(t, t.TempDir())
	p1, p2 := directory.NewGUID(), directory.NewGUID()
	for _, a := range []struct{ scope, principal string }{{"", p1}, {"/keys", p1}, {"/keys/k1", p1}, {"", p2}} {
		if s, m := ts.do("PUT", a.scope+rbacBase+"roleAssignments/"+directory.NewGUID()+v, assignmentBody(cryptoUser, a.principal)); s != 201 {
			t.Fatal(s, m)
		}
	}
	count := func(path string) int {
		t.Helper()
		s, m := ts.do("GET", path, "")
		if s != 200 {
			t.Fatalf("GET %s = %d %v", path, s, m)
		}
		return len(m["value"].([]any))
	}
	// principalId finds the principal's assignments at every scope, from
	// any listing scope; assignedTo() is the same question.
	for _, f := range []string{"principalId%20eq%20'" + p1 + "'", "assignedTo('" + p1 + "')"} {
		if n := count(rbacBase + "roleAssignments?api-version=7.4&$filter=" + f); n != 3 {
			t.Errorf("filter %s listed %d assignments, want 3", f, n)
		}
	}
	if n := count(rbacBase + "roleAssignments?api-version=7.4&$filter=principalId%20eq%20'" + p2 + "'"); n != 1 {
		t.Errorf("principalId filter for p2 listed %d, want 1", n)
	}
	all := count(rbacBase + "roleAssignments" + v)
	if n := count(rbacBase + "roleAssignments?api-version=7.4&$filter=atScope()"); n != all {
		t.Errorf("atScope() at / listed %d, unfiltered %d", n, all)
	}
	// The key-level assignment shows only when listing at its key.
	if n := count("/keys/k1" + rbacBase + "roleAssignments" + v); n != all+1 {
		t.Errorf("listing at /keys/k1 gave %d, want %d", n, all+1)
	}
	if n := count(rbacBase + "roleDefinitions?api-version=7.4&$filter=roleName%20eq%20'Managed%20HSM%20Crypto%20User'"); n != 1 {
		t.Errorf("roleName filter listed %d definitions, want 1", n)
	}
}
