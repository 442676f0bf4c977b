package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// NodeSeal protects a node's root secrets at rest.
type NodeSeal interface {
	// Wrap seals plaintext, binding aad.
	Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Unwrap opens what Wrap sealed; any failure is ErrSealed.
	Unwrap(ctx context.Context, blob, aad []byte) ([]byte, error)
	// Describe names the seal for logs; it never includes secrets.
	Describe() string
	Close() error
}

// ErrSealed means a node seal could not open a domain key: the seal is the
// wrong one, or the stored key was tampered with.
var ErrSealed = errors.New("seal: cannot unseal: wrong node seal or tampered domain key")

// FileSeal is a node seal whose key is a file on the node.
type FileSeal struct {
	path string
	key  keymat.Secret
}

// fileSealMagic starts a seal key file: format version 1, then 32 key bytes.
var fileSealMagic = []byte("COFFER-FILE-SEAL-1\n")

// OpenFileSeal opens the seal key file at path, or, when create is set and
// the file does not exist, creates it (mode 0600) with a fresh random key.
// A file readable by group or others is refused.
func OpenFileSeal(path string, create bool) (*FileSeal, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && create {
		return createFileSeal(path)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: opening key file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s is readable by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, fmt.Errorf("seal: reading %s: %w", path, err)
	}
	defer clear(b)
	if !bytes.HasPrefix(b, fileSealMagic) || len(b) != len(fileSealMagic)+32 {
		return nil, fmt.Errorf("seal: %s is not a Coffer seal key file", path)
	}
	return &FileSeal{path: path, key: keymat.NewSecret(b[len(fileSealMagic):])}, nil
}

func createFileSeal(path string) (*FileSeal, error) {
	key := make([]byte, 32)
	rand.Read(key)
	defer clear(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal: creating key file %s: %w", path, err)
	}
	_, err = f.Write(append(append([]byte{}, fileSealMagic...), key...))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("seal: writing key file %s: %w", path, err)
	}
	return &FileSeal{path: path, key: keymat.NewSecret(key)}, nil
}

// Wrap seals plaintext under the file's key.
func (s *FileSeal) Wrap(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	return envelope.Seal(s.key, 0, plaintext, aad)
}

// Unwrap opens a blob Wrap produced.
func (s *FileSeal) Unwrap(_ context.Context, blob, aad []byte) ([]byte, error) {
	pt, err := envelope.Open(s.key, blob, aad)
	if err != nil {
		return nil, ErrSealed
	}
	return pt, nil
}

// Describe names the key file.
func (s *FileSeal) Describe() string { return "file " + s.path }

// Close wipes the key from memory.
func (s *FileSeal) Close() error {
	s.key.Wipe()
	return nil
}
