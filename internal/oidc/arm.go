package oidc

import (
	"net/http"
	"strings"

	"github.com/cofferkms/coffer/internal/directory"
)

// The Azure CLI's login flow reads a few Resource Manager endpoints: it
// lists subscriptions after signing in (a login without one fails unless
// --allow-no-subscriptions), lists tenants, and `az cloud register` reads
// the cloud's metadata. Coffer answers them so `az login` works: each
// tenant has one subscription whose id is the tenant id.

// callerTenant authenticates an ARM request with a token of ours and
// returns its tenant.
func (i *Issuer) callerTenant(w http.ResponseWriter, r *http.Request) (*directory.Tenant, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok {
		if c, err := i.verifyOwn(raw); err == nil {
			if t, ok := i.cfg.Directory.Tenant(c.TenantID); ok {
				return t, true
			}
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://`+r.Host+`/adfs", error="invalid_token"`)
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{
		"code": "InvalidAuthenticationToken", "message": "The access token is missing or invalid."}})
	return nil, false
}

func subscriptionOf(t *directory.Tenant) map[string]any {
	return map[string]any{
		"id": "/subscriptions/" + t.ID, "subscriptionId": t.ID, "tenantId": t.ID, "displayName": "Coffer " + t.Name,
		"state": "Enabled", "authorizationSource": "RoleBased",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "Coffer", "spendingLimit": "Off"},
	}
}

func (i *Issuer) subscriptions(w http.ResponseWriter, r *http.Request) {
	t, ok := i.callerTenant(w, r)
	if !ok {
		return
	}
	if id := r.PathValue("id"); id != "" {
		if !strings.EqualFold(id, t.ID) {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "SubscriptionNotFound", "message": "The subscription " + truncate(id, 64) + " could not be found."}})
			return
		}
		writeJSON(w, http.StatusOK, subscriptionOf(t))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{subscriptionOf(t)}})
}

func (i *Issuer) tenants(w http.ResponseWriter, r *http.Request) {
	t, ok := i.callerTenant(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{map[string]any{
		"id": "/tenants/" + t.ID, "tenantId": t.ID, "displayName": t.Name, "tenantCategory": "Home", "defaultDomain": t.Name,
	}}})
}

// cloudMetadata describes this server as an Azure cloud, in the 2019-05-01
// /metadata/endpoints shape `az cloud register` reads.
func (i *Issuer) cloudMetadata(w http.ResponseWriter, r *http.Request) {
	base := "https://" + r.Host
	suffix := ""
	if i.cfg.MHSMSuffix != "" {
		suffix = "." + i.cfg.MHSMSuffix
	}
	writeJSON(w, http.StatusOK, []map[string]any{{
		"name":                     "Coffer",
		"resourceManager":          base + "/",
		"microsoftGraphResourceId": base + "/",
		"authentication": map[string]any{
			"loginEndpoint":    base + "/adfs",
			"audiences":        []string{"https://management.core.windows.net/", "https://management.azure.com/"},
			"tenant":           "adfs",
			"identityProvider": "ADFS",
		},
		"suffixes": map[string]any{"mhsmDns": suffix, "keyVaultDns": suffix, "storage": "core.windows.net"},
	}})
}
