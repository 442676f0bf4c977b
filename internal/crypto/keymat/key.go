package keymat

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Key is immutable private (or symmetric) key material. It prints as a
// redacted description and refuses JSON marshalling.
type Key struct {
	_     [0]func() // incomparable
	typ   KeyType
	curve Curve
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	k1    *secp256k1.PrivateKey
	oct   Secret
}

// Type returns the key type.
func (k *Key) Type() KeyType { return k.typ }

// Curve returns the key's curve, or zero unless EC.
func (k *Key) Curve() Curve { return k.curve }

// Bits returns the RSA modulus size, the AES key size, or the curve size.
func (k *Key) Bits() int {
	switch k.typ {
	case KeyTypeRSA:
		return k.rsa.N.BitLen()
	case KeyTypeOct:
		return k.oct.Len() * 8
	case KeyTypeEC:
		return k.curve.Bits()
	}
	return 0
}

// RSA returns the RSA private key, or nil. The caller must not modify it.
func (k *Key) RSA() *rsa.PrivateKey { return k.rsa }

// ECDSA returns the private key of a P-256, P-384 or P-521 key, or nil.
func (k *Key) ECDSA() *ecdsa.PrivateKey { return k.ec }

// Secp256k1 returns the private key of a P-256K key, or nil.
func (k *Key) Secp256k1() *secp256k1.PrivateKey { return k.k1 }

// Symmetric returns the AES key bytes of an oct key, or a zero Secret.
func (k *Key) Symmetric() Secret { return k.oct }

// Public returns the key's public half (nothing for oct keys).
func (k *Key) Public() PublicKey {
	p := PublicKey{Type: k.typ, Curve: k.curve}
	switch k.typ {
	case KeyTypeRSA:
		p.N = k.rsa.N.Bytes()
		p.E = big.NewInt(int64(k.rsa.E)).Bytes()
	case KeyTypeEC:
		n := k.curve.ByteLen()
		var enc []byte // uncompressed point: 0x04 ‖ X ‖ Y
		if k.k1 != nil {
			enc = k.k1.PubKey().SerializeUncompressed()
		} else {
			enc, _ = k.ec.PublicKey.Bytes()
		}
		p.X, p.Y = enc[1:1+n], enc[1+n:]
	}
	return p
}

// Equal reports whether k and o hold the same key. Secret parts compare in
// constant time.
func (k *Key) Equal(o *Key) bool {
	if k == nil || o == nil || k.typ != o.typ || k.curve != o.curve {
		return false
	}
	switch k.typ {
	case KeyTypeRSA:
		return k.rsa.Equal(o.rsa)
	case KeyTypeEC:
		if k.k1 != nil {
			return o.k1 != nil && subtle.ConstantTimeCompare(k.k1.Serialize(), o.k1.Serialize()) == 1
		}
		return o.ec != nil && k.ec.Equal(o.ec)
	case KeyTypeOct:
		return k.oct.Equal(o.oct)
	}
	return false
}

// String describes the key without its material.
func (k *Key) String() string {
	if k == nil {
		return "keymat.Key(nil)"
	}
	if k.typ == KeyTypeEC {
		return fmt.Sprintf("%s %s (private)", k.typ, k.curve)
	}
	return fmt.Sprintf("%s %d (private)", k.typ, k.Bits())
}

// GoString keeps %#v from printing the material.
func (k *Key) GoString() string { return k.String() }

// Format makes every verb (%v, %+v, %#v, %s, %x, ...) print the redacted
// description, so no formatting path reaches the struct's fields.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// LogValue keeps key material out of structured logs.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON always fails: keys are never serialised by accident.
func (*Key) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keymat: key is not serializable")
}

// GenerateRSA generates an RSA key of 2048, 3072 or 4096 bits. The public
// exponent is 65537 (0 selects it; nothing else is accepted).
func GenerateRSA(bits, publicExponent int) (*Key, error) {
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return nil, invalid("RSA key size %d is not supported (2048, 3072 or 4096)", bits)
	}
	if publicExponent != 0 && publicExponent != 65537 {
		return nil, invalid("RSA public exponent %d is not supported (65537)", publicExponent)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keymat: generating RSA key: %w", err)
	}
	return &Key{typ: KeyTypeRSA, rsa: priv}, nil
}

