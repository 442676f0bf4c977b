package keymat

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

func generateAll(t testing.TB) []*Key {
	t.Helper()
	var keys []*Key
	for _, bits := range []int{2048, 3072} {
		k, err := GenerateRSA(bits, 65537)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, c := range []Curve{CurveP256, CurveP256K, CurveP384, CurveP521} {
		k, err := GenerateEC(c)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, bits := range []int{128, 192, 256} {
		k, err := GenerateOct(bits)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, k := range generateAll(t) {
		t.Run(k.String(), func(t *testing.T) {
			b, err := k.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalKey(b)
			if err != nil {
				t.Fatalf("UnmarshalKey() error = %v", err)
			}
			if !back.Equal(k) || back.Bits() != k.Bits() || back.Curve() != k.Curve() {
				t.Fatalf("UnmarshalKey(MarshalBinary(k)) = %v, want %v", back, k)
			}
			again, _ := back.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Fatal("encoding is not canonical")
			}
			if _, err := UnmarshalKey(append(b, 0)); err == nil {
				t.Error("UnmarshalKey accepted trailing bytes")
			}
		})
	}
}

func TestPublicKeys(t *testing.T) {
	for _, k := range generateAll(t) {
		p := k.Public()
		switch k.Type() {
		case KeyTypeRSA:
			if _, err := NewRSAPublicKey(p.N, p.E); err != nil {
				t.Errorf("NewRSAPublicKey(%v) error = %v", k, err)
			}
			if !bytes.Equal(p.E, []byte{1, 0, 1}) {
				t.Errorf("E = %x, want 010001", p.E)
			}
		case KeyTypeEC:
			if len(p.X) != k.Curve().ByteLen() || len(p.Y) != k.Curve().ByteLen() {
				t.Errorf("%v coordinates are %d/%d bytes", k, len(p.X), len(p.Y))
			}
			if _, err := NewECPublicKey(p.Curve, p.X, p.Y); err != nil {
				t.Errorf("NewECPublicKey(%v) error = %v", k, err)
			}
			bad := bytes.Clone(p.Y)
			bad[len(bad)-1] ^= 1
			if _, err := NewECPublicKey(p.Curve, p.X, bad); err == nil {
				t.Errorf("NewECPublicKey(%v) accepted a point off the curve", k)
			}
		}
	}
}

// TestNoLeaks formats keys and secrets every way a careless caller might,
// and checks the secret bytes never appear.
func TestNoLeaks(t *testing.T) {
	k, _ := FromOct(bytes.Repeat([]byte{0xAB}, 32))
	s := NewSecret(bytes.Repeat([]byte{0xCD}, 16))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", k, "secret", s)
	jk, jkErr := json.Marshal(k)
	js, jsErr := json.Marshal(s)
	if jkErr == nil || jsErr == nil {
		t.Error("json.Marshal of a Key or Secret succeeded")
	}
	outputs := []string{
		fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s %x", s, s, s, s, s),
		logged.String(), string(jk), string(js),
	}
	for _, out := range outputs {
		for _, marker := range []string{"abababab", "ABABABAB", "cdcdcdcd", "CDCDCDCD", "\xab\xab\xab", "\xcd\xcd\xcd", "q6urq6ur", "zc3Nzc3N"} {
			if strings.Contains(out, marker) {
				t.Fatalf("output %q leaks secret bytes", out)
			}
		}
	}
}

func TestFromJWK(t *testing.T) {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	priv.Precompute()
	rsaJWK := JWK{Kty: "RSA", N: priv.N.Bytes(), E: []byte{1, 0, 1}, D: priv.D.Bytes(), P: priv.Primes[0].Bytes(), Q: priv.Primes[1].Bytes(),
		DP: priv.Precomputed.Dp.Bytes(), DQ: priv.Precomputed.Dq.Bytes(), QI: priv.Precomputed.Qinv.Bytes()}
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecD, _ := ec.Bytes()
	ecPub, _ := ec.PublicKey.Bytes()
	ecJWK := JWK{Kty: "EC-HSM", Crv: "P-384", D: ecD, X: ecPub[1:49], Y: ecPub[49:]}
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	otherD, _ := other.Bytes()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)

	with := func(j JWK, f func(*JWK)) JWK { f(&j); return j }
	tests := []struct {
		name    string
		jwk     JWK
		wantErr string
	}{
		{"rsa", rsaJWK, ""},
		{"rsa without crt", with(rsaJWK, func(j *JWK) { j.DP, j.DQ, j.QI = nil, nil, nil }), ""},
		{"rsa public only", JWK{Kty: "RSA", N: priv.N.Bytes(), E: []byte{1, 0, 1}}, "private members"},
		{"rsa wrong dp", with(rsaJWK, func(j *JWK) { j.DP = big.NewInt(5).Bytes() }), "dp"},
		{"rsa inconsistent d", with(rsaJWK, func(j *JWK) { j.D = big.NewInt(12345).Bytes() }), "inconsistent"},
		{"rsa 1024", JWK{Kty: "RSA", N: small.N.Bytes(), E: []byte{1, 0, 1}, D: small.D.Bytes(), P: small.Primes[0].Bytes(), Q: small.Primes[1].Bytes()}, "not supported"},
		{"ec", ecJWK, ""},
		{"ec d of another key", with(ecJWK, func(j *JWK) { j.D = otherD }), "does not match"},
		{"ec missing d", with(ecJWK, func(j *JWK) { j.D = nil }), "missing"},
		{"ec bad curve", with(ecJWK, func(j *JWK) { j.Crv = "P-192" }), "unknown curve"},
		{"ec wrong curve", with(ecJWK, func(j *JWK) { j.Crv = "P-256" }), "too long"},
		{"oct", JWK{Kty: "oct", K: make([]byte, 32)}, ""},
		{"oct odd size", JWK{Kty: "oct", K: make([]byte, 20)}, "not supported"},
		{"oct too large", JWK{Kty: "oct", K: make([]byte, 65)}, "too large, maximum size is 64"},
		{"unknown kty", JWK{Kty: "OKP"}, "unknown key type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FromJWK(tc.jwk)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("FromJWK() error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("FromJWK() = %v, %v; want error containing %q", k, err, tc.wantErr)
			}
		})
	}
}

