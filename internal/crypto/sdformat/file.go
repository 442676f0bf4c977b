package sdformat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// File is a security-domain file: the "value" of a download, which the
// Azure CLI saves as is. Field names and order are the wire's.
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

// EncDatum is one payload: a "dir" JWE, and the tag that is both the KDF
// label of its key and the JWE's kid.
type EncDatum struct {
	CompactJWE string `json:"compact_jwe"`
	Tag        string `json:"tag"`
}

// SharedKeys holds the master key's shares, one per key holder, and the
// quorum it takes to rebuild it.
type SharedKeys struct {
	EncShares    []EncShare `json:"enc_shares"`
	KeyAlgorithm string     `json:"key_algorithm"`
	Required     int        `json:"required"`
}

// EncShare is a JWE encrypted to the certificate whose SHA-256 thumbprint
// (base64url) is X5tS256: a holder's share in a file, the new master key
// in a restore blob.
type EncShare struct {
	EncKey  string `json:"enc_key"`
	X5tS256 string `json:"x5t_256"`
}

// Datum is a payload in clear, with its tag.
type Datum struct {
	Tag       string
	Plaintext []byte
}

const (
	kdfName     = "sp108_kdf"
	shamirName  = "shamir_share"
	fileVersion = 2
	masterSize  = 32
	maxData     = 16
	maxTagBytes = 256
	// maxFileBytes bounds a file or restore blob.
	maxFileBytes = 4 << 20
)

// Marshal encodes f as Managed HSM writes a security-domain file: compact
// JSON, fields in wire order.
func (f *File) Marshal() ([]byte, error) {
	return marshal(f)
}

// checkTags checks payload tags: each 1 to 256 bytes of UTF-8, none twice.
// what names the list in errors.
func checkTags(tags []string, what string) error {
	if len(tags) == 0 || len(tags) > maxData {
		return formatErrorf("%s holds %d payloads; want 1 to %d.", what, len(tags), maxData)
	}
	for i, t := range tags {
		if t == "" || len(t) > maxTagBytes || !utf8.ValidString(t) {
			return formatErrorf("%s[%d]: a tag must be 1 to %d bytes of UTF-8.", what, i, maxTagBytes)
		}
		for j := range i {
			if tags[j] == t {
				return formatErrorf("%s[%d] and %s[%d] have the same tag %q.", what, j, what, i, t)
			}
		}
	}
	return nil
}

// parseEncData checks EncData and parses its JWEs.
func parseEncData(e *EncData, what string) ([]*jwe, error) {
	if e == nil {
		return nil, formatErrorf("%s is missing.", what)
	}
	if e.KDF != kdfName {
		return nil, formatErrorf("%s.kdf is %q; the security domain uses %s.", what, e.KDF, kdfName)
	}
	tags := make([]string, len(e.Data))
	for i, d := range e.Data {
		tags[i] = d.Tag
	}
	if err := checkTags(tags, what+".data"); err != nil {
		return nil, err
	}
	jwes := make([]*jwe, len(e.Data))
	for i, d := range e.Data {
		j, err := parseJWE(d.CompactJWE, fmt.Sprintf("%s.data[%d].compact_jwe", what, i), algDir)
		if err != nil {
			return nil, err
		}
		jwes[i] = j
	}
	return jwes, nil
}

// checkX5t checks a thumbprint's form: base64url of 32 bytes.
func checkX5t(s, what string) error {
	if b, err := b64.DecodeString(s); err != nil || len(b) != 32 {
		return formatErrorf("%s is not a SHA-256 thumbprint (base64url of 32 bytes).", what)
	}
	return nil
}

// unwrapText is b as JSON, also when b is base64 or base64url of it, once
// or twice over (the API's example upload is base64 of the file).
func unwrapText(b []byte) []byte {
	b = bytes.TrimSpace(b)
	for range 2 {
		if len(b) == 0 || b[0] == '{' {
			return b
		}
		s := string(bytes.TrimRight(b, "="))
		dec, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			if dec, err = base64.RawURLEncoding.DecodeString(s); err != nil {
				return b
			}
		}
		b = bytes.TrimSpace(dec)
	}
	return b
}

// parsedFile is a checked file with its JWEs parsed.
type parsedFile struct {
	File
	data, shares []*jwe
}

