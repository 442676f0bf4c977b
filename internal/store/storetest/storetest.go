// Package storetest is the conformance suite of the store.Store contract.
// Every backend's tests call Run (and RunDurable for persistent backends),
// so each clause of the contract is checked the same way everywhere.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cofferkms/coffer/internal/store"
)

// Run checks every clause of the store.Store contract on fresh stores made
// by open. The store is closed by the suite.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"List", testList},
		{"ForEach", testForEach},
		{"ReadYourWrites", testReadYourWrites},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"InvalidPaths", testInvalidPaths},
		{"Copies", testCopies},
		{"EmptyValues", testEmptyValues},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Isolation", testIsolation},
		{"CancelledContext", testCancelledContext},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			if c.name != "Close" {
				defer s.Close()
			}
			c.fn(t, s)
		})
	}
}

// RunDurable checks that data survives closing and reopening a persistent
// store in dir.
func RunDurable(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, "a/1", "one")
	put(t, s, "a/2", "two")
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("a/2") })
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, dir)
	defer s.Close()
	if got := get(t, s, "a/1"); got != "one" {
		t.Errorf("after reopen Get(a/1) = %q, want one", got)
	}
	if _, err := getErr(s, "a/2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reopen Get(a/2) error = %v, want ErrNotFound", err)
	}
}

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update() error = %v", err)
	}
}

func put(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put(k, []byte(v)) })
}

func getErr(s store.Store, k string) ([]byte, error) {
	var out []byte
	err := s.View(context.Background(), func(tx store.Tx) error {
		v, err := tx.Get(k)
		out = v
		return err
	})
	return out, err
}

func get(t *testing.T, s store.Store, k string) string {
	t.Helper()
	v, err := getErr(s, k)
	if err != nil {
		t.Fatalf("Get(%q) error = %v", k, err)
	}
	return string(v)
}

func list(t *testing.T, s store.Store, prefix, after string, limit int) []string {
	t.Helper()
	var out []string
	err := s.View(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.List(prefix, after, limit)
		return err
	})
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	return out
}

func testGetPutDelete(t *testing.T, s store.Store) {
	if _, err := getErr(s, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
	put(t, s, "k", "v1")
	put(t, s, "k", "v2")
	if got := get(t, s, "k"); got != "v2" {
		t.Fatalf("Get(k) = %q, want v2", got)
	}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("k") })
	if _, err := getErr(s, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(deleted) error = %v, want ErrNotFound", err)
	}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("never-existed") })
}

func testList(t *testing.T, s store.Store) {
	for _, k := range []string{"b/2", "a/1", "b/10", "b/1", "c", "b/\xff", "ba"} {
		put(t, s, k, "x")
	}
	tests := []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"b/", "", 0, []string{"b/1", "b/10", "b/2", "b/\xff"}},
		{"b/", "b/10", 0, []string{"b/2", "b/\xff"}},
		{"b/", "", 2, []string{"b/1", "b/10"}},
		{"b/", "b/1", 2, []string{"b/10", "b/2"}},
		{"", "", 0, []string{"a/1", "b/1", "b/10", "b/2", "b/\xff", "ba", "c"}},
		{"z", "", 0, nil},
		{"b/", "b/\xff", 0, nil},
	}
	for _, tc := range tests {
		got := list(t, s, tc.prefix, tc.after, tc.limit)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("List(%q, %q, %d) = %q, want %q", tc.prefix, tc.after, tc.limit, got, tc.want)
		}
	}
}

func testForEach(t *testing.T, s store.Store) {
	for _, k := range []string{"p/b", "p/a", "q/a", "p/c"} {
		put(t, s, k, "v-"+k)
	}
	var seen []string
	err := s.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEach("p/", func(k string, v []byte) error {
			if string(v) != "v-"+k {
				return fmt.Errorf("value of %s = %q", k, v)
			}
			seen = append(seen, k)
			return nil
		})
	})
	if err != nil || strings.Join(seen, ",") != "p/a,p/b,p/c" {
		t.Fatalf("ForEach = %v, %v; want p/a,p/b,p/c in order", seen, err)
	}
	stop := errors.New("stop")
	n := 0
	err = s.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEach("p/", func(string, []byte) error { n++; return stop })
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ForEach stopping: err = %v after %d calls, want stop after 1", err, n)
	}
}

func testReadYourWrites(t *testing.T, s store.Store) {
	put(t, s, "x/old", "o")
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.Put("x/new", []byte("n")); err != nil {
			return err
		}
		if err := tx.Delete("x/old"); err != nil {
			return err
		}
		if v, err := tx.Get("x/new"); err != nil || string(v) != "n" {
			return fmt.Errorf("get of own write = %q, %v", v, err)
		}
		if _, err := tx.Get("x/old"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get of own delete: error = %v", err)
		}
		keys, err := tx.List("x/", "", 0)
		if err != nil || strings.Join(keys, ",") != "x/new" {
			return fmt.Errorf("list inside the transaction = %v, %v", keys, err)
		}
		return nil
	})
}

