package jwa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// GCM parameters of Managed HSM: the service generates a 12-byte IV and
// returns a 16-byte tag.
const (
	gcmIVSize  = 12
	gcmTagSize = 16
)

// Sealed is the result of Encrypt: Ciphertext excludes the GCM tag, which is
// returned separately, as Key Vault does.
type Sealed struct {
	Ciphertext, IV, Tag, AAD []byte
}

// CheckEncryption reports whether alg can serve k, for encrypt/decrypt
// (wrap false) or wrapKey/unwrapKey (wrap true). RSA algorithms serve both;
// AES modes serve encryption only and AES key wrap serves wrapping only.
func CheckEncryption(alg EncryptionAlgorithm, k *keymat.Key, wrap bool) error {
	if k == nil {
		return ErrAlgorithmMismatch
	}
	switch {
	case alg.isRSA():
		if k.Type() == keymat.KeyTypeRSA {
			return nil
		}
	case alg.isKeyWrap():
		if wrap && k.Type() == keymat.KeyTypeOct && (alg.aesBytes() == 0 || alg.aesBytes()*8 == k.Bits()) {
			return nil
		}
	case alg.isGCM(), alg.isCBC(), alg.isCBCPad():
		if !wrap && k.Type() == keymat.KeyTypeOct && alg.aesBytes()*8 == k.Bits() {
			return nil
		}
	}
	return ErrAlgorithmMismatch
}

func oaepHash(alg EncryptionAlgorithm) hash.Hash {
	if alg == RSAOAEP256 {
		return sha256.New()
	}
	return sha1.New()
}

func rsaEncrypt(alg EncryptionAlgorithm, pub *rsa.PublicKey, pt []byte) ([]byte, error) {
	var out []byte
	var err error
	if alg == RSA15 {
		//lint:ignore SA1019 Managed HSM offers RSA1_5, so Coffer must; the package doc warns against it.
		out, err = rsa.EncryptPKCS1v15(rand.Reader, pub, pt)
	} else {
		out, err = rsa.EncryptOAEP(oaepHash(alg), rand.Reader, pub, pt, nil)
	}
	switch {
	case errors.Is(err, rsa.ErrMessageTooLong):
		return nil, invalidInput("the value is too long for %s with a %d-bit key", alg, pub.N.BitLen())
	case err != nil:
		// Not the caller's input: for example GODEBUG=fips140=only, under
		// which crypto/rsa refuses SHA-1 OAEP and PKCS#1 v1.5 encryption.
		return nil, fmt.Errorf("jwa: %s encryption: %w", alg, err)
	}
	return out, nil
}

