package jwa

import (
	"errors"
	"fmt"
	"slices"
)

// Errors. ErrDecrypt is uniform; the others are wrapped with a reason.
var (
	ErrAlgorithmMismatch = errors.New("jwa: algorithm not supported for this key")
	ErrInvalidInput      = errors.New("jwa: invalid input")
	ErrDecrypt           = errors.New("jwa: decryption failed")
)

func invalidInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// EncryptionAlgorithm is a JsonWebKeyEncryptionAlgorithm; zero is invalid.
type EncryptionAlgorithm uint8

// Encryption and key-wrap algorithms.
const (
	encInvalid EncryptionAlgorithm = iota
	RSAOAEP
	RSAOAEP256
	RSA15
	A128GCM
	A192GCM
	A256GCM
	A128KW
	A192KW
	A256KW
	A128CBC
	A192CBC
	A256CBC
	A128CBCPAD
	A192CBCPAD
	A256CBCPAD
	CKMAESKeyWrap
	CKMAESKeyWrapPad
)

var encNames = [...]string{
	RSAOAEP: "RSA-OAEP", RSAOAEP256: "RSA-OAEP-256", RSA15: "RSA1_5",
	A128GCM: "A128GCM", A192GCM: "A192GCM", A256GCM: "A256GCM",
	A128KW: "A128KW", A192KW: "A192KW", A256KW: "A256KW",
	A128CBC: "A128CBC", A192CBC: "A192CBC", A256CBC: "A256CBC",
	A128CBCPAD: "A128CBCPAD", A192CBCPAD: "A192CBCPAD", A256CBCPAD: "A256CBCPAD",
	CKMAESKeyWrap: "CKM_AES_KEY_WRAP", CKMAESKeyWrapPad: "CKM_AES_KEY_WRAP_PAD",
}

func (a EncryptionAlgorithm) String() string {
	if int(a) < len(encNames) && encNames[a] != "" {
		return encNames[a]
	}
	return fmt.Sprintf("EncryptionAlgorithm(%d)", uint8(a))
}

// ParseEncryptionAlgorithm parses an alg as the API spells it.
func ParseEncryptionAlgorithm(s string) (EncryptionAlgorithm, error) {
	if i := slices.Index(encNames[:], s); i > 0 {
		return EncryptionAlgorithm(i), nil
	}
	return encInvalid, invalidInput("unknown encryption algorithm %q", trunc(s))
}

// aesBytes is the AES key length an algorithm requires (0: any or not AES).
func (a EncryptionAlgorithm) aesBytes() int {
	switch a {
	case A128GCM, A128KW, A128CBC, A128CBCPAD:
		return 16
	case A192GCM, A192KW, A192CBC, A192CBCPAD:
		return 24
	case A256GCM, A256KW, A256CBC, A256CBCPAD:
		return 32
	}
	return 0
}

func (a EncryptionAlgorithm) isRSA() bool { return a == RSAOAEP || a == RSAOAEP256 || a == RSA15 }

func (a EncryptionAlgorithm) isGCM() bool { return a == A128GCM || a == A192GCM || a == A256GCM }

func (a EncryptionAlgorithm) isCBC() bool { return a == A128CBC || a == A192CBC || a == A256CBC }

func (a EncryptionAlgorithm) isCBCPad() bool {
	return a == A128CBCPAD || a == A192CBCPAD || a == A256CBCPAD
}

func (a EncryptionAlgorithm) isKeyWrap() bool {
	return a == A128KW || a == A192KW || a == A256KW || a == CKMAESKeyWrap || a == CKMAESKeyWrapPad
}

// SignatureAlgorithm is a JsonWebKeySignatureAlgorithm; zero is invalid.
type SignatureAlgorithm uint8

// Signature algorithms. RSNULL is reserved in the spec and not offered.
const (
	sigInvalid SignatureAlgorithm = iota
	PS256
	PS384
	PS512
	RS256
	RS384
	RS512
	ES256
	ES256K
	ES384
	ES512
	HS256
	HS384
	HS512
)

var sigNames = [...]string{
	PS256: "PS256", PS384: "PS384", PS512: "PS512", RS256: "RS256", RS384: "RS384", RS512: "RS512",
	ES256: "ES256", ES256K: "ES256K", ES384: "ES384", ES512: "ES512", HS256: "HS256", HS384: "HS384", HS512: "HS512",
}

func (a SignatureAlgorithm) String() string {
	if int(a) < len(sigNames) && sigNames[a] != "" {
		return sigNames[a]
	}
	return fmt.Sprintf("SignatureAlgorithm(%d)", uint8(a))
}

// ParseSignatureAlgorithm parses an alg as the API spells it.
func ParseSignatureAlgorithm(s string) (SignatureAlgorithm, error) {
	if i := slices.Index(sigNames[:], s); i > 0 {
		return SignatureAlgorithm(i), nil
	}
	return sigInvalid, invalidInput("unknown signature algorithm %q", trunc(s))
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
