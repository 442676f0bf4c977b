package server

import (
	"context"

	"crypto/sha256"
	"fmt"
	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/httpapi"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// discardAudit accepts every event and keeps none.
type discardAudit struct{}

func (discardAudit) Append(context.Context, *audit.Event) error { return nil }
func (discardAudit) Writable(string) bool                       { return true }

// BenchmarkHotPath measures sign and wrap through the full handler stack
// (token check, authorization, key lookup, crypto, durable audit event) and,
// in the same run, the raw crypto of the same operations: the ratio is the
// cost of being a service. Run with -cpu 1,2 to see scaling.
func BenchmarkHotPath(b *testing.B) {
	ts := startServer(b, b.TempDir())
	h := ts.srv.Handler()
	// The same stack with the audit log replaced by one that keeps
	// nothing: the difference is what durable auditing costs.
	noAuditCfg := ts.srv.httpCfg
	noAuditCfg.Audit = discardAudit{}
	noAudit, err := httpapi.New(noAuditCfg)
	if err != nil {
		b.Fatal(err)
	}
	for name, body := range map[string]string{
		"ec":  `{"kty":"EC-HSM","crv":"P-256"}`,
		"rsa": `{"kty":"RSA-HSM","key_size":2048}`,
		"aes": `{"kty":"oct-HSM","key_size":256}`,
	} {
		if s, m := ts.do("POST", "/keys/bench-"+name+"/create"+v, body); s != 200 {
			b.Fatal(s, m)
		}
	}
	digest := sha256.Sum256([]byte("bench"))
	cek := make([]byte, 32)
	ops := []struct {
		name, path, body string
		alg              string
		raw              func(k *keymat.Key) error
		keyType          string
	}{
		{"ES256", "/keys/bench-ec/sign", fmt.Sprintf(`{"alg":"ES256","value":%q}`, b64(digest[:])), "ec",
			func(k *keymat.Key) error { _, err := jwa.Sign(jwa.ES256, k, digest[:]); return err }, "ec"},
		{"RS256", "/keys/bench-rsa/sign", fmt.Sprintf(`{"alg":"RS256","value":%q}`, b64(digest[:])), "rsa",
			func(k *keymat.Key) error { _, err := jwa.Sign(jwa.RS256, k, digest[:]); return err }, "rsa"},
		{"A256KW", "/keys/bench-aes/wrapkey", fmt.Sprintf(`{"alg":"A256KW","value":%q}`, b64(cek)), "aes",
			func(k *keymat.Key) error { _, err := jwa.Wrap(jwa.A256KW, k, cek); return err }, "aes"},
		{"RSA-OAEP-256", "/keys/bench-rsa/wrapkey", fmt.Sprintf(`{"alg":"RSA-OAEP-256","value":%q}`, b64(cek)), "rsa",
			func(k *keymat.Key) error { _, err := jwa.Wrap(jwa.RSAOAEP256, k, cek); return err }, "rsa"},
	}
	rawKeys := map[string]*keymat.Key{}
	rawKeys["ec"], _ = keymat.GenerateEC(keymat.CurveP256)
	rawKeys["rsa"], _ = keymat.GenerateRSA(2048, 0)
	rawKeys["aes"], _ = keymat.GenerateOct(256)
	for _, op := range ops {
		b.Run("raw/"+op.name, func(b *testing.B) {
			k := rawKeys[op.keyType]
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op.raw(k); err != nil {
						b.Error(err)
					}
				}
			})
		})
		for _, stack := range []struct {
			name string
			h    http.Handler
		}{{"stack", h}, {"stack-noaudit", noAudit}} {
			b.Run(stack.name+"/"+op.name, func(b *testing.B) {
				b.ReportAllocs()
				// 32 goroutines per CPU: many requests in flight, as under
				// load, so the audit log's group commit can batch fsyncs
				// (with few in flight every event waits for its own fsync).
				b.SetParallelism(32)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req := httptest.NewRequest("POST", "https://dev.mhsm.localhost:8443"+op.path+v, strings.NewReader(op.body))
						req.Header.Set("Authorization", "Bearer "+ts.token)
						rec := httptest.NewRecorder()
						stack.h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Errorf("%s: %d %s", op.name, rec.Code, rec.Body)
						}
					}
				})
			})
		}
	}
}
