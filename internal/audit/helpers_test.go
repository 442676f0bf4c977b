package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is a fixed checkpoint key per log, so tests can verify.
func testKey(pool string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("coffer audit test key " + LogDirName(pool)))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testSigner(pool string) (ed25519.PrivateKey, error) { return testKey(pool), nil }

func testPub(pool string) ed25519.PublicKey { return testKey(pool).Public().(ed25519.PublicKey) }

// syncBuffer collects the server log so tests can check it was loud.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// faultFS opens real files through hooks that can fail, stall and count.
type faultFS struct {
	mu        sync.Mutex
	writeErr  error // writes fail with this after writing half their bytes
	syncErr   error
	truncErr  error
	openErr   error
	syncDelay time.Duration
	stall     chan struct{} // when set, Sync of an events file waits for it to close

	eventSyncs atomic.Int64 // fsyncs of events files
}

func (f *faultFS) set(fn func(*faultFS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *faultFS) get() faultFS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return faultFS{writeErr: f.writeErr, syncErr: f.syncErr, truncErr: f.truncErr, openErr: f.openErr, syncDelay: f.syncDelay, stall: f.stall}
}

func (f *faultFS) hooks() fsHooks {
	return fsHooks{open: func(name string, flag int, perm fs.FileMode) (logFile, error) {
		if err := f.get().openErr; err != nil && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		file, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		_, isEvents := parseEventsFileName(filepath.Base(name))
		return &faultFile{File: file, fs: f, events: isEvents}, nil
	}}
}

type faultFile struct {
	*os.File
	fs     *faultFS
	events bool
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.get().writeErr; err != nil {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	st := f.fs.get()
	if f.events {
		if st.stall != nil {
			<-st.stall
		}
		time.Sleep(st.syncDelay)
	}
	if st.syncErr != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: st.syncErr}
	}
	if f.events {
		f.fs.eventSyncs.Add(1)
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.get().truncErr; err != nil {
		return &fs.PathError{Op: "truncate", Path: f.Name(), Err: err}
	}
	return f.File.Truncate(size)
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTest opens a Manager on cfg with test defaults filled in (a temp
// dir, the test signer, a captured log) and closes it at cleanup.
func openTest(t testing.TB, cfg Config) (*Manager, *syncBuffer) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Signer == nil {
		cfg.Signer = testSigner
	}
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v) error = %v", cfg, err)
	}
	t.Cleanup(func() { m.Close() })
	return m, logs
}

// testEvent is a plausible request event.
func testEvent(pool string, i int) *Event {
	return &Event{
		Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Pool: pool, OperationName: "KeySign", OperationVersion: "7.6",
		ResultType: ResultSuccess, ResultSignature: "OK", HTTPStatusCode: 200, DurationMs: 1,
		CallerIPAddress: "10.0.0.1", Identity: &Identity{TenantID: "t1", ObjectID: "oid-1", UPN: "alice@example.test"},
		RequestID: fmt.Sprintf("req-%04d", i), RequestURI: "https://p.mhsm.test/keys/k1/sign?api-version=7.6",
		KeyName: "k1", KeyVersion: "v1", Algorithm: "ES256",
	}
}

// appendN appends n events one after another and returns them.
func appendN(t testing.TB, m *Manager, pool string, from, n int) []*Event {
	t.Helper()
	var out []*Event
	for i := from; i < from+n; i++ {
		ev := testEvent(pool, i)
		if err := m.Append(context.Background(), ev); err != nil {
			t.Fatalf("Append(event %d) error = %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

// readLog returns every event of a log directory via Query.
func readLog(t testing.TB, dir string) []*Event {
	t.Helper()
	var out []*Event
	for ev, err := range Query(dir, Filter{}) {
		if err != nil {
			t.Fatalf("Query(%s) error = %v", dir, err)
		}
		out = append(out, ev)
	}
	return out
}

// verifyClean runs Verify and fails unless the log is clean.
func verifyClean(t testing.TB, dir, pool string) *Report {
	t.Helper()
	rep, err := Verify(dir, testPub(pool))
	if err != nil {
		t.Fatalf("Verify(%s) error = %v", dir, err)
	}
	if rep.FirstBad != nil {
		t.Fatalf("Verify(%s).FirstBad = %v, want nil", dir, rep.FirstBad)
	}
	return rep
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// copyDir copies a log directory (flat) for destructive tests.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

// eventFileNames lists a log's events files.
func eventFileNames(t testing.TB, dir string) []string {
	t.Helper()
	files, err := listEventFiles(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.name)
	}
	return out
}

// fileLines reads a file as lines (without newlines).
func fileLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out [][]byte
	for _, l := range lines {
		if len(l) > 0 {
			out = append(out, bytes.TrimSuffix(l, []byte("\n")))
		}
	}
	return out
}

func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// readCheckpointsFile parses checkpoints.jsonl.
func readCheckpointsFile(t testing.TB, dir string) []*Checkpoint {
	t.Helper()
	var out []*Checkpoint
	path := filepath.Join(dir, checkpointsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, l := range fileLines(t, path) {
		cp, err := parseCheckpoint(l)
		if err != nil {
			t.Fatalf("parseCheckpoint(%s) error = %v", l, err)
		}
		out = append(out, cp)
	}
	return out
}

func errContains(err error, sub string) bool {
	return err != nil && strings.Contains(err.Error(), sub)
}
