package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/seal/pkcs11seal/softhsmtest"
)

// A server whose node seal is a key in a PKCS#11 token (SoftHSM2) unseals
// its pools again on restart, without people; a wrong PIN, a missing token
// or key, or another seal fail closed with a message that names the
// problem.
func TestPKCS11Seal(t *testing.T) {
	lib := softhsmtest.Setup(t, "coffer", "spare")
	dir := t.TempDir()
	cfg := devConfig(dir)
	cfg.Seal = config.Seal{Type: "pkcs11", PKCS11: config.PKCS11{Library: lib, TokenLabel: "coffer", KeyLabel: "coffer-seal",
		PINEnv: "COFFER_TEST_PKCS11_PIN", CreateKey: true}}
	t.Setenv("COFFER_TEST_PKCS11_PIN", softhsmtest.UserPIN)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ts := startServerConfig(t, cfg)
	if s, body := ts.do("POST", "/keys/sealed/create?api-version=7.4", `{"kty":"EC-HSM","crv":"P-256"}`); s != 200 {
		t.Fatalf("create = %d %v", s, body)
	}
	ts.stop()

	// A restart unseals with the token alone.
	restart := cfg
	restart.Seal.PKCS11.CreateKey = false
	ts = startServerConfig(t, restart)
	if s, body := ts.do("GET", "/keys/sealed?api-version=7.4", ""); s != 200 {
		t.Fatalf("GET after a restart with the PKCS#11 seal = %d %v", s, body)
	}
	ts.stop()

	fails := func(name string, c config.Config, want string) {
		t.Helper()
		srv, err := New(context.Background(), c, slog.New(slog.DiscardHandler))
		if err == nil {
			srv.Close()
			t.Errorf("%s: the server started", name)
			return
		}
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), softhsmtest.UserPIN) {
			t.Errorf("%s: New() = %v, want an error containing %q and no PIN", name, err, want)
		}
	}
	t.Setenv("COFFER_TEST_PKCS11_PIN", "9999")
	fails("wrong PIN", restart, `incorrect PIN for token "coffer"`)
	t.Setenv("COFFER_TEST_PKCS11_PIN", softhsmtest.UserPIN)
	missing := restart
	missing.Seal.PKCS11.TokenLabel = "gone"
	fails("missing token", missing, `no token labelled "gone"`)
	noKey := restart
	noKey.Seal.PKCS11.TokenLabel = "spare"
	fails("token without the key", noKey, `no AES key labelled "coffer-seal" on token "spare"`)
	otherKey := noKey
	otherKey.Seal.PKCS11.CreateKey = true
	fails("another token's key", otherKey, "cannot unseal")
	fileSeal := restart
	fileSeal.Seal = config.Seal{}
	fails("the file seal", fileSeal, "cannot unseal")
	t.Setenv("COFFER_TEST_PKCS11_PIN", "")
	fails("no PIN", restart, "no PKCS#11 PIN: set COFFER_TEST_PKCS11_PIN")
}
