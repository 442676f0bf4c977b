package oidc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// ExternalIssuer is an identity provider (Entra ID, Keycloak, Dex) whose
// tokens the data plane trusts. Its principals are not in our directory:
// whether they are still enabled is the provider's business, expressed
// by the lifetime of its tokens.
type ExternalIssuer struct {
	// Issuer is the exact iss of its tokens, e.g.
	// https://login.microsoftonline.com/<tenant>/v2.0. It must be https.
	Issuer string `json:"issuer"`
	// Audiences the tokens must carry (one of); empty means the
	// verifier's own audiences.
	Audiences []string `json:"audiences,omitempty"`
	// Algorithms are the accepted signing algorithms (default RS256);
	// only asymmetric ones are allowed.
	Algorithms []string `json:"algorithms,omitempty"`
	// TenantID, when set, must equal the token's tid claim.
	TenantID string `json:"tenantId,omitempty"`
	// ObjectIDClaim names the principal id claim (default oid; sub when
	// the claim is absent).
	ObjectIDClaim string `json:"objectIdClaim,omitempty"`
	// GroupsClaim names the groups claim (default groups).
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// JWKSURL skips discovery and reads keys from this https URL.
	JWKSURL string `json:"jwksUrl,omitempty"`
	// HTTPClient, when set, fetches this issuer's discovery document and
	// keys instead of VerifierConfig.HTTPClient (e.g. to trust its CA).
	HTTPClient *http.Client `json:"-"`
}

// externalAlgorithms are the algorithms an external issuer may be trusted
// with: asymmetric only, so a public key can never serve as an HMAC key.
var externalAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func (e *ExternalIssuer) validate() error {
	u, err := url.Parse(e.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("oidc: external issuer %q must be an https URL", e.Issuer)
	}
	for _, a := range e.Algorithms {
		if !slices.Contains(externalAlgorithms, jose.SignatureAlgorithm(a)) {
			return fmt.Errorf("oidc: external issuer %s: algorithm %q is not allowed", e.Issuer, a)
		}
	}
	if e.JWKSURL != "" {
		if u, err := url.Parse(e.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("oidc: external issuer %s: jwksUrl must be an https URL", e.Issuer)
		}
	}
	return nil
}

func (e *ExternalIssuer) equal(o *ExternalIssuer) bool {
	return e.Issuer == o.Issuer && slices.Equal(e.Audiences, o.Audiences) && slices.Equal(e.Algorithms, o.Algorithms) &&
		e.TenantID == o.TenantID && e.ObjectIDClaim == o.ObjectIDClaim && e.GroupsClaim == o.GroupsClaim && e.JWKSURL == o.JWKSURL && e.HTTPClient == o.HTTPClient
}

// issuerSet is the immutable set of trusted external issuers, with the
// union of the algorithms any trusted issuer (ours included) signs with.
type issuerSet struct {
	byIssuer map[string]*externalIssuer
	algs     []jose.SignatureAlgorithm
}

// externalIssuer is a trusted issuer and its lazily built go-oidc
// verifier (discovery and JWKS, cached and refreshed by go-oidc).
type externalIssuer struct {
	cfg  ExternalIssuer
	key  string // Issuer without trailing slashes
	algs []string

	mu       sync.Mutex
	verifier *gooidc.IDTokenVerifier
	retryAt  time.Time // after a failed discovery, when to try again
}

// SetExternalIssuers replaces the trusted external issuers. Issuers whose
// configuration is unchanged keep their discovered keys; tokens of
// issuers removed or changed stop being accepted at once, cached or not.
func (v *Verifier) SetExternalIssuers(list []ExternalIssuer) error {
	v.extMu.Lock()
	defer v.extMu.Unlock()
	old := v.issuers.Load()
	set := &issuerSet{byIssuer: make(map[string]*externalIssuer, len(list)), algs: []jose.SignatureAlgorithm{jose.RS256}}
	for _, cfg := range list {
		if err := cfg.validate(); err != nil {
			return err
		}
		key := trimSlash(cfg.Issuer)
		if _, dup := set.byIssuer[key]; dup {
			return fmt.Errorf("oidc: external issuer %s is listed twice", cfg.Issuer)
		}
		st := old.byIssuer[key]
		if st == nil || !st.cfg.equal(&cfg) {
			st = &externalIssuer{cfg: cfg, key: key, algs: cfg.Algorithms}
			if len(st.algs) == 0 {
				st.algs = []string{string(jose.RS256)}
			}
		}
		set.byIssuer[key] = st
		for _, a := range st.algs {
			if !slices.Contains(set.algs, jose.SignatureAlgorithm(a)) {
				set.algs = append(set.algs, jose.SignatureAlgorithm(a))
			}
		}
	}
	v.issuers.Store(set)
	v.cache.dropWhere(func(e *cacheEntry) bool { return e.ext != nil && set.byIssuer[e.ext.key] != e.ext })
	return nil
}

// ExternalIssuers returns the trusted external issuers.
func (v *Verifier) ExternalIssuers() []ExternalIssuer {
	var out []ExternalIssuer
	for _, st := range v.issuers.Load().byIssuer {
		out = append(out, st.cfg)
	}
	slices.SortFunc(out, func(a, b ExternalIssuer) int { return strings.Compare(a.Issuer, b.Issuer) })
	return out
}

