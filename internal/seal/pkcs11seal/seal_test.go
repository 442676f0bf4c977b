package pkcs11seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cofferkms/coffer/internal/seal"
	"github.com/cofferkms/coffer/internal/seal/pkcs11seal/softhsmtest"
)

func softHSM(t *testing.T) string { return softhsmtest.Setup(t, "coffer-test", "other") }

func mustOpen(t *testing.T, cfg Config) *Seal {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v) = %v", cfg.TokenLabel, err)
	}
	return s
}

var ctx = context.Background()

func TestSoftHSM(t *testing.T) {
	lib := softHSM(t)
	cfg := Config{Library: lib, TokenLabel: "coffer-test", PIN: "1234", KeyLabel: "coffer-seal"}

	// No key yet, and not allowed to make one: refused, with the fix.
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), `no AES key labelled "coffer-seal" on token "coffer-test"`) {
		t.Fatalf("Open(no key, no create) = %v", err)
	}
	create := cfg
	create.Create = true
	s := mustOpen(t, create)
	aad := []byte("pools/p/seal/domainkey")
	secret := bytes.Repeat([]byte{0x42}, 32)
	blob, err := s.Wrap(ctx, secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, secret[:8]) || len(blob) != headerSize+len(secret)+tagSize {
		t.Errorf("Wrap() = %x, want %d bytes of ciphertext", blob, headerSize+len(secret)+tagSize)
	}
	if got, err := s.Unwrap(ctx, blob, aad); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Unwrap() = %x, %v", got, err)
	}
	if b2, _ := s.Wrap(ctx, secret, aad); bytes.Equal(b2, blob) {
		t.Error("two Wraps of the same secret are equal: the nonce is not fresh")
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct{ blob, aad []byte }{
		"other aad":   {blob, []byte("pools/q/seal/domainkey")},
		"tampered":    {tampered, aad},
		"truncated":   {blob[:headerSize+4], aad},
		"not a blob":  {[]byte("sealed:xyz"), aad},
		"bad version": {append([]byte{'P', 9}, blob[2:]...), aad},
	} {
		if _, err := s.Unwrap(ctx, tc.blob, tc.aad); !errors.Is(err, seal.ErrSealed) {
			t.Errorf("Unwrap(%s) = %v, want ErrSealed", name, err)
		}
	}
	if d := s.Describe(); !strings.Contains(d, `"coffer-test"`) || strings.Contains(d, "1234") {
		t.Errorf("Describe() = %q", d)
	}

	// Many goroutines share the session.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 8 {
				pt := []byte(fmt.Sprintf("secret %d/%d", i, j))
				b, err := s.Wrap(ctx, pt, aad)
				if err == nil {
					var got []byte
					got, err = s.Unwrap(ctx, b, aad)
					if err == nil && !bytes.Equal(got, pt) {
						err = fmt.Errorf("round trip %d/%d gave %q", i, j, got)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wrap(ctx, secret, aad); !errors.Is(err, errClosed) {
		t.Errorf("Wrap after Close = %v", err)
	}

	// A restart: the same token and key open what was wrapped before.
	s = mustOpen(t, cfg)
	if got, err := s.Unwrap(ctx, blob, aad); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Unwrap after reopening = %x, %v", got, err)
	}
	s.Close()

	// Another token's key does not open it.
	other := create
	other.TokenLabel = "other"
	o := mustOpen(t, other)
	if _, err := o.Unwrap(ctx, blob, aad); !errors.Is(err, seal.ErrSealed) {
		t.Errorf("Unwrap with another token's key = %v, want ErrSealed", err)
	}
	o.Close()

	// Failing closed, with messages that name the problem and not the PIN.
	wrongPIN := cfg
	wrongPIN.PIN = "9999"
	missing := cfg
	missing.TokenLabel = "nope"
	slot := uint(987654)
	bySlot := cfg
	bySlot.TokenLabel, bySlot.Slot = "", &slot
	noLib := cfg
	noLib.Library = filepath.Join(t.TempDir(), "libmissing.so")
	notModule := cfg
	notModule.Library = "/etc/hostname"
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"wrong PIN":      {wrongPIN, `incorrect PIN for token "coffer-test"`},
		"missing token":  {missing, `no token labelled "nope"; the tokens are`},
		"missing slot":   {bySlot, "no token in slot 987654"},
		"missing module": {noLib, "libmissing.so"},
		"not a module":   {notModule, "not a PKCS#11 module"},
	} {
		s, err := Open(tc.cfg)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "9999") || errors.Is(err, seal.ErrSealed) {
			t.Errorf("Open(%s) = %v, want an error containing %q (and no PIN)", name, err, tc.want)
		}
	}
}

func FuzzParseBlob(f *testing.F) {
	f.Add([]byte{'P', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("sealed:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		nonce, ct, err := parseBlob(b)
		if err != nil {
			if !errors.Is(err, seal.ErrSealed) {
				t.Fatalf("parseBlob error %v is not ErrSealed", err)
			}
			return
		}
		if len(nonce) != nonceSize || len(ct) < tagSize || 2+len(nonce)+len(ct) != len(b) {
			t.Fatalf("parseBlob(%x) = %x, %x", b, nonce, ct)
		}
	})
}
