package hsm

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/seal"
	"github.com/cofferkms/coffer/internal/store/memstore"
)

// clock is a settable clock for time-driven behaviour.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testSeal is a pass-through node seal: these tests are about the pool,
// and package seal has its own.
type testSeal struct{}

func (s testSeal) Wrap(_ context.Context, pt, aad []byte) ([]byte, error) {
	return append([]byte("sealed:"), pt...), nil
}
func (s testSeal) Unwrap(_ context.Context, b, aad []byte) ([]byte, error) {
	return bytes.TrimPrefix(b, []byte("sealed:")), nil
}
func (testSeal) Describe() string { return "test" }
func (testSeal) Close() error     { return nil }

var ctx = context.Background()

func newPool(t *testing.T, name string, domainKey keymat.Secret, mutate func(*Config)) (*Pool, *clock) {
	t.Helper()
	d, err := seal.CreateDomain(ctx, memstore.New(), testSeal{}, "pools/"+name+"/", domainKey)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{Name: name, Store: d.Store(), Keys: d, Now: clk.now}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SeedAssignments(ctx, []string{"admin"}, []string{RoleAdministrator, RoleCryptoOfficer, RoleCryptoUser}); err != nil {
		t.Fatal(err)
	}
	return p, clk
}

var admin = &Caller{ObjectID: "admin", Identities: []string{"admin"}}

func kind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func mustCreate(t *testing.T, p *Pool, name string, in CreateKeyInput) *KeyBundle {
	t.Helper()
	b, err := p.CreateKey(ctx, admin, MustKeyName(name), in)
	if err != nil {
		t.Fatalf("CreateKey(%s) error = %v", name, err)
	}
	return b
}

func TestCreateDefaults(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, nil)
	tests := []struct {
		in   CreateKeyInput
		bits int
		ops  string
	}{
		{CreateKeyInput{Type: KeyTypeRSA}, 2048, "encrypt,decrypt,sign,verify,wrapKey,unwrapKey"},
		{CreateKeyInput{Type: KeyTypeEC}, 256, "sign,verify"},
		{CreateKeyInput{Type: KeyTypeOct}, 256, "encrypt,decrypt,wrapKey,unwrapKey"},
		{CreateKeyInput{Type: KeyTypeOct, Size: 128, OpsSet: true, Ops: []KeyOp{OpSign, OpVerify}}, 128, "sign,verify"},
	}
	for i, tc := range tests {
		b := mustCreate(t, p, fmt.Sprintf("k%d", i), tc.in)
		var ops []string
		for _, o := range b.Ops {
			ops = append(ops, o.String())
		}
		if strings.Join(ops, ",") != tc.ops || !b.Attributes.Enabled || b.RecoveryLevel != "Recoverable+Purgeable" || b.RecoverableDays != 90 {
			t.Errorf("CreateKey(%+v) = ops %v enabled %v level %s", tc.in, ops, b.Attributes.Enabled, b.RecoveryLevel)
		}
		e := p.entry(MustKeyName(fmt.Sprintf("k%d", i)))
		if e.latest().key.Bits() != tc.bits {
			t.Errorf("CreateKey(%+v) bits = %d, want %d", tc.in, e.latest().key.Bits(), tc.bits)
		}
	}
}

