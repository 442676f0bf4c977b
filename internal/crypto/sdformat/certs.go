package sdformat

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Bounds of a download request, as Managed HSM and the Azure CLI set them.
const (
	MinCertificates = 3
	MaxCertificates = 10
	MinQuorum       = 2
	MaxQuorum       = 10
	minRSABits      = 2048
)

// Certificate is a key holder's certificate from a download request.
type Certificate struct {
	DER []byte
	Key *rsa.PublicKey
	// X5tS256 is base64url(SHA-256(DER)), the share's x5t_256.
	X5tS256 string
}

// jwk is the JSON Web Key of a certificate as the download request and
// the transfer key carry it.
type jwk struct {
	Kid     string   `json:"kid,omitempty"`
	Kty     string   `json:"kty"`
	KeyOps  []string `json:"key_ops,omitempty"`
	N       string   `json:"n,omitempty"`
	E       string   `json:"e,omitempty"`
	Alg     string   `json:"alg,omitempty"`
	X5c     []string `json:"x5c,omitempty"`
	X5t     string   `json:"x5t,omitempty"`
	X5tS256 string   `json:"x5t#S256,omitempty"`
}

func thumbprint256(der []byte) string {
	s := sha256.Sum256(der)
	return b64.EncodeToString(s[:])
}

// certificateJWK is the JWK of a certificate's RSA key.
func certificateJWK(der []byte, pub *rsa.PublicKey, kid string, ops []string) jwk {
	s1 := sha1.Sum(der)
	return jwk{Kid: kid, Kty: "RSA", KeyOps: ops, N: b64.EncodeToString(pub.N.Bytes()),
		E: b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()), Alg: algRSAOAEP256,
		X5c: []string{base64.StdEncoding.EncodeToString(der)}, X5t: b64.EncodeToString(s1[:]), X5tS256: thumbprint256(der)}
}

// parseRSACertificate parses DER and checks its key is RSA of at least
// 2048 bits.
func parseRSACertificate(der []byte) (*x509.Certificate, *rsa.PublicKey, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, InputError("not a valid X.509 certificate")
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, nil, InputError("the certificate's key is not an RSA key")
	}
	if pub.N.BitLen() < minRSABits {
		return nil, nil, inputErrorf("the certificate's RSA key has %d bits; at least %d are required", pub.N.BitLen(), minRSABits)
	}
	return c, pub, nil
}

// CertificateJWK is the JWK the Azure CLI sends for one certificate of a
// download request.
func CertificateJWK(der []byte) ([]byte, error) {
	_, pub, err := parseRSACertificate(der)
	if err != nil {
		return nil, err
	}
	return json.Marshal(certificateJWK(der, pub, "", []string{"verify", "encrypt", "wrapKey"}))
}

// TransferKeyJWK is the JWK of a recovering HSM's transfer key, named kid.
func TransferKeyJWK(pub *rsa.PublicKey, certDER []byte, kid string) ([]byte, error) {
	return json.Marshal(certificateJWK(certDER, pub, kid, []string{"encrypt"}))
}

// maxRequest bounds a download request: ten certificates with their keys.
const maxRequest = 256 << 10

