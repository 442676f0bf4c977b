package jwa

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// RFC 3394 §4.1–4.6 and RFC 5649 §6.
func TestKeyWrapKnownAnswers(t *testing.T) {
	const (
		kek  = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
		data = "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"
	)
	tests := []struct {
		name          string
		kek, pt, want string
		pad           bool
	}{
		{"RFC 3394 4.1 128-bit KEK, 128-bit data", kek[:32], data[:32], "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5", false},
		{"RFC 3394 4.2 192-bit KEK, 128-bit data", kek[:48], data[:32], "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D", false},
		{"RFC 3394 4.3 256-bit KEK, 128-bit data", kek, data[:32], "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7", false},
		{"RFC 3394 4.4 192-bit KEK, 192-bit data", kek[:48], data[:48], "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2", false},
		{"RFC 3394 4.5 256-bit KEK, 192-bit data", kek, data[:48], "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1", false},
		{"RFC 3394 4.6 256-bit KEK, 256-bit data", kek, data, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21", false},
		{"RFC 5649 6 20 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a", true},
		{"RFC 5649 6 7 octets", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kek, pt, want := mustHex(tc.kek), mustHex(tc.pt), mustHex(tc.want)
			wrap, unwrap, alg := KeyWrap, KeyUnwrap, CKMAESKeyWrap
			if tc.pad {
				wrap, unwrap, alg = KeyWrapPad, KeyUnwrapPad, CKMAESKeyWrapPad
			}
			got, err := wrap(kek, pt)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("wrap(%s, %s) = %x, %v; want %x", tc.kek, tc.pt, got, err, want)
			}
			back, err := unwrap(kek, got)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("unwrap(%s, %x) = %x, %v; want %x", tc.kek, got, back, err, pt)
			}
			// The same through the API with a keymat key: CKM_* for any
			// KEK size, and A*KW when the sizes match.
			k := octKey(t, kek)
			algs := []EncryptionAlgorithm{alg}
			if !tc.pad {
				algs = append(algs, kwFor[k.Bits()])
			}
			for _, a := range algs {
				if w, err := Wrap(a, k, pt); err != nil || !bytes.Equal(w, want) {
					t.Errorf("Wrap(%s) = %x, %v; want %x", a, w, err, want)
				}
				if u, err := Unwrap(a, k, want); err != nil || !bytes.Equal(u, pt) {
					t.Errorf("Unwrap(%s) = %x, %v; want %x", a, u, err, pt)
				}
			}
			for i := range got {
				for _, bit := range []byte{0x01, 0x80} {
					bad := bytes.Clone(got)
					bad[i] ^= bit
					if p, err := unwrap(kek, bad); err != ErrDecrypt {
						t.Fatalf("unwrap with byte %d changed = %x, %v; want ErrDecrypt", i, p, err)
					}
				}
			}
			if _, err := unwrap(kek[:len(kek)-1], got); err != ErrDecrypt {
				t.Errorf("unwrap with a %d-byte KEK error = %v, want ErrDecrypt", len(kek)-1, err)
			}
		})
	}
}

func TestKeyWrapRoundTrip(t *testing.T) {
	for _, kekLen := range []int{16, 24, 32} {
		kek := bytes.Repeat([]byte{byte(kekLen)}, kekLen)
		for n := 1; n <= 80; n++ {
			pt := make([]byte, n)
			for i := range pt {
				pt[i] = byte(i*7 + n)
			}
			w, err := KeyWrapPad(kek, pt)
			if err != nil || len(w) != (n+7)/8*8+8 {
				t.Fatalf("KeyWrapPad(%d bytes) = %d bytes, %v; want %d", n, len(w), err, (n+7)/8*8+8)
			}
			if got, err := KeyUnwrapPad(kek, w); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("KeyUnwrapPad(KeyWrapPad(%d bytes)) = %x, %v", n, got, err)
			}
			w, err = KeyWrap(kek, pt)
			if n < 16 || n%8 != 0 {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("KeyWrap(%d bytes) error = %v, want ErrInvalidInput", n, err)
				}
				continue
			}
			if err != nil || len(w) != n+8 {
				t.Fatalf("KeyWrap(%d bytes) = %d bytes, %v", n, len(w), err)
			}
			if got, err := KeyUnwrap(kek, w); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("KeyUnwrap(KeyWrap(%d bytes)) = %x, %v", n, got, err)
			}
			// A KW ciphertext is not a KWP one, and the other way round:
			// the initial values differ.
			if _, err := KeyUnwrapPad(kek, w); err != ErrDecrypt {
				t.Fatalf("KeyUnwrapPad(KeyWrap(%d bytes)) error = %v, want ErrDecrypt", n, err)
			}
		}
	}
}

