package oidc

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/cofferkms/coffer/internal/store"
)

// Config carries the issuer's dependencies and settings.
type Config struct {
	Directory *directory.Directory
	// Store keeps the signing keys; it should be an encrypting barrier.
	Store store.Store
	// TokenLifetime is the lifetime of issued tokens (default 1h).
	TokenLifetime time.Duration
	// GroupOverageLimit is the most groups a token carries before it uses
	// Entra's overage form instead (default 200, as Entra's JWTs).
	GroupOverageLimit int
	// FailureBurst failed authentications per client id and per source
	// address are tolerated; then one more every FailureRefill (defaults
	// 10 and 6s).
	FailureBurst  int
	FailureRefill time.Duration
	// IMDSResource is the resource whose identities the IMDS-shaped
	// endpoint serves to loopback callers; empty disables that endpoint.
	IMDSResource string
	// MHSMSuffix is the pool DNS suffix advertised in /metadata/endpoints.
	MHSMSuffix string
	Logger     *slog.Logger
	Now        func() time.Time
}

// Issuer serves the identity endpoints. It implements http.Handler.
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
	if cfg.GroupOverageLimit == 0 {
		cfg.GroupOverageLimit = 200
	}
	if cfg.FailureBurst == 0 {
		cfg.FailureBurst = 10
	}
	if cfg.FailureRefill == 0 {
		cfg.FailureRefill = 6 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ks, err := loadKeySet(ctx, cfg.Store, cfg.Now, cfg.TokenLifetime)
	if err != nil {
		return nil, err
	}
	i := &Issuer{cfg: cfg, keys: ks, mux: http.NewServeMux(), log: cfg.Logger,
		limiter: newFailureLimiter(cfg.FailureBurst, cfg.FailureRefill, cfg.Now)}
	i.routes()
	return i, nil
}

// Keys returns the signing key set.
func (i *Issuer) Keys() *KeySet { return i.keys }

// TokenLifetime returns the lifetime of issued tokens.
func (i *Issuer) TokenLifetime() time.Duration { return i.cfg.TokenLifetime }

// ServeHTTP serves the identity endpoints.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) { i.mux.ServeHTTP(w, r) }

func (i *Issuer) routes() {
	m := i.mux
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", i.discoveryV2)
	m.HandleFunc("GET /{tenant}/.well-known/openid-configuration", i.discoveryV1)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", i.token)
	m.HandleFunc("POST /{tenant}/oauth2/token", i.token)
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", i.jwks)
	m.HandleFunc("GET /{tenant}/discovery/keys", i.jwks)
	m.HandleFunc("GET /{tenant}/discovery/instance", i.instanceDiscovery)
	m.HandleFunc("GET /msi/token", i.appServiceToken)
	m.HandleFunc("GET /metadata/identity/oauth2/token", i.imdsToken)
	m.HandleFunc("GET /metadata/identity/oauth2/token/", i.imdsToken)
	m.HandleFunc("GET /metadata/endpoints", i.cloudMetadata)
	m.HandleFunc("GET /subscriptions", i.subscriptions)
	m.HandleFunc("GET /subscriptions/{id}", i.subscriptions)
	m.HandleFunc("GET /tenants", i.tenants)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		oauthError(w, http.StatusNotFound, "not_found", 0, "The endpoint "+truncate(r.URL.Path, 200)+" does not exist.")
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// oauthError writes an Entra-shaped OAuth 2.0 error.
func oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, desc)
	}
	body := map[string]any{
		"error": code, "error_description": desc, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id": directory.NewGUID(), "correlation_id": directory.NewGUID(),
	}
	if aadsts != 0 {
		body["error_codes"] = []int{aadsts}
	}
	writeJSON(w, status, body)
}

// resolveTenant maps a path segment (a tenant id or name, or "adfs") to a
// tenant; "adfs" and "common"-style aliases name the default tenant.
func (i *Issuer) resolveTenant(w http.ResponseWriter, seg string) (*directory.Tenant, bool) {
	switch strings.ToLower(seg) {
	case "common", "organizations":
		seg = "adfs"
	}
	t, ok := i.cfg.Directory.Tenant(seg)
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", truncate(seg, 64)))
		return nil, false
	}
	return t, true
}

func (i *Issuer) discoveryV2(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t, ok := i.resolveTenant(w, seg)
	if !ok {
		return
	}
	base := "https://" + r.Host + "/" + seg
	issuer := i.issuerURL(r.Host, t.ID, false)
	if strings.EqualFold(seg, "adfs") {
		issuer = "https://" + r.Host + "/adfs"
	}
	writeJSON(w, http.StatusOK, discoveryDoc(issuer, base, base+"/oauth2/v2.0", base+"/discovery/v2.0/keys", t.ID))
}

func (i *Issuer) discoveryV1(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t, ok := i.resolveTenant(w, seg)
	if !ok {
		return
	}
	base := "https://" + r.Host + "/" + seg
	// The v1 issuer names the tenant by id: `az login --tenant NAME`
	// resolves names by reading it (issuer.split("/")[3]).
	issuer := i.issuerURL(r.Host, t.ID, true)
	if strings.EqualFold(seg, "adfs") {
		issuer = "https://" + r.Host + "/adfs"
	}
	writeJSON(w, http.StatusOK, discoveryDoc(issuer, base, base+"/oauth2", base+"/discovery/keys", t.ID))
}

func discoveryDoc(issuer, base, oauth, jwks, tenantID string) map[string]any {
	return map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                oauth + "/authorize",
		"token_endpoint":                        oauth + "/token",
		"device_authorization_endpoint":         oauth + "/devicecode",
		"jwks_uri":                              jwks,
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials", "password"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "appid", "azp", "idtyp", "upn", "name", "groups", "roles", "wids"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "coffer",
		"tenant_id":                             tenantID,
		"end_session_endpoint":                  oauth + "/logout",
	}
}

