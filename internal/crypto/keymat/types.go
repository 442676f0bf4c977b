package keymat

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is matched (errors.Is) by every import and parse error.
// Messages say what is wrong and never include key bytes.
var ErrInvalidKey = errors.New("keymat: invalid key")

// keyError reads "keymat: <reason>", so that a caller stripping the package
// prefix is left with a sentence fit for an API error (Key Vault's own
// wording where it has one), and matches ErrInvalidKey.
type keyError struct{ reason string }

func (e *keyError) Error() string { return "keymat: " + e.reason }

func (e *keyError) Unwrap() error { return ErrInvalidKey }

func invalid(format string, args ...any) error {
	return &keyError{reason: fmt.Sprintf(format, args...)}
}

// KeyType is a key's kty. Managed HSM keeps only HSM-protected keys, so the
// names are the -HSM forms; the zero value is invalid.
type KeyType uint8

// Key types.
const (
	keyTypeInvalid KeyType = iota
	KeyTypeEC
	KeyTypeRSA
	KeyTypeOct
)

var keyTypeNames = [...]string{KeyTypeEC: "EC-HSM", KeyTypeRSA: "RSA-HSM", KeyTypeOct: "oct-HSM"}

func (t KeyType) String() string {
	if int(t) < len(keyTypeNames) && keyTypeNames[t] != "" {
		return keyTypeNames[t]
	}
	return fmt.Sprintf("KeyType(%d)", uint8(t))
}

// ParseKeyType accepts the six JWK kty values Key Vault defines (EC,
// EC-HSM, RSA, RSA-HSM, oct, oct-HSM), in any case, and returns the HSM
// type: Managed HSM upgrades software key types on input.
func ParseKeyType(s string) (KeyType, error) {
	switch strings.ToLower(s) {
	case "ec", "ec-hsm":
		return KeyTypeEC, nil
	case "rsa", "rsa-hsm":
		return KeyTypeRSA, nil
	case "oct", "oct-hsm":
		return KeyTypeOct, nil
	}
	return keyTypeInvalid, invalid("unknown key type %q", truncate(s))
}

// Curve is an elliptic curve; the zero value is invalid.
type Curve uint8

// Curves.
const (
	curveInvalid Curve = iota
	CurveP256
	CurveP256K
	CurveP384
	CurveP521
)

var curveNames = [...]string{CurveP256: "P-256", CurveP256K: "P-256K", CurveP384: "P-384", CurveP521: "P-521"}

func (c Curve) String() string {
	if int(c) < len(curveNames) && curveNames[c] != "" {
		return curveNames[c]
	}
	return fmt.Sprintf("Curve(%d)", uint8(c))
}

// ParseCurve parses a JWK crv value ("P-256", "P-256K", "P-384", "P-521"),
// in any case.
func ParseCurve(s string) (Curve, error) {
	switch strings.ToUpper(s) {
	case "P-256":
		return CurveP256, nil
	case "P-256K":
		return CurveP256K, nil
	case "P-384":
		return CurveP384, nil
	case "P-521":
		return CurveP521, nil
	}
	return curveInvalid, invalid("unknown curve %q", truncate(s))
}

// Bits is the curve's field size.
func (c Curve) Bits() int {
	switch c {
	case CurveP256, CurveP256K:
		return 256
	case CurveP384:
		return 384
	case CurveP521:
		return 521
	}
	return 0
}

// ByteLen is the length of a field element (and of each half of a raw
// r||s signature).
func (c Curve) ByteLen() int { return (c.Bits() + 7) / 8 }

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
