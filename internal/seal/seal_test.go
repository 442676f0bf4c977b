package seal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/boltstore"
	"github.com/cofferkms/coffer/internal/store/memstore"
	"github.com/cofferkms/coffer/internal/store/storetest"
)

var ctx = context.Background()

func fileSeal(t testing.TB) *FileSeal {
	t.Helper()
	s, err := OpenFileSeal(filepath.Join(t.TempDir(), "seal.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type backend struct {
	name string
	open func(t *testing.T) store.Store
}

var backends = []backend{
	{"memstore", func(*testing.T) store.Store { return memstore.New() }},
	{"boltstore", func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "b.db"), boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

func TestBarrierConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				d, err := CreateDomain(ctx, b.open(t), fileSeal(t), "pools/test/", keymat.Secret{})
				if err != nil {
					t.Fatal(err)
				}
				return closingBarrier{d.Store(), d}
			})
		})
	}
}

// closingBarrier makes Close close the underlying store, as the conformance
// suite expects of the store it is given.
type closingBarrier struct {
	store.Store
	d *Domain
}

func (c closingBarrier) Close() error { return c.d.st.Close() }

func put(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(k, []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

func get(s store.Store, k string) (string, error) {
	var out []byte
	err := s.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.Get(k)
		return err
	})
	return string(out), err
}

func TestDomain(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			raw := b.open(t)
			ns := fileSeal(t)
			d, err := CreateDomain(ctx, raw, ns, "pools/a/", keymat.Secret{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := CreateDomain(ctx, raw, ns, "pools/a/", keymat.Secret{}); !errors.Is(err, ErrDomainExists) {
				t.Fatalf("second CreateDomain error = %v, want ErrDomainExists", err)
			}
			marker := "SECRET-MARKER-0123456789"
			put(t, d.Store(), "keys/k1", marker)

			// The raw store never sees the plaintext.
			raw.View(ctx, func(tx store.Tx) error {
				return tx.ForEach("", func(p string, v []byte) error {
					if bytes.Contains(v, []byte(marker)) {
						t.Errorf("raw record %s holds plaintext", p)
					}
					return nil
				})
			})

			// A record moved to another path does not open.
			raw.Update(ctx, func(tx store.Tx) error {
				v, _ := tx.Get("pools/a/d/keys/k1")
				return tx.Put("pools/a/d/keys/k2", v)
			})
			if _, err := get(d.Store(), "keys/k2"); err == nil {
				t.Error("a record copied to another path opened")
			}

			// A record copied into another domain does not open.
			other, err := CreateDomain(ctx, raw, ns, "pools/b/", keymat.Secret{})
			if err != nil {
				t.Fatal(err)
			}
			raw.Update(ctx, func(tx store.Tx) error {
				v, _ := tx.Get("pools/a/d/keys/k1")
				return tx.Put("pools/b/d/keys/k1", v)
			})
			if _, err := get(other.Store(), "keys/k1"); err == nil {
				t.Error("a record copied into another domain opened")
			}

			// Rotation: old records stay readable, new ones use the new key.
			if err := d.RotateDataKey(ctx); err != nil {
				t.Fatal(err)
			}
			put(t, d.Store(), "keys/new", "after rotation")
			var oldID, newID uint32
			raw.View(ctx, func(tx store.Tx) error {
				v1, _ := tx.Get("pools/a/d/keys/k1")
				v2, _ := tx.Get("pools/a/d/keys/new")
				oldID, _ = keyIDOf(v1)
				newID, _ = keyIDOf(v2)
				return nil
			})
			if oldID == newID {
				t.Errorf("records before and after rotation use key %d and %d", oldID, newID)
			}

			// Reopen from the store: same contents.
			d2, err := OpenDomain(ctx, raw, ns, "pools/a/")
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"keys/k1": marker, "keys/new": "after rotation"} {
				if got, err := get(d2.Store(), k); err != nil || got != want {
					t.Errorf("after reopen Get(%s) = %q, %v", k, got, err)
				}
			}

			// Replacing the domain key keeps records readable; the old key
			// no longer opens the keyring.
			oldKey := keymat.NewSecret(d2.DomainKey().Expose())
			newKey := keymat.NewSecret(bytes.Repeat([]byte{7}, 32))
			if err := d2.ReplaceDomainKey(ctx, newKey); err != nil {
				t.Fatal(err)
			}
			d3, err := OpenDomain(ctx, raw, ns, "pools/a/")
			if err != nil {
				t.Fatal(err)
			}
			if !d3.DomainKey().Equal(newKey) {
				t.Error("reopened domain does not hold the new domain key")
			}
			if got, err := get(d3.Store(), "keys/k1"); err != nil || got != marker {
				t.Errorf("after ReplaceDomainKey Get = %q, %v", got, err)
			}
			probe := &Domain{root: "pools/a/", domainKey: oldKey}
			var sealed []byte
			raw.View(ctx, func(tx store.Tx) error { sealed, _ = tx.Get("pools/a/seal/keyring"); return nil })
			if err := probe.loadKeyring(sealed); err == nil {
				t.Error("the old domain key still opens the keyring")
			}

			// Derived keys depend on the domain key only.
			if !d3.DeriveKey("x", 32).Equal(d3.DeriveKey("x", 32)) || d3.DeriveKey("x", 32).Equal(d3.DeriveKey("y", 32)) {
				t.Error("DeriveKey is not a function of (domain key, label)")
			}

			// Another node seal cannot open the domain.
			if _, err := OpenDomain(ctx, raw, fileSeal(t), "pools/a/"); !errors.Is(err, ErrSealed) {
				t.Errorf("OpenDomain with another seal error = %v, want ErrSealed", err)
			}
			if _, err := OpenDomain(ctx, raw, ns, "pools/none/"); !errors.Is(err, ErrNoDomain) {
				t.Errorf("OpenDomain(missing) error = %v, want ErrNoDomain", err)
			}

			// Moving to another node seal.
			ns2 := fileSeal(t)
			if err := d3.Rewrap(ctx, ns2); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenDomain(ctx, raw, ns2, "pools/a/"); err != nil {
				t.Errorf("OpenDomain after Rewrap: %v", err)
			}
		})
	}
}

