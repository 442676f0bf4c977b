package keymat

import (
	"math/big"
)

// JWK carries the members of a JSON Web Key as bytes. JSON and base64url
// decoding happen in the HTTP layer; this package validates the key. A nil
// or empty slice means the member is absent.
type JWK struct {
	Kty, Crv                           string
	N, E, D, DP, DQ, QI, P, Q, K, X, Y []byte
}

// FromJWK imports a private key from a JWK strictly:
//
//   - RSA needs n, e, d, p and q (dp, dq and qi may be omitted but must
//     match when present), a 2048-, 3072- or 4096-bit modulus, and a key
//     that passes crypto/rsa's consistency checks;
//   - EC needs crv, x, y and d, and d's public point must be (x, y);
//   - oct needs k of 16, 24 or 32 bytes.
//
// Public-only keys are rejected: a key service must hold the private half
// to be of use. Members that belong to another key type are rejected too,
// since a key that is several kinds at once is malformed.
func FromJWK(j JWK) (*Key, error) {
	t, err := ParseKeyType(j.Kty)
	if err != nil {
		return nil, err
	}
	switch t {
	case KeyTypeOct:
		if err := foreign(j, "oct", "crv", "n", "e", "d", "dp", "dq", "qi", "p", "q", "x", "y"); err != nil {
			return nil, err
		}
		return FromOct(j.K)
	case KeyTypeEC:
		if err := foreign(j, "EC", "n", "e", "dp", "dq", "qi", "p", "q", "k"); err != nil {
			return nil, err
		}
		c, err := ParseCurve(j.Crv)
		if err != nil {
			return nil, err
		}
		if len(j.D) == 0 {
			return nil, invalid("EC key is missing the private scalar d (public-only keys cannot be imported)")
		}
		if len(j.X) == 0 || len(j.Y) == 0 {
			return nil, invalid("EC key is missing x or y")
		}
		return newEC(c, j.D, j.X, j.Y)
	case KeyTypeRSA:
		if err := foreign(j, "RSA", "crv", "x", "y", "k"); err != nil {
			return nil, err
		}
		if len(j.N) == 0 || len(j.E) == 0 {
			return nil, invalid("RSA key is missing n or e")
		}
		if len(j.D) == 0 || len(j.P) == 0 || len(j.Q) == 0 {
			return nil, invalid("RSA key is missing the private members d, p or q (public-only keys cannot be imported)")
		}
		// Refuse oversized members before any arithmetic on them.
		if len(j.N) > 4096/8+1 {
			return nil, invalid("RSA key size is larger than 4096 bits")
		}
		return newRSA(rsaParts{
			n: optInt(j.N), e: optInt(j.E), d: optInt(j.D), p: optInt(j.P), q: optInt(j.Q),
			dp: optInt(j.DP), dq: optInt(j.DQ), qi: optInt(j.QI),
		})
	}
	return nil, invalid("unknown key type")
}

// foreign rejects any of the named members that j carries.
func foreign(j JWK, kty string, names ...string) error {
	for _, name := range names {
		var present bool
		switch name {
		case "crv":
			present = j.Crv != ""
		case "n":
			present = len(j.N) > 0
		case "e":
			present = len(j.E) > 0
		case "d":
			present = len(j.D) > 0
		case "dp":
			present = len(j.DP) > 0
		case "dq":
			present = len(j.DQ) > 0
		case "qi":
			present = len(j.QI) > 0
		case "p":
			present = len(j.P) > 0
		case "q":
			present = len(j.Q) > 0
		case "k":
			present = len(j.K) > 0
		case "x":
			present = len(j.X) > 0
		case "y":
			present = len(j.Y) > 0
		}
		if present {
			return invalid("%s property is not allowed in an %s key", name, kty)
		}
	}
	return nil
}

// optInt is the integer a JWK member encodes, or nil when it is absent.
func optInt(b []byte) *big.Int {
	if len(b) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(b)
}
