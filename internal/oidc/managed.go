package oidc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/cofferkms/coffer/internal/directory"
)

// selectorOf reads the user-assigned identity selectors both protocols
// use: client_id, object_id (or principal_id), and mi_res_id (App
// Service) or msi_res_id (IMDS).
func selectorOf(r *http.Request) directory.ManagedIdentitySelector {
	q := r.URL.Query()
	sel := directory.ManagedIdentitySelector{ClientID: q.Get("client_id"), ObjectID: q.Get("object_id"), ResourceID: q.Get("mi_res_id")}
	if sel.ObjectID == "" {
		sel.ObjectID = q.Get("principal_id")
	}
	if sel.ResourceID == "" {
		sel.ResourceID = q.Get("msi_res_id")
	}
	return sel
}

// managedResource reads the resource query parameter both protocols
// require (MSAL passes a scope's resource, sometimes still with
// "/.default").
func managedResource(r *http.Request) (requested, audience string, err error) {
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		return "", "", badRequest(0, "Required query variable 'api-version' is missing.")
	}
	res := strings.TrimSuffix(q.Get("resource"), "/.default")
	if res == "" {
		return "", "", badRequest(0, "Required query variable 'resource' is missing.")
	}
	return resourceOf("", res)
}

// appServiceToken serves App Service's managed-identity protocol
// (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01), which
// DefaultAzureCredential in every Azure SDK picks up from the environment.
func (i *Issuer) appServiceToken(w http.ResponseWriter, r *http.Request) error {
	requested, audience, err := managedResource(r)
	if err != nil {
		return err
	}
	p, credID, err := i.managedIdentityByHeader(r)
	if err != nil {
		return err
	}
	return i.managedToken(w, r, p, credID, requested, audience, false)
}

// imdsToken serves the Azure Instance Metadata Service's token protocol.
// Like IMDS, it needs "Metadata: true" (which a browser-driven or
// proxied request cannot forge) and refuses forwarded requests. The
// identity is the one X-IDENTITY-HEADER names if the caller sends it;
// otherwise, as on a VM, the configured resource's, for loopback callers.
func (i *Issuer) imdsToken(w http.ResponseWriter, r *http.Request) error {
	switch {
	case !strings.EqualFold(r.Header.Get("Metadata"), "true"):
		return badRequest(0, "Required metadata header not specified")
	case r.Header.Get("X-Forwarded-For") != "":
		return badRequest(0, "Request with X-Forwarded-For header is not allowed")
	}
	requested, audience, err := managedResource(r)
	if err != nil {
		return err
	}
	var (
		p      *directory.Principal
		credID string
	)
	switch {
	case r.Header.Get("X-IDENTITY-HEADER") != "":
		p, credID, err = i.managedIdentityByHeader(r)
	case i.cfg.IMDSResource == "":
		return badRequest(0, "Identity not found")
	case !isLoopback(r):
		return &oauthError{status: http.StatusForbidden, code: "invalid_request", desc: "The instance metadata endpoint answers only callers on this machine."}
	default:
		if p, credID, err = i.cfg.Directory.IdentityForResource(i.cfg.IMDSResource, selectorOf(r)); err != nil {
			err = i.managedError(err)
		}
	}
	if err != nil {
		return err
	}
	return i.managedToken(w, r, p, credID, requested, audience, true)
}

func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(clientIP(r))
	return ip != nil && ip.IsLoopback()
}

// managedIdentityByHeader authenticates X-IDENTITY-HEADER, rate limiting
// failures per source address.
func (i *Issuer) managedIdentityByHeader(r *http.Request) (*directory.Principal, string, error) {
	header := r.Header.Get("X-IDENTITY-HEADER")
	if header == "" {
		return nil, "", &oauthError{status: http.StatusUnauthorized, code: "invalid_request", desc: "The X-IDENTITY-HEADER header is required."}
	}
	ipKey := "ip:" + clientIP(r)
	if wait, blocked := i.limiter.blocked(ipKey); blocked {
		return nil, "", &oauthError{status: http.StatusTooManyRequests, code: "temporarily_unavailable", retryAfter: wait,
			desc: "Too many failed requests from this address; try again later."}
	}
	p, credID, err := i.cfg.Directory.AuthenticateManagedIdentity(header, selectorOf(r))
	if err != nil {
		i.limiter.fail(ipKey)
		i.log.Info("managed identity token refused", slog.String("reason", err.Error()))
		return nil, "", i.managedError(err)
	}
	return p, credID, nil
}

func (i *Issuer) managedError(err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return badRequest(0, "Identity not found")
	case errors.Is(err, directory.ErrDisabled):
		return badRequest(0, "The managed identity is disabled.")
	}
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_request", desc: "The X-IDENTITY-HEADER is not valid."}
}

// managedToken issues a v1 token, as Azure's managed-identity endpoints
// do, in the shape of the protocol that asked (numbers as strings).
func (i *Issuer) managedToken(w http.ResponseWriter, r *http.Request, p *directory.Principal, credID, requested, audience string, imds bool) error {
	tok, err := i.mint(r.Context(), mintRequest{host: r.Host, tenantID: p.TenantID, v1: true, audience: audience,
		principal: p, credID: credID, appID: p.AppID})
	if err != nil {
		return fmt.Errorf("minting a managed identity token: %w", err)
	}
	resp := map[string]any{
		"access_token": tok.raw, "expires_on": strconv.FormatInt(tok.expires.Unix(), 10), "resource": requested,
		"token_type": "Bearer", "client_id": p.AppID,
	}
	if imds {
		secs := strconv.FormatInt(tok.lifetime, 10)
		resp["expires_in"], resp["ext_expires_in"] = secs, secs
		resp["not_before"] = strconv.FormatInt(tok.notBefore.Unix(), 10)
		resp["refresh_token"] = ""
	}
	return writeJSON(w, http.StatusOK, resp)
}
