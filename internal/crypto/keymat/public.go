package keymat

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rsa"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// PublicKey is the public half of an asymmetric key, in the big-endian
// byte form JWKs use.
type PublicKey struct {
	Type  KeyType
	N, E  []byte // RSA: modulus and exponent, minimal length
	Curve Curve
	X, Y  []byte // EC: fixed-length coordinates
}

// maxRSAPublicBytes bounds verify-only RSA keys, so that a caller-supplied
// key cannot make verification arbitrarily slow.
const maxRSAPublicBytes = 16384 / 8

// NewRSAPublicKey validates an RSA public key (for verify-only use): a
// modulus of 1024 to 16384 bits and an odd exponent from 3 to 2³¹-1. Leading
// zeros are dropped, so the result is in PublicKey's minimal form.
func NewRSAPublicKey(n, e []byte) (PublicKey, error) {
	if len(n) > maxRSAPublicBytes+1 {
		return PublicKey{}, invalid("RSA modulus is larger than %d bits", maxRSAPublicBytes*8)
	}
	nn, ee := new(big.Int).SetBytes(n), new(big.Int).SetBytes(e)
	if nn.BitLen() < 1024 || nn.BitLen() > maxRSAPublicBytes*8 || nn.Bit(0) == 0 {
		return PublicKey{}, invalid("RSA modulus must be an odd number of 1024 to %d bits", maxRSAPublicBytes*8)
	}
	if !ee.IsInt64() || ee.Int64() < 3 || ee.Int64() > 1<<31-1 || ee.Bit(0) == 0 {
		return PublicKey{}, invalid("RSA public exponent is out of range")
	}
	return PublicKey{Type: KeyTypeRSA, N: nn.Bytes(), E: ee.Bytes()}, nil
}

// NewECPublicKey validates that (x, y) is a point on curve c.
func NewECPublicKey(c Curve, x, y []byte) (PublicKey, error) {
	n := c.ByteLen()
	if n == 0 {
		return PublicKey{}, invalid("unknown curve %v", c)
	}
	if len(x) > n || len(y) > n {
		return PublicKey{}, invalid("EC coordinates are too long for %s", c)
	}
	p := PublicKey{Type: KeyTypeEC, Curve: c, X: leftPad(x, n), Y: leftPad(y, n)}
	if _, err := p.uncompressed(); err != nil {
		return PublicKey{}, err
	}
	return p, nil
}

func leftPad(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out
}

// uncompressed validates the point and returns its SEC 1 encoding.
func (p PublicKey) uncompressed() ([]byte, error) {
	enc := append(append([]byte{4}, p.X...), p.Y...)
	var err error
	switch p.Curve {
	case CurveP256:
		_, err = ecdh.P256().NewPublicKey(enc)
	case CurveP384:
		_, err = ecdh.P384().NewPublicKey(enc)
	case CurveP521:
		_, err = ecdh.P521().NewPublicKey(enc)
	case CurveP256K:
		_, err = secp256k1.ParsePubKey(enc)
	default:
		return nil, invalid("unknown curve %v", p.Curve)
	}
	if err != nil {
		return nil, invalid("EC point is not on curve %s", p.Curve)
	}
	return enc, nil
}

// CryptoPublicKey returns an *rsa.PublicKey or *ecdsa.PublicKey. P-256K
// has no standard-library type; use Secp256k1PublicKey.
func (p PublicKey) CryptoPublicKey() (crypto.PublicKey, error) {
	switch p.Type {
	case KeyTypeRSA:
		e := new(big.Int).SetBytes(p.E)
		if !e.IsInt64() {
			return nil, invalid("RSA public exponent is out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(p.N), E: int(e.Int64())}, nil
	case KeyTypeEC:
		enc, err := p.uncompressed()
		if err != nil {
			return nil, err
		}
		if p.Curve == CurveP256K {
			return nil, invalid("P-256K keys have no standard library type")
		}
		return ecdsa.ParseUncompressedPublicKey(stdCurve(p.Curve), enc)
	}
	return nil, invalid("%v keys have no public key", p.Type)
}

// Secp256k1PublicKey returns the public key of a P-256K key.
func (p PublicKey) Secp256k1PublicKey() (*secp256k1.PublicKey, error) {
	if p.Type != KeyTypeEC || p.Curve != CurveP256K {
		return nil, invalid("not a P-256K key")
	}
	enc, err := p.uncompressed()
	if err != nil {
		return nil, err
	}
	return secp256k1.ParsePubKey(enc)
}
