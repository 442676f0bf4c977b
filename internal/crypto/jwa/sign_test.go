package jwa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

func digestFor(alg SignatureAlgorithm, msg []byte) []byte {
	h := alg.hash().New()
	h.Write(msg)
	return h.Sum(nil)
}

// secp256k1 domain parameters, SEC 2 §2.4.1.
var (
	k1P, _  = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F", 16)
	k1N, _  = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
	k1Gx, _ = new(big.Int).SetString("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798", 16)
	k1Gy, _ = new(big.Int).SetString("483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8", 16)
)

// k1Point is an affine point on secp256k1; nil coordinates are infinity.
type k1Point struct{ x, y *big.Int }

func (a k1Point) add(b k1Point) k1Point {
	switch {
	case a.x == nil:
		return b
	case b.x == nil:
		return a
	}
	var l *big.Int
	if a.x.Cmp(b.x) == 0 {
		if new(big.Int).Add(a.y, b.y).Mod(new(big.Int).Add(a.y, b.y), k1P).Sign() == 0 {
			return k1Point{}
		}
		// λ = 3x² / 2y
		num := new(big.Int).Mul(a.x, a.x)
		num.Mul(num, big.NewInt(3))
		den := new(big.Int).Lsh(a.y, 1)
		l = num.Mul(num, den.ModInverse(den, k1P))
	} else {
		// λ = (y₂ - y₁) / (x₂ - x₁)
		num := new(big.Int).Sub(b.y, a.y)
		den := new(big.Int).Sub(b.x, a.x)
		den.Mod(den, k1P)
		l = num.Mul(num, den.ModInverse(den, k1P))
	}
	l.Mod(l, k1P)
	x := new(big.Int).Mul(l, l)
	x.Sub(x, a.x).Sub(x, b.x).Mod(x, k1P)
	y := new(big.Int).Sub(a.x, x)
	y.Mul(y, l).Sub(y, a.y).Mod(y, k1P)
	return k1Point{x, y}
}

func (a k1Point) mul(k *big.Int) k1Point {
	var r k1Point
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = r.add(r)
		if k.Bit(i) == 1 {
			r = r.add(a)
		}
	}
	return r
}

// verifyK1Reference is textbook ECDSA verification (SEC 1 §4.1.4) on
// secp256k1 with math/big: slow and not constant-time, but independent of
// the decred implementation that Sign and VerifyPublic use.
func verifyK1Reference(x, y, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(k1N) >= 0 || s.Cmp(k1N) >= 0 {
		return false
	}
	e := new(big.Int).SetBytes(digest)
	w := new(big.Int).ModInverse(s, k1N)
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, k1N)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, k1N)
	q := k1Point{new(big.Int).SetBytes(x), new(big.Int).SetBytes(y)}
	sum := k1Point{k1Gx, k1Gy}.mul(u1).add(q.mul(u2))
	return sum.x != nil && new(big.Int).Mod(sum.x, k1N).Cmp(r) == 0
}

