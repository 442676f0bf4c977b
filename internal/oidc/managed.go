package oidc

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/cofferkms/coffer/internal/directory"
)

func selector(r *http.Request) directory.ManagedIdentitySelector {
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

// appServiceToken serves App Service's managed-identity protocol
// (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01), which every
// Azure SDK's DefaultAzureCredential picks up from the environment.
func (i *Issuer) appServiceToken(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Get("X-IDENTITY-HEADER")
	if header == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_request", 0, "The X-IDENTITY-HEADER header is required.")
		return
	}
	resource := r.URL.Query().Get("resource")
	if resource == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 0, "The resource query parameter is required.")
		return
	}
	ipKey := "ip:" + clientIP(r)
	if blocked, _ := i.limiter.Blocked(ipKey); blocked {
		oauthError(w, http.StatusTooManyRequests, "temporarily_unavailable", 0, "Too many failed requests; try again later.")
		return
	}
	p, credID, err := i.cfg.Directory.AuthenticateManagedIdentity(header, selector(r))
	if err != nil {
		i.limiter.Fail(ipKey)
		i.log.Info("managed identity token refused", slog.String("reason", err.Error()))
		if strings.Contains(err.Error(), "no managed identity") {
			oauthError(w, http.StatusBadRequest, "invalid_request", 0, "No managed identity matches the request.")
			return
		}
		oauthError(w, http.StatusUnauthorized, "invalid_request", 0, "The X-IDENTITY-HEADER is not valid.")
		return
	}
	i.identityToken(w, r, p, credID, strings.TrimSuffix(resource, "/.default"), false)
}

// imdsToken serves the Azure Instance Metadata Service's token protocol
// for the configured resource. Like IMDS, it has no secret: it answers only
// callers on this machine (loopback), and only when configured.
func (i *Issuer) imdsToken(w http.ResponseWriter, r *http.Request) {
	if i.cfg.IMDSResource == "" {
		oauthError(w, http.StatusNotFound, "not_found", 0, "The instance metadata identity endpoint is not enabled on this server.")
		return
	}
	if ip := net.ParseIP(clientIP(r)); ip == nil || !ip.IsLoopback() {
		oauthError(w, http.StatusForbidden, "invalid_request", 0, "The instance metadata identity endpoint answers only local callers.")
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		oauthError(w, http.StatusBadRequest, "invalid_request", 0, "Required metadata header not specified")
		return
	}
	resource := r.URL.Query().Get("resource")
	if resource == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 0, "The resource query parameter is required.")
		return
	}
	p, credID, err := i.cfg.Directory.IdentityForResource(i.cfg.IMDSResource, selector(r))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 0, "Identity not found")
		return
	}
	i.identityToken(w, r, p, credID, strings.TrimSuffix(resource, "/.default"), true)
}

func (i *Issuer) identityToken(w http.ResponseWriter, r *http.Request, p *directory.Principal, credID, resource string, imds bool) {
	tok, exp, err := i.mint(mintRequest{host: r.Host, tenantID: p.TenantID, v1: true, audience: resource, principal: p, credID: credID,
		groups: i.cfg.Directory.TransitiveGroups(p.ObjectID)})
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", 0, "The token could not be issued.")
		return
	}
	now := i.cfg.Now()
	resp := map[string]any{
		"access_token": tok, "expires_on": strconv.FormatInt(exp.Unix(), 10), "resource": resource,
		"token_type": "Bearer", "client_id": p.AppID,
	}
	if imds {
		secs := strconv.FormatInt(int64(exp.Sub(now).Seconds()), 10)
		resp["expires_in"], resp["ext_expires_in"] = secs, secs
		resp["not_before"] = strconv.FormatInt(now.Unix(), 10)
	}
	writeJSON(w, http.StatusOK, resp)
}
