package keymat

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// rsaJWK returns the full private JWK of an RSA key.
func rsaJWK(t testing.TB, k *Key) JWK {
	t.Helper()
	r := k.RSA()
	pc := r.Precomputed
	return JWK{Kty: "RSA", N: r.N.Bytes(), E: big.NewInt(int64(r.E)).Bytes(), D: r.D.Bytes(),
		P: r.Primes[0].Bytes(), Q: r.Primes[1].Bytes(), DP: pc.Dp.Bytes(), DQ: pc.Dq.Bytes(), QI: pc.Qinv.Bytes()}
}

// ecJWK returns the full private JWK of an EC key.
func ecJWK(t testing.TB, k *Key) JWK {
	t.Helper()
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := k.Public()
	return JWK{Kty: "EC", Crv: k.Curve().String(), D: b[3:], X: p.X, Y: p.Y}
}

func TestFromJWK(t *testing.T) {
	rsa2k := keyOf(t, KeyTypeRSA, 0, 2048)
	var rsaOther *Key
	for _, ik := range interopKeys(t) {
		if ik.Name == "RSA 2048" {
			rsaOther = must(FromJWK(ik.jwk()))
		}
	}
	p384, k1, p256 := keyOf(t, KeyTypeEC, CurveP384, 0), keyOf(t, KeyTypeEC, CurveP256K, 0), keyOf(t, KeyTypeEC, CurveP256, 0)
	otherP384 := must(GenerateEC(CurveP384))
	rj, ej, kj := rsaJWK(t, rsa2k), ecJWK(t, p384), ecJWK(t, k1)

	// A P-256 key whose x starts with a zero byte, to check that shortened
	// coordinates (as some encoders write them) are accepted.
	var shortX *Key
	for shortX == nil {
		k := must(GenerateEC(CurveP256))
		if k.Public().X[0] == 0 {
			shortX = k
		}
	}
	sj := ecJWK(t, shortX)
	sj.X = sj.X[1:]
	// And one whose private scalar starts with a zero byte.
	var shortD *Key
	for shortD == nil {
		k := must(GenerateEC(CurveP256))
		if b := must(k.MarshalBinary()); b[3] == 0 {
			shortD = k
		}
	}
	dj := ecJWK(t, shortD)
	dj.D = dj.D[1:]

	n384, _ := new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16)
	with := func(j JWK, f func(*JWK)) JWK { f(&j); return j }
	tests := []struct {
		name    string
		jwk     JWK
		want    *Key   // for accepted keys
		wantErr string // substring of the error
	}{
		{name: "RSA", jwk: rj, want: rsa2k},
		{name: "RSA-HSM without CRT values", jwk: with(rj, func(j *JWK) { j.Kty, j.DP, j.DQ, j.QI = "RSA-HSM", nil, nil, nil }), want: rsa2k},
		{name: "RSA with only qi", jwk: with(rj, func(j *JWK) { j.DP, j.DQ = nil, nil }), want: rsa2k},
		{name: "RSA members with leading zeros", jwk: with(rj, func(j *JWK) { j.N, j.D = append([]byte{0}, j.N...), append([]byte{0}, j.D...) }), want: rsa2k},
		{name: "RSA public only", jwk: JWK{Kty: "RSA", N: rj.N, E: rj.E}, wantErr: "public-only keys cannot be imported"},
		{name: "RSA missing q", jwk: with(rj, func(j *JWK) { j.Q = nil }), wantErr: "missing the private members"},
		{name: "RSA missing e", jwk: with(rj, func(j *JWK) { j.E = nil }), wantErr: "missing n or e"},
		{name: "RSA wrong dp", jwk: with(rj, func(j *JWK) { j.DP = big.NewInt(5).Bytes() }), wantErr: "member dp does not match"},
		{name: "RSA wrong dq", jwk: with(rj, func(j *JWK) { j.DQ = rj.DP }), wantErr: "member dq does not match"},
		{name: "RSA wrong qi", jwk: with(rj, func(j *JWK) { j.QI = rj.DQ }), wantErr: "member qi does not match"},
		{name: "RSA d of another key", jwk: with(rj, func(j *JWK) { j.D = rsaOther.RSA().D.Bytes() }), wantErr: "inconsistent"},
		{name: "RSA d off by two", jwk: with(rj, func(j *JWK) { j.D = new(big.Int).Add(rsa2k.RSA().D, big.NewInt(2)).Bytes() }), wantErr: "inconsistent"},
		{name: "RSA p of another key", jwk: with(rj, func(j *JWK) { j.P = rsaOther.RSA().Primes[0].Bytes() }), wantErr: "inconsistent"},
		{name: "RSA n of another key", jwk: with(rj, func(j *JWK) { j.N = rsaOther.RSA().N.Bytes() }), wantErr: "inconsistent"},
		{name: "RSA even e", jwk: with(rj, func(j *JWK) { j.E = []byte{1, 0, 0} }), wantErr: "exponent is out of range"},
		{name: "RSA e=1", jwk: with(rj, func(j *JWK) { j.E = []byte{1} }), wantErr: "exponent is out of range"},
		{name: "RSA huge e", jwk: with(rj, func(j *JWK) { j.E = bytes.Repeat([]byte{0xff}, 9) }), wantErr: "exponent is out of range"},
		{name: "RSA 1024", jwk: JWK{Kty: "RSA", N: rj.N[:128], E: rj.E, D: rj.D[:128], P: rj.P[:64], Q: rj.Q[:64]}, wantErr: "size 1024 is not supported"},
		{name: "RSA oversized n", jwk: with(rj, func(j *JWK) { j.N = bytes.Repeat([]byte{0xff}, 1024) }), wantErr: "larger than 4096 bits"},
		{name: "RSA oversized p", jwk: with(rj, func(j *JWK) { j.P = bytes.Repeat([]byte{0xff}, 1024) }), wantErr: "larger than the modulus"},
		{name: "RSA with crv", jwk: with(rj, func(j *JWK) { j.Crv = "P-256" }), wantErr: "crv property is not allowed in an RSA key"},
		{name: "RSA with k", jwk: with(rj, func(j *JWK) { j.K = make([]byte, 32) }), wantErr: "k property is not allowed"},
		{name: "RSA with x", jwk: with(rj, func(j *JWK) { j.X = ej.X }), wantErr: "x property is not allowed"},

		{name: "EC P-384", jwk: ej, want: p384},
		{name: "EC-HSM P-384 lower-case crv", jwk: with(ej, func(j *JWK) { j.Kty, j.Crv = "EC-HSM", "p-384" }), want: p384},
		{name: "EC P-256K", jwk: kj, want: k1},
		{name: "EC P-256 with shortened x", jwk: sj, want: shortX},
		{name: "EC P-256 with shortened d", jwk: dj, want: shortD},
		{name: "EC public only", jwk: with(ej, func(j *JWK) { j.D = nil }), wantErr: "public-only keys cannot be imported"},
		{name: "EC missing y", jwk: with(ej, func(j *JWK) { j.Y = nil }), wantErr: "missing x or y"},
		{name: "EC missing x", jwk: with(ej, func(j *JWK) { j.X = nil }), wantErr: "missing x or y"},
		{name: "EC d of another key", jwk: with(ej, func(j *JWK) { j.D = ecJWK(t, otherP384).D }), wantErr: "does not match the public point"},
		{name: "EC y of another key", jwk: with(ej, func(j *JWK) { j.Y = otherP384.Public().Y }), wantErr: "does not match the public point"},
		{name: "EC zero d", jwk: with(ej, func(j *JWK) { j.D = make([]byte, 48) }), wantErr: "out of range"},
		{name: "EC d equal to n", jwk: with(ej, func(j *JWK) { j.D = n384.Bytes() }), wantErr: "out of range"},
		{name: "EC d too long", jwk: with(ej, func(j *JWK) { j.D = append([]byte{0}, j.D...) }), wantErr: "wrong length"},
		{name: "EC x too long", jwk: with(ej, func(j *JWK) { j.X = append([]byte{0}, j.X...) }), wantErr: "too long"},
		{name: "EC missing crv", jwk: with(ej, func(j *JWK) { j.Crv = "" }), wantErr: "unknown curve"},
		{name: "EC unknown crv", jwk: with(ej, func(j *JWK) { j.Crv = "P-192" }), wantErr: "unknown curve"},
		{name: "EC P-384 material named P-256", jwk: with(ej, func(j *JWK) { j.Crv = "P-256" }), wantErr: "wrong length"},
		{name: "EC P-256 material named P-256K", jwk: with(ecJWK(t, p256), func(j *JWK) { j.Crv = "P-256K" }), wantErr: "does not match the public point"},
		{name: "EC with n", jwk: with(ej, func(j *JWK) { j.N = rj.N }), wantErr: "n property is not allowed in an EC key"},
		{name: "EC with k", jwk: with(ej, func(j *JWK) { j.K = make([]byte, 16) }), wantErr: "k property is not allowed"},

		{name: "oct 128", jwk: JWK{Kty: "oct", K: bytes.Repeat([]byte{1}, 16)}, want: must(FromOct(bytes.Repeat([]byte{1}, 16)))},
		{name: "oct-HSM 192", jwk: JWK{Kty: "oct-HSM", K: bytes.Repeat([]byte{2}, 24)}, want: must(FromOct(bytes.Repeat([]byte{2}, 24)))},
		{name: "oct 256", jwk: JWK{Kty: "oct", K: bytes.Repeat([]byte{3}, 32)}, want: must(FromOct(bytes.Repeat([]byte{3}, 32)))},
		{name: "oct without k", jwk: JWK{Kty: "oct"}, wantErr: "k property of oct key is required"},
		{name: "oct 20 bytes", jwk: JWK{Kty: "oct", K: make([]byte, 20)}, wantErr: "oct key of 20 bytes is not supported"},
		{name: "oct 64 bytes", jwk: JWK{Kty: "oct", K: make([]byte, 64)}, wantErr: "oct key of 64 bytes is not supported"},
		{name: "oct 65 bytes", jwk: JWK{Kty: "oct", K: make([]byte, 65)}, wantErr: "k property of oct key is too large, maximum size is 64"},
		{name: "oct with d", jwk: JWK{Kty: "oct", K: make([]byte, 32), D: []byte{1}}, wantErr: "d property is not allowed in an oct key"},
		{name: "oct with crv", jwk: JWK{Kty: "oct", K: make([]byte, 32), Crv: "P-256"}, wantErr: "crv property is not allowed"},

		{name: "no kty", jwk: JWK{K: make([]byte, 32)}, wantErr: "unknown key type"},
		{name: "OKP", jwk: JWK{Kty: "OKP", Crv: "Ed25519", D: make([]byte, 32), X: make([]byte, 32)}, wantErr: "unknown key type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FromJWK(tc.jwk)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("FromJWK() = %v, %v; want an ErrInvalidKey error containing %q", k, err, tc.wantErr)
				}
				for _, secret := range [][]byte{tc.jwk.D, tc.jwk.P, tc.jwk.Q, tc.jwk.K} {
					if len(secret) >= 4 && strings.Contains(strings.ToLower(err.Error()), hex.EncodeToString(secret[:4])) {
						t.Fatalf("FromJWK() error %q contains key bytes", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FromJWK() error = %v", err)
			}
			if !k.Equal(tc.want) {
				t.Fatalf("FromJWK() = %v, want the key the JWK was made from (%v)", k, tc.want)
			}
		})
	}
}

