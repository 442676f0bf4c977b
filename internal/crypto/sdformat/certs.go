package sdformat

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Bounds of a download request, as Managed HSM and the Azure CLI set them.
const (
	MinCertificates = 3
	MaxCertificates = 10
	MinQuorum       = 2
	MaxQuorum       = 10
	DefaultQuorum   = 2 // when the request gives none
)

const (
	minRSABits = 2048
	// maxRSABits bounds the work one certificate can ask of the server.
	maxRSABits = 8192
	// maxRequest bounds a download request: ten certificates with their
	// keys fit many times over.
	maxRequest = 256 << 10
)

// Certificate is a key holder's certificate: the share of the master key
// it receives is encrypted to its RSA key.
type Certificate struct {
	DER []byte
	Key *rsa.PublicKey
	// X5tS256 is base64url(SHA-256(DER)), the share's x5t_256 in the
	// file, by which holders find their share.
	X5tS256 string
}

// jwk is the JSON Web Key of a certificate as a download request and the
// transfer key carry it; fields in the order the Azure CLI sends them.
type jwk struct {
	Kid     string   `json:"kid,omitempty"`
	Kty     string   `json:"kty"`
	KeyOps  []string `json:"key_ops,omitempty"`
	N       string   `json:"n,omitempty"`
	E       string   `json:"e,omitempty"`
	X5c     []string `json:"x5c,omitempty"`
	X5t     string   `json:"x5t,omitempty"`
	X5tS256 string   `json:"x5t#S256,omitempty"`
	Alg     string   `json:"alg,omitempty"`
}

func thumbprintSHA256(der []byte) string {
	s := sha256.Sum256(der)
	return b64.EncodeToString(s[:])
}

func thumbprintSHA1(der []byte) string {
	s := sha1.Sum(der)
	return b64.EncodeToString(s[:])
}

// newJWK is the JWK of a certificate's RSA key: n and e as minimal
// big-endian base64url, x5c[0] the DER in standard base64 with padding.
func newJWK(der []byte, pub *rsa.PublicKey, kid string, ops []string) jwk {
	return jwk{
		Kid: kid, Kty: "RSA", KeyOps: ops,
		N:   b64.EncodeToString(pub.N.Bytes()),
		E:   b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c: []string{base64.StdEncoding.EncodeToString(der)},
		X5t: thumbprintSHA1(der), X5tS256: thumbprintSHA256(der),
		Alg: algRSAOAEP256,
	}
}

// marshal is compact JSON without the HTML escaping of json.Marshal.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// parseRSACertificate parses a certificate and checks that its key is RSA
// of 2048 to 8192 bits. Its errors are sentences for the certificate's
// owner.
func parseRSACertificate(der []byte) (*rsa.PublicKey, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errors.New("it is not a valid X.509 certificate")
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("its key is not an RSA key; only RSA keys of at least 2048 bits are supported")
	}
	if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("its RSA key has %d bits; %d to %d are supported", bits, minRSABits, maxRSABits)
	}
	return pub, nil
}

// NewCertificate checks a key holder's certificate (DER): it must hold an
// RSA key of 2048 to 8192 bits.
func NewCertificate(der []byte) (Certificate, error) {
	pub, err := parseRSACertificate(der)
	if err != nil {
		return Certificate{}, formatErrorf("The certificate cannot wrap a security domain: %v.", err)
	}
	return Certificate{DER: bytes.Clone(der), Key: pub, X5tS256: thumbprintSHA256(der)}, nil
}

// CertificateJWK is the JWK the Azure CLI sends for one certificate (DER)
// in a download request: kty, key_ops verify/encrypt/wrapKey, n, e, x5c,
// x5t, x5t#S256 and alg RSA-OAEP-256.
func CertificateJWK(certDER []byte) ([]byte, error) {
	c, err := NewCertificate(certDER)
	if err != nil {
		return nil, err
	}
	return marshal(newJWK(c.DER, c.Key, "", []string{"verify", "encrypt", "wrapKey"}))
}

// TransferKeyJWK is the JWK a recovering HSM publishes at GET
// /securitydomain/upload for its transfer key pub, whose certificate is
// certDER: kid, kty RSA, key_ops ["encrypt"], n, e, x5c, x5t, x5t#S256
// and alg RSA-OAEP-256. Clients read it from the response as a JSON
// string, not an object.
func TransferKeyJWK(pub *rsa.PublicKey, certDER []byte, kid string) ([]byte, error) {
	c, err := NewCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("sdformat: the transfer key's certificate: %w", err)
	}
	if pub == nil || !pub.Equal(c.Key) {
		return nil, errors.New("sdformat: the transfer key is not the key of its certificate")
	}
	return marshal(newJWK(c.DER, c.Key, kid, []string{"encrypt"}))
}

