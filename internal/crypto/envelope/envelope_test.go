package envelope

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// replaceNonceForTesting fixes the nonce Seal uses until the test ends.
func replaceNonceForTesting(t testing.TB, nonce []byte) {
	t.Helper()
	prev := testingOnlyNonce
	testingOnlyNonce = nonce
	t.Cleanup(func() { testingOnlyNonce = prev })
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors computed independently with Python's cryptography package
// (OpenSSL underneath):
//
//	hdr = bytes([1]) + struct.pack(">I", key_id)
//	hdr + nonce + AESGCM(key).encrypt(nonce, plaintext, hdr + aad)
//
// The "multi-block" key, nonce and first ten plaintext bytes are those of
// Project Wycheproof aes_gcm_test.json tcId 91, and the first ten bytes of
// its ciphertext (e27abdd2d2a53d2f136b) are that vector's ciphertext.
var knownAnswers = []struct {
	name      string
	key       string
	keyID     uint32
	nonce     string
	plaintext string
	aad       string
	want      string
}{
	{
		name:      "record",
		key:       "4242424242424242424242424242424242424242424242424242424242424242",
		keyID:     7,
		nonce:     "010101010101010101010101",
		plaintext: "7265636f7264",
		aad:       "pools/p/keys/k",
		want:      "01000000070101010101010101010101015fccd568e630525195aa6d2c7e2f2930137750a304d0",
	},
	{
		name:      "empty plaintext",
		key:       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		keyID:     0,
		nonce:     "6465666768696a6b6c6d6e6f",
		plaintext: "",
		aad:       "sys/seal/keyring",
		want:      "01000000006465666768696a6b6c6d6e6fc647a36f43b505809f62e7dde3ee6ab8",
	},
	{
		name:      "empty aad",
		key:       "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
		keyID:     0xdeadbeef,
		nonce:     "ffffffffffffffffffffffff",
		plaintext: "0000000000",
		aad:       "",
		want:      "01deadbeefffffffffffffffffffffffffb10f73181eecf8de8fd4f2131e6000fa5fd456eb4e",
	},
	{
		name:      "multi-block",
		key:       "92ace3e348cd821092cd921aa3546374299ab46209691bc28b8752d17f123c20",
		keyID:     0x01020304,
		nonce:     "00112233445566778899aabb",
		plaintext: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445",
		aad:       "pools/contoso/data/keys/payroll/versions/0001",
		want:      "010102030400112233445566778899aabbe27abdd2d2a53d2f136bb81b003528ce9e19ee53c97fe1a3e330c6d92493df51dd6cb9b97568d0572b9ed4d52bc24d8bb7932e6276e00ce4096c255528cc3659544018d01f7bf8a5ec3e49561bd4aa375e134e8a3806",
	},
}

func TestSealKnownAnswer(t *testing.T) {
	for _, tc := range knownAnswers {
		t.Run(tc.name, func(t *testing.T) {
			replaceNonceForTesting(t, unhex(t, tc.nonce))
			key := keymat.NewSecret(unhex(t, tc.key))
			pt, aad := unhex(t, tc.plaintext), []byte(tc.aad)
			got, err := Seal(key, tc.keyID, pt, aad)
			if err != nil {
				t.Fatalf("Seal() error = %v", err)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Errorf("Seal() = %x, want %s", got, tc.want)
			}
		})
	}
}

func TestOpenKnownAnswer(t *testing.T) {
	for _, tc := range knownAnswers {
		t.Run(tc.name, func(t *testing.T) {
			key := keymat.NewSecret(unhex(t, tc.key))
			blob := unhex(t, tc.want)
			if id, err := KeyID(blob); err != nil || id != tc.keyID {
				t.Errorf("KeyID() = %d, %v, want %d, nil", id, err, tc.keyID)
			}
			got, err := Open(key, blob, []byte(tc.aad))
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if diff := cmp.Diff(unhex(t, tc.plaintext), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Open() mismatch (-want +got):\n%s", diff)
			}
			k, err := NewKey(key, tc.keyID)
			if err != nil {
				t.Fatalf("NewKey() error = %v", err)
			}
			if got, err := k.Open(blob, []byte(tc.aad)); err != nil || !bytes.Equal(got, unhex(t, tc.plaintext)) {
				t.Errorf("Key.Open() = %x, %v, want %s, nil", got, err, tc.plaintext)
			}
		})
	}
}

var (
	testKey  = keymat.NewSecret(bytes.Repeat([]byte{0x42}, 32))
	otherKey = keymat.NewSecret(bytes.Repeat([]byte{0x43}, 32))
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		keyID     uint32
		plaintext []byte
		aad       []byte
	}{
		{name: "small", keyID: 3, plaintext: []byte("hello"), aad: []byte("sys/dir/users/alice")},
		{name: "empty", keyID: 0, plaintext: nil, aad: nil},
		{name: "large", keyID: 1 << 31, plaintext: bytes.Repeat([]byte{0xa5}, 1<<20), aad: bytes.Repeat([]byte("p"), 1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := Seal(testKey, tc.keyID, tc.plaintext, tc.aad)
			if err != nil {
				t.Fatalf("Seal() error = %v", err)
			}
			if len(blob) != len(tc.plaintext)+Overhead {
				t.Errorf("len(Seal()) = %d, want %d", len(blob), len(tc.plaintext)+Overhead)
			}
			if id, err := KeyID(blob); err != nil || id != tc.keyID {
				t.Errorf("KeyID() = %d, %v, want %d, nil", id, err, tc.keyID)
			}
			got, err := Open(testKey, blob, tc.aad)
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open() returned %d bytes that differ from the %d sealed", len(got), len(tc.plaintext))
			}
		})
	}
}

