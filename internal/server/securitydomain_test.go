package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/crypto/sdformat"
	"github.com/cofferkms/coffer/internal/hsm"
)

// serve --dev activates its pool itself and leaves the security domain
// and its holders' keys beside the data, where any two of the three
// recover it; a restart neither downloads it again nor loses it.
func TestDevSecurityDomain(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	b := ts.srv.Bootstrap()
	if b.SecurityDomainFile == "" || len(b.SecurityDomainKeys) != 3 || b.SecurityDomainQuorum != 2 {
		t.Fatalf("bootstrap = %+v, want the security-domain file, 3 keys and quorum 2", b)
	}
	if s, body := ts.do("GET", "/keys?api-version=7.4", ""); s != 200 {
		t.Fatalf("GET /keys on the development pool = %d %v", s, body)
	}
	file, err := os.ReadFile(b.SecurityDomainFile)
	if err != nil {
		t.Fatal(err)
	}
	load := func(i int) sdformat.WrappingKey {
		keyPath := b.SecurityDomainKeys[i]
		if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", keyPath, err, fi.Mode())
		}
		keyPEM, _ := os.ReadFile(keyPath)
		certPEM, err := os.ReadFile(strings.TrimSuffix(keyPath, ".pem") + ".cer")
		if err != nil {
			t.Fatal(err)
		}
		wk, err := sdformat.LoadWrappingKey(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return wk
	}
	_, data, err := sdformat.Recover(file, []sdformat.WrappingKey{load(2), load(0)})
	if err != nil || len(data) != 1 || data[0].Tag != "coffer_domain_v1" {
		t.Fatalf("Recover(dev security domain) = %v, %v", data, err)
	}
	if s, body := ts.do("POST", "/securitydomain/download?api-version=7.4", `{"certificates":[],"required":2}`); s != 409 {
		t.Errorf("a second download = %d %v, want 409", s, body)
	}
	ts.stop()
	ts = startServer(t, dir)
	after, _ := os.ReadFile(ts.srv.Bootstrap().SecurityDomainFile)
	if string(after) != string(file) {
		t.Error("a restart replaced the development security domain")
	}
}

// Pools added to the configuration are created on reload: a new pool
// waits for its security domain, a recovery pool for an upload.
func TestReloadCreatesPools(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:8443"
	cfg.Log.Level = "error"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := startServerConfig(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "admin-credentials.json")); err != nil {
		t.Fatalf("no break-glass credentials: %v", err)
	}
	next := cfg
	next.Pools = []config.Pool{{Name: "prod", Administrators: []string{"00000000-0000-0000-0000-00000000000a"}},
		{Name: "rescue", Recovery: true, Administrators: []string{"00000000-0000-0000-0000-00000000000a"}}}
	if err := ts.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]hsm.State{"prod": hsm.StateActivationPending, "rescue": hsm.StateSecurityDomainRestore} {
		p, ok := ts.srv.registry.Get(name)
		if !ok || p.State() != want {
			t.Errorf("pool %s after reload: exists %v, want state %s", name, ok, want)
		}
	}
	// Reloading again changes nothing.
	if err := ts.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
}
