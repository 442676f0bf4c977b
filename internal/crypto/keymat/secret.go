package keymat

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
)

// Secret holds secret bytes: symmetric key material, seal keys, domain keys.
// It cannot be compared with ==, prints as redacted, refuses JSON
// marshalling, and compares in constant time. The zero value holds nothing.
type Secret struct {
	_ [0]func() // makes Secret incomparable: == would not be constant-time
	// The bytes are reachable only through a function value. fmt cannot
	// call String or Format on an unexported struct field, so a Secret
	// inside another struct is printed field by field; a slice (or a
	// pointer, under a verb like %s that it rejects) would then show its
	// contents, but a function always prints as an address.
	b func() []byte
}

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret {
	c := bytes.Clone(b)
	return Secret{b: func() []byte { return c }}
}

func (s Secret) bytes() []byte {
	if s.b == nil {
		return nil
	}
	return s.b()
}

// Len returns the number of secret bytes.
func (s Secret) Len() int { return len(s.bytes()) }

// IsZero reports whether s holds no bytes.
func (s Secret) IsZero() bool { return s.Len() == 0 }

// Equal reports whether s and o hold the same bytes, in constant time for
// equal lengths.
func (s Secret) Equal(o Secret) bool { return subtle.ConstantTimeCompare(s.bytes(), o.bytes()) == 1 }

// Expose returns the underlying bytes. The caller must not retain, log or
// modify them.
func (s Secret) Expose() []byte { return s.bytes() }

// String returns a redacted placeholder.
func (Secret) String() string { return "keymat.Secret(redacted)" }

// GoString returns a redacted placeholder, so %#v cannot leak the bytes.
func (s Secret) GoString() string { return s.String() }

// Format prints the placeholder for every verb, including those (%d, %o,
// %b) for which fmt would otherwise bypass String.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

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
func (s Secret) Wipe() { clear(s.bytes()) }