func stdCurve(c Curve) elliptic.Curve {
	switch c {
	case CurveP256:
		return elliptic.P256()
	case CurveP384:
		return elliptic.P384()
	case CurveP521:
		return elliptic.P521()
	}
	return nil
}

// GenerateEC generates a key on curve c.
func GenerateEC(c Curve) (*Key, error) {
	if c == CurveP256K {
		priv, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			return nil, fmt.Errorf("keymat: generating P-256K key: %w", err)
		}
		return &Key{typ: KeyTypeEC, curve: c, k1: priv}, nil
	}
	sc := stdCurve(c)
	if sc == nil {
		return nil, invalid("unknown curve %v", c)
	}
	priv, err := ecdsa.GenerateKey(sc, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keymat: generating %s key: %w", c, err)
	}
	return &Key{typ: KeyTypeEC, curve: c, ec: priv}, nil
}

// GenerateOct generates an AES key of 128, 192 or 256 bits.
func GenerateOct(bits int) (*Key, error) {
	if bits != 128 && bits != 192 && bits != 256 {
		return nil, invalid("AES key size %d is not supported (128, 192 or 256)", bits)
	}
	b := make([]byte, bits/8)
	rand.Read(b)
	k := &Key{typ: KeyTypeOct, oct: NewSecret(b)}
	clear(b)
	return k, nil
}

// FromOct makes an AES key from raw bytes (16, 24 or 32).
func FromOct(b []byte) (*Key, error) {
	switch len(b) {
	case 16, 24, 32:
		return &Key{typ: KeyTypeOct, oct: NewSecret(b)}, nil
	}
	if len(b) > 64 {
		return nil, invalid("k property of oct key is too large, maximum size is 64")
	}
	return nil, invalid("AES key of %d bytes is not supported (16, 24 or 32)", len(b))
}

func newRSA(priv *rsa.PrivateKey) (*Key, error) {
	bits := priv.N.BitLen()
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return nil, invalid("RSA key size %d is not supported (2048, 3072 or 4096)", bits)
	}
	if err := priv.Validate(); err != nil {
		return nil, invalid("RSA key is inconsistent")
	}
	priv.Precompute()
	return &Key{typ: KeyTypeRSA, rsa: priv}, nil
}

// newEC builds an EC key from a private scalar and checks that it matches
// the given public point when one is supplied.
func newEC(c Curve, d, x, y []byte) (*Key, error) {
	n := c.ByteLen()
	if len(d) == 0 || len(d) > n {
		return nil, invalid("EC private scalar d has the wrong length for %s", c)
	}
	if c == CurveP256K {
		var s secp256k1.ModNScalar
		padded := make([]byte, 32)
		copy(padded[32-len(d):], d)
		if overflow := s.SetByteSlice(padded); overflow || s.IsZero() {
			return nil, invalid("EC private scalar d is out of range for %s", c)
		}
		priv := secp256k1.NewPrivateKey(&s)
		k := &Key{typ: KeyTypeEC, curve: c, k1: priv}
		if x != nil || y != nil {
			if err := checkPoint(k, x, y); err != nil {
				return nil, err
			}
		}
		return k, nil
	}
	padded := make([]byte, n)
	copy(padded[n-len(d):], d)
	sc := stdCurve(c)
	if sc == nil {
		return nil, invalid("unknown curve %v", c)
	}
	// ParseRawPrivateKey checks the scalar's range and derives the public
	// point inside the FIPS module.
	priv, err := ecdsa.ParseRawPrivateKey(sc, padded)
	clear(padded)
	if err != nil {
		return nil, invalid("EC private scalar d is out of range for %s", c)
	}
	k := &Key{typ: KeyTypeEC, curve: c, ec: priv}
	if x != nil || y != nil {
		if err := checkPoint(k, x, y); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func checkPoint(k *Key, x, y []byte) error {
	pub := k.Public()
	if !bytes.Equal(trimZeros(pub.X), trimZeros(x)) || !bytes.Equal(trimZeros(pub.Y), trimZeros(y)) {
		return invalid("EC private scalar d does not match the public point (x, y)")
	}
	return nil
}

func trimZeros(b []byte) []byte { return bytes.TrimLeft(b, "\x00") }