func TestLifecycle(t *testing.T) {
	p, clk := newPool(t, "p", keymat.Secret{}, func(c *Config) { c.RetentionDays = 7 })
	first := mustCreate(t, p, "Payroll", CreateKeyInput{Type: KeyTypeEC, Tags: map[string]string{"v": "1"}})
	clk.advance(time.Second)
	second := mustCreate(t, p, "payroll", CreateKeyInput{Type: KeyTypeEC, Tags: map[string]string{"v": "2"}})
	if second.Name != "Payroll" || second.Version == first.Version {
		t.Fatalf("second create = %s/%s, want a new version of Payroll", second.Name, second.Version)
	}
	got, err := p.GetKey(ctx, admin, KeyRef{Name: MustKeyName("PAYROLL")})
	if err != nil || got.Version != second.Version {
		t.Fatalf("GetKey(latest) = %v, %v", got, err)
	}
	old, err := p.GetKey(ctx, admin, KeyRef{Name: MustKeyName("payroll"), Version: first.Version})
	if err != nil || old.Tags["v"] != "1" {
		t.Fatalf("GetKey(first version) = %v, %v", old, err)
	}
	page, _ := p.ListKeyVersions(ctx, admin, MustKeyName("payroll"), PageRequest{})
	if len(page.Items) != 2 || page.Items[0].Version != first.Version {
		t.Fatalf("ListKeyVersions = %+v", page.Items)
	}

	upd, err := p.UpdateKey(ctx, admin, KeyRef{Name: MustKeyName("payroll")}, UpdateKeyInput{TagsSet: true, Tags: map[string]string{"env": "prod"}, OpsSet: true, Ops: []KeyOp{OpVerify}})
	if err != nil || upd.Tags["env"] != "prod" || len(upd.Ops) != 1 {
		t.Fatalf("UpdateKey = %+v, %v", upd, err)
	}
	if _, err := p.UpdateKey(ctx, admin, KeyRef{Name: MustKeyName("payroll")}, UpdateKeyInput{OpsSet: true, Ops: []KeyOp{OpEncrypt}}); kind(err) != KindBadRequest {
		t.Fatalf("UpdateKey(encrypt on EC) error = %v", err)
	}

	del, err := p.DeleteKey(ctx, admin, MustKeyName("payroll"))
	if err != nil || !del.ScheduledPurgeDate.Equal(del.DeletedDate.Add(7*24*time.Hour)) || del.RecoveryLevel != "CustomizedRecoverable+Purgeable" {
		t.Fatalf("DeleteKey = %+v, %v", del, err)
	}
	if _, err := p.GetKey(ctx, admin, KeyRef{Name: MustKeyName("payroll")}); kind(err) != KindNotFound {
		t.Fatalf("GetKey after delete error = %v, want not found", err)
	}
	_, err = p.CreateKey(ctx, admin, MustKeyName("payroll"), CreateKeyInput{Type: KeyTypeEC})
	var he *Error
	if !errors.As(err, &he) || he.Kind != KindConflict || he.Inner != "ObjectIsDeletedButRecoverable" {
		t.Fatalf("CreateKey over a deleted key error = %v", err)
	}
	if _, err := p.RecoverDeletedKey(ctx, admin, MustKeyName("payroll")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetKey(ctx, admin, KeyRef{Name: MustKeyName("payroll")}); err != nil {
		t.Fatalf("GetKey after recover: %v", err)
	}

	// The pool purges a deleted key at its scheduled date.
	p.DeleteKey(ctx, admin, MustKeyName("payroll"))
	if evs := p.Maintain(ctx); len(evs) != 0 {
		t.Fatalf("Maintain before the purge date did %+v", evs)
	}
	clk.advance(7*24*time.Hour + time.Second)
	evs := p.Maintain(ctx)
	if len(evs) != 1 || evs[0].Operation != "KeyPurge" || evs[0].Err != nil {
		t.Fatalf("Maintain after the purge date = %+v", evs)
	}
	if _, err := p.GetDeletedKey(ctx, admin, MustKeyName("payroll")); kind(err) != KindNotFound {
		t.Fatalf("deleted key still there after automatic purge: %v", err)
	}
}

func TestPurgeProtection(t *testing.T) {
	p, clk := newPool(t, "p", keymat.Secret{}, func(c *Config) { c.PurgeProtection, c.RetentionDays = true, 30 })
	mustCreate(t, p, "k", CreateKeyInput{Type: KeyTypeOct})
	p.DeleteKey(ctx, admin, MustKeyName("k"))
	err := p.PurgeDeletedKey(ctx, admin, MustKeyName("k"))
	if kind(err) != KindForbidden {
		t.Fatalf("PurgeDeletedKey under purge protection error = %v, want forbidden", err)
	}
	clk.advance(31 * 24 * time.Hour)
	if err := p.PurgeDeletedKey(ctx, admin, MustKeyName("k")); err != nil {
		t.Fatalf("PurgeDeletedKey after retention: %v", err)
	}
}

func TestPaging(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, nil)
	for i := 0; i < 30; i++ {
		mustCreate(t, p, fmt.Sprintf("key-%02d", i), CreateKeyInput{Type: KeyTypeOct, Size: 128})
	}
	var names []string
	req := PageRequest{Max: 7}
	for {
		page, err := p.ListKeys(ctx, admin, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		if page.Next == "" {
			break
		}
		req.After = page.Next
	}
	if len(names) != 30 || names[0] != "key-00" || names[29] != "key-29" {
		t.Fatalf("paged listing = %v", names)
	}
}

func TestLimits(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, func(c *Config) { c.Limits = Limits{MaxVersionsPerKey: 2, MaxKeys: 2} })
	mustCreate(t, p, "a", CreateKeyInput{Type: KeyTypeOct})
	mustCreate(t, p, "a", CreateKeyInput{Type: KeyTypeOct})
	if _, err := p.CreateKey(ctx, admin, MustKeyName("a"), CreateKeyInput{Type: KeyTypeOct}); kind(err) != KindBadRequest {
		t.Errorf("third version error = %v, want bad request", err)
	}
	if _, err := p.RotateKey(ctx, admin, MustKeyName("a")); kind(err) != KindBadRequest {
		t.Errorf("rotation past the version limit error = %v", err)
	}
	mustCreate(t, p, "b", CreateKeyInput{Type: KeyTypeOct})
	if _, err := p.CreateKey(ctx, admin, MustKeyName("c"), CreateKeyInput{Type: KeyTypeOct}); kind(err) != KindBadRequest {
		t.Errorf("third key error = %v, want bad request", err)
	}
}

