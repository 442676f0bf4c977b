package client

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// LoadCertificateFile reads a PEM file holding a certificate and its RSA
// private key (the form `az login --service-principal -p cert.pem` takes).
func LoadCertificateFile(path string) (*x509.Certificate, *rsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var cert *x509.Certificate
	var key *rsa.PrivateKey
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			if cert == nil {
				cert, err = x509.ParseCertificate(block.Bytes)
			}
		case "PRIVATE KEY":
			var k any
			if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				var ok bool
				if key, ok = k.(*rsa.PrivateKey); !ok {
					err = errors.New("the private key is not RSA")
				}
			}
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if cert == nil || key == nil {
		return nil, nil, fmt.Errorf("%s must hold a CERTIFICATE and its RSA PRIVATE KEY", path)
	}
	return cert, key, nil
}

// clientAssertion signs the RFC 7523 client assertion a certificate login
// sends: iss = sub = client id, aud = the token endpoint, a fresh jti, a
// ten-minute lifetime, and the certificate's thumbprints in the header.
func clientAssertion(p Profile, tokenEndpoint string) (string, error) {
	cert, key, err := LoadCertificateFile(p.CertificateFile)
	if err != nil {
		return "", err
	}
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT",
		"x5t": base64.RawURLEncoding.EncodeToString(s1[:]), "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])})
	jti := make([]byte, 16)
	rand.Read(jti)
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": p.ClientID, "sub": p.ClientID, "aud": tokenEndpoint,
		"jti": base64.RawURLEncoding.EncodeToString(jti), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
