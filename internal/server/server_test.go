package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/cofferkms/coffer/internal/audit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/store"
)

// testServer is a development server on a loopback port.
type testServer struct {
	t      testing.TB
	srv    *Server
	base   string
	client *http.Client
	token  string
	cancel context.CancelFunc
	done   chan error
}

func devConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir, cfg.Dev, cfg.Listen = dir, true, "127.0.0.1:8443"
	cfg.Log.Level = "error"
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

func startServer(t testing.TB, dir string) *testServer {
	t.Helper()
	return startServerConfig(t, devConfig(dir))
}

func startServerConfig(t testing.TB, cfg config.Config) *testServer {
	t.Helper()
	return startServerToken(t, cfg, "")
}

// startServerToken starts a server that uses token (one a previous server
// on the same data issued) instead of asking its issuer for one.
func startServerToken(t testing.TB, cfg config.Config, token string) *testServer {
	t.Helper()
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, srv: srv, base: "https://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.ServeListener(ctx, ln) }()
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(srv.CAFile())
	pool.AppendCertsFromPEM(ca)
	ts.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	switch {
	case token != "":
		ts.token = token
	case cfg.Dev:
		ts.token = ts.getToken()
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	if err := <-ts.done; err != nil {
		ts.t.Errorf("server shutdown: %v", err)
	}
}

func (ts *testServer) getToken() string {
	b := ts.srv.Bootstrap()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.ClientID}, "client_secret": {b.ClientSecret},
		"scope": {b.Audience + "/.default"}}
	resp, err := ts.client.PostForm(ts.base+"/"+b.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" || resp.StatusCode != 200 {
		ts.t.Fatalf("token endpoint: status %d, %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// do sends a data-plane request with the token and returns status and body.
func (ts *testServer) do(method, path, body string) (int, map[string]any) {
	ts.t.Helper()
	status, raw := ts.doRaw(method, path, body, ts.token)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			ts.t.Fatalf("%s %s: response is not JSON: %q", method, path, raw)
		}
	}
	return status, m
}

func (ts *testServer) doRaw(method, path, body, token string) (int, []byte) {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, ts.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func innerCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	in, _ := e["innererror"].(map[string]any)
	c, _ := in["code"].(string)
	return c
}

const v = "?api-version=7.5"

// stateOf lists every key and its versions, to show a rejected request
// changed nothing.
func (ts *testServer) stateOf() string {
	ts.t.Helper()
	var sb strings.Builder
	_, keys := ts.do("GET", "/keys"+v+"&maxresults=25", "")
	for _, it := range keys["value"].([]any) {
		kid := it.(map[string]any)["kid"].(string)
		name := kid[strings.LastIndex(kid, "/")+1:]
		_, vers := ts.do("GET", "/keys/"+name+"/versions"+v, "")
		for _, vi := range vers["value"].([]any) {
			m := vi.(map[string]any)
			a, _ := json.Marshal(m["attributes"])
			// kid carries the host the client used; compare the rest.
			fmt.Fprintf(&sb, "%s %s %v\n", strings.TrimPrefix(m["kid"].(string), ts.base), a, m["tags"])
		}
	}
	return sb.String()
}

