package pkcs11seal

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cofferkms/coffer/internal/seal"
	"github.com/cofferkms/coffer/internal/seal/pkcs11seal/softhsmtest"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/pkcs11"
)

// Tests that load SoftHSM2 do not run in parallel: the module reads
// SOFTHSM2_CONF, which each test points at its own tokens, when it is
// initialized, and one process initializes it once at a time.

const (
	token    = "coffer-test"
	keyLabel = "coffer-seal"
	wrongPIN = "9999"
)

var aad = []byte("pools/p/seal/domainkey")

// setup makes the tokens coffer-test and other and returns the config of
// a seal on coffer-test that may create its key.
func setup(t *testing.T) Config {
	t.Helper()
	lib := softhsmtest.Setup(t, token, "other")
	t.Cleanup(func() {
		if n := loadedModules(); n != 0 {
			t.Errorf("after the test, %d PKCS#11 modules are still loaded, want 0", n)
		}
	})
	return Config{Library: lib, TokenLabel: token, PIN: softhsmtest.UserPIN, KeyLabel: keyLabel, Create: true}
}

func loadedModules() int {
	loaded.Lock()
	defer loaded.Unlock()
	return len(loaded.m)
}

// mustOpen opens a seal that the test closes at its end, if not before.
func mustOpen(t *testing.T, cfg Config) *Seal {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%v) = %v, want no error", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want no error", err)
		}
	})
	return s
}

func mustWrap(t *testing.T, s *Seal, plaintext, aad []byte) []byte {
	t.Helper()
	blob, err := s.Wrap(context.Background(), plaintext, aad)
	if err != nil {
		t.Fatalf("Wrap(%x, %q) = %v, want no error", plaintext, aad, err)
	}
	return blob
}

// onToken runs f on a logged-in read-write session with the token
// labelled label, as an operator's tool would, to put objects there that
// Open does not make.
func onToken(t *testing.T, cfg Config, label string, f func(*pkcs11.Ctx, pkcs11.SessionHandle) error) {
	t.Helper()
	m, err := loadModule(cfg.Library)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	slot, _, err := (&Seal{mod: m, tokenSel: label}).findToken()
	if err != nil {
		t.Fatal(err)
	}
	sh, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer m.ctx.CloseSession(sh)
	if err := m.ctx.Login(sh, pkcs11.CKU_USER, softhsmtest.UserPIN); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatal(err)
	}
	if err := f(m.ctx, sh); err != nil {
		t.Fatal(err)
	}
}

// aesKey returns the template of a token AES key labelled label.
func aesKey(label string, size int, attrs ...*pkcs11.Attribute) []*pkcs11.Attribute {
	return append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, size),
	}, attrs...)
}

func generate(template []*pkcs11.Attribute) func(*pkcs11.Ctx, pkcs11.SessionHandle) error {
	return func(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		_, err := ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, template)
		return err
	}
}