// ParseDownloadRequest parses a download request (CertificateInfoObject):
// 3 to 10 RSA certificates of at least 2048 bits, each a JWK whose x5c[0]
// holds the certificate (bare, or wrapped as {"value": JWK} by the 7.2
// API), none twice; and the quorum "required", 2 to 10 (default 2) and no
// more than the certificates.
func ParseDownloadRequest(body []byte) ([]Certificate, int, error) {
	if len(body) > maxRequest {
		return nil, 0, InputError("the request is too large")
	}
	var req struct {
		Certificates []json.RawMessage `json:"certificates"`
		Required     *int              `json:"required"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, 0, InputError("the request is not a CertificateInfoObject: certificates (an array of JWKs) and required (a number)")
	}
	n := len(req.Certificates)
	if n < MinCertificates || n > MaxCertificates {
		return nil, 0, inputErrorf("The number of wrapping keys (N) should be in range [%d, %d]; the request has %d.", MinCertificates, MaxCertificates, n)
	}
	quorum := 2
	if req.Required != nil {
		quorum = *req.Required
	}
	if quorum < MinQuorum || quorum > MaxQuorum {
		return nil, 0, inputErrorf("The quorum of security domain (M) should be in range [%d, %d]; the request asks for %d.", MinQuorum, MaxQuorum, quorum)
	}
	if quorum > n {
		return nil, 0, inputErrorf("The quorum (%d) cannot exceed the number of certificates (%d).", quorum, n)
	}
	certs := make([]Certificate, 0, n)
	for i, raw := range req.Certificates {
		c, err := parseRequestCertificate(raw)
		if err != nil {
			return nil, 0, inputErrorf("certificates[%d]: %v", i, err)
		}
		for j, o := range certs {
			if bytes.Equal(o.DER, c.DER) || o.Key.Equal(c.Key) {
				return nil, 0, inputErrorf("certificates[%d] and certificates[%d] are the same key: each holder needs their own", j, i)
			}
		}
		certs = append(certs, c)
	}
	return certs, quorum, nil
}

func parseRequestCertificate(raw json.RawMessage) (Certificate, error) {
	var wrapped struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.Value) > 0 && wrapped.Value[0] == '{' {
		raw = wrapped.Value
	}
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return Certificate{}, errors.New("not a JSON Web Key")
	}
	if k.Kty != "RSA" && k.Kty != "RSA-HSM" {
		return Certificate{}, fmt.Errorf("kty is %q; the security domain needs RSA keys", k.Kty)
	}
	if len(k.X5c) == 0 {
		return Certificate{}, errors.New("x5c is required: the certificate, base64-encoded DER")
	}
	der, err := base64.StdEncoding.DecodeString(k.X5c[0])
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(k.X5c[0]); err != nil {
			return Certificate{}, errors.New("x5c[0] is not base64")
		}
	}
	_, pub, err := parseRSACertificate(der)
	if err != nil {
		return Certificate{}, err
	}
	// n and e, when given, must be the certificate's key.
	if k.N != "" || k.E != "" {
		n, errN := decodeB64URL(k.N)
		e, errE := decodeB64URL(k.E)
		if errN != nil || errE != nil || new(big.Int).SetBytes(n).Cmp(pub.N) != 0 || new(big.Int).SetBytes(e).Cmp(big.NewInt(int64(pub.E))) != 0 {
			return Certificate{}, errors.New("n and e are not the key of the certificate in x5c")
		}
	}
	return Certificate{DER: der, Key: pub, X5tS256: thumbprint256(der)}, nil
}

// WrappingKey is a key holder's key pair: the certificate (DER) and its
// private key.
type WrappingKey struct {
	CertDER []byte
	Key     *rsa.PrivateKey
}

// GenerateWrappingKey makes an RSA key pair of bits (≥ 2048) and a
// self-signed certificate for it, valid ten years from now, PEM-encoded:
// the key as PKCS #8 "PRIVATE KEY", the certificate as "CERTIFICATE".
func GenerateWrappingKey(rnd io.Reader, bits int, commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if bits < minRSABits {
		return nil, nil, inputErrorf("a wrapping key needs at least %d bits", minRSABits)
	}
	key, err := rsa.GenerateKey(rnd, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: generating an RSA key: %w", err)
	}
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: reading randomness: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: commonName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageDataEncipherment,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: making a certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	defer clear(p8)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), nil
}

// LoadWrappingKey parses a holder's certificate (PEM or DER) and private
// key (PEM, PKCS #8 or PKCS #1) and checks that they belong together.
func LoadWrappingKey(certPEM, keyPEM []byte) (WrappingKey, error) {
	der := certPEM
	if b, _ := pem.Decode(certPEM); b != nil {
		if b.Type != "CERTIFICATE" {
			return WrappingKey{}, inputErrorf("the certificate file holds a %q PEM block", b.Type)
		}
		der = b.Bytes
	}
	_, pub, err := parseRSACertificate(der)
	if err != nil {
		return WrappingKey{}, err
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return WrappingKey{}, InputError("the private key is not PEM")
	}
	var key *rsa.PrivateKey
	switch b.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return WrappingKey{}, InputError("the private key is not a valid PKCS #8 key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return WrappingKey{}, InputError("the private key is not an RSA key")
		}
		key = rk
	case "RSA PRIVATE KEY":
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			key = k
		} else {
			return WrappingKey{}, InputError("the private key is not a valid PKCS #1 key")
		}
	case "ENCRYPTED PRIVATE KEY":
		return WrappingKey{}, InputError("the private key is encrypted; decrypt it first (openssl pkey -in KEY.pem -out plain.pem)")
	default:
		return WrappingKey{}, inputErrorf("the private key file holds a %q PEM block", b.Type)
	}
	if !key.PublicKey.Equal(pub) {
		return WrappingKey{}, InputError("the private key does not belong to the certificate")
	}
	return WrappingKey{CertDER: der, Key: key}, nil
}
