package authz

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "", want: "/"},
		{in: "/", want: "/"},
		{in: "//", want: "/"},
		{in: "keys", want: "/keys"},
		{in: "/keys/", want: "/keys"},
		{in: "//keys//k1/", want: "/keys/k1"},
		{in: "/KEYS/My-Key", want: "/keys/My-Key"},
		{in: "/keys/a/b", wantErr: true},
		{in: "/secrets", wantErr: true},
		{in: "/keys/bad_name", wantErr: true},
		{in: "/keys/" + strings.Repeat("a", 128), wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseScope(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseScope(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got.String() != tc.want {
			t.Errorf("ParseScope(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCovers(t *testing.T) {
	k1, k1upper, k2 := KeyScope("k1"), KeyScope("K1"), KeyScope("k2")
	tests := []struct {
		a, b Scope
		want bool
	}{
		{RootScope, RootScope, true}, {RootScope, KeysScope, true}, {RootScope, k1, true},
		{KeysScope, RootScope, false}, {KeysScope, KeysScope, true}, {KeysScope, k1, true},
		{k1, k1, true}, {k1, k1upper, true}, {k1, k2, false}, {k1, KeysScope, false}, {k1, RootScope, false},
	}
	for _, tc := range tests {
		if got := tc.a.Covers(tc.b); got != tc.want {
			t.Errorf("%s.Covers(%s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseAction(t *testing.T) {
	for _, a := range AllActions() {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a, got, err)
		}
		got, err = ParseAction(strings.Replace(a.String(), "managedHsm", "managedHSM", 1))
		if err != nil || got != a {
			t.Errorf("ParseAction(upper-case HSM %q) = %v, %v", a, got, err)
		}
	}
	for _, bad := range []string{"", "Microsoft.KeyVault/managedHsm/keys/*", "Microsoft.KeyVault/managedHsm/keys/explode/action", "keys/read/action"} {
		if _, err := ParseAction(bad); err == nil {
			t.Errorf("ParseAction(%q) succeeded, want error", bad)
		}
	}
}

func TestParseGUID(t *testing.T) {
	if g, err := ParseGUID("{A290E904-7015-4BBA-90C8-60543313CDB4}"); err != nil || g != "a290e904-7015-4bba-90c8-60543313cdb4" {
		t.Errorf("ParseGUID = %q, %v", g, err)
	}
	for _, bad := range []string{"", "not-a-guid", "a290e904701540bba90c860543313cdb4", "g290e904-7015-4bba-90c8-60543313cdb4"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) succeeded", bad)
		}
	}
}

// TestPermissionMatrix checks every built-in role against the expected
// matrix kept as data (testdata/permission-matrix.json, with its source).
func TestPermissionMatrix(t *testing.T) {
	raw, err := os.ReadFile("testdata/permission-matrix.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Rows [][]any `json:"rows"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) == 0 {
		t.Fatal("empty matrix")
	}
	roles := BuiltinRoles()
	for _, row := range m.Rows {
		roleID, actionStr, at, req, want := row[1].(string), row[2].(string), row[3].(string), row[4].(string), row[5].(bool)
		action, err := ParseAction(actionStr)
		if err != nil {
			t.Fatal(err)
		}
		atScope, _ := ParseScope(at)
		reqScope, _ := ParseScope(req)
		p := NewPolicy(roles, []RoleAssignment{{ID: "assignment", Scope: atScope, RoleDefinitionID: roleID, PrincipalID: "p"}})
		if got := p.Decide([]string{"p"}, action, reqScope).Allowed; got != want {
			t.Errorf("%s assigned at %s, %s on %s: allowed = %v, want %v", row[0], at, actionStr, req, got, want)
		}
	}
	if len(roles) != 10 {
		t.Errorf("BuiltinRoles() has %d roles, want 10", len(roles))
	}
}

func custom(id string, data, notData []Action) RoleDefinition {
	return RoleDefinition{ID: id, Name: id, Type: CustomRole, Permissions: []Permission{{DataActions: data, NotDataActions: notData}}}
}

func TestDecideSemantics(t *testing.T) {
	signer := custom("11111111-1111-1111-1111-111111111111", []Action{KeysSign, KeysVerify, KeysRead}, []Action{KeysSign})
	reader := custom("22222222-2222-2222-2222-222222222222", []Action{KeysRead}, nil)
	roles := append(BuiltinRoles(), signer, reader)
	assign := func(id, role, principal string, s Scope) RoleAssignment {
		return RoleAssignment{ID: id, Scope: s, RoleDefinitionID: role, PrincipalID: principal}
	}
	p := NewPolicy(roles, []RoleAssignment{
		assign("a1", signer.ID, "alice", RootScope),
		assign("a2", "21dbd100-6940-42c2-9190-5d6cb909625b", "group-devs", KeyScope("Payroll")),
		assign("a3", "99999999-9999-9999-9999-999999999999", "bob", RootScope), // deleted custom role
		assign("a4", reader.ID, "BOB", KeysScope),
	})
	tests := []struct {
		name       string
		identities []string
		action     Action
		scope      Scope
		want       Decision
	}{
		{"notDataActions subtract within the role", []string{"alice"}, KeysSign, KeyScope("k"), Decision{}},
		{"the rest of the role grants", []string{"alice"}, KeysVerify, KeyScope("k"), Decision{true, "a1"}},
		{"group assignment applies to members", []string{"carol", "group-devs"}, KeysSign, KeyScope("payroll"), Decision{true, "a2"}},
		{"key scope does not cover a sibling", []string{"carol", "group-devs"}, KeysSign, KeyScope("other"), Decision{}},
		{"key scope does not cover /keys", []string{"group-devs"}, KeysRead, KeysScope, Decision{}},
		{"deleted role grants nothing", []string{"bob"}, KeysRead, RootScope, Decision{}},
		{"principal ids are case-insensitive", []string{"bob"}, KeysRead, KeyScope("x"), Decision{true, "a4"}},
		{"no identities", nil, KeysRead, RootScope, Decision{}},
		{"invalid action", []string{"alice"}, Action(0), RootScope, Decision{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Decide(tc.identities, tc.action, tc.scope); got != tc.want {
				t.Errorf("Decide(%v, %s, %s) = %+v, want %+v", tc.identities, tc.action, tc.scope, got, tc.want)
			}
		})
	}
	// Another role grants what one role's notDataActions exclude.
	p2 := NewPolicy(roles, []RoleAssignment{
		assign("a1", signer.ID, "alice", RootScope),
		assign("a5", "21dbd100-6940-42c2-9190-5d6cb909625b", "alice", RootScope),
	})
	if d := p2.Decide([]string{"alice"}, KeysSign, RootScope); !d.Allowed || d.AssignmentID != "a5" {
		t.Errorf("Decide with a second granting role = %+v, want allowed by a5", d)
	}
	if diff := cmp.Diff([]Action{KeysRead, KeysVerify}, p.Effective([]string{"alice"}, RootScope)); diff != "" {
		t.Errorf("Effective(alice) mismatch (-want +got):\n%s", diff)
	}
}

func TestValidateCustomRole(t *testing.T) {
	good := custom("33333333-3333-3333-3333-333333333333", []Action{KeysRead}, nil)
	if err := ValidateCustomRole(good); err != nil {
		t.Fatalf("ValidateCustomRole(good) = %v", err)
	}
	bad := []RoleDefinition{
		custom("not-a-guid", []Action{KeysRead}, nil),
		custom("a290e904-7015-4bba-90c8-60543313cdb4", []Action{KeysRead}, nil),
		{ID: good.ID, Name: "", Permissions: good.Permissions},
		{ID: good.ID, Name: "x", Permissions: []Permission{{Actions: []string{"Microsoft.KeyVault/*"}}}},
		{ID: good.ID, Name: "x", AssignableScopes: []Scope{KeysScope}},
	}
	for i, r := range bad {
		if err := ValidateCustomRole(r); err == nil {
			t.Errorf("ValidateCustomRole(bad[%d]) succeeded", i)
		}
	}
	if r, ok := LookupBuiltinByName("managed hsm backup user"); !ok || r.ID != "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8" {
		t.Errorf("LookupBuiltinByName(alternate name) = %v, %v", r.ID, ok)
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"/", "keys", "/keys/k1", "//keys//", "/keys/a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		again, err := ParseScope(sc.String())
		if err != nil || again != sc {
			t.Fatalf("ParseScope(%q) = %q does not round-trip: %v", s, sc, err)
		}
	})
}

func FuzzParseAction(f *testing.F) {
	f.Add("Microsoft.KeyVault/managedHsm/keys/read/action")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err == nil && !strings.EqualFold(a.String(), s) {
			t.Fatalf("ParseAction(%q) = %s", s, a)
		}
	})
}

func buildPolicy(n int) (*Policy, []string) {
	roles := BuiltinRoles()
	var as []RoleAssignment
	var principals []string
	for i := 0; i < n; i++ {
		pid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		principals = append(principals, pid)
		scope := RootScope
		switch i % 3 {
		case 1:
			scope = KeysScope
		case 2:
			scope = KeyScope(fmt.Sprintf("key-%d", i%5000))
		}
		as = append(as, RoleAssignment{ID: fmt.Sprintf("a-%d", i), Scope: scope, RoleDefinitionID: roles[i%len(roles)].ID, PrincipalID: pid})
	}
	return NewPolicy(roles, as), principals
}

// BenchmarkDecide shows decisions stay flat as assignments grow.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		p, principals := buildPolicy(n)
		groups := []string{"g-1", "g-2", "g-3"}
		b.Run(fmt.Sprintf("assignments=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ids := append([]string{principals[i%len(principals)]}, groups...)
				p.Decide(ids, KeysSign, KeyScope("key-42"))
				i++
			}
		})
	}
}

func BenchmarkNewPolicy(b *testing.B) {
	for b.Loop() {
		buildPolicy(100_000)
	}
}
