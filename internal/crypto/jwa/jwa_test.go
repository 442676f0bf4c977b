package jwa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	rsaKeys = map[int]*keymat.Key{}
	ecKeys  = map[keymat.Curve]*keymat.Key{}
)

func rsaKey(t testing.TB, bits int) *keymat.Key {
	t.Helper()
	if k := rsaKeys[bits]; k != nil {
		return k
	}
	k, err := keymat.GenerateRSA(bits, 0)
	if err != nil {
		t.Fatal(err)
	}
	rsaKeys[bits] = k
	return k
}

func ecKey(t testing.TB, c keymat.Curve) *keymat.Key {
	t.Helper()
	if k := ecKeys[c]; k != nil {
		return k
	}
	k, err := keymat.GenerateEC(c)
	if err != nil {
		t.Fatal(err)
	}
	ecKeys[c] = k
	return k
}

// RFC 3394 §4 and RFC 5649 §6 known answers.
func TestKeyWrapKnownAnswers(t *testing.T) {
	tests := []struct {
		name          string
		kek, pt, want string
		pad           bool
	}{
		{"3394 4.1 128/128", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5", false},
		{"3394 4.2 192/128", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D", false},
		{"3394 4.6 256/256", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21", false},
		{"5649 6 20 bytes", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a", true},
		{"5649 6 7 bytes", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kek, pt, want := mustHex(tc.kek), mustHex(tc.pt), mustHex(tc.want)
			wrap, unwrap := KeyWrap, KeyUnwrap
			if tc.pad {
				wrap, unwrap = KeyWrapPad, KeyUnwrapPad
			}
			got, err := wrap(kek, pt)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("wrap = %x, %v; want %x", got, err, want)
			}
			back, err := unwrap(kek, got)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("unwrap = %x, %v; want %x", back, err, pt)
			}
			for i := range got {
				bad := bytes.Clone(got)
				bad[i] ^= 1
				if _, err := unwrap(kek, bad); !errors.Is(err, ErrDecrypt) {
					t.Fatalf("unwrap with byte %d flipped: err = %v, want ErrDecrypt", i, err)
				}
			}
		})
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	type tc struct {
		alg  EncryptionAlgorithm
		key  *keymat.Key
		iv   []byte
		pt   []byte
		wrap bool
	}
	var tests []tc
	for _, bits := range []int{2048, 3072, 4096} {
		k := rsaKey(t, bits)
		for _, alg := range []EncryptionAlgorithm{RSAOAEP, RSAOAEP256, RSA15} {
			tests = append(tests, tc{alg: alg, key: k, pt: []byte("hello rsa")}, tc{alg: alg, key: k, pt: bytes.Repeat([]byte{7}, 32), wrap: true})
		}
	}
	iv := bytes.Repeat([]byte{9}, 16)
	for _, n := range []int{16, 24, 32} {
		k := octKey(t, bytes.Repeat([]byte{byte(n)}, n))
		sz := map[int]int{16: 0, 24: 1, 32: 2}[n]
		tests = append(tests,
			tc{alg: []EncryptionAlgorithm{A128GCM, A192GCM, A256GCM}[sz], key: k, pt: []byte("gcm plaintext of odd length")},
			tc{alg: []EncryptionAlgorithm{A128GCM, A192GCM, A256GCM}[sz], key: k, pt: []byte{}},
			tc{alg: []EncryptionAlgorithm{A128CBC, A192CBC, A256CBC}[sz], key: k, iv: iv, pt: bytes.Repeat([]byte("x"), 48)},
			tc{alg: []EncryptionAlgorithm{A128CBCPAD, A192CBCPAD, A256CBCPAD}[sz], key: k, iv: iv, pt: []byte("any length at all")},
			tc{alg: []EncryptionAlgorithm{A128KW, A192KW, A256KW}[sz], key: k, pt: bytes.Repeat([]byte{1}, 32), wrap: true},
			tc{alg: CKMAESKeyWrap, key: k, pt: bytes.Repeat([]byte{2}, 24), wrap: true},
			tc{alg: CKMAESKeyWrapPad, key: k, pt: []byte("odd"), wrap: true},
		)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d/wrap=%v", tc.alg, tc.key.Bits(), tc.wrap), func(t *testing.T) {
			if tc.wrap {
				w, err := Wrap(tc.alg, tc.key, tc.pt)
				if err != nil {
					t.Fatalf("Wrap() error = %v", err)
				}
				got, err := Unwrap(tc.alg, tc.key, w)
				if err != nil || !bytes.Equal(got, tc.pt) {
					t.Fatalf("Unwrap() = %x, %v; want %x", got, err, tc.pt)
				}
				return
			}
			s, err := Encrypt(tc.alg, tc.key, tc.pt, tc.iv, nil)
			if err != nil {
				t.Fatalf("Encrypt() error = %v", err)
			}
			if tc.alg.isGCM() && (len(s.IV) != 12 || len(s.Tag) != 16 || len(s.Ciphertext) != len(tc.pt)) {
				t.Fatalf("GCM result iv %d tag %d ct %d bytes", len(s.IV), len(s.Tag), len(s.Ciphertext))
			}
			got, err := Decrypt(tc.alg, tc.key, s.Ciphertext, s.IV, nil, s.Tag)
			if err != nil || !bytes.Equal(got, tc.pt) {
				t.Fatalf("Decrypt() = %x, %v; want %x", got, err, tc.pt)
			}
		})
	}
}

