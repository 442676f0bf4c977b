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
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalidToken is returned for every rejected token, wrapped with a
// reason safe to log (never the token).
var ErrInvalidToken = errors.New("oidc: invalid token")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// leeway absorbs clock skew between issuer and verifier.
const leeway = 30 * time.Second

// Identity is a verified caller.
type Identity struct {
	TenantID, ObjectID, AppID, UPN, Name string
	Kind                                 string // app, user, managedIdentity, or external
	Groups                               []string
	GlobalAdmin                          bool
	Issuer                               string
	External                             bool
	Expires                              time.Time
	TokenID                              string
}

// ExternalIssuer is an identity provider the data plane trusts.
type ExternalIssuer struct {
	// Issuer is the iss value, e.g. https://login.microsoftonline.com/<tenant>/v2.0.
	Issuer string `json:"issuer"`
	// Audiences the tokens must carry (one of); empty means the data-plane
	// audiences.
	Audiences []string `json:"audiences,omitempty"`
	// Algorithms are the accepted signing algorithms (default RS256).
	Algorithms []string `json:"algorithms,omitempty"`
	// TenantID, when set, must equal the token's tid.
	TenantID string `json:"tenantId,omitempty"`
	// ObjectIDClaim names the principal id claim (default oid, then sub).
	ObjectIDClaim string `json:"objectIdClaim,omitempty"`
	// GroupsClaim names the groups claim (default groups).
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// JWKSURL skips discovery and reads keys from this URL.
	JWKSURL string `json:"jwksUrl,omitempty"`
}

// VerifierConfig carries the verifier's dependencies.
type VerifierConfig struct {
	Issuer    *Issuer
	Directory *directory.Directory
	// Audiences are the data plane's accepted token audiences.
	Audiences []string
	// OwnHost reports whether a host (from a token's iss) is one this
	// server's issuer answers on.
	OwnHost  func(host string) bool
	External []ExternalIssuer
	// HTTPClient fetches external issuers' discovery documents and keys.
	HTTPClient *http.Client
	// CacheSize bounds the verified-token cache (default 100,000).
	CacheSize int
	Now       func() time.Time
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	cfg      VerifierConfig
	external atomic.Pointer[map[string]*externalState]

	cacheMu sync.RWMutex
	cache   map[[32]byte]*cacheEntry

	// signatureChecks counts cryptographic verifications (see SignatureChecks).
	signatureChecks atomic.Int64
}

// SignatureChecks returns how many tokens have had their signatures
// verified. A token seen before is served from the cache, so this grows
// with distinct tokens, not with requests.
func (v *Verifier) SignatureChecks() int64 { return v.signatureChecks.Load() }

type cacheEntry struct {
	expires   time.Time
	issuerKey string // "" for our own tokens
	credID    string
	ident     atomic.Pointer[Identity]
	gen       atomic.Uint64
}

type externalState struct {
	cfg      ExternalIssuer
	mu       sync.Mutex
	verifier *gooidc.IDTokenVerifier
}

// NewVerifier builds a verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == nil || cfg.Directory == nil || len(cfg.Audiences) == 0 {
		return nil, errors.New("oidc: VerifierConfig needs Issuer, Directory and Audiences")
	}
	if cfg.OwnHost == nil {
		return nil, errors.New("oidc: VerifierConfig.OwnHost is required")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	v := &Verifier{cfg: cfg, cache: make(map[[32]byte]*cacheEntry)}
	v.SetExternalIssuers(cfg.External)
	return v, nil
}

// SetExternalIssuers replaces the trusted external issuers. Cached tokens of
// issuers no longer trusted are dropped at once.
func (v *Verifier) SetExternalIssuers(list []ExternalIssuer) {
	m := make(map[string]*externalState, len(list))
	for _, e := range list {
		m[trimSlash(e.Issuer)] = &externalState{cfg: e}
	}
	v.external.Store(&m)
	v.cacheMu.Lock()
	for k, e := range v.cache {
		if _, ok := m[e.issuerKey]; e.issuerKey != "" && !ok {
			delete(v.cache, k)
		}
	}
	v.cacheMu.Unlock()
}

