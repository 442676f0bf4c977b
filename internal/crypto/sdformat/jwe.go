package sdformat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
)

// The JWEs of the security domain: compact serialization, enc
// A256CBC-HS512, alg "dir" for payloads and RSA-OAEP-256 for shares and
// the restore blob's wrapped key, headers written as the Azure CLI writes
// them.

const (
	encA256CBCHS512 = "A256CBC-HS512"
	algDir          = "dir"
	algRSAOAEP256   = "RSA-OAEP-256"
	algRSAOAEP      = "RSA-OAEP"
	kidNotUsed      = "not used" // the kid the CLI gives RSA JWEs
	cekSize         = 64         // MAC key ‖ AES-256 key (RFC 7518 §5.2.5)
	tagSize         = 32
	maxJWE          = 1 << 20 // the security domain's payloads are small
)

var b64 = base64.RawURLEncoding

// decodeB64URL decodes base64url, ignoring trailing padding, which the
// CLI's decoder (it appends "===") also does.
func decodeB64URL(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}

// protectedHeader is the base64url protected header the Azure CLI writes:
// Python's json.dumps of {"alg", "enc", "kid"} in that order, after which
// the CLI deletes the space of every `": ` and `", ` in the text (kid
// included).
func protectedHeader(alg, kid string) string {
	s := `{"alg": ` + pyString(alg) + `, "enc": ` + pyString(encA256CBCHS512) + `, "kid": ` + pyString(kid) + `}`
	s = strings.ReplaceAll(s, `": `, `":`)
	s = strings.ReplaceAll(s, `", `, `",`)
	return b64.EncodeToString([]byte(s))
}

// pyString is s as a JSON string the way Python's json.dumps writes it by
// default (ensure_ascii): everything outside printable ASCII escaped as
// \uxxxx, lower-case hex, UTF-16 surrogate pairs above the BMP. s must be
// valid UTF-8.
func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				b.WriteRune(r)
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// seal encrypts plaintext with A256CBC-HS512 under cek as a compact JWE
// with the given protected header and encrypted-key segment.
func seal(rnd io.Reader, protected string, encryptedKey, cek, plaintext []byte) (string, error) {
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return "", fmt.Errorf("sdformat: reading random bytes: %w", err)
	}
	block, err := aes.NewCipher(cek[32:])
	if err != nil {
		return "", err
	}
	// PKCS #7: always at least one byte of padding.
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	ct := make([]byte, len(plaintext)+pad)
	copy(ct, plaintext)
	for i := len(plaintext); i < len(ct); i++ {
		ct[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	tag := cbcHMACTag(cek[:32], protected, iv, ct)
	return protected + "." + b64.EncodeToString(encryptedKey) + "." + b64.EncodeToString(iv) + "." +
		b64.EncodeToString(ct) + "." + b64.EncodeToString(tag), nil
}

// cbcHMACTag is the first 32 bytes of HMAC-SHA-512(macKey, A ‖ IV ‖ C ‖ AL)
// with A the ASCII of the protected header as sent (RFC 7518 §5.2.2.1).
func cbcHMACTag(macKey []byte, protected string, iv, ct []byte) []byte {
	m := hmac.New(sha512.New, macKey)
	m.Write([]byte(protected))
	m.Write(iv)
	m.Write(ct)
	var al [8]byte
	binary.BigEndian.PutUint64(al[:], uint64(len(protected))*8)
	m.Write(al[:])
	return m.Sum(nil)[:tagSize]
}

// sealDir encrypts a payload under its derived key, kid the payload's tag.
func sealDir(rnd io.Reader, tag string, key, plaintext []byte) (string, error) {
	return seal(rnd, protectedHeader(algDir, tag), nil, key, plaintext)
}

// sealRSA encrypts plaintext to pub: a random content key, encrypted with
// RSA-OAEP-256.
func sealRSA(rnd io.Reader, pub *rsa.PublicKey, plaintext []byte) (string, error) {
	cek := make([]byte, cekSize)
	defer clear(cek)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return "", fmt.Errorf("sdformat: reading random bytes: %w", err)
	}
	ek, err := rsa.EncryptOAEP(sha256.New(), rnd, pub, cek, nil)
	if err != nil {
		return "", fmt.Errorf("sdformat: encrypting to an RSA key: %w", err)
	}
	return seal(rnd, protectedHeader(algRSAOAEP256, kidNotUsed), ek, cek, plaintext)
}

// jwe is a compact JWE whose structure has been checked.
type jwe struct {
	protected    string // as received: the tag covers these bytes
	alg          string
	encryptedKey []byte
	iv, ct, tag  []byte
}