func TestEncryptRejects(t *testing.T) {
	aes256 := octKey(t, bytes.Repeat([]byte{1}, 32))
	aes128 := octKey(t, bytes.Repeat([]byte{1}, 16))
	rsa2k := rsaKey(t, 2048)
	p256 := ecKey(t, keymat.CurveP256)
	tests := []struct {
		name string
		err  error
		fn   func() error
	}{
		{"GCM with client IV", ErrInvalidInput, func() error {
			_, err := Encrypt(A256GCM, aes256, []byte("x"), make([]byte, 12), nil)
			return err
		}},
		{"CBC without IV", ErrInvalidInput, func() error { _, err := Encrypt(A256CBC, aes256, make([]byte, 16), nil, nil); return err }},
		{"CBC not block multiple", ErrInvalidInput, func() error {
			_, err := Encrypt(A256CBC, aes256, make([]byte, 15), make([]byte, 16), nil)
			return err
		}},
		{"size mismatch", ErrAlgorithmMismatch, func() error { _, err := Encrypt(A256GCM, aes128, []byte("x"), nil, nil); return err }},
		{"KW for encrypt", ErrAlgorithmMismatch, func() error { _, err := Encrypt(A256KW, aes256, []byte("x"), nil, nil); return err }},
		{"GCM for wrap", ErrAlgorithmMismatch, func() error { _, err := Wrap(A256GCM, aes256, make([]byte, 16)); return err }},
		{"EC encrypt", ErrAlgorithmMismatch, func() error { _, err := Encrypt(RSAOAEP, p256, []byte("x"), nil, nil); return err }},
		{"RSA too long", ErrInvalidInput, func() error { _, err := Encrypt(RSAOAEP256, rsa2k, make([]byte, 300), nil, nil); return err }},
		{"GCM tampered", ErrDecrypt, func() error {
			s, _ := Encrypt(A256GCM, aes256, []byte("secret"), nil, []byte("aad"))
			s.Ciphertext[0] ^= 1
			_, err := Decrypt(A256GCM, aes256, s.Ciphertext, s.IV, []byte("aad"), s.Tag)
			return err
		}},
		{"GCM wrong aad", ErrDecrypt, func() error {
			s, _ := Encrypt(A256GCM, aes256, []byte("secret"), nil, []byte("aad"))
			_, err := Decrypt(A256GCM, aes256, s.Ciphertext, s.IV, []byte("AAD"), s.Tag)
			return err
		}},
		{"CBCPAD bad padding", ErrDecrypt, func() error {
			_, err := Decrypt(A256CBCPAD, aes256, make([]byte, 32), make([]byte, 16), nil, nil)
			return err
		}},
		{"RSA garbage", ErrDecrypt, func() error { _, err := Decrypt(RSAOAEP, rsa2k, make([]byte, 256), nil, nil, nil); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.err) {
				t.Errorf("error = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestSignVerifyWithStdlib(t *testing.T) {
	msg := []byte("coffer")
	for _, bits := range []int{2048, 3072, 4096} {
		k := rsaKey(t, bits)
		for _, alg := range []SignatureAlgorithm{RS256, RS384, RS512, PS256, PS384, PS512} {
			t.Run(fmt.Sprintf("%s/%d", alg, bits), func(t *testing.T) {
				h := alg.hash().New()
				h.Write(msg)
				d := h.Sum(nil)
				sig, err := Sign(alg, k, d)
				if err != nil {
					t.Fatal(err)
				}
				pub := &k.RSA().PublicKey
				if alg.isPSS() {
					err = rsa.VerifyPSS(pub, alg.hash(), d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
				} else {
					err = rsa.VerifyPKCS1v15(pub, alg.hash(), d, sig)
				}
				if err != nil {
					t.Fatalf("stdlib rejects %s signature: %v", alg, err)
				}
				if ok, err := Verify(alg, k, d, sig); !ok || err != nil {
					t.Fatalf("Verify() = %v, %v", ok, err)
				}
				sig[0] ^= 1
				if ok, _ := Verify(alg, k, d, sig); ok {
					t.Fatal("Verify() accepted a corrupted signature")
				}
			})
		}
	}
	for _, tc := range []struct {
		c   keymat.Curve
		alg SignatureAlgorithm
	}{{keymat.CurveP256, ES256}, {keymat.CurveP384, ES384}, {keymat.CurveP521, ES512}, {keymat.CurveP256K, ES256K}} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			k := ecKey(t, tc.c)
			h := tc.alg.hash().New()
			h.Write(msg)
			d := h.Sum(nil)
			sig, err := Sign(tc.alg, k, d)
			if err != nil {
				t.Fatal(err)
			}
			n := tc.c.ByteLen()
			if len(sig) != 2*n {
				t.Fatalf("signature is %d bytes, want %d", len(sig), 2*n)
			}
			if ec := k.ECDSA(); ec != nil && !ecdsa.Verify(&ec.PublicKey, d, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
				t.Fatal("stdlib ecdsa.Verify rejects the signature")
			}
			if ok, err := VerifyPublic(tc.alg, k.Public(), d, sig); !ok || err != nil {
				t.Fatalf("VerifyPublic() = %v, %v", ok, err)
			}
			if ok, _ := VerifyPublic(tc.alg, k.Public(), d, sig[:len(sig)-1]); ok {
				t.Fatal("VerifyPublic() accepted a truncated signature")
			}
		})
	}
}

func TestSignChecks(t *testing.T) {
	p256 := ecKey(t, keymat.CurveP256)
	d := sha256.Sum256([]byte("x"))
	if _, err := Sign(ES384, p256, d[:]); !errors.Is(err, ErrAlgorithmMismatch) {
		t.Errorf("Sign(ES384, P-256) error = %v, want ErrAlgorithmMismatch", err)
	}
	if _, err := Sign(ES256, p256, d[:31]); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Sign(ES256, 31-byte digest) error = %v, want ErrInvalidInput", err)
	}
	if _, err := Sign(RS256, rsaKey(t, 2048), d[:20]); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Sign(RS256, 20-byte digest) error = %v, want ErrInvalidInput", err)
	}
	if _, err := ParseSignatureAlgorithm("RSNULL"); err == nil {
		t.Error("ParseSignatureAlgorithm(RSNULL) succeeded, want error")
	}
	k := octKey(t, bytes.Repeat([]byte{3}, 32))
	for _, alg := range []SignatureAlgorithm{HS256, HS384, HS512} {
		mac, err := Sign(alg, k, []byte("message"))
		if err != nil || len(mac) != alg.hash().Size() {
			t.Fatalf("Sign(%s) = %x, %v", alg, mac, err)
		}
		if ok, _ := Verify(alg, k, []byte("message"), mac); !ok {
			t.Errorf("Verify(%s) rejected its own MAC", alg)
		}
		if ok, _ := Verify(alg, k, []byte("messagE"), mac); ok {
			t.Errorf("Verify(%s) accepted a MAC for another message", alg)
		}
	}
}

