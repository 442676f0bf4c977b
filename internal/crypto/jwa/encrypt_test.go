package jwa

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

var (
	gcmFor    = map[int]EncryptionAlgorithm{128: A128GCM, 192: A192GCM, 256: A256GCM}
	cbcFor    = map[int]EncryptionAlgorithm{128: A128CBC, 192: A192CBC, 256: A256CBC}
	cbcPadFor = map[int]EncryptionAlgorithm{128: A128CBCPAD, 192: A192CBCPAD, 256: A256CBCPAD}
	kwFor     = map[int]EncryptionAlgorithm{128: A128KW, 192: A192KW, 256: A256KW}
)

// TestEncryptRoundTrip encrypts and decrypts with every encryption
// algorithm and key size, and checks the shape Key Vault gives results.
func TestEncryptRoundTrip(t *testing.T) {
	type tc struct {
		alg     EncryptionAlgorithm
		key     *keymat.Key
		pt      []byte
		iv, aad []byte
	}
	var tests []tc
	iv := mustHex("000102030405060708090a0b0c0d0e0f")
	for _, bits := range []int{2048, 3072, 4096} {
		k := rsaKey(t, bits)
		max := map[EncryptionAlgorithm]int{RSAOAEP: bits/8 - 42, RSAOAEP256: bits/8 - 66, RSA15: bits/8 - 11}
		for _, alg := range []EncryptionAlgorithm{RSAOAEP, RSAOAEP256, RSA15} {
			tests = append(tests,
				tc{alg: alg, key: k, pt: []byte("hello rsa")},
				tc{alg: alg, key: k, pt: bytes.Repeat([]byte{7}, max[alg])}, // the longest the padding allows
			)
		}
	}
	for _, bits := range []int{128, 192, 256} {
		k := aesKey(t, bits)
		tests = append(tests,
			tc{alg: gcmFor[bits], key: k, pt: []byte("gcm plaintext of odd length")},
			tc{alg: gcmFor[bits], key: k, pt: []byte("with aad"), aad: []byte("context")},
			tc{alg: gcmFor[bits], key: k, pt: nil},
			tc{alg: gcmFor[bits], key: k, pt: bytes.Repeat([]byte{1}, 4096)},
			tc{alg: cbcFor[bits], key: k, iv: iv, pt: bytes.Repeat([]byte("x"), 48)},
			tc{alg: cbcFor[bits], key: k, iv: iv, pt: bytes.Repeat([]byte("y"), 16)},
			tc{alg: cbcPadFor[bits], key: k, iv: iv, pt: []byte("any length at all")},
			tc{alg: cbcPadFor[bits], key: k, iv: iv, pt: bytes.Repeat([]byte("z"), 32)}, // a full block of padding
			tc{alg: cbcPadFor[bits], key: k, iv: iv, pt: nil},
		)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d/%dB", tc.alg, tc.key.Bits(), len(tc.pt)), func(t *testing.T) {
			s, err := Encrypt(tc.alg, tc.key, tc.pt, tc.iv, tc.aad)
			if err != nil {
				t.Fatalf("Encrypt() error = %v", err)
			}
			switch {
			case tc.alg.isRSA():
				if len(s.Ciphertext) != tc.key.Bits()/8 || s.IV != nil || s.Tag != nil || s.AAD != nil {
					t.Errorf("Encrypt() = %d-byte ciphertext, iv %x, tag %x, aad %x; want a %d-byte ciphertext only", len(s.Ciphertext), s.IV, s.Tag, s.AAD, tc.key.Bits()/8)
				}
			case tc.alg.isGCM():
				if len(s.IV) != 12 || len(s.Tag) != 16 || len(s.Ciphertext) != len(tc.pt) || !bytes.Equal(s.AAD, tc.aad) {
					t.Errorf("Encrypt() = iv %d, tag %d, ciphertext %d bytes, aad %q; want 12, 16, %d, %q", len(s.IV), len(s.Tag), len(s.Ciphertext), s.AAD, len(tc.pt), tc.aad)
				}
				// The standard library opens what Encrypt sealed.
				b, _ := aes.NewCipher(tc.key.Symmetric().Expose())
				g, _ := cipher.NewGCM(b)
				if pt, err := g.Open(nil, s.IV, append(bytes.Clone(s.Ciphertext), s.Tag...), tc.aad); err != nil || !bytes.Equal(pt, tc.pt) {
					t.Errorf("cipher.GCM.Open(Encrypt()) = %x, %v; want %x", pt, err, tc.pt)
				}
			default:
				want := len(tc.pt)
				if tc.alg.isCBCPad() {
					want = (len(tc.pt)/16 + 1) * 16
				}
				if !bytes.Equal(s.IV, tc.iv) || len(s.Ciphertext) != want || s.Tag != nil || s.AAD != nil {
					t.Errorf("Encrypt() = iv %x, %d-byte ciphertext, tag %x; want iv %x echoed and %d bytes", s.IV, len(s.Ciphertext), s.Tag, tc.iv, want)
				}
			}
			got, err := Decrypt(tc.alg, tc.key, s.Ciphertext, s.IV, tc.aad, s.Tag)
			if err != nil || !bytes.Equal(got, tc.pt) {
				t.Fatalf("Decrypt(Encrypt(%x)) = %x, %v", tc.pt, got, err)
			}
			if tc.alg.isRSA() {
				return
			}
			if again, _ := Encrypt(tc.alg, tc.key, tc.pt, tc.iv, tc.aad); tc.alg.isGCM() && bytes.Equal(again.IV, s.IV) {
				t.Errorf("two GCM encryptions used the same IV %x", s.IV)
			}
		})
	}
}

