// Package sdformat reads and writes Azure Key Vault Managed HSM's
// security-domain formats, byte-compatible with the Azure CLI: the
// security-domain file a download returns, the transfer key a recovering
// HSM publishes, and the restore blob a quorum of key holders builds for
// it.
//
// The file holds payloads ("EncData") encrypted as JWEs (alg "dir", enc
// A256CBC-HS512) under keys derived with the SP 800-108 counter-mode KDF
// (HMAC-SHA-512) from a 32-byte master key; the master key is split with
// Shamir's scheme over GF(257), one share per key holder, each share
// encrypted to the holder's certificate as a JWE (RSA-OAEP-256,
// A256CBC-HS512). A restore blob holds the same payloads re-encrypted
// under a fresh master key, which is itself encrypted to the recovering
// HSM's transfer key.
//
// The server side is ParseDownloadRequest, Build, TransferKeyJWK and
// OpenRestoreBlob; the key holders' side (what `az keyvault
// security-domain` does locally) is Recover and BuildRestoreBlob.
//
// # Security
//
// Master keys, payloads and content-encryption keys are secrets: callers
// wipe what they are handed (the package clears its own intermediates).
// A JWE that fails to decrypt — wrong key, altered ciphertext, bad padding —
// gives the one error ErrDecrypt, whatever the cause, so a caller cannot be
// used as a decryption oracle; the authentication tag is checked, in
// constant time, before any decryption. Errors about the structure of the
// input are InputErrors, whose text is safe to show a client: they never
// contain key material.
package sdformat
