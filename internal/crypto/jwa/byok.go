package jwa

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// transferHash checks the OAEP hash of a CKM_RSA_AES_KEY_WRAP blob: SHA-1
// for CKM_RSA_AES_KEY_WRAP (BYOK), SHA-256 for RSA_AES_KEY_WRAP_256 and
// SHA-384 for RSA_AES_KEY_WRAP_384. MGF1 uses the same hash.
func transferHash(h crypto.Hash) error {
	switch h {
	case crypto.SHA1, crypto.SHA256, crypto.SHA384:
		return nil
	}
	return invalidInput("RSA-AES key wrap uses SHA-1, SHA-256 or SHA-384 for OAEP, not %v", h)
}

// UnwrapRSAAES opens a CKM_RSA_AES_KEY_WRAP blob (BYOK import and secure
// key release):
//
//	RSA-OAEP(h, MGF1-h, no label; kek, ephemeral AES key) ‖ AES-KWP(ephemeral key, plaintext)
//
// The RSA part is exactly the size of kek's modulus; the AES key's size
// (16, 24 or 32 bytes) follows from what OAEP yields. A kek that is not RSA
// is ErrAlgorithmMismatch and an unsupported h is ErrInvalidInput; every
// failure to open the blob is ErrDecrypt.
func UnwrapRSAAES(kek *keymat.Key, h crypto.Hash, ciphertext []byte) ([]byte, error) {
	if kek == nil || kek.Type() != keymat.KeyTypeRSA {
		return nil, ErrAlgorithmMismatch
	}
	if err := transferHash(h); err != nil {
		return nil, err
	}
	k := kek.RSA().Size()
	if len(ciphertext) <= k {
		return nil, ErrDecrypt
	}
	eph, err := rsa.DecryptOAEP(h.New(), nil, kek.RSA(), ciphertext[:k], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	defer clear(eph)
	if len(eph) != 16 && len(eph) != 24 && len(eph) != 32 {
		return nil, ErrDecrypt
	}
	return KeyUnwrapPad(eph, ciphertext[k:])
}

// WrapRSAAES builds a CKM_RSA_AES_KEY_WRAP blob for the RSA public key pub,
// with a fresh 256-bit ephemeral AES key. It is UnwrapRSAAES's inverse, used
// to release keys and to test imports.
func WrapRSAAES(pub keymat.PublicKey, h crypto.Hash, plaintext []byte) ([]byte, error) {
	if pub.Type != keymat.KeyTypeRSA {
		return nil, ErrAlgorithmMismatch
	}
	if err := transferHash(h); err != nil {
		return nil, err
	}
	cpk, err := pub.CryptoPublicKey()
	if err != nil {
		return nil, invalidInput("the RSA public key is not valid")
	}
	eph := make([]byte, 32)
	rand.Read(eph) // never fails since Go 1.24
	defer clear(eph)
	head, err := rsa.EncryptOAEP(h.New(), rand.Reader, cpk.(*rsa.PublicKey), eph, nil)
	if err != nil {
		return nil, invalidInput("the RSA public key cannot carry a 256-bit AES key with OAEP %v", h)
	}
	tail, err := KeyWrapPad(eph, plaintext)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}