// TestRSADecryptStdlib checks RSA encryption against the standard library
// in both directions (OAEP with MGF1 of the same hash and no label).
func TestRSADecryptStdlib(t *testing.T) {
	k := rsaKey(t, 2048)
	msg := []byte("interop")
	for _, tc := range []struct {
		alg     EncryptionAlgorithm
		encrypt func() ([]byte, error)
	}{
		{RSAOAEP, func() ([]byte, error) { return rsa.EncryptOAEP(sha1.New(), rand.Reader, &k.RSA().PublicKey, msg, nil) }},
		{RSAOAEP256, func() ([]byte, error) {
			return rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.RSA().PublicKey, msg, nil)
		}},
		{RSA15, func() ([]byte, error) {
			//lint:ignore SA1019 RSA1_5 is a Managed HSM algorithm: the test checks it against the standard library.
			return rsa.EncryptPKCS1v15(rand.Reader, &k.RSA().PublicKey, msg)
		}},
	} {
		ct, err := tc.encrypt()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Decrypt(tc.alg, k, ct, nil, nil, nil); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("Decrypt(%s, stdlib ciphertext) = %q, %v; want %q", tc.alg, got, err, msg)
		}
		if got, err := Unwrap(tc.alg, k, ct); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("Unwrap(%s, stdlib ciphertext) = %q, %v; want %q", tc.alg, got, err, msg)
		}
		s, err := Encrypt(tc.alg, k, msg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var pt []byte
		switch tc.alg {
		case RSAOAEP:
			pt, err = rsa.DecryptOAEP(sha1.New(), nil, k.RSA(), s.Ciphertext, nil)
		case RSAOAEP256:
			pt, err = rsa.DecryptOAEP(sha256.New(), nil, k.RSA(), s.Ciphertext, nil)
		case RSA15:
			//lint:ignore SA1019 RSA1_5 is a Managed HSM algorithm: the test checks it against the standard library.
			pt, err = rsa.DecryptPKCS1v15(nil, k.RSA(), s.Ciphertext)
		}
		if err != nil || !bytes.Equal(pt, msg) {
			t.Errorf("stdlib decryption of Encrypt(%s) = %q, %v; want %q", tc.alg, pt, err, msg)
		}
	}
}

// NIST SP 800-38A §F.2.1, F.2.3 and F.2.5: CBC-AES128/192/256.Encrypt.
func TestCBCKnownAnswers(t *testing.T) {
	iv := mustHex("000102030405060708090a0b0c0d0e0f")
	pt := mustHex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	tests := []struct {
		name, key, ct string
	}{
		{"F.2.1 AES-128", "2b7e151628aed2a6abf7158809cf4f3c", "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"},
		{"F.2.3 AES-192", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"},
		{"F.2.5 AES-256", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := octKey(t, mustHex(tc.key))
			alg := cbcFor[k.Bits()]
			s, err := Encrypt(alg, k, pt, iv, nil)
			if err != nil || !bytes.Equal(s.Ciphertext, mustHex(tc.ct)) {
				t.Fatalf("Encrypt(%s) = %x, %v; want %s", alg, s.Ciphertext, err, tc.ct)
			}
			got, err := Decrypt(alg, k, mustHex(tc.ct), iv, nil, nil)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Decrypt(%s) = %x, %v; want %x", alg, got, err, pt)
			}
			// With padding, the same blocks come first, then a block of
			// sixteen 0x10 bytes.
			sp, err := Encrypt(cbcPadFor[k.Bits()], k, pt, iv, nil)
			if err != nil || !bytes.Equal(sp.Ciphertext[:64], mustHex(tc.ct)) || len(sp.Ciphertext) != 80 {
				t.Fatalf("Encrypt(%s) = %x, %v; want %s and one more block", cbcPadFor[k.Bits()], sp.Ciphertext, err, tc.ct)
			}
		})
	}
}

