package keymat

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	for _, k := range allKeys(t) {
		t.Run(k.String(), func(t *testing.T) {
			b, err := k.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary() error = %v", err)
			}
			if b[0] != encodingV1 || KeyType(b[1]) != k.Type() {
				t.Fatalf("MarshalBinary() starts %x, want version %d and type %d", b[:2], encodingV1, k.Type())
			}
			back, err := UnmarshalKey(b)
			if err != nil {
				t.Fatalf("UnmarshalKey() error = %v", err)
			}
			if !back.Equal(k) || back.Bits() != k.Bits() || back.Curve() != k.Curve() || back.Type() != k.Type() {
				t.Fatalf("UnmarshalKey(MarshalBinary(k)) = %v, want %v", back, k)
			}
			again, err := back.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("MarshalBinary(UnmarshalKey(b)) differs from b (err %v): the encoding is not canonical", err)
			}
			if _, err := UnmarshalKey(append(bytes.Clone(b), 0)); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("UnmarshalKey(b ‖ 0) error = %v, want ErrInvalidKey", err)
			}
			if _, err := UnmarshalKey(b[:len(b)-1]); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("UnmarshalKey(b without its last byte) error = %v, want ErrInvalidKey", err)
			}
		})
	}
}

// TestMarshalKnownLayout pins the storage layout: sealed records written
// today must decode forever.
func TestMarshalKnownLayout(t *testing.T) {
	oct, _ := FromOct(bytes.Repeat([]byte{0x11}, 16))
	d := make([]byte, 32)
	d[31] = 1 // the scalar 1: the public point is the generator
	p256, err := newEC(CurveP256, d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := newEC(CurveP256K, d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		k    *Key
		want []byte
	}{
		{"oct", oct, append([]byte{1, 3}, bytes.Repeat([]byte{0x11}, 16)...)},
		{"P-256", p256, append([]byte{1, 1, 1}, d...)},
		{"P-256K", k1, append([]byte{1, 1, 2}, d...)},
	}
	for _, tc := range tests {
		got, err := tc.k.MarshalBinary()
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: MarshalBinary() = %x, %v; want %x", tc.name, got, err, tc.want)
		}
	}
	// secp256k1's generator, SEC 2 §2.4.1, as the public half of scalar 1.
	gx, _ := new(big.Int).SetString("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798", 16)
	if got := k1.Public().X; !bytes.Equal(got, gx.Bytes()) {
		t.Errorf("P-256K scalar 1 public X = %x, want the generator %x", got, gx)
	}
}

func TestUnmarshalKeyRejects(t *testing.T) {
	rsaKey := keyOf(t, KeyTypeRSA, 0, 2048).RSA()
	pkcs1DER := x509.MarshalPKCS1PrivateKey(rsaKey)
	withD := func(d *big.Int) []byte {
		b, err := asn1.Marshal(pkcs1{N: rsaKey.N, E: big.NewInt(int64(rsaKey.E)), D: d, P: rsaKey.Primes[0], Q: rsaKey.Primes[1],
			Dp: rsaKey.Precomputed.Dp, Dq: rsaKey.Precomputed.Dq, Qinv: rsaKey.Precomputed.Qinv})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	multi, err := asn1.Marshal(pkcs1{Version: 1, N: rsaKey.N, E: big.NewInt(int64(rsaKey.E)), D: rsaKey.D, P: rsaKey.Primes[0], Q: rsaKey.Primes[1],
		Dp: rsaKey.Precomputed.Dp, Dq: rsaKey.Precomputed.Dq, Qinv: rsaKey.Precomputed.Qinv, AdditionalPrimes: []asn1.RawValue{{FullBytes: []byte{0x30, 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	n256, _ := new(big.Int).SetString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
	nK1, _ := new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version only", []byte{1}},
		{"version and type only", []byte{1, 3}},
		{"version 0", cat([]byte{0, 3}, make([]byte, 16))},
		{"version 2", cat([]byte{2, 3}, make([]byte, 16))},
		{"type 0", cat([]byte{1, 0}, make([]byte, 16))},
		{"type 4", cat([]byte{1, 4}, make([]byte, 16))},
		{"oct 15 bytes", cat([]byte{1, 3}, make([]byte, 15))},
		{"oct 33 bytes", cat([]byte{1, 3}, make([]byte, 33))},
		{"EC curve 0", cat([]byte{1, 1, 0}, make([]byte, 32))},
		{"EC curve 5", cat([]byte{1, 1, 5}, make([]byte, 32))},
		{"EC P-256 short scalar", cat([]byte{1, 1, 1}, bytes.Repeat([]byte{1}, 31))},
		{"EC P-256 long scalar", cat([]byte{1, 1, 1}, bytes.Repeat([]byte{1}, 33))},
		{"EC P-384 scalar on P-256", cat([]byte{1, 1, 3}, bytes.Repeat([]byte{1}, 32))},
		{"EC P-256 zero scalar", cat([]byte{1, 1, 1}, make([]byte, 32))},
		{"EC P-256 scalar n", cat([]byte{1, 1, 1}, n256.Bytes())},
		{"EC P-256K zero scalar", cat([]byte{1, 1, 2}, make([]byte, 32))},
		{"EC P-256K scalar n", cat([]byte{1, 1, 2}, nK1.Bytes())},
		{"RSA not DER", cat([]byte{1, 2}, []byte("not a key"))},
		{"RSA trailing byte", cat([]byte{1, 2}, pkcs1DER, []byte{0})},
		{"RSA wrong d", cat([]byte{1, 2}, withD(new(big.Int).Add(rsaKey.D, big.NewInt(2))))},
		{"RSA multi-prime", cat([]byte{1, 2}, multi)},
		{"RSA PKCS#8 instead of PKCS#1", cat([]byte{1, 2}, must(x509.MarshalPKCS8PrivateKey(rsaKey)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := UnmarshalKey(tc.in); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("UnmarshalKey(%s) = %v, %v; want ErrInvalidKey", tc.name, k, err)
			}
		})
	}
	// The untouched PKCS#1 body is accepted, so the cases above fail for
	// the reason they name.
	if _, err := UnmarshalKey(cat([]byte{1, 2}, pkcs1DER)); err != nil {
		t.Errorf("UnmarshalKey(RSA) error = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func FuzzUnmarshalKey(f *testing.F) {
	for _, k := range generated(f) {
		b, err := k.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 1, 1})
	f.Add([]byte{1, 2, 0x30, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := UnmarshalKey(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("UnmarshalKey error %v does not match ErrInvalidKey", err)
			}
			return
		}
		again, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("MarshalBinary(UnmarshalKey(%x)) = %x, %v; want the input", b, again, err)
		}
	})
}