// TestSignVerifiedIndependently signs with every signature algorithm and
// verifies with something other than this package: the standard library
// for RSA, ECDSA and HMAC, the reference implementation above for P-256K.
func TestSignVerifiedIndependently(t *testing.T) {
	msg := []byte("coffer")
	type tc struct {
		alg SignatureAlgorithm
		key *keymat.Key
	}
	var tests []tc
	for _, bits := range []int{2048, 3072, 4096} {
		for _, alg := range []SignatureAlgorithm{RS256, RS384, RS512, PS256, PS384, PS512} {
			tests = append(tests, tc{alg, rsaKey(t, bits)})
		}
	}
	tests = append(tests,
		tc{ES256, ecKey(t, keymat.CurveP256)}, tc{ES256K, ecKey(t, keymat.CurveP256K)},
		tc{ES384, ecKey(t, keymat.CurveP384)}, tc{ES512, ecKey(t, keymat.CurveP521)})
	for _, bits := range []int{128, 192, 256} {
		for _, alg := range []SignatureAlgorithm{HS256, HS384, HS512} {
			tests = append(tests, tc{alg, aesKey(t, bits)})
		}
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v", tc.alg, tc.key), func(t *testing.T) {
			d := digestFor(tc.alg, msg)
			if tc.alg.isHMAC() {
				d = msg // HS* MAC the value itself
			}
			sig, err := Sign(tc.alg, tc.key, d)
			if err != nil {
				t.Fatalf("Sign() error = %v", err)
			}
			switch {
			case tc.alg.isPSS():
				// The salt is exactly the hash length, as JWA specifies.
				opts := &rsa.PSSOptions{SaltLength: tc.alg.hash().Size(), Hash: tc.alg.hash()}
				if err := rsa.VerifyPSS(&tc.key.RSA().PublicKey, tc.alg.hash(), d, sig, opts); err != nil {
					t.Fatalf("rsa.VerifyPSS() error = %v", err)
				}
			case tc.alg.isRSA():
				if err := rsa.VerifyPKCS1v15(&tc.key.RSA().PublicKey, tc.alg.hash(), d, sig); err != nil {
					t.Fatalf("rsa.VerifyPKCS1v15() error = %v", err)
				}
				// PKCS#1 v1.5 signatures are deterministic.
				if again, _ := Sign(tc.alg, tc.key, d); !bytes.Equal(again, sig) {
					t.Fatal("two RSASSA-PKCS1-v1_5 signatures of one digest differ")
				}
			case tc.alg == ES256K:
				p := tc.key.Public()
				if !verifyK1Reference(p.X, p.Y, d, sig) {
					t.Fatal("reference ECDSA verification rejects the signature")
				}
				if s := new(big.Int).SetBytes(sig[32:]); s.Cmp(new(big.Int).Rsh(k1N, 1)) > 0 {
					t.Errorf("ES256K signature has a high s")
				}
			case tc.alg.curve() != 0:
				n := tc.key.Curve().ByteLen()
				if len(sig) != 2*n {
					t.Fatalf("signature is %d bytes, want %d", len(sig), 2*n)
				}
				r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
				if !ecdsa.Verify(&tc.key.ECDSA().PublicKey, d, r, s) {
					t.Fatal("ecdsa.Verify rejects the signature")
				}
			case tc.alg.isHMAC():
				h := map[SignatureAlgorithm]func() hash.Hash{HS256: sha256.New, HS384: sha512.New384, HS512: sha512.New}[tc.alg]
				m := hmac.New(h, tc.key.Symmetric().Expose())
				m.Write(msg)
				if want := m.Sum(nil); !bytes.Equal(sig, want) {
					t.Fatalf("Sign() = %x, want crypto/hmac's %x", sig, want)
				}
			}
			if ok, err := Verify(tc.alg, tc.key, d, sig); !ok || err != nil {
				t.Fatalf("Verify() = %v, %v; want true", ok, err)
			}
			if !tc.alg.isHMAC() {
				if ok, err := VerifyPublic(tc.alg, tc.key.Public(), d, sig); !ok || err != nil {
					t.Fatalf("VerifyPublic() = %v, %v; want true", ok, err)
				}
			}
			other := bytes.Clone(d)
			other[0] ^= 1
			if ok, err := Verify(tc.alg, tc.key, other, sig); ok || err != nil {
				t.Fatalf("Verify(other digest) = %v, %v; want false", ok, err)
			}
		})
	}
}

// TestHMACKnownAnswers checks tags computed by pyca/cryptography.
func TestHMACKnownAnswers(t *testing.T) {
	v := interop(t)
	if len(v.HMAC) == 0 {
		t.Fatal("no HMAC vectors")
	}
	for i, tc := range v.HMAC {
		alg, err := ParseSignatureAlgorithm(tc.Alg)
		if err != nil {
			t.Fatal(err)
		}
		k := octKey(t, tc.Key)
		got, err := Sign(alg, k, tc.Msg)
		if err != nil || !bytes.Equal(got, tc.MAC) {
			t.Errorf("vector %d: Sign(%s, %d-byte key, %d-byte value) = %x, %v; want %x", i, alg, len(tc.Key), len(tc.Msg), got, err, []byte(tc.MAC))
		}
		if ok, err := Verify(alg, k, tc.Msg, tc.MAC); !ok || err != nil {
			t.Errorf("vector %d: Verify(%s) = %v, %v; want true", i, alg, ok, err)
		}
		if ok, err := Verify(alg, k, tc.Msg, tc.MAC[:len(tc.MAC)-1]); ok || err != nil {
			t.Errorf("vector %d: Verify(%s, truncated tag) = %v, %v; want false", i, alg, ok, err)
		}
	}
	t.Logf("%d HMAC vectors from %s checked", len(v.HMAC), v.Generator)
}