func TestEncryptRejects(t *testing.T) {
	aes256, aes128 := aesKey(t, 256), aesKey(t, 128)
	rsa2k := rsaKey(t, 2048)
	p256 := ecKey(t, keymat.CurveP256)
	iv16, iv12 := make([]byte, 16), make([]byte, 12)
	sealed, err := Encrypt(A256GCM, aes256, []byte("secret"), nil, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	cbcCT, err := Encrypt(A256CBCPAD, aes256, []byte("secret"), iv16, nil)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"GCM encrypt with client IV", func() error { _, err := Encrypt(A256GCM, aes256, []byte("x"), iv12, nil); return err }, ErrInvalidInput},
		{"GCM decrypt without IV", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, nil, sealed.AAD, sealed.Tag)
			return err
		}, ErrInvalidInput},
		{"GCM decrypt with 16-byte IV", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, iv16, sealed.AAD, sealed.Tag)
			return err
		}, ErrInvalidInput},
		{"GCM decrypt without tag", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, sealed.IV, sealed.AAD, nil)
			return err
		}, ErrInvalidInput},
		{"GCM decrypt with short tag", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, sealed.IV, sealed.AAD, sealed.Tag[:12])
			return err
		}, ErrInvalidInput},
		{"GCM tampered ciphertext", func() error {
			_, err := Decrypt(A256GCM, aes256, flip(sealed.Ciphertext, 0), sealed.IV, sealed.AAD, sealed.Tag)
			return err
		}, ErrDecrypt},
		{"GCM tampered tag", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, sealed.IV, sealed.AAD, flip(sealed.Tag, 15))
			return err
		}, ErrDecrypt},
		{"GCM tampered IV", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, flip(sealed.IV, 3), sealed.AAD, sealed.Tag)
			return err
		}, ErrDecrypt},
		{"GCM wrong AAD", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, sealed.IV, []byte("AAD"), sealed.Tag)
			return err
		}, ErrDecrypt},
		{"GCM missing AAD", func() error {
			_, err := Decrypt(A256GCM, aes256, sealed.Ciphertext, sealed.IV, nil, sealed.Tag)
			return err
		}, ErrDecrypt},
		{"CBC without IV", func() error { _, err := Encrypt(A256CBC, aes256, make([]byte, 16), nil, nil); return err }, ErrInvalidInput},
		{"CBC with 12-byte IV", func() error { _, err := Encrypt(A256CBC, aes256, make([]byte, 16), iv12, nil); return err }, ErrInvalidInput},
		{"CBC not a block multiple", func() error { _, err := Encrypt(A256CBC, aes256, make([]byte, 15), iv16, nil); return err }, ErrInvalidInput},
		{"CBC empty", func() error { _, err := Encrypt(A256CBC, aes256, nil, iv16, nil); return err }, ErrInvalidInput},
		{"CBC with AAD", func() error { _, err := Encrypt(A256CBC, aes256, make([]byte, 16), iv16, []byte("a")); return err }, ErrInvalidInput},
		{"CBCPAD decrypt with tag", func() error {
			_, err := Decrypt(A256CBCPAD, aes256, cbcCT.Ciphertext, iv16, nil, make([]byte, 16))
			return err
		}, ErrInvalidInput},
		{"CBCPAD decrypt with AAD", func() error {
			_, err := Decrypt(A256CBCPAD, aes256, cbcCT.Ciphertext, iv16, []byte("a"), nil)
			return err
		}, ErrInvalidInput},
		{"CBCPAD decrypt without IV", func() error { _, err := Decrypt(A256CBCPAD, aes256, cbcCT.Ciphertext, nil, nil, nil); return err }, ErrInvalidInput},
		{"CBCPAD decrypt not a block multiple", func() error { _, err := Decrypt(A256CBCPAD, aes256, make([]byte, 17), iv16, nil, nil); return err }, ErrInvalidInput},
		{"CBCPAD decrypt empty", func() error { _, err := Decrypt(A256CBCPAD, aes256, nil, iv16, nil, nil); return err }, ErrInvalidInput},
		// Flipping the IV's last bit turns the ten 0x0a padding bytes into
		// nine 0x0a and a final 0x0b.
		{"CBCPAD inconsistent padding", func() error {
			_, err := Decrypt(A256CBCPAD, aes256, cbcCT.Ciphertext, flip(iv16, 15), nil, nil)
			return err
		}, ErrDecrypt},

		{"GCM with 128-bit key for A256GCM", func() error { _, err := Encrypt(A256GCM, aes128, []byte("x"), nil, nil); return err }, ErrAlgorithmMismatch},
		{"CBC with 256-bit key for A128CBC", func() error { _, err := Encrypt(A128CBC, aes256, make([]byte, 16), iv16, nil); return err }, ErrAlgorithmMismatch},
		{"KW for encrypt", func() error { _, err := Encrypt(A256KW, aes256, []byte("x"), nil, nil); return err }, ErrAlgorithmMismatch},
		{"CKM wrap for decrypt", func() error { _, err := Decrypt(CKMAESKeyWrap, aes256, make([]byte, 24), nil, nil, nil); return err }, ErrAlgorithmMismatch},
		{"GCM for wrap", func() error { _, err := Wrap(A256GCM, aes256, make([]byte, 16)); return err }, ErrAlgorithmMismatch},
		{"CBC for unwrap", func() error { _, err := Unwrap(A256CBC, aes256, make([]byte, 16)); return err }, ErrAlgorithmMismatch},
		{"A128KW with a 256-bit key", func() error { _, err := Wrap(A128KW, aes256, make([]byte, 16)); return err }, ErrAlgorithmMismatch},
		{"EC key encrypts", func() error { _, err := Encrypt(RSAOAEP, p256, []byte("x"), nil, nil); return err }, ErrAlgorithmMismatch},
		{"EC key wraps", func() error { _, err := Wrap(RSAOAEP256, p256, make([]byte, 32)); return err }, ErrAlgorithmMismatch},
		{"RSA key with AES", func() error { _, err := Encrypt(A256GCM, rsa2k, []byte("x"), nil, nil); return err }, ErrAlgorithmMismatch},
		{"AES key with RSA", func() error { _, err := Encrypt(RSAOAEP, aes256, []byte("x"), nil, nil); return err }, ErrAlgorithmMismatch},
		{"invalid algorithm", func() error { _, err := Encrypt(0, aes256, []byte("x"), nil, nil); return err }, ErrAlgorithmMismatch},
		{"nil key", func() error { _, err := Decrypt(A256GCM, nil, nil, nil, nil, nil); return err }, ErrAlgorithmMismatch},
		{"RSA-OAEP-256 too long", func() error { _, err := Encrypt(RSAOAEP256, rsa2k, make([]byte, 256-65), nil, nil); return err }, ErrInvalidInput},
		{"RSA-OAEP too long", func() error { _, err := Encrypt(RSAOAEP, rsa2k, make([]byte, 256-41), nil, nil); return err }, ErrInvalidInput},
		{"RSA1_5 too long", func() error { _, err := Wrap(RSA15, rsa2k, make([]byte, 256-10)); return err }, ErrInvalidInput},
		{"RSA with IV", func() error { _, err := Encrypt(RSAOAEP256, rsa2k, []byte("x"), iv16, nil); return err }, ErrInvalidInput},
		{"RSA with AAD", func() error { _, err := Encrypt(RSAOAEP256, rsa2k, []byte("x"), nil, []byte("a")); return err }, ErrInvalidInput},
		{"RSA decrypt with tag", func() error {
			_, err := Decrypt(RSAOAEP256, rsa2k, make([]byte, 256), nil, nil, make([]byte, 16))
			return err
		}, ErrInvalidInput},
		{"RSA-OAEP garbage", func() error {
			_, err := Decrypt(RSAOAEP, rsa2k, bytes.Repeat([]byte{1}, 256), nil, nil, nil)
			return err
		}, ErrDecrypt},
		{"RSA1_5 garbage", func() error { _, err := Decrypt(RSA15, rsa2k, bytes.Repeat([]byte{1}, 256), nil, nil, nil); return err }, ErrDecrypt},
		{"RSA short ciphertext", func() error { _, err := Unwrap(RSAOAEP256, rsa2k, make([]byte, 255)); return err }, ErrDecrypt},
		{"RSA ciphertext ≥ n", func() error {
			_, err := Decrypt(RSAOAEP256, rsa2k, bytes.Repeat([]byte{0xff}, 256), nil, nil, nil)
			return err
		}, ErrDecrypt},
		{"RSA-OAEP-256 ciphertext as RSA-OAEP", func() error {
			s, _ := Encrypt(RSAOAEP256, rsa2k, []byte("x"), nil, nil)
			_, err := Decrypt(RSAOAEP, rsa2k, s.Ciphertext, nil, nil, nil)
			return err
		}, ErrDecrypt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			// ErrDecrypt is uniform: never wrapped with a cause.
			if errors.Is(err, ErrDecrypt) && err != ErrDecrypt {
				t.Fatalf("error = %q, want ErrDecrypt itself", err)
			}
		})
	}
}