// parseJWE checks a compact JWE's structure: five parts, a JSON header
// with enc A256CBC-HS512 and one of the key-management algorithms algs,
// and segments of the right sizes (an empty encrypted key for dir). what
// names the JWE in errors.
func parseJWE(s, what string, algs ...string) (*jwe, error) {
	if len(s) > maxJWE {
		return nil, formatErrorf("%s is too large (%d bytes; at most %d).", what, len(s), maxJWE)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return nil, formatErrorf("%s is not a JWE in compact serialization (five parts separated by dots).", what)
	}
	j := &jwe{protected: parts[0]}
	hb, err := decodeB64URL(parts[0])
	if err != nil {
		return nil, formatErrorf("%s: the protected header is not base64url.", what)
	}
	// Read field by field: exact names, as the CLI reads them (encoding/json
	// would match "ALG" too).
	var h map[string]json.RawMessage
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, formatErrorf("%s: the protected header is not a JSON object.", what)
	}
	var enc string
	if json.Unmarshal(h["alg"], &j.alg) != nil || json.Unmarshal(h["enc"], &enc) != nil {
		return nil, formatErrorf("%s: the protected header needs alg and enc strings.", what)
	}
	if enc != encA256CBCHS512 {
		return nil, formatErrorf("%s uses content encryption %q; the security domain uses %s.", what, enc, encA256CBCHS512)
	}
	if !slices.Contains(algs, j.alg) {
		return nil, formatErrorf("%s uses key management %q; want %s.", what, j.alg, strings.Join(algs, " or "))
	}
	for _, p := range []string{"zip", "crit"} {
		if _, ok := h[p]; ok {
			return nil, formatErrorf("%s has a %q header parameter, which the security domain does not use.", what, p)
		}
	}
	for i, f := range []*[]byte{&j.encryptedKey, &j.iv, &j.ct, &j.tag} {
		if *f, err = decodeB64URL(parts[i+1]); err != nil {
			return nil, formatErrorf("%s: part %d is not base64url.", what, i+2)
		}
	}
	switch {
	case (j.alg == algDir) != (len(j.encryptedKey) == 0):
		return nil, formatErrorf("%s: the encrypted key must be empty for dir and present otherwise.", what)
	case len(j.iv) != aes.BlockSize:
		return nil, formatErrorf("%s: the IV is %d bytes; want %d.", what, len(j.iv), aes.BlockSize)
	case len(j.ct) == 0 || len(j.ct)%aes.BlockSize != 0:
		return nil, formatErrorf("%s: the ciphertext is not whole AES blocks.", what)
	case len(j.tag) != tagSize:
		return nil, formatErrorf("%s: the authentication tag is %d bytes; want %d.", what, len(j.tag), tagSize)
	}
	return j, nil
}

// open decrypts the content under cek. The tag is checked, in constant
// time, before anything is decrypted; every failure is ErrDecrypt.
func (j *jwe) open(cek []byte) ([]byte, error) {
	if len(cek) != cekSize {
		return nil, ErrDecrypt
	}
	want := cbcHMACTag(cek[:32], j.protected, j.iv, j.ct)
	if subtle.ConstantTimeCompare(want, j.tag) != 1 {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(cek[32:])
	if err != nil {
		return nil, ErrDecrypt
	}
	pt := make([]byte, len(j.ct))
	cipher.NewCBCDecrypter(block, j.iv).CryptBlocks(pt, j.ct)
	// The tag held, so the padding is the sender's own: a bad one is a
	// broken sender, not a probe, and needs no constant-time check.
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		clear(pt)
		return nil, ErrDecrypt
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			clear(pt)
			return nil, ErrDecrypt
		}
	}
	return pt[:len(pt)-pad], nil
}

// openRSA unwraps the content key with priv and decrypts. A failed unwrap
// goes on with a random content key (RFC 7516 §11.5): it then fails at the
// tag, as any other damage does, and in about the same time.
func (j *jwe) openRSA(priv *rsa.PrivateKey) ([]byte, error) {
	var h hash.Hash
	switch j.alg {
	case algRSAOAEP256:
		h = sha256.New()
	case algRSAOAEP:
		h = sha1.New()
	default:
		return nil, ErrDecrypt
	}
	cek, err := rsa.DecryptOAEP(h, nil, priv, j.encryptedKey, nil)
	if err != nil || len(cek) != cekSize {
		clear(cek)
		cek = make([]byte, cekSize)
		rand.Read(cek) // never fails (Go 1.24+)
	}
	defer clear(cek)
	return j.open(cek)
}