func TestWrapUnwrap(t *testing.T) {
	s := mustOpen(t, setup(t))
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{name: "domain key", plaintext: bytes.Repeat([]byte{0x42}, 32), aad: aad},
		{name: "no aad", plaintext: []byte("a domain key, or anything")},
		{name: "empty plaintext", plaintext: []byte{}, aad: aad},
		{name: "largest plaintext", plaintext: bytes.Repeat([]byte{7}, maxPlaintext), aad: aad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := mustWrap(t, s, tt.plaintext, tt.aad)
			if want := headerSize + len(tt.plaintext) + tagSize; len(blob) != want || blob[0] != blobMagic || blob[1] != blobVersion {
				t.Errorf("Wrap(%d bytes) = %x, want %d bytes starting %x", len(tt.plaintext), blob, want, []byte{blobMagic, blobVersion})
			}
			if len(tt.plaintext) >= 8 && bytes.Contains(blob, tt.plaintext[:8]) {
				t.Errorf("Wrap(%x) = %x, which holds the plaintext", tt.plaintext, blob)
			}
			again := mustWrap(t, s, tt.plaintext, tt.aad)
			if bytes.Equal(again[:headerSize], blob[:headerSize]) {
				t.Errorf("Wrap twice gave the same IV %x", blob[2:headerSize])
			}
			for _, b := range [][]byte{blob, again} {
				got, err := s.Unwrap(context.Background(), b, tt.aad)
				if err != nil {
					t.Fatalf("Unwrap(Wrap(%d bytes)) = %v, want no error", len(tt.plaintext), err)
				}
				if diff := cmp.Diff(tt.plaintext, got); diff != "" {
					t.Errorf("Unwrap(Wrap()) mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}

	if _, err := s.Wrap(context.Background(), make([]byte, maxPlaintext+1), aad); err == nil || errors.Is(err, seal.ErrSealed) {
		t.Errorf("Wrap(%d bytes) = %v, want an error that is not ErrSealed", maxPlaintext+1, err)
	}
	if got, want := s.Describe(), `pkcs11 token "coffer-test" key "coffer-seal"`; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
}

// Every blob that does not open gives ErrSealed, and the same error
// whatever the reason once the header is right.
func TestUnwrapSealed(t *testing.T) {
	s := mustOpen(t, setup(t))
	blob := mustWrap(t, s, bytes.Repeat([]byte{0x42}, 32), aad)
	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		blob   []byte
		aad    []byte
		header bool // the header is wrong, and the error may say so
	}{
		{name: "other aad", blob: blob, aad: []byte("pools/q/seal/domainkey")},
		{name: "no aad", blob: blob},
		{name: "aad with a byte more", blob: blob, aad: append(bytes.Clone(aad), 0)},
		{name: "flipped IV", blob: flip(2), aad: aad},
		{name: "flipped ciphertext", blob: flip(headerSize), aad: aad},
		{name: "flipped tag", blob: flip(len(blob) - 1), aad: aad},
		{name: "truncated tag", blob: blob[:len(blob)-1], aad: aad},
		{name: "tag only", blob: append(bytes.Clone(blob[:headerSize]), blob[len(blob)-tagSize:]...), aad: aad},
		{name: "extra byte", blob: append(bytes.Clone(blob), 0), aad: aad},
		{name: "other version", blob: flip(1), aad: aad, header: true},
		{name: "other magic", blob: flip(0), aad: aad, header: true},
		{name: "too short", blob: blob[:headerSize+tagSize-1], aad: aad, header: true},
		{name: "empty", blob: nil, aad: aad, header: true},
		{name: "a file seal's blob", blob: append([]byte{1, 0, 0, 0, 0}, blob[2:]...), aad: aad, header: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Unwrap(context.Background(), tt.blob, tt.aad)
			want := seal.ErrSealed
			if tt.header {
				want = errBlob
			}
			if err != want || got != nil {
				t.Errorf("Unwrap(%x, %q) = %x, %v, want %v", tt.blob, tt.aad, got, err, want)
			}
		})
	}
	// The token is fine after all that.
	if _, err := s.Unwrap(context.Background(), blob, aad); err != nil {
		t.Errorf("Unwrap(the original blob) = %v, want no error", err)
	}
}

// A decryption failure is ErrSealed only if the token still does a round
// trip with the key; here the key handle is swapped for a key that may
// decrypt but not encrypt, so the round trip fails and the token is
// reported as broken.
func TestUnwrapBrokenToken(t *testing.T) {
	cfg := setup(t)
	onToken(t, cfg, token, generate(aesKey("decrypt-only", 32,
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))))
	s := mustOpen(t, cfg)
	blob := mustWrap(t, s, []byte("domain key"), aad)

	s.mu.Lock()
	other := &Seal{mod: s.mod, label: s.label, keyLabel: "decrypt-only"}
	found, err := other.searchKeys(s.session)
	if err == nil && len(found) == 1 {
		s.key = found[0]
	}
	s.mu.Unlock()
	if err != nil || len(found) != 1 {
		t.Fatalf("searchKeys(decrypt-only) = %v, %v, want one key", found, err)
	}

	_, err = s.Unwrap(context.Background(), blob, aad)
	if want := `token "coffer-test" failed to decrypt`; err == nil || errors.Is(err, seal.ErrSealed) || !strings.Contains(err.Error(), want) {
		t.Errorf("Unwrap() with a token that fails its round trip = %v, want an error containing %q, not ErrSealed", err, want)
	}
}

// A restarted node opens what it wrapped before, without creating
// anything.
func TestReopen(t *testing.T) {
	cfg := setup(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%v) = %v, want no error", cfg, err)
	}
	secret := []byte("the domain key of pool p, 32 byt")
	blob := mustWrap(t, s, secret, aad)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want no error", err)
	}
	if n := loadedModules(); n != 0 {
		t.Fatalf("after Close, %d modules are loaded, want 0", n)
	}

	restart := cfg
	restart.Create = false
	s = mustOpen(t, restart)
	got, err := s.Unwrap(context.Background(), blob, aad)
	if err != nil {
		t.Fatalf("Unwrap after a restart = %v, want no error", err)
	}
	if diff := cmp.Diff(secret, got); diff != "" {
		t.Errorf("Unwrap after a restart mismatch (-want +got):\n%s", diff)
	}

	// Selecting the token by slot finds the same token and key.
	slot := s.slot
	bySlot := restart
	bySlot.TokenLabel, bySlot.Slot = "", &slot
	s2 := mustOpen(t, bySlot)
	if got, err := s2.Unwrap(context.Background(), blob, aad); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Unwrap with the token chosen by slot = %x, %v, want %x", got, err, secret)
	}
	if got, want := s2.Describe(), `pkcs11 token "coffer-test" key "coffer-seal"`; got != want {
		t.Errorf("Describe() of the seal opened by slot = %q, want %q", got, want)
	}
}