// ParseFile parses a security-domain file and checks its structure:
// EncData (kdf sp108_kdf, 1 to 16 payloads with distinct tags, each a
// "dir" A256CBC-HS512 JWE) and SharedKeys (key_algorithm shamir_share,
// required 2 to 10, at least that many shares, each an RSA-OAEP-256 or
// RSA-OAEP JWE for a distinct certificate thumbprint); version, when
// present, 2. Base64 of the file is accepted too. Errors are *FormatError.
func ParseFile(file []byte) (*File, error) {
	pf, err := parseFile(file)
	if err != nil {
		return nil, err
	}
	return &pf.File, nil
}

func parseFile(file []byte) (*parsedFile, error) {
	if len(file) > maxFileBytes {
		return nil, formatErrorf("The security-domain file is too large (%d bytes; at most %d).", len(file), maxFileBytes)
	}
	var raw struct {
		EncData    *EncData        `json:"EncData"`
		SharedKeys *SharedKeys     `json:"SharedKeys"`
		Version    *int            `json:"version"`
		WrappedKey json.RawMessage `json:"WrappedKey"`
	}
	if err := json.Unmarshal(unwrapText(file), &raw); err != nil {
		return nil, formatErrorf("Invalid SD file: it is not JSON with EncData and SharedKeys.")
	}
	switch {
	case raw.SharedKeys == nil && raw.WrappedKey != nil:
		return nil, formatErrorf("Invalid SD file: this is a restore blob, which goes to the recovering HSM, not a security-domain file.")
	case raw.EncData == nil || raw.SharedKeys == nil:
		return nil, formatErrorf("Invalid SD file: EncData and SharedKeys are required.")
	case raw.Version != nil && *raw.Version != fileVersion:
		return nil, formatErrorf("Invalid SD file: version %d is not supported (want %d).", *raw.Version, fileVersion)
	}
	pf := &parsedFile{File: File{EncData: *raw.EncData, SharedKeys: *raw.SharedKeys, Version: fileVersion}}
	var err error
	if pf.data, err = parseEncData(raw.EncData, "EncData"); err != nil {
		return nil, err
	}
	sk := &pf.SharedKeys
	switch {
	case sk.KeyAlgorithm != shamirName:
		return nil, formatErrorf("Unsupported SharedKeys algorithm: %q. Supported: %s.", sk.KeyAlgorithm, shamirName)
	case sk.Required < MinQuorum || sk.Required > MaxQuorum:
		return nil, formatErrorf(`Invalid SD file: the value of "required" should be in range [%d, %d].`, MinQuorum, MaxQuorum)
	case len(sk.EncShares) < sk.Required || len(sk.EncShares) > maxHolders:
		return nil, formatErrorf("Invalid SD file: it has %d shares for a quorum of %d.", len(sk.EncShares), sk.Required)
	}
	pf.shares = make([]*jwe, len(sk.EncShares))
	for i, s := range sk.EncShares {
		what := fmt.Sprintf("SharedKeys.enc_shares[%d]", i)
		if err := checkX5t(s.X5tS256, what+".x5t_256"); err != nil {
			return nil, err
		}
		for j := range i {
			// One certificate with two shares would let one holder stand
			// for two.
			if sk.EncShares[j].X5tS256 == s.X5tS256 {
				return nil, formatErrorf("Invalid SD file: shares %d and %d are for the same certificate.", j, i)
			}
		}
		if pf.shares[i], err = parseJWE(s.EncKey, what+".enc_key", algRSAOAEP256, algRSAOAEP); err != nil {
			return nil, err
		}
	}
	return pf, nil
}

// Build makes a security-domain file, as Managed HSM does for a download:
// each datum encrypted under KDF(master, tag), and master (32 bytes) split
// among certs (3 to 10, shares in order, holder x = 1..n) so that quorum
// (2 to 10, at most n) of their holders rebuild it. rnd nil means
// crypto/rand.Reader.
func Build(rnd io.Reader, master []byte, data []Datum, certs []Certificate, quorum int) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if len(master) != masterSize {
		return nil, fmt.Errorf("sdformat: the master key is %d bytes; want %d", len(master), masterSize)
	}
	if err := checkQuorum(len(certs), quorum); err != nil {
		return nil, err
	}
	// The certificates' thumbprints and keys are what the holders go by:
	// take them from the DER, whatever the caller filled in.
	checked := make([]Certificate, 0, len(certs))
	for i, c := range certs {
		cc, err := NewCertificate(c.DER)
		if err != nil {
			return nil, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		if c.Key != nil && !c.Key.Equal(cc.Key) {
			return nil, fmt.Errorf("sdformat: certificates[%d]: Key is not the certificate's key", i)
		}
		if j := duplicate(checked, cc); j >= 0 {
			return nil, formatErrorf("certificates[%d] and certificates[%d] hold the same key: each key holder needs a key of their own.", j, i)
		}
		checked = append(checked, cc)
	}
	enc, err := encryptData(rnd, master, data, "data")
	if err != nil {
		return nil, err
	}
	shares, err := Split(rnd, master, len(checked), quorum)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	f := File{
		EncData:    EncData{Data: enc, KDF: kdfName},
		SharedKeys: SharedKeys{KeyAlgorithm: shamirName, Required: quorum},
		Version:    fileVersion,
	}
	for i, c := range checked {
		j, err := sealRSA(rnd, c.Key, shares[i])
		if err != nil {
			return nil, err
		}
		f.SharedKeys.EncShares = append(f.SharedKeys.EncShares, EncShare{EncKey: j, X5tS256: c.X5tS256})
	}
	return f.Marshal()
}

