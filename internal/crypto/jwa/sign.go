package jwa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"math/big"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

func (a SignatureAlgorithm) hash() crypto.Hash {
	switch a {
	case PS384, RS384, ES384, HS384:
		return crypto.SHA384
	case PS512, RS512, ES512, HS512:
		return crypto.SHA512
	}
	return crypto.SHA256
}

func (a SignatureAlgorithm) isRSA() bool { return a >= PS256 && a <= RS512 }
func (a SignatureAlgorithm) isPSS() bool { return a >= PS256 && a <= PS512 }
func (a SignatureAlgorithm) isHMAC() bool {
	return a == HS256 || a == HS384 || a == HS512
}

func (a SignatureAlgorithm) curve() keymat.Curve {
	switch a {
	case ES256:
		return keymat.CurveP256
	case ES256K:
		return keymat.CurveP256K
	case ES384:
		return keymat.CurveP384
	case ES512:
		return keymat.CurveP521
	}
	return 0
}

// CheckSignature reports whether alg can sign with a key of type t and curve c.
func CheckSignature(alg SignatureAlgorithm, t keymat.KeyType, c keymat.Curve) error {
	switch {
	case alg.isRSA() && t == keymat.KeyTypeRSA:
		return nil
	case alg.isHMAC() && t == keymat.KeyTypeOct:
		return nil
	case alg.curve() != 0 && t == keymat.KeyTypeEC && alg.curve() == c:
		return nil
	}
	return ErrAlgorithmMismatch
}

// checkDigest enforces the digest length of the algorithm's hash: the API
// signs digests, so a wrong length means the client hashed wrongly.
func checkDigest(alg SignatureAlgorithm, digest []byte) error {
	if alg.isHMAC() {
		return nil
	}
	if len(digest) != alg.hash().Size() {
		return invalidInput("%s needs a %d-byte %s digest; got %d bytes", alg, alg.hash().Size(), alg.hash(), len(digest))
	}
	return nil
}

func hmacOf(alg SignatureAlgorithm, key, msg []byte) []byte {
	var h func() hash.Hash
	switch alg {
	case HS384:
		h = sha512.New384
	case HS512:
		h = sha512.New
	default:
		h = sha256.New
	}
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// Sign signs digest with k under alg (CheckSignature must allow the pair).
// The service signs digests, it does not hash: for RS*, PS* and ES* the
// digest must be exactly as long as the algorithm's hash (32, 48 or 64
// bytes), or ErrInvalidInput. RSASSA-PSS uses MGF1 with the same hash and a
// salt as long as the hash (as JWA specifies). ECDSA signatures are the raw
// IEEE P1363 form r‖s, each half the curve's byte length, as Key Vault
// returns them; P-256K signatures are deterministic (RFC 6979) and low-S.
// HS256, HS384 and HS512 compute the HMAC of digest, which may then be any
// message.
func Sign(alg SignatureAlgorithm, k *keymat.Key, digest []byte) ([]byte, error) {
	if k == nil {
		return nil, ErrAlgorithmMismatch
	}
	if err := CheckSignature(alg, k.Type(), k.Curve()); err != nil {
		return nil, err
	}
	if err := checkDigest(alg, digest); err != nil {
		return nil, err
	}
	switch {
	case alg.isHMAC():
		return hmacOf(alg, k.Symmetric().Expose(), digest), nil
	case alg.isPSS():
		return rsa.SignPSS(rand.Reader, k.RSA(), alg.hash(), digest, pssOptions)
	case alg.isRSA():
		return rsa.SignPKCS1v15(nil, k.RSA(), alg.hash(), digest)
	case alg == ES256K:
		sig := k1ecdsa.Sign(k.Secp256k1(), digest)
		r, s := sig.R(), sig.S()
		out := make([]byte, 64)
		r.PutBytesUnchecked(out[:32])
		s.PutBytesUnchecked(out[32:])
		return out, nil
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.ECDSA(), digest)
	if err != nil {
		return nil, err
	}
	n := k.Curve().ByteLen()
	out := make([]byte, 2*n)
	r.FillBytes(out[:n])
	s.FillBytes(out[n:])
	return out, nil
}

var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}