// A key on another token, or another key on the same token, does not open
// a blob, and says ErrSealed (not a broken token).
func TestOtherKeys(t *testing.T) {
	cfg := setup(t)
	s := mustOpen(t, cfg)
	blob := mustWrap(t, s, []byte("domain key"), aad)

	otherToken := cfg
	otherToken.TokenLabel = "other"
	otherKey := cfg
	otherKey.KeyLabel = "coffer-seal-2"
	for _, c := range []Config{otherToken, otherKey} {
		o := mustOpen(t, c)
		if got, err := o.Unwrap(context.Background(), blob, aad); err != seal.ErrSealed {
			t.Errorf("%s: Unwrap(another key's blob) = %x, %v, want %v", o.Describe(), got, err, seal.ErrSealed)
		}
	}
}

func TestCreatedKeyAttributes(t *testing.T) {
	s := mustOpen(t, setup(t))
	s.mu.Lock()
	defer s.mu.Unlock()
	types := []struct {
		typ  uint
		name string
	}{
		{pkcs11.CKA_TOKEN, "CKA_TOKEN"}, {pkcs11.CKA_PRIVATE, "CKA_PRIVATE"},
		{pkcs11.CKA_SENSITIVE, "CKA_SENSITIVE"}, {pkcs11.CKA_EXTRACTABLE, "CKA_EXTRACTABLE"},
		{pkcs11.CKA_ENCRYPT, "CKA_ENCRYPT"}, {pkcs11.CKA_DECRYPT, "CKA_DECRYPT"},
		{pkcs11.CKA_WRAP, "CKA_WRAP"}, {pkcs11.CKA_UNWRAP, "CKA_UNWRAP"},
		{pkcs11.CKA_SIGN, "CKA_SIGN"}, {pkcs11.CKA_VERIFY, "CKA_VERIFY"}, {pkcs11.CKA_DERIVE, "CKA_DERIVE"},
	}
	var tmpl []*pkcs11.Attribute
	for _, a := range types {
		tmpl = append(tmpl, pkcs11.NewAttribute(a.typ, nil))
	}
	tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil))
	attrs, err := s.mod.ctx.GetAttributeValue(s.session, s.key, tmpl)
	if err != nil {
		t.Fatalf("GetAttributeValue() = %v, want no error", err)
	}
	got := map[string]any{}
	for i, a := range types {
		got[a.name] = attrBool(attrs[i].Value)
	}
	n, _ := attrULong(attrs[len(types)].Value)
	got["CKA_VALUE_LEN"] = n
	got["CKA_LABEL"] = string(attrs[len(types)+1].Value)
	want := map[string]any{
		"CKA_TOKEN": true, "CKA_PRIVATE": true, "CKA_SENSITIVE": true, "CKA_EXTRACTABLE": false,
		"CKA_ENCRYPT": true, "CKA_DECRYPT": true,
		"CKA_WRAP": false, "CKA_UNWRAP": false, "CKA_SIGN": false, "CKA_VERIFY": false, "CKA_DERIVE": false,
		"CKA_VALUE_LEN": uint64(32), "CKA_LABEL": keyLabel,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes of the created key mismatch (-want +got):\n%s", diff)
	}
}

