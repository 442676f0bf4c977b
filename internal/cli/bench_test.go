package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/server"
)

// coffer bench against a real server: every request succeeds, the raw
// limit is measured, and the benchmark's keys are gone afterwards.
func TestBench(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Dev, cfg.Listen = dir, true, ln.Addr().String()
	cfg.Log.Level = "error"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Setenv("COFFER_CONFIG_DIR", t.TempDir())

	if code, out := runCLI("login", "--bootstrap", filepath.Join(dir, "bootstrap.json"), "-o", "none"); code != 0 {
		t.Fatalf("coffer login = %d %s", code, out)
	}
	var stdout, stderr bytes.Buffer
	code := Main([]string{"bench", "--op", "ES256", "--op", "A256KW", "--duration", "1s", "--concurrency", "4"}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("coffer bench = %d %s %s", code, out, stderr.String())
	}
	var rows []benchRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("coffer bench output = %s (%v)", out, err)
	}
	for _, r := range rows {
		if r.Requests == 0 || r.Errors != 0 || r.PerSecond <= 0 || r.RawPerSec <= 0 || r.P99Ms < r.P50Ms || r.Concurrency != 4 {
			t.Errorf("bench row = %+v", r)
		}
	}
	// The benchmark's keys were deleted and purged.
	prof, err := client.LoadProfile()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(prof)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/keys", "/deletedkeys"} {
		var list struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := c.Data(context.Background(), "GET", path, nil, nil, &list); err != nil || len(list.Value) != 0 {
			t.Errorf("GET %s after the benchmark = %d items, %v; want none", path, len(list.Value), err)
		}
	}
}
