package sdformat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func stdEnc(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// generateSmallCert is a JWK of a 1024-bit RSA certificate (made with
// openssl: Go refuses to make such keys in FIPS mode).
func generateSmallCert() (json.RawMessage, []byte, error) {
	p, err := os.ReadFile("testdata/rsa1024.cer")
	if err != nil {
		return nil, nil, err
	}
	b, _ := pem.Decode(p)
	s1 := b.Bytes
	j, _ := json.Marshal(jwk{Kty: "RSA", X5c: []string{stdEnc(s1)}})
	return j, s1, nil
}

const systemPython = "/usr/bin/python3"

// oracle runs testdata/oracle.py, the Azure CLI's security-domain code,
// with the system python3. Without it the test is skipped — unless
// COFFER_TEST_REQUIRE=all, as in CI, where that is a failure.
func oracle(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	probe := exec.Command(systemPython, "-c", "import azure.cli.command_modules.keyvault.security_domain")
	if err := probe.Run(); err != nil {
		if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
			t.Fatalf("the Azure CLI's security-domain modules are not importable from %s (Debian package azure-cli): %v", systemPython, err)
		}
		t.Skipf("the Azure CLI's security-domain modules are not importable from %s (install Debian's azure-cli)", systemPython)
		return "", false
	}
	cmd := exec.Command(systemPython, append([]string{"testdata/oracle.py"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle.py %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(out), true
}

// The Azure CLI decodes a file Build made — Shamir shares, KDF, JWEs,
// thumbprints — with a quorum of holders' keys, and builds the restore
// blob it would upload; OpenRestoreBlob accepts that blob and returns the
// original payloads.
func TestAzureCLIOracle(t *testing.T) {
	keys := testHolders(t)
	dir := t.TempDir()
	var names []string
	for i := range 3 {
		base := filepath.Join(dir, fmt.Sprintf("cert_%d", i))
		os.WriteFile(base+".cer", holderPEM[i][0], 0o600)
		os.WriteFile(base+".pem", holderPEM[i][1], 0o600)
		names = append(names, base+".pem")
	}
	exchange := filepath.Join(dir, "exchange.pem")
	os.WriteFile(exchange, holderPEM[3][0], 0o600)

	for _, quorum := range []int{2, 3} {
		certs, _, err := ParseDownloadRequest(downloadRequest(t, keys[:3], quorum))
		if err != nil {
			t.Fatal(err)
		}
		master := make([]byte, 32)
		rand.Read(master)
		data := []Datum{{Tag: "coffer_domain_v1", Plaintext: bytes.Repeat([]byte("domain key "), 3)},
			{Tag: "extra", Plaintext: []byte{0, 1, 2, 255}}}
		file, err := Build(rand.Reader, master, data, certs, quorum)
		if err != nil {
			t.Fatal(err)
		}
		sd := filepath.Join(dir, fmt.Sprintf("sd-%d.json", quorum))
		os.WriteFile(sd, file, 0o600)
		// The last quorum holders, in reverse order.
		var use []string
		for i := 2; i > 2-quorum; i-- {
			use = append(use, names[i])
		}
		out, ok := oracle(t, append([]string{"restore-blob", sd, exchange}, use...)...)
		if !ok {
			return
		}
		if !strings.Contains(out, `"WrappedKey"`) {
			t.Fatalf("the Azure CLI's restore blob = %.200s", out)
		}
		got, err := OpenRestoreBlob([]byte(out), keys[3].Key, keys[3].CertDER)
		if err != nil {
			t.Fatalf("OpenRestoreBlob(the Azure CLI's blob, quorum %d) = %v", quorum, err)
		}
		if diff := cmp.Diff(data, got); diff != "" {
			t.Errorf("payloads through the Azure CLI, quorum %d (-want +got):\n%s", quorum, diff)
		}
	}
}

// Shares Split makes decode with the Azure CLI's decoder.
func TestAzureCLIShamir(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	shares, err := Split(rand.Reader, secret, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	out, ok := oracle(t, "combine", "3", fmt.Sprintf("%x", shares[4]), fmt.Sprintf("%x", shares[1]), fmt.Sprintf("%x", shares[2]))
	if ok && strings.TrimSpace(out) != fmt.Sprintf("%x", secret) {
		t.Errorf("the Azure CLI combines Split's shares to %s, want %x", out, secret)
	}
}
