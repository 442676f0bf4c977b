package keymat

import (
	"crypto/x509"
)

// Storage encoding, version 1:
//
//	0x01 ‖ type (1 byte) ‖ body
//
// where body is, by type: EC – curve (1 byte) ‖ private scalar, fixed
// length for the curve; RSA – PKCS#1 RSAPrivateKey DER; oct – the key
// bytes. The encoding is canonical: one key has exactly one encoding, and
// UnmarshalKey rejects anything else. It is only ever stored sealed.
const encodingV1 = 1

// MarshalBinary encodes the key for sealed storage.
func (k *Key) MarshalBinary() ([]byte, error) {
	out := []byte{encodingV1, byte(k.typ)}
	switch k.typ {
	case KeyTypeEC:
		out = append(out, byte(k.curve))
		if k.k1 != nil {
			return append(out, k.k1.Serialize()...), nil
		}
		d, err := k.ec.Bytes()
		if err != nil {
			return nil, err
		}
		return append(out, d...), nil
	case KeyTypeRSA:
		return append(out, x509.MarshalPKCS1PrivateKey(k.rsa)...), nil
	case KeyTypeOct:
		return append(out, k.oct.Expose()...), nil
	}
	return nil, invalid("cannot encode key of type %v", k.typ)
}

// UnmarshalKey decodes MarshalBinary's output.
func UnmarshalKey(b []byte) (*Key, error) {
	if len(b) < 3 || b[0] != encodingV1 {
		return nil, invalid("unknown key encoding")
	}
	switch KeyType(b[1]) {
	case KeyTypeEC:
		c := Curve(b[2])
		if c.ByteLen() == 0 || len(b) != 3+c.ByteLen() {
			return nil, invalid("malformed EC key encoding")
		}
		return newEC(c, b[3:], nil, nil)
	case KeyTypeRSA:
		priv, err := x509.ParsePKCS1PrivateKey(b[2:])
		if err != nil {
			return nil, invalid("malformed RSA key encoding")
		}
		if again := x509.MarshalPKCS1PrivateKey(priv); string(again) != string(b[2:]) {
			return nil, invalid("non-canonical RSA key encoding")
		}
		return newRSA(priv)
	case KeyTypeOct:
		return FromOct(b[2:])
	}
	return nil, invalid("unknown key type in encoding")
}
