// Package keymat holds key material: the Key type for RSA, EC and AES keys,
// their generation, a strict JWK import codec, the BYOK plaintext parsers,
// and the canonical encoding used to seal keys for storage.
//
// Keys are RSA-HSM (2048, 3072 or 4096 bits, two primes), EC-HSM (P-256,
// P-256K, P-384, P-521) or oct-HSM (AES-128, -192 or -256), the key types
// of Managed HSM. Imports are strict: every member must be present and
// consistent with the others (FromJWK, FromPKCS8), and the storage
// encoding has exactly one form per key (Key.MarshalBinary, UnmarshalKey).
// Every import and parse error matches ErrInvalidKey and reads
// "keymat: <what is wrong>".
//
// # Security
//
// Private and symmetric material never leaves this package except through
// explicit accessors (Key.RSA, Key.ECDSA, Key.Secp256k1, Key.Symmetric,
// Secret.Expose, Key.MarshalBinary, Key.MarshalPKCS8) whose callers must
// not log, print or persist the result unsealed. Key and Secret print as
// redacted under every fmt verb and in log/slog, refuse JSON and text
// marshalling, and keep their bytes out of reach of fmt even when they sit
// in unexported fields of other structs. Error messages never contain key
// bytes. Secret and Key comparisons are constant-time.
package keymat