// Verify checks a bearer token and returns the caller. A token seen before
// is not verified cryptographically again, but the principal's liveness and
// groups are checked on every call.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	if len(raw) > 16<<10 {
		return nil, invalid("token too large")
	}
	key := sha256.Sum256([]byte(raw))
	now := v.cfg.Now()
	v.cacheMu.RLock()
	e := v.cache[key]
	v.cacheMu.RUnlock()
	if e != nil {
		if now.After(e.expires.Add(leeway)) {
			v.cacheMu.Lock()
			delete(v.cache, key)
			v.cacheMu.Unlock()
			return nil, invalid("token has expired")
		}
		if e.issuerKey != "" {
			if _, ok := (*v.external.Load())[e.issuerKey]; !ok {
				return nil, invalid("issuer %s is no longer trusted", e.issuerKey)
			}
			return e.ident.Load(), nil
		}
		return v.live(e)
	}
	e, err := v.verifyFresh(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	v.cacheMu.Lock()
	if len(v.cache) >= v.cfg.CacheSize {
		for k, old := range v.cache {
			if now.After(old.expires) || len(v.cache) >= v.cfg.CacheSize {
				delete(v.cache, k)
			}
			if len(v.cache) < v.cfg.CacheSize*3/4 {
				break
			}
		}
	}
	v.cache[key] = e
	v.cacheMu.Unlock()
	if e.issuerKey != "" {
		return e.ident.Load(), nil
	}
	return v.live(e)
}

// live applies the per-request directory checks to a cached own token.
func (v *Verifier) live(e *cacheEntry) (*Identity, error) {
	id := e.ident.Load()
	if err := v.cfg.Directory.Live(id.ObjectID, e.credID); err != nil {
		return nil, invalid("principal %s: %v", id.ObjectID, err)
	}
	dir := v.cfg.Directory
	if gen := dir.Generation(); e.gen.Load() != gen {
		// The directory changed: group memberships and roles may have too.
		n := *id
		n.Groups = dir.TransitiveGroups(id.ObjectID)
		if p, ok := dir.Get(id.ObjectID); ok {
			n.GlobalAdmin = p.IsGlobalAdmin()
		}
		e.ident.Store(&n)
		e.gen.Store(gen)
		id = &n
	}
	return id, nil
}

// peekIssuer reads iss without trusting it, to choose how to verify.
func peekIssuer(raw string) (string, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA})
	if err != nil {
		return "", invalid("not a signed JWT with an accepted algorithm")
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || c.Issuer == "" {
		return "", invalid("token has no issuer")
	}
	return c.Issuer, nil
}

func (v *Verifier) verifyFresh(ctx context.Context, raw string, now time.Time) (*cacheEntry, error) {
	iss, err := peekIssuer(raw)
	if err != nil {
		return nil, err
	}
	if st, ok := (*v.external.Load())[trimSlash(iss)]; ok {
		return v.verifyExternal(ctx, st, raw)
	}
	c, err := v.cfg.Issuer.verifyOwnAt(raw, now, &v.signatureChecks)
	if err != nil {
		return nil, err
	}
	if err := v.checkOwnIssuer(c); err != nil {
		return nil, err
	}
	if !slices.Contains(v.cfg.Audiences, trimSlash(c.Audience)) {
		return nil, invalid("audience %q is not accepted here", truncate(c.Audience, 128))
	}
	e := &cacheEntry{expires: c.Expiry.Time(), credID: c.CredentialID}
	kind := c.Kind
	if kind == "" {
		kind = c.IDType
	}
	appID := c.AppID
	if appID == "" {
		appID = c.AZP
	}
	e.ident.Store(&Identity{TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: appID, UPN: c.UPN, Name: c.Name, Kind: kind,
		Issuer: c.Issuer, Expires: c.Expiry.Time(), TokenID: c.UTI,
		GlobalAdmin: slices.Contains(c.WIDs, directory.GlobalAdministratorTemplateID)})
	e.gen.Store(^uint64(0)) // force group resolution on first use
	return e, nil
}

// checkOwnIssuer requires iss to be https://<one of our hosts>/<tid>/ or
// .../<tid>/v2.0, naming the token's own tenant.
func (v *Verifier) checkOwnIssuer(c *Claims) error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || !v.cfg.OwnHost(u.Host) {
		return invalid("issuer %q is not trusted", truncate(c.Issuer, 128))
	}
	p := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v2.0")
	if p != "/"+c.TenantID {
		return invalid("issuer %q does not name the token's tenant", truncate(c.Issuer, 128))
	}
	if _, ok := v.cfg.Directory.Tenant(c.TenantID); !ok {
		return invalid("tenant %s does not exist", truncate(c.TenantID, 64))
	}
	return nil
}

