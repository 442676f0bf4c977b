package hsm

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// memTarget is an in-memory backup target.
type memTarget struct {
	mu      sync.Mutex
	objects map[string][]byte
	block   chan struct{} // when set, Put waits for it
	refuse  error         // when set, Check fails with it
}

func newMemTarget() *memTarget { return &memTarget{objects: map[string][]byte{}} }

func (m *memTarget) Put(ctx context.Context, name string, data []byte) error {
	if m.block != nil {
		<-m.block
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[name] = bytes.Clone(data)
	return nil
}

func (m *memTarget) Get(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[name]
	if !ok {
		return nil, &Error{Kind: KindNotFound, Code: "NotFound", Message: "no object " + name}
	}
	return bytes.Clone(b), nil
}

func (m *memTarget) Check(ctx context.Context, write bool) error { return m.refuse }
func (m *memTarget) URL() string                                 { return "https://acct.blob.example/backups" }

func (m *memTarget) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n := range m.objects {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func withTarget(t *memTarget) func(*Config) {
	return func(c *Config) {
		c.BackupTargets = func(ctx context.Context, url, sas string, mi bool) (BackupTarget, error) {
			if sas == "wrong" {
				return nil, &Error{Kind: KindForbidden, Code: "Forbidden", Message: "the storage account refused the SAS token"}
			}
			return t, nil
		}
	}
}

// waitJob polls a job until it ends.
func waitJob(t *testing.T, p *Pool, j *Job) *Job {
	t.Helper()
	p.WaitJobs()
	got, err := p.JobStatus(ctx, admin, j.ID, j.IsRestore())
	if err != nil {
		t.Fatalf("JobStatus(%s) error = %v", j.ID, err)
	}
	return got
}

// poolContent describes everything a full backup must carry.
func poolContent(t *testing.T, p *Pool) string {
	t.Helper()
	var sb strings.Builder
	page, err := p.ListKeys(ctx, admin, PageRequest{Max: 25})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range page.Items {
		vers, _ := p.ListKeyVersions(ctx, admin, MustKeyName(it.Name), PageRequest{Max: 25})
		for _, v := range vers.Items {
			b, err := p.GetKey(ctx, admin, KeyRef{Name: MustKeyName(it.Name), Version: v.Version})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sb, "key %s/%s %v %v %+v\n", it.Name, v.Version, b.Tags, b.Ops, b.Attributes)
		}
		if pol, err := p.GetRotationPolicy(ctx, admin, MustKeyName(it.Name)); err == nil && pol != nil {
			fmt.Fprintf(&sb, "policy %s %+v\n", it.Name, pol.Actions)
		}
	}
	as, _ := p.ListRoleAssignments(ctx, admin, authz.RootScope, AssignmentFilter{})
	for _, a := range as {
		fmt.Fprintf(&sb, "assignment %s %s %s %s\n", a.ID, a.Scope, a.RoleDefinitionID, a.PrincipalID)
	}
	defs, _ := p.ListRoleDefinitions(ctx, admin, authz.RootScope)
	for _, d := range defs {
		if d.Type == authz.CustomRole {
			fmt.Fprintf(&sb, "role %s %s %+v\n", d.ID, d.Name, d.Permissions)
		}
	}
	st, _ := p.ListSettings(ctx, admin)
	fmt.Fprintf(&sb, "settings %v\n", st)
	return sb.String()
}

// restoredContent is what a full restore into p of a backup whose pool
// held want must leave: want, plus p's own Administrator assignments at
// "/", which a restore keeps. Lines are sorted.
func restoredContent(t *testing.T, p *Pool, want string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(want), "\n")
	for _, l := range strings.Split(strings.TrimSpace(poolContent(t, p)), "\n") {
		if strings.HasPrefix(l, "assignment ") && strings.HasSuffix(l, " / "+RoleAdministrator+" admin") && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func sortedContent(t *testing.T, p *Pool) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(poolContent(t, p)), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func populate(t *testing.T, p *Pool) {
	t.Helper()
	mustCreate(t, p, "ec", CreateKeyInput{Type: KeyTypeEC, Curve: keymat.CurveP384, Tags: map[string]string{"team": "payments"}})
	mustCreate(t, p, "ec", CreateKeyInput{Type: KeyTypeEC})
	mustCreate(t, p, "rsa", CreateKeyInput{Type: KeyTypeRSA, Size: 2048})
	mustCreate(t, p, "aes", CreateKeyInput{Type: KeyTypeOct, Size: 256})
	mustCreate(t, p, "gone", CreateKeyInput{Type: KeyTypeOct, Size: 128})
	if _, err := p.DeleteKey(ctx, admin, MustKeyName("gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateRoleAssignment(ctx, admin, authz.KeyScope("rsa"), newGUID(), RoleCryptoUser, "11111111-1111-1111-1111-111111111111"); err != nil {
		t.Fatal(err)
	}
	signer := authz.RoleDefinition{Name: "Signer", Permissions: []authz.Permission{{DataActions: []authz.Action{authz.KeysSign}}}}
	if _, err := p.PutRoleDefinition(ctx, admin, authz.RootScope, newGUID(), signer); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpdateSetting(ctx, admin, "AllowKeyManagementOperationsThroughARM", "true"); err != nil {
		t.Fatal(err)
	}
}

func TestFullBackupAndRestore(t *testing.T) {
	domain := keymat.NewSecret(bytes.Repeat([]byte{7}, 32))
	target := newMemTarget()
	a, _ := newPool(t, "a", domain, withTarget(target))
	populate(t, a)
	want := poolContent(t, a)
	if strings.Count(want, "key ") != 4 || !strings.Contains(want, "assignment") || !strings.Contains(want, "role ") || !strings.Contains(want, "true") {
		t.Fatalf("the populated pool lacks something a backup must carry:\n%s", want)
	}

	j, err := a.StartFullBackup(ctx, admin, "https://acct.blob.example/backups", "sas", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != "InProgress" || len(j.ID) != 32 {
		t.Errorf("StartFullBackup() = %+v, want an InProgress job with a 32-hex id", j)
	}
	done := waitJob(t, a, j)
	if done.Status != "Succeeded" || !strings.HasPrefix(done.FolderURL, "https://acct.blob.example/backups/mhsm-a-") {
		t.Fatalf("backup job = %+v", done)
	}
	folder := done.FolderURL[strings.LastIndex(done.FolderURL, "/")+1:]
	for _, n := range target.names() {
		if strings.Contains(string(target.objects[n]), "payments") {
			t.Errorf("backup object %s holds a tag in clear", n)
		}
	}

	// A pool holding the same security domain restores everything.
	b, _ := newPool(t, "b", keymat.NewSecret(domain.Expose()), withTarget(target))
	mustCreate(t, b, "replaced", CreateKeyInput{Type: KeyTypeEC})
	wantB := restoredContent(t, b, want)
	rj, err := b.StartFullRestore(ctx, admin, "https://acct.blob.example/backups", "sas", false, folder, false)
	if err != nil {
		t.Fatal(err)
	}
	if rd := waitJob(t, b, rj); rd.Status != "Succeeded" {
		t.Fatalf("restore job = %+v", rd)
	}
	if got := sortedContent(t, b); got != wantB {
		t.Errorf("restored pool differs:\n got:\n%s\nwant:\n%s", got, wantB)
	}
	if n := strings.Count(wantB, " / "+RoleAdministrator+" admin"); n != 2 {
		t.Errorf("after a restore %d Administrator assignments at /, want the backup's and the pool's own", n)
	}
	if _, err := b.GetKey(ctx, admin, KeyRef{Name: MustKeyName("replaced")}); kind(err) != KindNotFound {
		t.Errorf("a key not in the backup survived a full restore: %v", err)
	}
	if _, err := b.GetDeletedKey(ctx, admin, MustKeyName("gone")); err != nil {
		t.Errorf("the soft-deleted key was not restored: %v", err)
	}
	// A signature made before the backup verifies after the restore.
	digest := bytes.Repeat([]byte{1}, 32)
	sig, err := a.Sign(ctx, admin, KeyRef{Name: MustKeyName("rsa")}, jwa.RS256, digest)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Verify(ctx, admin, KeyRef{Name: MustKeyName("rsa")}, jwa.RS256, digest, sig.Value); err != nil || !ok {
		t.Errorf("Verify in the restored pool = %v, %v", ok, err)
	}

	// Another security domain: refused, pool unchanged.
	c, _ := newPool(t, "c", keymat.Secret{}, withTarget(target))
	mustCreate(t, c, "mine", CreateKeyInput{Type: KeyTypeEC})
	before := poolContent(t, c)
	cj, _ := c.StartFullRestore(ctx, admin, "https://x", "sas", false, folder, false)
	if cd := waitJob(t, c, cj); cd.Status != "Failed" || cd.Error == nil || cd.Error.Inner != "SecurityDomainMismatch" {
		t.Errorf("restore into another domain = %+v, want Failed with SecurityDomainMismatch", cd)
	}
	if poolContent(t, c) != before {
		t.Error("a refused restore changed the pool")
	}

	// Tampering with any object fails the restore and changes nothing.
	for _, n := range target.names() {
		if !strings.HasPrefix(n, folder+"/") {
			continue
		}
		saved := target.objects[n]
		bad := bytes.Clone(saved)
		bad[len(bad)/2] ^= 1
		target.objects[n] = bad
		before := poolContent(t, b)
		tj, _ := b.StartFullRestore(ctx, admin, "https://x", "sas", false, folder, false)
		if td := waitJob(t, b, tj); td.Status != "Failed" {
			t.Errorf("restore with %s altered = %+v, want Failed", n, td)
		}
		if poolContent(t, b) != before {
			t.Errorf("a failed restore (%s altered) changed the pool", n)
		}
		target.objects[n] = saved
	}
	delete(target.objects, folder+"/data-00001.bin")
	mj, _ := b.StartFullRestore(ctx, admin, "https://x", "sas", false, folder, false)
	if md := waitJob(t, b, mj); md.Status != "Failed" {
		t.Errorf("restore with a chunk missing = %+v, want Failed", md)
	}
}

func TestSelectiveRestore(t *testing.T) {
	domain := keymat.NewSecret(bytes.Repeat([]byte{3}, 32))
	target := newMemTarget()
	a, clk := newPool(t, "a", domain, withTarget(target))
	populate(t, a)
	j, _ := a.StartFullBackup(ctx, admin, "https://x", "sas", false, false)
	done := waitJob(t, a, j)
	folder := done.FolderURL[strings.LastIndex(done.FolderURL, "/")+1:]
	wantVersions, _ := a.ListKeyVersions(ctx, admin, MustKeyName("ec"), PageRequest{Max: 25})

	if _, err := a.StartSelectiveRestore(ctx, admin, MustKeyName("ec"), "https://x", "sas", false, folder); kind(err) != KindConflict {
		t.Fatalf("selective restore over a live key error = %v, want a conflict", err)
	}
	a.DeleteKey(ctx, admin, MustKeyName("ec"))
	if _, err := a.StartSelectiveRestore(ctx, admin, MustKeyName("ec"), "https://x", "sas", false, folder); kind(err) != KindConflict {
		t.Fatalf("selective restore over a deleted, unpurged key error = %v, want a conflict", err)
	}
	clk.advance(time.Minute)
	if err := a.PurgeDeletedKey(ctx, admin, MustKeyName("ec")); err != nil {
		t.Fatal(err)
	}
	sj, err := a.StartSelectiveRestore(ctx, admin, MustKeyName("ec"), "https://x", "sas", false, folder)
	if err != nil {
		t.Fatal(err)
	}
	if sd := waitJob(t, a, sj); sd.Status != "Succeeded" {
		t.Fatalf("selective restore = %+v", sd)
	}
	got, _ := a.ListKeyVersions(ctx, admin, MustKeyName("ec"), PageRequest{Max: 25})
	if len(got.Items) != 2 || len(wantVersions.Items) != 2 || got.Items[0].Version != wantVersions.Items[0].Version {
		t.Errorf("restored versions = %+v, want %+v", got.Items, wantVersions.Items)
	}
	a.DeleteKey(ctx, admin, MustKeyName("aes"))
	a.PurgeDeletedKey(ctx, admin, MustKeyName("aes"))
	nj, _ := a.StartSelectiveRestore(ctx, admin, MustKeyName("nothere"), "https://x", "sas", false, folder)
	if nd := waitJob(t, a, nj); nd.Status != "Failed" || nd.Error.Code != "KeyNotFound" {
		t.Errorf("selective restore of a key not in the backup = %+v", nd)
	}
}

func TestBackupJobsOneAtATime(t *testing.T) {
	target := newMemTarget()
	target.block = make(chan struct{})
	p, _ := newPool(t, "p", keymat.Secret{}, withTarget(target))
	mustCreate(t, p, "k", CreateKeyInput{Type: KeyTypeEC})
	j, err := p.StartFullBackup(ctx, admin, "https://x", "sas", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.StartFullBackup(ctx, admin, "https://x", "sas", false, false); kind(err) != KindConflict {
		t.Errorf("a second backup while one runs error = %v, want a conflict", err)
	}
	if _, err := p.StartFullRestore(ctx, admin, "https://x", "sas", false, "mhsm-p-1", false); kind(err) != KindConflict {
		t.Errorf("a restore while a backup runs error = %v, want a conflict", err)
	}
	if got, _ := p.JobStatus(ctx, admin, j.ID, false); got.Status != "InProgress" {
		t.Errorf("running job status = %s", got.Status)
	}
	if _, err := p.JobStatus(ctx, admin, j.ID, true); kind(err) != KindNotFound {
		t.Errorf("a backup job read as a restore error = %v, want not found", err)
	}
	close(target.block)
	waitJob(t, p, j)
	target.block = nil
	target.refuse = &Error{Kind: KindForbidden, Code: "Forbidden", Message: "the SAS token does not allow writing"}
	pj, _ := p.StartFullBackup(ctx, admin, "https://x", "sas", false, true)
	if pd := waitJob(t, p, pj); pd.Status != "Failed" || !strings.Contains(pd.Details, "does not allow writing") {
		t.Errorf("pre-backup check against a read-only target = %+v", pd)
	}
	if _, err := p.StartFullBackup(ctx, admin, "https://x", "wrong", false, false); kind(err) != KindForbidden {
		t.Errorf("backup with a refused SAS error = %v", err)
	}
	if _, err := p.StartFullBackup(ctx, &Caller{ObjectID: "nobody", Identities: []string{"nobody"}}, "https://x", "sas", false, false); kind(err) != KindForbidden {
		t.Errorf("backup by an unauthorised caller error = %v", err)
	}
}

func TestSplitPathStyle(t *testing.T) {
	tests := []struct{ url, folder, wantURL, wantFolder string }{
		{"https://acct.blob.core.windows.net/backups", "mhsm-p-1", "https://acct.blob.core.windows.net/backups", "mhsm-p-1"},
		{"http://127.0.0.1:10000/devstoreaccount1", "backups/mhsm-p-1", "http://127.0.0.1:10000/devstoreaccount1/backups", "mhsm-p-1"},
		{"http://127.0.0.1:10000/devstoreaccount1/", "backups/mhsm-p-1", "http://127.0.0.1:10000/devstoreaccount1/backups", "mhsm-p-1"},
		{"https://a/c", "x/y/z", "https://a/c", "x/y/z"},
		{"https://a/c", "../mhsm-p-1", "https://a/c", "../mhsm-p-1"},
		{"https://a/c", "/mhsm-p-1", "https://a/c", "/mhsm-p-1"},
	}
	for _, tc := range tests {
		u, f := splitPathStyle(tc.url, tc.folder)
		if u != tc.wantURL || f != tc.wantFolder {
			t.Errorf("splitPathStyle(%q, %q) = %q, %q, want %q, %q", tc.url, tc.folder, u, f, tc.wantURL, tc.wantFolder)
		}
	}
}
