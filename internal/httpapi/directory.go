package httpapi

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/directory"
)

// The directory API is a Coffer extension (Managed HSM relies on Entra ID
// and Microsoft Graph for this): it manages the embedded directory's
// tenants and principals. Callers need a token for DirectoryAudience; every
// call except reading one's own principal needs the Global Administrator
// role. Paths:
//
//	GET    /directory/v1/me
//	GET    /directory/v1/tenants                     POST (name)
//	GET    /directory/v1/{tenant}/principals[?kind=]
//	GET    /directory/v1/{tenant}/principals/{id}     PATCH (enabled, globalAdministrator)   DELETE
//	POST   /directory/v1/{tenant}/users              (userPrincipalName, displayName, password)
//	POST   /directory/v1/{tenant}/users/{id}/password (password)
//	POST   /directory/v1/{tenant}/groups             (displayName)
//	POST   /directory/v1/{tenant}/groups/{id}/members (objectId)   DELETE .../members/{memberId}
//	POST   /directory/v1/{tenant}/servicePrincipals  (displayName) → principal and its first secret
//	POST   /directory/v1/{tenant}/servicePrincipals/{id}/secrets      (expires?)  → secret, shown once
//	POST   /directory/v1/{tenant}/servicePrincipals/{id}/certificates (certificate PEM)
//	POST   /directory/v1/{tenant}/servicePrincipals/{id}/resetCredentials → a new secret
//	DELETE /directory/v1/{tenant}/servicePrincipals/{id}/credentials/{credentialId}
//	GET    /directory/v1/{tenant}/resources          POST (name) → resource and its identity header secret
//	POST   /directory/v1/{tenant}/resources/{name}/systemIdentity
//	DELETE /directory/v1/{tenant}/resources/{name}
//	POST   /directory/v1/{tenant}/managedIdentities  (name) user-assigned
//	POST   /directory/v1/{tenant}/managedIdentities/{id}/attach (resource)

// DirectoryAudience is the token audience of the directory API: Microsoft
// Graph's, the API Azure tools use for directory work.
const DirectoryAudience = "https://graph.microsoft.com"

// DirectoryConfig enables the directory API.
type DirectoryConfig struct {
	Directory *directory.Directory
	// Auth verifies tokens for DirectoryAudience.
	Auth Authenticator
}

