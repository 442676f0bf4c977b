package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

const (
	// Version1 is the only format version. Append new versions, never
	// renumber: the byte is stored in every record.
	Version1 byte = 1

	// KeySize is the data key size: AES-256.
	KeySize = 32

	headerSize = 1 + 4
	nonceSize  = 12
	tagSize    = 16

	// Overhead is the number of bytes Seal adds to a plaintext.
	Overhead = headerSize + nonceSize + tagSize
)

// ErrOpen is returned by Open and KeyID for every failure.
var ErrOpen = errors.New("envelope: cannot open sealed record")

// errKeySize is returned by the sealing side for a key that is not 32
// bytes: a programming error, not untrusted input, so it may say so.
var errKeySize = errors.New("envelope: key must be 32 bytes")

// testingOnlyNonce, when non-nil, replaces the random nonce so a test can
// check known-answer vectors. Set it only through replaceNonceForTesting.
var testingOnlyNonce []byte

// Key is a data key with its id, prepared for repeated sealing and opening.
// It is safe for concurrent use.
type Key struct {
	id    uint32
	block cipher.Block
	aead  cipher.AEAD // random-nonce GCM: Seal prepends the nonce, Open reads it
}

// NewKey prepares key (32 bytes) for use under id. The Key keeps only the
// expanded AES key schedule, not a reference to key's bytes.
func NewKey(key keymat.Secret, id uint32) (*Key, error) {
	if key.Len() != KeySize {
		return nil, errKeySize
	}
	block, err := aes.NewCipher(key.Expose())
	if err != nil {
		return nil, errKeySize
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &Key{id: id, block: block, aead: aead}, nil
}

// ID returns the key id written into every record k seals.
func (k *Key) ID() uint32 { return k.id }

// Seal encrypts plaintext with aad as associated data. It never fails.
func (k *Key) Seal(plaintext, aad []byte) []byte {
	hdr := header(k.id)
	out := make([]byte, headerSize, Overhead+len(plaintext))
	copy(out, hdr[:])
	if testingOnlyNonce != nil {
		g, err := cipher.NewGCM(k.block)
		if err != nil {
			panic(err) // AES blocks always support standard GCM
		}
		out = append(out, testingOnlyNonce...)
		return g.Seal(out, testingOnlyNonce, plaintext, additional(hdr, aad))
	}
	return k.aead.Seal(out, nil, plaintext, additional(hdr, aad))
}

// Open decrypts a blob that k sealed with the same aad. A blob that names
// another key id fails like any other forgery.
func (k *Key) Open(blob, aad []byte) ([]byte, error) {
	id, err := KeyID(blob)
	if err != nil || id != k.id {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, nil, blob[headerSize:], additional(header(id), aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Seal encrypts plaintext under key, recording keyID in the header, with
// aad as associated data. It fails only if key is not 32 bytes.
func Seal(key keymat.Secret, keyID uint32, plaintext, aad []byte) ([]byte, error) {
	k, err := NewKey(key, keyID)
	if err != nil {
		return nil, err
	}
	return k.Seal(plaintext, aad), nil
}

// Open decrypts blob with key and aad. The key id in the header is
// authenticated but not otherwise checked: callers that keep several keys
// pick key with KeyID first.
func Open(key keymat.Secret, blob, aad []byte) ([]byte, error) {
	id, err := KeyID(blob)
	if err != nil {
		return nil, ErrOpen
	}
	k, err := NewKey(key, id)
	if err != nil {
		return nil, ErrOpen
	}
	return k.Open(blob, aad)
}

// KeyID returns the id of the key blob names, so the caller can pick the
// key to open it with. The id is not authenticated until Open succeeds.
func KeyID(blob []byte) (uint32, error) {
	if len(blob) < Overhead || blob[0] != Version1 {
		return 0, ErrOpen
	}
	return binary.BigEndian.Uint32(blob[1:headerSize]), nil
}

func header(id uint32) [headerSize]byte {
	var h [headerSize]byte
	h[0] = Version1
	binary.BigEndian.PutUint32(h[1:], id)
	return h
}

// additional is the GCM associated data: the header, so that the version
// and key id cannot be altered, then the caller's associated data. The
// header has a fixed length, so the concatenation is unambiguous.
func additional(hdr [headerSize]byte, aad []byte) []byte {
	out := make([]byte, 0, headerSize+len(aad))
	return append(append(out, hdr[:]...), aad...)
}