func TestRotationPolicy(t *testing.T) {
	p, clk := newPool(t, "p", keymat.Secret{}, nil)
	first := mustCreate(t, p, "r", CreateKeyInput{Type: KeyTypeRSA, OpsSet: true, Ops: []KeyOp{OpSign, OpVerify}, Tags: map[string]string{"t": "x"}})
	d30, _ := ParseDuration("P30D")
	d1y, _ := ParseDuration("P1Y")
	if _, err := p.UpdateRotationPolicy(ctx, admin, MustKeyName("r"), RotationPolicy{Actions: []LifetimeAction{{Type: "rotate", TimeAfterCreate: &d30}}, ExpiryTime: &d1y}); err != nil {
		t.Fatal(err)
	}
	bad := []RotationPolicy{
		{Actions: []LifetimeAction{{Type: "Rotate"}}},
		{Actions: []LifetimeAction{{Type: "Explode", TimeAfterCreate: &d30}}},
		{Actions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: &d30}, {Type: "Rotate", TimeAfterCreate: &d30}}},
		{ExpiryTime: &d30, Actions: []LifetimeAction{{Type: "Rotate", TimeBeforeExpiry: &d30}}},
	}
	for i, rp := range bad {
		if _, err := p.UpdateRotationPolicy(ctx, admin, MustKeyName("r"), rp); kind(err) != KindBadRequest {
			t.Errorf("bad policy %d accepted: %v", i, err)
		}
	}
	clk.advance(29 * 24 * time.Hour)
	if evs := p.Maintain(ctx); len(evs) != 0 {
		t.Fatalf("rotation fired early: %+v", evs)
	}
	clk.advance(2 * 24 * time.Hour)
	evs := p.Maintain(ctx)
	if len(evs) != 1 || evs[0].Operation != "KeyRotate" || evs[0].Err != nil {
		t.Fatalf("Maintain after 31 days = %+v", evs)
	}
	latest, _ := p.GetKey(ctx, admin, KeyRef{Name: MustKeyName("r")})
	if latest.Version == first.Version || latest.Tags["t"] != "x" || len(latest.Ops) != 2 || latest.Attributes.Expires == nil ||
		!latest.Attributes.Expires.Equal(clk.now().AddDate(1, 0, 0).Truncate(time.Second)) {
		t.Fatalf("rotated version = %+v", latest)
	}
	if evs := p.Maintain(ctx); len(evs) != 0 {
		t.Fatalf("rotation fired twice: %+v", evs)
	}
	// Removing the policy.
	if _, err := p.UpdateRotationPolicy(ctx, admin, MustKeyName("r"), RotationPolicy{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.GetRotationPolicy(ctx, admin, MustKeyName("r")); len(got.Actions) != 0 {
		t.Fatalf("policy after removal = %+v", got)
	}
}

func TestBackupRestoreAcrossPools(t *testing.T) {
	domain := keymat.NewSecret(bytes.Repeat([]byte{9}, 32))
	a, _ := newPool(t, "a", domain, nil)
	b, _ := newPool(t, "b", keymat.NewSecret(domain.Expose()), nil)
	other, _ := newPool(t, "c", keymat.Secret{}, nil)
	v1 := mustCreate(t, a, "k", CreateKeyInput{Type: KeyTypeEC})
	v2 := mustCreate(t, a, "k", CreateKeyInput{Type: KeyTypeEC})
	blob, err := a.BackupKey(ctx, admin, MustKeyName("k"))
	if err != nil {
		t.Fatal(err)
	}
	restored, err := b.RestoreKey(ctx, admin, blob)
	if err != nil || restored.Version != v2.Version {
		t.Fatalf("RestoreKey into a pool with the same domain = %v, %v", restored, err)
	}
	old, err := b.GetKey(ctx, admin, KeyRef{Name: MustKeyName("k"), Version: v1.Version})
	if err != nil || !bytes.Equal(old.Public.X, v1.Public.X) {
		t.Fatalf("older version not restored: %v", err)
	}
	if _, err := other.RestoreKey(ctx, admin, blob); kind(err) != KindBadRequest {
		t.Fatalf("RestoreKey into a pool with another domain error = %v", err)
	}
	if _, err := b.RestoreKey(ctx, admin, blob); kind(err) != KindConflict {
		t.Fatalf("RestoreKey over an existing key error = %v", err)
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	if _, err := other.RestoreKey(ctx, admin, tampered); kind(err) != KindBadRequest {
		t.Fatalf("RestoreKey(tampered) error = %v", err)
	}
}

func TestBYOK(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, nil)
	kek := mustCreate(t, p, "kek", CreateKeyInput{Type: KeyTypeRSA, OpsSet: true, Ops: []KeyOp{OpImport}})
	target, _ := keymat.GenerateEC(keymat.CurveP256K)
	plain, _ := target.MarshalPKCS8()
	ct, err := jwa.WrapRSAAES(kek.Public, crypto.SHA256, plain)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := json.Marshal(map[string]any{"schema_version": "1.0.0", "header": map[string]string{"kid": "https://p/keys/kek/" + kek.Version, "alg": "dir", "enc": "RSA_AES_KEY_WRAP_256"},
		"ciphertext": strings.TrimRight(encodeB64(ct), "=")})
	got, err := p.ImportKey(ctx, admin, MustKeyName("byok"), ImportKeyInput{Type: KeyTypeEC, Curve: keymat.CurveP256K, KeyHSM: blob})
	if err != nil || !bytes.Equal(got.Public.X, target.Public().X) {
		t.Fatalf("ImportKey(BYOK) = %v, %v", got, err)
	}
	// A key that is not a key-exchange key cannot unwrap transfer blobs.
	plainKey := mustCreate(t, p, "plain", CreateKeyInput{Type: KeyTypeRSA})
	ct2, _ := jwa.WrapRSAAES(plainKey.Public, crypto.SHA1, plain)
	blob2, _ := json.Marshal(map[string]any{"header": map[string]string{"kid": "https://p/keys/plain", "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"}, "ciphertext": encodeB64(ct2)})
	if _, err := p.ImportKey(ctx, admin, MustKeyName("byok2"), ImportKeyInput{Type: KeyTypeEC, Curve: keymat.CurveP256K, KeyHSM: blob2}); kind(err) != KindBadRequest {
		t.Fatalf("BYOK with a non-exchange key error = %v", err)
	}
}

func encodeB64(b []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var sb strings.Builder
	for i := 0; i < len(b); i += 3 {
		var n uint32
		k := min(3, len(b)-i)
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(b[i+j])
			}
		}
		for j := 0; j < k+1; j++ {
			sb.WriteByte(alphabet[(n>>(18-6*j))&63])
		}
	}
	return sb.String()
}

