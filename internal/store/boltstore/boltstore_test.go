package boltstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/storetest"
)

func openTemp(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "coffer.db")
	s, err := Open(p, opts)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", p, err)
	}
	return s, p
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t, Options{})
		return s
	})
}

func TestDurable(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T, dir string) store.Store {
		s, err := Open(filepath.Join(dir, "coffer.db"), Options{})
		if err != nil {
			t.Fatalf("Open() error = %v", err)
		}
		return s
	})
}

func TestFileMode(t *testing.T) {
	s, p := openTemp(t, Options{})
	defer s.Close()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of a new database = %v, want 0600", got)
	}
}

func TestRefusesAccessibleFile(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		wantErr bool
	}{
		{name: "owner only", mode: 0o600},
		{name: "group readable", mode: 0o640, wantErr: true},
		{name: "world readable", mode: 0o644, wantErr: true},
		{name: "group writable", mode: 0o620, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, p := openTemp(t, Options{})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p, Options{Timeout: 100 * time.Millisecond})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open(file with mode %v) error = %v, wantErr %v", tc.mode, err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "chmod 600") {
					t.Errorf("Open(file with mode %v) error = %q, want it to say how to fix the mode", tc.mode, err)
				}
				return
			}
			s.Close()
		})
	}
}

func TestRefusesNonRegularFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, Options{Timeout: 100 * time.Millisecond}); err == nil {
		t.Errorf("Open(a directory) error = nil, want an error")
	}
}

func TestLockedByAnotherOpener(t *testing.T) {
	s, p := openTemp(t, Options{})
	defer s.Close()
	start := time.Now()
	s2, err := Open(p, Options{Timeout: 200 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a locked database error = nil, want an error")
	}
	if !strings.Contains(err.Error(), "locked") {
		t.Errorf("second Open error = %q, want it to say the file is locked", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("second Open gave up after %v, want it to wait about the 200ms timeout", waited)
	}
	// The first opener is unaffected.
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Put("k", []byte("v")) }); err != nil {
		t.Errorf("Update() on the first opener error = %v", err)
	}
	// Once it closes, the lock is free.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(p, Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("Open after the holder closed error = %v", err)
	}
	s3.Close()
}

func TestTxUsedAfterEnd(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	defer s.Close()
	var kept store.Tx
	if err := s.Update(t.Context(), func(tx store.Tx) error { kept = tx; return tx.Put("k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Get("k"); !errors.Is(err, errTxDone) {
		t.Errorf("Get on an ended Tx error = %v, want %v", err, errTxDone)
	}
	if err := kept.Put("k", nil); !errors.Is(err, errTxDone) {
		t.Errorf("Put on an ended Tx error = %v, want %v", err, errTxDone)
	}
	if err := kept.Delete("k"); !errors.Is(err, errTxDone) {
		t.Errorf("Delete on an ended Tx error = %v, want %v", err, errTxDone)
	}
	if _, err := kept.List("", "", 0); !errors.Is(err, errTxDone) {
		t.Errorf("List on an ended Tx error = %v, want %v", err, errTxDone)
	}
	if err := kept.ForEach("", func(string, []byte) error { return nil }); !errors.Is(err, errTxDone) {
		t.Errorf("ForEach on an ended Tx error = %v, want %v", err, errTxDone)
	}
}

// TestCloseWhileReading closes the store while Views run: each View either
// completes or fails with ErrClosed, and nothing crashes.
func TestCloseWhileReading(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Put("k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				err := s.View(context.Background(), func(tx store.Tx) error {
					_, err := tx.Get("k")
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	for range 4 {
		if err := <-errs; !errors.Is(err, store.ErrClosed) {
			t.Errorf("View() racing Close error = %v, want ErrClosed", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() error = %v, want nil", err)
	}
}
