package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/store"
)

// Run checks every clause of the store.Store contract. Each check runs as
// a subtest on a fresh, empty store made by open, which the suite closes.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"List", testList},
		{"ListByteOrder", testListByteOrder},
		{"ForEach", testForEach},
		{"ReadYourWrites", testReadYourWrites},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"InvalidPaths", testInvalidPaths},
		{"ReturnedSlicesAreCopies", testReturnedCopies},
		{"InputSlicesAreCopied", testInputCopies},
		{"EmptyValues", testEmptyValues},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"IsolationInFlight", testIsolationInFlight},
		{"IsolationUnderLoad", testIsolationUnderLoad},
		{"CancelledContext", testCancelledContext},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if tc.name != "Close" { // testClose closes the store itself
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Errorf("Close() error = %v", err)
					}
				})
			}
			tc.fn(t, s)
		})
	}
}

// RunDurable checks that committed data survives closing and reopening a
// persistent store, and that rolled-back data does not. open must open (or
// create) the store kept in dir.
func RunDurable(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	t.Helper()
	dir := t.TempDir()
	want := map[string]string{}

	s := open(t, dir)
	large := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, spans many pages
	mustUpdate(t, s, func(tx store.Tx) error {
		for k, v := range map[string]string{
			"a/1": "one", "a/2": "two", "a/3": "three", "b/large": large, "b/empty": "", "c/\x00\xff": "binary path",
		} {
			if err := tx.Put(k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	maps.Copy(want, map[string]string{"a/1": "one", "a/3": "three", "b/large": large, "b/empty": "", "c/\x00\xff": "binary path"})
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Delete("a/2"); err != nil {
			return err
		}
		return tx.Put("a/3", []byte("three, rewritten"))
	})
	want["a/3"] = "three, rewritten"
	rollback := errors.New("roll back")
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Put("a/rolled-back", []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete("a/1"); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatalf("Update(failing fn) error = %v, want %v", err, rollback)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}

	s = open(t, dir)
	if got := dump(t, s, ""); !maps.Equal(got, want) {
		t.Fatalf("after reopen the store holds %s, want %s", describe(got), describe(want))
	}
	// The reopened store takes writes, and those survive a second reopen.
	put(t, s, "d/after-reopen", "yes")
	want["d/after-reopen"] = "yes"
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, dir)
	defer s.Close()
	if got := dump(t, s, ""); !maps.Equal(got, want) {
		t.Fatalf("after a second reopen the store holds %s, want %s", describe(got), describe(want))
	}
}

// describe summarises a dump without printing megabyte values.
func describe(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if len(v) > 40 {
			v = fmt.Sprintf("%.20s… (%d bytes)", v, len(v))
		}
		fmt.Fprintf(&b, "%q=%q ", k, v)
	}
	return "{" + strings.TrimSpace(b.String()) + "}"
}

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update() error = %v", err)
	}
}

func mustView(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View() error = %v", err)
	}
}

func put(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put(k, []byte(v)) })
}

func getErr(ctx context.Context, s store.Store, k string) ([]byte, error) {
	var out []byte
	err := s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get(k)
		out = v
		return err
	})
	return out, err
}

func get(t *testing.T, s store.Store, k string) string {
	t.Helper()
	v, err := getErr(t.Context(), s, k)
	if err != nil {
		t.Fatalf("Get(%q) error = %v", k, err)
	}
	return string(v)
}

func wantNotFound(t *testing.T, s store.Store, k string) {
	t.Helper()
	if v, err := getErr(t.Context(), s, k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v, want ErrNotFound", k, v, err)
	}
}

func list(t *testing.T, s store.Store, prefix, after string, limit int) []string {
	t.Helper()
	var out []string
	mustView(t, s, func(tx store.Tx) error {
		var err error
		out, err = tx.List(prefix, after, limit)
		return err
	})
	return out
}

// dump returns every record under prefix, read with ForEach.
func dump(t *testing.T, s store.Store, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	mustView(t, s, func(tx store.Tx) error {
		return tx.ForEach(prefix, func(k string, v []byte) error {
			if _, dup := out[k]; dup {
				return fmt.Errorf("ForEach visited %q twice", k)
			}
			out[k] = string(v)
			return nil
		})
	})
	return out
}

