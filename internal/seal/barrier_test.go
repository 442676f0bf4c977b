package seal

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/boltstore"
	"github.com/cofferkms/coffer/internal/store/memstore"
	"github.com/cofferkms/coffer/internal/store/storetest"
)

// TestBarrierConformance runs the store conformance suite on a fresh
// Domain's barrier view over each backend.
func TestBarrierConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return mustCreate(t, open(t), newFileSeal(t), "pools/test/").Store()
		})
	})
}

// TestBarrierConformanceAfterRotation runs the suite on a domain whose
// records are spread over several data keys.
func TestBarrierConformanceAfterRotation(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		d := mustCreate(t, backends[0].open(t), newFileSeal(t), "sys/")
		for range 3 {
			if err := d.RotateDataKey(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		return d.Store()
	})
}

// TestBarrierDurable runs the durability suite on a barrier over bbolt:
// each reopen opens the database, the seal key file and the domain afresh.
func TestBarrierDurable(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T, dir string) store.Store {
		bs, err := boltstore.Open(filepath.Join(dir, "coffer.db"), boltstore.Options{})
		if err != nil {
			t.Fatalf("boltstore.Open() error = %v", err)
		}
		ns, err := OpenFileSeal(filepath.Join(dir, "seal.key"), true)
		if err != nil {
			t.Fatalf("OpenFileSeal() error = %v", err)
		}
		d, err := OpenDomain(t.Context(), bs, ns, "pools/durable/")
		if errors.Is(err, ErrNoDomain) {
			d, err = CreateDomain(t.Context(), bs, ns, "pools/durable/", keymat.Secret{})
		}
		if err != nil {
			t.Fatalf("opening the domain: %v", err)
		}
		return ownedBarrier{Store: d.Store(), closers: []func() error{bs.Close, ns.Close}}
	})
}

// ownedBarrier is a barrier view that also closes what lies under it, as
// RunDurable expects of the store it is given.
type ownedBarrier struct {
	store.Store
	closers []func() error
}

func (o ownedBarrier) Close() error {
	err := o.Store.Close()
	for _, c := range o.closers {
		err = errors.Join(err, c())
	}
	return err
}

func TestBarrierPathLimit(t *testing.T) {
	d := mustCreate(t, backends[0].open(t), newFileSeal(t), "pools/a/")
	room := store.MaxPathLen - len("pools/a/data/")
	err := d.Store().Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Put(strings.Repeat("x", room), nil); err != nil {
			return fmt.Errorf("Put(%d-byte path) error = %v, want nil", room, err)
		}
		if err := tx.Put(strings.Repeat("x", room+1), nil); err != store.ErrInvalidPath {
			return fmt.Errorf("Put(%d-byte path) error = %v, want ErrInvalidPath", room+1, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// The barrier benchmarks show what sealing costs on top of the store: each
// has a raw memstore case beside the barrier one.
func benchStores(b *testing.B) []struct {
	name string
	st   store.Store
} {
	d, err := CreateDomain(b.Context(), memstore.New(), newFileSeal(b), "pools/bench/", keymat.Secret{})
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		st   store.Store
	}{{"raw", memstore.New()}, {"barrier", d.Store()}}
}

func BenchmarkBarrierGet(b *testing.B) {
	for _, size := range []int{64, 1024} {
		for _, s := range benchStores(b) {
			b.Run(fmt.Sprintf("%s/%dB", s.name, size), func(b *testing.B) {
				v := bytes.Repeat([]byte{1}, size)
				if err := s.st.Update(b.Context(), func(tx store.Tx) error { return tx.Put("keys/k/versions/1", v) }); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					err := s.st.View(b.Context(), func(tx store.Tx) error {
						_, err := tx.Get("keys/k/versions/1")
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkBarrierPut(b *testing.B) {
	for _, size := range []int{64, 1024} {
		for _, s := range benchStores(b) {
			b.Run(fmt.Sprintf("%s/%dB", s.name, size), func(b *testing.B) {
				v := bytes.Repeat([]byte{1}, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					err := s.st.Update(b.Context(), func(tx store.Tx) error { return tx.Put("keys/k/versions/1", v) })
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