func TestBadInput(t *testing.T) {
	ts := startServer(t, t.TempDir())
	mustCreate := func(name, body string) {
		if s, m := ts.do("POST", "/keys/"+name+"/create"+v, body); s != 200 {
			t.Fatalf("create %s: %d %v", name, s, m)
		}
	}
	mustCreate("ec", `{"kty":"EC-HSM","crv":"P-256","key_ops":["sign","verify"]}`)
	mustCreate("verify-only", `{"kty":"EC-HSM","crv":"P-256","key_ops":["verify"]}`)
	mustCreate("aes", `{"kty":"oct-HSM","key_size":256}`)
	mustCreate("off", `{"kty":"EC-HSM","attributes":{"enabled":false}}`)
	mustCreate("expired", fmt.Sprintf(`{"kty":"EC-HSM","attributes":{"exp":%d}}`, time.Now().Add(-time.Hour).Unix()))
	mustCreate("future", fmt.Sprintf(`{"kty":"EC-HSM","attributes":{"nbf":%d}}`, time.Now().Add(time.Hour).Unix()))
	digest := sha256.Sum256([]byte("x"))
	sign := func(alg string, d []byte) string { return fmt.Sprintf(`{"alg":%q,"value":%q}`, alg, b64(d)) }
	before := ts.stateOf()

	tests := []struct {
		name, method, path, body string
		status                   int
		code, inner              string
	}{
		{"bad JSON", "POST", "/keys/new/create" + v, `{"kty":`, 400, "BadParameter", ""},
		{"JSON of the wrong type", "POST", "/keys/new/create" + v, `{"kty":"RSA-HSM","key_size":"big"}`, 400, "BadParameter", ""},
		{"trailing data", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM"}{}`, 400, "BadParameter", ""},
		{"empty body", "POST", "/keys/new/create" + v, ``, 400, "BadParameter", ""},
		{"unknown kty", "POST", "/keys/new/create" + v, `{"kty":"DSA"}`, 400, "BadParameter", ""},
		{"wrong RSA size", "POST", "/keys/new/create" + v, `{"kty":"RSA-HSM","key_size":1024}`, 400, "BadParameter", ""},
		{"wrong AES size", "POST", "/keys/new/create" + v, `{"kty":"oct-HSM","key_size":512}`, 400, "BadParameter", ""},
		{"unknown curve", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","crv":"P-192"}`, 400, "BadParameter", ""},
		{"curve on RSA", "POST", "/keys/new/create" + v, `{"kty":"RSA-HSM","crv":"P-256"}`, 400, "BadParameter", ""},
		{"unknown key op", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","key_ops":["explode"]}`, 400, "BadParameter", ""},
		{"op the type lacks", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","key_ops":["encrypt"]}`, 400, "BadParameter", ""},
		{"too many tags", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","tags":{` + manyTags(16) + `}}`, 400, "BadParameter", ""},
		{"bad key name", "POST", "/keys/bad_name/create" + v, `{"kty":"EC-HSM"}`, 400, "BadParameter", ""},
		{"nbf after exp", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","attributes":{"nbf":2000000000,"exp":1900000000}}`, 400, "BadParameter", ""},
		{"exportable without policy", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","attributes":{"exportable":true}}`, 400, "BadParameter", ""},
		{"import without key", "PUT", "/keys/new" + v, `{"attributes":{}}`, 400, "BadParameter", ""},
		{"import public-only JWK", "PUT", "/keys/new" + v, `{"key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`, 400, "BadParameter", ""},
		{"import bad base64url", "PUT", "/keys/new" + v, `{"key":{"kty":"oct","k":"!!!"}}`, 400, "BadParameter", ""},
		{"import oversized k", "PUT", "/keys/new" + v, `{"key":{"kty":"oct","k":"` + b64(make([]byte, 65)) + `"}}`, 400, "BadParameter", ""},
		{"import garbage BYOK", "PUT", "/keys/new" + v, `{"key":{"kty":"RSA-HSM","key_hsm":"` + b64([]byte("not json")) + `"}}`, 400, "BadParameter", ""},
		{"unknown sign alg", "POST", "/keys/ec/sign" + v, sign("XS256", digest[:]), 400, "BadParameter", ""},
		{"wrong curve alg", "POST", "/keys/ec/sign" + v, sign("ES384", make([]byte, 48)), 400, "BadParameter", ""},
		{"short digest", "POST", "/keys/ec/sign" + v, sign("ES256", digest[:20]), 400, "BadParameter", ""},
		{"sign value not base64", "POST", "/keys/ec/sign" + v, `{"alg":"ES256","value":"%%%"}`, 400, "BadParameter", ""},
		{"op not in key_ops", "POST", "/keys/verify-only/sign" + v, sign("ES256", digest[:]), 403, "Forbidden", "KeyOperationForbidden"},
		{"disabled key", "POST", "/keys/off/sign" + v, sign("ES256", digest[:]), 403, "Forbidden", "KeyDisabled"},
		{"expired key", "POST", "/keys/expired/sign" + v, sign("ES256", digest[:]), 403, "Forbidden", "KeyExpired"},
		{"not yet valid key", "POST", "/keys/future/sign" + v, sign("ES256", digest[:]), 403, "Forbidden", "KeyNotYetValid"},
		{"GCM with client IV", "POST", "/keys/aes/encrypt" + v, `{"alg":"A256GCM","value":"AA","iv":"` + b64(make([]byte, 12)) + `"}`, 400, "BadParameter", ""},
		{"CBC without IV", "POST", "/keys/aes/encrypt" + v, `{"alg":"A256CBC","value":"` + b64(make([]byte, 16)) + `"}`, 400, "BadParameter", ""},
		{"decrypt garbage", "POST", "/keys/aes/decrypt" + v, `{"alg":"A256GCM","value":"AAAA","iv":"` + b64(make([]byte, 12)) + `","tag":"` + b64(make([]byte, 16)) + `"}`, 400, "BadParameter", ""},
		{"wrap with encryption alg", "POST", "/keys/aes/wrapkey" + v, `{"alg":"A256GCM","value":"` + b64(make([]byte, 32)) + `"}`, 400, "BadParameter", ""},
		{"missing value", "POST", "/keys/aes/encrypt" + v, `{"alg":"A256GCM"}`, 400, "BadParameter", ""},
		{"unknown version", "GET", "/keys/ec/0123456789abcdef0123456789abcdef" + v, ``, 404, "KeyNotFound", ""},
		{"missing key", "GET", "/keys/nope" + v, ``, 404, "KeyNotFound", ""},
		{"recover a live key", "POST", "/deletedkeys/ec/recover" + v, ``, 404, "KeyNotFound", ""},
		{"rng count too large", "POST", "/rng" + v, `{"count":129}`, 400, "BadParameter", ""},
		{"bad maxresults", "GET", "/keys?api-version=7.5&maxresults=26", ``, 400, "BadParameter", ""},
		{"unknown api-version", "GET", "/keys?api-version=1999-01-01", ``, 400, "BadParameter", ""},
		{"missing api-version", "GET", "/keys", ``, 400, "BadParameter", ""},
		{"oversized body", "POST", "/keys/new/create" + v, `{"kty":"EC-HSM","tags":{"a":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, "RequestEntityTooLarge", ""},
		{"unknown route", "GET", "/keys/ec/explode/now" + v, ``, 404, "NotFound", ""},
		{"wrong method", "DELETE", "/rng" + v, ``, 405, "MethodNotAllowed", ""},
		{"bad restore blob", "POST", "/keys/restore" + v, `{"value":"` + b64([]byte("CKB1 not a blob")) + `"}`, 400, "BadParameter", ""},
		{"bad rotation policy", "PUT", "/keys/ec/rotationpolicy" + v, `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P1D"},"action":{"type":"Rotate"}}]}`, 400, "BadParameter", ""},
		{"bad duration", "PUT", "/keys/ec/rotationpolicy" + v, `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"90 days"},"action":{"type":"Rotate"}}]}`, 400, "BadParameter", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, m := ts.do(tc.method, tc.path, tc.body)
			if status != tc.status || errCode(m) != tc.code || innerCode(m) != tc.inner {
				t.Errorf("%s %s = %d %s/%s %v, want %d %s/%s", tc.method, tc.path, status, errCode(m), innerCode(m), m["error"], tc.status, tc.code, tc.inner)
			}
			if msg, _ := m["error"].(map[string]any)["message"].(string); msg == "" {
				t.Errorf("error has no message: %v", m)
			}
		})
	}
	if after := ts.stateOf(); after != before {
		t.Errorf("rejected requests changed the stored state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func manyTags(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`"t%d":"v"`, i))
	}
	return strings.Join(parts, ",")
}

func TestUnauthenticated(t *testing.T) {
	ts := startServer(t, t.TempDir())
	for _, path := range []string{"/keys/k/create" + v, "/keys" + v, "/nothing-here", "/keys?api-version=bogus", "/rng"} {
		status, body := ts.doRaw("POST", path, `{"kty":`, "")
		if strings.HasPrefix(path, "/nothing") {
			continue
		}
		if status != 401 || len(body) != 0 {
			t.Errorf("POST %s without a token = %d %q, want 401 with an empty body", path, status, body)
		}
	}
	status, _ := ts.doRaw("GET", "/keys"+v, "", "not-a-token")
	if status != 401 {
		t.Errorf("GET /keys with a garbage token = %d, want 401", status)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	s, created := ts.do("POST", "/keys/durable/create"+v, `{"kty":"RSA-HSM","key_size":2048,"tags":{"a":"b"}}`)
	if s != 200 {
		t.Fatal(s, created)
	}
	ts.do("POST", "/keys/gone/create"+v, `{"kty":"EC-HSM"}`)
	ts.do("DELETE", "/keys/gone"+v, "")
	digest := sha256.Sum256([]byte("before restart"))
	_, sig := ts.do("POST", "/keys/durable/sign"+v, fmt.Sprintf(`{"alg":"RS256","value":%q}`, b64(digest[:])))
	before := ts.stateOf()
	ts.stop()

	ts2 := startServer(t, dir)
	if after := ts2.stateOf(); after != before {
		t.Fatalf("state after restart differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	_, got := ts2.do("POST", "/keys/durable/verify"+v, fmt.Sprintf(`{"alg":"RS256","digest":%q,"value":%q}`, b64(digest[:]), sig["value"]))
	if got["value"] != true {
		t.Fatalf("signature from before the restart does not verify: %v", got)
	}
	if s, _ := ts2.do("GET", "/deletedkeys/gone"+v, ""); s != 200 {
		t.Fatalf("deleted key lost across restart: %d", s)
	}
}

// TestCrashDuringCreates runs a server in a child process, creates keys in
// a loop, kills the child with SIGKILL, restarts on the same data and checks
// every acknowledged key is there and the store opens cleanly.
func TestCrashDuringCreates(t *testing.T) {
	if dir := os.Getenv("COFFER_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringCreates$")
	cmd.Env = append(os.Environ(), "COFFER_CRASH_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var base string
	for sc.Scan() {
		if b, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
			base = b
			break
		}
	}
	if base == "" {
		t.Fatal("the child server did not start")
	}
	// Create keys through the child, recording each acknowledged one.
	raw, _ := os.ReadFile(dir + "/bootstrap.json")
	var boot Bootstrap
	json.Unmarshal(raw, &boot)
	ts := &testServer{t: t, base: base, srv: &Server{boot: &boot}}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(dir + "/ca.pem")
	pool.AppendCertsFromPEM(ca)
	ts.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	ts.token = ts.getToken()
	var acked []string
	killed := make(chan struct{})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		close(killed)
	}()
	for i := 0; ; i++ {
		name := fmt.Sprintf("crash-%04d", i)
		req, _ := http.NewRequest("POST", base+"/keys/"+name+"/create"+v, strings.NewReader(`{"kty":"EC-HSM","crv":"P-256"}`))
		req.Header.Set("Authorization", "Bearer "+ts.token)
		resp, err := ts.client.Do(req)
		if err != nil {
			break
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			acked = append(acked, name)
		}
	}
	<-killed
	cmd.Wait()
	if len(acked) < 5 {
		t.Fatalf("only %d keys were acknowledged before the kill", len(acked))
	}
	// Every acknowledged request's event is on disk: the log opens, cuts
	// any torn line, and holds a successful KeyCreate for each key.
	logged := map[string]bool{}
	for ev, err := range audit.Query(audit.LogDir(filepath.Join(dir, "audit"), "dev"), audit.Filter{Operation: "KeyCreate", Result: "Success"}) {
		if err != nil && !strings.Contains(err.Error(), "partial") {
			t.Fatalf("reading the audit log after kill -9: %v", err)
		}
		if ev != nil {
			logged[ev.KeyName] = true
		}
	}
	ts2 := startServer(t, dir)
	for _, name := range acked {
		if s, m := ts2.do("GET", "/keys/"+name+v, ""); s != 200 {
			t.Errorf("acknowledged key %s is missing after kill -9: %d %v", name, s, m)
		}
		if !logged[name] {
			t.Errorf("acknowledged create of %s has no audit event after kill -9", name)
		}
	}
	pub, err := ts2.srv.audit.PublicKey("dev")
	if err != nil {
		t.Fatal(err)
	}
	ts2.stop()
	if rep, err := audit.Verify(audit.LogDir(filepath.Join(dir, "audit"), "dev"), pub); err != nil || !rep.OK() {
		t.Errorf("the audit log does not verify after kill -9 and restart: %v %+v", err, rep.FirstBad)
	}
	t.Logf("%d acknowledged keys and their events survived kill -9", len(acked))
}

func crashChild(dir string) {
	srv, err := New(context.Background(), devConfig(dir), slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	fmt.Println("LISTENING https://" + ln.Addr().String())
	srv.ServeListener(context.Background(), ln)
}

// countingStore counts every transaction, to show the hot path reads
// nothing from storage.
type countingStore struct {
	store.Store
	n *atomic.Int64
}

func (c countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	c.n.Add(1)
	return c.Store.View(ctx, fn)
}

func (c countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	c.n.Add(1)
	return c.Store.Update(ctx, fn)
}

func TestHotPathDoesNoRepeatedWork(t *testing.T) {
	var n atomic.Int64
	testingOnlyWrapStore = func(s store.Store) store.Store { return countingStore{s, &n} }
	defer func() { testingOnlyWrapStore = nil }()
	ts := startServer(t, t.TempDir())
	for _, body := range []string{`{"kty":"EC-HSM","crv":"P-256"}`, `{"kty":"oct-HSM","key_size":256}`} {
		name := map[bool]string{true: "hot-ec", false: "hot-aes"}[strings.Contains(body, "EC")]
		if s, m := ts.do("POST", "/keys/"+name+"/create"+v, body); s != 200 {
			t.Fatal(s, m)
		}
	}
	digest := sha256.Sum256([]byte("hot"))
	ts.do("POST", "/keys/hot-ec/sign"+v, fmt.Sprintf(`{"alg":"ES256","value":%q}`, b64(digest[:]))) // warm-up
	reads, checks := n.Load(), ts.srv.Verifier().SignatureChecks()
	for i := 0; i < 50; i++ {
		if s, m := ts.do("POST", "/keys/hot-ec/sign"+v, fmt.Sprintf(`{"alg":"ES256","value":%q}`, b64(digest[:]))); s != 200 {
			t.Fatal(s, m)
		}
		if s, m := ts.do("POST", "/keys/hot-aes/wrapkey"+v, `{"alg":"A256KW","value":"`+b64(make([]byte, 32))+`"}`); s != 200 {
			t.Fatal(s, m)
		}
	}
	if got := n.Load() - reads; got != 0 {
		t.Errorf("100 crypto requests made %d store transactions, want 0", got)
	}
	if got := ts.srv.Verifier().SignatureChecks() - checks; got != 0 {
		t.Errorf("100 requests with one token verified its signature %d more times, want 0", got)
	}
}

// TestAuditRecordsEveryRequest checks one event per request, unauthenticated
// ones included, and that nothing secret reaches the log.
func TestAuditRecordsEveryRequest(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	ts.do("POST", "/keys/audited/create"+v, `{"kty":"oct-HSM"}`)
	ts.do("POST", "/keys/audited/encrypt"+v, `{"alg":"A256GCM","value":"`+b64([]byte("PLAINTEXT-MARKER"))+`"}`)
	ts.doRaw("GET", "/keys"+v, "", "")
	ts.stop()
	var all []byte
	for _, pool := range []string{"dev", "_system"} {
		files, _ := os.ReadDir(dir + "/audit/" + pool)
		for _, f := range files {
			b, _ := os.ReadFile(dir + "/audit/" + pool + "/" + f.Name())
			all = append(all, b...)
		}
	}
	for _, op := range []string{`"operationName":"KeyCreate"`, `"operationName":"KeyEncrypt"`, `"operationName":"Authentication"`} {
		if !bytes.Contains(all, []byte(op)) {
			t.Errorf("audit log lacks %s", op)
		}
	}
	for _, secret := range []string{ts.token, ts.srv.Bootstrap().ClientSecret, "PLAINTEXT-MARKER", b64([]byte("PLAINTEXT-MARKER"))} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("audit log contains a secret or plaintext")
		}
	}
}
