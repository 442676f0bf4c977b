package directory

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors.
var (
	ErrNotFound      = errors.New("directory: not found")
	ErrExists        = errors.New("directory: already exists")
	ErrInvalid       = errors.New("directory: invalid request")
	ErrAuthFailed    = errors.New("directory: authentication failed")
	ErrDisabled      = errors.New("directory: principal is disabled")
	ErrCredExpired   = errors.New("directory: credential has expired")
	ErrUnknownClient = errors.New("directory: unknown client")
)

// Kind is a principal's kind; zero is invalid.
type Kind uint8

// Principal kinds.
const (
	kindInvalid Kind = iota
	KindUser
	KindGroup
	KindServicePrincipal
	KindManagedIdentity
)

var kindNames = [...]string{KindUser: "user", KindGroup: "group", KindServicePrincipal: "servicePrincipal", KindManagedIdentity: "managedIdentity"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind parses a kind name.
func ParseKind(s string) (Kind, error) {
	if i := slices.Index(kindNames[:], s); i > 0 {
		return Kind(i), nil
	}
	return kindInvalid, fmt.Errorf("%w: unknown principal kind %q", ErrInvalid, s)
}

// RoleGlobalAdministrator is the directory role that implicitly holds
// Managed HSM Administrator on every pool, for recovery.
const RoleGlobalAdministrator = "Global Administrator"

// GlobalAdministratorTemplateID is Entra's role template id for Global
// Administrator, carried in tokens' wids claim.
const GlobalAdministratorTemplateID = "62e90394-69f5-4237-9190-012177145e10"

// Tenant is a directory tenant.
type Tenant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Default bool      `json:"default,omitempty"`
	Created time.Time `json:"created"`
}

// CredentialKind is the kind of a credential.
type CredentialKind string

// Credential kinds.
const (
	CredSecret      CredentialKind = "secret"
	CredCertificate CredentialKind = "certificate"
	CredPassword    CredentialKind = "password"
	CredIdentity    CredentialKind = "identityEndpoint"
)

// Credential is a principal's credential. Only hashes of secrets are kept.
type Credential struct {
	ID      string         `json:"id"`
	Kind    CredentialKind `json:"kind"`
	Hint    string         `json:"hint,omitempty"` // first characters of a secret
	Created time.Time      `json:"created"`
	Expires *time.Time     `json:"expires,omitempty"`
	// Secrets: SHA-256 of the secret. Passwords: argon2id hash and salt.
	Hash []byte `json:"hash,omitempty"`
	Salt []byte `json:"salt,omitempty"`
	// Certificates: the DER and its thumbprints.
	CertDER  []byte     `json:"certDer,omitempty"`
	SHA1     []byte     `json:"x5t,omitempty"`
	SHA256   []byte     `json:"x5tS256,omitempty"`
	NotAfter *time.Time `json:"notAfter,omitempty"`
	Subject  string     `json:"subject,omitempty"`
}

// expired reports whether the credential has expired at now.
func (c *Credential) expired(now time.Time) bool {
	return c.Expires != nil && !now.Before(*c.Expires)
}

// Principal is a user, group, service principal or managed identity.
type Principal struct {
	ObjectID    string       `json:"objectId"`
	TenantID    string       `json:"tenantId"`
	Kind        Kind         `json:"kind"`
	DisplayName string       `json:"displayName"`
	Enabled     bool         `json:"enabled"`
	Created     time.Time    `json:"created"`
	Roles       []string     `json:"roles,omitempty"`
	AppID       string       `json:"appId,omitempty"` // service principals and managed identities
	UPN         string       `json:"upn,omitempty"`   // users
	Members     []string     `json:"members,omitempty"`
	Credentials []Credential `json:"credentials,omitempty"`
	// Managed identities: the resource a system-assigned identity belongs
	// to, or the ARM-style resource id of a user-assigned one.
	SystemAssigned bool     `json:"systemAssigned,omitempty"`
	ResourceID     string   `json:"resourceId,omitempty"`
	AttachedTo     []string `json:"attachedTo,omitempty"` // resources a user-assigned identity is attached to
}

// IsGlobalAdmin reports whether p holds the Global Administrator role.
func (p *Principal) IsGlobalAdmin() bool { return slices.Contains(p.Roles, RoleGlobalAdministrator) }

// Public returns a copy of p without credential hashes, for display.
func (p *Principal) Public() *Principal {
	c := *p
	c.Members = slices.Clone(p.Members)
	c.Roles = slices.Clone(p.Roles)
	c.AttachedTo = slices.Clone(p.AttachedTo)
	c.Credentials = nil
	for _, cr := range p.Credentials {
		cr.Hash, cr.Salt = nil, nil
		c.Credentials = append(c.Credentials, cr)
	}
	return &c
}

// Resource is something that runs code with managed identities (a VM, an
// app): the identity endpoint's header secret identifies it.
type Resource struct {
	// ID changes whenever the header secret does, so tokens issued through
	// an old secret stop working.
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	TenantID string    `json:"tenantId"`
	Hash     []byte    `json:"hash"`
	Created  time.Time `json:"created"`
}
