// Package envelope is the sealed-record format: a record's plaintext is
// encrypted with AES-256-GCM under a data key, with caller-supplied
// associated data (the record's storage path), behind a small versioned
// header naming the key.
//
//	version (1) ‖ key id (4, big endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//
// # Security
//
// Open fails with the single error ErrOpen for every problem (unknown
// version, short input, wrong key, wrong associated data, tampering), so
// failures reveal nothing. Nonces are random; with a 96-bit nonce the
// NIST bound of 2^32 messages per key is far above what a key service
// writes before it rotates its data keys.
package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

const (
	version1   = 1
	headerSize = 1 + 4
	nonceSize  = 12
	tagSize    = 16
	// Overhead is the number of bytes Seal adds to a plaintext.
	Overhead = headerSize + nonceSize + tagSize
)

// ErrOpen is returned by Open for every failure.
var ErrOpen = errors.New("envelope: cannot open sealed record")

// testingOnlyNonce, when set by a test, replaces the random nonce.
var testingOnlyNonce []byte

func gcm(key keymat.Secret) (cipher.AEAD, error) {
	if key.Len() != 32 {
		return nil, errors.New("envelope: key must be 32 bytes")
	}
	b, err := aes.NewCipher(key.Expose())
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(b)
}

// Seal encrypts plaintext under key (whose id is recorded in the header)
// with aad as associated data. The header is authenticated too.
func Seal(key keymat.Secret, keyID uint32, plaintext, aad []byte) ([]byte, error) {
	if testingOnlyNonce != nil {
		return sealWithNonce(key, keyID, plaintext, aad, testingOnlyNonce)
	}
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	var hdr [headerSize]byte
	hdr[0] = version1
	binary.BigEndian.PutUint32(hdr[1:], keyID)
	out := make([]byte, headerSize, headerSize+nonceSize+len(plaintext)+tagSize)
	copy(out, hdr[:])
	// NewGCMWithRandomNonce prepends its nonce to the sealed output.
	return g.Seal(out, nil, plaintext, additional(hdr, aad)), nil
}

func sealWithNonce(key keymat.Secret, keyID uint32, plaintext, aad, nonce []byte) ([]byte, error) {
	b, err := aes.NewCipher(key.Expose())
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	var hdr [headerSize]byte
	hdr[0] = version1
	binary.BigEndian.PutUint32(hdr[1:], keyID)
	out := append(append(hdr[:0:0], hdr[:]...), nonce...)
	return g.Seal(out, nonce, plaintext, additional(hdr, aad)), nil
}

// additional binds the header to the ciphertext along with the caller's
// associated data.
func additional(hdr [headerSize]byte, aad []byte) []byte {
	out := make([]byte, 0, headerSize+len(aad))
	return append(append(out, hdr[:]...), aad...)
}

// KeyID returns the id of the key a blob was sealed with, so the caller can
// pick the key to open it.
func KeyID(blob []byte) (uint32, error) {
	if len(blob) < Overhead || blob[0] != version1 {
		return 0, ErrOpen
	}
	return binary.BigEndian.Uint32(blob[1:headerSize]), nil
}

// Open decrypts a sealed blob.
func Open(key keymat.Secret, blob, aad []byte) ([]byte, error) {
	if len(blob) < Overhead || blob[0] != version1 || key.Len() != 32 {
		return nil, ErrOpen
	}
	b, err := aes.NewCipher(key.Expose())
	if err != nil {
		return nil, ErrOpen
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, ErrOpen
	}
	var hdr [headerSize]byte
	copy(hdr[:], blob)
	nonce := blob[headerSize : headerSize+nonceSize]
	pt, err := g.Open(nil, nonce, blob[headerSize+nonceSize:], additional(hdr, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
