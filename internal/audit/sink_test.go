package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// receiver is a webhook endpoint that records what it is sent.
type receiver struct {
	mu      sync.Mutex
	batches [][]json.RawMessage
	calls   atomic.Int64
	// status answers call n (1-based); nil means 200.
	status func(n int64) int
	block  chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := rc.calls.Add(1)
	if rc.block != nil {
		select {
		case <-rc.block:
		case <-r.Context().Done():
			return
		}
	}
	if rc.status != nil {
		if code := rc.status(n); code != 200 {
			w.WriteHeader(code)
			return
		}
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Splunk secret-hec" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var batch []json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.batches = append(rc.batches, batch)
	rc.mu.Unlock()
}

func (rc *receiver) items() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, b := range rc.batches {
		for _, it := range b {
			out = append(out, string(it))
		}
	}
	return out
}

func newWebhook(t *testing.T, rc *receiver, cfg WebhookConfig) (*WebhookSink, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	if cfg.URL == "" {
		cfg.URL = srv.URL + "/hook"
	}
	cfg.Header = http.Header{"Authorization": {"Splunk secret-hec"}}
	w, err := NewWebhookSink(cfg)
	if err != nil {
		t.Fatalf("NewWebhookSink() error = %v", err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w, srv
}

func items(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	return out
}

func TestWebhookBatching(t *testing.T) {
	rc := &receiver{}
	w, _ := newWebhook(t, rc, WebhookConfig{BatchSize: 10, FlushEvery: 20 * time.Millisecond})
	want := items(25)
	for _, it := range want {
		if !w.Offer(it) {
			t.Fatalf("Offer() = false, want true")
		}
	}
	waitFor(t, "25 items delivered", func() bool { return w.Stats().Delivered == 25 })
	var wantS []string
	for _, it := range want {
		wantS = append(wantS, string(it))
	}
	if diff := cmp.Diff(wantS, rc.items()); diff != "" {
		t.Errorf("delivered items mismatch (-want +got):\n%s", diff)
	}
	rc.mu.Lock()
	for _, b := range rc.batches {
		if len(b) > 10 {
			t.Errorf("batch of %d items, want at most 10", len(b))
		}
	}
	nb := len(rc.batches)
	rc.mu.Unlock()
	if nb < 3 {
		t.Errorf("%d batches for 25 items, want at least 3", nb)
	}
	if st := w.Stats(); st.Delivered != 25 || st.Dropped != 0 {
		t.Errorf("Stats() = %+v, want 25 delivered, none dropped", st)
	}
}

func TestWebhookRetriesServerErrors(t *testing.T) {
	rc := &receiver{status: func(n int64) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return 200
	}}
	w, _ := newWebhook(t, rc, WebhookConfig{BatchSize: 3, FlushEvery: 10 * time.Millisecond, Backoff: time.Millisecond})
	for _, it := range items(3) {
		w.Offer(it)
	}
	waitFor(t, "delivery after retries", func() bool { return w.Stats().Delivered == 3 })
	if n := rc.calls.Load(); n != 3 {
		t.Errorf("receiver called %d times, want 3 (two 500s, then success)", n)
	}
	if st := w.Stats(); st.Dropped != 0 || st.Delivered != 3 || !strings.Contains(st.LastErr, "500") {
		t.Errorf("Stats() = %+v, want 3 delivered after a 500", st)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		retries   int
		wantCalls int64
	}{
		{name: "server error, retries exhausted", status: http.StatusServiceUnavailable, retries: 2, wantCalls: 3},
		{name: "client error, not retried", status: http.StatusBadRequest, retries: 5, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{status: func(int64) int { return tc.status }}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			w, err := NewWebhookSink(WebhookConfig{URL: srv.URL + "/hook?token=query-secret", BatchSize: 2, FlushEvery: 10 * time.Millisecond,
				Retries: tc.retries, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			w.Offer([]byte(`{"a":1}`))
			w.Offer([]byte(`{"a":2}`))
			waitFor(t, "the batch to be dropped", func() bool { return w.Stats().Dropped == 2 })
			if n := rc.calls.Load(); n != tc.wantCalls {
				t.Errorf("receiver called %d times, want %d", n, tc.wantCalls)
			}
			st := w.Stats()
			if !strings.Contains(st.LastErr, fmt.Sprint(tc.status)) || strings.Contains(st.LastErr, "query-secret") || st.LastDrop.IsZero() {
				t.Errorf("Stats() = %+v, want the status, no credential, and a drop time", st)
			}
		})
	}
}

func TestWebhookBoundedBuffer(t *testing.T) {
	rc := &receiver{block: make(chan struct{})}
	w, _ := newWebhook(t, rc, WebhookConfig{BatchSize: 1, MaxBuffer: 5, FlushEvery: time.Hour})
	accepted, refused := 0, 0
	for _, it := range items(20) {
		start := time.Now()
		if w.Offer(it) {
			accepted++
		} else {
			refused++
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("Offer() took %v with a stuck receiver, want it not to block", d)
		}
	}
	// One batch in flight, five buffered.
	if refused == 0 || accepted > 6 {
		t.Errorf("accepted %d refused %d of 20 with a buffer of 5, want the rest refused", accepted, refused)
	}
	if st := w.Stats(); st.Dropped != uint64(refused) {
		t.Errorf("Stats().Dropped = %d, want %d", st.Dropped, refused)
	}
	close(rc.block)
	waitFor(t, "the buffer to drain", func() bool { return len(rc.items()) == accepted })
}

func TestWebhookAlertSink(t *testing.T) {
	rc := &receiver{}
	w, _ := newWebhook(t, rc, WebhookConfig{BatchSize: 1, FlushEvery: 10 * time.Millisecond})
	a, err := NewAlerts(AlertsConfig{Rules: []Rule{{Name: "bg", Kind: RuleBreakGlass}}, Sinks: []AlertSink{w}})
	if err != nil {
		t.Fatal(err)
	}
	a.Observe(&Event{Time: alertT0, Pool: "p1", OperationName: "KeyList", BreakGlass: true, Identity: &Identity{ObjectID: "ga"}, RequestID: "r1"})
	a.Close(t.Context())
	waitFor(t, "the alert to be posted", func() bool { return len(rc.items()) == 1 })
	var got Alert
	if err := json.Unmarshal([]byte(rc.items()[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := Alert{Rule: "bg", Kind: RuleBreakGlass, Time: alertT0, WindowStart: alertT0, Pool: "p1", Principal: "ga", Operation: "KeyList", Count: 1, SampleRequestIDs: []string{"r1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("posted alert mismatch (-want +got):\n%s", diff)
	}
}

func TestNewWebhookSinkRejects(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "https://", "::"} {
		if w, err := NewWebhookSink(WebhookConfig{URL: u}); err == nil {
			w.Close(context.Background())
			t.Errorf("NewWebhookSink(%q) error = nil, want an error", u)
		}
	}
}

// lockedBuffer is a goroutine-safe io.Writer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWriterSinkCopiesTheLog(t *testing.T) {
	out := &lockedBuffer{}
	ws, err := NewWriterSink(WriterSinkConfig{W: out})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, Sinks: []Sink{ws}})
	appendN(t, m, "p1", 1, 5)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	dir := LogDir(root, "p1")
	var want string
	for _, n := range eventFileNames(t, dir) {
		for _, l := range fileLines(t, dir+"/"+n) {
			want += string(l) + "\n"
		}
	}
	if got := out.String(); got != want {
		t.Errorf("stdout sink wrote\n%s\nwant the log's lines\n%s", got, want)
	}
	if st := ws.Stats(); st.Name != "stdout" || st.Delivered != 5 {
		t.Errorf("Stats() = %+v, want 5 delivered by stdout", st)
	}
}

// stuckWriter blocks every write until released.
type stuckWriter struct{ release chan struct{} }

func (s stuckWriter) Write(p []byte) (int, error) {
	<-s.release
	return len(p), nil
}

func TestManagerReportsSinkDrops(t *testing.T) {
	sw := stuckWriter{make(chan struct{})}
	ws, err := NewWriterSink(WriterSinkConfig{Name: "collector", W: sw, MaxBuffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	m, logs := openTest(t, Config{Sinks: []Sink{ws}})
	start := time.Now()
	appendN(t, m, "p1", 1, 10)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("appends took %v behind a stuck sink, want them not to wait for it", d)
	}
	h := m.Health()
	if !errors.Is(h, ErrSinkDropped) || errors.Is(h, ErrUnavailable) || !errContains(h, "collector") {
		t.Errorf("Health() = %v, want ErrSinkDropped naming the sink, and the log writable", h)
	}
	if !strings.Contains(logs.String(), "dropped events") {
		t.Errorf("server log is not loud about the drops:\n%s", logs)
	}
	close(sw.release)
}

func TestWriterSinkWriteError(t *testing.T) {
	ws, err := NewWriterSink(WriterSinkConfig{W: errWriter{}})
	if err != nil {
		t.Fatal(err)
	}
	ws.Offer([]byte(`{"a":1}`))
	waitFor(t, "the failed write to count", func() bool { return ws.Stats().Dropped == 1 })
	if err := ws.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ws.Offer([]byte(`{"a":2}`)) {
		t.Errorf("Offer(after Close) = true, want false")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