func FuzzDecrypt(f *testing.F) {
	k := octKey(f, bytes.Repeat([]byte{4}, 32))
	s, _ := Encrypt(A256GCM, k, []byte("seed"), nil, []byte("aad"))
	f.Add(s.Ciphertext, s.IV, s.Tag, []byte("aad"), uint8(0))
	c, _ := Encrypt(A256CBCPAD, k, []byte("seed"), make([]byte, 16), nil)
	f.Add(c.Ciphertext, c.IV, []byte{}, []byte{}, uint8(2))
	f.Fuzz(func(t *testing.T, ct, iv, tag, aad []byte, which uint8) {
		alg := []EncryptionAlgorithm{A256GCM, A256CBC, A256CBCPAD}[int(which)%3]
		pt, err := Decrypt(alg, k, ct, iv, aad, tag)
		if err != nil {
			if err != ErrDecrypt && !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Decrypt error %v is neither ErrDecrypt nor ErrInvalidInput", err)
			}
			return
		}
		// Whatever decrypts must encrypt back (CBC and CBCPAD are
		// deterministic given the IV).
		if alg != A256GCM {
			s, err := Encrypt(alg, k, pt, iv, aad)
			if err != nil || !bytes.Equal(s.Ciphertext, ct) {
				t.Fatalf("Encrypt(Decrypt(ct)) = %x, %v; want %x", s.Ciphertext, err, ct)
			}
		}
	})
}