func TestKeyWrapRejects(t *testing.T) {
	kek := make([]byte, 32)
	good, _ := KeyWrap(kek, make([]byte, 16))
	tests := []struct {
		name string
		fn   func() ([]byte, error)
		want error
	}{
		{"KeyWrap 15-byte KEK", func() ([]byte, error) { return KeyWrap(kek[:15], make([]byte, 16)) }, ErrInvalidInput},
		{"KeyWrap 64-byte KEK", func() ([]byte, error) { return KeyWrap(make([]byte, 64), make([]byte, 16)) }, ErrInvalidInput},
		{"KeyWrap empty", func() ([]byte, error) { return KeyWrap(kek, nil) }, ErrInvalidInput},
		{"KeyWrap 8 bytes", func() ([]byte, error) { return KeyWrap(kek, make([]byte, 8)) }, ErrInvalidInput},
		{"KeyWrap 20 bytes", func() ([]byte, error) { return KeyWrap(kek, make([]byte, 20)) }, ErrInvalidInput},
		{"KeyWrapPad empty", func() ([]byte, error) { return KeyWrapPad(kek, nil) }, ErrInvalidInput},
		{"KeyWrapPad 8-byte KEK", func() ([]byte, error) { return KeyWrapPad(kek[:8], []byte{1}) }, ErrInvalidInput},
		{"KeyUnwrap empty", func() ([]byte, error) { return KeyUnwrap(kek, nil) }, ErrDecrypt},
		{"KeyUnwrap 16 bytes", func() ([]byte, error) { return KeyUnwrap(kek, good[:16]) }, ErrDecrypt},
		{"KeyUnwrap 23 bytes", func() ([]byte, error) { return KeyUnwrap(kek, good[:23]) }, ErrDecrypt},
		{"KeyUnwrap bad KEK size", func() ([]byte, error) { return KeyUnwrap(kek[:20], good) }, ErrDecrypt},
		{"KeyUnwrapPad 8 bytes", func() ([]byte, error) { return KeyUnwrapPad(kek, good[:8]) }, ErrDecrypt},
		{"KeyUnwrapPad 17 bytes", func() ([]byte, error) { return KeyUnwrapPad(kek, append(bytes.Clone(good[:16]), 0)) }, ErrDecrypt},
		{"KeyUnwrapPad of a KW ciphertext", func() ([]byte, error) { return KeyUnwrapPad(kek, good) }, ErrDecrypt},
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

// TestKeyUnwrapPadChecks builds KWP ciphertexts whose integrity check value
// is right in every way but one (RFC 5649 §3), using the unpadded wrap
// primitives, and checks each is refused.
func TestKeyUnwrapPadChecks(t *testing.T) {
	kek := bytes.Repeat([]byte{9}, 16)
	b, err := newBlock(kek)
	if err != nil {
		t.Fatal(err)
	}
	aiv := func(prefix [4]byte, mli uint32) [8]byte {
		var a [8]byte
		copy(a[:], prefix[:])
		a[4], a[5], a[6], a[7] = byte(mli>>24), byte(mli>>16), byte(mli>>8), byte(mli)
		return a
	}
	data := func(n, nonZeroAt int) []byte {
		p := bytes.Repeat([]byte{0xaa}, n)
		for i := range p {
			if i >= nonZeroAt {
				p[i] = 0
			}
		}
		return p
	}
	tests := []struct {
		name  string
		a     [8]byte
		p     []byte // padded plaintext, a multiple of 8 bytes, at least 16
		valid bool
	}{
		{"20 bytes, 4 zero pad", aiv(kwpPrefix, 20), data(24, 20), true},
		{"24 bytes, no pad", aiv(kwpPrefix, 24), data(24, 24), true},
		{"17 bytes, 7 zero pad", aiv(kwpPrefix, 17), data(24, 17), true},
		{"wrong prefix", aiv([4]byte{0xa6, 0x59, 0x59, 0xa7}, 20), data(24, 20), false},
		{"RFC 3394 IV", [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}, data(24, 24), false},
		{"MLI 16, a whole block of padding", aiv(kwpPrefix, 16), data(24, 16), false},
		{"MLI 25, longer than the data", aiv(kwpPrefix, 25), data(24, 24), false},
		{"MLI 0", aiv(kwpPrefix, 0), data(24, 0), false},
		{"MLI 2^32-1", aiv(kwpPrefix, 0xffffffff), data(24, 24), false},
		{"non-zero padding", aiv(kwpPrefix, 20), data(24, 21), false},
		{"non-zero last padding byte", aiv(kwpPrefix, 20), append(data(23, 20), 1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := wrapBlocks(b, tc.a, tc.p)
			got, err := KeyUnwrapPad(kek, ct)
			if !tc.valid {
				if err != ErrDecrypt {
					t.Fatalf("KeyUnwrapPad() = %x, %v; want ErrDecrypt", got, err)
				}
				return
			}
			mli := int(tc.a[7]) | int(tc.a[6])<<8
			if err != nil || !bytes.Equal(got, tc.p[:mli]) {
				t.Fatalf("KeyUnwrapPad() = %x, %v; want %x", got, err, tc.p[:mli])
			}
		})
	}
	// The single-block form (§4.1) is checked the same way.
	for _, tc := range []struct {
		name  string
		a     [8]byte
		p     []byte
		valid bool
	}{
		{"one block, 5 bytes", aiv(kwpPrefix, 5), []byte{1, 2, 3, 4, 5, 0, 0, 0}, true},
		{"one block, 8 bytes", aiv(kwpPrefix, 8), bytes.Repeat([]byte{1}, 8), true},
		{"one block, MLI 9", aiv(kwpPrefix, 9), bytes.Repeat([]byte{1}, 8), false},
		{"one block, MLI 0", aiv(kwpPrefix, 0), make([]byte, 8), false},
		{"one block, non-zero padding", aiv(kwpPrefix, 5), []byte{1, 2, 3, 4, 5, 0, 1, 0}, false},
	} {
		ct := make([]byte, 16)
		copy(ct, tc.a[:])
		copy(ct[8:], tc.p)
		b.Encrypt(ct, ct)
		got, err := KeyUnwrapPad(kek, ct)
		if tc.valid != (err == nil) || (!tc.valid && err != ErrDecrypt) {
			t.Errorf("%s: KeyUnwrapPad() = %x, %v; want valid %v", tc.name, got, err, tc.valid)
		}
	}
}

func TestCtLessOrEq(t *testing.T) {
	for _, tc := range []struct {
		x, y uint64
		want int
	}{
		{0, 0, 1}, {0, 1, 1}, {1, 0, 0}, {7, 8, 1}, {9, 8, 0}, {1 << 32, 1<<32 - 1, 0}, {1<<32 - 1, 1 << 32, 1}, {1<<62 - 1, 1 << 62, 1},
	} {
		if got := ctLessOrEq(tc.x, tc.y); got != tc.want {
			t.Errorf("ctLessOrEq(%d, %d) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
	}
}

func FuzzKeyUnwrap(f *testing.F) {
	f.Add(mustHex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"))
	f.Add(mustHex("96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"))
	kek := mustHex("000102030405060708090A0B0C0D0E0F")
	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := KeyUnwrap(kek, ct)
		if err != nil {
			if err != ErrDecrypt {
				t.Fatalf("KeyUnwrap error %v is not ErrDecrypt", err)
			}
			return
		}
		again, err := KeyWrap(kek, pt)
		if err != nil || !bytes.Equal(again, ct) {
			t.Fatalf("KeyWrap(KeyUnwrap(%x)) = %x, %v", ct, again, err)
		}
	})
}

func FuzzKeyUnwrapPad(f *testing.F) {
	kek := mustHex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	f.Add(mustHex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"))
	f.Add(mustHex("afbeb0f07dfbf5419200f2ccb50bb24f"))
	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := KeyUnwrapPad(kek, ct)
		if err != nil {
			if err != ErrDecrypt {
				t.Fatalf("KeyUnwrapPad error %v is not ErrDecrypt", err)
			}
			return
		}
		again, err := KeyWrapPad(kek, pt)
		if err != nil || !bytes.Equal(again, ct) {
			t.Fatalf("KeyWrapPad(KeyUnwrapPad(%x)) = %x, %v", ct, again, err)
		}
	})
}

// TestWrapRoundTrip wraps and unwraps a key with every wrap algorithm and
// every key size that algorithm serves.
func TestWrapRoundTrip(t *testing.T) {
	type tc struct {
		alg EncryptionAlgorithm
		key *keymat.Key
		cek []byte
	}
	var tests []tc
	cek32, cek24, odd := bytes.Repeat([]byte{0x42}, 32), bytes.Repeat([]byte{0x24}, 24), []byte("an odd-length key of 29 bytes")
	for _, bits := range []int{2048, 3072, 4096} {
		for _, alg := range []EncryptionAlgorithm{RSAOAEP, RSAOAEP256, RSA15} {
			tests = append(tests, tc{alg, rsaKey(t, bits), cek32}, tc{alg, rsaKey(t, bits), odd})
		}
	}
	for _, bits := range []int{128, 192, 256} {
		k := aesKey(t, bits)
		tests = append(tests,
			tc{kwFor[bits], k, cek32}, tc{kwFor[bits], k, cek24},
			tc{CKMAESKeyWrap, k, cek32}, tc{CKMAESKeyWrap, k, cek24},
			tc{CKMAESKeyWrapPad, k, cek32}, tc{CKMAESKeyWrapPad, k, odd}, tc{CKMAESKeyWrapPad, k, []byte{1}},
		)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d/%dB", tc.alg, tc.key.Bits(), len(tc.cek)), func(t *testing.T) {
			w, err := Wrap(tc.alg, tc.key, tc.cek)
			if err != nil {
				t.Fatalf("Wrap() error = %v", err)
			}
			// (A key shorter than 8 bytes turns up in random output by chance.)
			if len(tc.cek) >= 8 && bytes.Contains(w, tc.cek) {
				t.Fatal("the wrapped key contains the key")
			}
			got, err := Unwrap(tc.alg, tc.key, w)
			if err != nil || !bytes.Equal(got, tc.cek) {
				t.Fatalf("Unwrap(Wrap(%x)) = %x, %v", tc.cek, got, err)
			}
			if err := CheckEncryption(tc.alg, tc.key, true); err != nil {
				t.Errorf("CheckEncryption(wrap) = %v after a successful Wrap", err)
			}
		})
	}
}