// Open fails closed, saying what to fix, never naming the PIN, and never
// with ErrSealed.
func TestOpenFails(t *testing.T) {
	cfg := setup(t)
	cfg.Create = false
	onToken(t, cfg, "other", func(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		for _, tmpl := range [][]*pkcs11.Attribute{
			aesKey("twice", 32), aesKey("twice", 32),
			aesKey("aes-128", 16),
			aesKey("no-decrypt", 32, pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false)),
		} {
			if err := generate(tmpl)(ctx, sh); err != nil {
				return err
			}
		}
		return nil
	})
	notModule := filepath.Join(t.TempDir(), "libnot-pkcs11.so")
	if err := os.WriteFile(notModule, []byte("not a shared object"), 0o600); err != nil {
		t.Fatal(err)
	}
	slot := uint(987654)
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"wrong PIN", func(c *Config) { c.PIN = wrongPIN }, `pkcs11seal: PKCS#11 login failed: incorrect PIN for token "coffer-test"`},
		{"missing token", func(c *Config) { c.TokenLabel = "nope" }, `no token labelled "nope"; the tokens are "coffer-test" (slot `},
		{"missing token lists all", func(c *Config) { c.TokenLabel = "nope" }, `"other" (slot `},
		{"missing slot", func(c *Config) { c.TokenLabel, c.Slot = "", &slot }, `no token in slot 987654; the tokens are "coffer-test" (slot `},
		{"missing library", func(c *Config) { c.Library = filepath.Join(t.TempDir(), "libmissing.so") }, "libmissing.so does not exist"},
		{"not a module", func(c *Config) { c.Library = notModule }, "libnot-pkcs11.so is not a PKCS#11 module"},
		{"missing key", func(c *Config) {},
			`no AES key labelled "coffer-seal" on token "coffer-test"; start once with key creation enabled or create it with pkcs11-tool`},
		{"two keys with the label", func(c *Config) { c.TokenLabel, c.KeyLabel, c.Create = "other", "twice", true },
			`token "other" holds more than one AES key labelled "twice"`},
		{"AES-128", func(c *Config) { c.TokenLabel, c.KeyLabel = "other", "aes-128" }, `key "aes-128" on token "other" is not an AES-256 key`},
		{"no decrypt", func(c *Config) { c.TokenLabel, c.KeyLabel = "other", "no-decrypt" },
			`key "no-decrypt" on token "other" may not be used to encrypt and decrypt`},
		{"no library", func(c *Config) { c.Library = "" }, "no PKCS#11 library configured"},
		{"slot and label", func(c *Config) { c.Slot = &slot }, "set exactly one of the slot and the token label"},
		{"neither slot nor label", func(c *Config) { c.TokenLabel = "" }, "set exactly one of the slot and the token label"},
		{"no key label", func(c *Config) { c.KeyLabel = "" }, "no key label configured"},
		{"no PIN", func(c *Config) { c.PIN = "" }, "no user PIN configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.edit(&c)
			s, err := Open(c)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%v) succeeded, want an error containing %q", c, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || errors.Is(err, seal.ErrSealed) ||
				strings.Contains(msg, wrongPIN) || strings.Contains(msg, softhsmtest.UserPIN) {
				t.Errorf("Open(%v) = %v, want an error containing %q, naming no PIN, not ErrSealed", c, err, tt.want)
			}
			if n := loadedModules(); n != 0 {
				t.Errorf("after Open(%v) failed, %d modules are loaded, want 0", c, n)
			}
		})
	}
}

// The seal works with a key an operator made with pkcs11-tool, as the
// message about a missing key suggests.
func TestKeyFromPKCS11Tool(t *testing.T) {
	cfg := setup(t)
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		softhsmtest.Missing(t, "pkcs11-tool (Debian package opensc)")
	}
	out, err := exec.Command(tool, "--module", cfg.Library, "--token-label", token, "--login", "--pin", softhsmtest.UserPIN,
		"--keygen", "--key-type", "AES:32", "--label", keyLabel, "--sensitive").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --keygen: %v\n%s", err, out)
	}
	cfg.Create = false
	s := mustOpen(t, cfg)
	blob := mustWrap(t, s, []byte("domain key"), aad)
	if got, err := s.Unwrap(context.Background(), blob, aad); err != nil || string(got) != "domain key" {
		t.Errorf("Unwrap(Wrap(%q)) = %q, %v, want the plaintext", "domain key", got, err)
	}
}