func TestBYOKRoundTrip(t *testing.T) {
	kek := rsaKey(t, 3072)
	targets := []*keymat.Key{rsaKey(t, 2048), ecKey(t, keymat.CurveP384), ecKey(t, keymat.CurveP256K), octKey(t, bytes.Repeat([]byte{5}, 32))}
	for _, target := range targets {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384} {
			t.Run(fmt.Sprintf("%s/%s", target, h), func(t *testing.T) {
				plain, err := target.MarshalPKCS8()
				if err != nil {
					t.Fatal(err)
				}
				blob, err := WrapRSAAES(kek.Public(), h, plain)
				if err != nil {
					t.Fatal(err)
				}
				got, err := UnwrapRSAAES(kek, h, blob)
				if err != nil {
					t.Fatalf("UnwrapRSAAES() error = %v", err)
				}
				back, err := keymat.FromPKCS8(target.Type(), target.Curve(), got)
				if err != nil || !back.Equal(target) {
					t.Fatalf("FromPKCS8(unwrapped) = %v, %v; want the original key", back, err)
				}
				blob[len(blob)-1] ^= 1
				if _, err := UnwrapRSAAES(kek, h, blob); !errors.Is(err, ErrDecrypt) {
					t.Fatalf("UnwrapRSAAES(tampered) error = %v, want ErrDecrypt", err)
				}
			})
		}
	}
}

