package sdformat

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// WrappingKey is a key holder's key pair: the certificate (DER) the
// holder's share is encrypted to, and its private key.
type WrappingKey struct {
	CertDER []byte
	Key     *rsa.PrivateKey
}

// wrappingKeyValidity is how long a generated certificate is valid. Managed
// HSM does not look at validity, but a security domain outlives most
// certificates, so it is long.
const wrappingKeyValidity = 20 * 365 * 24 * time.Hour

// GenerateWrappingKey makes a key holder's key pair: an RSA key of bits
// (2048 to 8192) and a self-signed certificate for it named commonName,
// valid from an hour before now for twenty years. It returns them PEM
// encoded, the certificate as "CERTIFICATE" and the key as PKCS #8
// "PRIVATE KEY", the files `az keyvault security-domain` takes (KEY.pem
// with KEY.cer beside it).
//
// rnd (nil means crypto/rand.Reader) draws the serial number and the
// signature's randomness; the key itself always comes from the system's
// secure random source (see crypto/rsa.GenerateKey).
func GenerateWrappingKey(rnd io.Reader, bits int, commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if bits < minRSABits || bits > maxRSABits {
		return nil, nil, formatErrorf("A wrapping key needs %d to %d bits, not %d.", minRSABits, maxRSABits, bits)
	}
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("sdformat: a wrapping key's certificate needs a common name")
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := rsa.GenerateKey(rnd, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: generating an RSA key: %w", err)
	}
	// A positive 127-bit serial (RFC 5280 §4.1.2.2: positive, ≤ 20 bytes).
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: reading random bytes: %w", err)
	}
	serial.Add(serial, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour).UTC(),
		NotAfter:     now.Add(wrappingKeyValidity).UTC(),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: making a certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("sdformat: encoding the private key: %w", err)
	}
	defer clear(p8)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), nil
}

// LoadWrappingKey parses a key holder's certificate (PEM "CERTIFICATE", or
// DER) and RSA private key (PEM "PRIVATE KEY" for PKCS #8 or "RSA PRIVATE
// KEY" for PKCS #1, unencrypted) and checks that they belong together.
// Errors are *FormatError.
func LoadWrappingKey(certPEM, keyPEM []byte) (WrappingKey, error) {
	der := certPEM
	if b, _ := pem.Decode(certPEM); b != nil {
		if b.Type != "CERTIFICATE" {
			return WrappingKey{}, formatErrorf("The certificate file holds a %q PEM block; want CERTIFICATE.", b.Type)
		}
		der = b.Bytes
	}
	pub, err := parseRSACertificate(der)
	if err != nil {
		return WrappingKey{}, formatErrorf("The certificate cannot wrap a security domain: %v.", err)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return WrappingKey{}, formatErrorf("The private key is not PEM encoded.")
	}
	var key *rsa.PrivateKey
	switch b.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return WrappingKey{}, formatErrorf("The private key is not a valid PKCS #8 key.")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return WrappingKey{}, formatErrorf("The private key is not an RSA key.")
		}
		key = rk
	case "RSA PRIVATE KEY":
		if _, encrypted := b.Headers["DEK-Info"]; encrypted {
			return WrappingKey{}, formatErrorf("The private key is encrypted; decrypt it first (openssl pkey -in KEY.pem -out plain.pem).")
		}
		k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return WrappingKey{}, formatErrorf("The private key is not a valid PKCS #1 key.")
		}
		key = k
	case "ENCRYPTED PRIVATE KEY":
		return WrappingKey{}, formatErrorf("The private key is encrypted; decrypt it first (openssl pkey -in KEY.pem -out plain.pem).")
	default:
		return WrappingKey{}, formatErrorf("The private key file holds a %q PEM block; want PRIVATE KEY or RSA PRIVATE KEY.", b.Type)
	}
	if !key.PublicKey.Equal(pub) {
		return WrappingKey{}, formatErrorf("The private key does not belong to the certificate.")
	}
	return WrappingKey{CertDER: bytes.Clone(der), Key: key}, nil
}
