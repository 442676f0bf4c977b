package oidc

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/directory"
)

// grantType is a token request's grant; zero is invalid.
type grantType uint8

const (
	grantInvalid grantType = iota
	grantClientCredentials
	grantPassword
)

const (
	maxFormBytes    = 64 << 10
	maxIDLen        = 256 // client ids, user names
	maxResourceLen  = 512
	assertionJWTTyp = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// tokenRequest is a parsed token request. Nothing in it is authenticated.
type tokenRequest struct {
	grant     grantType
	clientID  string
	secret    keymat.Secret // client_secret, from the form or HTTP Basic
	assertion *parsedAssertion
	username  string
	password  keymat.Secret
	// resource is the requested resource as the client spelled it (v1
	// responses echo it); audience is the aud claim: the resource without
	// "/.default" and trailing slashes.
	resource    string
	audience    string
	wantIDToken bool
}

// oidcScopes are scopes that ask for OpenID Connect behaviour, not for a
// resource; clients add them to every request.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// parseTokenRequest reads a token request form (and the HTTP Basic
// credentials, if any). Unknown fields (claims, client_info, MSAL
// telemetry) are ignored. On error it returns what it could read, so the
// caller can still charge a failed authentication to the right client.
func parseTokenRequest(form url.Values, basicUser, basicPass string, hasBasic bool) (*tokenRequest, error) {
	req := &tokenRequest{clientID: form.Get("client_id"), secret: keymat.NewSecret([]byte(form.Get("client_secret")))}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		req.grant = grantClientCredentials
	case "password":
		req.grant = grantPassword
	case "":
		return req, missingParameter("grant_type")
	default:
		return req, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", aadsts: 70003,
			desc: fmt.Sprintf("The app requested an unsupported grant type '%s'.", truncate(gt, 64))}
	}
	if hasBasic {
		// RFC 6749 §2.3.1: Basic credentials are form-encoded first.
		user, err1 := url.QueryUnescape(basicUser)
		pass, err2 := url.QueryUnescape(basicPass)
		if err1 != nil || err2 != nil {
			user, pass = basicUser, basicPass
		}
		switch {
		case !req.secret.IsZero():
			return req, badRequest(7000216, "Only one client authentication method may be used: HTTP Basic or client_secret.")
		case req.clientID != "" && req.clientID != user:
			return req, badRequest(900144, "The client_id in the form and in the Authorization header differ.")
		}
		req.clientID, req.secret = user, keymat.NewSecret([]byte(pass))
	}
	if raw := form.Get("client_assertion"); raw != "" {
		if !req.secret.IsZero() {
			return req, badRequest(7000216, "Only one client authentication method may be used: client_assertion or client_secret.")
		}
		if form.Get("client_assertion_type") != assertionJWTTyp {
			return req, badRequest(7000216, "client_assertion_type must be %s.", assertionJWTTyp)
		}
		pa, err := parseAssertion(raw)
		if err != nil {
			return req, invalidClient(50027, "The client assertion is not a JWT signed with RS256 or PS256 that names its certificate (x5t or x5t#S256) and carries iss = sub, jti and exp.")
		}
		if req.clientID == "" {
			req.clientID = pa.claims.Issuer
		}
		if pa.claims.Issuer != req.clientID {
			return req, invalidClient(700021, "The client assertion's iss and sub must be the client_id.")
		}
		req.assertion = pa
	}
	if len(req.clientID) > maxIDLen {
		return req, badRequest(900144, "client_id is too long.")
	}
	var err error
	if req.resource, req.audience, err = resourceOf(form.Get("scope"), form.Get("resource")); err != nil {
		return req, err
	}
	switch req.grant {
	case grantClientCredentials:
		switch {
		case req.clientID == "":
			return req, missingParameter("client_id")
		case req.secret.IsZero() && req.assertion == nil:
			return req, invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
	case grantPassword:
		req.username, req.password = form.Get("username"), keymat.NewSecret([]byte(form.Get("password")))
		switch {
		case req.username == "":
			return req, missingParameter("username")
		case req.password.IsZero():
			return req, missingParameter("password")
		case len(req.username) > maxIDLen:
			return req, badRequest(900144, "username is too long.")
		}
		req.wantIDToken = hasScope(form.Get("scope"), "openid")
	}
	return req, nil
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

// resourceOf derives the requested resource from a v2 scope or a v1
// resource field. "<resource>/.default" asks for a token for <resource>
// (the Azure CLI's "https://management.core.windows.net//.default" asks
// for "https://management.core.windows.net/"); a permission scope such as
// "https://vault.azure.net/user_impersonation" names the resource before
// its last slash. All scopes must name one resource.
func resourceOf(scope, resource string) (requested, audience string, err error) {
	for _, s := range strings.Fields(scope) {
		if oidcScopes[strings.ToLower(s)] {
			continue
		}
		r, ok := strings.CutSuffix(s, "/.default")
		if !ok {
			if i := strings.LastIndex(s, "/"); i > 0 && strings.Contains(s[:i], "://") {
				r = s[:i]
			} else {
				r = s
			}
		}
		if requested != "" && strings.TrimRight(r, "/") != audience {
			return "", "", &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011,
				desc: "The provided value for the input parameter 'scope' is not valid: scopes must all name one resource."}
		}
		requested, audience = r, strings.TrimRight(r, "/")
	}
	if requested == "" {
		requested = strings.TrimSpace(resource)
		audience = strings.TrimRight(requested, "/")
	}
	switch {
	case requested == "":
		return "", "", badRequest(900144, "The request body must contain the following parameter: 'scope' (or 'resource').")
	case audience == "" || len(requested) > maxResourceLen || strings.ContainsAny(requested, " \t\r\n\"\\"):
		return "", "", &oauthError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011,
			desc: "The provided value for the input parameter 'scope' or 'resource' is not valid."}
	}
	return requested, audience, nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// token serves POST /{tenant}/oauth2/v2.0/token and /{tenant}/oauth2/token