func testGetPutDelete(t *testing.T, s store.Store) {
	wantNotFound(t, s, "k")
	put(t, s, "k", "v1")
	if got := get(t, s, "k"); got != "v1" {
		t.Errorf("Get(k) = %q, want v1", got)
	}
	put(t, s, "k", "v2")
	if got := get(t, s, "k"); got != "v2" {
		t.Errorf("Get(k) after overwrite = %q, want v2", got)
	}
	put(t, s, "k/child", "c")
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("k") })
	wantNotFound(t, s, "k")
	if got := get(t, s, "k/child"); got != "c" {
		t.Errorf("Get(k/child) after Delete(k) = %q, want c", got)
	}
	// Deleting an absent path is not an error.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("never-existed") })
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("k") })
	// Get of a path that is only a prefix of stored paths finds nothing.
	wantNotFound(t, s, "k/")
}

func testList(t *testing.T, s store.Store) {
	for _, k := range []string{"b/2", "a/1", "b/10", "b/1", "c", "b/\xff", "ba", "b"} {
		put(t, s, k, "x")
	}
	tests := []struct {
		name          string
		prefix, after string
		limit         int
		want          []string
	}{
		{"prefix", "b/", "", 0, []string{"b/1", "b/10", "b/2", "b/\xff"}},
		{"prefix without slash", "b", "", 0, []string{"b", "b/1", "b/10", "b/2", "b/\xff", "ba"}},
		{"everything", "", "", 0, []string{"a/1", "b", "b/1", "b/10", "b/2", "b/\xff", "ba", "c"}},
		{"negative limit", "", "", -1, []string{"a/1", "b", "b/1", "b/10", "b/2", "b/\xff", "ba", "c"}},
		{"after an existing path", "b/", "b/10", 0, []string{"b/2", "b/\xff"}},
		{"after a missing path", "b/", "b/15", 0, []string{"b/2", "b/\xff"}},
		{"after sorts before prefix", "b/", "a", 0, []string{"b/1", "b/10", "b/2", "b/\xff"}},
		{"after equals prefix", "b/", "b/", 0, []string{"b/1", "b/10", "b/2", "b/\xff"}},
		{"after equals prefix and a path", "b", "b", 0, []string{"b/1", "b/10", "b/2", "b/\xff", "ba"}},
		{"after sorts past prefix", "b/", "bz", 0, nil},
		{"after the last", "b/", "b/\xff", 0, nil},
		{"limit", "b/", "", 2, []string{"b/1", "b/10"}},
		{"limit after", "b/", "b/1", 2, []string{"b/10", "b/2"}},
		{"limit larger than result", "b/", "b/2", 10, []string{"b/\xff"}},
		{"limit one, paged", "", "b/2", 1, []string{"b/\xff"}},
		{"no match", "z", "", 0, nil},
		{"exact path as prefix", "c", "", 0, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := list(t, s, tc.prefix, tc.after, tc.limit)
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%q, %q, %d) = %q, want %q", tc.prefix, tc.after, tc.limit, got, tc.want)
			}
		})
	}

	// Paging with limit and after visits every path exactly once.
	want := list(t, s, "", "", 0)
	var paged []string
	for after := ""; len(paged) <= len(want); { // bounded: a store that repeats paths must not loop forever
		page := list(t, s, "", after, 3)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paging List(\"\", after, 3) = %q, want %q", paged, want)
	}
}

// testListByteOrder checks that order is by bytes, never by locale,
// collation or UTF-8 code points.
func testListByteOrder(t *testing.T, s store.Store) {
	keys := []string{"o/a", "o/B", "o/Z", "o/é", "o/\x7f", "o/-", "o/.", "o/0", "o/_", "o/~", "o/ab", "o/a\x00", "o/\xc3", "o/\xf0\x9f\x94\x91"}
	for _, k := range keys {
		put(t, s, k, "x")
	}
	want := slices.Clone(keys)
	slices.Sort(want) // Go compares strings bytewise
	if got := list(t, s, "o/", "", 0); !slices.Equal(got, want) {
		t.Errorf("List(o/) = %q, want %q", got, want)
	}
	var visited []string
	mustView(t, s, func(tx store.Tx) error {
		return tx.ForEach("o/", func(k string, _ []byte) error { visited = append(visited, k); return nil })
	})
	if !slices.Equal(visited, want) {
		t.Errorf("ForEach(o/) visited %q, want %q", visited, want)
	}
}