func TestAuthorization(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, nil)
	mustCreate(t, p, "k1", CreateKeyInput{Type: KeyTypeEC})
	mustCreate(t, p, "k2", CreateKeyInput{Type: KeyTypeEC})
	// A custom role that may read and verify but not sign.
	role := authz.RoleDefinition{Name: "Verifier", Permissions: []authz.Permission{{DataActions: []authz.Action{authz.KeysRead, authz.KeysVerify, authz.KeysSign}, NotDataActions: []authz.Action{authz.KeysSign}}}}
	const roleID = "11111111-2222-3333-4444-555555555555"
	if _, err := p.PutRoleDefinition(ctx, admin, authz.RootScope, roleID, role); err != nil {
		t.Fatal(err)
	}
	const group, member = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
	if _, err := p.CreateRoleAssignment(ctx, admin, authz.KeyScope("k1"), "cccccccc-0000-4000-8000-000000000003", roleID, group); err != nil {
		t.Fatal(err)
	}
	c := &Caller{ObjectID: member, Identities: []string{member, group}}
	if _, err := p.GetKey(ctx, c, KeyRef{Name: MustKeyName("k1")}); err != nil {
		t.Errorf("group member reading k1: %v", err)
	}
	_, err := p.GetKey(ctx, c, KeyRef{Name: MustKeyName("k2")})
	var he *Error
	if !errors.As(err, &he) || he.Code != "AccessDenied" || he.Message != "Not authorized to access Microsoft.KeyVault/managedHsm/keys/read/action on /keys/k2" {
		t.Errorf("reading a sibling key: %v", err)
	}
	if _, err := p.Sign(ctx, c, KeyRef{Name: MustKeyName("k1")}, jwa.ES256, make([]byte, 32)); kind(err) != KindForbidden {
		t.Errorf("signing with a role whose notDataActions exclude it: %v", err)
	}
	// Deleting the role revokes it.
	if _, err := p.DeleteRoleDefinition(ctx, admin, authz.RootScope, roleID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetKey(ctx, c, KeyRef{Name: MustKeyName("k1")}); kind(err) != KindForbidden {
		t.Errorf("reading after the role was deleted: %v", err)
	}
	// Global Administrators get Administrator's permissions, audited.
	ga := &Caller{ObjectID: "ga", Identities: []string{"ga"}, GlobalAdmin: true}
	ev := &audit.Event{}
	if _, err := p.ListRoleAssignments(audit.NewContext(ctx, ev), ga, authz.RootScope, AssignmentFilter{}); err != nil || !ev.BreakGlass {
		t.Errorf("break-glass role listing = %v, breakGlass %v", err, ev.BreakGlass)
	}
	if _, err := p.GetKey(ctx, ga, KeyRef{Name: MustKeyName("k1")}); kind(err) != KindForbidden {
		t.Errorf("a Global Administrator read a key: %v (Administrator has no key permissions)", err)
	}
}

