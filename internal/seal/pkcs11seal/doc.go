// Package pkcs11seal is a node seal whose key lives in a PKCS#11 token: a
// network HSM, a smart card, a TPM-backed token, or SoftHSM2 for tests.
// The node's domain keys are wrapped with AES-256-GCM by the token, under
// an AES key that never leaves it, so a restarted node unseals by logging
// in to the token, without people.
//
// The key is a token object with CKA_LABEL set to the configured key
// label. [Open] can generate it (Config.Create); an operator can also
// make it beforehand, for example with
//
//	pkcs11-tool --module <library> --login --keygen --key-type AES:32 \
//	    --label coffer-seal --sensitive
//
// # Blob format
//
// A wrapped blob is
//
//	'P' (1) ‖ version 1 (1) ‖ GCM IV (12) ‖ ciphertext ‖ GCM tag (16)
//
// The GCM associated data is the caller's aad alone. A later version must
// put its own header into the associated data, so that no blob can be
// read under another version's rules.
//
// The IV is drawn on the host from crypto/rand and handed to the token:
// tokens differ in whether and how they make GCM IVs, and 96 random bits
// per wrap keep one key far below the 2^32-wraps bound of NIST SP 800-38D
// for a node seal that wraps a handful of domain keys. If a token
// nevertheless substitutes an IV of its own, the blob records the IV the
// token used.
//
// # Concurrency and sharing
//
// A Seal serializes its token operations on one logged-in session; the
// seal wraps few, small keys, and many tokens serialize a session anyway.
// If the token drops the session or the login (a reset, a network HSM
// reconnecting), the seal opens a new session and logs in again once
// before failing.
//
// C_Initialize and C_Finalize act on the whole process, and a login is
// shared by all of a process's sessions with a token, so Seals in one
// process that use the same module share one initialization, and Seals on
// the same token share one login. The last Seal to close on a token logs
// out; the last on a module finalizes and unloads it.
//
// # Security
//
// The PIN is held only to log in again when a token drops the session; it
// never appears in errors, logs or Describe, and a [Config] prints without
// it. A second Seal on a token this process is already logged in to must
// present the same PIN (compared in constant time), because the token
// would not check it again.
//
// Everything that fails to open (another key, other associated data, a
// tampered or truncated blob, a blob of another seal) wraps seal.ErrSealed,
// with no detail of why beyond a malformed header. Because some tokens
// (SoftHSM2 among them) report a failed GCM tag check as
// CKR_GENERAL_ERROR, a decryption failure is called ErrSealed only after
// the token has passed a fresh wrap-and-unwrap round trip with the same
// key; a token that cannot do that is reported as broken instead. A token
// that cannot be loaded, reached or logged in to is never ErrSealed, so
// the server stops rather than mistaking a broken token for a wrong seal.
//
// Open refuses, rather than guesses: a token label shared by two tokens,
// two keys with the key label, a key that is not AES-256 or may not
// encrypt and decrypt, a token without CKM_AES_GCM. A generated key is
// CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_PRIVATE and CKA_TOKEN; a key
// made by an operator is used as it is, so its attributes are theirs to
// choose.
package pkcs11seal