func (s *Server) directoryRoutes() {
	if s.cfg.Directory.Directory == nil {
		return
	}
	d := http.NewServeMux()
	s.dirMux = d
	handle := func(pattern, op string, h handlerFunc) {
		s.ops[pattern] = op
		d.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			audit.FromContext(r.Context()).OperationName = op
			if err := h(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	const p = "/directory/v1/{tenant}"
	handle("GET /directory/v1/me", "DirectoryMeGet", s.dirMe)
	handle("GET /directory/v1/tenants", "DirectoryTenantList", s.dirTenants)
	handle("POST /directory/v1/tenants", "DirectoryTenantCreate", s.dirCreateTenant)
	handle("GET "+p+"/principals", "DirectoryPrincipalList", s.dirList)
	handle("GET "+p+"/principals/{id}", "DirectoryPrincipalGet", s.dirGet)
	handle("PATCH "+p+"/principals/{id}", "DirectoryPrincipalUpdate", s.dirPatch)
	handle("DELETE "+p+"/principals/{id}", "DirectoryPrincipalDelete", s.dirDelete)
	handle("POST "+p+"/users", "DirectoryUserCreate", s.dirCreateUser)
	handle("POST "+p+"/users/{id}/password", "DirectoryUserPasswordSet", s.dirSetPassword)
	handle("POST "+p+"/groups", "DirectoryGroupCreate", s.dirCreateGroup)
	handle("POST "+p+"/groups/{id}/members", "DirectoryGroupMemberAdd", s.dirAddMember)
	handle("DELETE "+p+"/groups/{id}/members/{member}", "DirectoryGroupMemberRemove", s.dirRemoveMember)
	handle("POST "+p+"/servicePrincipals", "DirectoryServicePrincipalCreate", s.dirCreateSP)
	handle("POST "+p+"/servicePrincipals/{id}/secrets", "DirectoryCredentialAdd", s.dirAddSecret)
	handle("POST "+p+"/servicePrincipals/{id}/certificates", "DirectoryCredentialAdd", s.dirAddCert)
	handle("POST "+p+"/servicePrincipals/{id}/resetCredentials", "DirectoryCredentialReset", s.dirReset)
	handle("DELETE "+p+"/servicePrincipals/{id}/credentials/{cred}", "DirectoryCredentialRemove", s.dirRemoveCred)
	handle("GET "+p+"/resources", "DirectoryResourceList", s.dirResources)
	handle("POST "+p+"/resources", "DirectoryResourceCreate", s.dirCreateResource)
	handle("DELETE "+p+"/resources/{name}", "DirectoryResourceDelete", s.dirDeleteResource)
	handle("POST "+p+"/resources/{name}/systemIdentity", "DirectoryManagedIdentityCreate", s.dirSystemIdentity)
	handle("POST "+p+"/managedIdentities", "DirectoryManagedIdentityCreate", s.dirCreateUAMI)
	handle("POST "+p+"/managedIdentities/{id}/attach", "DirectoryManagedIdentityAttach", s.dirAttach)
}

// serveDirectory authenticates and dispatches a directory API request.
func (s *Server) serveDirectory(w *bufferedWriter, r *http.Request, ev *audit.Event) {
	raw, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var pr *Principal
	err := errors.New("no bearer token")
	if found && raw != "" {
		pr, err = s.cfg.Directory.Auth.Authenticate(r.Context(), strings.TrimSpace(raw))
	}
	if err != nil {
		ev.OperationName = "Authentication"
		ev.Detail = truncate(err.Error(), 256)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://%s/%s", resource="%s"`, r.Host, s.cfg.Challenge.Tenant, DirectoryAudience))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ev.Identity = &audit.Identity{TenantID: pr.TenantID, ObjectID: pr.ObjectID, AppID: pr.AppID, UPN: pr.UPN, Type: pr.Type, Issuer: pr.Issuer}
	ctx := context.WithValue(r.Context(), keyPrincipal, pr)
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if h, pattern := s.dirMux.Handler(r); pattern == "" {
		s.routeError(w, r, h, ev)
		return
	}
	s.dirMux.ServeHTTP(w, r)
}

const keyPrincipal ctxKey = 100

func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(keyPrincipal).(*Principal)
	return p
}

func dirError(err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return &httpError{status: http.StatusNotFound, code: "NotFound", message: strings.TrimPrefix(err.Error(), "directory: ")}
	case errors.Is(err, directory.ErrExists):
		return &httpError{status: http.StatusConflict, code: "Conflict", message: strings.TrimPrefix(err.Error(), "directory: ")}
	case errors.Is(err, directory.ErrInvalid):
		return &httpError{status: http.StatusBadRequest, code: "BadParameter", message: strings.TrimPrefix(err.Error(), "directory: ")}
	}
	return err
}

// tenantFor resolves the path's tenant and requires a Global Administrator
// of that tenant. Directory access is separate from any pool's RBAC.
func (s *Server) tenantFor(r *http.Request) (*directory.Tenant, error) {
	t, ok := s.cfg.Directory.Directory.Tenant(r.PathValue("tenant"))
	if !ok {
		return nil, &httpError{status: http.StatusNotFound, code: "NotFound", message: "Tenant not found."}
	}
	pr := principalFrom(r.Context())
	if !pr.GlobalAdmin || !strings.EqualFold(pr.TenantID, t.ID) {
		return nil, &httpError{status: http.StatusForbidden, code: "Authorization_RequestDenied",
			message: "Insufficient privileges to complete the operation: the directory API needs the Global Administrator role in tenant " + t.ID + "."}
	}
	audit.FromContext(r.Context()).BreakGlass = false
	return t, nil
}

func (s *Server) dirMe(w http.ResponseWriter, r *http.Request) error {
	pr := principalFrom(r.Context())
	if p, ok := s.cfg.Directory.Directory.Get(pr.ObjectID); ok {
		return writeJSON(w, http.StatusOK, p)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"objectId": pr.ObjectID, "tenantId": pr.TenantID, "kind": pr.Type, "issuer": pr.Issuer, "external": true})
}

