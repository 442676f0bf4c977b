package hsm

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// KeyName is a key name that passed ParseKeyName: 1–127 characters of
// [0-9A-Za-z-]. Key names compare case-insensitively, as Key Vault object
// identifiers do; the spelling given at creation is kept for display.
type KeyName struct{ s string }

// MaxKeyNameLen is Key Vault's limit on object names.
const MaxKeyNameLen = 127

// ParseKeyName validates s as a key name.
func ParseKeyName(s string) (KeyName, error) {
	if s == "" || len(s) > MaxKeyNameLen {
		return KeyName{}, badParameter("The key name must be 1 to %d characters long.", MaxKeyNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '-' && !('0' <= c && c <= '9') && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return KeyName{}, badParameter("The key name %q is invalid: it may contain only 0-9, a-z, A-Z and -.", safeName(s))
		}
	}
	return KeyName{s}, nil
}

// MustKeyName is ParseKeyName for names known to be valid; it panics otherwise.
func MustKeyName(s string) KeyName {
	n, err := ParseKeyName(s)
	if err != nil {
		panic(err)
	}
	return n
}

func (n KeyName) String() string { return n.s }

// key is the case-folded form used for lookups and storage paths.
func (n KeyName) key() string { return strings.ToLower(n.s) }

// IsZero reports whether n is the zero KeyName.
func (n KeyName) IsZero() bool { return n.s == "" }

// safeName trims a rejected name for use in an error message.
func safeName(s string) string {
	if len(s) > 140 {
		s = s[:140]
	}
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "?")
	}
	return s
}

// KeyRef names a key version; an empty Version means the latest.
type KeyRef struct {
	Name    KeyName
	Version string
}

// ParseKeyRef validates a key name and an optional version segment. Key
// versions are 32 lower-case hexadecimal characters; they compare
// case-insensitively.
func ParseKeyRef(name, version string) (KeyRef, error) {
	n, err := ParseKeyName(name)
	if err != nil {
		return KeyRef{}, err
	}
	if version == "" {
		return KeyRef{Name: n}, nil
	}
	v := strings.ToLower(version)
	if len(v) != 32 {
		return KeyRef{}, keyVersionNotFound(n.s, safeName(version))
	}
	if _, err := hex.DecodeString(v); err != nil {
		return KeyRef{}, keyVersionNotFound(n.s, safeName(version))
	}
	return KeyRef{Name: n, Version: v}, nil
}

// Tag limits of Managed HSM.
const (
	MaxTags        = 15
	MaxTagNameLen  = 256
	MaxTagValueLen = 256
)

func validateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return badParameter("A key may have at most %d tags; %d were given.", MaxTags, len(tags))
	}
	for k, v := range tags {
		if k == "" {
			return badParameter("Tag names must not be empty.")
		}
		if utf8.RuneCountInString(k) > MaxTagNameLen {
			return badParameter("Tag name %q is longer than %d characters.", safeName(k), MaxTagNameLen)
		}
		if utf8.RuneCountInString(v) > MaxTagValueLen {
			return badParameter("The value of tag %q is longer than %d characters.", safeName(k), MaxTagValueLen)
		}
	}
	return nil
}

// KeyOp is a JSON Web Key operation (key_ops member).
type KeyOp uint8

// Key operations. The zero value is invalid.
const (
	keyOpInvalid KeyOp = iota
	OpEncrypt
	OpDecrypt
	OpSign
	OpVerify
	OpWrapKey
	OpUnwrapKey
	OpImport
)

var keyOpNames = [...]string{
	OpEncrypt: "encrypt", OpDecrypt: "decrypt", OpSign: "sign", OpVerify: "verify",
	OpWrapKey: "wrapKey", OpUnwrapKey: "unwrapKey", OpImport: "import",
}

func (o KeyOp) String() string {
	if int(o) < len(keyOpNames) && keyOpNames[o] != "" {
		return keyOpNames[o]
	}
	return fmt.Sprintf("KeyOp(%d)", uint8(o))
}

// ParseKeyOp parses a key_ops member. Key Vault spells them in camel case;
// any casing is accepted.
func ParseKeyOp(s string) (KeyOp, error) {
	for i, n := range keyOpNames {
		if n != "" && strings.EqualFold(n, s) {
			return KeyOp(i), nil
		}
	}
	return keyOpInvalid, badParameter("Unknown key operation %q; expected one of encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import.", safeName(s))
}

// ParseKeyOps parses a key_ops list, dropping duplicates but keeping order.
func ParseKeyOps(ss []string) ([]KeyOp, error) {
	out := make([]KeyOp, 0, len(ss))
	for _, s := range ss {
		op, err := ParseKeyOp(s)
		if err != nil {
			return nil, err
		}
		if !containsOp(out, op) {
			out = append(out, op)
		}
	}
	return out, nil
}

func containsOp(ops []KeyOp, op KeyOp) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}