func FuzzKeyUnwrap(f *testing.F) {
	f.Add(mustHex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"), false)
	f.Add(mustHex("afbeb0f07dfbf5419200f2ccb50bb24f"), true)
	kek := mustHex("000102030405060708090A0B0C0D0E0F")
	f.Fuzz(func(t *testing.T, ct []byte, pad bool) {
		unwrap, wrap := KeyUnwrap, KeyWrap
		if pad {
			unwrap, wrap = KeyUnwrapPad, KeyWrapPad
		}
		pt, err := unwrap(kek, ct)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("unwrap error %v is not ErrDecrypt", err)
			}
			return
		}
		again, err := wrap(kek, pt)
		if err != nil || !bytes.Equal(again, ct) {
			t.Fatalf("wrap(unwrap(ct)) = %x, %v; want %x", again, err, ct)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	k := octKey(f, bytes.Repeat([]byte{4}, 32))
	f.Add([]byte("0123456789abcdef"), []byte("0123456789abcdef"), []byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, ct, iv, tag []byte, which uint8) {
		alg := []EncryptionAlgorithm{A256GCM, A256CBC, A256CBCPAD}[int(which)%3]
		if _, err := Decrypt(alg, k, ct, iv, nil, tag); err != nil && !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("Decrypt error %v is neither ErrDecrypt nor ErrInvalidInput", err)
		}
	})
}

func benchSign(b *testing.B, alg SignatureAlgorithm, k *keymat.Key) {
	h := alg.hash().New()
	h.Write([]byte("bench"))
	d := h.Sum(nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Sign(alg, k, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The raw crypto limit: full-stack benchmarks report against these.
func BenchmarkSign(b *testing.B) {
	b.Run("ES256", func(b *testing.B) { benchSign(b, ES256, ecKey(b, keymat.CurveP256)) })
	b.Run("RS256", func(b *testing.B) { benchSign(b, RS256, rsaKey(b, 2048)) })
}

func BenchmarkWrap(b *testing.B) {
	aes := octKey(b, bytes.Repeat([]byte{1}, 32))
	cek := bytes.Repeat([]byte{2}, 32)
	r := rsaKey(b, 2048)
	for _, tc := range []struct {
		name string
		alg  EncryptionAlgorithm
		k    *keymat.Key
	}{{"A256KW", A256KW, aes}, {"RSA-OAEP-256", RSAOAEP256, r}} {
		b.Run(tc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := Wrap(tc.alg, tc.k, cek); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		w, _ := Wrap(tc.alg, tc.k, cek)
		b.Run(tc.name+"/unwrap", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := Unwrap(tc.alg, tc.k, w); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
