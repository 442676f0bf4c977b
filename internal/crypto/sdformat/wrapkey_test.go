package sdformat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestGenerateWrappingKey(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := GenerateWrappingKey(nil, 2048, "holder Ada", now)
	if err != nil {
		t.Fatalf("GenerateWrappingKey() = %v", err)
	}
	cb, rest := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("GenerateWrappingKey() certificate = %q, want one CERTIFICATE block", certPEM)
	}
	kb, rest := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" || len(rest) != 0 {
		t.Fatalf("GenerateWrappingKey() key is not one PRIVATE KEY block")
	}
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "holder Ada" || !c.NotBefore.Equal(now.Add(-time.Hour)) || !c.NotAfter.Equal(now.Add(wrappingKeyValidity)) || c.SerialNumber.Sign() <= 0 {
		t.Errorf("GenerateWrappingKey() certificate: CN %q, valid %s to %s, serial %s", c.Subject.CommonName, c.NotBefore, c.NotAfter, c.SerialNumber)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("GenerateWrappingKey() certificate is not self-signed: %v", err)
	}
	wk, err := LoadWrappingKey(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("LoadWrappingKey(GenerateWrappingKey()) = %v", err)
	}
	if wk.Key.N.BitLen() != 2048 {
		t.Errorf("GenerateWrappingKey(2048) made a %d-bit key", wk.Key.N.BitLen())
	}

	for _, tc := range []struct {
		bits int
		cn   string
	}{{1024, "x"}, {8200, "x"}, {2048, " "}} {
		if _, _, err := GenerateWrappingKey(nil, tc.bits, tc.cn, now); err == nil {
			t.Errorf("GenerateWrappingKey(%d, %q) succeeded, want an error", tc.bits, tc.cn)
		}
	}
}

func TestLoadWrappingKey(t *testing.T) {
	keys := holders(t)
	k := keys[0]
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.Key)})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	certPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }

	tests := []struct {
		name          string
		cert, keyFile []byte
		want          string
	}{
		{name: "PEM, PKCS #8", cert: k.certPEM, keyFile: k.keyPEM},
		{name: "PEM, PKCS #1", cert: k.certPEM, keyFile: pkcs1},
		{name: "DER certificate", cert: k.CertDER, keyFile: k.keyPEM},
		{name: "another holder's key", cert: k.certPEM, keyFile: keys[1].keyPEM, want: "does not belong to the certificate"},
		{name: "encrypted PKCS #8", cert: k.certPEM, keyFile: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), want: "encrypted"},
		{name: "encrypted PKCS #1", cert: k.certPEM, keyFile: legacyEncrypted, want: "encrypted"},
		{name: "EC key", cert: k.certPEM, keyFile: ecPEM, want: "not an RSA key"},
		{name: "key not PEM", cert: k.certPEM, keyFile: []byte("key"), want: "not PEM encoded"},
		{name: "key a certificate", cert: k.certPEM, keyFile: k.certPEM, want: `holds a "CERTIFICATE" PEM block`},
		{name: "broken PKCS #8", cert: k.certPEM, keyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), want: "not a valid PKCS #8 key"},
		{name: "broken PKCS #1", cert: k.certPEM, keyFile: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1}}), want: "not a valid PKCS #1 key"},
		{name: "certificate a key", cert: k.keyPEM, keyFile: k.keyPEM, want: `holds a "PRIVATE KEY" PEM block`},
		{name: "EC certificate", cert: certPEM(ecCertificate(t)), keyFile: k.keyPEM, want: "not an RSA key"},
		{name: "1024-bit certificate", cert: certPEM(smallCertificate(t)), keyFile: k.keyPEM, want: "1024 bits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wk, err := LoadWrappingKey(tc.cert, tc.keyFile)
			if msg := errorText(err, tc.want); msg != "" {
				t.Fatalf("LoadWrappingKey(%s) = %s", tc.name, msg)
			}
			if err == nil && (!wk.Key.Equal(k.Key) || string(wk.CertDER) != string(k.CertDER)) {
				t.Errorf("LoadWrappingKey(%s) loaded another key pair", tc.name)
			}
		})
	}
}
