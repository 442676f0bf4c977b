package hsm

import (
	"time"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// Re-exported vocabulary, so the HTTP layer can parse into domain types
// without reaching into the crypto packages.
type (
	KeyType             = keymat.KeyType
	Curve               = keymat.Curve
	JWK                 = keymat.JWK
	PublicKey           = keymat.PublicKey
	EncryptionAlgorithm = jwa.EncryptionAlgorithm
	SignatureAlgorithm  = jwa.SignatureAlgorithm
	Scope               = authz.Scope
	RoleDefinition      = authz.RoleDefinition
	RoleAssignment      = authz.RoleAssignment
)

// Parsers re-exported for the HTTP layer.
var (
	ParseKeyType             = keymat.ParseKeyType
	ParseCurve               = keymat.ParseCurve
	ParseEncryptionAlgorithm = jwa.ParseEncryptionAlgorithm
	ParseSignatureAlgorithm  = jwa.ParseSignatureAlgorithm
	ParseScope               = authz.ParseScope
)

// Key types, re-exported.
const (
	KeyTypeEC  = keymat.KeyTypeEC
	KeyTypeRSA = keymat.KeyTypeRSA
	KeyTypeOct = keymat.KeyTypeOct
)

// Caller is the authenticated principal a request acts for.
type Caller struct {
	TenantID string
	ObjectID string
	AppID    string
	UPN      string
	// Identities are the ids role assignments are matched against: the
	// caller's object id followed by every group it belongs to, transitively.
	Identities []string
	// GlobalAdmin marks a directory Global Administrator, who implicitly holds
	// Managed HSM Administrator on every pool for recovery (audited).
	GlobalAdmin bool
}

// systemCaller is used by the pool's own background work (rotation,
// automatic purge); it bypasses authorization and is audited as "system".
var systemCaller = &Caller{ObjectID: "system"}

// Attributes are a key version's attributes.
type Attributes struct {
	Enabled    bool
	NotBefore  *time.Time
	Expires    *time.Time
	Created    time.Time
	Updated    time.Time
	Exportable bool
}

// AttributesUpdate carries the attributes a request sets; nil leaves a field
// as it is.
type AttributesUpdate struct {
	Enabled    *bool
	NotBefore  *time.Time
	Expires    *time.Time
	Exportable *bool
}

// ReleasePolicy is a key's secure-key-release policy, kept as given.
type ReleasePolicy struct {
	ContentType string
	Immutable   bool
	Data        []byte
}

// KeyBundle is one key version as the API shows it.
type KeyBundle struct {
	Name            string // as spelled at creation
	Version         string
	Type            KeyType
	Public          PublicKey
	Ops             []KeyOp
	Attributes      Attributes
	Tags            map[string]string
	ReleasePolicy   *ReleasePolicy
	RecoverableDays int
	RecoveryLevel   string
}

// DeletedKey is a soft-deleted key: its latest version plus deletion data.
type DeletedKey struct {
	KeyBundle
	DeletedDate        time.Time
	ScheduledPurgeDate time.Time
}

// KeyItem is a list entry. Version is empty in key lists (the list shows the
// base identifier) and set in version lists.
type KeyItem struct {
	Name       string
	Version    string
	Attributes Attributes
	Tags       map[string]string
	// Set for deleted-key lists only.
	DeletedDate        *time.Time
	ScheduledPurgeDate *time.Time
	RecoverableDays    int
	RecoveryLevel      string
}

// PageRequest asks for at most Max items after the opaque position After.
type PageRequest struct {
	Max   int
	After string
}

// Page is one page of a list; Next is empty on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// DefaultPageSize and MaxPageSize follow the spec's maxresults bounds.
const (
	DefaultPageSize = 25
	MaxPageSize     = 25
)

// CreateKeyInput describes a key to generate.
type CreateKeyInput struct {
	Type           KeyType
	Size           int   // RSA or oct bits; 0 picks the default
	PublicExponent int   // RSA; 0 means 65537
	Curve          Curve // EC
	Ops            []KeyOp
	OpsSet         bool // false: use the default operations for the type
	Attributes     AttributesUpdate
	Tags           map[string]string
	ReleasePolicy  *ReleasePolicy
}

// ImportKeyInput describes a key to import, either as a private JWK or as a
// BYOK transfer blob (KeyHSM) wrapped by a key-exchange key in this pool.
type ImportKeyInput struct {
	Type          KeyType // from the JWK's kty
	Curve         Curve   // from the JWK's crv, for EC
	JWK           JWK
	KeyHSM        []byte // BYOK transfer blob; when set, the JWK carries only kty/crv
	Ops           []KeyOp
	OpsSet        bool
	Attributes    AttributesUpdate
	Tags          map[string]string
	ReleasePolicy *ReleasePolicy
}

// UpdateKeyInput changes a key version's metadata. Nil fields are unchanged.
type UpdateKeyInput struct {
	Ops           []KeyOp
	OpsSet        bool
	Attributes    AttributesUpdate
	Tags          map[string]string
	TagsSet       bool
	ReleasePolicy *ReleasePolicy
}

// CryptoResult is the outcome of encrypt, decrypt, wrap, unwrap and sign.
type CryptoResult struct {
	Name, Version string
	Value         []byte
	IV, Tag, AAD  []byte
}

// EncryptInput carries the optional parameters of encrypt and decrypt.
type EncryptInput struct {
	Value []byte
	IV    []byte
	AAD   []byte
	Tag   []byte
}
