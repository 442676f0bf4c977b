package keymat

import (
	"crypto/subtle"
	"crypto/x509"
)

// Storage encoding, version 1:
//
//	0x01 ‖ type (1 byte) ‖ body
//
// where body is, by type: EC – curve (1 byte) ‖ private scalar, fixed
// length for the curve; RSA – PKCS#1 RSAPrivateKey DER (two primes, with
// CRT values); oct – the key bytes. Type and curve bytes are the KeyType and
// Curve values (append only, never renumber). The encoding is canonical:
// one key has exactly one encoding, and UnmarshalKey rejects anything else.
// It is only ever stored sealed.
const encodingV1 = 1

// MarshalBinary encodes the key for sealed storage.
func (k *Key) MarshalBinary() ([]byte, error) {
	out := []byte{encodingV1, byte(k.typ)}
	switch k.typ {
	case KeyTypeEC:
		out = append(out, byte(k.curve))
		if k.m.k1 != nil {
			d := k.m.k1.Serialize()
			defer clear(d)
			return append(out, d...), nil
		}
		d, err := k.m.ec.Bytes()
		if err != nil {
			return nil, err
		}
		defer clear(d)
		return append(out, d...), nil
	case KeyTypeRSA:
		der := x509.MarshalPKCS1PrivateKey(k.m.rsa)
		defer clear(der)
		return append(out, der...), nil
	case KeyTypeOct:
		return append(out, k.m.oct.Expose()...), nil
	}
	return nil, invalid("cannot encode key of type %v", k.typ)
}

// UnmarshalKey decodes MarshalBinary's output. It is the strict inverse:
// unknown versions, types or curves, wrong lengths, trailing bytes and
// non-canonical encodings are rejected.
func UnmarshalKey(b []byte) (*Key, error) {
	if len(b) < 3 || b[0] != encodingV1 {
		return nil, invalid("unknown key encoding")
	}
	body := b[2:]
	switch KeyType(b[1]) {
	case KeyTypeEC:
		c := Curve(b[2])
		if c.ByteLen() == 0 || len(body) != 1+c.ByteLen() {
			return nil, invalid("malformed EC key encoding")
		}
		return newEC(c, body[1:], nil, nil)
	case KeyTypeRSA:
		k, err := parsePKCS1(body)
		if err != nil {
			return nil, err
		}
		again := x509.MarshalPKCS1PrivateKey(k.m.rsa)
		defer clear(again)
		if subtle.ConstantTimeCompare(again, body) != 1 {
			return nil, invalid("non-canonical RSA key encoding")
		}
		return k, nil
	case KeyTypeOct:
		return FromOct(body)
	}
	return nil, invalid("unknown key type in encoding")
}
