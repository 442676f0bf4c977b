package sdformat

import (
	"bytes"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// File is a security-domain file. Field order is the wire's.
type File struct {
	EncData    EncData    `json:"EncData"`
	SharedKeys SharedKeys `json:"SharedKeys"`
	Version    int        `json:"version"`
}

// EncData holds the payloads, each under KDF(master, tag).
type EncData struct {
	Data []EncDatum `json:"data"`
	KDF  string     `json:"kdf"`
}

// EncDatum is one payload: a "dir" JWE and its tag.
type EncDatum struct {
	CompactJWE string `json:"compact_jwe"`
	Tag        string `json:"tag"`
}

// SharedKeys holds the master key's shares, one per holder.
type SharedKeys struct {
	EncShares    []EncShare `json:"enc_shares"`
	KeyAlgorithm string     `json:"key_algorithm"`
	Required     int        `json:"required"`
}

// EncShare is one holder's share, encrypted to the certificate whose
// SHA-256 thumbprint is X5tS256.
type EncShare struct {
	EncKey  string `json:"enc_key"`
	X5tS256 string `json:"x5t_256"`
}

// Datum is a payload in clear.
type Datum struct {
	Tag       string
	Plaintext []byte
}

const (
	kdfName      = "sp108_kdf"
	shamirName   = "shamir_share"
	fileVersion  = 2
	masterSize   = 32
	maxData      = 16
	maxFileBytes = 4 << 20
)

// Build makes a security-domain file: each datum encrypted under a key
// derived from master, and master split among certs so that quorum of
// their holders rebuild it. Shares go to the certificates in order
// (holder x = 1..n).
func Build(rnd io.Reader, master []byte, data []Datum, certs []Certificate, quorum int) ([]byte, error) {
	if len(master) != masterSize {
		return nil, fmt.Errorf("sdformat: the master key must be %d bytes", masterSize)
	}
	if len(certs) < MinCertificates || len(certs) > MaxCertificates || quorum < MinQuorum || quorum > MaxQuorum || quorum > len(certs) {
		return nil, fmt.Errorf("sdformat: %d certificates with a quorum of %d", len(certs), quorum)
	}
	if len(data) == 0 || len(data) > maxData {
		return nil, fmt.Errorf("sdformat: %d payloads", len(data))
	}
	f := File{EncData: EncData{KDF: kdfName}, SharedKeys: SharedKeys{KeyAlgorithm: shamirName, Required: quorum}, Version: fileVersion}
	enc, err := encryptData(rnd, master, data)
	if err != nil {
		return nil, err
	}
	f.EncData.Data = enc
	shares, err := Split(rnd, master, len(certs), quorum)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	for i, c := range certs {
		jwe, err := sealRSA(rnd, c.Key, shares[i])
		if err != nil {
			return nil, err
		}
		f.SharedKeys.EncShares = append(f.SharedKeys.EncShares, EncShare{EncKey: jwe, X5tS256: c.X5tS256})
	}
	return json.Marshal(f)
}

func encryptData(rnd io.Reader, master []byte, data []Datum) ([]EncDatum, error) {
	var out []EncDatum
	for _, d := range data {
		if d.Tag == "" {
			return nil, fmt.Errorf("sdformat: a payload needs a tag")
		}
		k := payloadKey(master, d.Tag)
		jwe, err := sealDir(rnd, d.Tag, k, d.Plaintext)
		clear(k)
		if err != nil {
			return nil, err
		}
		out = append(out, EncDatum{CompactJWE: jwe, Tag: d.Tag})
	}
	return out, nil
}

// decryptData opens every payload with keys derived from master.
func decryptData(master []byte, enc []EncDatum) ([]Datum, error) {
	var out []Datum
	for _, d := range enc {
		k := payloadKey(master, d.Tag)
		pt, err := openDir(d.CompactJWE, k)
		clear(k)
		if err != nil {
			for _, o := range out {
				clear(o.Plaintext)
			}
			return nil, err
		}
		out = append(out, Datum{Tag: d.Tag, Plaintext: pt})
	}
	return out, nil
}

// unwrapText accepts JSON as it is, or base64 / base64url of JSON (the
// API's example upload is base64; older CLIs double-encoded).
func unwrapText(b []byte) []byte {
	b = bytes.TrimSpace(b)
	for range 2 {
		if len(b) == 0 || b[0] == '{' {
			return b
		}
		s := string(bytes.TrimRight(b, "="))
		var dec []byte
		var err error
		if dec, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			if dec, err = base64.RawURLEncoding.DecodeString(s); err != nil {
				return b
			}
		}
		b = bytes.TrimSpace(dec)
	}
	return b
}

func checkEncData(e EncData) error {
	if e.KDF != kdfName {
		return inputErrorf("EncData.kdf is %q; want %s", e.KDF, kdfName)
	}
	if len(e.Data) == 0 || len(e.Data) > maxData {
		return inputErrorf("EncData holds %d payloads; want 1 to %d", len(e.Data), maxData)
	}
	return nil
}

