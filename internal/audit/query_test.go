package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// queryLog writes a small varied log and returns its directory.
func queryLog(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, RotateBytes: 1200})
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	evs := []*Event{
		{RequestID: "a", OperationName: "KeyCreate", ResultType: ResultSuccess, HTTPStatusCode: 200, KeyName: "k1", Identity: &Identity{ObjectID: "oid-alice", UPN: "alice@example.test"}, CallerIPAddress: "10.0.0.1"},
		{RequestID: "b", OperationName: "KeySign", ResultType: ResultSuccess, HTTPStatusCode: 200, KeyName: "k1", Identity: &Identity{ObjectID: "oid-app", AppID: "app-1"}, CallerIPAddress: "10.0.0.2"},
		{RequestID: "c", OperationName: "KeySign", ResultType: ResultFailure, HTTPStatusCode: 403, KeyName: "k2", Identity: &Identity{ObjectID: "oid-bob"}, CallerIPAddress: "10.0.0.3"},
		{RequestID: "d", OperationName: "Authentication", ResultType: ResultFailure, HTTPStatusCode: 401, CallerIPAddress: "10.0.0.3"},
		{RequestID: "e", OperationName: "KeyPurge", ResultType: ResultSuccess, HTTPStatusCode: 204, KeyName: "k2", Identity: &Identity{ObjectID: "oid-alice", UPN: "alice@example.test"}, CallerIPAddress: "10.0.0.1"},
	}
	for i, ev := range evs {
		ev.Pool = "p1"
		ev.Time = t0.Add(time.Duration(i) * time.Hour)
		if err := m.Append(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	dir := LogDir(root, "p1")
	if n := len(eventFileNames(t, dir)); n < 2 {
		t.Fatalf("query log has %d files, want several", n)
	}
	return dir
}

func requestIDs(t *testing.T, seq func(func(*Event, error) bool)) []string {
	t.Helper()
	var out []string
	for ev, err := range seq {
		if err != nil {
			t.Fatalf("Query() error = %v", err)
		}
		out = append(out, ev.RequestID)
	}
	return out
}

func TestQueryFilters(t *testing.T) {
	dir := queryLog(t)
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{name: "everything", f: Filter{}, want: []string{"a", "b", "c", "d", "e"}},
		{name: "from", f: Filter{From: t0.Add(2 * time.Hour)}, want: []string{"c", "d", "e"}},
		{name: "to is exclusive", f: Filter{To: t0.Add(2 * time.Hour)}, want: []string{"a", "b"}},
		{name: "window", f: Filter{From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)}, want: []string{"b", "c"}},
		{name: "principal by object id", f: Filter{Principal: "oid-alice"}, want: []string{"a", "e"}},
		{name: "principal by upn, any case", f: Filter{Principal: "ALICE@example.test"}, want: []string{"a", "e"}},
		{name: "principal by app id", f: Filter{Principal: "app-1"}, want: []string{"b"}},
		{name: "operation, any case", f: Filter{Operation: "keysign"}, want: []string{"b", "c"}},
		{name: "failures", f: Filter{Result: "failure"}, want: []string{"c", "d"}},
		{name: "key", f: Filter{Key: "k2"}, want: []string{"c", "e"}},
		{name: "ip", f: Filter{IP: "10.0.0.3"}, want: []string{"c", "d"}},
		{name: "request id", f: Filter{RequestID: "d"}, want: []string{"d"}},
		{name: "combined", f: Filter{Key: "k1", Result: "Success", Principal: "oid-app"}, want: []string{"b"}},
		{name: "nothing", f: Filter{Key: "absent"}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := requestIDs(t, Query(dir, tc.f))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Query(%+v) mismatch (-want +got):\n%s", tc.f, diff)
			}
		})
	}
}

func TestQueryReportsMalformedLines(t *testing.T) {
	dir := queryLog(t)
	first := filepath.Join(dir, eventFileNames(t, dir)[0])
	lines := fileLines(t, first)
	lines = append(lines[:1], append([][]byte{[]byte("not an event")}, lines[1:]...)...)
	writeLines(t, first, lines)
	var ids []string
	var errs []error
	for ev, err := range Query(dir, Filter{}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, ev.RequestID)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), ":2:") || len(ids) != 5 {
		t.Errorf("Query(one bad line) = %v and errors %v, want all 5 events and one error at line 2", ids, errs)
	}
}

func TestQueryStopsWhenAsked(t *testing.T) {
	dir := queryLog(t)
	n := 0
	for range Query(dir, Filter{}) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("Query() yielded %d events after break at 2", n)
	}
}

