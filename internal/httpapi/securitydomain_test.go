package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/crypto/sdformat"
	"github.com/cofferkms/coffer/internal/hsm"
)

// The security-domain endpoints on the wire, as the Azure CLI and the
// Python SDK read them: 202 with Azure-AsyncOperation, the file as a
// string in "value", statuses in snake case, the transfer key as a JSON
// string.
func TestSecurityDomainWire(t *testing.T) {
	s, _ := newTestServer(t)
	p := s.cfg.Pools.(onePool).p
	if err := p.InitState(context.Background(), hsm.StateActivationPending); err != nil {
		t.Fatal(err)
	}
	rec := serve(s, "GET", "/keys?api-version=7.4", "", "tok")
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), `"code":"Forbidden"`) || !strings.Contains(rec.Body.String(), "ManagedHsmNotActivated") {
		t.Fatalf("GET /keys before activation = %d %s, want 403 ManagedHsmNotActivated", rec.Code, rec.Body)
	}

	var jwks []json.RawMessage
	var keys []sdformat.WrappingKey
	for range 3 {
		certPEM, keyPEM, err := sdformat.GenerateWrappingKey(rand.Reader, 2048, "holder", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wk, err := sdformat.LoadWrappingKey(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, wk)
		jwk, _ := sdformat.CertificateJWK(wk.CertDER)
		jwks = append(jwks, jwk)
	}
	body, _ := json.Marshal(map[string]any{"certificates": jwks, "required": 2})

	for name, bad := range map[string]string{
		"not json":       `{`,
		"two certs":      string(must(json.Marshal(map[string]any{"certificates": jwks[:2], "required": 2}))),
		"quorum too big": string(must(json.Marshal(map[string]any{"certificates": jwks, "required": 4}))),
	} {
		rec := serve(s, "POST", "/securitydomain/download?api-version=7.4", bad, "tok")
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"code":"BadParameter"`) {
			t.Errorf("download (%s) = %d %s, want 400 BadParameter", name, rec.Code, rec.Body)
		}
	}

	rec = serve(s, "POST", "/securitydomain/download?api-version=7.4", string(body), "tok")
	if rec.Code != 202 || rec.Header().Get("Azure-AsyncOperation") != "https://p.mhsm.test/securitydomain/download/pending" {
		t.Fatalf("download = %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || !strings.HasPrefix(out.Value, `{"EncData":`) {
		t.Fatalf("download body = %.200s", rec.Body)
	}
	if _, _, err := sdformat.Recover([]byte(out.Value), keys[:2]); err != nil {
		t.Errorf("Recover(downloaded file) = %v", err)
	}
	for _, path := range []string{"/securitydomain/download/pending", "/securitydomain/upload/pending"} {
		rec := serve(s, "GET", path+"?api-version=7.4", "", "tok")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"Success"`) || !strings.Contains(rec.Body.String(), `"status_details":`) {
			t.Errorf("GET %s = %d %s, want 200 with status Success and status_details", path, rec.Code, rec.Body)
		}
	}
	if rec := serve(s, "GET", "/keys?api-version=7.4", "", "tok"); rec.Code != 200 {
		t.Errorf("GET /keys after activation = %d %s", rec.Code, rec.Body)
	}
	if rec := serve(s, "POST", "/securitydomain/download?api-version=7.4", string(body), "tok"); rec.Code != 409 {
		t.Errorf("second download = %d %s, want 409", rec.Code, rec.Body)
	}
	if rec := serve(s, "GET", "/securitydomain/upload?api-version=7.4", "", "tok"); rec.Code != 409 {
		t.Errorf("transfer key of an active pool = %d %s, want 409", rec.Code, rec.Body)
	}
}

func TestTransferKeyWire(t *testing.T) {
	s, _ := newTestServer(t)
	p := s.cfg.Pools.(onePool).p
	if err := p.InitState(context.Background(), hsm.StateSecurityDomainRestore); err != nil {
		t.Fatal(err)
	}
	rec := serve(s, "GET", "/securitydomain/upload?api-version=7.4", "", "tok")
	var tk struct {
		KeyFormat   string `json:"key_format"`
		TransferKey string `json:"transfer_key"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &tk) != nil || tk.KeyFormat != "jwk" {
		t.Fatalf("GET /securitydomain/upload = %d %s", rec.Code, rec.Body)
	}
	var jwk struct {
		Kid string   `json:"kid"`
		Kty string   `json:"kty"`
		X5c []string `json:"x5c"`
	}
	if err := json.Unmarshal([]byte(tk.TransferKey), &jwk); err != nil || jwk.Kty != "RSA" || len(jwk.X5c) != 1 || jwk.Kid != "https://p.mhsm.test/transfer_key" {
		t.Errorf("transfer_key = %s (%v), want a JWK as a JSON string with kid, kty RSA and one x5c", tk.TransferKey, err)
	}
	for name, body := range map[string]string{
		"empty value": `{"value":""}`,
		"garbage":     `{"value":"not a restore blob"}`,
		"not json":    `{"value":`,
	} {
		rec := serve(s, "POST", "/securitydomain/upload?api-version=7.4", body, "tok")
		if rec.Code != 400 {
			t.Errorf("upload (%s) = %d %s, want 400", name, rec.Code, rec.Body)
		}
	}
	if rec := serve(s, "GET", "/keys?api-version=7.4", "", "tok"); rec.Code != 403 || !strings.Contains(rec.Body.String(), "ManagedHsmSecurityDomainRestore") {
		t.Errorf("GET /keys in a recovering pool = %d %s", rec.Code, rec.Body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
