package keymat

import (
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
// redacted description and refuses JSON marshalling. A Key is safe for
// concurrent use; the values its accessors return must not be modified.
type Key struct {
	_     [0]func() // incomparable: Equal is the constant-time comparison
	typ   KeyType
	curve Curve
	// The material sits behind a pointer so that fmt, which prints an
	// unexported field's contents without calling Format, shows only an
	// address when a Key (or *Key) is nested in another struct.
	m *material
}

// material is a Key's secret half; exactly one of rsa, ec, k1 and oct is
// set.
type material struct {
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	k1    *secp256k1.PrivateKey
	k1pub *secp256k1.PublicKey // derived once: decred recomputes it on every PubKey call
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
		return k.m.rsa.N.BitLen()
	case KeyTypeOct:
		return k.m.oct.Len() * 8
	case KeyTypeEC:
		return k.curve.Bits()
	}
	return 0
}

// RSA returns the RSA private key, or nil. The caller must not modify it.
func (k *Key) RSA() *rsa.PrivateKey { return k.mat().rsa }

// ECDSA returns the private key of a P-256, P-384 or P-521 key, or nil.
func (k *Key) ECDSA() *ecdsa.PrivateKey { return k.mat().ec }

// Secp256k1 returns the private key of a P-256K key, or nil.
func (k *Key) Secp256k1() *secp256k1.PrivateKey { return k.mat().k1 }

// Symmetric returns the AES key of an oct key, or a zero Secret. The Secret
// shares the key's bytes: the caller must not modify or Wipe it.
func (k *Key) Symmetric() Secret { return k.mat().oct }

// mat returns the key's material; a zero Key (which no constructor
// returns) has none.
func (k *Key) mat() *material {
	if k.m == nil {
		return &material{}
	}
	return k.m
}

// Public returns the key's public half. For oct keys only Type is set.
func (k *Key) Public() PublicKey {
	p := PublicKey{Type: k.typ, Curve: k.curve}
	switch k.typ {
	case KeyTypeRSA:
		p.N = k.m.rsa.N.Bytes()
		p.E = big.NewInt(int64(k.m.rsa.E)).Bytes()
	case KeyTypeEC:
		n := k.curve.ByteLen()
		var enc []byte // uncompressed point: 0x04 ‖ X ‖ Y
		if k.m.k1 != nil {
			enc = k.m.k1pub.SerializeUncompressed()
		} else {
			enc, _ = k.m.ec.PublicKey.Bytes() // cannot fail for a key built by this package
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
		return k.m.rsa.Equal(o.m.rsa) // compares D with crypto/subtle
	case KeyTypeEC:
		if k.m.k1 != nil {
			return o.m.k1 != nil && subtle.ConstantTimeCompare(k.m.k1.Serialize(), o.m.k1.Serialize()) == 1
		}
		return o.m.ec != nil && k.m.ec.Equal(o.m.ec) // compares D with crypto/subtle
	case KeyTypeOct:
		return k.m.oct.Equal(o.m.oct)
	}
	return false
}

// String describes the key without its material, e.g. "RSA-HSM 2048
// (private)" or "EC-HSM P-256 (private)".
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

// Format makes every verb (%v, %+v, %#v, %s, %x, %d, ...) print the redacted
// description, so no formatting path reaches the struct's fields.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// LogValue keeps key material out of structured logs.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON always fails: keys are never serialised by accident.
func (*Key) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keymat: key is not serializable")
}

// MarshalText always fails, for the same reason as MarshalJSON (and so
// that encoders preferring TextMarshaler do not fall back to the fields).
func (*Key) MarshalText() ([]byte, error) {
	return nil, errors.New("keymat: key is not serializable")
}

// GenerateRSA generates an RSA key of 2048, 3072 or 4096 bits. The public
// exponent is 65537 (0 selects it; nothing else is accepted).
func GenerateRSA(bits, publicExponent int) (*Key, error) {
	if !rsaSizeOK(bits) {
		return nil, invalid("RSA key size %d is not supported (2048, 3072 or 4096)", bits)
	}
	if publicExponent != 0 && publicExponent != 65537 {
		return nil, invalid("RSA public exponent %d is not supported (65537)", publicExponent)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keymat: generating RSA key: %w", err)
	}
	return &Key{typ: KeyTypeRSA, m: &material{rsa: priv}}, nil
}

func rsaSizeOK(bits int) bool { return bits == 2048 || bits == 3072 || bits == 4096 }

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
		return newK1(priv), nil
	}
	sc := stdCurve(c)
	if sc == nil {
		return nil, invalid("unknown curve %v", c)
	}
	priv, err := ecdsa.GenerateKey(sc, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keymat: generating %s key: %w", c, err)
	}
	return &Key{typ: KeyTypeEC, curve: c, m: &material{ec: priv}}, nil
}

// GenerateOct generates an AES key of 128, 192 or 256 bits.
func GenerateOct(bits int) (*Key, error) {
	if bits != 128 && bits != 192 && bits != 256 {
		return nil, invalid("AES key size %d is not supported (128, 192 or 256)", bits)
	}
	b := make([]byte, bits/8)
	rand.Read(b) // never fails since Go 1.24
	k := &Key{typ: KeyTypeOct, m: &material{oct: NewSecret(b)}}
	clear(b)
	return k, nil
}

// MaxOctKeyBytes is the largest k Key Vault accepts before it names the
// problem ("too large"); valid AES keys are 16, 24 or 32 bytes.
const MaxOctKeyBytes = 64