// ParseDownloadRequest parses the body of POST /securitydomain/download (a
// CertificateInfoObject): "certificates", 3 to 10 JWKs each carrying its
// certificate in x5c[0] (standard base64 DER) with an RSA key of at least
// 2048 bits that n and e repeat, no key twice; and "required", the quorum,
// 2 to 10 and at most the number of certificates (2 when absent). A JWK
// may also come wrapped as {"value": JWK}, as in API version 7.2. Errors
// are *FormatError.
func ParseDownloadRequest(body []byte) (certs []Certificate, quorum int, err error) {
	if len(body) > maxRequest {
		return nil, 0, formatErrorf("The request is too large (%d bytes; at most %d).", len(body), maxRequest)
	}
	var req struct {
		Certificates []json.RawMessage `json:"certificates"`
		Required     json.RawMessage   `json:"required"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, 0, formatErrorf("The request is not a CertificateInfoObject: a JSON object with certificates (%d to %d JSON Web Keys with their certificates in x5c) and required (the quorum, %d to %d).",
			MinCertificates, MaxCertificates, MinQuorum, MaxQuorum)
	}
	n := len(req.Certificates)
	if n < MinCertificates || n > MaxCertificates {
		return nil, 0, formatErrorf("The number of wrapping keys (N) should be in range [%d, %d]. The request has %d.", MinCertificates, MaxCertificates, n)
	}
	quorum = DefaultQuorum
	if len(req.Required) > 0 && string(req.Required) != "null" {
		if err := json.Unmarshal(req.Required, &quorum); err != nil {
			return nil, 0, formatErrorf("The quorum of security domain (M) should be in range [%d, %d]: required must be a whole number.", MinQuorum, MaxQuorum)
		}
	}
	if err := checkQuorum(n, quorum); err != nil {
		return nil, 0, err
	}
	certs = make([]Certificate, 0, n)
	for i, raw := range req.Certificates {
		c, err := parseRequestCertificate(raw)
		if err != nil {
			return nil, 0, formatErrorf("certificates[%d]: %v.", i, err)
		}
		if j := duplicate(certs, c); j >= 0 {
			return nil, 0, formatErrorf("certificates[%d] and certificates[%d] hold the same key: each key holder needs a key of their own.", j, i)
		}
		certs = append(certs, c)
	}
	return certs, quorum, nil
}

// checkQuorum checks n certificates and quorum against the bounds, in the
// Azure CLI's words where it has them.
func checkQuorum(n, quorum int) error {
	switch {
	case n < MinCertificates || n > MaxCertificates:
		return formatErrorf("The number of wrapping keys (N) should be in range [%d, %d]. The request has %d.", MinCertificates, MaxCertificates, n)
	case quorum < MinQuorum || quorum > MaxQuorum:
		return formatErrorf("The quorum of security domain (M) should be in range [%d, %d]. The request asks for %d.", MinQuorum, MaxQuorum, quorum)
	case quorum > n:
		return formatErrorf("The quorum of security domain (M) should not exceed the number of wrapping keys (N): M is %d, N is %d.", quorum, n)
	}
	return nil
}

// duplicate is the index of a certificate in certs with c's DER or key, or
// -1.
func duplicate(certs []Certificate, c Certificate) int {
	for j, o := range certs {
		if bytes.Equal(o.DER, c.DER) || o.Key.Equal(c.Key) {
			return j
		}
	}
	return -1
}

// parseRequestCertificate parses one JWK of a download request. Its errors
// are sentence fragments naming what is wrong.
func parseRequestCertificate(raw json.RawMessage) (Certificate, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Certificate{}, errors.New("not a JSON Web Key (a JSON object)")
	}
	if v, ok := obj["value"]; ok {
		if _, ok := obj["kty"]; !ok {
			raw = v // {"value": JWK}, API version 7.2
		}
	}
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return Certificate{}, errors.New("not a JSON Web Key with string fields kty, n, e and x5c (an array of strings)")
	}
	if k.Kty != "RSA" && k.Kty != "RSA-HSM" {
		return Certificate{}, fmt.Errorf("kty is %q; only RSA keys of at least %d bits are supported", k.Kty, minRSABits)
	}
	if len(k.X5c) == 0 {
		return Certificate{}, errors.New("x5c is required: the certificate, as standard base64 of its DER")
	}
	der, err := base64.StdEncoding.DecodeString(k.X5c[0])
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(k.X5c[0]); err != nil {
			return Certificate{}, errors.New("x5c[0] is not standard base64")
		}
	}
	pub, err := parseRSACertificate(der)
	if err != nil {
		return Certificate{}, fmt.Errorf("x5c[0]: %w", err)
	}
	n, errN := decodeB64URL(k.N)
	e, errE := decodeB64URL(k.E)
	switch {
	case k.N == "" || k.E == "":
		return Certificate{}, errors.New("n and e are required: the RSA key of the certificate in x5c[0]")
	case errN != nil || errE != nil:
		return Certificate{}, errors.New("n and e must be base64url")
	case new(big.Int).SetBytes(n).Cmp(pub.N) != 0 || new(big.Int).SetBytes(e).Cmp(big.NewInt(int64(pub.E))) != 0:
		return Certificate{}, errors.New("n and e are not the key of the certificate in x5c[0]")
	}
	s256 := thumbprintSHA256(der)
	if k.X5tS256 != "" && k.X5tS256 != s256 {
		return Certificate{}, errors.New("x5t#S256 is not the SHA-256 thumbprint of the certificate in x5c[0]")
	}
	if k.X5t != "" && k.X5t != thumbprintSHA1(der) {
		return Certificate{}, errors.New("x5t is not the SHA-1 thumbprint of the certificate in x5c[0]")
	}
	return Certificate{DER: der, Key: pub, X5tS256: s256}, nil
}
