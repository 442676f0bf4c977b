package hsm

import (
	"errors"
	"fmt"
)

// Kind classifies a domain error; the HTTP layer maps each kind to one status.
type Kind uint8

const (
	_ Kind = iota // the zero Kind is invalid
	// KindBadRequest: the request is malformed or violates a rule.
	KindBadRequest
	// KindNotFound: the object does not exist.
	KindNotFound
	// KindConflict: the object's state does not allow the operation.
	KindConflict
	// KindForbidden: the caller or the key's attributes forbid the operation.
	KindForbidden
	// KindUnavailable: the pool cannot serve the request in its current state.
	KindUnavailable
	// KindTooManyRequests: a rate or concurrency limit was hit.
	KindTooManyRequests
)

// Sentinels for errors.Is; every *Error matches the sentinel of its kind.
var (
	ErrBadRequest      = errors.New("hsm: bad request")
	ErrNotFound        = errors.New("hsm: not found")
	ErrConflict        = errors.New("hsm: conflict")
	ErrForbidden       = errors.New("hsm: forbidden")
	ErrUnavailable     = errors.New("hsm: unavailable")
	ErrTooManyRequests = errors.New("hsm: too many requests")
)

var kindSentinel = map[Kind]error{
	KindBadRequest:      ErrBadRequest,
	KindNotFound:        ErrNotFound,
	KindConflict:        ErrConflict,
	KindForbidden:       ErrForbidden,
	KindUnavailable:     ErrUnavailable,
	KindTooManyRequests: ErrTooManyRequests,
}

// Error is a domain error in the Managed HSM vocabulary: Code and Inner are
// the Azure error.code and innererror.code, Message is safe to show the
// caller (it never contains key material, plaintext or tokens).
type Error struct {
	Kind    Kind
	Code    string
	Inner   string
	Message string
}

func (e *Error) Error() string {
	if e.Inner != "" {
		return fmt.Sprintf("hsm: %s (%s/%s)", e.Message, e.Code, e.Inner)
	}
	return fmt.Sprintf("hsm: %s (%s)", e.Message, e.Code)
}

// Is matches the sentinel of e's kind.
func (e *Error) Is(target error) bool { return kindSentinel[e.Kind] == target }

func badParameter(format string, args ...any) *Error {
	return &Error{Kind: KindBadRequest, Code: "BadParameter", Message: fmt.Sprintf(format, args...)}
}

func keyNotFound(name string) *Error {
	return &Error{Kind: KindNotFound, Code: "KeyNotFound", Message: fmt.Sprintf("Key not found: %s", name)}
}

func keyVersionNotFound(name, version string) *Error {
	return &Error{Kind: KindNotFound, Code: "KeyNotFound", Message: fmt.Sprintf("Key not found: %s/%s", name, version)}
}

func deletedKeyNotFound(name string) *Error {
	return &Error{Kind: KindNotFound, Code: "KeyNotFound", Message: fmt.Sprintf("Deleted Key not found: %s", name)}
}

func deletedButRecoverable(name string) *Error {
	return &Error{
		Kind: KindConflict, Code: "Conflict", Inner: "ObjectIsDeletedButRecoverable",
		Message: fmt.Sprintf("Key %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.", name),
	}
}

func keyOperationForbidden(op string) *Error {
	return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "KeyOperationForbidden",
		Message: fmt.Sprintf("Operation %s is not permitted on this key.", op)}
}