// encryptData encrypts every datum under KDF(master, tag).
func encryptData(rnd io.Reader, master []byte, data []Datum, what string) ([]EncDatum, error) {
	tags := make([]string, len(data))
	for i, d := range data {
		tags[i] = d.Tag
	}
	if err := checkTags(tags, what); err != nil {
		return nil, err
	}
	out := make([]EncDatum, 0, len(data))
	for _, d := range data {
		k := payloadKey(master, d.Tag)
		j, err := sealDir(rnd, d.Tag, k, d.Plaintext)
		clear(k)
		if err != nil {
			return nil, err
		}
		out = append(out, EncDatum{CompactJWE: j, Tag: d.Tag})
	}
	return out, nil
}

// decryptData opens every payload under KDF(master, tag). Any failure is
// ErrDecrypt, whichever payload it was.
func decryptData(master []byte, enc []EncDatum, jwes []*jwe) ([]Datum, error) {
	out := make([]Datum, 0, len(enc))
	for i, d := range enc {
		k := payloadKey(master, d.Tag)
		pt, err := jwes[i].open(k)
		clear(k)
		if err != nil {
			for _, o := range out {
				clear(o.Plaintext)
			}
			return nil, ErrDecrypt
		}
		out = append(out, Datum{Tag: d.Tag, Plaintext: pt})
	}
	return out, nil
}

// Recover opens a security-domain file with key holders' keys, as the Azure
// CLI does on the holders' machine: it decrypts the shares whose x5t_256 is
// the thumbprint of a key's certificate until it has the quorum, rebuilds
// the master key and decrypts the payloads. Keys that hold no share of the
// file are passed over; too few that do is a *FormatError saying how many
// matched and how many it takes. A share or payload that does not decrypt
// is ErrDecrypt. The caller clears master and the payloads.
func Recover(file []byte, keys []WrappingKey) (master []byte, data []Datum, err error) {
	pf, err := parseFile(file)
	if err != nil {
		return nil, nil, err
	}
	byX5t := make(map[string]int, len(pf.SharedKeys.EncShares))
	for i, s := range pf.SharedKeys.EncShares {
		byX5t[s.X5tS256] = i
	}
	required := pf.SharedKeys.Required
	var shares [][]byte
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	seen := make(map[string]bool, len(keys))
	for n, k := range keys {
		pub, err := parseRSACertificate(k.CertDER)
		if err != nil {
			return nil, nil, formatErrorf("Wrapping key %d: the certificate cannot wrap a security domain: %v.", n+1, err)
		}
		if k.Key == nil || !k.Key.PublicKey.Equal(pub) {
			return nil, nil, formatErrorf("Wrapping key %d: the private key does not belong to the certificate.", n+1)
		}
		x5t := thumbprintSHA256(k.CertDER)
		i, ok := byX5t[x5t]
		if !ok || seen[x5t] || len(shares) == required {
			continue
		}
		seen[x5t] = true
		share, err := pf.shares[i].openRSA(k.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("decrypting the share of wrapping key %d (x5t#S256 %s): %w", n+1, x5t, ErrDecrypt)
		}
		shares = append(shares, share)
	}
	if len(shares) < required {
		return nil, nil, formatErrorf("Insufficient shares: %d of the %d wrapping keys given hold a share of this security domain, and it takes %d.", len(shares), len(keys), required)
	}
	if master, err = Combine(shares); err != nil {
		return nil, nil, err
	}
	if data, err = decryptData(master, pf.EncData.Data, pf.data); err != nil {
		clear(master)
		return nil, nil, fmt.Errorf("decrypting the payloads under the rebuilt master key: %w", err)
	}
	return master, data, nil
}