// verifyOwn checks a token of ours (signature and lifetime only).
func (i *Issuer) verifyOwn(raw string) (*Claims, error) {
	return i.verifyOwnAt(raw, i.cfg.Now(), nil)
}

func (i *Issuer) verifyOwnAt(raw string, now time.Time, counter *atomic.Int64) (*Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, invalid("not an RS256-signed JWT")
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("token must have one signature")
	}
	pub, ok := i.keys.publicKey(tok.Headers[0].KeyID)
	if !ok {
		return nil, invalid("unknown signing key %q", truncate(tok.Headers[0].KeyID, 64))
	}
	if counter != nil {
		counter.Add(1)
	}
	var c Claims
	if err := tok.Claims(pub, &c); err != nil {
		return nil, invalid("signature does not verify")
	}
	switch {
	case c.Expiry == nil || now.After(c.Expiry.Time().Add(leeway)):
		return nil, invalid("token has expired")
	case c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time()):
		return nil, invalid("token is not yet valid")
	case c.ObjectID == "" || c.TenantID == "":
		return nil, invalid("token lacks oid or tid")
	}
	return &c, nil
}

func (v *Verifier) verifyExternal(ctx context.Context, st *externalState, raw string) (*cacheEntry, error) {
	st.mu.Lock()
	if st.verifier == nil {
		algs := st.cfg.Algorithms
		if len(algs) == 0 {
			algs = []string{"RS256"}
		}
		cctx := gooidc.ClientContext(context.WithoutCancel(ctx), v.cfg.HTTPClient)
		oc := &gooidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs, Now: v.cfg.Now}
		if st.cfg.JWKSURL != "" {
			st.verifier = gooidc.NewVerifier(st.cfg.Issuer, gooidc.NewRemoteKeySet(cctx, st.cfg.JWKSURL), oc)
		} else {
			prov, err := gooidc.NewProvider(cctx, st.cfg.Issuer)
			if err != nil {
				st.mu.Unlock()
				return nil, invalid("issuer %s is unreachable: %v", st.cfg.Issuer, err)
			}
			st.verifier = prov.Verifier(oc)
		}
	}
	ver := st.verifier
	st.mu.Unlock()
	v.signatureChecks.Add(1)
	tok, err := ver.Verify(ctx, raw)
	if err != nil {
		return nil, invalid("external token: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, invalid("external token claims: %v", err)
	}
	auds := st.cfg.Audiences
	if len(auds) == 0 {
		auds = v.cfg.Audiences
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(auds, trimSlash(a)) }) {
		return nil, invalid("external token audience is not accepted")
	}
	tid, _ := claims["tid"].(string)
	if st.cfg.TenantID != "" && !strings.EqualFold(tid, st.cfg.TenantID) {
		return nil, invalid("external token is for tenant %q, not %q", truncate(tid, 64), st.cfg.TenantID)
	}
	oidClaim := st.cfg.ObjectIDClaim
	if oidClaim == "" {
		oidClaim = "oid"
	}
	oid, _ := claims[oidClaim].(string)
	if oid == "" {
		oid = tok.Subject
	}
	if oid == "" {
		return nil, invalid("external token names no principal")
	}
	gClaim := st.cfg.GroupsClaim
	if gClaim == "" {
		gClaim = "groups"
	}
	var groups []string
	if raw, ok := claims[gClaim].([]any); ok {
		for _, g := range raw {
			if s, ok := g.(string); ok {
				groups = append(groups, strings.ToLower(s))
			}
		}
	}
	appID, _ := claims["appid"].(string)
	if appID == "" {
		appID, _ = claims["azp"].(string)
	}
	upn, _ := claims["upn"].(string)
	if upn == "" {
		upn, _ = claims["preferred_username"].(string)
	}
	e := &cacheEntry{expires: tok.Expiry, issuerKey: trimSlash(st.cfg.Issuer)}
	e.ident.Store(&Identity{TenantID: tid, ObjectID: strings.ToLower(oid), AppID: appID, UPN: upn, Kind: "external",
		Groups: groups, Issuer: tok.Issuer, External: true, Expires: tok.Expiry})
	return e, nil
}