// TestFromJWKInterop imports keys made by another implementation both as
// JWKs and as PKCS#8, and checks that both give the same key.
func TestFromJWKInterop(t *testing.T) {
	for _, ik := range interopKeys(t) {
		t.Run(ik.Name, func(t *testing.T) {
			fromJWK, err := FromJWK(ik.jwk())
			if err != nil {
				t.Fatalf("FromJWK() error = %v", err)
			}
			typ := must(ParseKeyType(ik.Kty))
			var crv Curve
			if ik.Crv != "" {
				crv = must(ParseCurve(ik.Crv))
			}
			fromPKCS8, err := FromPKCS8(typ, crv, ik.PKCS8)
			if err != nil {
				t.Fatalf("FromPKCS8() error = %v", err)
			}
			if !fromPKCS8.Equal(fromJWK) {
				t.Fatalf("FromPKCS8() = %v, FromJWK() = %v: not the same key", fromPKCS8, fromJWK)
			}
			p := fromJWK.Public()
			if !bytes.Equal(p.N, ik.JWK.N) || !bytes.Equal(p.E, ik.JWK.E) || !bytes.Equal(p.X, ik.JWK.X) || !bytes.Equal(p.Y, ik.JWK.Y) {
				t.Errorf("Public() = %+v, want the JWK's public members", p)
			}
			// Our PKCS#8 encoder writes what OpenSSL writes.
			if der, err := fromJWK.MarshalPKCS8(); err != nil || !bytes.Equal(der, ik.PKCS8) {
				t.Errorf("MarshalPKCS8() = %x, %v; want OpenSSL's %x", der, err, []byte(ik.PKCS8))
			}
		})
	}
}

