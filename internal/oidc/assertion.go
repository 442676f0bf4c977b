package oidc

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	maxAssertionBytes = 16 << 10
	// assertionSkew tolerates clock differences with the client.
	assertionSkew = 5 * time.Minute
	// maxAssertionLifetime bounds how far ahead an assertion may expire,
	// which bounds how long its jti must be remembered.
	maxAssertionLifetime = 24 * time.Hour
)

// assertionAlgorithms are the algorithms a client assertion may use:
// certificate credentials are RSA.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256}

// assertionClaims are the claims of a client assertion. exp, nbf and iat
// are floats: the Azure CLI sends fractional NumericDates.
type assertionClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	JTI      string          `json:"jti"`
	Expiry   *float64        `json:"exp"`
	NotBef   *float64        `json:"nbf"`
	IssuedAt *float64        `json:"iat"`
}

// audiences returns aud, a string or an array of strings.
func (c *assertionClaims) audiences() []string {
	var one string
	if json.Unmarshal(c.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(c.Audience, &many) == nil {
		return many
	}
	return nil
}

// parsedAssertion is a client assertion whose signature is not yet checked.
type parsedAssertion struct {
	sig        *jose.JSONWebSignature
	thumbprint []byte // x5t#S256 (SHA-256) if present, else x5t (SHA-1)
	claims     assertionClaims
}

var errBadAssertion = errors.New("oidc: malformed client assertion")

// decodeThumbprint accepts every base64 flavour clients use for x5t: the
// Azure CLI sends standard base64 with padding, RFC 7515 says base64url
// without.
func decodeThumbprint(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// parseAssertion reads a client assertion's header and claims. Nothing in
// it is trusted until verify succeeds.
func parseAssertion(raw string) (*parsedAssertion, error) {
	if len(raw) > maxAssertionBytes {
		return nil, errBadAssertion
	}
	sig, err := jose.ParseSignedCompact(raw, assertionAlgorithms)
	if err != nil || len(sig.Signatures) != 1 {
		return nil, errBadAssertion
	}
	h := sig.Signatures[0].Protected
	var thumb []byte
	want := 0
	if v, ok := h.ExtraHeaders["x5t#S256"].(string); ok {
		want = 32
		thumb, err = decodeThumbprint(v)
	} else if v, ok := h.ExtraHeaders["x5t"].(string); ok {
		want = 20
		thumb, err = decodeThumbprint(v)
	}
	if want == 0 || err != nil || len(thumb) != want {
		return nil, errBadAssertion
	}
	var c assertionClaims
	if err := json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, errBadAssertion
	}
	if c.Issuer == "" || c.Issuer != c.Subject || c.JTI == "" || len(c.JTI) > 256 || c.Expiry == nil {
		return nil, errBadAssertion
	}
	return &parsedAssertion{sig: sig, thumbprint: thumb, claims: c}, nil
}

// verify checks the signature with the registered certificate's key, then
// the claims: the audience is one of this tenant's token endpoints, the
// times are valid, and the jti has not been used. Claim problems are told
// only once the signature has proved the caller holds the key.
func (a *parsedAssertion) verify(pub *rsa.PublicKey, validAudience func(string) bool, now time.Time, replay *jtiCache) error {
	if pub == nil {
		return invalidClient(700027, "The certificate used to sign the client assertion is not registered on the application, or the signature is not valid.")
	}
	if _, err := a.sig.Verify(pub); err != nil {
		return invalidClient(700027, "The certificate used to sign the client assertion is not registered on the application, or the signature is not valid.")
	}
	okAud := false
	for _, aud := range a.claims.audiences() {
		okAud = okAud || validAudience(aud)
	}
	if !okAud {
		return invalidClient(700027, "The client assertion's audience (aud) must be this tenant's token endpoint URL.")
	}
	t := float64(now.Unix())
	skew := assertionSkew.Seconds()
	switch {
	case *a.claims.Expiry < t-skew:
		return invalidClient(700024, "The client assertion has expired.")
	case a.claims.NotBef != nil && *a.claims.NotBef > t+skew:
		return invalidClient(700024, "The client assertion is not yet valid (nbf).")
	case a.claims.IssuedAt != nil && *a.claims.IssuedAt > t+skew:
		return invalidClient(700024, "The client assertion was issued in the future (iat).")
	case *a.claims.Expiry > t+maxAssertionLifetime.Seconds():
		return invalidClient(700024, "The client assertion expires too far in the future.")
	}
	exp := time.Unix(int64(math.Ceil(*a.claims.Expiry)), 0).Add(assertionSkew)
	if !replay.add(a.claims.Issuer+"|"+a.claims.JTI, exp, now) {
		return invalidClient(700027, "The client assertion has already been used (jti).")
	}
	return nil
}

// jtiCache remembers client assertion ids until the assertions expire, to
// refuse replays. Only assertions whose signature verified are recorded.
type jtiCache struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	sweepAt int // size at which expired ids are swept out
}

func (c *jtiCache) add(key string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	if e, ok := c.seen[key]; ok && !now.After(e) {
		return false
	}
	if len(c.seen) >= max(c.sweepAt, 10_000) {
		for k, e := range c.seen {
			if now.After(e) {
				delete(c.seen, k)
			}
		}
		c.sweepAt = 2 * len(c.seen) // amortised: sweep again only after doubling
	}
	c.seen[key] = exp
	return true
}