// The token's AES-GCM and the blob format agree with a published vector
// and with the Go standard library.
func TestKnownAnswer(t *testing.T) {
	// Test case 16 of McGrew and Viega, "The Galois/Counter Mode of
	// Operation (GCM)": AES-256, 96-bit IV, with associated data.
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var (
		key = h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
		pt  = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
		ad  = h("feedfacedeadbeeffeedfacedeadbeefabaddad2")
		iv  = h("cafebabefacedbaddecaf888")
		ct  = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
			"76fc6ece0f4e1768cddf8853bb2d551b")
	)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	if got := gcm.Seal(nil, iv, pt, ad); !bytes.Equal(got, ct) {
		t.Fatalf("the standard library's AES-GCM of the vector = %x, want %x", got, ct)
	}

	cfg := setup(t)
	cfg.KeyLabel, cfg.Create = "known", false
	onToken(t, cfg, token, func(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		_, err := ctx.CreateObject(sh, append(aesKey("known", 32)[:4],
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, key),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true)))
		return err
	})
	s := mustOpen(t, cfg)

	vector := append([]byte{'P', 1}, append(bytes.Clone(iv), ct...)...)
	got, err := s.Unwrap(context.Background(), vector, ad)
	if err != nil {
		t.Fatalf("Unwrap(vector) = %v, want no error", err)
	}
	if diff := cmp.Diff(pt, got); diff != "" {
		t.Errorf("Unwrap(vector) mismatch (-want +got):\n%s", diff)
	}

	blob := mustWrap(t, s, pt, ad)
	bIV, bCT, err := parseBlob(blob)
	if err != nil {
		t.Fatalf("parseBlob(Wrap()) = %v, want no error", err)
	}
	got, err = gcm.Open(nil, bIV, bCT, ad)
	if err != nil {
		t.Fatalf("the standard library's AES-GCM Open of Wrap() = %v, want no error", err)
	}
	if diff := cmp.Diff(pt, got); diff != "" {
		t.Errorf("standard library Open(Wrap()) mismatch (-want +got):\n%s", diff)
	}
}