func TestNoncesDiffer(t *testing.T) {
	a, _ := Seal(testKey, 1, []byte("same"), []byte("p"))
	b, _ := Seal(testKey, 1, []byte("same"), []byte("p"))
	if bytes.Equal(a[headerSize:headerSize+nonceSize], b[headerSize:headerSize+nonceSize]) {
		t.Errorf("two Seal() calls used the same nonce %x", a[headerSize:headerSize+nonceSize])
	}
}

// TestTamper flips every bit of a sealed record, one at a time, and cuts
// and extends it: each must fail with exactly ErrOpen.
func TestTamper(t *testing.T) {
	aad := []byte("pools/p/data/keys/k")
	blob, err := Seal(testKey, 9, []byte("a record worth protecting"), aad)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(testKey, 9)
	if err != nil {
		t.Fatal(err)
	}
	check := func(desc string, b []byte) {
		t.Helper()
		if pt, err := Open(testKey, b, aad); err != ErrOpen {
			t.Errorf("Open(%s) = %q, %v, want ErrOpen", desc, pt, err)
		}
		if pt, err := k.Open(b, aad); err != ErrOpen {
			t.Errorf("Key.Open(%s) = %q, %v, want ErrOpen", desc, pt, err)
		}
	}
	for i := range blob {
		for bit := range 8 {
			bad := bytes.Clone(blob)
			bad[i] ^= 1 << bit
			check(fmt.Sprintf("byte %d bit %d flipped", i, bit), bad)
		}
	}
	for n := range len(blob) {
		check(fmt.Sprintf("truncated to %d bytes", n), blob[:n])
	}
	check("extended", append(bytes.Clone(blob), 0))
}

func TestOpenFailures(t *testing.T) {
	aad := []byte("pools/a/data/keys/k")
	blob, err := Seal(testKey, 5, []byte("v"), aad)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  keymat.Secret
		blob []byte
		aad  []byte
	}{
		{name: "wrong aad", key: testKey, blob: blob, aad: []byte("pools/a/data/keys/k2")},
		{name: "aad prefix", key: testKey, blob: blob, aad: aad[:len(aad)-1]},
		{name: "no aad", key: testKey, blob: blob, aad: nil},
		{name: "wrong key", key: otherKey, blob: blob, aad: aad},
		{name: "short key", key: keymat.NewSecret(make([]byte, 16)), blob: blob, aad: aad},
		{name: "zero key", key: keymat.Secret{}, blob: blob, aad: aad},
		{name: "empty blob", key: testKey, blob: nil, aad: aad},
		{name: "version 2", key: testKey, blob: append([]byte{2}, blob[1:]...), aad: aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if pt, err := Open(tc.key, tc.blob, tc.aad); err != ErrOpen {
				t.Errorf("Open() = %q, %v, want ErrOpen", pt, err)
			}
		})
	}
}

func TestKeyRefusesOtherKeyID(t *testing.T) {
	blob, err := Seal(testKey, 1, []byte("v"), nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := NewKey(testKey, 2)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(blob, nil); err != ErrOpen {
		t.Errorf("Key(id 2).Open(blob of id 1) = %q, %v, want ErrOpen", pt, err)
	}
}

func TestBadKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := Seal(keymat.NewSecret(make([]byte, n)), 1, []byte("x"), nil); !errors.Is(err, errKeySize) {
			t.Errorf("Seal(%d-byte key) error = %v, want %v", n, err, errKeySize)
		}
		if _, err := NewKey(keymat.NewSecret(make([]byte, n)), 1); !errors.Is(err, errKeySize) {
			t.Errorf("NewKey(%d-byte key) error = %v, want %v", n, err, errKeySize)
		}
	}
}

func TestKeyIDFailures(t *testing.T) {
	good, _ := Seal(testKey, 77, nil, nil)
	tests := []struct {
		name string
		blob []byte
	}{
		{name: "empty", blob: nil},
		{name: "one short", blob: good[:Overhead-1]},
		{name: "unknown version", blob: append([]byte{0}, good[1:]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := KeyID(tc.blob); err != ErrOpen {
				t.Errorf("KeyID(%x) = %d, %v, want ErrOpen", tc.blob, id, err)
			}
		})
	}
}

func BenchmarkKey(b *testing.B) {
	k, err := NewKey(testKey, 1)
	if err != nil {
		b.Fatal(err)
	}
	pt := bytes.Repeat([]byte{1}, 512)
	aad := []byte("pools/contoso/data/keys/payroll/v/0001")
	blob := k.Seal(pt, aad)
	b.Run("Seal", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			k.Seal(pt, aad)
		}
	})
	b.Run("Open", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			if _, err := k.Open(blob, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("OpenWithSecret", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			if _, err := Open(testKey, blob, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
