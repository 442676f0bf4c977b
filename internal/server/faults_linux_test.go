package server

import (
	"crypto/ed25519"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
)

// needRoot skips a test that needs root (to mount a file system), unless
// COFFER_TEST_REQUIRE=all asks every test to run, as CI does.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
		t.Fatal("this test mounts a file system and must run as root")
	}
	t.Skip("needs root to mount a small tmpfs for the audit log")
}

// mountTmpfs mounts a tmpfs of size bytes at dir until the test ends.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "coffer-audit-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v %s", mode, err, out)
	}
}

// fill writes a file until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			// Top up the last partial block too.
			for {
				if _, err := f.Write(chunk[:1]); err != nil {
					break
				}
			}
			f.Sync()
			return path
		}
	}
}

// waitStatus retries a request until it answers want (the audit log probes
// once a second to find its disk again).
func waitStatus(t *testing.T, ts *testServer, method, path, body string, want int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, m := ts.do(method, path, body)
		if s == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s = %d %v, want %d", method, path, s, m, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAuditDiskFull puts the audit log on a small tmpfs and fills it:
// once the log cannot write, requests are refused with a clear error and
// their changes are not made; when space returns, service resumes by
// itself; every acknowledged change has its event and the log verifies.
func TestAuditDiskFull(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	if err := os.MkdirAll(auditDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, auditDir, "2m")
	ts := startServer(t, dir)
	if s, m := ts.do("POST", "/keys/before/create"+v, `{"kty":"EC-HSM"}`); s != 200 {
		t.Fatal(s, m)
	}
	filler := fill(t, auditDir)
	// The events file may still have room in its last page: keep creating
	// keys until the log refuses one.
	acked := []string{"before"}
	refused := ""
	for i := 0; i < 1000 && refused == ""; i++ {
		name := "full-" + strconv.Itoa(i)
		s, m := ts.do("POST", "/keys/"+name+"/create"+v, `{"kty":"EC-HSM"}`)
		switch {
		case s == 200:
			acked = append(acked, name)
		case s == 503 && errCode(m) == "AuditUnavailable":
			refused = name
		default:
			t.Fatalf("create %s with the audit disk full = %d %v", name, s, m)
		}
	}
	if refused == "" {
		t.Fatal("the audit log never refused a request on a full disk")
	}
	for _, probe := range []struct{ method, path, body string }{
		{"POST", "/keys/" + refused + "/create" + v, `{"kty":"EC-HSM"}`},
		{"GET", "/keys/before" + v, ""},
		{"DELETE", "/keys/before" + v, ""},
	} {
		if s, m := ts.do(probe.method, probe.path, probe.body); s != 503 || errCode(m) != "AuditUnavailable" {
			t.Errorf("%s %s with the audit disk full = %d %v, want 503 AuditUnavailable", probe.method, probe.path, s, m)
		}
	}
	if status, body := ts.get("/readyz", ""); status != 503 || !strings.Contains(body, "no space") {
		t.Errorf("/readyz with the audit disk full = %d %q, want 503 naming the cause", status, body)
	}
	os.Remove(filler)
	waitStatus(t, ts, "GET", "/keys/before"+v, "", 200)
	if s, m := ts.do("GET", "/keys/"+refused+v, ""); s != 404 {
		t.Errorf("the key a refused request would have created: %d %v, want 404", s, m)
	}
	if s, m := ts.do("GET", "/keys/before"+v, ""); s != 200 {
		t.Errorf("the key a refused delete would have deleted: %d %v, want 200", s, m)
	}
	if status, _ := ts.get("/readyz", ""); status != 200 {
		t.Errorf("/readyz after space returned = %d, want 200", status)
	}
	pub, err := ts.srv.audit.PublicKey("dev")
	if err != nil {
		t.Fatal(err)
	}
	ts.stop()
	checkLog(t, auditDir, pub, acked)
}

// checkLog verifies the dev log and checks each acknowledged key has its
// successful KeyCreate event.
func checkLog(t *testing.T, auditDir string, pub ed25519.PublicKey, acked []string) {
	t.Helper()
	rep, err := audit.Verify(audit.LogDir(auditDir, "dev"), pub)
	if err != nil || !rep.OK() {
		t.Fatalf("the log does not verify after the fault: %v %+v", err, rep.FirstBad)
	}
	logged := map[string]int{}
	for ev, err := range audit.Query(audit.LogDir(auditDir, "dev"), audit.Filter{Operation: "KeyCreate", Result: "Success"}) {
		if err != nil {
			t.Fatal(err)
		}
		logged[ev.KeyName]++
	}
	for _, k := range acked {
		if logged[k] != 1 {
			t.Errorf("acknowledged create of %s has %d events, want 1", k, logged[k])
		}
	}
	if len(logged) != len(acked) {
		t.Errorf("%d keys have create events, %d creates were acknowledged", len(logged), len(acked))
	}
}

// TestAuditReadOnly restarts the server with its audit directory on a
// read-only file system: it serves nothing until the directory is
// writable again, then resumes without a restart.
func TestAuditReadOnly(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	if err := os.MkdirAll(auditDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, auditDir, "2m")
	ts := startServer(t, dir)
	if s, m := ts.do("POST", "/keys/before/create"+v, `{"kty":"EC-HSM"}`); s != 200 {
		t.Fatal(s, m)
	}
	pub, err := ts.srv.audit.PublicKey("dev")
	if err != nil {
		t.Fatal(err)
	}
	ts.stop()
	remount(t, auditDir, "ro")
	// Issuing a token is audited too, so the restarted server uses one
	// issued before.
	ts = startServerToken(t, devConfig(dir), ts.token)
	for _, probe := range []struct{ method, path, body string }{
		{"POST", "/keys/during/create" + v, `{"kty":"EC-HSM"}`},
		{"GET", "/keys/before" + v, ""},
	} {
		if s, m := ts.do(probe.method, probe.path, probe.body); s != 503 || errCode(m) != "AuditUnavailable" {
			t.Errorf("%s %s with the audit directory read-only = %d %v, want 503 AuditUnavailable", probe.method, probe.path, s, m)
		}
	}
	if status, body := ts.get("/readyz", ""); status != 503 || !strings.Contains(body, "read-only") {
		t.Errorf("/readyz with the audit directory read-only = %d %q, want 503 naming the cause", status, body)
	}
	b := ts.srv.Bootstrap()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.ClientID}, "client_secret": {b.ClientSecret}, "scope": {b.Audience + "/.default"}}
	if resp, err := ts.client.PostForm(ts.base+"/"+b.TenantID+"/oauth2/v2.0/token", form); err != nil || resp.StatusCode != 503 {
		t.Errorf("token request with the audit directory read-only = %v %v, want 503", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	remount(t, auditDir, "rw")
	waitStatus(t, ts, "GET", "/keys/before"+v, "", 200)
	if s, m := ts.do("GET", "/keys/during"+v, ""); s != 404 {
		t.Errorf("the key a refused request would have created: %d %v, want 404", s, m)
	}
	if s, m := ts.do("POST", "/keys/after/create"+v, `{"kty":"EC-HSM"}`); s != 200 {
		t.Fatalf("create after the directory became writable = %d %v", s, m)
	}
	ts.stop()
	checkLog(t, auditDir, pub, []string{"before", "after"})
}
