package keymat

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"math/big"
	"testing"
)

func TestNewRSAPublicKey(t *testing.T) {
	k := keyOf(t, KeyTypeRSA, 0, 2048)
	n, e := k.Public().N, k.Public().E
	// odd returns an l-byte odd number: n's first bytes and its (odd) last.
	odd := func(l int) []byte { return append(bytes.Clone(n[:l-1]), n[len(n)-1]) }
	tests := []struct {
		name    string
		n, e    []byte
		wantErr bool
	}{
		{name: "key", n: n, e: e},
		{name: "leading zeros", n: append([]byte{0}, n...), e: []byte{0, 1, 0, 1}},
		{name: "e=3", n: n, e: []byte{3}},
		{name: "1024-bit", n: odd(128), e: e},
		{name: "16384-bit", n: bytes.Repeat([]byte{0xff}, 2048), e: e},
		{name: "16392-bit", n: bytes.Repeat([]byte{0xff}, 2049), e: e, wantErr: true},
		{name: "1016-bit", n: odd(127), e: e, wantErr: true},
		{name: "even n", n: append(bytes.Clone(n[:255]), 0xfe), e: e, wantErr: true},
		{name: "empty n", n: nil, e: e, wantErr: true},
		{name: "e=1", n: n, e: []byte{1}, wantErr: true},
		{name: "e=2", n: n, e: []byte{2}, wantErr: true},
		{name: "even e", n: n, e: []byte{1, 0, 0}, wantErr: true},
		{name: "e of 2^31+1", n: n, e: []byte{0x80, 0, 0, 1}, wantErr: true},
		{name: "empty e", n: n, e: nil, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewRSAPublicKey(tc.n, tc.e)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("NewRSAPublicKey() = %+v, %v; want ErrInvalidKey", p, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRSAPublicKey() error = %v", err)
			}
			if p.Type != KeyTypeRSA || p.N[0] == 0 || p.E[0] == 0 || !bytes.Equal(p.N, bytes.TrimLeft(tc.n, "\x00")) {
				t.Fatalf("NewRSAPublicKey() = %+v, want the minimal form of the input", p)
			}
			cpk, err := p.CryptoPublicKey()
			if err != nil {
				t.Fatalf("CryptoPublicKey() error = %v", err)
			}
			if rp, ok := cpk.(*rsa.PublicKey); !ok || rp.N.Cmp(new(big.Int).SetBytes(tc.n)) != 0 || rp.E != int(new(big.Int).SetBytes(tc.e).Int64()) {
				t.Fatalf("CryptoPublicKey() = %v, want the input", cpk)
			}
		})
	}
}

func TestNewECPublicKey(t *testing.T) {
	for _, k := range generated(t) {
		if k.Type() != KeyTypeEC {
			continue
		}
		t.Run(k.Curve().String(), func(t *testing.T) {
			p := k.Public()
			got, err := NewECPublicKey(k.Curve(), p.X, p.Y)
			if err != nil || !bytes.Equal(got.X, p.X) || !bytes.Equal(got.Y, p.Y) || got.Type != KeyTypeEC || got.Curve != k.Curve() {
				t.Fatalf("NewECPublicKey(own point) = %+v, %v; want %+v", got, err, p)
			}
			n := k.Curve().ByteLen()
			offCurve := bytes.Clone(p.Y)
			offCurve[n-1] ^= 1
			other := CurveP384
			if k.Curve() == CurveP384 {
				other = CurveP256
			}
			bad := []struct {
				name string
				c    Curve
				x, y []byte
			}{
				{"off the curve", k.Curve(), p.X, offCurve},
				{"origin", k.Curve(), make([]byte, n), make([]byte, n)},
				{"x too long", k.Curve(), append([]byte{0}, p.X...), p.Y},
				{"empty", k.Curve(), nil, nil},
				{"other curve", other, p.X, p.Y},
				{"curve 0", 0, p.X, p.Y},
				{"x = p", k.Curve(), bytes.Repeat([]byte{0xff}, n), p.Y},
			}
			for _, tc := range bad {
				if got, err := NewECPublicKey(tc.c, tc.x, tc.y); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("NewECPublicKey(%s) = %+v, %v; want ErrInvalidKey", tc.name, got, err)
				}
			}
			cpk, err := p.CryptoPublicKey()
			if k.Curve() == CurveP256K {
				if err == nil {
					t.Errorf("CryptoPublicKey(P-256K) = %v, want an error (no standard library type)", cpk)
				}
				pk, err := p.Secp256k1PublicKey()
				if err != nil || !pk.IsEqual(k.Secp256k1().PubKey()) {
					t.Errorf("Secp256k1PublicKey() = %v, %v; want the key's public key", pk, err)
				}
				return
			}
			if ep, ok := cpk.(*ecdsa.PublicKey); err != nil || !ok || !ep.Equal(&k.ECDSA().PublicKey) {
				t.Errorf("CryptoPublicKey() = %v, %v; want the key's public key", cpk, err)
			}
			if _, err := p.Secp256k1PublicKey(); err == nil {
				t.Errorf("Secp256k1PublicKey() of a %v key succeeded", k.Curve())
			}
		})
	}
	oct := keyOf(t, KeyTypeOct, 0, 256)
	if cpk, err := oct.Public().CryptoPublicKey(); err == nil {
		t.Errorf("CryptoPublicKey(oct) = %v, want an error", cpk)
	}
}