// (v1 and ADFS).
func (i *Issuer) token(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("tenant")
	t, err := i.tenantOf(seg)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return badRequest(900144, "The request body must be application/x-www-form-urlencoded and at most %d bytes.", maxFormBytes)
	}
	user, pass, hasBasic := r.BasicAuth()
	req, perr := parseTokenRequest(r.PostForm, user, pass, hasBasic)
	limitKeys := []string{"ip:" + clientIP(r)}
	switch {
	case req.grant == grantPassword && req.username != "":
		limitKeys = append(limitKeys, "user:"+t.ID+"|"+strings.ToLower(req.username))
	case req.clientID != "":
		limitKeys = append(limitKeys, "client:"+t.ID+"|"+strings.ToLower(req.clientID))
	}
	if wait, blocked := i.limiter.blocked(limitKeys...); blocked {
		return &oauthError{status: http.StatusTooManyRequests, code: "temporarily_unavailable", aadsts: 50196, retryAfter: wait,
			desc: "Too many failed sign-in attempts for this client or from this address; try again later."}
	}
	if perr != nil {
		if oe, ok := errors.AsType[*oauthError](perr); ok && oe.authFailure {
			i.limiter.fail(limitKeys...)
		}
		return perr
	}
	p, credID, err := i.authenticate(r, seg, t, req)
	if err != nil {
		i.limiter.fail(limitKeys...)
		i.log.Info("token request refused", slog.String("tenant", t.ID), slog.String("client", truncate(req.clientID, 64)),
			slog.String("user", truncate(req.username, 64)), slog.String("reason", err.Error()))
		return err
	}
	appID := p.AppID
	if p.Kind == directory.KindUser {
		appID = req.clientID // the (public) client the user signs in through
	}
	v1 := !strings.HasSuffix(r.URL.Path, "/v2.0/token")
	tok, err := i.mint(r.Context(), mintRequest{host: r.Host, tenantID: t.ID, v1: v1, audience: req.audience,
		principal: p, credID: credID, appID: appID})
	if err != nil {
		return fmt.Errorf("minting a token: %w", err)
	}
	secs := tok.lifetime
	resp := map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok.raw}
	if v1 {
		resp["expires_on"] = strconv.FormatInt(tok.expires.Unix(), 10)
		resp["not_before"] = strconv.FormatInt(tok.notBefore.Unix(), 10)
		resp["resource"] = req.resource
	}
	if p.Kind == directory.KindUser && req.wantIDToken {
		idt, err := i.mintIDToken(r.Context(), discoveryIssuer(r.Host, seg, t.ID, v1), req.clientID, p)
		if err != nil {
			return fmt.Errorf("minting an id token: %w", err)
		}
		info, _ := json.Marshal(map[string]string{"uid": p.ObjectID, "utid": t.ID})
		resp["id_token"], resp["client_info"] = idt, base64.RawURLEncoding.EncodeToString(info)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// authenticate checks the request's credential against the directory.
func (i *Issuer) authenticate(r *http.Request, seg string, t *directory.Tenant, req *tokenRequest) (*directory.Principal, string, error) {
	var (
		p      *directory.Principal
		credID string
		err    error
	)
	switch {
	case req.grant == grantPassword:
		p, credID, err = i.cfg.Directory.AuthenticatePassword(t.ID, req.username, string(req.password.Expose()))
	case req.assertion != nil:
		var pub *rsa.PublicKey
		c, sp, id, lerr := i.cfg.Directory.LookupCertificate(t.ID, req.clientID, req.assertion.thumbprint)
		switch {
		case errors.Is(lerr, directory.ErrUnknownClient):
			return nil, "", i.authError(lerr, req, t)
		case lerr == nil:
			pub, _ = c.PublicKey.(*rsa.PublicKey)
		}
		// An unregistered thumbprint fails like a bad signature.
		if err := req.assertion.verify(pub, i.assertionAudience(r, seg, t), i.cfg.Now(), &i.replay); err != nil {
			return nil, "", err
		}
		// Only now, with the key proved, is the client told its state.
		p, credID, err = sp, id, i.cfg.Directory.Live(sp.ObjectID, id)
	default:
		p, credID, err = i.cfg.Directory.AuthenticateSecret(t.ID, req.clientID, string(req.secret.Expose()))
	}
	if err != nil {
		return nil, "", i.authError(err, req, t)
	}
	return p, credID, nil
}

// authError maps a directory authentication failure to Entra's error.
func (i *Issuer) authError(err error, req *tokenRequest, t *directory.Tenant) *oauthError {
	fail := func(status int, code string, aadsts int, desc string) *oauthError {
		return &oauthError{status: status, code: code, aadsts: aadsts, desc: desc, authFailure: true}
	}
	user := req.grant == grantPassword
	switch {
	case user && errors.Is(err, directory.ErrDisabled):
		return fail(http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
	case user:
		return fail(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	case errors.Is(err, directory.ErrUnknownClient):
		return fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'.", truncate(req.clientID, 64), t.Name))
	case errors.Is(err, directory.ErrDisabled):
		return fail(http.StatusBadRequest, "unauthorized_client", 7000112, "Application is disabled.")
	case errors.Is(err, directory.ErrCredExpired):
		return fail(http.StatusUnauthorized, "invalid_client", 7000222, "The provided client credential is expired.")
	}
	return fail(http.StatusUnauthorized, "invalid_client", 7000215,
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
}

// assertionAudience accepts the URLs of this tenant's token endpoints, on
// the host the request came to or any host OwnHost accepts.
func (i *Issuer) assertionAudience(r *http.Request, seg string, t *directory.Tenant) func(string) bool {
	segs := []string{t.ID, t.Name, seg}
	if t.Default {
		segs = append(segs, "adfs")
	}
	return func(aud string) bool {
		u, err := url.Parse(aud)
		if err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
			return false
		}
		if !sameHost(u.Host, r.Host) && (i.cfg.OwnHost == nil || !i.cfg.OwnHost(u.Host)) {
			return false
		}
		for _, s := range segs {
			for _, suffix := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				if strings.EqualFold(strings.TrimSuffix(u.Path, "/"), "/"+s+suffix) {
					return true
				}
			}
		}
		return false
	}
}

// sameHost compares host[:port] values, treating :443 as no port.
func sameHost(a, b string) bool {
	norm := func(h string) string { return strings.ToLower(strings.TrimSuffix(h, ":443")) }
	return norm(a) == norm(b)
}
