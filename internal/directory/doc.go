// Package directory is Coffer's embedded identity directory: tenants and
// the principals that can call a pool — users, groups, service principals
// and managed identities — with their credentials, enabled state, group
// memberships and directory roles (Global Administrator).
//
// The whole directory lives in memory, loaded at Open and replaced
// atomically after every committed write, so the questions asked on every
// request ("is this principal still enabled, is the credential its token
// was issued for still valid, which groups is it in?") are answered without
// touching storage. Generation changes whenever anything does, so caches
// keyed on it (the token verifier's, authorization's) see changes on the
// next request.
//
// # Security
//
// Secrets are shown once, when created, and stored only as hashes: client
// secrets and managed-identity header secrets are 256-bit random values,
// stored as SHA-256 and compared in constant time; user passwords are
// hashed with argon2id (RFC 9106 second recommended option: 3 passes,
// 64 MiB, 4 lanes) with a per-user random salt. The store the directory is
// given is itself an encrypting barrier.
package directory
