package keymat

import (
	"bytes"
	"crypto/rsa"
	"math/big"
)

// JWK carries the members of a JSON Web Key as bytes. JSON and base64url
// decoding happen in the HTTP layer; this package validates the key.
type JWK struct {
	Kty, Crv                           string
	N, E, D, DP, DQ, QI, P, Q, K, X, Y []byte
}

// MaxOctKeyBytes is the largest k Key Vault accepts before it names the
// problem ("too large"); valid AES keys are 16, 24 or 32 bytes.
const MaxOctKeyBytes = 64

// FromJWK imports a private key from a JWK strictly: every member the key
// type needs must be present and consistent, and public-only keys are
// rejected (a key service must hold the private half to be of use).
func FromJWK(j JWK) (*Key, error) {
	t, err := ParseKeyType(j.Kty)
	if err != nil {
		return nil, err
	}
	switch t {
	case KeyTypeOct:
		if len(j.K) == 0 {
			return nil, invalid("k property of oct key is required")
		}
		if len(j.K) > MaxOctKeyBytes {
			return nil, invalid("k property of oct key is too large, maximum size is %d", MaxOctKeyBytes)
		}
		if j.N != nil || j.D != nil || j.X != nil {
			return nil, invalid("oct key must carry only k")
		}
		return FromOct(j.K)
	case KeyTypeEC:
		c, err := ParseCurve(j.Crv)
		if err != nil {
			return nil, err
		}
		if len(j.D) == 0 {
			return nil, invalid("EC key is missing the private scalar d")
		}
		if len(j.X) == 0 || len(j.Y) == 0 {
			return nil, invalid("EC key is missing x or y")
		}
		if len(j.X) > c.ByteLen() || len(j.Y) > c.ByteLen() {
			return nil, invalid("EC coordinates are too long for %s", c)
		}
		return newEC(c, j.D, j.X, j.Y)
	case KeyTypeRSA:
		if len(j.N) == 0 || len(j.E) == 0 {
			return nil, invalid("RSA key is missing n or e")
		}
		if len(j.D) == 0 || len(j.P) == 0 || len(j.Q) == 0 {
			return nil, invalid("RSA key is missing the private members d, p or q")
		}
		if len(j.N) > 4096/8+1 {
			return nil, invalid("RSA modulus is larger than 4096 bits")
		}
		e := new(big.Int).SetBytes(j.E)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, invalid("RSA public exponent is out of range")
		}
		priv := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(e.Int64())},
			D:         new(big.Int).SetBytes(j.D),
			Primes:    []*big.Int{new(big.Int).SetBytes(j.P), new(big.Int).SetBytes(j.Q)},
		}
		k, err := newRSA(priv)
		if err != nil {
			return nil, err
		}
		// Supplied CRT values must agree with the ones derived from p and q.
		pc := k.rsa.Precomputed
		for _, m := range []struct {
			got  []byte
			want *big.Int
			name string
		}{{j.DP, pc.Dp, "dp"}, {j.DQ, pc.Dq, "dq"}, {j.QI, pc.Qinv, "qi"}} {
			if m.got != nil && !bytes.Equal(bytes.TrimLeft(m.got, "\x00"), m.want.Bytes()) {
				return nil, invalid("RSA member %s does not match p and q", m.name)
			}
		}
		return k, nil
	}
	return nil, invalid("unknown key type")
}