func FuzzFromJWK(f *testing.F) {
	for _, k := range generated(f) {
		var j JWK
		switch k.Type() {
		case KeyTypeRSA:
			j = rsaJWK(f, k)
		case KeyTypeEC:
			j = ecJWK(f, k)
		case KeyTypeOct:
			j = JWK{Kty: "oct", K: k.Symmetric().Expose()}
		}
		f.Add(j.Kty, j.Crv, j.N, j.E, j.D, j.DP, j.DQ, j.QI, j.P, j.Q, j.K, j.X, j.Y)
	}
	f.Fuzz(func(t *testing.T, kty, crv string, n, e, d, dp, dq, qi, p, q, kk, x, y []byte) {
		j := JWK{Kty: kty, Crv: crv, N: n, E: e, D: d, DP: dp, DQ: dq, QI: qi, P: p, Q: q, K: kk, X: x, Y: y}
		key, err := FromJWK(j)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("FromJWK error %v does not match ErrInvalidKey", err)
			}
			return
		}
		b, err := key.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of an accepted key: %v", err)
		}
		back, err := UnmarshalKey(b)
		if err != nil || !back.Equal(key) {
			t.Fatalf("UnmarshalKey(MarshalBinary(%v)) = %v, %v; want an Equal key", key, back, err)
		}
		// The accepted key is the one the JWK describes.
		pub := key.Public()
		switch key.Type() {
		case KeyTypeRSA:
			if !bytes.Equal(pub.N, bytes.TrimLeft(n, "\x00")) || !bytes.Equal(pub.E, bytes.TrimLeft(e, "\x00")) {
				t.Fatalf("FromJWK accepted an RSA key whose public half differs from n, e")
			}
		case KeyTypeEC:
			if !equalPadded(pub.X, x) || !equalPadded(pub.Y, y) {
				t.Fatalf("FromJWK accepted an EC key whose point differs from x, y")
			}
		case KeyTypeOct:
			if !bytes.Equal(key.Symmetric().Expose(), kk) {
				t.Fatalf("FromJWK accepted an oct key other than k")
			}
		}
	})
}

// The standard library's P-256 keys import as JWKs too (a second source
// of EC keys besides our own generator).
func TestFromJWKStdlibEC(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := priv.Bytes()
		pub, _ := priv.PublicKey.Bytes()
		n := (c.Params().BitSize + 7) / 8
		k, err := FromJWK(JWK{Kty: "EC", Crv: c.Params().Name, D: d, X: pub[1 : 1+n], Y: pub[1+n:]})
		if err != nil {
			t.Fatalf("FromJWK(%s) error = %v", c.Params().Name, err)
		}
		if !k.ECDSA().Equal(priv) {
			t.Errorf("FromJWK(%s) = %v, want the standard library's key", c.Params().Name, k)
		}
	}
}
