package jwa

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// UnwrapRSAAES opens a CKM_RSA_AES_KEY_WRAP blob (BYOK and secure key
// release): RSA-OAEP(h) of an ephemeral AES key, followed by RFC 5649 key
// wrap of the payload under that AES key. Every failure is ErrDecrypt.
func UnwrapRSAAES(kek *keymat.Key, h crypto.Hash, ciphertext []byte) ([]byte, error) {
	if kek.Type() != keymat.KeyTypeRSA || !h.Available() {
		return nil, ErrDecrypt
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

// WrapRSAAES builds a CKM_RSA_AES_KEY_WRAP blob for pub with a fresh
// 256-bit ephemeral key.
func WrapRSAAES(pub keymat.PublicKey, h crypto.Hash, plaintext []byte) ([]byte, error) {
	cpk, err := pub.CryptoPublicKey()
	if err != nil {
		return nil, err
	}
	rpk, ok := cpk.(*rsa.PublicKey)
	if !ok {
		return nil, ErrAlgorithmMismatch
	}
	eph := make([]byte, 32)
	rand.Read(eph)
	defer clear(eph)
	head, err := rsa.EncryptOAEP(h.New(), rand.Reader, rpk, eph, nil)
	if err != nil {
		return nil, err
	}
	tail, err := KeyWrapPad(eph, plaintext)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}