func (i *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, i.keys.JWKS())
}

// instanceDiscovery answers MSAL's instance discovery for clients that
// know this server as their authority host.
func (i *Issuer) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + r.PathValue("tenant") + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audienceOf derives the token audience from the v2 scope or v1 resource:
// "<resource>/.default" asks for a token for <resource>. OIDC scopes that
// clients add (openid, profile, offline_access) are ignored.
func audienceOf(r *http.Request) (string, bool) {
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if aud, ok := strings.CutSuffix(s, "/.default"); ok && aud != "" {
			return aud, true
		}
	}
	if res := strings.TrimSpace(r.PostForm.Get("resource")); res != "" {
		return res, true
	}
	return "", false
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t, ok := i.resolveTenant(w, seg)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
		return
	}
	form := r.PostForm
	clientID := form.Get("client_id")
	secret := form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	assertion := form.Get("client_assertion")
	var pa *parsedAssertion
	if assertion != "" {
		if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			oauthError(w, http.StatusBadRequest, "invalid_request", 50027, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
			return
		}
		var err error
		if pa, err = parseAssertion(assertion); err != nil {
			i.limiter.Fail("ip:" + clientIP(r))
			oauthError(w, http.StatusUnauthorized, "invalid_client", 50012, "The client assertion is malformed or its signing certificate is not named (x5t).")
			return
		}
		if clientID == "" {
			clientID = pa.clientID
		}
	}
	ipKey, clientKey := "ip:"+clientIP(r), "client:"+t.ID+"|"+strings.ToLower(clientID)
	for _, k := range []string{ipKey, clientKey} {
		if blocked, retry := i.limiter.Blocked(k); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			oauthError(w, http.StatusTooManyRequests, "temporarily_unavailable", 50196, "Too many failed sign-in attempts; try again later.")
			return
		}
	}
	fail := func(status int, code string, aadsts int, desc string) {
		i.limiter.Fail(ipKey)
		if clientID != "" {
			i.limiter.Fail(clientKey)
		}
		oauthError(w, status, code, aadsts, desc)
	}
	aud, ok := audienceOf(r)
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope' (or 'resource').")
		return
	}

	var p *directory.Principal
	var credID string
	var err error
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		switch {
		case clientID == "":
			oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
			return
		case pa != nil:
			if pa.clientID != clientID {
				fail(http.StatusUnauthorized, "invalid_client", 700021, "The client assertion's issuer does not match client_id.")
				return
			}
			cert, sp, cid, cerr := i.cfg.Directory.CertificateFor(t.ID, clientID, pa.thumb)
			if cerr == nil {
				pub, isRSA := cert.PublicKey.(*rsa.PublicKey)
				if !isRSA {
					cerr = directory.ErrAuthFailed
				} else {
					cerr = pa.verify(pub, tokenEndpointAudience([]string{t.ID, t.Name, "adfs", seg}), i.cfg.Now(), &i.replay)
				}
			}
			p, credID, err = sp, cid, cerr
		case secret != "":
			p, credID, err = i.cfg.Directory.AuthenticateSecret(t.ID, clientID, secret)
		default:
			oauthError(w, http.StatusBadRequest, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
			return
		}
	case "password":
		user, pass := form.Get("username"), form.Get("password")
		if user == "" || pass == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the parameters 'username' and 'password'.")
			return
		}
		p, credID, err = i.cfg.Directory.AuthenticatePassword(t.ID, user, pass)
		if err != nil {
			clientKey = "user:" + t.ID + "|" + strings.ToLower(user)
			clientID = user
		}
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The grant type '%s' is not supported.", truncate(gt, 64)))
		return
	}
	if err != nil {
		i.log.Info("token request refused", slog.String("tenant", t.ID), slog.String("client", truncate(clientID, 64)), slog.String("reason", err.Error()))
		switch {
		case errors.Is(err, directory.ErrUnknownClient):
			fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", truncate(clientID, 64), t.Name))
		case errors.Is(err, directory.ErrDisabled):
			fail(http.StatusBadRequest, "unauthorized_client", 7000112, "The application or user is disabled.")
		case errors.Is(err, directory.ErrCredExpired):
			fail(http.StatusUnauthorized, "invalid_client", 7000222, "The provided client credential is expired.")
		case form.Get("grant_type") == "password":
			fail(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
		case pa != nil:
			fail(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation, or its audience, lifetime or identifier is not acceptable.")
		default:
			fail(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		}
		return
	}
	v1 := !strings.Contains(r.URL.Path, "/v2.0/")
	tok, exp, err := i.mint(mintRequest{host: r.Host, tenantID: t.ID, v1: v1, audience: aud, principal: p, credID: credID,
		groups: i.cfg.Directory.TransitiveGroups(p.ObjectID)})
	if err != nil {
		i.log.Error("minting a token", slog.Any("err", err))
		oauthError(w, http.StatusInternalServerError, "server_error", 0, "The token could not be issued.")
		return
	}
	secs := int64(exp.Sub(i.cfg.Now()).Seconds())
	resp := map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok}
	if v1 {
		resp["expires_on"] = strconv.FormatInt(exp.Unix(), 10)
		resp["resource"] = aud
	}
	if p.Kind == directory.KindUser && strings.Contains(" "+form.Get("scope")+" ", " openid ") {
		info, _ := json.Marshal(map[string]string{"uid": p.ObjectID, "utid": t.ID})
		resp["client_info"] = base64.RawURLEncoding.EncodeToString(info)
	}
	writeJSON(w, http.StatusOK, resp)
}