// ParseFile parses and checks a security-domain file's structure.
func ParseFile(file []byte) (*File, error) {
	if len(file) > maxFileBytes {
		return nil, InputError("the security-domain file is too large")
	}
	var f File
	if err := json.Unmarshal(unwrapText(file), &f); err != nil {
		return nil, InputError("not a security-domain file: it is not JSON with EncData and SharedKeys")
	}
	if err := checkEncData(f.EncData); err != nil {
		return nil, err
	}
	sk := f.SharedKeys
	if sk.KeyAlgorithm != shamirName {
		return nil, inputErrorf("Unsupported SharedKeys algorithm: %q. Supported: %s", sk.KeyAlgorithm, shamirName)
	}
	if sk.Required < MinQuorum || sk.Required > MaxQuorum {
		return nil, inputErrorf("Invalid SD file: the value of \"required\" should be in range [%d, %d].", MinQuorum, MaxQuorum)
	}
	if len(sk.EncShares) < sk.Required || len(sk.EncShares) > maxShares {
		return nil, inputErrorf("the file has %d shares for a quorum of %d", len(sk.EncShares), sk.Required)
	}
	return &f, nil
}

// Recover opens a security-domain file with holders' keys: it decrypts
// the shares of the keys given, rebuilds the master key from the first
// quorum of them and decrypts the payloads. Keys whose certificate holds
// no share of the file are ignored; fewer matching keys than the quorum
// is an error.
func Recover(file []byte, keys []WrappingKey) (master []byte, data []Datum, err error) {
	f, err := ParseFile(file)
	if err != nil {
		return nil, nil, err
	}
	var shares [][]byte
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	used := map[string]bool{}
	for _, k := range keys {
		x5t := thumbprint256(k.CertDER)
		if used[x5t] {
			continue
		}
		for _, s := range f.SharedKeys.EncShares {
			if subtle.ConstantTimeCompare([]byte(s.X5tS256), []byte(x5t)) != 1 {
				continue
			}
			share, err := openRSA(s.EncKey, k.Key)
			if err != nil {
				return nil, nil, fmt.Errorf("the share of %s: %w", x5t, err)
			}
			shares = append(shares, share)
			used[x5t] = true
			break
		}
		if len(shares) == f.SharedKeys.Required {
			break
		}
	}
	if len(shares) < f.SharedKeys.Required {
		return nil, nil, inputErrorf("the security domain needs %d of its key holders; %d of the %d keys given hold a share of it",
			f.SharedKeys.Required, len(shares), len(keys))
	}
	if master, err = Combine(shares); err != nil {
		return nil, nil, err
	}
	if data, err = decryptData(master, f.EncData.Data); err != nil {
		clear(master)
		return nil, nil, err
	}
	return master, data, nil
}

// restoreBlob is what a quorum uploads. Field order is the Azure CLI's.
type restoreBlob struct {
	EncData    EncData  `json:"EncData"`
	WrappedKey EncShare `json:"WrappedKey"`
}

// BuildRestoreBlob re-encrypts payloads for a recovering HSM, as the
// Azure CLI does: under a fresh master key, itself encrypted to the HSM's
// exchange certificate.
func BuildRestoreBlob(rnd io.Reader, data []Datum, exchangeCertDER []byte) ([]byte, error) {
	_, pub, err := parseRSACertificate(exchangeCertDER)
	if err != nil {
		return nil, fmt.Errorf("the exchange key: %w", err)
	}
	if len(data) == 0 || len(data) > maxData {
		return nil, fmt.Errorf("sdformat: %d payloads", len(data))
	}
	master := make([]byte, masterSize)
	defer clear(master)
	if _, err := io.ReadFull(rnd, master); err != nil {
		return nil, fmt.Errorf("sdformat: reading randomness: %w", err)
	}
	enc, err := encryptData(rnd, master, data)
	if err != nil {
		return nil, err
	}
	wrapped, err := sealRSA(rnd, pub, master)
	if err != nil {
		return nil, err
	}
	return json.Marshal(restoreBlob{EncData: EncData{Data: enc, KDF: kdfName},
		WrappedKey: EncShare{EncKey: wrapped, X5tS256: thumbprint256(exchangeCertDER)}})
}

// OpenRestoreBlob opens a restore blob built for the transfer key
// (transferKey, whose certificate is transferCertDER) and returns its
// payloads.
func OpenRestoreBlob(blob []byte, transferKey *rsa.PrivateKey, transferCertDER []byte) ([]Datum, error) {
	if len(blob) > maxFileBytes {
		return nil, InputError("the restore blob is too large")
	}
	var rb restoreBlob
	if err := json.Unmarshal(unwrapText(blob), &rb); err != nil {
		return nil, InputError("not a restore blob: it is not JSON with EncData and WrappedKey")
	}
	if err := checkEncData(rb.EncData); err != nil {
		return nil, err
	}
	if rb.WrappedKey.EncKey == "" {
		return nil, InputError("the restore blob has no WrappedKey")
	}
	if subtle.ConstantTimeCompare([]byte(rb.WrappedKey.X5tS256), []byte(thumbprint256(transferCertDER))) != 1 {
		return nil, InputError("the restore blob was built for another transfer key (its x5t_256 is not this HSM's): get the transfer key again and rebuild it")
	}
	master, err := openRSA(rb.WrappedKey.EncKey, transferKey)
	if err != nil {
		return nil, err
	}
	defer clear(master)
	if len(master) != masterSize {
		return nil, ErrDecrypt
	}
	return decryptData(master, rb.EncData.Data)
}
