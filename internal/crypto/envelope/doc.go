// Package envelope is the sealed-record format: a plaintext encrypted with
// AES-256-GCM under a numbered data key, with caller-supplied associated
// data (for stored records, the record's full store path), behind a small
// versioned header that names the key.
//
//	version (1) ‖ key id (4, big endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//
// The GCM associated data is the 5-byte header followed by the caller's
// associated data, so the version and key id are authenticated as well:
// no byte of a sealed record can change without Open failing.
//
// [Seal] and [Open] take a [keymat.Secret] and suit occasional use. [Key]
// holds a prepared AES-GCM instance for keys used on every request (the
// seal barrier's data keys), so the key schedule is computed once.
//
// # Security
//
// Open fails with the single error [ErrOpen] for every problem (short
// input, unknown version, wrong key, wrong associated data, any tampering),
// with no wrapped cause, so a failure tells an attacker nothing about why.
//
// Nonces are 96 random bits from crypto/rand. NIST SP 800-38D §8.3 bounds
// one key to 2^32 random-nonce encryptions, far more records than a key
// service writes under one data key; package seal can start a new data key
// at any time.
// The format does not hide plaintext length, and it does not stop an
// attacker who can write the store from putting back an older sealed value
// of the same record (rollback); see package seal.
package envelope
