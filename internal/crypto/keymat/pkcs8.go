package keymat

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
)

var (
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// curveOIDs are the named-curve identifiers of RFC 5480 §2.1.1.1 and, for
// secp256k1, SEC 2 §A.2.
var curveOIDs = [...]asn1.ObjectIdentifier{
	CurveP256:  {1, 2, 840, 10045, 3, 1, 7},
	CurveP256K: {1, 3, 132, 0, 10},
	CurveP384:  {1, 3, 132, 0, 34},
	CurveP521:  {1, 3, 132, 0, 35},
}

func curveByOID(oid asn1.ObjectIdentifier) Curve {
	for c, o := range curveOIDs {
		if o != nil && o.Equal(oid) {
			return Curve(c)
		}
	}
	return curveInvalid
}

// pkcs8 is RFC 5208's PrivateKeyInfo (RFC 5958's OneAsymmetricKey v1). The
// optional attributes that may follow are ignored by encoding/asn1.
type pkcs8 struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// ecPrivateKey is RFC 5915's ECPrivateKey.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// pkcs1 is RFC 8017's two-prime RSAPrivateKey.
type pkcs1 struct {
	Version               int
	N, E                  *big.Int
	D, P, Q, Dp, Dq, Qinv *big.Int
	AdditionalPrimes      []asn1.RawValue `asn1:"optional,omitempty"`
}

// FromPKCS8 imports the plaintext of a BYOK transfer: a PKCS#8
// PrivateKeyInfo for RSA keys (RFC 8017 RSAPrivateKey inside) and EC keys
// (RFC 5915 ECPrivateKey inside, including secp256k1, which the standard
// library cannot parse), or the raw key bytes for oct keys. The key must be
// of type t, and for EC on curve c unless c is zero (other types ignore c,
// as a request's crv means nothing for them). Parsing is strict: no
// trailing data, and every member (the CRT values of an RSA key, the
// public point and curve of an EC key, when present) must agree with the
// private key.
func FromPKCS8(t KeyType, c Curve, der []byte) (*Key, error) {
	if t == KeyTypeOct {
		return FromOct(der)
	}
	if t != KeyTypeRSA && t != KeyTypeEC {
		return nil, invalid("unknown key type %v", t)
	}
	var info pkcs8
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, invalid("the %s key is not a PKCS#8 private key", t)
	}
	if info.Version != 0 && info.Version != 1 {
		return nil, invalid("unsupported PKCS#8 version %d", info.Version)
	}
	alg := info.Algorithm.Algorithm
	switch {
	case t == KeyTypeRSA && alg.Equal(oidRSAEncryption):
		return parsePKCS1(info.PrivateKey)
	case t == KeyTypeEC && alg.Equal(oidECPublicKey):
		var oid asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &oid); err != nil || len(rest) != 0 {
			return nil, invalid("the PKCS#8 EC key does not name its curve")
		}
		got := curveByOID(oid)
		if got == curveInvalid {
			return nil, invalid("the PKCS#8 EC key is on an unsupported curve")
		}
		if c != curveInvalid && c != got {
			return nil, invalid("the PKCS#8 EC key is on %s, not %s", got, c)
		}
		return parseECPrivateKey(got, info.PrivateKey)
	}
	return nil, invalid("the PKCS#8 key is not an %s key", t)
}

// parsePKCS1 decodes an RSAPrivateKey and rebuilds it with newRSA, which
// checks every member.
func parsePKCS1(der []byte) (*Key, error) {
	var k pkcs1
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) != 0 {
		return nil, invalid("malformed RSA private key")
	}
	if k.Version != 0 || len(k.AdditionalPrimes) != 0 {
		return nil, invalid("multi-prime RSA keys are not supported")
	}
	for _, v := range []*big.Int{k.N, k.E, k.D, k.P, k.Q, k.Dp, k.Dq, k.Qinv} {
		if v.Sign() <= 0 {
			return nil, invalid("malformed RSA private key")
		}
	}
	return newRSA(rsaParts{n: k.N, e: k.E, d: k.D, p: k.P, q: k.Q, dp: k.Dp, dq: k.Dq, qi: k.Qinv})
}

// parseECPrivateKey decodes an ECPrivateKey on curve c. The optional curve
// and public key must agree with c and with the private scalar.
func parseECPrivateKey(c Curve, der []byte) (*Key, error) {
	var ek ecPrivateKey
	if rest, err := asn1.Unmarshal(der, &ek); err != nil || len(rest) != 0 {
		return nil, invalid("malformed EC private key")
	}
	if ek.Version != 1 {
		return nil, invalid("unsupported EC private key version %d", ek.Version)
	}
	if ek.NamedCurveOID != nil && curveByOID(ek.NamedCurveOID) != c {
		return nil, invalid("the EC private key names a different curve from its PKCS#8 wrapper")
	}
	k, err := newEC(c, ek.PrivateKey, nil, nil)
	if err != nil {
		return nil, err
	}
	if ek.PublicKey.BitLength == 0 {
		return k, nil
	}
	pub := ek.PublicKey.RightAlign()
	if ek.PublicKey.BitLength%8 != 0 || !matchesPoint(k.Public(), pub) {
		return nil, invalid("the EC private key's public key does not match its private scalar")
	}
	return k, nil
}

// matchesPoint reports whether enc is the SEC 1 encoding, uncompressed or
// compressed, of p's point.
func matchesPoint(p PublicKey, enc []byte) bool {
	n := len(p.X)
	switch {
	case len(enc) == 1+2*n && enc[0] == 4:
		return string(enc[1:1+n]) == string(p.X) && string(enc[1+n:]) == string(p.Y)
	case len(enc) == 1+n && (enc[0] == 2 || enc[0] == 3):
		return enc[0] == 2|p.Y[n-1]&1 && string(enc[1:]) == string(p.X)
	}
	return false
}

// MarshalPKCS8 encodes an RSA or EC private key as PKCS#8 (the form BYOK
// and secure key release carry), or returns a copy of an oct key's bytes.
// EC keys carry their curve in the algorithm parameters and their public
// key in the ECPrivateKey, as OpenSSL writes them.
func (k *Key) MarshalPKCS8() ([]byte, error) {
	switch k.typ {
	case KeyTypeOct:
		return append([]byte(nil), k.m.oct.Expose()...), nil
	case KeyTypeRSA:
		return x509.MarshalPKCS8PrivateKey(k.m.rsa)
	case KeyTypeEC:
		if k.m.ec != nil {
			return x509.MarshalPKCS8PrivateKey(k.m.ec)
		}
		pub := k.m.k1pub.SerializeUncompressed()
		d := k.m.k1.Serialize()
		defer clear(d)
		inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: d, PublicKey: asn1.BitString{Bytes: pub, BitLength: len(pub) * 8}})
		if err != nil {
			return nil, err
		}
		defer clear(inner)
		params, err := asn1.Marshal(curveOIDs[CurveP256K])
		if err != nil {
			return nil, err
		}
		return asn1.Marshal(pkcs8{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}, PrivateKey: inner})
	}
	return nil, invalid("cannot encode key of type %v", k.typ)
}
