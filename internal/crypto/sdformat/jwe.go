package sdformat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// ErrDecrypt is the one error of a JWE that does not open: wrong key,
// altered ciphertext or tag, or bad padding.
var ErrDecrypt = errors.New("the data could not be decrypted: wrong keys, or it was altered")

// InputError is a problem with the structure of an input, described for
// the person who supplied it.
type InputError string

func (e InputError) Error() string { return string(e) }

func inputErrorf(format string, args ...any) error { return InputError(fmt.Sprintf(format, args...)) }

var b64 = base64.RawURLEncoding

// decodeB64URL decodes base64url with or without padding, as the CLI's
// decoder (which appends "===") accepts.
func decodeB64URL(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}

// jweHeader is the protected header; field order is the Azure CLI's.
type jweHeader struct {
	Alg string `json:"alg"`
	Enc string `json:"enc"`
	Kid string `json:"kid"`
}

const (
	encA256CBCHS512 = "A256CBC-HS512"
	algDir          = "dir"
	algRSAOAEP256   = "RSA-OAEP-256"
	algRSAOAEP      = "RSA-OAEP"
	cekSize         = 64
)

// sealCBCHS512 encrypts plaintext as a compact JWE with header h, the
// given encrypted-key segment and A256CBC-HS512 under cek (RFC 7518
// §5.2.5: the first half of cek is the MAC key, the second the AES key).
func sealCBCHS512(rnd io.Reader, h jweHeader, encryptedKey, cek, plaintext []byte) (string, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	protected := b64.EncodeToString(hb)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return "", fmt.Errorf("sdformat: reading randomness: %w", err)
	}
	block, err := aes.NewCipher(cek[32:])
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	ct := make([]byte, len(plaintext)+pad)
	copy(ct, plaintext)
	for i := len(plaintext); i < len(ct); i++ {
		ct[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	tag := cbcTag(cek[:32], []byte(protected), iv, ct)
	return strings.Join([]string{protected, b64.EncodeToString(encryptedKey), b64.EncodeToString(iv),
		b64.EncodeToString(ct), b64.EncodeToString(tag)}, "."), nil
}

// cbcTag is the first 32 bytes of HMAC-SHA-512(macKey, aad ‖ iv ‖ ct ‖ AL).
func cbcTag(macKey, aad, iv, ct []byte) []byte {
	m := hmac.New(sha512.New, macKey)
	m.Write(aad)
	m.Write(iv)
	m.Write(ct)
	var al [8]byte
	binary.BigEndian.PutUint64(al[:], uint64(len(aad))*8)
	m.Write(al[:])
	return m.Sum(nil)[:32]
}

// compactJWE is a parsed compact serialization.
type compactJWE struct {
	protected    string
	header       jweHeader
	encryptedKey []byte
	iv, ct, tag  []byte
}

// maxJWE bounds a compact JWE's length: the security domain's payloads
// are small.
const maxJWE = 1 << 20

func parseJWE(s string) (*compactJWE, error) {
	if len(s) > maxJWE {
		return nil, InputError("a JWE is too large")
	}
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return nil, InputError("a JWE is not in compact serialization (five dot-separated parts)")
	}
	var j compactJWE
	j.protected = parts[0]
	hb, err := decodeB64URL(parts[0])
	if err != nil || json.Unmarshal(hb, &j.header) != nil {
		return nil, InputError("a JWE's protected header is not base64url JSON")
	}
	if j.header.Enc != encA256CBCHS512 {
		return nil, inputErrorf("a JWE uses content encryption %q; only A256CBC-HS512 is supported", j.header.Enc)
	}
	fields := []*[]byte{&j.encryptedKey, &j.iv, &j.ct, &j.tag}
	for i, f := range fields {
		if *f, err = decodeB64URL(parts[i+1]); err != nil {
			return nil, InputError("a JWE part is not base64url")
		}
	}
	if len(j.iv) != aes.BlockSize || len(j.tag) != 32 || len(j.ct) == 0 || len(j.ct)%aes.BlockSize != 0 {
		return nil, InputError("a JWE has a malformed IV, ciphertext or tag")
	}
	return &j, nil
}

// open decrypts the JWE's content with cek, checking the tag first.
func (j *compactJWE) open(cek []byte) ([]byte, error) {
	if len(cek) != cekSize {
		return nil, ErrDecrypt
	}
	want := cbcTag(cek[:32], []byte(j.protected), j.iv, j.ct)
	if subtle.ConstantTimeCompare(want, j.tag) != 1 {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(cek[32:])
	if err != nil {
		return nil, ErrDecrypt
	}
	pt := make([]byte, len(j.ct))
	cipher.NewCBCDecrypter(block, j.iv).CryptBlocks(pt, j.ct)
	// The tag is verified, so the padding is what the sender wrote: a
	// bad one means a sender bug, not an attacker's probe.
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

// sealDir encrypts plaintext under a 64-byte key (alg "dir").
func sealDir(rnd io.Reader, kid string, key, plaintext []byte) (string, error) {
	return sealCBCHS512(rnd, jweHeader{Alg: algDir, Enc: encA256CBCHS512, Kid: kid}, nil, key, plaintext)
}

// openDir decrypts a "dir" JWE under key.
func openDir(s string, key []byte) ([]byte, error) {
	j, err := parseJWE(s)
	if err != nil {
		return nil, err
	}
	if j.header.Alg != algDir || len(j.encryptedKey) != 0 {
		return nil, inputErrorf("a payload JWE uses key management %q; want dir", j.header.Alg)
	}
	return j.open(key)
}

// sealRSA encrypts plaintext to pub: a random content key, RSA-OAEP-256
// encrypted, with header kid "not used" as the Azure CLI writes it.
func sealRSA(rnd io.Reader, pub *rsa.PublicKey, plaintext []byte) (string, error) {
	cek := make([]byte, cekSize)
	defer clear(cek)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return "", fmt.Errorf("sdformat: reading randomness: %w", err)
	}
	ek, err := rsa.EncryptOAEP(sha256.New(), rnd, pub, cek, nil)
	if err != nil {
		return "", fmt.Errorf("sdformat: encrypting to an RSA key: %w", err)
	}
	return sealCBCHS512(rnd, jweHeader{Alg: algRSAOAEP256, Enc: encA256CBCHS512, Kid: "not used"}, ek, cek, plaintext)
}

// openRSA decrypts a JWE whose content key is RSA-OAEP(-256) encrypted to
// priv. (RSA1_5, which the Azure CLI also reads, is refused: it invites
// padding-oracle attacks and no Managed HSM writes it.)
func openRSA(s string, priv *rsa.PrivateKey) ([]byte, error) {
	j, err := parseJWE(s)
	if err != nil {
		return nil, err
	}
	var h hash.Hash
	switch j.header.Alg {
	case algRSAOAEP256:
		h = sha256.New()
	case algRSAOAEP:
		h = sha1.New()
	default:
		return nil, inputErrorf("a JWE uses key management %q; want RSA-OAEP-256", j.header.Alg)
	}
	cek, err := rsa.DecryptOAEP(h, nil, priv, j.encryptedKey, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	defer clear(cek)
	return j.open(cek)
}
