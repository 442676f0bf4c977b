// Package jwa implements every algorithm the Managed HSM API accepts, as
// pure functions over keymat keys: RSA-OAEP, RSA-OAEP-256 and RSA1_5
// encryption and key wrap; AES-GCM, AES-CBC and AES-CBC with PKCS#7
// padding; AES key wrap (RFC 3394) and key wrap with padding (RFC 5649);
// RSASSA-PKCS1-v1_5, RSASSA-PSS and ECDSA signatures over client-supplied
// digests; HMAC; and the CKM_RSA_AES_KEY_WRAP transfer format of BYOK and
// secure key release.
//
// Three errors cover what can go wrong. ErrAlgorithmMismatch: the
// algorithm does not serve this key (type, size or curve) or this
// operation; CheckEncryption and CheckSignature answer that question before
// any work. ErrInvalidInput, wrapped with a sentence for the caller: the
// request has the wrong shape (digest, IV or tag length, a value too long
// for RSA, a CBC value that is not whole blocks). ErrDecrypt: a decryption
// or unwrap failed.
//
// Crypto comes from the Go standard library and, for P-256K, from
// github.com/decred/dcrd/dcrec/secp256k1. With GODEBUG=fips140=on every
// algorithm but ES256K runs inside the Go Cryptographic Module (FIPS
// 140-3); ES256K keeps working, outside it.
//
// # Security
//
// Every failure of a decryption or unwrap itself (tag, padding, OAEP or
// key wrap integrity check) returns ErrDecrypt, never wrapped with a cause,
// so a caller cannot tell a bad tag from bad padding; CBC padding and key
// wrap checks run in constant time. RSA1_5 decryption is offered because
// Managed HSM offers it; PKCS#1 v1.5 decryption is a padding oracle by
// construction for whoever may call it, so grant decrypt on RSA keys with
// care and prefer RSA-OAEP-256. AES-GCM IVs are always generated here,
// never taken from the caller. Keys pass through unchanged: nothing here
// logs, stores or returns key material except the results asked for.
package jwa
