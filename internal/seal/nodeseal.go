package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// NodeSeal protects a node's root secrets (the domain keys) at rest: a key
// file by default, a PKCS#11 token where the node has an HSM.
// Implementations must be safe for concurrent use.
type NodeSeal interface {
	// Wrap seals plaintext, binding aad to it.
	Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Unwrap opens what Wrap sealed with the same aad. When the blob does
	// not open (another seal's key, other aad, tampering) the error wraps
	// ErrSealed; any other error means the seal could not be used at all.
	Unwrap(ctx context.Context, blob, aad []byte) ([]byte, error)
	// Describe names the seal for logs, e.g. "file /var/lib/coffer/seal.key".
	// It never includes secrets.
	Describe() string
	// Close releases the seal. Wrap and Unwrap fail afterwards.
	Close() error
}

// ErrSealed means keys could not be unsealed with what this node holds: the
// node seal is not the one the domain was sealed with, the domain key was
// replaced by another process sharing the store, or the stored keys were
// tampered with.
var ErrSealed = errors.New("seal: cannot unseal: wrong node seal, replaced domain key, or tampered keys")

// errSealClosed is returned by a FileSeal used after Close.
var errSealClosed = errors.New("seal: node seal is closed")

// fileSealMagic begins a seal key file and names its format version; the
// 32 key bytes follow and nothing else. A new format gets a new magic.
var fileSealMagic = []byte("COFFER-FILE-SEAL-1\n")

const fileSealKeySize = 32

// FileSeal is a NodeSeal whose key is a file on the node. It wraps with
// the envelope format (AES-256-GCM) under the file's key.
type FileSeal struct {
	path string
	mu   sync.RWMutex
	key  *envelope.Key // nil once closed
}

var _ NodeSeal = (*FileSeal)(nil)

// OpenFileSeal opens the seal key file at path. If the file does not exist
// and create is set, it is created with mode 0600 holding 32 new random
// bytes. A file that group or others may access is refused: that key
// unlocks every domain on the node.
func OpenFileSeal(path string, create bool) (*FileSeal, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && create {
		if err := createSealFile(path); err != nil {
			return nil, err
		}
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: opening key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: opening key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s is accessible by group or others (mode %v); run chmod 600 on it", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(len(fileSealMagic)+fileSealKeySize+1)))
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("seal: reading key file %s: %w", path, err)
	}
	secret, err := parseSealFile(b)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	defer secret.Wipe()
	key, err := envelope.NewKey(secret, 0)
	if err != nil {
		return nil, err
	}
	return &FileSeal{path: path, key: key}, nil
}

// parseSealFile returns the key a seal key file holds.
func parseSealFile(b []byte) (keymat.Secret, error) {
	rest, ok := bytes.CutPrefix(b, fileSealMagic)
	if !ok {
		return keymat.Secret{}, errors.New("not a Coffer seal key file (unknown header)")
	}
	if len(rest) != fileSealKeySize {
		return keymat.Secret{}, fmt.Errorf("truncated or extended: want %d key bytes after the header", fileSealKeySize)
	}
	return keymat.NewSecret(rest), nil
}

// createSealFile writes a new key to a temporary file, syncs it, and links
// it into place, so path either does not exist or holds a whole key, even
// across a crash, and a concurrent creator's key is never overwritten.
func createSealFile(path string) error {
	b := make([]byte, 0, len(fileSealMagic)+fileSealKeySize)
	b = append(b, fileSealMagic...)
	b = append(b, make([]byte, fileSealKeySize)...)
	defer clear(b)
	rand.Read(b[len(fileSealMagic):]) // never fails (Go 1.24+)

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".seal-key-*")
	if err != nil {
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod makes that independent of it.
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seal: writing key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // another process created it first; use theirs
		}
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	// Make the new directory entry durable before any domain key is
	// wrapped under this key.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("seal: syncing directory of key file: %w", err)
		}
	}
	return nil
}

// Wrap seals plaintext under the file's key.
func (s *FileSeal) Wrap(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.key == nil {
		return nil, errSealClosed
	}
	return s.key.Seal(plaintext, aad), nil
}

// Unwrap opens a blob Wrap produced; every failure to open is ErrSealed.
func (s *FileSeal) Unwrap(_ context.Context, blob, aad []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.key == nil {
		return nil, errSealClosed
	}
	pt, err := s.key.Open(blob, aad)
	if err != nil {
		return nil, ErrSealed
	}
	return pt, nil
}

// Describe names the key file.
func (s *FileSeal) Describe() string { return "file " + s.path }

// Close drops the key; later Wrap and Unwrap calls fail.
func (s *FileSeal) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = nil
	return nil
}