func keyIDOf(b []byte) (uint32, error) {
	if len(b) < 5 {
		return 0, errors.New("short")
	}
	return uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4]), nil
}

func TestFileSealPermissions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seal.key")
	if _, err := OpenFileSeal(p, false); err == nil {
		t.Fatal("OpenFileSeal(missing, create=false) succeeded")
	}
	s, err := OpenFileSeal(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("seal file mode = %v, want 0600", fi.Mode().Perm())
	}
	blob, _ := s.Wrap(ctx, []byte("k"), []byte("aad"))
	s2, err := OpenFileSeal(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s2.Unwrap(ctx, blob, []byte("aad")); err != nil || string(pt) != "k" {
		t.Errorf("Unwrap with the reopened seal = %q, %v", pt, err)
	}
	os.Chmod(p, 0o644)
	if _, err := OpenFileSeal(p, false); err == nil || !strings.Contains(err.Error(), "readable") {
		t.Errorf("OpenFileSeal(world-readable) error = %v", err)
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("garbage"), 0o600)
	if _, err := OpenFileSeal(p, false); err == nil {
		t.Error("OpenFileSeal(garbage) succeeded")
	}
}

func BenchmarkBarrier(b *testing.B) {
	d, err := CreateDomain(ctx, memstore.New(), fileSeal(b), "pools/b/", keymat.Secret{})
	if err != nil {
		b.Fatal(err)
	}
	s := d.Store()
	v := bytes.Repeat([]byte{1}, 512)
	b.Run("Put", func(b *testing.B) {
		for b.Loop() {
			s.Update(ctx, func(tx store.Tx) error { return tx.Put("k", v) })
		}
	})
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			s.View(ctx, func(tx store.Tx) error { _, err := tx.Get("k"); return err })
		}
	})
}
