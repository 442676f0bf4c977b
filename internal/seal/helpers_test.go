package seal

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/boltstore"
	"github.com/cofferkms/coffer/internal/store/memstore"
)

func newFileSeal(t testing.TB) *FileSeal {
	t.Helper()
	s, err := OpenFileSeal(filepath.Join(t.TempDir(), "seal.key"), true)
	if err != nil {
		t.Fatalf("OpenFileSeal() error = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backends are the stores the domain tests run over. Each open returns a
// fresh store that is closed when the test ends.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memstore", func(t *testing.T) store.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"boltstore", func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "coffer.db"), boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatalf("boltstore.Open() error = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func mustCreate(t *testing.T, st store.Store, ns NodeSeal, root string) *Domain {
	t.Helper()
	d, err := CreateDomain(t.Context(), st, ns, root, keymat.Secret{})
	if err != nil {
		t.Fatalf("CreateDomain(%q) error = %v", root, err)
	}
	return d
}

func mustOpen(t *testing.T, st store.Store, ns NodeSeal, root string) *Domain {
	t.Helper()
	d, err := OpenDomain(t.Context(), st, ns, root)
	if err != nil {
		t.Fatalf("OpenDomain(%q) error = %v", root, err)
	}
	return d
}

func put(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Put(k, []byte(v)) }); err != nil {
		t.Fatalf("Put(%q) error = %v", k, err)
	}
}

func get(ctx context.Context, s store.Store, k string) (string, error) {
	var out []byte
	err := s.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.Get(k)
		return err
	})
	return string(out), err
}

func mustGet(t *testing.T, s store.Store, k string) string {
	t.Helper()
	v, err := get(t.Context(), s, k)
	if err != nil {
		t.Fatalf("Get(%q) error = %v", k, err)
	}
	return v
}

func rawGet(t *testing.T, s store.Store, k string) []byte {
	t.Helper()
	v, err := get(t.Context(), s, k)
	if err != nil {
		t.Fatalf("raw Get(%q) error = %v", k, err)
	}
	return []byte(v)
}

func rawPut(t *testing.T, s store.Store, k string, v []byte) {
	t.Helper()
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Put(k, v) }); err != nil {
		t.Fatalf("raw Put(%q) error = %v", k, err)
	}
}

// rawDump returns every record of the underlying store.
func rawDump(t *testing.T, s store.Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := s.View(t.Context(), func(tx store.Tx) error {
		return tx.ForEach("", func(k string, v []byte) error { out[k] = v; return nil })
	})
	if err != nil {
		t.Fatalf("raw ForEach() error = %v", err)
	}
	return out
}

// faultyStore wraps a store and counts Updates; with failCommit set, each
// Update runs its fn and then fails, as a commit that did not reach the
// disk would, so the inner store rolls the transaction back.
type faultyStore struct {
	store.Store
	updates    int
	failCommit bool
}

var errInjected = errors.New("injected commit failure")

func (f *faultyStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	f.updates++
	if !f.failCommit {
		return f.Store.Update(ctx, fn)
	}
	return f.Store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errInjected
	})
}

// forgetfulSeal is a NodeSeal whose Unwrap returns other bytes than were
// wrapped, as a faulty HSM might.
type forgetfulSeal struct{ NodeSeal }

func (f forgetfulSeal) Unwrap(ctx context.Context, blob, aad []byte) ([]byte, error) {
	b, err := f.NodeSeal.Unwrap(ctx, blob, aad)
	if err == nil && len(b) > 0 {
		b[0] ^= 1
	}
	return b, err
}