// TestES256KInterop verifies pyca/cryptography's secp256k1 signatures,
// which are randomised and not normalised to low s, and their mirror
// images (s replaced by n - s): both forms are valid ECDSA signatures and
// VerifyPublic accepts both, as it does on the NIST curves.
func TestES256KInterop(t *testing.T) {
	v := interop(t)
	pub, err := keymat.NewECPublicKey(keymat.CurveP256K, v.ES256K.X, v.ES256K.Y)
	if err != nil {
		t.Fatal(err)
	}
	var high, low int
	for i, tc := range v.ES256K.Tests {
		if tc.HighS {
			high++
		} else {
			low++
		}
		mirror := bytes.Clone(tc.Sig)
		s := new(big.Int).SetBytes(tc.Sig[32:])
		new(big.Int).Sub(k1N, s).FillBytes(mirror[32:])
		for _, sig := range [][]byte{tc.Sig, mirror} {
			if !verifyK1Reference(v.ES256K.X, v.ES256K.Y, tc.Digest, sig) {
				t.Fatalf("vector %d: the reference implementation rejects %x", i, sig)
			}
			if ok, err := VerifyPublic(ES256K, pub, tc.Digest, sig); !ok || err != nil {
				t.Errorf("vector %d (high s %v): VerifyPublic(%x) = %v, %v; want true", i, tc.HighS, sig, ok, err)
			}
		}
		other := bytes.Clone(tc.Digest)
		other[31] ^= 1
		if ok, err := VerifyPublic(ES256K, pub, other, tc.Sig); ok || err != nil {
			t.Errorf("vector %d: VerifyPublic(other digest) = %v, %v; want false", i, ok, err)
		}
	}
	if high == 0 || low == 0 {
		t.Fatalf("vectors hold %d high-s and %d low-s signatures; want some of each", high, low)
	}
	t.Logf("%d high-s and %d low-s secp256k1 signatures from %s checked", high, low, v.Generator)
}

// TestHighS checks the other curves behave like P-256K: the mirror image
// of a valid signature verifies.
func TestHighS(t *testing.T) {
	for _, tc := range []struct {
		alg SignatureAlgorithm
		c   keymat.Curve
		n   *big.Int
	}{
		{ES256, keymat.CurveP256, elliptic.P256().Params().N},
		{ES384, keymat.CurveP384, elliptic.P384().Params().N},
		{ES512, keymat.CurveP521, elliptic.P521().Params().N},
		{ES256K, keymat.CurveP256K, k1N},
	} {
		k := ecKey(t, tc.c)
		d := digestFor(tc.alg, []byte("mirror"))
		sig, err := Sign(tc.alg, k, d)
		if err != nil {
			t.Fatal(err)
		}
		l := tc.c.ByteLen()
		mirror := bytes.Clone(sig)
		new(big.Int).Sub(tc.n, new(big.Int).SetBytes(sig[l:])).FillBytes(mirror[l:])
		if ok, err := VerifyPublic(tc.alg, k.Public(), d, mirror); !ok || err != nil {
			t.Errorf("VerifyPublic(%s, r‖n-s) = %v, %v; want true", tc.alg, ok, err)
		}
	}
}