func testForEach(t *testing.T, s store.Store) {
	for _, k := range []string{"p/b", "p/a", "q/a", "p/c", "p", "pp/a"} {
		put(t, s, k, "v-"+k)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"p/", []string{"p/a", "p/b", "p/c"}},
		{"p", []string{"p", "p/a", "p/b", "p/c", "pp/a"}},
		{"", []string{"p", "p/a", "p/b", "p/c", "pp/a", "q/a"}},
		{"r", nil},
	}
	for _, tc := range tests {
		var seen []string
		mustView(t, s, func(tx store.Tx) error {
			return tx.ForEach(tc.prefix, func(k string, v []byte) error {
				if string(v) != "v-"+k {
					t.Errorf("ForEach(%q) gave %q the value %q, want %q", tc.prefix, k, v, "v-"+k)
				}
				seen = append(seen, k)
				return nil
			})
		})
		if !slices.Equal(seen, tc.want) {
			t.Errorf("ForEach(%q) visited %q, want %q", tc.prefix, seen, tc.want)
		}
	}

	stop := errors.New("stop")
	n := 0
	err := s.View(t.Context(), func(tx store.Tx) error {
		return tx.ForEach("p/", func(string, []byte) error { n++; return stop })
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ForEach with fn failing: View() error = %v after %d calls, want %v after 1", err, n, stop)
	}
}

func testReadYourWrites(t *testing.T, s store.Store) {
	put(t, s, "x/old", "o")
	put(t, s, "x/kept", "k")
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("x/new", []byte("n")); err != nil {
			return err
		}
		if err := tx.Delete("x/old"); err != nil {
			return err
		}
		if err := tx.Put("x/kept", []byte("k2")); err != nil {
			return err
		}
		if v, err := tx.Get("x/new"); err != nil || string(v) != "n" {
			t.Errorf("in Update, Get(x/new) after Put = %q, %v, want n", v, err)
		}
		if v, err := tx.Get("x/kept"); err != nil || string(v) != "k2" {
			t.Errorf("in Update, Get(x/kept) after overwrite = %q, %v, want k2", v, err)
		}
		if v, err := tx.Get("x/old"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("in Update, Get(x/old) after Delete = %q, %v, want ErrNotFound", v, err)
		}
		keys, err := tx.List("x/", "", 0)
		if want := []string{"x/kept", "x/new"}; err != nil || !slices.Equal(keys, want) {
			t.Errorf("in Update, List(x/) = %q, %v, want %q", keys, err, want)
		}
		got := map[string]string{}
		err = tx.ForEach("x/", func(k string, v []byte) error { got[k] = string(v); return nil })
		if want := map[string]string{"x/kept": "k2", "x/new": "n"}; err != nil || !maps.Equal(got, want) {
			t.Errorf("in Update, ForEach(x/) = %v, %v, want %v", got, err, want)
		}
		// Delete then Put again inside one transaction.
		if err := tx.Delete("x/new"); err != nil {
			return err
		}
		if err := tx.Put("x/new", []byte("n2")); err != nil {
			return err
		}
		if v, err := tx.Get("x/new"); err != nil || string(v) != "n2" {
			t.Errorf("in Update, Get(x/new) after Delete and Put = %q, %v, want n2", v, err)
		}
		return nil
	})
	want := map[string]string{"x/kept": "k2", "x/new": "n2"}
	if got := dump(t, s, "x/"); !maps.Equal(got, want) {
		t.Errorf("after Update the store holds %v, want %v", got, want)
	}
}

func testRollbackOnError(t *testing.T, s store.Store) {
	put(t, s, "r/keep", "1")
	put(t, s, "r/change", "1")
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for _, err := range []error{
			tx.Put("r/new", []byte("x")),
			tx.Put("r/change", []byte("2")),
			tx.Delete("r/keep"),
		} {
			if err != nil {
				t.Errorf("in Update: %v", err)
			}
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update(failing fn) error = %v, want %v", err, boom)
	}
	want := map[string]string{"r/keep": "1", "r/change": "1"}
	if got := dump(t, s, "r/"); !maps.Equal(got, want) {
		t.Errorf("after a failed Update the store holds %v, want %v", got, want)
	}
	put(t, s, "r/after", "ok") // the store still takes writes
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	put(t, s, "panic/keep", "1")
	type token struct{}
	func() {
		defer func() {
			if r := recover(); r != (token{}) {
				t.Errorf("recovered %v from Update(panicking fn), want the fn's own panic value", r)
			}
		}()
		s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.Put("panic/x", []byte("x")); err != nil {
				t.Errorf("in Update: %v", err)
			}
			if err := tx.Delete("panic/keep"); err != nil {
				t.Errorf("in Update: %v", err)
			}
			panic(token{})
		})
		t.Error("Update(panicking fn) returned instead of panicking")
	}()
	want := map[string]string{"panic/keep": "1"}
	if got := dump(t, s, "panic/"); !maps.Equal(got, want) {
		t.Errorf("after a panicking Update the store holds %v, want %v", got, want)
	}
	// Neither lock nor transaction is left behind: both kinds still work.
	put(t, s, "after/panic", "ok")
	if got := get(t, s, "after/panic"); got != "ok" {
		t.Errorf("Get(after/panic) = %q, want ok", got)
	}

	// A panic inside View propagates too, and leaves the store usable.
	func() {
		defer func() {
			if r := recover(); r != (token{}) {
				t.Errorf("recovered %v from View(panicking fn), want the fn's own panic value", r)
			}
		}()
		s.View(t.Context(), func(store.Tx) error { panic(token{}) })
	}()
	put(t, s, "after/view-panic", "ok")
}

