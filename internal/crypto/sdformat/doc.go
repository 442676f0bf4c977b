// Package sdformat reads and writes the security-domain formats of Azure
// Key Vault Managed HSM, byte-compatible with the Azure CLI: the request a
// download carries, the security-domain file a download returns, the
// transfer key a recovering HSM publishes, and the restore blob a quorum of
// key holders builds for it.
//
// A security-domain file holds payloads ("EncData") encrypted as compact
// JWEs (alg "dir", enc A256CBC-HS512, RFC 7518 §5.2.5) under keys derived
// from a 32-byte master key with the SP 800-108 counter-mode KDF
// (HMAC-SHA-512), the payload's tag being the label. The master key is
// split with Shamir's scheme over GF(257), one share per key holder, and
// each share is encrypted to the holder's certificate as a JWE
// (RSA-OAEP-256, A256CBC-HS512). A restore blob holds the same payloads
// re-encrypted under a fresh master key, which is itself encrypted to the
// recovering HSM's transfer ("exchange") key.
//
// The server's side is ParseDownloadRequest, Build, TransferKeyJWK and
// OpenRestoreBlob. The key holders' side, what `az keyvault security-domain
// restore-blob` does on the holders' machine, is ParseFile, Recover and
// BuildRestoreBlob, with GenerateWrappingKey, LoadWrappingKey and
// CertificateJWK for the holders' key pairs.
//
// Errors about the shape of an input are *FormatError values whose text is
// written for the person who sent the input and may be shown to them as
// is; the other errors are the caller's mistakes or a failing random source.
//
// # Security
//
// Master keys, payloads, shares and content-encryption keys are secrets.
// The package clears its own copies when done with them; the master key
// and payloads it returns belong to the caller, who clears them. No error
// text contains key material or plaintext.
//
// A JWE that does not open (wrong key, altered ciphertext, tag or header,
// bad padding) gives the one error ErrDecrypt. The authentication tag is
// compared in constant time before anything is decrypted, and a failed
// RSA-OAEP unwrap continues with a random content key (RFC 7516 §11.5), so
// it fails at the tag like any other damage: OpenRestoreBlob, which opens
// what anyone may upload, is not a decryption oracle. It runs every
// structural check before it decrypts anything.
//
// A restore blob is encrypted to the transfer key, which is public: anyone
// can build one, and opening it proves nothing about where the payloads
// came from. Whoever installs them must recognise them as their own.
//
// Shamir arithmetic runs without branches or table lookups on secret
// values. Shares are uniformly random given fewer than the quorum.
package sdformat