// TestVerifyMalformed checks that signatures of the wrong form are false,
// not errors.
func TestVerifyMalformed(t *testing.T) {
	for _, tc := range []struct {
		alg SignatureAlgorithm
		key *keymat.Key
		n   *big.Int // group order for ECDSA
	}{
		{ES256, ecKey(t, keymat.CurveP256), elliptic.P256().Params().N},
		{ES256K, ecKey(t, keymat.CurveP256K), k1N},
		{ES384, ecKey(t, keymat.CurveP384), elliptic.P384().Params().N},
		{ES512, ecKey(t, keymat.CurveP521), elliptic.P521().Params().N},
		{RS256, rsaKey(t, 2048), nil},
		{PS512, rsaKey(t, 3072), nil},
		{HS256, aesKey(t, 256), nil},
	} {
		d := digestFor(tc.alg, []byte("m"))
		sig, err := Sign(tc.alg, tc.key, d)
		if err != nil {
			t.Fatal(err)
		}
		bad := map[string][]byte{
			"empty":          nil,
			"truncated":      sig[:len(sig)-1],
			"one byte extra": append(bytes.Clone(sig), 0),
			"leading zero":   append([]byte{0}, sig...),
			"all zeros":      make([]byte, len(sig)),
			"all ones":       bytes.Repeat([]byte{0xff}, len(sig)),
			"DER-looking":    append([]byte{0x30, byte(len(sig))}, sig...),
		}
		if tc.n != nil {
			l := len(sig) / 2
			set := func(r, s *big.Int) []byte {
				b := make([]byte, 2*l)
				r.FillBytes(b[:l])
				s.FillBytes(b[l:])
				return b
			}
			r, s := new(big.Int).SetBytes(sig[:l]), new(big.Int).SetBytes(sig[l:])
			bad["r = 0"] = set(new(big.Int), s)
			bad["s = 0"] = set(r, new(big.Int))
			bad["r = n"] = set(tc.n, s)
			bad["s = n"] = set(r, tc.n)
			// r + n and s + n fit in the field only on some curves.
			if rn := new(big.Int).Add(r, tc.n); rn.BitLen() <= 8*l {
				bad["r + n"] = set(rn, s)
			}
			if sn := new(big.Int).Add(s, tc.n); sn.BitLen() <= 8*l {
				bad["s + n"] = set(r, sn)
			}
			bad["r and s swapped"] = set(s, r)
		}
		for name, b := range bad {
			ok, err := Verify(tc.alg, tc.key, d, b)
			if ok || err != nil {
				t.Errorf("Verify(%s, %s) = %v, %v; want false, nil", tc.alg, name, ok, err)
			}
			if tc.alg.isHMAC() {
				continue
			}
			if ok, err := VerifyPublic(tc.alg, tc.key.Public(), d, b); ok || err != nil {
				t.Errorf("VerifyPublic(%s, %s) = %v, %v; want false, nil", tc.alg, name, ok, err)
			}
		}
	}
}