// Verify checks a signature with k. A wrong signature, including one of the
// wrong length or form, is (false, nil); an error means the request itself
// is wrong (algorithm for the key, digest length). HMACs compare in
// constant time; RSA and ECDSA behave as VerifyPublic with k's public key.
func Verify(alg SignatureAlgorithm, k *keymat.Key, digest, sig []byte) (bool, error) {
	if k == nil {
		return false, ErrAlgorithmMismatch
	}
	if err := CheckSignature(alg, k.Type(), k.Curve()); err != nil {
		return false, err
	}
	if err := checkDigest(alg, digest); err != nil {
		return false, err
	}
	switch {
	case alg.isHMAC():
		return hmac.Equal(hmacOf(alg, k.Symmetric().Expose(), digest), sig), nil
	case alg.isRSA():
		return verifyRSA(alg, &k.RSA().PublicKey, digest, sig), nil
	case alg == ES256K:
		// The Key's own point, already validated, skips re-parsing.
		pk, err := k.Public().Secp256k1PublicKey()
		if err != nil {
			return false, err
		}
		return verifySecp256k1(pk, digest, sig), nil
	}
	return verifyECDSA(&k.ECDSA().PublicKey, k.Curve().ByteLen(), digest, sig), nil
}

// VerifyPublic checks an RSA or ECDSA signature with a public key, as
// Verify does. HMAC algorithms need the secret and are
// ErrAlgorithmMismatch here.
//
// ECDSA accepts any s in [1, n-1], "high" or "low": IEEE P1363 and FIPS
// 186-5 have no low-S rule (that is a Bitcoin consensus rule), and the
// standard library's P-256/384/521 verification agrees, so ES256K behaves
// as the other curves do.
func VerifyPublic(alg SignatureAlgorithm, pub keymat.PublicKey, digest, sig []byte) (bool, error) {
	if alg.isHMAC() {
		return false, ErrAlgorithmMismatch
	}
	if err := CheckSignature(alg, pub.Type, pub.Curve); err != nil {
		return false, err
	}
	if err := checkDigest(alg, digest); err != nil {
		return false, err
	}
	if alg == ES256K {
		pk, err := pub.Secp256k1PublicKey()
		if err != nil {
			return false, invalidInput("the P-256K public key is not valid")
		}
		return verifySecp256k1(pk, digest, sig), nil
	}
	cpk, err := pub.CryptoPublicKey()
	if err != nil {
		return false, invalidInput("the %s public key is not valid", pub.Type)
	}
	switch p := cpk.(type) {
	case *rsa.PublicKey:
		return verifyRSA(alg, p, digest, sig), nil
	case *ecdsa.PublicKey:
		return verifyECDSA(p, pub.Curve.ByteLen(), digest, sig), nil
	}
	return false, ErrAlgorithmMismatch
}

func verifyRSA(alg SignatureAlgorithm, pub *rsa.PublicKey, digest, sig []byte) bool {
	if alg.isPSS() {
		return rsa.VerifyPSS(pub, alg.hash(), digest, sig, pssOptions) == nil
	}
	return rsa.VerifyPKCS1v15(pub, alg.hash(), digest, sig) == nil
}

// verifyECDSA checks a raw r‖s signature whose halves are n bytes each.
func verifyECDSA(pub *ecdsa.PublicKey, n int, digest, sig []byte) bool {
	if len(sig) != 2*n {
		return false
	}
	r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
	return ecdsa.Verify(pub, digest, r, s) // rejects r or s outside [1, n-1]
}

func verifySecp256k1(pk *secp256k1.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return false // overflow (≥ n) or zero
	}
	return k1ecdsa.NewSignature(&r, &s).Verify(digest, pk)
}