// TestCBCPadding decrypts single blocks whose last bytes are every shape of
// PKCS#7 padding, valid and not.
func TestCBCPadding(t *testing.T) {
	k := aesKey(t, 256)
	iv := make([]byte, 16)
	block := func(tail ...byte) []byte { return append(bytes.Repeat([]byte{0xee}, 16-len(tail)), tail...) }
	tests := []struct {
		name    string
		block   []byte
		wantLen int // -1: rejected
	}{
		{"01", block(1), 15},
		{"02 02", block(2, 2), 14},
		{"0f ×15", block(bytes.Repeat([]byte{15}, 15)...), 1},
		{"10 ×16", bytes.Repeat([]byte{16}, 16), 0},
		{"00", block(0), -1},
		{"11", block(17), -1},
		{"ff", block(0xff), -1},
		{"01 02", block(1, 2), -1},
		{"03 03 02", block(3, 3, 2), -1},
		{"03 03 03", block(3, 3, 3), 13},
		{"02 03 03", block(2, 3, 3), -1},
		{"0f ×14", block(bytes.Repeat([]byte{15}, 14)...), -1},
		{"10 ×15 after ee", block(bytes.Repeat([]byte{16}, 15)...), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Encrypt(A256CBC, k, tc.block, iv, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decrypt(A256CBCPAD, k, s.Ciphertext, iv, nil, nil)
			if tc.wantLen < 0 {
				if err != ErrDecrypt {
					t.Fatalf("Decrypt(%x) = %x, %v; want ErrDecrypt", tc.block, got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.block[:tc.wantLen]) {
				t.Fatalf("Decrypt(%x) = %x, %v; want %x", tc.block, got, err, tc.block[:tc.wantLen])
			}
		})
	}
}