func testRollbackOnError(t *testing.T, s store.Store) {
	put(t, s, "r/keep", "1")
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx store.Tx) error {
		tx.Put("r/new", []byte("x"))
		tx.Delete("r/keep")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update() error = %v, want boom", err)
	}
	if _, err := getErr(s, "r/new"); !errors.Is(err, store.ErrNotFound) {
		t.Error("a write of a failed transaction is visible")
	}
	if get(t, s, "r/keep") != "1" {
		t.Error("a delete of a failed transaction is visible")
	}
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not propagate")
			}
		}()
		s.Update(context.Background(), func(tx store.Tx) error {
			tx.Put("panic/x", []byte("x"))
			panic("boom")
		})
	}()
	if _, err := getErr(s, "panic/x"); !errors.Is(err, store.ErrNotFound) {
		t.Error("a write of a panicking transaction is visible")
	}
	put(t, s, "after/panic", "ok") // the store still works
}

func testViewIsReadOnly(t *testing.T, s store.Store) {
	err := s.View(context.Background(), func(tx store.Tx) error {
		if err := tx.Put("v", []byte("x")); !errors.Is(err, store.ErrReadOnly) {
			return fmt.Errorf("put in a View: error = %v", err)
		}
		if err := tx.Delete("v"); !errors.Is(err, store.ErrReadOnly) {
			return fmt.Errorf("delete in a View: error = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testInvalidPaths(t *testing.T, s store.Store) {
	// Wrapping stores (the seal barrier) prefix paths, so the suite asks
	// every store to take 900-byte paths and to refuse ones far past the
	// limit, leaving room for a prefix in between.
	long := strings.Repeat("x", 2*store.MaxPathLen)
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for _, p := range []string{"", long} {
			if err := tx.Put(p, []byte("x")); !errors.Is(err, store.ErrInvalidPath) {
				return fmt.Errorf("put of a %d-byte path: error = %v", len(p), err)
			}
			if _, err := tx.Get(p); !errors.Is(err, store.ErrInvalidPath) {
				return fmt.Errorf("get of a %d-byte path: error = %v", len(p), err)
			}
		}
		return tx.Put(strings.Repeat("y", 900), []byte("ok"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testCopies(t *testing.T, s store.Store) {
	in := []byte("original")
	mustUpdate(t, s, func(tx store.Tx) error {
		err := tx.Put("c", in)
		in[0] = 'X'
		return err
	})
	out, _ := getErr(s, "c")
	if string(out) != "original" {
		t.Fatalf("mutating the Put input changed the store: %q", out)
	}
	out[0] = 'Y'
	if get(t, s, "c") != "original" {
		t.Fatal("mutating a returned value changed the store")
	}
}

func testEmptyValues(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("empty", nil) })
	v, err := getErr(s, "empty")
	if err != nil || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want empty value", v, err)
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	put(t, s, "counter", "0")
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := s.Update(context.Background(), func(tx store.Tx) error {
					v, err := tx.Get("counter")
					if err != nil {
						return err
					}
					var n int
					fmt.Sscan(string(v), &n)
					return tx.Put("counter", []byte(fmt.Sprint(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := get(t, s, "counter"); got != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s after %d increments: updates were lost", got, workers*each)
	}
}

func testIsolation(t *testing.T, s store.Store) {
	put(t, s, "iso/a", "1")
	put(t, s, "iso/b", "1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 2; i < 50; i++ {
			v := []byte(fmt.Sprint(i))
			s.Update(context.Background(), func(tx store.Tx) error {
				if err := tx.Put("iso/a", v); err != nil {
					return err
				}
				return tx.Put("iso/b", v)
			})
		}
	}()
	for i := 0; i < 50; i++ {
		err := s.View(context.Background(), func(tx store.Tx) error {
			a, err1 := tx.Get("iso/a")
			b, err2 := tx.Get("iso/b")
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if !bytes.Equal(a, b) {
				return fmt.Errorf("a View saw half an Update: a=%s b=%s", a, b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

func testCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := s.Update(ctx, func(store.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("Update(cancelled) error = %v, ran = %v", err, ran)
	}
	if err := s.View(ctx, func(store.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("View(cancelled) error = %v, ran = %v", err, ran)
	}
}

func testClose(t *testing.T, s store.Store) {
	put(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if err := s.View(context.Background(), func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close error = %v, want ErrClosed", err)
	}
	if err := s.Update(context.Background(), func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close error = %v, want ErrClosed", err)
	}
}