func testViewIsReadOnly(t *testing.T, s store.Store) {
	put(t, s, "v", "original")
	mustView(t, s, func(tx store.Tx) error {
		if err := tx.Put("v", []byte("x")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("in View, Put(v) error = %v, want ErrReadOnly", err)
		}
		if err := tx.Put("v2", []byte("x")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("in View, Put(v2) error = %v, want ErrReadOnly", err)
		}
		if err := tx.Delete("v"); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("in View, Delete(v) error = %v, want ErrReadOnly", err)
		}
		return nil
	})
	want := map[string]string{"v": "original"}
	if got := dump(t, s, ""); !maps.Equal(got, want) {
		t.Errorf("after a View that tried to write, the store holds %v, want %v", got, want)
	}
}

func testInvalidPaths(t *testing.T, s store.Store) {
	// Wrapping stores (the seal barrier) prefix paths, so the suite asks
	// every store to take 900-byte paths and to refuse ones past the
	// limit, leaving room for a prefix in between.
	tooLong := strings.Repeat("x", store.MaxPathLen+1)
	for _, p := range []string{"", tooLong} {
		mustUpdate(t, s, func(tx store.Tx) error {
			if err := tx.Put(p, []byte("x")); !errors.Is(err, store.ErrInvalidPath) {
				t.Errorf("Put(%d-byte path) error = %v, want ErrInvalidPath", len(p), err)
			}
			if _, err := tx.Get(p); !errors.Is(err, store.ErrInvalidPath) {
				t.Errorf("in Update, Get(%d-byte path) error = %v, want ErrInvalidPath", len(p), err)
			}
			if err := tx.Delete(p); !errors.Is(err, store.ErrInvalidPath) {
				t.Errorf("Delete(%d-byte path) error = %v, want ErrInvalidPath", len(p), err)
			}
			return nil
		})
		mustView(t, s, func(tx store.Tx) error {
			if _, err := tx.Get(p); !errors.Is(err, store.ErrInvalidPath) {
				t.Errorf("in View, Get(%d-byte path) error = %v, want ErrInvalidPath", len(p), err)
			}
			return nil
		})
	}
	// The error reaches the caller of Update when fn passes it on, and
	// nothing the transaction wrote before it is kept.
	err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Put("valid", []byte("x")); err != nil {
			return err
		}
		return tx.Put("", []byte("x"))
	})
	if !errors.Is(err, store.ErrInvalidPath) {
		t.Errorf("Update(fn returning Put's error) error = %v, want ErrInvalidPath", err)
	}
	if got := list(t, s, "", "", 0); len(got) != 0 {
		t.Errorf("after refused paths the store lists %q, want nothing", got)
	}
	long := strings.Repeat("y", 900)
	put(t, s, long, "ok")
	if got := get(t, s, long); got != "ok" {
		t.Errorf("Get(900-byte path) = %q, want ok", got)
	}
}

