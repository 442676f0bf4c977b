package directory

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors. Authentication methods return ErrUnknownClient, ErrAuthFailed,
// ErrDisabled and ErrCredExpired unwrapped, so callers can map them to
// protocol errors with errors.Is.
var (
	ErrNotFound      = errors.New("directory: not found")
	ErrExists        = errors.New("directory: already exists")
	ErrInvalid       = errors.New("directory: invalid request")
	ErrAuthFailed    = errors.New("directory: authentication failed")
	ErrDisabled      = errors.New("directory: principal is disabled")
	ErrCredExpired   = errors.New("directory: credential has expired")
	ErrUnknownClient = errors.New("directory: unknown client")
	// ErrRevoked means the credential a token was issued for no longer
	// exists (removed, reset, or the identity's resource changed).
	ErrRevoked = errors.New("directory: credential was revoked")
)

// Kind is a principal's kind; zero is invalid. Records store its name.
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

// MarshalText encodes the kind's name; the invalid kind does not encode.
func (k Kind) MarshalText() ([]byte, error) {
	if k == kindInvalid || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("directory: cannot encode %v", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
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

// CredentialKind is the kind of a credential; the empty string is invalid.
type CredentialKind string

// Credential kinds.
const (
	CredSecret         CredentialKind = "secret"
	CredCertificate    CredentialKind = "certificate"
	CredPassword       CredentialKind = "password"
	CredIdentityHeader CredentialKind = "identityHeader"
)

// Argon2Params are the argon2id parameters of a password hash. They are
// stored with each hash, so raising them later leaves old hashes usable.
type Argon2Params struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// DefaultArgon2 is RFC 9106 §4's second recommended option: 3 passes over
// 64 MiB with 4 lanes, 16-byte salt, 32-byte tag.
var DefaultArgon2 = Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Credential is one of a principal's credentials. Secrets are kept only as
// hashes; Public clears even those.
type Credential struct {
	ID   string         `json:"id"`
	Kind CredentialKind `json:"kind"`
	// Hint is the first characters of a client secret, to tell secrets
	// apart (as Entra's passwordCredentials.hint).
	Hint    string     `json:"hint,omitempty"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
	// Secrets and identity headers: SHA-256 of the secret. Passwords:
	// argon2id tag, salt and parameters.
	Hash   []byte        `json:"hash,omitempty"`
	Salt   []byte        `json:"salt,omitempty"`
	Argon2 *Argon2Params `json:"argon2,omitempty"`
	// Certificates: the DER and its thumbprints (x5t and x5t#S256).
	CertDER []byte `json:"certDer,omitempty"`
	SHA1    []byte `json:"x5t,omitempty"`
	SHA256  []byte `json:"x5tS256,omitempty"`
	Subject string `json:"subject,omitempty"`
}

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
	// Managed identities. A system-assigned identity belongs to Resource
	// and is deleted with it. A user-assigned identity has an Azure-shaped
	// ResourceID (so SDKs can select it with mi_res_id) and may be
	// attached to resources, whose identity-header secret then reaches it.
	SystemAssigned bool     `json:"systemAssigned,omitempty"`
	Resource       string   `json:"resource,omitempty"`
	ResourceID     string   `json:"resourceId,omitempty"`
	AttachedTo     []string `json:"attachedTo,omitempty"`
}

// IsGlobalAdmin reports whether p holds the Global Administrator role.
func (p *Principal) IsGlobalAdmin() bool { return slices.Contains(p.Roles, RoleGlobalAdministrator) }

// Public returns a deep copy of p without secret hashes, for callers.
func (p *Principal) Public() *Principal {
	c := p.clone()
	for i := range c.Credentials {
		c.Credentials[i].Hash, c.Credentials[i].Salt, c.Credentials[i].Argon2 = nil, nil, nil
	}
	return c
}

// clone returns a copy of p whose slices can be changed independently.
func (p *Principal) clone() *Principal {
	c := *p
	c.Members = slices.Clone(p.Members)
	c.Roles = slices.Clone(p.Roles)
	c.AttachedTo = slices.Clone(p.AttachedTo)
	c.Credentials = slices.Clone(p.Credentials)
	return &c
}

// Update changes a principal; nil fields are left as they are.
type Update struct {
	DisplayName *string
	Enabled     *bool
	GlobalAdmin *bool
}

// Resource stands for something that runs code (a VM, an app): the
// identity-endpoint secret an app reads from its environment
// (IDENTITY_HEADER) names it. A resource may have a system-assigned
// identity and any number of attached user-assigned identities.
type Resource struct {
	// ID changes whenever the header secret does; tokens issued through a
	// resource are bound to it, so rotating the secret revokes them.
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	TenantID string    `json:"tenantId"`
	Hash     []byte    `json:"hash,omitempty"`
	Created  time.Time `json:"created"`
}

// ManagedIdentitySelector picks a user-assigned identity in a
// managed-identity token request (client_id, object_id, mi_res_id); the
// zero value means the system-assigned identity.
type ManagedIdentitySelector struct {
	ClientID, ObjectID, ResourceID string
}

// matches reports whether the selector names p.
func (s ManagedIdentitySelector) matches(p *Principal) bool {
	return (s.ClientID != "" && eqFold(s.ClientID, p.AppID)) ||
		(s.ObjectID != "" && eqFold(s.ObjectID, p.ObjectID)) ||
		(s.ResourceID != "" && p.ResourceID != "" && eqFold(s.ResourceID, p.ResourceID))
}
