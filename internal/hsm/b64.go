package hsm

import (
	"encoding/base64"
	"strings"
)

// decodeLenientBase64 accepts base64url or standard base64, padded or not,
// as clients vary.
func decodeLenientBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
