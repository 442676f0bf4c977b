package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalidToken is returned for every rejected token, wrapped with a
// reason that is safe to log (it never contains the token).
var ErrInvalidToken = errors.New("oidc: invalid token")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

const (
	// leeway absorbs clock skew between issuer and verifier.
	leeway = 30 * time.Second
	// maxTokenBytes bounds what Verify reads; Entra tokens with 200
	// groups stay well below it.
	maxTokenBytes = 32 << 10
)

// Identity is a verified caller.
type Identity struct {
	TenantID, ObjectID, AppID, UPN, Name string
	// Kind is KindApp, KindUser or KindManagedIdentity for our own
	// tokens; for external ones KindApp or KindUser as far as the token
	// tells (or KindExternal).
	Kind string
	// Groups are the transitive group object ids. For our tokens they are
	// resolved from the directory (so group overage costs nothing). The
	// slice is shared: do not modify it.
	Groups      []string
	GlobalAdmin bool
	Issuer      string
	External    bool
	Expires     time.Time
	TokenID     string
}

// VerifierConfig carries the verifier's dependencies.
type VerifierConfig struct {
	// Issuer is our own issuer; the verifier shares its signing keys.
	Issuer *Issuer
	// Directory answers liveness and group questions; nil means the
	// issuer's.
	Directory *directory.Directory
	// Audiences are the data plane's accepted token audiences (one of).
	Audiences []string
	// OwnHost reports whether a host (from a token's iss) is one this
	// server's issuer answers on.
	OwnHost func(host string) bool
	// External are trusted external issuers; see SetExternalIssuers.
	External []ExternalIssuer
	// HTTPClient fetches external issuers' discovery documents and keys
	// (default http.DefaultClient).
	HTTPClient *http.Client
	// CacheSize bounds the verified-token cache (default 100,000).
	CacheSize int
	Now       func() time.Time
}

// Verifier checks bearer tokens: ours and trusted external issuers'. It is
// safe for concurrent use.
type Verifier struct {
	cfg       VerifierConfig
	dir       *directory.Directory
	audiences []string
	cache     tokenCache

	extMu   sync.Mutex // serialises changes to issuers
	issuers atomic.Pointer[issuerSet]

	// signatureChecks counts cryptographic verifications.
	signatureChecks atomic.Int64
}

// NewVerifier builds a verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == nil || len(cfg.Audiences) == 0 || cfg.OwnHost == nil {
		return nil, errors.New("oidc: VerifierConfig needs Issuer, Audiences and OwnHost")
	}
	if cfg.Directory == nil {
		cfg.Directory = cfg.Issuer.cfg.Directory
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	v := &Verifier{cfg: cfg, dir: cfg.Directory, cache: tokenCache{max: cfg.CacheSize, m: make(map[[32]byte]*cacheEntry)}}
	for _, a := range cfg.Audiences {
		v.audiences = append(v.audiences, trimSlash(a))
	}
	v.issuers.Store(&issuerSet{byIssuer: map[string]*externalIssuer{}, algs: []jose.SignatureAlgorithm{jose.RS256}})
	if err := v.SetExternalIssuers(cfg.External); err != nil {
		return nil, err
	}
	return v, nil
}

// SignatureChecks returns how many tokens have had their signature
// verified. A token seen before is served from the cache, so this grows
// with distinct tokens, not with requests.
func (v *Verifier) SignatureChecks() int64 { return v.signatureChecks.Load() }

// cacheEntry is a verified token. ident is replaced (never modified) when
// the directory changes.
type cacheEntry struct {
	expires time.Time
	ext     *externalIssuer // nil for our own tokens
	credID  string
	ident   atomic.Pointer[Identity]
	gen     atomic.Uint64 // directory generation ident's groups were resolved at
}

// Verify checks a bearer token and returns the caller. A token is verified
// cryptographically once and then cached (by its SHA-256) until it
// expires; every call still checks, in memory, that the principal is
// enabled and its credential valid, and re-resolves groups when the
// directory has changed.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	if raw == "" || len(raw) > maxTokenBytes {
		return nil, invalid("token is empty or too large")
	}
	now := v.cfg.Now()
	key := sha256.Sum256([]byte(raw))
	e := v.cache.get(key)
	if e == nil {
		var err error
		if e, err = v.verifyFresh(ctx, raw, now); err != nil {
			return nil, err
		}
		v.cache.put(key, e, now)
	}
	if now.After(e.expires.Add(leeway)) {
		v.cache.drop(key)
		return nil, invalid("token has expired")
	}
	if e.ext != nil {
		if v.issuers.Load().byIssuer[e.ext.key] != e.ext {
			v.cache.drop(key)
			return nil, invalid("issuer %s is no longer trusted", truncate(e.ext.key, 128))
		}
		id := *e.ident.Load()
		return &id, nil
	}
	return v.live(e)
}

