// Package hsm is the domain of Coffer: a Pool is one Managed HSM, with its
// keys, key versions, cryptographic operations, local RBAC, settings and
// lifecycle state.
//
// Every operation takes an explicit Caller, authorizes it with package authz
// before acting, and annotates the request's audit event (package audit) with
// what it did. The package knows nothing of HTTP: it speaks in validated
// domain types (KeyName, KeyRef, Scope, algorithms) and returns typed *Error
// values carrying the Managed HSM error vocabulary, which the HTTP layer maps
// to statuses once.
//
// # Hot path
//
// A pool keeps every key's metadata and unsealed material in memory, loaded
// at Open and updated after each committed write, so a cryptographic
// operation does no storage read: look up the version, check attributes and
// key_ops, authorize from a precomputed policy, compute.
//
// # Security
//
// Key material lives in keymat.Key values and is persisted only through the
// pool's store, which is an encrypting barrier (package seal). Backup blobs
// are sealed under a key derived from the pool's security domain, so they
// open only in pools holding the same domain. Errors never carry key bytes,
// plaintext or ciphertext.
package hsm