func testReturnedCopies(t *testing.T, s store.Store) {
	put(t, s, "c/get", "original")
	put(t, s, "c/each", "original")

	out, err := getErr(t.Context(), s, "c/get")
	if err != nil {
		t.Fatal(err)
	}
	clear(out)
	if got := get(t, s, "c/get"); got != "original" {
		t.Errorf("after zeroing the slice Get returned, Get(c/get) = %q, want original", got)
	}

	mustView(t, s, func(tx store.Tx) error {
		return tx.ForEach("c/each", func(_ string, v []byte) error { clear(v); return nil })
	})
	if got := get(t, s, "c/each"); got != "original" {
		t.Errorf("after zeroing the slice ForEach passed, Get(c/each) = %q, want original", got)
	}

	// Inside a write transaction, a returned slice must not alias the
	// pending write either.
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("c/pending", []byte("pending")); err != nil {
			return err
		}
		v, err := tx.Get("c/pending")
		if err != nil {
			return err
		}
		clear(v)
		if v, err := tx.Get("c/pending"); err != nil || string(v) != "pending" {
			t.Errorf("in Update, after zeroing a returned slice, Get(c/pending) = %q, %v, want pending", v, err)
		}
		v, err = tx.Get("c/get")
		if err != nil {
			return err
		}
		clear(v)
		return nil
	})
	want := map[string]string{"c/get": "original", "c/each": "original", "c/pending": "pending"}
	if got := dump(t, s, "c/"); !maps.Equal(got, want) {
		t.Errorf("after mutating returned slices the store holds %v, want %v", got, want)
	}

	// A value kept after its transaction ended is still intact (it must
	// not point into memory the store reuses, such as a memory map).
	kept, err := getErr(t.Context(), s, "c/get")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		put(t, s, "c/get", strings.Repeat(strconv.Itoa(i), 64))
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("c/get") })
	}
	if string(kept) != "original" {
		t.Errorf("a value returned by Get changed after later writes: %q, want original", kept)
	}
}

func testInputCopies(t *testing.T, s store.Store) {
	in := []byte("original")
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("in/during", in); err != nil {
			return err
		}
		copy(in, "XXXXXXXX") // before commit
		if v, err := tx.Get("in/during"); err != nil || string(v) != "original" {
			t.Errorf("in Update, after mutating Put's input, Get(in/during) = %q, %v, want original", v, err)
		}
		return nil
	})
	if got := get(t, s, "in/during"); got != "original" {
		t.Errorf("after mutating Put's input before commit, Get(in/during) = %q, want original", got)
	}

	in2 := []byte("original")
	put(t, s, "in/after", string(in2))
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("in/after", in2) })
	copy(in2, "YYYYYYYY") // after commit
	if got := get(t, s, "in/after"); got != "original" {
		t.Errorf("after mutating Put's input after commit, Get(in/after) = %q, want original", got)
	}
}

