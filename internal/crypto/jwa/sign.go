package jwa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/asn1"
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

// Sign signs digest (for HS*, the message) with k. ECDSA signatures are the
// raw IEEE P1363 form r‖s, fixed width, as Key Vault returns them.
func Sign(alg SignatureAlgorithm, k *keymat.Key, digest []byte) ([]byte, error) {
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
		return rsa.SignPSS(rand.Reader, k.RSA(), alg.hash(), digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
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
	der, err := ecdsa.SignASN1(rand.Reader, k.ECDSA(), digest)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		return nil, err
	}
	n := k.Curve().ByteLen()
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out, nil
}

// Verify checks a signature with k. A bad signature is (false, nil); an
// error means the request itself is wrong (algorithm, digest length).
func Verify(alg SignatureAlgorithm, k *keymat.Key, digest, sig []byte) (bool, error) {
	if err := CheckSignature(alg, k.Type(), k.Curve()); err != nil {
		return false, err
	}
	if alg.isHMAC() {
		return subtle.ConstantTimeCompare(hmacOf(alg, k.Symmetric().Expose(), digest), sig) == 1, nil
	}
	return VerifyPublic(alg, k.Public(), digest, sig)
}

// VerifyPublic checks an RSA or ECDSA signature with a public key.
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
		return verifySecp256k1(pub, digest, sig)
	}
	cpk, err := pub.CryptoPublicKey()
	if err != nil {
		return false, ErrAlgorithmMismatch
	}
	switch p := cpk.(type) {
	case *rsa.PublicKey:
		if alg.isPSS() {
			return rsa.VerifyPSS(p, alg.hash(), digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil, nil
		}
		return rsa.VerifyPKCS1v15(p, alg.hash(), digest, sig) == nil, nil
	case *ecdsa.PublicKey:
		n := pub.Curve.ByteLen()
		if len(sig) != 2*n {
			return false, nil
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			return false, nil
		}
		return ecdsa.VerifyASN1(p, digest, der), nil
	}
	return false, ErrAlgorithmMismatch
}

func verifySecp256k1(pub keymat.PublicKey, digest, sig []byte) (bool, error) {
	pk, err := pub.Secp256k1PublicKey()
	if err != nil {
		return false, ErrAlgorithmMismatch
	}
	if len(sig) != 64 {
		return false, nil
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return false, nil
	}
	return k1ecdsa.NewSignature(&r, &s).Verify(digest, pk), nil
}
