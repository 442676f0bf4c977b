package oidc

import (
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/cofferkms/coffer/internal/directory"
)

// The Azure CLI reads a few Resource Manager endpoints around sign-in: it
// lists subscriptions after `az login` (which fails without one unless
// --allow-no-subscriptions, which lists tenants instead), and
// `az cloud register` reads the cloud's endpoint metadata. Coffer answers
// them so `az login` works: each tenant has one subscription whose id is
// the tenant id.

// caller authenticates a request bearing one of our tokens (any audience:
// the CLI sends its Resource Manager token) whose principal is still live.
func (i *Issuer) caller(r *http.Request) (*claims, *directory.Tenant, error) {
	unauthorized := &armError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", message: "The access token is missing or invalid."}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, nil, unauthorized
	}
	c, err := verifyOwnToken(r.Context(), i.keys, raw, i.cfg.Now(), nil)
	if err != nil || i.cfg.Directory.Live(c.ObjectID, c.CredentialID) != nil {
		return nil, nil, unauthorized
	}
	t, ok := i.cfg.Directory.Tenant(c.TenantID)
	if !ok {
		return nil, nil, unauthorized
	}
	return c, t, nil
}

func subscriptionOf(t *directory.Tenant) map[string]any {
	return map[string]any{
		"id": "/subscriptions/" + t.ID, "subscriptionId": t.ID, "tenantId": t.ID, "displayName": "Coffer " + t.Name,
		"state": "Enabled", "authorizationSource": "RoleBased",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "Coffer", "spendingLimit": "Off"},
	}
}

func (i *Issuer) subscriptions(w http.ResponseWriter, r *http.Request) error {
	_, t, err := i.caller(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	switch {
	case id == "":
		return writeJSON(w, http.StatusOK, map[string]any{"value": []any{subscriptionOf(t)}})
	case strings.EqualFold(id, t.ID):
		return writeJSON(w, http.StatusOK, subscriptionOf(t))
	}
	return &armError{status: http.StatusNotFound, code: "SubscriptionNotFound", message: "The subscription '" + truncate(id, 64) + "' could not be found."}
}

func (i *Issuer) tenants(w http.ResponseWriter, r *http.Request) error {
	_, t, err := i.caller(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": []any{map[string]any{
		"id": "/tenants/" + t.ID, "tenantId": t.ID, "displayName": t.Name, "tenantCategory": "Home",
		"defaultDomain": t.Name, "domains": []string{t.Name},
	}}})
}

// memberObjects answers where a token's group overage points
// (_claim_sources): POST /{tenant}/users/{oid}/getMemberObjects returns
// the principal's transitive groups, as Graph does, to the principal
// itself or to a Global Administrator.
func (i *Issuer) memberObjects(w http.ResponseWriter, r *http.Request) error {
	c, t, err := i.caller(r)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10)) // {"securityEnabledOnly":...}: every group is one
	oid := strings.ToLower(r.PathValue("oid"))
	self := oid == c.ObjectID
	admin := false
	if p, ok := i.cfg.Directory.Get(c.ObjectID); ok {
		admin = p.IsGlobalAdmin()
	}
	target, ok := i.cfg.Directory.Get(oid)
	switch {
	case !self && !admin:
		return &armError{status: http.StatusForbidden, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation."}
	case !ok || target.TenantID != t.ID:
		return &armError{status: http.StatusNotFound, code: "Request_ResourceNotFound", message: "Resource '" + truncate(oid, 64) + "' does not exist."}
	}
	groups := slices.Clone(i.cfg.Directory.TransitiveGroups(oid))
	if groups == nil {
		groups = []string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": groups})
}

// cloudMetadata describes this server as an Azure cloud. api-version
// 2015-01-01 (what `az cloud register` fetches, through msrestazure) is
// one object; 2019-05-01 and later are a list of clouds.
func (i *Issuer) cloudMetadata(w http.ResponseWriter, r *http.Request) error {
	base := "https://" + r.Host
	suffix := ""
	if i.cfg.MHSMSuffix != "" {
		suffix = "." + strings.TrimPrefix(i.cfg.MHSMSuffix, ".")
	}
	auth := map[string]any{
		"loginEndpoint":    base + "/adfs",
		"audiences":        []string{"https://management.core.windows.net/", "https://management.azure.com/"},
		"tenant":           "adfs",
		"identityProvider": "ADFS",
	}
	v := r.URL.Query().Get("api-version")
	if v == "" || v < "2019" {
		return writeJSON(w, http.StatusOK, map[string]any{
			"galleryEndpoint": base + "/", "graphEndpoint": base + "/", "portalEndpoint": base + "/", "authentication": auth,
		})
	}
	cloud := map[string]any{
		"name":                     "Coffer",
		"resourceManager":          base + "/",
		"microsoftGraphResourceId": base + "/",
		"graph":                    base + "/",
		"graphAudience":            base + "/",
		"gallery":                  base + "/",
		"portal":                   base + "/",
		"authentication":           auth,
		"suffixes":                 map[string]any{"mhsmDns": suffix, "keyVaultDns": suffix, "storage": "core.windows.net"},
	}
	return writeJSON(w, http.StatusOK, []map[string]any{cloud})
}
