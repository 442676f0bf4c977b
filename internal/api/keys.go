package api

// JSONWebKey is a JWK as Key Vault carries it. Private members appear only
// in import requests; responses carry the public part.
type JSONWebKey struct {
	KeyID  string    `json:"kid,omitempty"`
	Kty    string    `json:"kty,omitempty"`
	KeyOps []string  `json:"key_ops,omitempty"`
	N      Base64URL `json:"n,omitempty"`
	E      Base64URL `json:"e,omitempty"`
	D      Base64URL `json:"d,omitempty"`
	DP     Base64URL `json:"dp,omitempty"`
	DQ     Base64URL `json:"dq,omitempty"`
	QI     Base64URL `json:"qi,omitempty"`
	P      Base64URL `json:"p,omitempty"`
	Q      Base64URL `json:"q,omitempty"`
	K      Base64URL `json:"k,omitempty"`
	KeyHSM Base64URL `json:"key_hsm,omitempty"`
	Crv    string    `json:"crv,omitempty"`
	X      Base64URL `json:"x,omitempty"`
	Y      Base64URL `json:"y,omitempty"`
}

// KeyAttributes are a key version's attributes. Times are Unix seconds.
type KeyAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	Exportable      *bool  `json:"exportable,omitempty"`
	HSMPlatform     string `json:"hsmPlatform,omitempty"`
}

// KeyReleasePolicy is the secure-key-release policy of an exportable key.
type KeyReleasePolicy struct {
	ContentType string    `json:"contentType,omitempty"`
	Immutable   *bool     `json:"immutable,omitempty"`
	Data        Base64URL `json:"data,omitempty"`
}

// KeyCreateParameters is the body of POST /keys/{name}/create.
type KeyCreateParameters struct {
	Kty            string            `json:"kty"`
	KeySize        *int              `json:"key_size,omitempty"`
	PublicExponent *int              `json:"public_exponent,omitempty"`
	KeyOps         []string          `json:"key_ops,omitempty"`
	Attributes     *KeyAttributes    `json:"attributes,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Crv            string            `json:"crv,omitempty"`
	ReleasePolicy  *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyImportParameters is the body of PUT /keys/{name}. The spec names the
// HSM flag "Hsm"; encoding/json matches field names case-insensitively, so
// "hsm" is accepted too.
type KeyImportParameters struct {
	HSM           *bool             `json:"Hsm,omitempty"`
	Key           *JSONWebKey       `json:"key"`
	Attributes    *KeyAttributes    `json:"attributes,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyUpdateParameters is the body of PATCH /keys/{name}/{version}.
type KeyUpdateParameters struct {
	KeyOps        []string          `json:"key_ops,omitempty"`
	Attributes    *KeyAttributes    `json:"attributes,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// KeyBundle is a key version as returned by most key operations.
type KeyBundle struct {
	Key           *JSONWebKey       `json:"key,omitempty"`
	Attributes    *KeyAttributes    `json:"attributes,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	Managed       *bool             `json:"managed,omitempty"`
	ReleasePolicy *KeyReleasePolicy `json:"release_policy,omitempty"`
}

// DeletedKeyBundle is a soft-deleted key.
type DeletedKeyBundle struct {
	KeyBundle
	RecoveryID         string `json:"recoveryId,omitempty"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate,omitempty"`
	DeletedDate        *int64 `json:"deletedDate,omitempty"`
}

// KeyItem is one entry of a key list.
type KeyItem struct {
	KeyID      string            `json:"kid,omitempty"`
	Attributes *KeyAttributes    `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    *bool             `json:"managed,omitempty"`
}

// DeletedKeyItem is one entry of a deleted-key list.
type DeletedKeyItem struct {
	KeyItem
	RecoveryID         string `json:"recoveryId,omitempty"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate,omitempty"`
	DeletedDate        *int64 `json:"deletedDate,omitempty"`
}

// KeyListResult is a page of keys or key versions.
type KeyListResult struct {
	Value    []KeyItem `json:"value"`
	NextLink *string   `json:"nextLink"`
}

// DeletedKeyListResult is a page of deleted keys.
type DeletedKeyListResult struct {
	Value    []DeletedKeyItem `json:"value"`
	NextLink *string          `json:"nextLink"`
}

// BackupKeyResult carries a single-key backup blob.
type BackupKeyResult struct {
	Value Base64URL `json:"value"`
}

// KeyRestoreParameters is the body of POST /keys/restore.
type KeyRestoreParameters struct {
	Value Base64URL `json:"value"`
}

// KeyOperationsParameters is the body of encrypt, decrypt, wrapkey and unwrapkey.
type KeyOperationsParameters struct {
	Algorithm string    `json:"alg"`
	Value     Base64URL `json:"value"`
	IV        Base64URL `json:"iv,omitempty"`
	AAD       Base64URL `json:"aad,omitempty"`
	Tag       Base64URL `json:"tag,omitempty"`
}

// KeyOperationResult is the result of encrypt, decrypt, wrap, unwrap and sign.
// Managed HSM also returns alg, which is not in the spec.
type KeyOperationResult struct {
	KeyID     string    `json:"kid,omitempty"`
	Algorithm string    `json:"alg,omitempty"`
	Value     Base64URL `json:"value,omitempty"`
	IV        Base64URL `json:"iv,omitempty"`
	Tag       Base64URL `json:"tag,omitempty"`
	AAD       Base64URL `json:"aad,omitempty"`
}

// KeySignParameters is the body of sign: value is the digest.
type KeySignParameters struct {
	Algorithm string    `json:"alg"`
	Value     Base64URL `json:"value"`
}

// KeyVerifyParameters is the body of verify.
type KeyVerifyParameters struct {
	Algorithm string    `json:"alg"`
	Digest    Base64URL `json:"digest"`
	Signature Base64URL `json:"value"`
}

// KeyVerifyResult is the result of verify.
type KeyVerifyResult struct {
	Value bool `json:"value"`
}

// GetRandomBytesRequest is the body of POST /rng.
type GetRandomBytesRequest struct {
	Count int `json:"count"`
}

// RandomBytes is the result of POST /rng.
type RandomBytes struct {
	Value Base64URL `json:"value"`
}

// KeyRotationPolicy is a key's rotation policy.
type KeyRotationPolicy struct {
	ID              string                       `json:"id,omitempty"`
	LifetimeActions []LifetimeAction             `json:"lifetimeActions"`
	Attributes      *KeyRotationPolicyAttributes `json:"attributes,omitempty"`
}

// LifetimeAction is one trigger/action pair of a rotation policy.
type LifetimeAction struct {
	Trigger *LifetimeActionTrigger `json:"trigger,omitempty"`
	Action  *LifetimeActionType    `json:"action,omitempty"`
}

// LifetimeActionTrigger holds ISO 8601 durations.
type LifetimeActionTrigger struct {
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// LifetimeActionType names the action: Rotate or Notify.
type LifetimeActionType struct {
	Type string `json:"type,omitempty"`
}

// KeyRotationPolicyAttributes are the policy's attributes.
type KeyRotationPolicyAttributes struct {
	ExpiryTime string `json:"expiryTime,omitempty"`
	Created    *int64 `json:"created,omitempty"`
	Updated    *int64 `json:"updated,omitempty"`
}

// KeyReleaseParameters is the body of POST /keys/{name}/{version}/release.
type KeyReleaseParameters struct {
	Target string `json:"target"`
	Nonce  string `json:"nonce,omitempty"`
	Enc    string `json:"enc,omitempty"`
}

// KeyReleaseResult carries the signed release response.
type KeyReleaseResult struct {
	Value string `json:"value"`
}