// AddIssuer trusts one more external issuer, or replaces the
// configuration of one with the same issuer URL.
func (v *Verifier) AddIssuer(cfg ExternalIssuer) error {
	list := slices.DeleteFunc(v.ExternalIssuers(), func(e ExternalIssuer) bool { return trimSlash(e.Issuer) == trimSlash(cfg.Issuer) })
	return v.SetExternalIssuers(append(list, cfg))
}

// RemoveIssuer stops trusting an external issuer; its tokens, cached ones
// included, are refused from now on. It reports whether the issuer was
// trusted.
func (v *Verifier) RemoveIssuer(issuer string) bool {
	list := v.ExternalIssuers()
	n := len(list)
	list = slices.DeleteFunc(list, func(e ExternalIssuer) bool { return trimSlash(e.Issuer) == trimSlash(issuer) })
	if len(list) == n {
		return false
	}
	// The remaining configurations were valid when added.
	_ = v.SetExternalIssuers(list)
	return true
}

// discoveryRetry spaces out discovery attempts for an unreachable issuer.
const discoveryRetry = 10 * time.Second

// verifierFor returns the issuer's go-oidc verifier, discovering it on
// first use.
func (v *Verifier) verifierFor(ctx context.Context, st *externalIssuer) (*gooidc.IDTokenVerifier, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.verifier != nil {
		return st.verifier, nil
	}
	now := v.cfg.Now()
	if now.Before(st.retryAt) {
		return nil, invalid("issuer %s is unreachable", st.key)
	}
	// go-oidc keeps this context for later key refreshes: it must carry
	// the HTTP client and outlive the request.
	cctx := gooidc.ClientContext(context.WithoutCancel(ctx), cmp.Or(st.cfg.HTTPClient, v.cfg.HTTPClient))
	oc := &gooidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: st.algs, Now: v.cfg.Now}
	if st.cfg.JWKSURL != "" {
		st.verifier = gooidc.NewVerifier(st.cfg.Issuer, gooidc.NewRemoteKeySet(cctx, st.cfg.JWKSURL), oc)
		return st.verifier, nil
	}
	prov, err := gooidc.NewProvider(cctx, st.cfg.Issuer)
	if err != nil {
		st.retryAt = now.Add(discoveryRetry)
		return nil, invalid("issuer %s: discovery failed: %s", st.key, truncate(err.Error(), 200))
	}
	st.verifier = prov.Verifier(oc)
	return st.verifier, nil
}

func (v *Verifier) verifyExternal(ctx context.Context, st *externalIssuer, raw string) (*cacheEntry, error) {
	ver, err := v.verifierFor(ctx, st)
	if err != nil {
		return nil, err
	}
	v.signatureChecks.Add(1)
	tok, err := ver.Verify(ctx, raw)
	if err != nil {
		if _, ok := errors.AsType[*gooidc.TokenExpiredError](err); ok {
			return nil, invalid("token from %s has expired", st.key)
		}
		return nil, invalid("token from %s: %s", st.key, truncate(err.Error(), 200))
	}
	var cl map[string]any
	if err := tok.Claims(&cl); err != nil {
		return nil, invalid("token from %s has malformed claims", st.key)
	}
	str := func(name string) string { s, _ := cl[name].(string); return s }
	auds := st.cfg.Audiences
	if len(auds) == 0 {
		auds = v.audiences
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool {
		return slices.ContainsFunc(auds, func(want string) bool { return trimSlash(want) == trimSlash(a) })
	}) {
		return nil, invalid("token from %s is for another audience", st.key)
	}
	tid := str("tid")
	if st.cfg.TenantID != "" && !strings.EqualFold(tid, st.cfg.TenantID) {
		return nil, invalid("token from %s is for tenant %q, not %q", st.key, truncate(tid, 64), st.cfg.TenantID)
	}
	oidClaim := cmp.Or(st.cfg.ObjectIDClaim, "oid")
	oid := cmp.Or(str(oidClaim), tok.Subject)
	if oid == "" {
		return nil, invalid("token from %s names no principal (%s or sub)", st.key, oidClaim)
	}
	var groups []string
	if gs, ok := cl[cmp.Or(st.cfg.GroupsClaim, "groups")].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				groups = append(groups, strings.ToLower(s))
			}
		}
	}
	// Role assignments name principals by object id alone, so an external
	// issuer must not speak for this server's own principals or groups:
	// that would hand it their roles.
	if v.dir != nil {
		for _, id := range append([]string{strings.ToLower(oid)}, groups...) {
			if _, ok := v.dir.Get(id); ok {
				return nil, invalid("token from %s names %s, an object of this server's own directory", st.key, truncate(id, 64))
			}
		}
	}
	upn := cmp.Or(str("upn"), str("preferred_username"))
	kind := KindExternal
	switch {
	case str("idtyp") == KindApp || str("idtyp") == KindUser:
		kind = str("idtyp")
	case upn != "":
		kind = KindUser
	case str("appid") != "" || str("azp") != "":
		kind = KindApp
	}
	e := &cacheEntry{expires: tok.Expiry, ext: st}
	e.ident.Store(&Identity{TenantID: cmp.Or(tid, st.cfg.TenantID), ObjectID: strings.ToLower(oid), AppID: cmp.Or(str("appid"), str("azp")),
		UPN: upn, Name: str("name"), Kind: kind, Groups: groups, Issuer: tok.Issuer, External: true, Expires: tok.Expiry,
		TokenID: cmp.Or(str("uti"), str("jti"))})
	return e, nil
}
