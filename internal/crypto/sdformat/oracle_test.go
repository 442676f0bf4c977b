package sdformat

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The format oracle is the Azure CLI's own security-domain code, run by
// testdata/oracle.py with the system python3 of a machine with Debian's
// azure-cli package. Without it these tests are skipped, unless
// COFFER_TEST_REQUIRE=all (as in CI), where that is a failure.

const systemPython = "/usr/bin/python3"

var oracleAvailable = sync.OnceValue(func() error {
	out, err := exec.Command(systemPython, "-c",
		"import azure.cli.command_modules.keyvault.custom, azure.cli.command_modules.keyvault.security_domain.jwe").CombinedOutput()
	if out = bytes.TrimSpace(out); err != nil && len(out) > 0 {
		return fmt.Errorf("%v: %s", err, out)
	}
	return err
})

func requireOracle(t *testing.T) {
	t.Helper()
	if err := oracleAvailable(); err != nil {
		if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
			t.Fatalf("the Azure CLI's security-domain modules are not importable with %s (Debian package azure-cli): %v", systemPython, err)
		}
		t.Skipf("the Azure CLI's security-domain modules are not importable with %s (install Debian's azure-cli): %v", systemPython, err)
	}
}

// oracle runs testdata/oracle.py and returns its output.
func oracle(t *testing.T, args ...string) []byte {
	t.Helper()
	out, stderr, err := runOracle(t, args...)
	if err != nil {
		t.Fatalf("oracle.py %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// oracleRefuses runs testdata/oracle.py, which must fail, and returns
// what it wrote to stderr.
func oracleRefuses(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := runOracle(t, args...)
	if err == nil {
		t.Fatalf("oracle.py %s succeeded (%.200s), want a failure", strings.Join(args, " "), out)
	}
	return stderr
}

func runOracle(t *testing.T, args ...string) (stdout []byte, stderr string, err error) {
	requireOracle(t)
	cmd := exec.CommandContext(t.Context(), systemPython, append([]string{"testdata/oracle.py"}, args...)...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdout, err = cmd.Output()
	return stdout, errBuf.String(), err
}

// writeHolders writes keys as the Azure CLI wants wrapping keys: NAME.pem
// (private key) with NAME.cer (certificate, PEM) beside it. It returns the
// .pem paths.
func writeHolders(t *testing.T, dir string, names []string, keys []testKey) []string {
	t.Helper()
	var paths []string
	for i, k := range keys {
		base := filepath.Join(dir, names[i])
		if err := os.WriteFile(base+".pem", k.keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+".cer", k.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, base+".pem")
	}
	return paths
}

// oraclePayloads are the payloads the oracle prints, in clear.
type oraclePayloads []struct {
	Tag       string `json:"tag"`
	Plaintext string `json:"plaintext"` // hex
}

func (p oraclePayloads) data(t *testing.T) []Datum {
	var out []Datum
	for _, d := range p {
		out = append(out, Datum{Tag: d.Tag, Plaintext: mustHex(t, d.Plaintext)})
	}
	return out
}

// oracleData has tags that test the CLI's header and JSON encoding:
// quotes, its space removal, and characters outside ASCII.
var oracleData = []Datum{
	{Tag: "hsm_backup", Plaintext: []byte("the domain key, and more")},
	{Tag: `weird ", tag`, Plaintext: []byte{0, 1, 2, 255}},
	{Tag: "ünï ✓ 😀", Plaintext: bytes.Repeat([]byte("x"), 33)},
	{Tag: "empty"},
}

func TestOracleKDF(t *testing.T) {
	tests := []struct {
		key, label, context string
		bits                int
	}{
		{key: "00ff", label: "hsm_backup", bits: 512},
		{key: strings.Repeat("41", 32), label: "label", context: "context", bits: 256},
		{key: strings.Repeat("a5", 32), label: "ünï ✓", context: "c", bits: 128},
		{key: strings.Repeat("07", 32), label: `weird ", tag`, bits: 8},
	}
	args := []string{"kdf"}
	for _, tc := range tests {
		args = append(args, tc.key, tc.label, tc.context, fmt.Sprint(tc.bits))
	}
	cli := strings.Fields(string(oracle(t, args...)))
	if len(cli) != len(tests) {
		t.Fatalf("oracle.py kdf printed %d keys for %d vectors", len(cli), len(tests))
	}
	for i, tc := range tests {
		if got := hex.EncodeToString(KDF(mustHex(t, tc.key), []byte(tc.label), []byte(tc.context), tc.bits)); got != cli[i] {
			t.Errorf("KDF(%s, %q, %q, %d) = %s, want %s (the CLI's)", tc.key, tc.label, tc.context, tc.bits, got, cli[i])
		}
	}
}

func TestOracleShamir(t *testing.T) {
	secret := testMaster()
	shares, err := Split(nil, secret, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	picks := [][]int{{0, 1, 2}, {4, 1, 3}, {2, 4, 0}}
	args := []string{"combine"}
	for i, holders := range picks {
		if i > 0 {
			args = append(args, "--")
		}
		args = append(args, "3")
		for _, h := range holders {
			args = append(args, hex.EncodeToString(shares[h]))
		}
	}
	cli := strings.Fields(string(oracle(t, args...)))
	if len(cli) != len(picks) {
		t.Fatalf("oracle.py combine printed %d secrets for %d sets of shares", len(cli), len(picks))
	}
	for i, holders := range picks {
		if cli[i] != hex.EncodeToString(secret) {
			t.Errorf("the CLI combines Split's shares of holders %v to %s, want %x", holders, cli[i], secret)
		}
	}
}

// members is the member names of a JSON object, in order.
func members(t *testing.T, b []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	var names []string
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%.60s is not a JSON object", b)
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// ParseDownloadRequest reads what the CLI sends; CertificateJWK writes
// what it sends for a certificate.
func TestOracleDownloadRequest(t *testing.T) {
	requireOracle(t)
	keys := holders(t)[:4]
	dir := t.TempDir()
	var certFiles []string
	for i, k := range keys {
		p := filepath.Join(dir, fmt.Sprintf("cert%d.cer", i))
		if err := os.WriteFile(p, k.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		certFiles = append(certFiles, p)
	}
	body := oracle(t, append([]string{"download-request", "3"}, certFiles...)...)
	certs, quorum, err := ParseDownloadRequest(body)
	if err != nil {
		t.Fatalf("ParseDownloadRequest(the CLI's request) = %v\n%s", err, body)
	}
	if diff := cmp.Diff(certsFor(t, keys), certs); diff != "" || quorum != 3 {
		t.Errorf("ParseDownloadRequest(the CLI's request) = quorum %d, want 3; certificates (-want +got):\n%s", quorum, diff)
	}
	var req struct {
		Certificates []json.RawMessage `json:"certificates"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	for i, cli := range req.Certificates {
		ours, err := CertificateJWK(keys[i].CertDER)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		json.Unmarshal(cli, &a)
		json.Unmarshal(ours, &b)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("CertificateJWK(certificate %d) (-cli +ours):\n%s", i, diff)
		}
		if diff := cmp.Diff(members(t, cli), members(t, ours)); diff != "" {
			t.Errorf("CertificateJWK(certificate %d) member order (-cli +ours):\n%s", i, diff)
		}
	}
}

// The whole recovery, with the CLI on the key holders' side: the CLI's
// download request, Build's file, TransferKeyJWK's exchange key, the CLI's
// decoding and restore blob, and OpenRestoreBlob at the end; then Go's
// restore blob decoded by the CLI's code.
func TestOracleRecovery(t *testing.T) {
	requireOracle(t)
	keys := holders(t)
	dir := t.TempDir()
	holderKeys := writeHolders(t, dir, []string{"holder0", "holder1", "holder2", "holder3"}, keys[:4])
	exchange := keys[4]
	exchangeKey := writeHolders(t, dir, []string{"exchange-key"}, keys[4:])[0]

	var certFiles []string
	for _, p := range holderKeys {
		certFiles = append(certFiles, strings.TrimSuffix(p, ".pem")+".cer")
	}
	certs, quorum, err := ParseDownloadRequest(oracle(t, append([]string{"download-request", "3"}, certFiles...)...))
	if err != nil {
		t.Fatalf("ParseDownloadRequest(the CLI's request) = %v", err)
	}
	master := testMaster()
	file, err := Build(nil, master, oracleData, certs, quorum)
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	sdFile := filepath.Join(dir, "sd.json")
	if err := os.WriteFile(sdFile, file, 0o600); err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, "Build's file", sdFile, len(oracleData)+len(certs))

	// init-recovery: the CLI reads the transfer key as a JSON string.
	jwk, err := TransferKeyJWK(&exchange.Key.PublicKey, exchange.CertDER, "https://pool.example/transfer_key")
	if err != nil {
		t.Fatalf("TransferKeyJWK() = %v", err)
	}
	response, _ := json.Marshal(map[string]string{"key_format": "jwk", "transfer_key": string(jwk)})
	responseFile := filepath.Join(dir, "transfer-key-response.json")
	if err := os.WriteFile(responseFile, response, 0o600); err != nil {
		t.Fatal(err)
	}
	exchangePEM := filepath.Join(dir, "exchange.pem")
	oracle(t, "init-recovery", responseFile, exchangePEM)
	p, err := os.ReadFile(exchangePEM)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(p); b == nil || !bytes.Equal(b.Bytes, exchange.CertDER) {
		t.Fatalf("the CLI's init-recovery wrote %q, not the transfer key's certificate", p)
	}

	// restore-blob with a quorum of holders, in another order.
	blobFile := filepath.Join(dir, "blob.json")
	var decoded struct {
		Master string         `json:"master"`
		Data   oraclePayloads `json:"data"`
	}
	out := oracle(t, "restore-blob", sdFile, exchangePEM, blobFile, holderKeys[3], holderKeys[1], holderKeys[0])
	if err := json.Unmarshal(out, &decoded); err != nil {
		t.Fatalf("oracle.py restore-blob printed %q: %v", out, err)
	}
	if decoded.Master != hex.EncodeToString(master) {
		t.Errorf("the CLI rebuilt master key %s, want %x", decoded.Master, master)
	}
	if diff := cmp.Diff(oracleData, decoded.Data.data(t), bytesEqual); diff != "" {
		t.Errorf("the CLI's payloads (-want +cli):\n%s", diff)
	}
	blob, err := os.ReadFile(blobFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenRestoreBlob(blob, exchange.Key, exchange.CertDER)
	if err != nil {
		t.Fatalf("OpenRestoreBlob(the CLI's blob) = %v", err)
	}
	if diff := cmp.Diff(oracleData, got, bytesEqual); diff != "" {
		t.Errorf("OpenRestoreBlob(the CLI's blob) payloads (-want +got):\n%s", diff)
	}

	// The CLI holds the file to its quorum and its thumbprints.
	if msg := oracleRefuses(t, "restore-blob", sdFile, exchangePEM, blobFile, holderKeys[0], holderKeys[1]); !strings.Contains(msg, "should not less than 3") {
		t.Errorf("the CLI with 2 of a quorum of 3 keys said %q", msg)
	}
	if msg := oracleRefuses(t, "restore-blob", sdFile, exchangePEM, blobFile, holderKeys[0], exchangeKey, holderKeys[1]); !strings.Contains(msg, "Insufficient shares") {
		t.Errorf("the CLI with a stranger's key said %q", msg)
	}

	// Go's restore blob, decoded with the CLI's JWE and KDF code.
	_, data, err := Recover(file, wrappingKeys(keys[2], keys[3], keys[0]))
	if err != nil {
		t.Fatalf("Recover() = %v", err)
	}
	ours, err := BuildRestoreBlob(nil, data, exchange.CertDER)
	if err != nil {
		t.Fatalf("BuildRestoreBlob() = %v", err)
	}
	oursFile := filepath.Join(dir, "our-blob.json")
	if err := os.WriteFile(oursFile, ours, 0o600); err != nil {
		t.Fatal(err)
	}
	var opened struct {
		Layout     bool           `json:"layout"`
		X5t256     bool           `json:"x5t_256"`
		MasterSize int            `json:"master_size"`
		Data       oraclePayloads `json:"data"`
	}
	out = oracle(t, "open-blob", oursFile, exchangeKey, exchangePEM)
	if err := json.Unmarshal(out, &opened); err != nil {
		t.Fatalf("oracle.py open-blob printed %q: %v", out, err)
	}
	if !opened.Layout || !opened.X5t256 || opened.MasterSize != masterSize {
		t.Errorf("the CLI reads BuildRestoreBlob() as: json.dumps layout %v, x5t_256 the certificate's %v, master key %d bytes; want true, true, %d",
			opened.Layout, opened.X5t256, opened.MasterSize, masterSize)
	}
	if diff := cmp.Diff(oracleData, opened.Data.data(t), bytesEqual); diff != "" {
		t.Errorf("the CLI's payloads from BuildRestoreBlob() (-want +cli):\n%s", diff)
	}
	checkHeaders(t, "BuildRestoreBlob's blob", oursFile, len(oracleData)+1)
}

// checkHeaders has the CLI rebuild the protected header of every JWE in
// path and checks that all are byte for byte the CLI's.
func checkHeaders(t *testing.T, what, path string, want int) {
	t.Helper()
	var res struct {
		Checked int `json:"checked"`
		Differ  []struct {
			Got string `json:"got"`
			CLI string `json:"cli"`
		} `json:"differ"`
	}
	out := oracle(t, "headers", path)
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("oracle.py headers printed %q: %v", out, err)
	}
	if res.Checked != want {
		t.Errorf("the CLI checked %d JWE headers of %s, want %d", res.Checked, what, want)
	}
	for _, d := range res.Differ {
		t.Errorf("%s has JWE header %s, the CLI writes %s", what, d.Got, d.CLI)
	}
}
