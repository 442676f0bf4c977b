package sdformat

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// restoreBlob is what a quorum of key holders uploads to a recovering HSM.
type restoreBlob struct {
	EncData    EncData
	WrappedKey EncShare
}

// pyJSON is the blob as the Azure CLI writes it: Python's json.dumps with
// its default separators ", " and ": " and ASCII-only strings.
func (rb *restoreBlob) pyJSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"EncData": {"data": [`)
	for i, d := range rb.EncData.Data {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"compact_jwe": ` + pyString(d.CompactJWE) + `, "tag": ` + pyString(d.Tag) + `}`)
	}
	b.WriteString(`], "kdf": ` + pyString(rb.EncData.KDF) + `}, "WrappedKey": {"enc_key": ` +
		pyString(rb.WrappedKey.EncKey) + `, "x5t_256": ` + pyString(rb.WrappedKey.X5tS256) + `}}`)
	return b.Bytes()
}

// BuildRestoreBlob re-encrypts payloads for a recovering HSM, as `az
// keyvault security-domain restore-blob` does: under a fresh random master
// key, which is encrypted (RSA-OAEP-256, A256CBC-HS512) to the HSM's
// exchange certificate (DER). The blob is laid out as the CLI writes it.
// rnd nil means crypto/rand.Reader.
func BuildRestoreBlob(rnd io.Reader, data []Datum, exchangeCertDER []byte) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, err := parseRSACertificate(exchangeCertDER)
	if err != nil {
		return nil, formatErrorf("The exchange key's certificate cannot wrap a security domain: %v.", err)
	}
	master := make([]byte, masterSize)
	defer clear(master)
	if _, err := io.ReadFull(rnd, master); err != nil {
		return nil, fmt.Errorf("sdformat: reading random bytes: %w", err)
	}
	enc, err := encryptData(rnd, master, data, "data")
	if err != nil {
		return nil, err
	}
	wrapped, err := sealRSA(rnd, pub, master)
	if err != nil {
		return nil, err
	}
	rb := restoreBlob{
		EncData:    EncData{Data: enc, KDF: kdfName},
		WrappedKey: EncShare{EncKey: wrapped, X5tS256: thumbprintSHA256(exchangeCertDER)},
	}
	return rb.pyJSON(), nil
}

// OpenRestoreBlob opens a restore blob uploaded to a recovering HSM whose
// transfer key is transferKey, with certificate transferCertDER, and
// returns the payloads; the caller clears them. The blob is the Azure
// CLI's JSON, or base64 or base64url of it.
//
// Structural problems, a blob made for another transfer key included, are
// *FormatError with a message for the uploader; everything cryptographic
// (the wrapped key, any payload) is ErrDecrypt alone, so the endpoint that
// calls this tells an uploader nothing else about the keys. Opening a blob
// shows only that it was made for this transfer key, which is public: the
// caller must recognise the payloads as its own.
func OpenRestoreBlob(blob []byte, transferKey *rsa.PrivateKey, transferCertDER []byte) ([]Datum, error) {
	if transferKey == nil {
		return nil, errors.New("sdformat: no transfer key")
	}
	if len(blob) > maxFileBytes {
		return nil, formatErrorf("The restore blob is too large (%d bytes; at most %d).", len(blob), maxFileBytes)
	}
	var raw struct {
		EncData    *EncData        `json:"EncData"`
		WrappedKey *EncShare       `json:"WrappedKey"`
		SharedKeys json.RawMessage `json:"SharedKeys"`
	}
	if err := json.Unmarshal(unwrapText(blob), &raw); err != nil {
		return nil, formatErrorf(`The restore blob is not JSON with EncData and WrappedKey, as "az keyvault security-domain restore-blob" writes it.`)
	}
	switch {
	case raw.WrappedKey == nil && raw.SharedKeys != nil:
		return nil, formatErrorf("This is a security-domain file, not a restore blob: a quorum of its key holders makes the restore blob from it for this HSM's exchange key.")
	case raw.WrappedKey == nil:
		return nil, formatErrorf("The restore blob has no WrappedKey.")
	}
	jwes, err := parseEncData(raw.EncData, "EncData")
	if err != nil {
		return nil, err
	}
	wk, err := parseJWE(raw.WrappedKey.EncKey, "WrappedKey.enc_key", algRSAOAEP256)
	if err != nil {
		return nil, err
	}
	if err := checkX5t(raw.WrappedKey.X5tS256, "WrappedKey.x5t_256"); err != nil {
		return nil, err
	}
	if raw.WrappedKey.X5tS256 != thumbprintSHA256(transferCertDER) {
		return nil, formatErrorf("The restore blob was made for another exchange key (its x5t_256 is not this HSM's transfer key): get the exchange key again (GET /securitydomain/upload) and make the blob for it.")
	}
	master, err := wk.openRSA(transferKey)
	if err != nil || len(master) != masterSize {
		clear(master)
		return nil, ErrDecrypt
	}
	defer clear(master)
	return decryptData(master, raw.EncData.Data, jwes)
}
