package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/cofferkms/coffer/internal/store"
)

// Config carries the issuer's dependencies and settings.
type Config struct {
	Directory *directory.Directory
	// Store keeps the signing keys under oidc/keys/; it must be an
	// encrypting barrier view.
	Store store.Store
	// TokenLifetime is the lifetime of issued tokens (default 1h).
	TokenLifetime time.Duration
	// GroupOverageLimit is the most groups a token carries before it uses
	// Entra's overage form instead (default 200, as Entra's JWTs).
	GroupOverageLimit int
	// KeyRotationInterval is how long a signing key stays current before
	// the next token request rotates it (default 30 days; negative: only
	// Rotate rotates).
	KeyRotationInterval time.Duration
	// FailureBurst failed authentications per client (or user) and per
	// source address are tolerated; then one more every FailureRefill
	// (defaults 10 and 6s; a negative burst disables the limit).
	FailureBurst  int
	FailureRefill time.Duration
	// IMDSResource is the resource whose identities the IMDS-shaped
	// endpoint serves, without a secret, to loopback callers; empty means
	// that endpoint requires X-IDENTITY-HEADER like App Service's.
	IMDSResource string
	// MHSMSuffix is the pool DNS suffix advertised in /metadata/endpoints.
	MHSMSuffix string
	// OwnHost reports whether a host is one this server answers on; a
	// client assertion's audience may name any such host (the host the
	// request came to is always accepted). nil accepts only that host.
	OwnHost func(host string) bool
	Logger  *slog.Logger
	Now     func() time.Time
}

// Issuer serves the identity endpoints. It implements http.Handler; the
// HTTP layer mounts it at the root.
type Issuer struct {
	cfg     Config
	keys    *KeySet
	mux     *http.ServeMux
	limiter *failureLimiter
	replay  jtiCache
	log     *slog.Logger
}