func TestPKCS8RoundTrip(t *testing.T) {
	for _, k := range generateAll(t) {
		der, err := k.MarshalPKCS8()
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromPKCS8(k.Type(), k.Curve(), der)
		if err != nil || !back.Equal(k) {
			t.Fatalf("FromPKCS8(%v) = %v, %v", k, back, err)
		}
		if k.Type() == KeyTypeEC {
			wrong := CurveP384
			if k.Curve() == CurveP384 {
				wrong = CurveP256
			}
			if _, err := FromPKCS8(KeyTypeEC, wrong, der); err == nil {
				t.Errorf("FromPKCS8(%v) as %s succeeded", k, wrong)
			}
		}
	}
	// The standard library agrees with our secp256k1-free encodings.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	if k, err := FromPKCS8(KeyTypeEC, CurveP256, der); err != nil || !k.ECDSA().Equal(ec) {
		t.Fatalf("FromPKCS8(stdlib P-256) = %v, %v", k, err)
	}
}

func FuzzFromJWK(f *testing.F) {
	k, _ := GenerateEC(CurveP256)
	p := k.Public()
	d, _ := k.ECDSA().Bytes()
	f.Add("EC", "P-256", []byte{}, []byte{}, d, p.X, p.Y, []byte{})
	f.Add("oct", "", []byte{}, []byte{}, []byte{}, []byte{}, []byte{}, make([]byte, 16))
	f.Fuzz(func(t *testing.T, kty, crv string, n, e, d, x, y, kk []byte) {
		key, err := FromJWK(JWK{Kty: kty, Crv: crv, N: n, E: e, D: d, X: x, Y: y, K: kk})
		if err != nil {
			return
		}
		b, err := key.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of an accepted key: %v", err)
		}
		back, err := UnmarshalKey(b)
		if err != nil || !back.Equal(key) {
			t.Fatalf("round trip of an accepted key failed: %v", err)
		}
	})
}

func FuzzUnmarshalKey(f *testing.F) {
	for _, k := range generateAll(f) {
		b, _ := k.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := UnmarshalKey(b)
		if err != nil {
			return
		}
		again, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted encoding is not canonical")
		}
	})
}

func FuzzFromPKCS8(f *testing.F) {
	for _, k := range generateAll(f) {
		if k.Type() != KeyTypeOct {
			der, _ := k.MarshalPKCS8()
			f.Add(uint8(k.Type()), uint8(k.Curve()), der)
		}
	}
	f.Fuzz(func(t *testing.T, typ, crv uint8, der []byte) {
		k, err := FromPKCS8(KeyType(typ), Curve(crv), der)
		if err == nil && k.Type() != KeyType(typ) {
			t.Fatalf("FromPKCS8 returned a %v for type %d", k.Type(), typ)
		}
	})
}