func (s *Server) dirTenants(w http.ResponseWriter, r *http.Request) error {
	if !principalFrom(r.Context()).GlobalAdmin {
		return &httpError{status: http.StatusForbidden, code: "Authorization_RequestDenied", message: "Listing tenants needs the Global Administrator role."}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": s.cfg.Directory.Directory.Tenants()})
}

func (s *Server) dirCreateTenant(w http.ResponseWriter, r *http.Request) error {
	pr := principalFrom(r.Context())
	if def, ok := s.cfg.Directory.Directory.DefaultTenant(); !ok || !pr.GlobalAdmin || pr.TenantID != def.ID {
		return &httpError{status: http.StatusForbidden, code: "Authorization_RequestDenied", message: "Creating tenants needs the Global Administrator role in the default tenant."}
	}
	var body struct{ Name string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	d := s.cfg.Directory.Directory
	t, err := d.CreateTenant(r.Context(), body.Name)
	if err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).TargetID = t.ID
	// A tenant is managed only by its own Global Administrators, so it
	// starts with one: a service principal whose secret is shown once.
	admin, err := d.CreateServicePrincipal(r.Context(), t.ID, "tenant administrator")
	if err != nil {
		return dirError(err)
	}
	if err := d.SetGlobalAdmin(r.Context(), admin.ObjectID, true); err != nil {
		return dirError(err)
	}
	secret, cred, err := d.AddSecret(r.Context(), admin.ObjectID, nil)
	if err != nil {
		return dirError(err)
	}
	if admin, _ = d.Get(admin.ObjectID); admin == nil {
		return dirError(directory.ErrNotFound)
	}
	return writeJSON(w, http.StatusCreated, tenantCreated{Tenant: t,
		Administrator: secretResponse{Principal: admin, Secret: secret, Credential: &cred}})
}

// tenantCreated is a new tenant with its first Global Administrator.
type tenantCreated struct {
	*directory.Tenant
	Administrator secretResponse `json:"administrator"`
}

func (s *Server) dirList(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	var k directory.Kind
	if q := r.URL.Query().Get("kind"); q != "" {
		if k, err = directory.ParseKind(q); err != nil {
			return dirError(err)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": s.cfg.Directory.Directory.List(t.ID, k)})
}

// principalIn finds a principal of tenant t by object id.
func (s *Server) principalIn(r *http.Request, t *directory.Tenant, id string) (*directory.Principal, error) {
	audit.FromContext(r.Context()).TargetID = id
	p, ok := s.cfg.Directory.Directory.Get(id)
	if !ok || p.TenantID != t.ID {
		return nil, &httpError{status: http.StatusNotFound, code: "NotFound", message: "Principal " + truncate(id, 64) + " not found."}
	}
	return p, nil
}

func (s *Server) dirGet(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	p, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) dirPatch(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	p, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	var body struct {
		Enabled             *bool `json:"enabled"`
		GlobalAdministrator *bool `json:"globalAdministrator"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	d := s.cfg.Directory.Directory
	if body.Enabled != nil {
		if err := d.SetEnabled(r.Context(), p.ObjectID, *body.Enabled); err != nil {
			return dirError(err)
		}
	}
	if body.GlobalAdministrator != nil {
		if err := d.SetGlobalAdmin(r.Context(), p.ObjectID, *body.GlobalAdministrator); err != nil {
			return dirError(err)
		}
	}
	p, _ = d.Get(p.ObjectID)
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) dirDelete(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	p, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.cfg.Directory.Directory.Delete(r.Context(), p.ObjectID); err != nil {
		return dirError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) dirCreateUser(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	var body struct{ UserPrincipalName, DisplayName, Password string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	p, err := s.cfg.Directory.Directory.CreateUser(r.Context(), t.ID, body.UserPrincipalName, body.DisplayName, body.Password)
	if err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).TargetID = p.ObjectID
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) dirSetPassword(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	p, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	var body struct{ Password string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if err := s.cfg.Directory.Directory.SetPassword(r.Context(), p.ObjectID, body.Password); err != nil {
		return dirError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) dirCreateGroup(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	var body struct{ DisplayName string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	p, err := s.cfg.Directory.Directory.CreateGroup(r.Context(), t.ID, body.DisplayName)
	if err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).TargetID = p.ObjectID
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) dirAddMember(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	g, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	var body struct{ ObjectID string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if err := s.cfg.Directory.Directory.AddMember(r.Context(), g.ObjectID, body.ObjectID); err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).Detail = "member " + truncate(body.ObjectID, 64)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) dirRemoveMember(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	g, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.cfg.Directory.Directory.RemoveMember(r.Context(), g.ObjectID, r.PathValue("member")); err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).Detail = "member " + truncate(r.PathValue("member"), 64)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// secretResponse carries a secret that is shown once.
type secretResponse struct {
	Principal  *directory.Principal  `json:"principal,omitempty"`
	Secret     string                `json:"secret"`
	Credential *directory.Credential `json:"credential"`
}

func (s *Server) dirCreateSP(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	var body struct{ DisplayName string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	d := s.cfg.Directory.Directory
	p, err := d.CreateServicePrincipal(r.Context(), t.ID, body.DisplayName)
	if err != nil {
		return dirError(err)
	}
	secret, cred, err := d.AddSecret(r.Context(), p.ObjectID, nil)
	if err != nil {
		return dirError(err)
	}
	p, _ = d.Get(p.ObjectID)
	audit.FromContext(r.Context()).TargetID = p.ObjectID
	return writeJSON(w, http.StatusCreated, secretResponse{Principal: p, Secret: secret, Credential: &cred})
}

func (s *Server) servicePrincipal(r *http.Request) (*directory.Principal, error) {
	t, err := s.tenantFor(r)
	if err != nil {
		return nil, err
	}
	return s.principalIn(r, t, r.PathValue("id"))
}

func (s *Server) dirAddSecret(w http.ResponseWriter, r *http.Request) error {
	p, err := s.servicePrincipal(r)
	if err != nil {
		return err
	}
	var body struct {
		Expires *time.Time `json:"expires"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &body); err != nil {
			return err
		}
	}
	secret, cred, err := s.cfg.Directory.Directory.AddSecret(r.Context(), p.ObjectID, body.Expires)
	if err != nil {
		return dirError(err)
	}
	return writeJSON(w, http.StatusCreated, secretResponse{Secret: secret, Credential: &cred})
}

func (s *Server) dirAddCert(w http.ResponseWriter, r *http.Request) error {
	p, err := s.servicePrincipal(r)
	if err != nil {
		return err
	}
	var body struct{ Certificate string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	block, _ := pem.Decode([]byte(body.Certificate))
	if block == nil || block.Type != "CERTIFICATE" {
		return badRequest("certificate must be a PEM CERTIFICATE block.")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return badRequest("certificate is not a valid X.509 certificate.")
	}
	cred, err := s.cfg.Directory.Directory.AddCertificate(r.Context(), p.ObjectID, block.Bytes)
	if err != nil {
		return dirError(err)
	}
	cred.CertDER = nil
	return writeJSON(w, http.StatusCreated, cred)
}

func (s *Server) dirReset(w http.ResponseWriter, r *http.Request) error {
	p, err := s.servicePrincipal(r)
	if err != nil {
		return err
	}
	secret, cred, err := s.cfg.Directory.Directory.ResetCredentials(r.Context(), p.ObjectID)
	if err != nil {
		return dirError(err)
	}
	return writeJSON(w, http.StatusOK, secretResponse{Secret: secret, Credential: &cred})
}

func (s *Server) dirRemoveCred(w http.ResponseWriter, r *http.Request) error {
	p, err := s.servicePrincipal(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Directory.Directory.RemoveCredential(r.Context(), p.ObjectID, r.PathValue("cred")); err != nil {
		return dirError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) dirResources(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": s.cfg.Directory.Directory.Resources(t.ID)})
}

func (s *Server) dirCreateResource(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	var body struct{ Name string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	res, secret, err := s.cfg.Directory.Directory.CreateResource(r.Context(), t.ID, body.Name)
	if err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).TargetID = res.Name
	return writeJSON(w, http.StatusCreated, map[string]any{"resource": res, "identityHeader": secret})
}

// resourceIn refuses a resource of another tenant: resource names are
// unique across the server, and a tenant's administrators manage only
// their own.
func (s *Server) resourceIn(t *directory.Tenant, name string) error {
	for _, res := range s.cfg.Directory.Directory.Resources(t.ID) {
		if strings.EqualFold(res.Name, name) {
			return nil
		}
	}
	return &httpError{status: http.StatusNotFound, code: "NotFound", message: "Resource not found in tenant " + t.ID + "."}
}

func (s *Server) dirDeleteResource(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	if err := s.resourceIn(t, r.PathValue("name")); err != nil {
		return err
	}
	audit.FromContext(r.Context()).TargetID = r.PathValue("name")
	if err := s.cfg.Directory.Directory.DeleteResource(r.Context(), r.PathValue("name")); err != nil {
		return dirError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) dirSystemIdentity(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	if err := s.resourceIn(t, r.PathValue("name")); err != nil {
		return err
	}
	p, err := s.cfg.Directory.Directory.EnableSystemIdentity(r.Context(), r.PathValue("name"))
	if err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).TargetID = p.ObjectID
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) dirCreateUAMI(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	var body struct{ Name string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	p, err := s.cfg.Directory.Directory.CreateUserAssignedIdentity(r.Context(), t.ID, body.Name)
	if err != nil {
		return dirError(err)
	}
	audit.FromContext(r.Context()).TargetID = p.ObjectID
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) dirAttach(w http.ResponseWriter, r *http.Request) error {
	t, err := s.tenantFor(r)
	if err != nil {
		return err
	}
	p, err := s.principalIn(r, t, r.PathValue("id"))
	if err != nil {
		return err
	}
	var body struct{ Resource string }
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if err := s.resourceIn(t, body.Resource); err != nil {
		return err
	}
	if err := s.cfg.Directory.Directory.AttachIdentity(r.Context(), p.ObjectID, body.Resource); err != nil {
		return dirError(err)
	}
	p, _ = s.cfg.Directory.Directory.Get(p.ObjectID)
	return writeJSON(w, http.StatusOK, p)
}