func rsaDecrypt(alg EncryptionAlgorithm, priv *rsa.PrivateKey, ct []byte) ([]byte, error) {
	var out []byte
	var err error
	if alg == RSA15 {
		//lint:ignore SA1019 Managed HSM offers RSA1_5, so Coffer must; the package doc warns against it.
		out, err = rsa.DecryptPKCS1v15(nil, priv, ct)
	} else {
		out, err = rsa.DecryptOAEP(oaepHash(alg), nil, priv, ct, nil)
	}
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

// Encrypt encrypts plaintext with k under alg, which must be one of the RSA
// or AES-GCM/CBC/CBCPAD algorithms (CheckEncryption with wrap false).
//
//   - RSA-OAEP, RSA-OAEP-256, RSA1_5: iv and aad must be empty.
//   - A*GCM: iv must be empty: a random 12-byte IV is generated here, since
//     a client-chosen IV invites nonce reuse, which breaks GCM. The result
//     carries the IV, the 16-byte tag separately from Ciphertext, and aad
//     (which may be empty) echoed as AAD.
//   - A*CBC: iv must be 16 bytes and plaintext a non-zero multiple of 16
//     bytes; A*CBCPAD adds PKCS#7 padding, so any length works. aad must be
//     empty. The result echoes a copy of the IV.
//
// Problems with the request are ErrAlgorithmMismatch or ErrInvalidInput
// with a reason. Sealed.AAD aliases aad; the other slices are new.
func Encrypt(alg EncryptionAlgorithm, k *keymat.Key, plaintext, iv, aad []byte) (Sealed, error) {
	if err := CheckEncryption(alg, k, false); err != nil {
		return Sealed{}, err
	}
	switch {
	case alg.isRSA():
		if err := noExtras(alg, iv, aad, nil); err != nil {
			return Sealed{}, err
		}
		ct, err := rsaEncrypt(alg, &k.RSA().PublicKey, plaintext)
		if err != nil {
			return Sealed{}, err
		}
		return Sealed{Ciphertext: ct}, nil
	case alg.isGCM():
		if len(iv) != 0 {
			return Sealed{}, invalidInput("an IV must not be supplied for %s encryption: the service generates it", alg)
		}
		b, err := aes.NewCipher(k.Symmetric().Expose())
		if err != nil {
			return Sealed{}, err
		}
		// NewGCMWithRandomNonce draws the nonce inside the FIPS module, the
		// approved way to use GCM there.
		g, err := cipher.NewGCMWithRandomNonce(b)
		if err != nil {
			return Sealed{}, err
		}
		out := g.Seal(nil, nil, plaintext, aad)
		n := len(out)
		return Sealed{IV: out[:gcmIVSize], Ciphertext: out[gcmIVSize : n-gcmTagSize], Tag: out[n-gcmTagSize:], AAD: aad}, nil
	}
	// CBC, with or without padding.
	if len(iv) != aes.BlockSize {
		return Sealed{}, invalidInput("%s needs a 16-byte IV (iv)", alg)
	}
	if err := noExtras(alg, nil, aad, nil); err != nil {
		return Sealed{}, err
	}
	pt := plaintext
	if alg.isCBCPad() {
		padLen := aes.BlockSize - len(plaintext)%aes.BlockSize
		pt = make([]byte, len(plaintext)+padLen)
		copy(pt, plaintext)
		for i := len(plaintext); i < len(pt); i++ {
			pt[i] = byte(padLen)
		}
	} else if len(pt) == 0 || len(pt)%aes.BlockSize != 0 {
		return Sealed{}, invalidInput("%s needs a value whose length is a non-zero multiple of 16 bytes; use %sPAD for other lengths", alg, alg)
	}
	b, err := aes.NewCipher(k.Symmetric().Expose())
	if err != nil {
		return Sealed{}, err
	}
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, pt)
	return Sealed{Ciphertext: ct, IV: append([]byte(nil), iv...)}, nil
}

// Decrypt reverses Encrypt. iv, aad and tag are as Encrypt returned them;
// supplying one the algorithm does not use, or an IV or tag of the wrong
// length, or a CBC ciphertext that is not a non-zero multiple of 16 bytes,
// is ErrInvalidInput. Every failure of the decryption itself (tag, OAEP or
// PKCS#1 v1.5 check, CBC padding) is ErrDecrypt, unwrapped.
func Decrypt(alg EncryptionAlgorithm, k *keymat.Key, ciphertext, iv, aad, tag []byte) ([]byte, error) {
	if err := CheckEncryption(alg, k, false); err != nil {
		return nil, err
	}
	switch {
	case alg.isRSA():
		if err := noExtras(alg, iv, aad, tag); err != nil {
			return nil, err
		}
		return rsaDecrypt(alg, k.RSA(), ciphertext)
	case alg.isGCM():
		if len(iv) != gcmIVSize {
			return nil, invalidInput("%s decryption needs the 12-byte IV (iv) returned by encryption", alg)
		}
		if len(tag) != gcmTagSize {
			return nil, invalidInput("%s decryption needs the 16-byte authentication tag (tag) returned by encryption", alg)
		}
		b, err := aes.NewCipher(k.Symmetric().Expose())
		if err != nil {
			return nil, ErrDecrypt
		}
		// The random-nonce form opens nonce ‖ ciphertext ‖ tag; unlike
		// cipher.NewGCM it is also allowed under GODEBUG=fips140=only.
		g, err := cipher.NewGCMWithRandomNonce(b)
		if err != nil {
			return nil, ErrDecrypt
		}
		sealed := make([]byte, 0, len(iv)+len(ciphertext)+len(tag))
		sealed = append(append(append(sealed, iv...), ciphertext...), tag...)
		pt, err := g.Open(nil, nil, sealed, aad)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	}
	if len(iv) != aes.BlockSize {
		return nil, invalidInput("%s needs the 16-byte IV (iv) used for encryption", alg)
	}
	if err := noExtras(alg, nil, aad, tag); err != nil {
		return nil, err
	}
	// The length is public, so refusing it by name is no oracle.
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, invalidInput("%s needs a value whose length is a non-zero multiple of 16 bytes", alg)
	}
	b, err := aes.NewCipher(k.Symmetric().Expose())
	if err != nil {
		return nil, ErrDecrypt
	}
	pt := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(pt, ciphertext)
	if alg.isCBC() {
		return pt, nil
	}
	return unpad(pt)
}

