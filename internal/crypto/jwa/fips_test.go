package jwa

import (
	"crypto/fips140"
	"os"
	"strings"
	"testing"
)

// TestFIPS140Mode records whether the tests ran inside the FIPS 140-3 mode
// of the Go Cryptographic Module, and checks that GODEBUG=fips140=on (the
// package's supported configuration) really enables it. In that mode every
// algorithm except ES256K (secp256k1 is not in the module) runs inside the
// module; the rest of the tests then exercise it.
func TestFIPS140Mode(t *testing.T) {
	requested := false
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if kv == "fips140=on" || kv == "fips140=only" {
			requested = true
		}
	}
	if requested && !fips140.Enabled() {
		t.Fatal("GODEBUG asks for FIPS 140-3 mode but crypto/fips140.Enabled() is false")
	}
	t.Logf("FIPS 140-3 mode: %v", fips140.Enabled())
}
