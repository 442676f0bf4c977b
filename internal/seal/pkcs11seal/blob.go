package pkcs11seal

import (
	"fmt"

	"github.com/cofferkms/coffer/internal/seal"
)

// Blob layout; see the package doc.
const (
	blobMagic   = 'P'
	blobVersion = 1
	ivSize      = 12
	tagSize     = 16
	headerSize  = 2 + ivSize

	// maxPlaintext bounds what Wrap accepts and so what Unwrap hands to
	// the token: the node seal wraps 32-byte domain keys, and tokens limit
	// single-part operations, often to a few kilobytes.
	maxPlaintext = 4096
)

// errBlob is the one error for a blob whose header is wrong. The header is
// not secret, so saying that it is wrong reveals nothing; it tells an
// operator that the blob was not made by a PKCS#11 seal at all.
var errBlob = fmt.Errorf("%w: not a PKCS#11 seal blob", seal.ErrSealed)

// parseBlob splits a blob into the GCM IV and the ciphertext with its tag.
// The results alias b.
func parseBlob(b []byte) (iv, ct []byte, err error) {
	if len(b) < headerSize+tagSize || len(b) > headerSize+maxPlaintext+tagSize ||
		b[0] != blobMagic || b[1] != blobVersion {
		return nil, nil, errBlob
	}
	return b[2:headerSize:headerSize], b[headerSize:], nil
}

// appendBlob appends the blob of iv and ct (ciphertext with tag) to dst.
func appendBlob(dst, iv, ct []byte) []byte {
	dst = append(dst, blobMagic, blobVersion)
	dst = append(dst, iv...)
	return append(dst, ct...)
}
