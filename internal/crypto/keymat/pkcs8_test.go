package keymat

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
)

func TestPKCS8RoundTrip(t *testing.T) {
	for _, k := range allKeys(t) {
		t.Run(k.String(), func(t *testing.T) {
			der, err := k.MarshalPKCS8()
			if err != nil {
				t.Fatalf("MarshalPKCS8() error = %v", err)
			}
			back, err := FromPKCS8(k.Type(), k.Curve(), der)
			if err != nil || !back.Equal(k) {
				t.Fatalf("FromPKCS8(MarshalPKCS8(k)) = %v, %v; want %v", back, err, k)
			}
			if k.Type() == KeyTypeOct {
				return
			}
			// Curve zero means "whichever the key names".
			if back, err := FromPKCS8(k.Type(), 0, der); err != nil || !back.Equal(k) {
				t.Errorf("FromPKCS8(%v, 0) = %v, %v; want %v", k.Type(), back, err, k)
			}
			if k.Type() == KeyTypeEC {
				wrong := CurveP384
				if k.Curve() == CurveP384 {
					wrong = CurveP256
				}
				if _, err := FromPKCS8(KeyTypeEC, wrong, der); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("FromPKCS8(%v key as %s) error = %v, want ErrInvalidKey", k, wrong, err)
				}
			}
			other := KeyTypeEC
			if k.Type() == KeyTypeEC {
				other = KeyTypeRSA
			}
			if _, err := FromPKCS8(other, 0, der); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("FromPKCS8(%v key as %v) error = %v, want ErrInvalidKey", k, other, err)
			}
			if _, err := FromPKCS8(k.Type(), k.Curve(), append(bytes.Clone(der), 0)); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("FromPKCS8(der ‖ 0) error = %v, want ErrInvalidKey", err)
			}
		})
	}
}

// pkcs8Of wraps an inner private key in a PrivateKeyInfo.
func pkcs8Of(t *testing.T, version int, alg asn1.ObjectIdentifier, params any, inner []byte) []byte {
	t.Helper()
	ai := pkix.AlgorithmIdentifier{Algorithm: alg}
	if params != nil {
		ai.Parameters = asn1.RawValue{FullBytes: must(asn1.Marshal(params))}
	}
	return must(asn1.Marshal(pkcs8{Version: version, Algorithm: ai, PrivateKey: inner}))
}

