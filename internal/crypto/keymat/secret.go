package keymat

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"log/slog"
)

// Secret holds secret bytes: symmetric key material, seal keys, domain keys.
// It cannot be compared with ==, prints as redacted, refuses JSON
// marshalling, and compares in constant time. The zero value holds nothing.
type Secret struct {
	_ [0]func() // makes Secret incomparable: == would not be constant-time
	b []byte
}

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret { return Secret{b: bytes.Clone(b)} }

// Len returns the number of secret bytes.
func (s Secret) Len() int { return len(s.b) }

// IsZero reports whether s holds no bytes.
func (s Secret) IsZero() bool { return len(s.b) == 0 }

// Equal reports whether s and o hold the same bytes, in constant time for
// equal lengths.
func (s Secret) Equal(o Secret) bool { return subtle.ConstantTimeCompare(s.b, o.b) == 1 }

// Expose returns the underlying bytes. The caller must not retain, log or
// modify them.
func (s Secret) Expose() []byte { return s.b }

// String returns a redacted placeholder.
func (Secret) String() string { return "keymat.Secret(redacted)" }

// GoString returns a redacted placeholder, so %#v cannot leak the bytes.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps the bytes out of structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("redacted") }

// MarshalJSON always fails: secrets are never serialised by accident.
func (Secret) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keymat: secret is not serializable")
}

// MarshalText always fails, for the same reason as MarshalJSON.
func (Secret) MarshalText() ([]byte, error) {
	return nil, errors.New("keymat: secret is not serializable")
}

// Wipe overwrites the secret bytes with zeros. Copies made earlier by
// callers of Expose are not affected.
func (s Secret) Wipe() { clear(s.b) }
