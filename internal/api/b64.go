package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Base64URL is a byte string carried as base64url without padding, the
// encoding Managed HSM uses for every binary field. Decoding is lenient
// (padded input and the standard alphabet are accepted) because clients
// differ; encoding is always unpadded base64url.
type Base64URL []byte

// ErrBase64 is returned when a binary field is not valid base64.
var ErrBase64 = errors.New("api: invalid base64url value")

// MarshalJSON encodes b as an unpadded base64url JSON string.
func (b Base64URL) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.RawURLEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

// UnmarshalJSON decodes a base64url (or standard base64) JSON string.
func (b *Base64URL) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return ErrBase64
	}
	v, err := DecodeBase64(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// DecodeBase64 decodes s leniently: base64url or standard alphabet, with or
// without padding.
func DecodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		v, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			return nil, ErrBase64
		}
		return v, nil
	}
	v, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBase64
	}
	return v, nil
}

// EncodeBase64URL encodes b as unpadded base64url.
func EncodeBase64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