// collect runs Tail in the background and returns its output channel.
func collect(t *testing.T, ctx context.Context, dir string, opt TailOptions) <-chan string {
	t.Helper()
	out := make(chan string, 100)
	go func() {
		defer close(out)
		for ev, err := range Tail(ctx, dir, opt) {
			if err != nil {
				out <- "error: " + err.Error()
				continue
			}
			out <- fmt.Sprintf("%d %s", ev.Seq, ev.RequestID)
		}
	}()
	return out
}

func take(t *testing.T, ch <-chan string, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case s, ok := <-ch:
			if !ok {
				t.Fatalf("Tail ended after %v, want %d items", got, n)
			}
			got = append(got, s)
		case <-timeout:
			t.Fatalf("Tail gave %v, want %d items", got, n)
		}
	}
	return got
}

func TestTailFollowsAcrossRotation(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, RotateBytes: 1200})
	appendN(t, m, "p1", 1, 2)
	dir := LogDir(root, "p1")
	ctx, cancel := context.WithCancel(t.Context())
	ch := collect(t, ctx, dir, TailOptions{Poll: 5 * time.Millisecond})
	if got := take(t, ch, 2); !cmp.Equal(got, []string{"1 req-0001", "2 req-0002"}) {
		t.Errorf("Tail() start = %v, want the existing events", got)
	}
	appendN(t, m, "p1", 3, 8)
	var want []string
	for i := 3; i <= 10; i++ {
		want = append(want, fmt.Sprintf("%d req-%04d", i, i))
	}
	if diff := cmp.Diff(want, take(t, ch, 8)); diff != "" {
		t.Errorf("Tail() new events mismatch (-want +got):\n%s", diff)
	}
	if n := len(eventFileNames(t, dir)); n < 3 {
		t.Errorf("only %d files: the test did not cross a rotation", n)
	}
	cancel()
	for s := range ch {
		t.Errorf("Tail() after cancel yielded %q", s)
	}
}

func TestTailStartPoints(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, RotateBytes: 1200})
	appendN(t, m, "p1", 1, 5)
	dir := LogDir(root, "p1")
	tests := []struct {
		name string
		opt  TailOptions
		want []string
	}{
		{name: "after seq 3", opt: TailOptions{After: 3}, want: []string{"4 req-0004", "5 req-0005"}},
		{name: "from the end", opt: TailOptions{FromEnd: true}, want: []string{"6 req-0006"}},
		{name: "filtered", opt: TailOptions{Filter: Filter{RequestID: "req-0002"}}, want: []string{"2 req-0002"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tc.opt.Poll = 5 * time.Millisecond
			ch := collect(t, ctx, dir, tc.opt)
			if tc.opt.FromEnd {
				time.Sleep(50 * time.Millisecond) // let it find the end first
				appendN(t, m, "p1", 6, 1)
			}
			if diff := cmp.Diff(tc.want, take(t, ch, len(tc.want))); diff != "" {
				t.Errorf("Tail(%+v) mismatch (-want +got):\n%s", tc.opt, diff)
			}
		})
	}
}

func TestTailReportsBrokenChain(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	appendN(t, m, "p1", 1, 3)
	m.Close()
	dir := LogDir(root, "p1")
	path := filepath.Join(dir, eventFileNames(t, dir)[0])
	lines := fileLines(t, path)
	writeLines(t, path, [][]byte{lines[0], lines[2]}) // seq 2 removed
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := take(t, collect(t, ctx, dir, TailOptions{Poll: 5 * time.Millisecond}), 3)
	if got[0] != "1 req-0001" || !strings.HasPrefix(got[1], "error: ") || !strings.Contains(got[1], "does not follow") || got[2] != "3 req-0003" {
		t.Errorf("Tail(seq 2 removed) = %v, want seq 1, an error, seq 3", got)
	}
	os.Remove(path)
}

func TestParseEvent(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	want := appendN(t, m, "p1", 1, 1)[0]
	m.Close()
	dir := LogDir(root, "p1")
	line := fileLines(t, filepath.Join(dir, eventFileNames(t, dir)[0]))[0]
	got, err := ParseEvent(line)
	if err != nil {
		t.Fatalf("ParseEvent() error = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseEvent() mismatch (-want +got):\n%s", diff)
	}
	if _, err := ParseEvent([]byte(`{"seq":1}`)); err == nil {
		t.Errorf("ParseEvent(no chain members) error = nil, want an error")
	}
}