func TestSignRejects(t *testing.T) {
	p256, k1 := ecKey(t, keymat.CurveP256), ecKey(t, keymat.CurveP256K)
	rsa2k, aes := rsaKey(t, 2048), aesKey(t, 256)
	d32, d48, d64 := make([]byte, 32), make([]byte, 48), make([]byte, 64)
	offCurve := p256.Public()
	offCurve.Y = bytes.Clone(offCurve.Y)
	offCurve.Y[31] ^= 1
	k1Off := k1.Public()
	k1Off.Y = bytes.Clone(k1Off.Y)
	k1Off.Y[31] ^= 1
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"ES384 with a P-256 key", func() error { _, err := Sign(ES384, p256, d48); return err }, ErrAlgorithmMismatch},
		{"ES256 with a P-256K key", func() error { _, err := Sign(ES256, k1, d32); return err }, ErrAlgorithmMismatch},
		{"ES256K with a P-256 key", func() error { _, err := Sign(ES256K, p256, d32); return err }, ErrAlgorithmMismatch},
		{"RS256 with an EC key", func() error { _, err := Sign(RS256, p256, d32); return err }, ErrAlgorithmMismatch},
		{"ES256 with an RSA key", func() error { _, err := Sign(ES256, rsa2k, d32); return err }, ErrAlgorithmMismatch},
		{"HS256 with an RSA key", func() error { _, err := Sign(HS256, rsa2k, d32); return err }, ErrAlgorithmMismatch},
		{"PS256 with an AES key", func() error { _, err := Sign(PS256, aes, d32); return err }, ErrAlgorithmMismatch},
		{"invalid algorithm", func() error { _, err := Sign(0, rsa2k, d32); return err }, ErrAlgorithmMismatch},
		{"nil key", func() error { _, err := Sign(RS256, nil, d32); return err }, ErrAlgorithmMismatch},
		{"Verify nil key", func() error { _, err := Verify(RS256, nil, d32, nil); return err }, ErrAlgorithmMismatch},
		{"VerifyPublic HS256", func() error { _, err := VerifyPublic(HS256, aes.Public(), d32, d32); return err }, ErrAlgorithmMismatch},
		{"VerifyPublic ES384 with a P-256 key", func() error { _, err := VerifyPublic(ES384, p256.Public(), d48, d64); return err }, ErrAlgorithmMismatch},
		{"VerifyPublic empty key", func() error { _, err := VerifyPublic(ES256, keymat.PublicKey{}, d32, d64); return err }, ErrAlgorithmMismatch},
		{"VerifyPublic point off the curve", func() error { _, err := VerifyPublic(ES256, offCurve, d32, d64); return err }, ErrInvalidInput},
		{"VerifyPublic P-256K point off the curve", func() error { _, err := VerifyPublic(ES256K, k1Off, d32, d64); return err }, ErrInvalidInput},
		{"ES256 31-byte digest", func() error { _, err := Sign(ES256, p256, d32[:31]); return err }, ErrInvalidInput},
		{"ES256 48-byte digest", func() error { _, err := Sign(ES256, p256, d48); return err }, ErrInvalidInput},
		{"ES256K empty digest", func() error { _, err := Sign(ES256K, k1, nil); return err }, ErrInvalidInput},
		{"ES512 32-byte digest", func() error { _, err := Sign(ES512, ecKey(t, keymat.CurveP521), d32); return err }, ErrInvalidInput},
		{"RS256 20-byte digest", func() error { _, err := Sign(RS256, rsa2k, d32[:20]); return err }, ErrInvalidInput},
		{"RS384 32-byte digest", func() error { _, err := Sign(RS384, rsa2k, d32); return err }, ErrInvalidInput},
		{"PS512 48-byte digest", func() error { _, err := Sign(PS512, rsa2k, d48); return err }, ErrInvalidInput},
		{"Verify RS256 33-byte digest", func() error { _, err := Verify(RS256, rsa2k, append(d32, 0), nil); return err }, ErrInvalidInput},
		{"VerifyPublic PS256 64-byte digest", func() error { _, err := VerifyPublic(PS256, rsa2k.Public(), d64, nil); return err }, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
	// HS* take values of any length, including none.
	for _, n := range []int{0, 1, 31, 33, 1000} {
		if _, err := Sign(HS512, aes, make([]byte, n)); err != nil {
			t.Errorf("Sign(HS512, %d-byte value) error = %v", n, err)
		}
	}
	if h := ES512.hash(); h != crypto.SHA512 {
		t.Errorf("ES512 hash = %v, want SHA-512", h)
	}
}

func FuzzVerifyPublic(f *testing.F) {
	k := ecKey(f, keymat.CurveP256)
	d := digestFor(ES256, []byte("fuzz"))
	sig, _ := Sign(ES256, k, d)
	f.Add(uint8(0), sig, d)
	f.Add(uint8(1), make([]byte, 64), d)
	f.Add(uint8(2), make([]byte, 256), d)
	pubs := []keymat.PublicKey{k.Public(), ecKey(f, keymat.CurveP256K).Public(), rsaKey(f, 2048).Public()}
	algs := []SignatureAlgorithm{ES256, ES256K, RS256}
	f.Fuzz(func(t *testing.T, which uint8, sig, digest []byte) {
		i := int(which) % len(algs)
		ok, err := VerifyPublic(algs[i], pubs[i], digest, sig)
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("VerifyPublic error %v is not ErrInvalidInput", err)
		}
		if ok && !(i == 0 && bytes.Equal(digest, d)) {
			// Only the seed's digest has a known signature (and its
			// mirror image); forging one for another is not expected.
			t.Fatalf("VerifyPublic(%s) accepted %x for digest %x", algs[i], sig, digest)
		}
	})
}
