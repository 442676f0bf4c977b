package seal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// keyringV1 is the version byte of the keyring encoding. Append new
// versions, never renumber: it is stored.
const keyringV1 byte = 1

// Encoding v1 (big endian):
//
//	version (1) ‖ current id (4) ‖ count (4) ‖ count × (id (4) ‖ key (32))
//
// ids are nonzero and strictly ascending, and current is one of them. The
// encoding is canonical: one keyring has exactly one encoding.
const (
	keyringHeaderSize = 1 + 4 + 4
	keyringEntrySize  = 4 + envelope.KeySize
	// maxKeyringKeys bounds what decoding allocates. Rotating daily for
	// a century stays below it.
	maxKeyringKeys = 1 << 16
)

// errKeyring is the one error for a keyring record that authenticated but
// does not decode: only a bug or a forged domain key gets there.
var errKeyring = errors.New("seal: keyring record is malformed")

// keyring is an immutable set of data keys. Changing it makes a new one, so
// readers holding the old one never see a half-made change.
type keyring struct {
	current uint32
	ids     []uint32 // ascending
	secrets map[uint32]keymat.Secret
	keys    map[uint32]*envelope.Key
}

// newKeyring returns a keyring holding one fresh data key, id 1.
func newKeyring() (*keyring, error) {
	return (&keyring{}).withNewKey()
}

// withNewKey returns a copy of kr with a fresh random key, numbered one
// past the highest id, as the current key.
func (kr *keyring) withNewKey() (*keyring, error) {
	id := uint32(1)
	if n := len(kr.ids); n > 0 {
		if kr.ids[n-1] == math.MaxUint32 || n >= maxKeyringKeys {
			return nil, errors.New("seal: keyring is full")
		}
		id = kr.ids[n-1] + 1
	}
	b := make([]byte, envelope.KeySize)
	rand.Read(b) // never fails (Go 1.24+)
	s := keymat.NewSecret(b)
	clear(b)
	k, err := envelope.NewKey(s, id)
	if err != nil {
		return nil, err
	}
	next := &keyring{
		current: id,
		ids:     append(slices.Clone(kr.ids), id),
		secrets: make(map[uint32]keymat.Secret, len(kr.ids)+1),
		keys:    make(map[uint32]*envelope.Key, len(kr.ids)+1),
	}
	for _, old := range kr.ids {
		next.secrets[old], next.keys[old] = kr.secrets[old], kr.keys[old]
	}
	next.secrets[id], next.keys[id] = s, k
	return next, nil
}

// encode returns the v1 encoding. It holds key bytes: the caller clears it.
func (kr *keyring) encode() []byte {
	b := make([]byte, 0, keyringHeaderSize+len(kr.ids)*keyringEntrySize)
	b = append(b, keyringV1)
	b = binary.BigEndian.AppendUint32(b, kr.current)
	b = binary.BigEndian.AppendUint32(b, uint32(len(kr.ids)))
	for _, id := range kr.ids {
		b = binary.BigEndian.AppendUint32(b, id)
		b = append(b, kr.secrets[id].Expose()...)
	}
	return b
}

// decodeKeyring parses the v1 encoding strictly.
func decodeKeyring(b []byte) (*keyring, error) {
	if len(b) < keyringHeaderSize || b[0] != keyringV1 {
		return nil, errKeyring
	}
	current := binary.BigEndian.Uint32(b[1:5])
	count := binary.BigEndian.Uint32(b[5:9])
	if count == 0 || count > maxKeyringKeys || uint64(len(b)) != keyringHeaderSize+uint64(count)*keyringEntrySize {
		return nil, errKeyring
	}
	kr := &keyring{
		current: current,
		ids:     make([]uint32, 0, count),
		secrets: make(map[uint32]keymat.Secret, count),
		keys:    make(map[uint32]*envelope.Key, count),
	}
	rest := b[keyringHeaderSize:]
	for range count {
		id := binary.BigEndian.Uint32(rest)
		if id == 0 || (len(kr.ids) > 0 && id <= kr.ids[len(kr.ids)-1]) {
			return nil, errKeyring
		}
		s := keymat.NewSecret(rest[4:keyringEntrySize])
		k, err := envelope.NewKey(s, id)
		if err != nil {
			return nil, errKeyring
		}
		kr.ids = append(kr.ids, id)
		kr.secrets[id], kr.keys[id] = s, k
		rest = rest[keyringEntrySize:]
	}
	if kr.keys[current] == nil {
		return nil, errKeyring
	}
	return kr, nil
}