// unpad removes PKCS#7 padding, checking every padding byte without
// branching on secret data until the final verdict.
func unpad(pt []byte) ([]byte, error) {
	n := len(pt)
	padLen := int(pt[n-1])
	good := subtle.ConstantTimeLessOrEq(1, padLen) & subtle.ConstantTimeLessOrEq(padLen, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, padLen)
		eq := subtle.ConstantTimeByteEq(pt[n-i], byte(padLen))
		good &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	if good != 1 {
		clear(pt)
		return nil, ErrDecrypt
	}
	return pt[:n-padLen], nil
}

// noExtras refuses an IV, AAD or tag for an algorithm that would ignore
// it: silently dropping AAD in particular would let a caller believe it is
// authenticated.
func noExtras(alg EncryptionAlgorithm, iv, aad, tag []byte) error {
	switch {
	case len(iv) != 0:
		return invalidInput("%s does not take an IV (iv)", alg)
	case len(aad) != 0:
		return invalidInput("%s does not take additional authenticated data (aad)", alg)
	case len(tag) != 0:
		return invalidInput("%s does not take an authentication tag (tag)", alg)
	}
	return nil
}

// Wrap wraps key bytes with k under alg, which must be an RSA algorithm or
// an AES key wrap (CheckEncryption with wrap true). A*KW and
// CKM_AES_KEY_WRAP are RFC 3394 (key at least 16 bytes, a multiple of 8);
// CKM_AES_KEY_WRAP_PAD is RFC 5649 (any length from 1 byte).
func Wrap(alg EncryptionAlgorithm, k *keymat.Key, key []byte) ([]byte, error) {
	if err := CheckEncryption(alg, k, true); err != nil {
		return nil, err
	}
	switch {
	case alg.isRSA():
		return rsaEncrypt(alg, &k.RSA().PublicKey, key)
	case alg == CKMAESKeyWrapPad:
		return KeyWrapPad(k.Symmetric().Expose(), key)
	}
	return KeyWrap(k.Symmetric().Expose(), key)
}

// Unwrap reverses Wrap. Apart from ErrAlgorithmMismatch for a wrong
// algorithm, every failure is ErrDecrypt.
func Unwrap(alg EncryptionAlgorithm, k *keymat.Key, wrapped []byte) ([]byte, error) {
	if err := CheckEncryption(alg, k, true); err != nil {
		return nil, err
	}
	switch {
	case alg.isRSA():
		return rsaDecrypt(alg, k.RSA(), wrapped)
	case alg == CKMAESKeyWrapPad:
		return KeyUnwrapPad(k.Symmetric().Expose(), wrapped)
	}
	return KeyUnwrap(k.Symmetric().Expose(), wrapped)
}
