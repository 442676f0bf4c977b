// Package softhsmtest prepares SoftHSM2 tokens for tests of the PKCS#11
// seal: a private token directory per test, so tests never touch a real
// token or each other's.
package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// UserPIN is the user PIN of every token Setup makes.
const UserPIN = "1234"

// Setup finds SoftHSM2's module, points SOFTHSM2_CONF (for the rest of the
// test) at a new token directory and initializes a token for each label.
// It returns the module's path. Without SoftHSM2 the test is skipped, or
// fails when COFFER_TEST_REQUIRE=all (as in CI).
func Setup(t testing.TB, labels ...string) string {
	t.Helper()
	var lib string
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			lib = p
			break
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if lib == "" || err != nil {
		if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
			t.Fatal("SoftHSM2 is not installed (Debian package softhsm2)")
		}
		t.Skip("SoftHSM2 is not installed (Debian package softhsm2)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	for _, label := range labels {
		out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", UserPIN, "--so-pin", "5678").CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
		}
	}
	return lib
}
