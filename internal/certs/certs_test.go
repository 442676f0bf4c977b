package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	hosts := []string{"localhost", "127.0.0.1", "*.mhsm.localtest"}
	b, err := Ensure(dir, hosts, now)
	if err != nil {
		t.Fatalf("Ensure() error = %v", err)
	}
	if len(b.Generated) != 2 {
		t.Errorf("Ensure() generated %v, want CA and server certificate", b.Generated)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CAPEM) {
		t.Fatal("CAPEM does not parse")
	}
	leaf, err := x509.ParseCertificate(b.Certificate.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "dev.mhsm.localtest"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", name, err)
		}
	}
	for _, f := range []string{caKeyFile, serverKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}

	// A second start reuses everything.
	b2, err := Ensure(dir, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Generated) != 0 || string(b2.CAPEM) != string(b.CAPEM) {
		t.Errorf("second Ensure() generated %v or changed the CA", b2.Generated)
	}

	// A new host name re-issues the server certificate under the same CA.
	b3, err := Ensure(dir, append(hosts, "hsm.example.com"), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(b3.Generated) != 1 || string(b3.CAPEM) != string(b.CAPEM) {
		t.Errorf("Ensure() with a new host generated %v, want only the server certificate", b3.Generated)
	}

	// Close to expiry, the server certificate is renewed.
	b4, err := Ensure(dir, hosts, now.Add(serverLifetime-renewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if len(b4.Generated) != 1 {
		t.Errorf("Ensure() near expiry generated %v, want a new server certificate", b4.Generated)
	}
}

func TestEnsureRefusesHalfCA(t *testing.T) {
	dir := t.TempDir()
	if _, err := Ensure(dir, []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, caKeyFile))
	if _, err := Ensure(dir, []string{"localhost"}, time.Now()); err == nil {
		t.Fatal("Ensure() with ca.pem but no ca.key succeeded, want error")
	}
}

func TestTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	b, err := Ensure(dir, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{b.Certificate}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	block, _ := pem.Decode(b.CAPEM)
	ca, _ := x509.ParseCertificate(block.Bytes)
	pool.AddCert(ca)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS handshake with generated certificate: %v", err)
	}
	conn.Close()
}