func testEmptyValues(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("e/nil", nil); err != nil {
			return err
		}
		if err := tx.Put("e/empty", []byte{}); err != nil {
			return err
		}
		if v, err := tx.Get("e/nil"); err != nil || len(v) != 0 {
			t.Errorf("in Update, Get(e/nil) = %q, %v, want an empty value", v, err)
		}
		return nil
	})
	for _, k := range []string{"e/nil", "e/empty"} {
		if v, err := getErr(t.Context(), s, k); err != nil || len(v) != 0 {
			t.Errorf("Get(%q) = %q, %v, want an empty value and no error", k, v, err)
		}
	}
	if got, want := list(t, s, "e/", "", 0), []string{"e/empty", "e/nil"}; !slices.Equal(got, want) {
		t.Errorf("List(e/) = %q, want %q", got, want)
	}
	want := map[string]string{"e/empty": "", "e/nil": ""}
	if got := dump(t, s, "e/"); !maps.Equal(got, want) {
		t.Errorf("ForEach(e/) found %v, want %v", got, want)
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	put(t, s, "n/counter", "0")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				err := s.Update(t.Context(), func(tx store.Tx) error {
					v, err := tx.Get("n/counter")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(v))
					if err != nil {
						return err
					}
					if err := tx.Put("n/counter", []byte(strconv.Itoa(n+1))); err != nil {
						return err
					}
					// Each worker also leaves its own record, so lost
					// transactions show up even if the counter is right.
					return tx.Put(fmt.Sprintf("n/w%d/%03d", w, i), []byte(strconv.Itoa(n)))
				})
				if err != nil {
					t.Errorf("worker %d: Update() error = %v", w, err)
					return
				}
			}
		})
	}
	// Readers run alongside and must always see a counter that matches
	// the number of worker records.
	for range 2 {
		wg.Go(func() {
			for range 20 {
				err := s.View(t.Context(), func(tx store.Tx) error {
					v, err := tx.Get("n/counter")
					if err != nil {
						return err
					}
					recs, err := tx.List("n/w", "", 0)
					if err != nil {
						return err
					}
					if string(v) != strconv.Itoa(len(recs)) {
						return fmt.Errorf("counter %s beside %d worker records", v, len(recs))
					}
					return nil
				})
				if err != nil {
					t.Errorf("concurrent View: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, want := get(t, s, "n/counter"), strconv.Itoa(workers*each); got != want {
		t.Errorf("Get(n/counter) = %s after %d increments, want %s", got, workers*each, want)
	}
	// The counter values seen are a permutation of 0..N-1: every
	// transaction read the result of the one before it.
	seen := map[string]bool{}
	for _, v := range dump(t, s, "n/w") {
		seen[v] = true
	}
	for i := range workers * each {
		if !seen[strconv.Itoa(i)] {
			t.Errorf("no transaction read the counter at %d: updates interleaved", i)
		}
	}
}

// testIsolationInFlight holds an Update open halfway through its writes
// and reads meanwhile: the reader must see all of it or none of it. A
// backend whose readers wait for the writer (memstore) makes the reader
// block until the Update ends, so the writer gives up waiting after a
// while rather than deadlock.
func testIsolationInFlight(t *testing.T, s store.Store) {
	put(t, s, "iso/a", "old")
	put(t, s, "iso/b", "old")
	var halfway sync.Once
	inside := make(chan struct{})
	readDone := make(chan struct{})
	updated := make(chan error, 1)
	go func() {
		updated <- s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.Put("iso/a", []byte("new")); err != nil {
				return err
			}
			halfway.Do(func() { close(inside) })
			select {
			case <-readDone:
			case <-time.After(200 * time.Millisecond):
			}
			return tx.Put("iso/b", []byte("new"))
		})
	}()
	<-inside
	var a, b []byte
	mustView(t, s, func(tx store.Tx) error {
		var err1, err2 error
		a, err1 = tx.Get("iso/a")
		b, err2 = tx.Get("iso/b")
		return errors.Join(err1, err2)
	})
	close(readDone)
	if !bytes.Equal(a, b) {
		t.Errorf("a View during an Update read iso/a = %q, iso/b = %q: it saw half the Update", a, b)
	}
	if err := <-updated; err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	want := map[string]string{"iso/a": "new", "iso/b": "new"}
	if got := dump(t, s, "iso/"); !maps.Equal(got, want) {
		t.Errorf("after the Update the store holds %v, want %v", got, want)
	}
}

// testIsolationUnderLoad races many Views against a stream of Updates that
// each rewrite several records together.
func testIsolationUnderLoad(t *testing.T, s store.Store) {
	keys := []string{"iso/a", "iso/b", "iso/c"}
	for _, k := range keys {
		put(t, s, k, "0")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= 50; i++ {
			v := []byte(strconv.Itoa(i))
			err := s.Update(t.Context(), func(tx store.Tx) error {
				for _, k := range keys {
					if err := tx.Put(k, v); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("Update() error = %v", err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 50 {
				err := s.View(t.Context(), func(tx store.Tx) error {
					var vals []string
					err := tx.ForEach("iso/", func(_ string, v []byte) error { vals = append(vals, string(v)); return nil })
					if err != nil {
						return err
					}
					if len(vals) != len(keys) || len(slices.Compact(slices.Clone(vals))) != 1 {
						return fmt.Errorf("a View saw %q: part of an Update", vals)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func testCancelledContext(t *testing.T, s store.Store) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			err := s.Update(tc.ctx, func(tx store.Tx) error { ran = true; return tx.Put("ctx", []byte("x")) })
			if !errors.Is(err, tc.want) || ran {
				t.Errorf("Update(%s context) error = %v, fn ran = %v; want %v, fn not run", tc.name, err, ran, tc.want)
			}
			err = s.View(tc.ctx, func(store.Tx) error { ran = true; return nil })
			if !errors.Is(err, tc.want) || ran {
				t.Errorf("View(%s context) error = %v, fn ran = %v; want %v, fn not run", tc.name, err, ran, tc.want)
			}
		})
	}
	wantNotFound(t, s, "ctx")
}

func testClose(t *testing.T, s store.Store) {
	put(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	ran := false
	if err := s.View(t.Context(), func(store.Tx) error { ran = true; return nil }); !errors.Is(err, store.ErrClosed) || ran {
		t.Errorf("View() after Close error = %v, fn ran = %v; want ErrClosed, fn not run", err, ran)
	}
	if err := s.Update(t.Context(), func(store.Tx) error { ran = true; return nil }); !errors.Is(err, store.ErrClosed) || ran {
		t.Errorf("Update() after Close error = %v, fn ran = %v; want ErrClosed, fn not run", err, ran)
	}
}