// NewIssuer loads (or creates) the signing keys and builds the handler.
func NewIssuer(ctx context.Context, cfg Config) (*Issuer, error) {
	if cfg.Directory == nil || cfg.Store == nil {
		return nil, errors.New("oidc: Config.Directory and Config.Store are required")
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.TokenLifetime < time.Minute || cfg.TokenLifetime > 24*time.Hour {
		return nil, errors.New("oidc: Config.TokenLifetime must be between 1 minute and 24 hours")
	}
	if cfg.GroupOverageLimit <= 0 {
		cfg.GroupOverageLimit = 200
	}
	if cfg.KeyRotationInterval == 0 {
		cfg.KeyRotationInterval = 30 * 24 * time.Hour
	}
	if cfg.FailureBurst == 0 {
		cfg.FailureBurst = 10
	}
	if cfg.FailureRefill <= 0 {
		cfg.FailureRefill = 6 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ks, err := loadKeySet(ctx, cfg.Store, cfg.Now, cfg.TokenLifetime, cfg.KeyRotationInterval)
	if err != nil {
		return nil, err
	}
	i := &Issuer{cfg: cfg, keys: ks, mux: http.NewServeMux(), log: cfg.Logger,
		limiter: newFailureLimiter(cfg.FailureBurst, cfg.FailureRefill, cfg.Now)}
	i.routes()
	return i, nil
}

// Keys returns the signing key set (shared with the Verifier).
func (i *Issuer) Keys() *KeySet { return i.keys }

// Rotate makes a new signing key current; see KeySet.Rotate.
func (i *Issuer) Rotate(ctx context.Context) error { return i.keys.Rotate(ctx) }

// TokenLifetime returns the lifetime of issued tokens.
func (i *Issuer) TokenLifetime() time.Duration { return i.cfg.TokenLifetime }

// ServeHTTP serves the identity endpoints.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) { i.mux.ServeHTTP(w, r) }

func (i *Issuer) routes() {
	i.handle("GET /{tenant}/v2.0/.well-known/openid-configuration", i.discoveryV2)
	i.handle("GET /{tenant}/.well-known/openid-configuration", i.discoveryV1)
	i.handle("POST /{tenant}/oauth2/v2.0/token", i.token)
	i.handle("POST /{tenant}/oauth2/token", i.token)
	i.handle("GET /{tenant}/discovery/v2.0/keys", i.jwks)
	i.handle("GET /{tenant}/discovery/keys", i.jwks)
	i.handle("GET /{tenant}/discovery/instance", i.instanceDiscovery)
	i.handle("POST /{tenant}/users/{oid}/getMemberObjects", i.memberObjects)
	i.handle("GET /msi/token", i.appServiceToken)
	i.handle("GET /metadata/identity/oauth2/token", i.imdsToken)
	i.handle("GET /metadata/identity/oauth2/token/", i.imdsToken)
	i.handle("GET /metadata/endpoints", i.cloudMetadata)
	i.handle("GET /subscriptions", i.subscriptions)
	i.handle("GET /subscriptions/{id}", i.subscriptions)
	i.handle("GET /tenants", i.tenants)
	i.handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return &oauthError{status: http.StatusNotFound, code: "not_found", desc: "The endpoint " + truncate(r.URL.Path, 200) + " does not exist."}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}

// tenantOf maps a path segment to a tenant: a tenant id or name, or
// "adfs" (and MSAL's "common" and "organizations") for the default one.
func (i *Issuer) tenantOf(seg string) (*directory.Tenant, error) {
	switch strings.ToLower(seg) {
	case "common", "organizations":
		seg = "adfs"
	}
	t, ok := i.cfg.Directory.Tenant(seg)
	if !ok {
		return nil, badRequest(90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", truncate(seg, 64))
	}
	return t, nil
}

// accessIssuer is the iss of access tokens: v2 tokens name
// https://host/<tenant-id>/v2.0, v1 (and ADFS-path) tokens https://host/<tenant-id>/.
func accessIssuer(host, tenantID string, v1 bool) string {
	if v1 {
		return "https://" + host + "/" + tenantID + "/"
	}
	return "https://" + host + "/" + tenantID + "/v2.0"
}

// discoveryIssuer is the issuer a discovery document (and an id_token
// from the same authority) names. ADFS authorities are their own issuer;
// otherwise the tenant is named by id, since `az login --tenant NAME`
// resolves names by reading issuer.split("/")[3].
func discoveryIssuer(host, seg, tenantID string, v1 bool) string {
	if strings.EqualFold(seg, "adfs") {
		return "https://" + host + "/adfs"
	}
	return accessIssuer(host, tenantID, v1)
}

func (i *Issuer) discoveryV2(w http.ResponseWriter, r *http.Request) error {
	return i.discovery(w, r, false)
}

func (i *Issuer) discoveryV1(w http.ResponseWriter, r *http.Request) error {
	return i.discovery(w, r, true)
}

// discovery serves an OpenID configuration. Every URL is built from the
// host the client used, because MSAL follows them as given and checks
// that the issuer's host is the authority's.
func (i *Issuer) discovery(w http.ResponseWriter, r *http.Request, v1 bool) error {
	seg := r.PathValue("tenant")
	t, err := i.tenantOf(seg)
	if err != nil {
		return err
	}
	base := "https://" + r.Host + "/" + seg
	oauth, jwks := base+"/oauth2/v2.0", base+"/discovery/v2.0/keys"
	if v1 {
		oauth, jwks = base+"/oauth2", base+"/discovery/keys"
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                discoveryIssuer(r.Host, seg, t.ID, v1),
		"authorization_endpoint":                oauth + "/authorize",
		"token_endpoint":                        oauth + "/token",
		"device_authorization_endpoint":         oauth + "/devicecode",
		"end_session_endpoint":                  oauth + "/logout",
		"jwks_uri":                              jwks,
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials", "password"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "appid", "azp", "idtyp", "ver",
			"uti", "upn", "name", "preferred_username", "groups", "roles", "wids"},
		"tenant_region_scope": nil,
		"cloud_instance_name": r.Host,
		"tenant_id":           t.ID,
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, r *http.Request) error {
	if _, err := i.tenantOf(r.PathValue("tenant")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, i.keys.JWKS())
}

// instanceDiscovery answers MSAL's instance discovery
// (/common/discovery/instance) for clients that trust this server as an
// authority host: it knows only itself.
func (i *Issuer) instanceDiscovery(w http.ResponseWriter, r *http.Request) error {
	host := r.Host
	return writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + r.PathValue("tenant") + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}
