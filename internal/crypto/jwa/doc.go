// Package jwa implements every algorithm the Managed HSM API accepts, as
// pure functions over keymat keys: RSA-OAEP, RSA-OAEP-256 and RSA1_5
// encryption and key wrap; AES-GCM, AES-CBC and AES-CBC with PKCS#7
// padding; AES key wrap (RFC 3394) and key wrap with padding (RFC 5649);
// RSASSA-PKCS1-v1_5, RSASSA-PSS and ECDSA signatures over client-supplied
// digests; HMAC; and the CKM_RSA_AES_KEY_WRAP transfer format of BYOK.
//
// Crypto comes from the Go standard library (and its FIPS 140-3 module:
// everything except secp256k1 works with GODEBUG=fips140=on) and, for
// P-256K, from github.com/decred/dcrd/dcrec/secp256k1.
//
// # Security
//
// Every decryption and unwrap failure returns ErrDecrypt, never wrapped with
// a cause, so a caller cannot tell a bad tag from bad padding. RSA1_5
// decryption is offered because Managed HSM offers it; PKCS#1 v1.5
// decryption is a padding oracle by construction for whoever may call it,
// so grant decrypt on RSA keys with care and prefer RSA-OAEP-256.
package jwa
