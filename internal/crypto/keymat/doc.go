// Package keymat holds key material: the Key type for RSA, EC and AES keys,
// their generation, a strict JWK import codec, the BYOK plaintext parsers,
// and the canonical encoding used to seal keys for storage.
//
// # Security
//
// Private and symmetric material never leaves this package except through
// explicit accessors (Key.RSA, Key.ECDSA, Key.Symmetric, Secret.Expose) whose
// callers must not log, print or persist the result. Key and Secret print
// as redacted and refuse JSON marshalling.
package keymat
