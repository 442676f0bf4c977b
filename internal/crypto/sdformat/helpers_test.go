package sdformat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is a key pair, parsed and as its PEM files.
type testKey struct {
	WrappingKey
	certPEM, keyPEM []byte
}

// testKeyNames are the key pairs in testdata/keys (made by make.sh with
// openssl): holders use the first four, the last is a recovering HSM's
// transfer key.
var testKeyNames = []string{"holder0", "holder1", "holder2", "holder3", "exchange"}

var testKeys = sync.OnceValues(func() ([]testKey, error) {
	var keys []testKey
	for _, name := range testKeyNames {
		c, err := os.ReadFile("testdata/keys/" + name + ".cer")
		if err != nil {
			return nil, err
		}
		k, err := os.ReadFile("testdata/keys/" + name + ".pem")
		if err != nil {
			return nil, err
		}
		wk, err := LoadWrappingKey(c, k)
		if err != nil {
			return nil, fmt.Errorf("LoadWrappingKey(%s) = %w", name, err)
		}
		keys = append(keys, testKey{WrappingKey: wk, certPEM: c, keyPEM: k})
	}
	return keys, nil
})

func holders(t testing.TB) []testKey {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatalf("loading test keys: %v", err)
	}
	return keys
}

func wrappingKeys(keys ...testKey) []WrappingKey {
	var out []WrappingKey
	for _, k := range keys {
		out = append(out, k.WrappingKey)
	}
	return out
}

// requestFor is a download request for keys' certificates, as the Azure
// CLI sends it; quorum nil leaves "required" out.
func requestFor(t testing.TB, keys []testKey, quorum any) []byte {
	t.Helper()
	var jwks []json.RawMessage
	for _, k := range keys {
		j, err := CertificateJWK(k.CertDER)
		if err != nil {
			t.Fatalf("CertificateJWK(holder) = %v", err)
		}
		jwks = append(jwks, j)
	}
	req := map[string]any{"certificates": jwks}
	if quorum != nil {
		req["required"] = quorum
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// certsFor are keys' certificates, as ParseDownloadRequest returns them.
func certsFor(t testing.TB, keys []testKey) []Certificate {
	t.Helper()
	var certs []Certificate
	for _, k := range keys {
		c, err := NewCertificate(k.CertDER)
		if err != nil {
			t.Fatalf("NewCertificate(holder) = %v", err)
		}
		certs = append(certs, c)
	}
	return certs
}

// selfSigned is another certificate for key.
func selfSigned(t testing.TB, key any, pub any, cn string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// ecCertificate is a certificate with a P-256 key.
func ecCertificate(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, k, &k.PublicKey, "ec")
}

// smallCertificate is a certificate with a 1024-bit RSA key, made with
// openssl (crypto/rsa refuses such keys under GODEBUG=fips140=on).
func smallCertificate(t testing.TB) []byte {
	t.Helper()
	p, err := os.ReadFile("testdata/rsa1024.cer")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("testdata/rsa1024.cer is not PEM")
		return nil
	}
	return b.Bytes
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errorText checks err against want: "" wants success; otherwise err must
// be a *FormatError (or, for "ErrDecrypt", exactly ErrDecrypt) whose text
// contains want.
func errorText(err error, want string) string {
	switch {
	case want == "" && err == nil:
		return ""
	case want == "":
		return fmt.Sprintf("error %q, want success", err)
	case err == nil:
		return fmt.Sprintf("success, want an error containing %q", want)
	case want == "ErrDecrypt":
		if err != ErrDecrypt {
			return fmt.Sprintf("error %q, want ErrDecrypt", err)
		}
		return ""
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		return fmt.Sprintf("error %q (%T), want a *FormatError", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		return fmt.Sprintf("error %q, want one containing %q", err, want)
	}
	return ""
}
