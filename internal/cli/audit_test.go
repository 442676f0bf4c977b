package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
)

// writeLog writes n events to pool's log under root, rotating every
// rotate bytes, and returns the log directory and the checkpoint key.
func writeLog(t *testing.T, n int, rotate int64) (string, ed25519.PublicKey) {
	return writeLogNamed(t, n, rotate, "k")
}

func writeLogNamed(t *testing.T, n int, rotate int64, prefix string) (string, ed25519.PublicKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	root := t.TempDir()
	m, err := audit.Open(audit.Config{Dir: root, Signer: func(string) (ed25519.PrivateKey, error) { return priv, nil }, RotateBytes: rotate})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ev := &audit.Event{Pool: "p", OperationName: "KeySign", ResultType: audit.ResultSuccess, ResultSignature: "OK",
			HTTPStatusCode: 200, KeyName: fmt.Sprintf("%s%d", prefix, i), Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)}
		if err := m.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return audit.LogDir(root, "p"), priv.Public().(ed25519.PublicKey)
}

func runCLI(args ...string) (int, string) {
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String() + errb.String()
}

func eventFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "events-*.jsonl"))
	if len(m) == 0 {
		t.Fatal("no events files")
	}
	return m
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, path string, ls []string) {
	t.Helper()
	s := strings.Join(ls, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyFindsTampering runs `coffer audit verify` on a clean log
// and on copies changed in each way an intruder might, and checks it names
// the first event that can no longer be trusted.
func TestAuditVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name    string
		rotate  int64
		tamper  func(t *testing.T, dir string)
		wantSeq int // 0: clean
	}{
		{"untouched", 0, func(*testing.T, string) {}, 0},
		{"a byte edited", 0, func(t *testing.T, dir string) {
			f := eventFiles(t, dir)[0]
			ls := lines(t, f)
			ls[4] = strings.Replace(ls[4], `"k4"`, `"k9"`, 1)
			writeLines(t, f, ls)
		}, 5},
		{"an event deleted", 0, func(t *testing.T, dir string) {
			f := eventFiles(t, dir)[0]
			ls := lines(t, f)
			writeLines(t, f, append(ls[:6:6], ls[7:]...))
		}, 7},
		{"two events swapped", 0, func(t *testing.T, dir string) {
			f := eventFiles(t, dir)[0]
			ls := lines(t, f)
			ls[2], ls[3] = ls[3], ls[2]
			writeLines(t, f, ls)
		}, 3},
		{"tail truncated", 0, func(t *testing.T, dir string) {
			f := eventFiles(t, dir)[0]
			ls := lines(t, f)
			writeLines(t, f, ls[:15])
		}, 16},
		{"a file replaced", 900, func(t *testing.T, dir string) {
			fs := eventFiles(t, dir)
			if len(fs) < 3 {
				t.Fatalf("want at least 3 files, have %d", len(fs))
			}
			// A self-consistent rewrite: the same seqs, chained and signed
			// the same way, but other events.
			other, _ := writeLogNamed(t, 20, 900, "x")
			ofs := eventFiles(t, other)
			b, _ := os.ReadFile(ofs[1])
			os.WriteFile(fs[1], b, 0o600)
		}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, pub := writeLog(t, 20, tc.rotate)
			tc.tamper(t, dir)
			key := base64.RawURLEncoding.EncodeToString(pub)
			code, out := runCLI("audit", "verify", "--dir", dir, "--public-key", key)
			switch {
			case tc.wantSeq == 0:
				if code != 0 || !strings.Contains(out, "OK: the log verifies") {
					t.Errorf("verify of an untouched log = %d\n%s", code, out)
				}
			case tc.wantSeq < 0:
				if code != exitUnhealthy || !strings.Contains(out, "TAMPERED") {
					t.Errorf("verify = %d\n%s\nwant exit %d and TAMPERED", code, out, exitUnhealthy)
				}
			default:
				want := fmt.Sprintf("TAMPERED: first bad event seq %d ", tc.wantSeq)
				if code != exitUnhealthy || !strings.Contains(out, want) {
					t.Errorf("verify = %d\n%s\nwant exit %d and %q", code, out, exitUnhealthy, want)
				}
			}
		})
	}
	t.Run("another key", func(t *testing.T) {
		dir, _ := writeLog(t, 5, 0)
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		code, out := runCLI("audit", "verify", "--dir", dir, "--public-key", base64.RawURLEncoding.EncodeToString(other))
		if code != exitUnhealthy {
			t.Errorf("verify with another log's key = %d\n%s", code, out)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		dir, _ := writeLog(t, 1, 0)
		if code, out := runCLI("audit", "verify", "--dir", dir, "--public-key", "not-a-key"); code != exitUsage {
			t.Errorf("verify with a malformed key = %d\n%s", code, out)
		}
	})
}

func TestAuditQueryOffline(t *testing.T) {
	dir, _ := writeLog(t, 10, 0)
	code, out := runCLI("audit", "query", "--dir", dir, "--key", "k3", "-o", "tsv", "--query", "[].seq")
	if code != 0 || strings.TrimSpace(out) != "4" {
		t.Errorf("query --key k3 = %d %q, want seq 4", code, out)
	}
	code, out = runCLI("audit", "query", "--dir", dir, "--from", "2026-01-01T00:00:05Z", "--limit", "2", "-o", "tsv", "--query", "[].keyName")
	if code != 0 || strings.Fields(out)[0] != "k5" || len(strings.Fields(out)) != 2 {
		t.Errorf("query --from --limit 2 = %d %q, want k5 k6", code, out)
	}
	if code, out := runCLI("audit", "query", "--dir", dir, "--since", "soon"); code != exitUsage {
		t.Errorf("query --since soon = %d %q, want usage error", code, out)
	}
}
