package keymat

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
)

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// pkcs8 is RFC 5208's PrivateKeyInfo.
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

// FromPKCS8 imports the plaintext of a BYOK transfer: a PKCS#8
// PrivateKeyInfo for RSA and EC keys (including secp256k1, which the
// standard library cannot parse), or raw key bytes for oct keys. The key
// must be of type t (and curve c for EC).
func FromPKCS8(t KeyType, c Curve, der []byte) (*Key, error) {
	switch t {
	case KeyTypeOct:
		return FromOct(der)
	case KeyTypeRSA:
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, invalid("not a PKCS#8 RSA private key")
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, invalid("the PKCS#8 key is not an RSA key")
		}
		return newRSA(priv)
	case KeyTypeEC:
		var info pkcs8
		if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
			return nil, invalid("not a PKCS#8 private key")
		}
		if !info.Algorithm.Algorithm.Equal(oidECPublicKey) {
			return nil, invalid("the PKCS#8 key is not an EC key")
		}
		var curveOID asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &curveOID); err != nil {
			return nil, invalid("the PKCS#8 EC key names no curve")
		}
		if curveOID.Equal(oidSecp256k1) {
			if c != 0 && c != CurveP256K {
				return nil, invalid("the key is on P-256K, not %s", c)
			}
			var ecKey ecPrivateKey
			if rest, err := asn1.Unmarshal(info.PrivateKey, &ecKey); err != nil || len(rest) != 0 || ecKey.Version != 1 {
				return nil, invalid("malformed EC private key")
			}
			var x, y []byte
			if pub := ecKey.PublicKey.RightAlign(); len(pub) == 65 && pub[0] == 4 {
				x, y = pub[1:33], pub[33:]
			}
			return newEC(CurveP256K, ecKey.PrivateKey, x, y)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, invalid("malformed PKCS#8 EC private key")
		}
		priv, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, invalid("the PKCS#8 key is not an EC key")
		}
		var got Curve
		switch priv.Curve.Params().Name {
		case "P-256":
			got = CurveP256
		case "P-384":
			got = CurveP384
		case "P-521":
			got = CurveP521
		default:
			return nil, invalid("unsupported curve")
		}
		if c != 0 && c != got {
			return nil, invalid("the key is on %s, not %s", got, c)
		}
		d, err := priv.Bytes()
		if err != nil {
			return nil, invalid("malformed PKCS#8 EC private key")
		}
		return newEC(got, d, nil, nil)
	}
	return nil, invalid("unknown key type")
}

// MarshalPKCS8 encodes an RSA or EC private key as PKCS#8 (the form BYOK and
// secure key release carry), or returns the raw bytes of an oct key.
func (k *Key) MarshalPKCS8() ([]byte, error) {
	switch {
	case k.typ == KeyTypeOct:
		return append([]byte(nil), k.oct.Expose()...), nil
	case k.rsa != nil:
		return x509.MarshalPKCS8PrivateKey(k.rsa)
	case k.ec != nil:
		return x509.MarshalPKCS8PrivateKey(k.ec)
	case k.k1 != nil:
		pub := k.k1.PubKey().SerializeUncompressed()
		inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: k.k1.Serialize(), PublicKey: asn1.BitString{Bytes: pub, BitLength: len(pub) * 8}})
		if err != nil {
			return nil, err
		}
		params, _ := asn1.Marshal(oidSecp256k1)
		return asn1.Marshal(pkcs8{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}, PrivateKey: inner})
	}
	return nil, invalid("unknown key type")
}
