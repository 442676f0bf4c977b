package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// UserPIN is the user PIN of every token Setup makes.
const UserPIN = "1234"

// SOPIN is the security officer PIN of every token Setup makes.
const SOPIN = "5678"

// knownPaths are where distributions install SoftHSM2's module.
var knownPaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/lib/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// Module returns the path of SoftHSM2's PKCS#11 module, or "" if it is not
// installed.
func Module() string {
	for _, p := range knownPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	// Debian and Ubuntu on other architectures: ask the package.
	if out, err := exec.Command("dpkg", "-L", "softhsm2").Output(); err == nil {
		for _, p := range strings.Split(string(out), "\n") {
			if filepath.Base(p) == "libsofthsm2.so" {
				if _, err := os.Stat(p); err == nil {
					return p
				}
			}
		}
	}
	return ""
}

// Missing skips t, or fails it when COFFER_TEST_REQUIRE=all (as in CI),
// because what names is not installed.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
		t.Fatalf("%s is not installed, and COFFER_TEST_REQUIRE=all", what)
	}
	t.Skipf("%s is not installed", what)
}

// Setup finds SoftHSM2's module, points SOFTHSM2_CONF (for the rest of the
// test) at a new token directory and initializes a token for each label,
// with UserPIN and SOPIN. It returns the module's path. Without SoftHSM2
// the test is skipped, or fails when COFFER_TEST_REQUIRE=all.
//
// SoftHSM2 reads SOFTHSM2_CONF when the module is initialized, so
// everything that initialized the module in one test must have finalized
// it before the next test calls Setup; such tests cannot run in parallel.
func Setup(t testing.TB, labels ...string) string {
	t.Helper()
	lib := Module()
	util, err := exec.LookPath("softhsm2-util")
	if lib == "" || err != nil {
		Missing(t, "SoftHSM2 (Debian package softhsm2)")
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
		out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", UserPIN, "--so-pin", SOPIN).CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util --init-token --label %s: %v\n%s", label, err, out)
		}
	}
	return lib
}
