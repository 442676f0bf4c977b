package sdformat

import (
	"errors"
	"fmt"
)

// ErrDecrypt is the one error of a JWE that does not open: a wrong key, an
// altered ciphertext, tag or header, or bad padding. It is returned
// unwrapped wherever the input may come from anyone.
var ErrDecrypt = errors.New("decryption failed: the keys do not match, or the data was altered")

// FormatError is an input that is not what it should be: malformed JSON, a
// value out of range, a certificate that does not fit. Its text is written
// for the person who sent the input and holds no key material.
type FormatError struct {
	msg string
}

func (e *FormatError) Error() string { return e.msg }

func formatErrorf(format string, args ...any) error {
	return &FormatError{msg: fmt.Sprintf(format, args...)}
}