// FromOct makes an AES key from raw bytes (16, 24 or 32); b is copied.
func FromOct(b []byte) (*Key, error) {
	switch len(b) {
	case 16, 24, 32:
		return &Key{typ: KeyTypeOct, m: &material{oct: NewSecret(b)}}, nil
	case 0:
		return nil, invalid("k property of oct key is required")
	}
	if len(b) > MaxOctKeyBytes {
		return nil, invalid("k property of oct key is too large, maximum size is %d", MaxOctKeyBytes)
	}
	return nil, invalid("oct key of %d bytes is not supported (16, 24 or 32 bytes: AES-128, AES-192 or AES-256)", len(b))
}

// rsaParts are the integers of a two-prime RSA private key as they arrive
// from a JWK, PKCS#1 or PKCS#8. dp, dq and qi are optional.
type rsaParts struct {
	n, e, d, p, q, dp, dq, qi *big.Int
}

// newRSA builds an RSA key from its parts. The CRT values are always
// derived from d, p and q (crypto/rsa would otherwise trust supplied CRT
// values without checking d) and then compared with any that were
// supplied, so an accepted key is consistent in every member.
func newRSA(in rsaParts) (*Key, error) {
	if in.n == nil || in.e == nil || in.d == nil || in.p == nil || in.q == nil {
		return nil, invalid("RSA key is missing a member")
	}
	if !rsaSizeOK(in.n.BitLen()) {
		return nil, invalid("RSA key size %d is not supported (2048, 3072 or 4096)", in.n.BitLen())
	}
	if !in.e.IsInt64() || in.e.Int64() < 3 || in.e.Int64() > 1<<31-1 || in.e.Bit(0) == 0 {
		return nil, invalid("RSA public exponent is out of range")
	}
	// No member may be longer than the modulus; this also bounds the work
	// an absurd input can cause below.
	for _, m := range []*big.Int{in.d, in.p, in.q, in.dp, in.dq, in.qi} {
		if m != nil && m.BitLen() > in.n.BitLen() {
			return nil, invalid("RSA key is inconsistent: a private member is larger than the modulus")
		}
	}
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Set(in.n), E: int(in.e.Int64())},
		D:         new(big.Int).Set(in.d),
		Primes:    []*big.Int{new(big.Int).Set(in.p), new(big.Int).Set(in.q)},
	}
	// Precompute derives dp, dq and qi from d, p and q; Validate then
	// reports whether that worked, i.e. whether p·q = n and d·e ≡ 1 modulo
	// p-1 and q-1 (checked inside the FIPS module).
	priv.Precompute()
	if err := priv.Validate(); err != nil {
		return nil, invalid("RSA key is inconsistent: n, e, d, p and q do not form a key")
	}
	pc := priv.Precomputed
	for _, m := range []struct {
		got, want *big.Int
		name      string
	}{{in.dp, pc.Dp, "dp"}, {in.dq, pc.Dq, "dq"}, {in.qi, pc.Qinv, "qi"}} {
		if m.got != nil && !constantTimeIntEqual(m.got, m.want) {
			return nil, invalid("RSA member %s does not match p and q", m.name)
		}
	}
	return &Key{typ: KeyTypeRSA, m: &material{rsa: priv}}, nil
}

// constantTimeIntEqual compares two non-negative integers, leaking only
// their lengths.
func constantTimeIntEqual(a, b *big.Int) bool {
	n := max(len(a.Bits()), len(b.Bits()))
	ab, bb := make([]byte, n*8+1), make([]byte, n*8+1)
	a.FillBytes(ab)
	b.FillBytes(bb)
	return subtle.ConstantTimeCompare(ab, bb) == 1
}

// newEC builds an EC key from a private scalar d (big-endian, at most the
// curve's field length) and, when x or y is given, checks that d's public
// point is (x, y).
func newEC(c Curve, d, x, y []byte) (*Key, error) {
	n := c.ByteLen()
	if n == 0 {
		return nil, invalid("unknown curve %v", c)
	}
	if len(d) == 0 || len(d) > n {
		return nil, invalid("EC private scalar d has the wrong length for %s", c)
	}
	padded := make([]byte, n)
	defer clear(padded)
	copy(padded[n-len(d):], d)
	var k *Key
	if c == CurveP256K {
		var s secp256k1.ModNScalar
		if overflow := s.SetByteSlice(padded); overflow || s.IsZero() {
			return nil, invalid("EC private scalar d is out of range for %s", c)
		}
		k = newK1(secp256k1.NewPrivateKey(&s))
		s.Zero()
	} else {
		// ParseRawPrivateKey checks the scalar's range and derives the
		// public point inside the FIPS module.
		priv, err := ecdsa.ParseRawPrivateKey(stdCurve(c), padded)
		if err != nil {
			return nil, invalid("EC private scalar d is out of range for %s", c)
		}
		k = &Key{typ: KeyTypeEC, curve: c, m: &material{ec: priv}}
	}
	if x == nil && y == nil {
		return k, nil
	}
	if len(x) > n || len(y) > n {
		return nil, invalid("EC coordinates are too long for %s", c)
	}
	// Coordinates are public: an ordinary comparison is fine. Shorter
	// encodings (leading zeros dropped by some encoders) are accepted.
	pub := k.Public()
	if !equalPadded(pub.X, x) || !equalPadded(pub.Y, y) {
		return nil, invalid("EC private scalar d does not match the public point (x, y)")
	}
	return k, nil
}

func newK1(priv *secp256k1.PrivateKey) *Key {
	return &Key{typ: KeyTypeEC, curve: CurveP256K, m: &material{k1: priv, k1pub: priv.PubKey()}}
}

// equalPadded reports whether fixed (a fixed-length big-endian integer)
// equals b left-padded with zeros.
func equalPadded(fixed, b []byte) bool {
	if len(b) > len(fixed) {
		return false
	}
	lead := len(fixed) - len(b)
	for _, v := range fixed[:lead] {
		if v != 0 {
			return false
		}
	}
	return string(fixed[lead:]) == string(b)
}