func TestFromPKCS8Rejects(t *testing.T) {
	rsaKey := keyOf(t, KeyTypeRSA, 0, 2048).RSA()
	p256 := keyOf(t, KeyTypeEC, CurveP256, 0)
	k1 := keyOf(t, KeyTypeEC, CurveP256K, 0)
	otherK1 := must(GenerateEC(CurveP256K))
	ecInner := func(k *Key, oid asn1.ObjectIdentifier, pub []byte, version int) []byte {
		b := must(k.MarshalBinary())
		ek := ecPrivateKey{Version: version, PrivateKey: b[3:], NamedCurveOID: oid}
		if pub != nil {
			ek.PublicKey = asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}
		}
		return must(asn1.Marshal(ek))
	}
	uncompressed := func(k *Key) []byte {
		p := k.Public()
		return append(append([]byte{4}, p.X...), p.Y...)
	}
	compressed := func(k *Key) []byte {
		p := k.Public()
		return append([]byte{2 | p.Y[len(p.Y)-1]&1}, p.X...)
	}
	// The CRT values agree with p and q but d does not: crypto/x509 accepts
	// this (it trusts the CRT values), FromPKCS8 must not.
	badD := must(asn1.Marshal(pkcs1{N: rsaKey.N, E: big.NewInt(int64(rsaKey.E)), D: new(big.Int).Add(rsaKey.D, big.NewInt(2)),
		P: rsaKey.Primes[0], Q: rsaKey.Primes[1], Dp: rsaKey.Precomputed.Dp, Dq: rsaKey.Precomputed.Dq, Qinv: rsaKey.Precomputed.Qinv}))
	badQinv := must(asn1.Marshal(pkcs1{N: rsaKey.N, E: big.NewInt(int64(rsaKey.E)), D: rsaKey.D,
		P: rsaKey.Primes[0], Q: rsaKey.Primes[1], Dp: rsaKey.Precomputed.Dp, Dq: rsaKey.Precomputed.Dq, Qinv: big.NewInt(3)}))
	goodPKCS1 := x509.MarshalPKCS1PrivateKey(rsaKey)
	k1OID, p256OID := curveOIDs[CurveP256K], curveOIDs[CurveP256]

	tests := []struct {
		name    string
		typ     KeyType
		crv     Curve
		der     []byte
		wantErr bool
	}{
		{name: "RSA", typ: KeyTypeRSA, der: pkcs8Of(t, 0, oidRSAEncryption, asn1.NullRawValue, goodPKCS1)},
		{name: "RSA, PKCS#8 v2", typ: KeyTypeRSA, der: pkcs8Of(t, 1, oidRSAEncryption, asn1.NullRawValue, goodPKCS1)},
		{name: "RSA, PKCS#8 v3", typ: KeyTypeRSA, der: pkcs8Of(t, 2, oidRSAEncryption, asn1.NullRawValue, goodPKCS1), wantErr: true},
		{name: "RSA with inconsistent d", typ: KeyTypeRSA, der: pkcs8Of(t, 0, oidRSAEncryption, asn1.NullRawValue, badD), wantErr: true},
		{name: "RSA with wrong qi", typ: KeyTypeRSA, der: pkcs8Of(t, 0, oidRSAEncryption, asn1.NullRawValue, badQinv), wantErr: true},
		{name: "RSA inner trailing byte", typ: KeyTypeRSA, der: pkcs8Of(t, 0, oidRSAEncryption, asn1.NullRawValue, append(bytes.Clone(goodPKCS1), 0)), wantErr: true},
		{name: "RSA labelled as EC", typ: KeyTypeRSA, der: pkcs8Of(t, 0, oidECPublicKey, p256OID, goodPKCS1), wantErr: true},
		{name: "not DER", typ: KeyTypeRSA, der: []byte("-----BEGIN PRIVATE KEY-----"), wantErr: true},
		{name: "empty", typ: KeyTypeEC, der: nil, wantErr: true},

		{name: "P-256K with curve and uncompressed point", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, k1OID, uncompressed(k1), 1))},
		{name: "P-256K with compressed point", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, nil, compressed(k1), 1))},
		{name: "P-256K without point", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, nil, nil, 1))},
		{name: "P-256 with compressed point", typ: KeyTypeEC, crv: CurveP256, der: pkcs8Of(t, 0, oidECPublicKey, p256OID, ecInner(p256, nil, compressed(p256), 1))},
		{name: "P-256K with another key's point", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, nil, uncompressed(otherK1), 1)), wantErr: true},
		{name: "P-256K with a truncated point", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, nil, uncompressed(k1)[:64], 1)), wantErr: true},
		{name: "P-256K with a hybrid point", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, nil, append([]byte{6}, uncompressed(k1)[1:]...), 1)), wantErr: true},
		{name: "P-256K inner curve differs", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, p256OID, nil, 1)), wantErr: true},
		{name: "P-256K inner version 0", typ: KeyTypeEC, crv: CurveP256K, der: pkcs8Of(t, 0, oidECPublicKey, k1OID, ecInner(k1, nil, nil, 0)), wantErr: true},
		{name: "P-256K labelled P-256", typ: KeyTypeEC, crv: CurveP256, der: pkcs8Of(t, 0, oidECPublicKey, p256OID, ecInner(k1, nil, uncompressed(k1), 1)), wantErr: true},
		{name: "EC without curve", typ: KeyTypeEC, der: pkcs8Of(t, 0, oidECPublicKey, nil, ecInner(k1, nil, nil, 1)), wantErr: true},
		{name: "EC on an unsupported curve", typ: KeyTypeEC, der: pkcs8Of(t, 0, oidECPublicKey, asn1.ObjectIdentifier{1, 3, 132, 0, 33}, ecInner(p256, nil, nil, 1)), wantErr: true},
		{name: "EC labelled RSA", typ: KeyTypeEC, der: pkcs8Of(t, 0, oidRSAEncryption, asn1.NullRawValue, ecInner(p256, nil, nil, 1)), wantErr: true},
		{name: "EC scalar too long", typ: KeyTypeEC, der: pkcs8Of(t, 0, oidECPublicKey, p256OID, must(asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: make([]byte, 33)}))), wantErr: true},

		{name: "oct", typ: KeyTypeOct, der: make([]byte, 24)},
		{name: "oct 31 bytes", typ: KeyTypeOct, der: make([]byte, 31), wantErr: true},
		{name: "key type 0", typ: 0, der: x509.MarshalPKCS1PrivateKey(rsaKey), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FromPKCS8(tc.typ, tc.crv, tc.der)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("FromPKCS8() = %v, %v; want ErrInvalidKey", k, err)
				}
				return
			}
			if err != nil || k.Type() != tc.typ {
				t.Fatalf("FromPKCS8() = %v, %v; want a %v key", k, err, tc.typ)
			}
		})
	}
	// The inconsistent-d case is one the standard library lets through,
	// which is why FromPKCS8 rebuilds RSA keys itself.
	if _, err := x509.ParsePKCS1PrivateKey(badD); err != nil {
		t.Logf("crypto/x509 now rejects an inconsistent d as well: %v", err)
	}
}

func FuzzFromPKCS8(f *testing.F) {
	for _, k := range generated(f) {
		der, err := k.MarshalPKCS8()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(k.Type()), uint8(k.Curve()), der)
	}
	f.Fuzz(func(t *testing.T, typ, crv uint8, der []byte) {
		k, err := FromPKCS8(KeyType(typ), Curve(crv), der)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("FromPKCS8 error %v does not match ErrInvalidKey", err)
			}
			return
		}
		// The curve constrains EC keys only; other types ignore it.
		if k.Type() != KeyType(typ) || (k.Type() == KeyTypeEC && crv != 0 && k.Curve() != Curve(crv)) {
			t.Fatalf("FromPKCS8(%d, %d) returned a %v key on %v", typ, crv, k.Type(), k.Curve())
		}
		again, err := k.MarshalPKCS8()
		if err != nil {
			t.Fatalf("MarshalPKCS8 of an accepted key: %v", err)
		}
		back, err := FromPKCS8(k.Type(), k.Curve(), again)
		if err != nil || !back.Equal(k) {
			t.Fatalf("FromPKCS8(MarshalPKCS8(k)) = %v, %v; want an Equal key", back, err)
		}
	})
}
