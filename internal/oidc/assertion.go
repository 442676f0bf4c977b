package oidc

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

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

func (c *assertionClaims) audiences() []string {
	var one string
	if json.Unmarshal(c.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(c.Audience, &many)
	return many
}

// parsedAssertion is a client assertion whose signature is not yet checked.
type parsedAssertion struct {
	sig      *jose.JSONWebSignature
	thumb    []byte // x5t (SHA-1) or x5t#S256 (SHA-256) from the header
	claims   assertionClaims
	clientID string
}

var errBadAssertion = errors.New("oidc: malformed client assertion")

// decodeThumb accepts the base64 variants clients use for x5t: the Azure
// CLI sends standard base64 with padding; others send base64url.
func decodeThumb(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// parseAssertion reads a client assertion's header and claims. Nothing is
// trusted until verify succeeds.
func parseAssertion(raw string) (*parsedAssertion, error) {
	if len(raw) > 16<<10 {
		return nil, errBadAssertion
	}
	sig, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256})
	if err != nil || len(sig.Signatures) != 1 {
		return nil, errBadAssertion
	}
	h := sig.Signatures[0].Protected
	var thumb []byte
	if v, ok := h.ExtraHeaders["x5t#S256"].(string); ok {
		thumb, err = decodeThumb(v)
	} else if v, ok := h.ExtraHeaders["x5t"].(string); ok {
		thumb, err = decodeThumb(v)
	} else {
		err = errBadAssertion
	}
	if err != nil || (len(thumb) != 20 && len(thumb) != 32) {
		return nil, errBadAssertion
	}
	var c assertionClaims
	if err := json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, errBadAssertion
	}
	if c.Issuer == "" || c.Issuer != c.Subject || c.JTI == "" || c.Expiry == nil {
		return nil, errBadAssertion
	}
	return &parsedAssertion{sig: sig, thumb: thumb, claims: c, clientID: c.Issuer}, nil
}

// verify checks the signature with the registered certificate's key and
// the claims: audience is one of this tenant's token endpoints, times are
// valid, and the jti has not been seen.
func (a *parsedAssertion) verify(pub *rsa.PublicKey, validAudience func(string) bool, now time.Time, replay *jtiCache) error {
	if _, err := a.sig.Verify(pub); err != nil {
		return errBadAssertion
	}
	okAud := false
	for _, aud := range a.claims.audiences() {
		okAud = okAud || validAudience(aud)
	}
	if !okAud {
		return errors.New("oidc: client assertion audience is not this token endpoint")
	}
	t := float64(now.Unix())
	const skew = 300
	if *a.claims.Expiry < t-skew {
		return errors.New("oidc: client assertion has expired")
	}
	if a.claims.NotBef != nil && *a.claims.NotBef > t+skew {
		return errors.New("oidc: client assertion is not yet valid")
	}
	if *a.claims.Expiry > t+24*3600 {
		return errors.New("oidc: client assertion lifetime is too long")
	}
	exp := time.Unix(int64(math.Ceil(*a.claims.Expiry)), 0).Add(skew * time.Second)
	if !replay.add(a.clientID+"|"+a.claims.JTI, exp, now) {
		return errors.New("oidc: client assertion was already used")
	}
	return nil
}

// tokenEndpointAudience reports whether aud names a token endpoint of
// tenant on one of our hosts.
func tokenEndpointAudience(tenantIDs []string) func(string) bool {
	return func(aud string) bool {
		u, err := url.Parse(aud)
		if err != nil || u.Scheme != "https" {
			return false
		}
		p := strings.TrimSuffix(u.Path, "/")
		for _, t := range tenantIDs {
			for _, suffix := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				if strings.EqualFold(p, "/"+t+suffix) {
					return true
				}
			}
		}
		return false
	}
}

// jtiCache remembers assertion ids until they expire, to refuse replays.
type jtiCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (c *jtiCache) add(key string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	if len(c.seen) > 10_000 {
		for k, e := range c.seen {
			if now.After(e) {
				delete(c.seen, k)
			}
		}
	}
	if e, ok := c.seen[key]; ok && !now.After(e) {
		return false
	}
	c.seen[key] = exp
	return true
}