func TestRBACAdministration(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, func(c *Config) { c.Limits = Limits{MaxAssignmentsKeyScope: 1, MaxCustomRoles: 1} })
	const pid = "dddddddd-0000-4000-8000-000000000004"
	a, err := p.CreateRoleAssignment(ctx, admin, authz.KeyScope("k"), "eeeeeeee-0000-4000-8000-000000000005", RoleCryptoUser, pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateRoleAssignment(ctx, admin, authz.KeyScope("k"), "eeeeeeee-0000-4000-8000-000000000006", RoleCryptoOfficer, pid); kind(err) != KindBadRequest {
		t.Errorf("assignment past the key-scope limit: %v", err)
	}
	if _, err := p.CreateRoleAssignment(ctx, admin, authz.RootScope, a.ID, RoleCryptoUser, pid); kind(err) != KindConflict {
		t.Errorf("duplicate assignment name: %v", err)
	}
	if _, err := p.CreateRoleAssignment(ctx, admin, authz.RootScope, "not-a-guid", RoleCryptoUser, pid); kind(err) != KindBadRequest {
		t.Errorf("malformed assignment name: %v", err)
	}
	if _, err := p.CreateRoleAssignment(ctx, admin, authz.RootScope, "eeeeeeee-0000-4000-8000-000000000007", "99999999-9999-4999-8999-999999999999", pid); kind(err) != KindBadRequest {
		t.Errorf("unknown role: %v", err)
	}
	list, _ := p.ListRoleAssignments(ctx, admin, authz.KeyScope("k"), AssignmentFilter{})
	if len(list) != 4 { // the seeded three at "/" plus the key's own
		t.Errorf("ListRoleAssignments(/keys/k) = %d, want 4", len(list))
	}
	list, _ = p.ListRoleAssignments(ctx, admin, authz.RootScope, AssignmentFilter{})
	if len(list) != 3 {
		t.Errorf("ListRoleAssignments(/) = %d, want 3 (key-level ones are not listed at /)", len(list))
	}
	if got, err := p.DeleteRoleAssignment(ctx, admin, authz.RootScope, a.ID); err != nil || got.ID != a.ID {
		t.Errorf("DeleteRoleAssignment = %v, %v", got, err)
	}
	if _, err := p.GetRoleAssignment(ctx, admin, authz.RootScope, a.ID); kind(err) != KindNotFound {
		t.Errorf("GetRoleAssignment after delete: %v", err)
	}
	r := authz.RoleDefinition{Name: "One", Permissions: []authz.Permission{{DataActions: []authz.Action{authz.KeysRead}}}}
	if _, err := p.PutRoleDefinition(ctx, admin, authz.RootScope, "11111111-0000-4000-8000-000000000001", r); err != nil {
		t.Fatal(err)
	}
	r.Name = "Two"
	if _, err := p.PutRoleDefinition(ctx, admin, authz.RootScope, "11111111-0000-4000-8000-000000000002", r); kind(err) != KindBadRequest {
		t.Errorf("custom role past the limit: %v", err)
	}
	if _, err := p.PutRoleDefinition(ctx, admin, authz.RootScope, RoleCryptoUser, r); kind(err) != KindForbidden {
		t.Errorf("overwriting a built-in role: %v", err)
	}
	if _, err := p.DeleteRoleDefinition(ctx, admin, authz.RootScope, RoleAdministrator); kind(err) != KindForbidden {
		t.Errorf("deleting a built-in role: %v", err)
	}
}

