package server

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/config"
)

func (ts *testServer) get(path, bearer string) (int, string) {
	ts.t.Helper()
	req, _ := http.NewRequest("GET", ts.base+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetrics checks /metrics reports requests, crypto by algorithm,
// denials and the audit write path, and is public only in dev mode.
func TestMetrics(t *testing.T) {
	ts := startServer(t, t.TempDir())
	if s, m := ts.do("POST", "/keys/m1/create"+v, `{"kty":"EC-HSM","crv":"P-256"}`); s != 200 {
		t.Fatal(s, m)
	}
	d := sha256.Sum256([]byte("x"))
	for range 3 {
		if s, m := ts.do("POST", "/keys/m1/sign"+v, fmt.Sprintf(`{"alg":"ES256","value":%q}`, b64(d[:]))); s != 200 {
			t.Fatal(s, m)
		}
	}
	ts.doRaw("GET", "/keys"+v, "", "not-a-token")
	status, body := ts.get("/metrics", "")
	if status != 200 {
		t.Fatalf("GET /metrics in dev mode = %d %s", status, body)
	}
	for _, want := range []string{
		`coffer_requests_total{code="200",operation="KeySign",pool="dev"} 3`,
		`coffer_crypto_operations_total{algorithm="ES256",operation="KeySign"} 3`,
		`coffer_authentication_failures_total 1`,
		`coffer_request_duration_seconds_bucket{operation="KeyCreate"`,
		`coffer_audit_batch_events_count{log="dev"}`,
		`coffer_audit_writable{log="dev"} 1`,
		`coffer_pool_state{pool="dev",state="Active"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if status, body := ts.get("/readyz", ""); status != 200 || !strings.HasPrefix(body, "ready") {
		t.Errorf("GET /readyz = %d %q, want 200 ready", status, body)
	}
}

func TestMetricsGuard(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "metrics.token")
	os.WriteFile(tokenFile, []byte("a-scrape-token-of-some-length\n"), 0o600)
	for _, tc := range []struct {
		name   string
		set    func(c *config.Config)
		bearer string
		want   int
	}{
		{"not configured", func(c *config.Config) {}, "", 403},
		{"public", func(c *config.Config) { c.Metrics.Public = true }, "", 200},
		{"token, none sent", func(c *config.Config) { c.Metrics.BearerTokenFile = tokenFile }, "", 403},
		{"token, wrong", func(c *config.Config) { c.Metrics.BearerTokenFile = tokenFile }, "a-scrape-token-of-some-lengthX", 403},
		{"token, right", func(c *config.Config) { c.Metrics.BearerTokenFile = tokenFile }, "a-scrape-token-of-some-length", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig(t.TempDir())
			cfg.Dev = false
			tc.set(&cfg)
			ts := startServerConfig(t, cfg)
			if status, body := ts.get("/metrics", tc.bearer); status != tc.want {
				t.Errorf("GET /metrics = %d %q, want %d", status, body, tc.want)
			}
		})
	}
}

// TestAlertBurstReachesWebhook sends a burst of bad tokens from one
// address and expects exactly one alert at a local webhook.
func TestAlertBurstReachesWebhook(t *testing.T) {
	var mu sync.Mutex
	var items []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		items = append(items, batch...)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := devConfig(t.TempDir())
	no := false
	cfg.Audit.Webhooks = []config.Webhook{{URL: hook.URL, Events: &no}}
	ts := startServerConfig(t, cfg)
	for range 60 {
		if s, _ := ts.doRaw("POST", "/rng"+v, `{"count":8}`, "eyJhbGciOiJub25lIn0.e30.forged"); s != 401 {
			t.Fatalf("a forged token was answered %d", s)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(items)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a second alert, if any, would have been flushed by now
	mu.Lock()
	defer mu.Unlock()
	// The development pool's activation (its security-domain download, by
	// the server) raises its own alert at start.
	var failures []map[string]any
	sdAlert := false
	for _, it := range items {
		if it["rule"] == "destructive-or-domain" && it["operation"] == "SecurityDomainBackup" {
			sdAlert = true
			continue
		}
		failures = append(failures, it)
	}
	if !sdAlert {
		t.Errorf("no alert for the security-domain download: %v", items)
	}
	if len(failures) != 1 {
		t.Fatalf("webhook got %d failure alerts, want exactly 1: %v", len(failures), items)
	}
	a := failures[0]
	if a["rule"] != "authentication-failures" || a["ip"] != "127.0.0.1" || a["count"].(float64) < 20 {
		t.Errorf("alert = %v, want rule authentication-failures for 127.0.0.1 with count >= 20", a)
	}
}