func TestConcurrent(t *testing.T) {
	s := mustOpen(t, setup(t))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			for j := range 8 {
				pt := fmt.Appendf(nil, "secret %d/%d", i, j)
				ad := fmt.Appendf(nil, "aad %d/%d", i, j)
				b, err := s.Wrap(context.Background(), pt, ad)
				if err != nil {
					errs <- fmt.Errorf("Wrap(%q) = %v, want no error", pt, err)
					return
				}
				got, err := s.Unwrap(context.Background(), b, ad)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("Unwrap(Wrap(%q)) = %q, %v, want the plaintext", pt, got, err)
					return
				}
				if _, err := s.Unwrap(context.Background(), b, pt); err != seal.ErrSealed {
					errs <- fmt.Errorf("Unwrap(Wrap(%q)) with other aad = %v, want ErrSealed", pt, err)
					return
				}
				_ = s.Describe()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// When the token drops every session (and with the last one the login),
// the seal opens a new session and logs in again.
func TestReconnect(t *testing.T) {
	s := mustOpen(t, setup(t))
	blob := mustWrap(t, s, []byte("domain key"), aad)
	for i := range 2 {
		s.mu.Lock()
		before := s.session
		err := s.mod.ctx.CloseAllSessions(s.slot)
		s.mu.Unlock()
		if err != nil {
			t.Fatalf("CloseAllSessions() = %v, want no error", err)
		}
		var got []byte
		if i == 0 {
			got, err = s.Unwrap(context.Background(), blob, aad)
		} else {
			var b []byte
			if b, err = s.Wrap(context.Background(), []byte("domain key"), aad); err == nil {
				got, err = s.Unwrap(context.Background(), b, aad)
			}
		}
		if err != nil || string(got) != "domain key" {
			t.Fatalf("round %d: after the token dropped the session, got %q, %v, want the plaintext", i, got, err)
		}
		s.mu.Lock()
		after := s.session
		s.mu.Unlock()
		if after == before {
			t.Errorf("round %d: the session is still %d, want a new one", i, after)
		}
	}
}

// Seals in one process share the module, and the login of a token.
func TestSharedModule(t *testing.T) {
	cfg := setup(t)
	a := mustOpen(t, cfg)
	second := cfg
	second.KeyLabel = "second"
	b := mustOpen(t, second)
	onOther := cfg
	onOther.TokenLabel = "other"
	c := mustOpen(t, onOther)
	if a.mod != b.mod || a.mod != c.mod || loadedModules() != 1 {
		t.Fatalf("three seals on one module loaded %d modules, want 1 shared", loadedModules())
	}

	// The token is logged in already and would not check a PIN.
	bad := cfg
	bad.KeyLabel, bad.PIN = "third", wrongPIN
	if s, err := Open(bad); err == nil {
		s.Close()
		t.Errorf("Open(%v) with a wrong PIN on a logged-in token succeeded", bad)
	} else if want := `token "coffer-test" is already logged in for another seal in this process with a different PIN`; !strings.Contains(err.Error(), want) {
		t.Errorf("Open(%v) = %v, want an error containing %q", bad, err, want)
	}

	blob := mustWrap(t, b, []byte("domain key"), aad)
	if err := a.Close(); err != nil {
		t.Fatalf("Close() = %v, want no error", err)
	}
	// Closing a did not log b out or unload the module.
	if got, err := b.Unwrap(context.Background(), blob, aad); err != nil || string(got) != "domain key" {
		t.Errorf("Unwrap() after another seal on the token closed = %q, %v, want the plaintext", got, err)
	}
	if _, err := c.Wrap(context.Background(), []byte("x"), aad); err != nil {
		t.Errorf("Wrap() on the other token after a seal closed = %v, want no error", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(setup(t))
	if err != nil {
		t.Fatal(err)
	}
	blob := mustWrap(t, s, []byte("domain key"), aad)
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close() #%d = %v, want no error", i+1, err)
		}
	}
	if _, err := s.Wrap(context.Background(), []byte("x"), aad); err != errClosed {
		t.Errorf("Wrap() after Close = %v, want %v", err, errClosed)
	}
	if _, err := s.Unwrap(context.Background(), blob, aad); err != errClosed {
		t.Errorf("Unwrap() after Close = %v, want %v", err, errClosed)
	}
}

func TestCanceledContext(t *testing.T) {
	s := mustOpen(t, setup(t))
	blob := mustWrap(t, s, []byte("domain key"), aad)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Wrap(ctx, []byte("x"), aad); !errors.Is(err, context.Canceled) {
		t.Errorf("Wrap(canceled) = %v, want %v", err, context.Canceled)
	}
	if _, err := s.Unwrap(ctx, blob, aad); !errors.Is(err, context.Canceled) {
		t.Errorf("Unwrap(canceled) = %v, want %v", err, context.Canceled)
	}
}

// A Config in a message or a log line does not show the PIN.
func TestConfigHidesPIN(t *testing.T) {
	slot := uint(3)
	cfg := Config{Library: "/lib/p11.so", Slot: &slot, PIN: "s3cr3t-PIN", KeyLabel: keyLabel, Create: true}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("seal", "config", cfg, "ptr", &cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("seal", "config", cfg)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s": fmt.Sprintf("%s", cfg), "%x": fmt.Sprintf("%x", cfg), "%v of a pointer": fmt.Sprintf("%v", &cfg),
		"%v in a struct": fmt.Sprintf("%+v", struct{ C Config }{cfg}),
		"slog":           logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "s3cr3t") || !strings.Contains(out, "redacted") || !strings.Contains(out, "/lib/p11.so") {
			t.Errorf("%s of a Config = %s, want the library and no PIN", name, out)
		}
	}
	if got, want := fmt.Sprint(Config{}), `{Library: Slot:none TokenLabel:"" PIN:unset KeyLabel:"" Create:false}`; got != want {
		t.Errorf("fmt.Sprint(Config{}) = %s, want %s", got, want)
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		decryptFailed bool
		sessionLost   bool
	}{
		{"tag mismatch (SoftHSM2)", decryptError{pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)}, true, false},
		{"tag mismatch", decryptError{pkcs11.Error(pkcs11.CKR_ENCRYPTED_DATA_INVALID)}, true, false},
		{"short ciphertext", decryptError{pkcs11.Error(pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE)}, true, false},
		{"function failed", decryptError{pkcs11.Error(pkcs11.CKR_FUNCTION_FAILED)}, true, false},
		{"general error outside C_Decrypt", pkcs11.Error(pkcs11.CKR_GENERAL_ERROR), false, false},
		{"session gone in C_Decrypt", decryptError{pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)}, false, true},
		{"device error", decryptError{pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)}, false, false},
		{"logged out", pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN), false, true},
		{"token removed", pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT), false, true},
		{"key not allowed", pkcs11.Error(pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED), false, false},
		{"nil", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isDecryptFailure(tt.err); got != tt.decryptFailed {
				t.Errorf("isDecryptFailure(%v) = %t, want %t", tt.err, got, tt.decryptFailed)
			}
			if got := sessionLost(tt.err); got != tt.sessionLost {
				t.Errorf("sessionLost(%v) = %t, want %t", tt.err, got, tt.sessionLost)
			}
		})
	}
}