func TestSettings(t *testing.T) {
	p, _ := newPool(t, "p", keymat.Secret{}, nil)
	s, err := p.GetSetting(ctx, admin, "allowkeymanagementoperationsthroughARM")
	if err != nil || s.Value != "false" || s.Name != SettingAllowARM {
		t.Fatalf("GetSetting = %+v, %v", s, err)
	}
	if _, err := p.UpdateSetting(ctx, admin, SettingAllowARM, "True"); kind(err) != KindBadRequest {
		t.Errorf("UpdateSetting(True) error = %v; values are case-sensitive", err)
	}
	if _, err := p.UpdateSetting(ctx, admin, "Nope", "true"); kind(err) != KindNotFound {
		t.Errorf("UpdateSetting(unknown) error = %v", err)
	}
	if s, err := p.UpdateSetting(ctx, admin, SettingAllowARM, "true"); err != nil || s.Value != "true" {
		t.Fatalf("UpdateSetting = %+v, %v", s, err)
	}
	auditor := &Caller{ObjectID: "aud", Identities: []string{"aud"}}
	p.SeedAssignments(ctx, []string{"aud"}, []string{"2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"})
	if _, err := p.UpdateSetting(ctx, auditor, SettingAllowARM, "false"); kind(err) != KindForbidden {
		t.Errorf("a Crypto Auditor changed a setting: %v", err)
	}
	if _, err := p.ListSettings(ctx, auditor); err != nil {
		t.Errorf("a Crypto Auditor could not read settings: %v", err)
	}
}

func TestParseKeyName(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"payroll-2026", false}, {"A", false}, {strings.Repeat("a", 127), false},
		{"", true}, {strings.Repeat("a", 128), true}, {"a/b", true}, {"a_b", true}, {"ключ", true},
	}
	for _, tc := range tests {
		if _, err := ParseKeyName(tc.in); (err != nil) != tc.wantErr {
			t.Errorf("ParseKeyName(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
		}
	}
}

func TestParseDuration(t *testing.T) {
	base := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"P90D", base.AddDate(0, 0, 90)},
		{"P1Y", base.AddDate(1, 0, 0)},
		{"P3M", base.AddDate(0, 3, 0)},
		{"PT48H", base.Add(48 * time.Hour)},
		{"P1Y10D", base.AddDate(1, 0, 10)},
		{"P2W", base.AddDate(0, 0, 14)},
	}
	for _, tc := range tests {
		d, err := ParseDuration(tc.in)
		if err != nil || !d.AddTo(base).Equal(tc.want) {
			t.Errorf("ParseDuration(%q).AddTo = %v, %v; want %v", tc.in, d.AddTo(base), err, tc.want)
		}
	}
	for _, bad := range []string{"", "P", "90D", "P1.5D", "PT", "P1D1D", "P1H", "PT1D"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}
