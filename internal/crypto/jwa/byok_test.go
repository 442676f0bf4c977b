package jwa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

var transferHashes = map[string]crypto.Hash{"SHA-1": crypto.SHA1, "SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384}

// TestBYOKInterop opens CKM_RSA_AES_KEY_WRAP blobs that pyca/cryptography
// built the way BYOK tooling does, for every target key type, each OAEP
// hash and each ephemeral AES key size, and imports the plaintexts.
func TestBYOKInterop(t *testing.T) {
	v := interop(t)
	kek, err := keymat.FromPKCS8(keymat.KeyTypeRSA, 0, v.KEKPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tc := range v.BYOK {
		name := fmt.Sprintf("%s/%s/AES-%d", strings.TrimSpace(tc.Kty+" "+tc.Crv), tc.Hash, tc.EphemeralBits)
		seen[tc.Kty+tc.Crv], seen[tc.Hash], seen[fmt.Sprint(tc.EphemeralBits)] = true, true, true
		t.Run(name, func(t *testing.T) {
			h := transferHashes[tc.Hash]
			got, err := UnwrapRSAAES(kek, h, tc.Blob)
			if err != nil || !bytes.Equal(got, tc.Plaintext) {
				t.Fatalf("UnwrapRSAAES() = %x, %v; want %x", got, err, []byte(tc.Plaintext))
			}
			typ, err := keymat.ParseKeyType(tc.Kty)
			if err != nil {
				t.Fatal(err)
			}
			var crv keymat.Curve
			if tc.Crv != "" {
				crv, _ = keymat.ParseCurve(tc.Crv)
			}
			k, err := keymat.FromPKCS8(typ, crv, got)
			if err != nil || k.Type() != typ || k.Curve() != crv {
				t.Fatalf("FromPKCS8(unwrapped) = %v, %v; want a %v %v key", k, err, typ, crv)
			}
			for other := range transferHashes {
				if other == tc.Hash {
					continue
				}
				if _, err := UnwrapRSAAES(kek, transferHashes[other], tc.Blob); err != ErrDecrypt {
					t.Errorf("UnwrapRSAAES(with %s instead of %s) error = %v, want ErrDecrypt", other, tc.Hash, err)
				}
			}
		})
	}
	for _, want := range []string{"RSA", "ECP-256", "ECP-256K", "ECP-384", "ECP-521", "oct", "SHA-1", "SHA-256", "SHA-384", "128", "192", "256"} {
		if !seen[want] {
			t.Errorf("interop vectors cover no %s case", want)
		}
	}
}

// TestBYOKRoundTrip wraps every kind of target key with WrapRSAAES and
// opens it with UnwrapRSAAES, under each KEK size; the OAEP hash rotates so
// that every target meets every hash.
func TestBYOKRoundTrip(t *testing.T) {
	names := []string{"SHA-1", "SHA-256", "SHA-384"}
	for ki, kekBits := range []int{2048, 3072, 4096} {
		kek := rsaKey(t, kekBits)
		for ti, target := range allTestKeys(t) {
			name := names[(ki+ti)%3]
			h := transferHashes[name]
			t.Run(fmt.Sprintf("KEK %d/%v/%s", kekBits, target, name), func(t *testing.T) {
				plain, err := target.MarshalPKCS8()
				if err != nil {
					t.Fatal(err)
				}
				blob, err := WrapRSAAES(kek.Public(), h, plain)
				if err != nil {
					t.Fatalf("WrapRSAAES() error = %v", err)
				}
				if want := kekBits/8 + (len(plain)+7)/8*8 + 8; len(blob) != want {
					t.Errorf("blob is %d bytes, want %d (RSA part, then 256-bit-key KWP)", len(blob), want)
				}
				// The RSA part is plain OAEP of a 32-byte AES key.
				eph, err := rsa.DecryptOAEP(h.New(), nil, kek.RSA(), blob[:kekBits/8], nil)
				if err != nil || len(eph) != 32 {
					t.Fatalf("rsa.DecryptOAEP(blob head) = %d bytes, %v; want a 32-byte key", len(eph), err)
				}
				got, err := UnwrapRSAAES(kek, h, blob)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("UnwrapRSAAES() = %x, %v; want %x", got, err, plain)
				}
				back, err := keymat.FromPKCS8(target.Type(), target.Curve(), got)
				if err != nil || !back.Equal(target) {
					t.Fatalf("FromPKCS8(unwrapped) = %v, %v; want the original key", back, err)
				}
			})
		}
	}
}

func TestBYOKRejects(t *testing.T) {
	kek, otherKEK := rsaKey(t, 2048), rsaKey(t, 3072)
	plain := bytes.Repeat([]byte{5}, 32)
	blob, err := WrapRSAAES(kek.Public(), crypto.SHA1, plain)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 1; return b }
	// An RSA part that decrypts to a 20-byte "AES key".
	odd, _ := rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, &kek.RSA().PublicKey, make([]byte, 20), nil)
	tests := []struct {
		name string
		fn   func() ([]byte, error)
		want error
	}{
		{"RSA part tampered", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, flip(3)) }, ErrDecrypt},
		{"KWP part tampered", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, flip(len(blob)-1)) }, ErrDecrypt},
		{"RSA part only", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, blob[:256]) }, ErrDecrypt},
		{"truncated", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, blob[:len(blob)-8]) }, ErrDecrypt},
		{"one byte short", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, blob[:len(blob)-1]) }, ErrDecrypt},
		{"empty", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, nil) }, ErrDecrypt},
		{"other KEK", func() ([]byte, error) { return UnwrapRSAAES(otherKEK, crypto.SHA1, blob) }, ErrDecrypt},
		{"other hash", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA256, blob) }, ErrDecrypt},
		{"20-byte AES key", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA1, append(odd, blob[256:]...)) }, ErrDecrypt},
		{"SHA-512", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.SHA512, blob) }, ErrInvalidInput},
		{"MD5", func() ([]byte, error) { return UnwrapRSAAES(kek, crypto.MD5, blob) }, ErrInvalidInput},
		{"EC KEK", func() ([]byte, error) { return UnwrapRSAAES(ecKey(t, keymat.CurveP256), crypto.SHA1, blob) }, ErrAlgorithmMismatch},
		{"AES KEK", func() ([]byte, error) { return UnwrapRSAAES(aesKey(t, 256), crypto.SHA1, blob) }, ErrAlgorithmMismatch},
		{"nil KEK", func() ([]byte, error) { return UnwrapRSAAES(nil, crypto.SHA1, blob) }, ErrAlgorithmMismatch},
		{"wrap for an EC key", func() ([]byte, error) { return WrapRSAAES(ecKey(t, keymat.CurveP256).Public(), crypto.SHA1, plain) }, ErrAlgorithmMismatch},
		{"wrap for an oct key", func() ([]byte, error) { return WrapRSAAES(aesKey(t, 256).Public(), crypto.SHA1, plain) }, ErrAlgorithmMismatch},
		{"wrap with SHA-224", func() ([]byte, error) { return WrapRSAAES(kek.Public(), crypto.SHA224, plain) }, ErrInvalidInput},
		{"wrap nothing", func() ([]byte, error) { return WrapRSAAES(kek.Public(), crypto.SHA1, nil) }, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fn()
			if !errors.Is(err, tc.want) || (tc.want == ErrDecrypt && err != ErrDecrypt) {
				t.Fatalf("= %x, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func FuzzUnwrapRSAAES(f *testing.F) {
	kek, err := keymat.FromPKCS8(keymat.KeyTypeRSA, 0, interop(f).KEKPKCS8)
	if err != nil {
		f.Fatal(err)
	}
	for i, tc := range interop(f).BYOK[:3] { // one target under each hash
		f.Add(uint8(i), []byte(tc.Blob))
	}
	hashes := []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384}
	f.Fuzz(func(t *testing.T, which uint8, blob []byte) {
		got, err := UnwrapRSAAES(kek, hashes[int(which)%3], blob)
		if err != nil {
			if err != ErrDecrypt {
				t.Fatalf("UnwrapRSAAES error %v is not ErrDecrypt", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("UnwrapRSAAES returned nothing without an error")
		}
	})
}
