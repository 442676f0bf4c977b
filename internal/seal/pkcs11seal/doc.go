// Package pkcs11seal is a node seal whose key lives in a PKCS#11 token: a
// network HSM, a smart card, a TPM-backed token, or SoftHSM2 for tests.
// The node's domain keys are wrapped with AES-256-GCM by the token, under
// an AES key that never leaves it, so a restarted node unseals by logging
// in to the token, without people.
//
// # Blob format
//
// A wrapped blob is the byte 'P', a version byte (1), the 12-byte GCM
// nonce, then the ciphertext with its 16-byte tag. The nonce is drawn on
// the host from crypto/rand: tokens differ in whether and how they make
// GCM nonces, and a fresh random nonce per 32-byte key is far from the
// birthday bound.
//
// # Security
//
// The PIN is held only to log in again when a token drops the session; it
// never appears in errors, logs or Describe. Anything that fails to open —
// another key, other associated data, a tampered blob — wraps
// seal.ErrSealed, so the server reports it as a seal mismatch; a token
// that cannot be reached or logged in to is another error, and the server
// stops instead of falling back to another seal.
package pkcs11seal