// live applies the per-request directory checks to one of our tokens.
func (v *Verifier) live(e *cacheEntry) (*Identity, error) {
	id := e.ident.Load()
	if err := v.dir.Live(id.ObjectID, e.credID); err != nil {
		return nil, invalid("principal %s: %v", id.ObjectID, err)
	}
	if gen := v.dir.Generation(); e.gen.Load() != gen {
		// The directory changed: group memberships and roles may have too.
		n := *id
		n.Groups = v.dir.TransitiveGroups(id.ObjectID)
		if p, ok := v.dir.Get(id.ObjectID); ok {
			n.GlobalAdmin = p.IsGlobalAdmin()
		}
		e.ident.Store(&n)
		e.gen.Store(gen)
		id = &n
	}
	out := *id
	return &out, nil
}

// verifyFresh verifies a token not in the cache.
func (v *Verifier) verifyFresh(ctx context.Context, raw string, now time.Time) (*cacheEntry, error) {
	set := v.issuers.Load()
	iss, err := peekIssuer(raw, set.algs)
	if err != nil {
		return nil, err
	}
	if ext, ok := set.byIssuer[trimSlash(iss)]; ok {
		return v.verifyExternal(ctx, ext, raw)
	}
	c, err := verifyOwnToken(ctx, v.cfg.Issuer.keys, raw, now, &v.signatureChecks)
	if err != nil {
		return nil, err
	}
	if err := v.checkOwnIssuer(c); err != nil {
		return nil, err
	}
	if !slices.Contains(v.audiences, trimSlash(c.Audience)) {
		return nil, invalid("audience %q is not accepted here", truncate(c.Audience, 128))
	}
	kind := c.Kind
	if kind == "" {
		kind = c.IDType
	}
	appID := c.AppID
	if appID == "" {
		appID = c.AZP
	}
	e := &cacheEntry{expires: c.Expiry.Time(), credID: c.CredentialID}
	e.ident.Store(&Identity{TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: appID, UPN: c.UPN, Name: c.Name, Kind: kind,
		Issuer: c.Issuer, Expires: c.Expiry.Time(), TokenID: c.UTI})
	e.gen.Store(^uint64(0)) // resolve groups and roles from the directory on first use
	return e, nil
}

// peekIssuer reads iss without trusting it, to choose how to verify. Only
// algorithms some trusted issuer signs with parse, so "none" and HMAC
// tokens are refused before any key is chosen.
func peekIssuer(raw string, algs []jose.SignatureAlgorithm) (string, error) {
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		return "", invalid("not a compact JWS signed with an accepted algorithm")
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || c.Issuer == "" {
		return "", invalid("token has no issuer")
	}
	return c.Issuer, nil
}

// verifyOwnToken checks a token of ours: an RS256 signature by a published
// key, its lifetime, and the claims every token of ours has. Issuer host
// and audience are the caller's to check.
func verifyOwnToken(ctx context.Context, ks *KeySet, raw string, now time.Time, checks *atomic.Int64) (*claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, invalid("not an RS256-signed JWT")
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("token must have one signature")
	}
	pub, ok := ks.publicKey(ctx, tok.Headers[0].KeyID)
	if !ok {
		return nil, invalid("unknown signing key %q", truncate(tok.Headers[0].KeyID, 64))
	}
	if checks != nil {
		checks.Add(1)
	}
	var c claims
	if err := tok.Claims(pub, &c); err != nil {
		return nil, invalid("signature does not verify or claims are malformed")
	}
	switch {
	case c.Expiry == nil || now.After(c.Expiry.Time().Add(leeway)):
		return nil, invalid("token has expired")
	case c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time()):
		return nil, invalid("token is not yet valid")
	case c.ObjectID == "" || c.TenantID == "" || c.CredentialID == "":
		return nil, invalid("token lacks oid, tid or its credential binding")
	}
	return &c, nil
}

// checkOwnIssuer requires iss to be https://<one of our hosts>/<tid>/ or
// .../<tid>/v2.0, naming the token's own tenant, and the tenant to exist.
func (v *Verifier) checkOwnIssuer(c *claims) error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || !v.cfg.OwnHost(u.Host) {
		return invalid("issuer %q is not trusted", truncate(c.Issuer, 128))
	}
	if p := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v2.0"); p != "/"+c.TenantID {
		return invalid("issuer %q does not name the token's tenant", truncate(c.Issuer, 128))
	}
	if _, ok := v.dir.Tenant(c.TenantID); !ok {
		return invalid("tenant %s does not exist", truncate(c.TenantID, 64))
	}
	return nil
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// tokenCache maps SHA-256(token) to verified tokens. It is bounded: when
// full it drops expired entries, then arbitrary ones, down to three
// quarters, so the work of eviction is amortised over many insertions.
type tokenCache struct {
	mu  sync.RWMutex
	max int
	m   map[[32]byte]*cacheEntry
}

func (c *tokenCache) get(k [32]byte) *cacheEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

func (c *tokenCache) put(k [32]byte, e *cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, old := range c.m {
			if now.After(old.expires.Add(leeway)) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) <= c.max*3/4 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = e
}

func (c *tokenCache) drop(k [32]byte) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *tokenCache) dropWhere(fn func(*cacheEntry) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if fn(e) {
			delete(c.m, k)
		}
	}
}
