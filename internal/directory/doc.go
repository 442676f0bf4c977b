// Package directory is Coffer's embedded identity directory: tenants and
// the principals that can call a pool — users, groups, service principals
// and managed identities — with their credentials, enabled state, group
// memberships and directory role (Global Administrator).
//
// The whole directory lives in memory, loaded at Open and replaced
// atomically after every committed write (the store is written first), so
// the questions asked on every request — is this principal still enabled,
// is the credential its token was issued for still valid, which groups is
// it in — are answered without touching storage. Generation changes
// whenever anything does, so caches keyed on it (the token verifier's,
// authorization's) recompute on the next request.
//
// Records are versioned JSON envelopes under dir/tenants/, dir/principals/
// and dir/resources/.
//
// # Security
//
// Secrets are shown once, when created, and stored only as hashes. Client
// secrets and identity-header secrets are 256-bit random values, so a
// SHA-256 of each is enough; they are compared in constant time. User
// passwords are hashed with argon2id with a 16-byte random salt per
// password and a 32-byte tag; the parameters (default: RFC 9106 §4's
// second recommended option, 3 passes over 64 MiB with 4 lanes) are stored
// with each hash. A sign-in for an unknown user name spends the same
// argon2id work as a real one, and at most GOMAXPROCS hashes are computed
// at once, which bounds their memory. Authentication methods tell a caller that a
// principal is disabled or a credential expired only after the caller has
// proved it knows the credential. The store the directory is given is
// itself an encrypting barrier.
package directory
