package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
	"github.com/google/go-cmp/cmp"
)

func TestDomainRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		d := mustCreate(t, raw, newFileSeal(t), "pools/a/")
		b := d.Store()
		want := map[string]string{"keys/k1": "one", "keys/k2": "two", "roles/r": "", "keys/k1/versions/1": "v1"}
		for k, v := range want {
			put(t, b, k, v)
		}
		got := map[string]string{}
		err := b.View(t.Context(), func(tx store.Tx) error {
			return tx.ForEach("", func(k string, v []byte) error { got[k] = string(v); return nil })
		})
		if err != nil {
			t.Fatalf("ForEach() error = %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("barrier ForEach mismatch (-want +got):\n%s", diff)
		}
		var keys []string
		err = b.View(t.Context(), func(tx store.Tx) error {
			var err error
			keys, err = tx.List("keys/", "keys/k1", 0)
			return err
		})
		if want := []string{"keys/k1/versions/1", "keys/k2"}; err != nil || !slices.Equal(keys, want) {
			t.Errorf("List(keys/, keys/k1) = %q, %v, want %q", keys, err, want)
		}
		// Stored paths are root+"data/"+rel, next to the two key records.
		wantRaw := []string{"pools/a/data/keys/k1", "pools/a/data/keys/k1/versions/1", "pools/a/data/keys/k2", "pools/a/data/roles/r", "pools/a/seal/domainkey", "pools/a/seal/keyring"}
		if got := slices.Sorted(maps.Keys(rawDump(t, raw))); !slices.Equal(got, wantRaw) {
			t.Errorf("raw store paths = %q, want %q", got, wantRaw)
		}
		// Closing the view leaves the underlying store and other views open.
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := get(t.Context(), b, "keys/k1"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Get on a closed view error = %v, want ErrClosed", err)
		}
		if got := mustGet(t, d.Store(), "keys/k1"); got != "one" {
			t.Errorf("Get(keys/k1) on a new view = %q, want one", got)
		}
		if _, err := get(t.Context(), raw, "pools/a/seal/keyring"); err != nil {
			t.Errorf("raw Get after closing a view error = %v", err)
		}
		// Reopened from the store, the domain reads the same records.
		d2 := mustOpen(t, raw, d.ns, "pools/a/")
		if got := mustGet(t, d2.Store(), "keys/k2"); got != "two" {
			t.Errorf("after OpenDomain, Get(keys/k2) = %q, want two", got)
		}
	})
}

// TestNoPlaintextInStore writes records holding a marker, rotates and
// replaces keys, and scans every raw value for the marker and for the key
// material itself.
func TestNoPlaintextInStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		d := mustCreate(t, raw, newFileSeal(t), "pools/a/")
		const marker = "PLAINTEXT-MARKER-4b1d"
		write := func(n int) {
			for i := range 20 {
				put(t, d.Store(), fmt.Sprintf("r/%d/%d", n, i), strings.Repeat(marker, i+1))
			}
		}
		write(0)
		if err := d.RotateDataKey(t.Context()); err != nil {
			t.Fatal(err)
		}
		write(1)
		if err := d.ReplaceDomainKey(t.Context(), keymat.NewSecret(bytes.Repeat([]byte{0x5a}, 32))); err != nil {
			t.Fatal(err)
		}
		write(2)
		ring := d.keys.Load().ring
		secrets := [][]byte{d.DomainKey().Expose(), bytes.Repeat([]byte{0x5a}, 32)}
		for _, id := range ring.ids {
			secrets = append(secrets, ring.secrets[id].Expose())
		}
		for p, v := range rawDump(t, raw) {
			if bytes.Contains(v, []byte(marker)) || bytes.Contains(v, []byte(marker[:8])) {
				t.Errorf("raw record %s holds plaintext", p)
			}
			for i, s := range secrets {
				if bytes.Contains(v, s[:16]) {
					t.Errorf("raw record %s holds key %d in the clear", p, i)
				}
			}
		}
	})
}

func TestRecordMovedToAnotherPathFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		d := mustCreate(t, raw, newFileSeal(t), "pools/a/")
		put(t, d.Store(), "keys/k1", "secret")
		sealed := rawGet(t, raw, "pools/a/data/keys/k1")
		tests := []struct{ name, rawPath, rel string }{
			{"sibling", "pools/a/data/keys/k2", "keys/k2"},
			{"child", "pools/a/data/keys/k1/x", "keys/k1/x"},
			{"other folder", "pools/a/data/roles/k1", "roles/k1"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rawPut(t, raw, tc.rawPath, sealed)
				if v, err := get(t.Context(), d.Store(), tc.rel); !errors.Is(err, envelope.ErrOpen) {
					t.Errorf("Get(%s) of a record copied from keys/k1 = %q, %v, want envelope.ErrOpen", tc.rel, v, err)
				}
			})
		}
		// ForEach stops at the bad record with the same error.
		err := d.Store().View(t.Context(), func(tx store.Tx) error {
			return tx.ForEach("keys/", func(string, []byte) error { return nil })
		})
		if !errors.Is(err, envelope.ErrOpen) {
			t.Errorf("ForEach over a moved record error = %v, want envelope.ErrOpen", err)
		}
		// The keyring record, moved into the data space, does not open either.
		rawPut(t, raw, "pools/a/data/ring", rawGet(t, raw, "pools/a/seal/keyring"))
		if v, err := get(t.Context(), d.Store(), "ring"); !errors.Is(err, envelope.ErrOpen) {
			t.Errorf("Get(ring) of the keyring record = %q, %v, want envelope.ErrOpen", v, err)
		}
		// A flipped byte anywhere fails too.
		for i := range sealed {
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x01
			rawPut(t, raw, "pools/a/data/keys/k1", bad)
			if v, err := get(t.Context(), d.Store(), "keys/k1"); !errors.Is(err, envelope.ErrOpen) {
				t.Fatalf("Get(keys/k1) with byte %d flipped = %q, %v, want envelope.ErrOpen", i, v, err)
			}
		}
	})
}

func TestRecordCopiedToAnotherDomainFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		ns := newFileSeal(t)
		a := mustCreate(t, raw, ns, "pools/a/")
		b := mustCreate(t, raw, ns, "pools/b/")
		put(t, a.Store(), "keys/k1", "secret of a")
		put(t, b.Store(), "keys/k1", "secret of b")
		// Both domains number their first data key 1, so b finds a key of
		// the id a's record names; only the key material differs.
		if a.keys.Load().ring.current != b.keys.Load().ring.current {
			t.Fatalf("fresh domains have current keys %d and %d, want equal ids", a.keys.Load().ring.current, b.keys.Load().ring.current)
		}
		rawPut(t, raw, "pools/b/data/keys/k1", rawGet(t, raw, "pools/a/data/keys/k1"))
		if v, err := get(t.Context(), b.Store(), "keys/k1"); !errors.Is(err, envelope.ErrOpen) {
			t.Errorf("Get(keys/k1) in b of a's record = %q, %v, want envelope.ErrOpen", v, err)
		}
		// a's keyring copied over b's does not open under b's domain key.
		rawPut(t, raw, "pools/b/seal/keyring", rawGet(t, raw, "pools/a/seal/keyring"))
		if _, err := OpenDomain(t.Context(), raw, ns, "pools/b/"); !errors.Is(err, ErrSealed) {
			t.Errorf("OpenDomain(b) with a's keyring error = %v, want ErrSealed", err)
		}
	})
}

func TestRotateDataKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		ns := newFileSeal(t)
		d := mustCreate(t, raw, ns, "pools/a/")
		var recs []string
		for i := range 4 {
			if i > 0 {
				if err := d.RotateDataKey(t.Context()); err != nil {
					t.Fatalf("RotateDataKey() error = %v", err)
				}
			}
			rec := fmt.Sprintf("keys/k%d", i)
			put(t, d.Store(), rec, "value "+rec)
			recs = append(recs, rec)
			id, err := envelope.KeyID(rawGet(t, raw, "pools/a/data/"+rec))
			if err != nil || id != uint32(i+1) {
				t.Errorf("after %d rotations, record %s is sealed under key %d (%v), want %d", i, rec, id, err, i+1)
			}
		}
		check := func(d *Domain, when string) {
			t.Helper()
			for _, rec := range recs {
				if got, err := get(t.Context(), d.Store(), rec); err != nil || got != "value "+rec {
					t.Errorf("%s: Get(%s) = %q, %v, want %q", when, rec, got, err, "value "+rec)
				}
			}
		}
		check(d, "after rotations")
		check(mustOpen(t, raw, ns, "pools/a/"), "after reopening")
		// Rewriting an old record moves it to the current key.
		put(t, d.Store(), "keys/k0", "value keys/k0")
		if id, _ := envelope.KeyID(rawGet(t, raw, "pools/a/data/keys/k0")); id != 4 {
			t.Errorf("rewritten record keys/k0 is sealed under key %d, want 4", id)
		}
	})
}

func TestReplaceDomainKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		ns := newFileSeal(t)
		d := mustCreate(t, raw, ns, "pools/a/")
		put(t, d.Store(), "keys/before", "old")
		if err := d.RotateDataKey(t.Context()); err != nil {
			t.Fatal(err)
		}
		put(t, d.Store(), "keys/rotated", "rotated")
		oldKey := d.DomainKey()
		oldDerived := d.DeriveKey("coffer/backup", 32)
		newKey := keymat.NewSecret(bytes.Repeat([]byte{7}, 32))

		if err := d.ReplaceDomainKey(t.Context(), newKey); err != nil {
			t.Fatalf("ReplaceDomainKey() error = %v", err)
		}
		put(t, d.Store(), "keys/after", "new")
		want := map[string]string{"keys/before": "old", "keys/rotated": "rotated", "keys/after": "new"}
		for _, dom := range []*Domain{d, mustOpen(t, raw, ns, "pools/a/")} {
			if !dom.DomainKey().Equal(newKey) {
				t.Error("DomainKey() after ReplaceDomainKey is not the new key")
			}
			for k, v := range want {
				if got, err := get(t.Context(), dom.Store(), k); err != nil || got != v {
					t.Errorf("after ReplaceDomainKey, Get(%s) = %q, %v, want %q", k, got, err, v)
				}
			}
		}
		ring := rawGet(t, raw, "pools/a/seal/keyring")
		if _, err := envelope.Open(oldKey, ring, []byte("pools/a/seal/keyring")); !errors.Is(err, envelope.ErrOpen) {
			t.Errorf("the old domain key opens the new keyring: error = %v, want envelope.ErrOpen", err)
		}
		if _, err := envelope.Open(newKey, ring, []byte("pools/a/seal/keyring")); err != nil {
			t.Errorf("the new domain key does not open the keyring: %v", err)
		}
		if d.DeriveKey("coffer/backup", 32).Equal(oldDerived) {
			t.Error("DeriveKey gives the same key under the old and the new domain key")
		}
	})
}

// TestReplaceDomainKeyIsOneTransaction checks that the two key records change
// in one Update, and that a failed commit leaves the old key in force, in
// memory and in the store.
func TestReplaceDomainKeyIsOneTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		fs := &faultyStore{Store: open(t)}
		ns := newFileSeal(t)
		d := mustCreate(t, fs, ns, "pools/a/")
		put(t, d.Store(), "keys/k", "v")
		oldKey := d.DomainKey()
		before := rawDump(t, fs)

		fs.updates, fs.failCommit = 0, true
		err := d.ReplaceDomainKey(t.Context(), keymat.NewSecret(bytes.Repeat([]byte{9}, 32)))
		if !errors.Is(err, errInjected) {
			t.Fatalf("ReplaceDomainKey() with a failing commit error = %v, want %v", err, errInjected)
		}
		if fs.updates != 1 {
			t.Errorf("ReplaceDomainKey() ran %d store Updates, want 1", fs.updates)
		}
		if diff := cmp.Diff(before, rawDump(t, fs)); diff != "" {
			t.Errorf("a failed ReplaceDomainKey changed the store (-before +after):\n%s", diff)
		}
		if !d.DomainKey().Equal(oldKey) {
			t.Error("a failed ReplaceDomainKey changed the domain key in memory")
		}
		fs.failCommit = false
		if got := mustGet(t, mustOpen(t, fs, ns, "pools/a/").Store(), "keys/k"); got != "v" {
			t.Errorf("after a failed ReplaceDomainKey, Get(keys/k) = %q, want v", got)
		}

		// Likewise a failed rotation keeps the current key.
		fs.failCommit = true
		if err := d.RotateDataKey(t.Context()); !errors.Is(err, errInjected) {
			t.Fatalf("RotateDataKey() with a failing commit error = %v, want %v", err, errInjected)
		}
		fs.failCommit = false
		put(t, d.Store(), "keys/k2", "v2")
		if id, _ := envelope.KeyID(rawGet(t, fs, "pools/a/data/keys/k2")); id != 1 {
			t.Errorf("after a failed rotation, a new record is sealed under key %d, want 1", id)
		}
	})
}

func TestOpenDomainWithAnotherSeal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		mustCreate(t, raw, newFileSeal(t), "pools/a/")
		if _, err := OpenDomain(t.Context(), raw, newFileSeal(t), "pools/a/"); !errors.Is(err, ErrSealed) {
			t.Errorf("OpenDomain() with another node seal error = %v, want ErrSealed", err)
		}
	})
}

func TestOpenDomainTampered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		for _, rec := range []string{"pools/a/seal/domainkey", "pools/a/seal/keyring"} {
			t.Run(rec, func(t *testing.T) {
				raw := open(t)
				ns := newFileSeal(t)
				mustCreate(t, raw, ns, "pools/a/")
				v := rawGet(t, raw, rec)
				v[len(v)/2] ^= 0x10
				rawPut(t, raw, rec, v)
				if _, err := OpenDomain(t.Context(), raw, ns, "pools/a/"); !errors.Is(err, ErrSealed) {
					t.Errorf("OpenDomain() with %s tampered error = %v, want ErrSealed", rec, err)
				}
			})
		}
		t.Run("keyring missing", func(t *testing.T) {
			raw := open(t)
			ns := newFileSeal(t)
			mustCreate(t, raw, ns, "pools/a/")
			if err := raw.Update(t.Context(), func(tx store.Tx) error { return tx.Delete("pools/a/seal/keyring") }); err != nil {
				t.Fatal(err)
			}
			_, err := OpenDomain(t.Context(), raw, ns, "pools/a/")
			if err == nil || errors.Is(err, ErrNoDomain) {
				t.Errorf("OpenDomain() without a keyring error = %v, want a damaged-domain error", err)
			}
		})
	})
}

func TestDomainLifecycleErrors(t *testing.T) {
	raw := backends[0].open(t)
	ns := newFileSeal(t)
	if _, err := OpenDomain(t.Context(), raw, ns, "pools/none/"); !errors.Is(err, ErrNoDomain) {
		t.Errorf("OpenDomain(empty root) error = %v, want ErrNoDomain", err)
	}
	d := mustCreate(t, raw, ns, "pools/a/")
	if _, err := CreateDomain(t.Context(), raw, ns, "pools/a/", keymat.Secret{}); !errors.Is(err, ErrDomainExists) {
		t.Errorf("CreateDomain(existing root) error = %v, want ErrDomainExists", err)
	}
	// Records of a domain without its key records still count as a domain.
	put(t, d.Store(), "k", "v")
	if err := raw.Update(t.Context(), func(tx store.Tx) error {
		return errors.Join(tx.Delete("pools/a/seal/domainkey"), tx.Delete("pools/a/seal/keyring"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateDomain(t.Context(), raw, ns, "pools/a/", keymat.Secret{}); !errors.Is(err, ErrDomainExists) {
		t.Errorf("CreateDomain(root with orphan records) error = %v, want ErrDomainExists", err)
	}

	for _, root := range []string{"", "pools/a", "/", strings.Repeat("x", store.MaxPathLen) + "/"} {
		if _, err := CreateDomain(t.Context(), raw, ns, root, keymat.Secret{}); err == nil || errors.Is(err, ErrDomainExists) {
			t.Errorf("CreateDomain(root %.20q) error = %v, want a bad-root error", root, err)
		}
		if _, err := OpenDomain(t.Context(), raw, ns, root); err == nil || errors.Is(err, ErrNoDomain) {
			t.Errorf("OpenDomain(root %.20q) error = %v, want a bad-root error", root, err)
		}
	}
	for _, n := range []int{1, 16, 31, 33, 64} {
		if _, err := CreateDomain(t.Context(), raw, ns, "pools/n/", keymat.NewSecret(make([]byte, n))); err == nil {
			t.Errorf("CreateDomain(%d-byte domain key) error = nil, want an error", n)
		}
		if err := d.ReplaceDomainKey(t.Context(), keymat.NewSecret(make([]byte, n))); err == nil {
			t.Errorf("ReplaceDomainKey(%d-byte key) error = nil, want an error", n)
		}
	}
	if _, err := CreateDomain(t.Context(), raw, forgetfulSeal{ns}, "pools/f/", keymat.Secret{}); err == nil {
		t.Error("CreateDomain() with a seal that does not give back what it wrapped error = nil, want an error")
	}
	if got := rawDump(t, raw); slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(p string) bool { return strings.HasPrefix(p, "pools/f/") }) {
		t.Error("a failed CreateDomain left records behind")
	}
}

func TestCreateDomainWithGivenKey(t *testing.T) {
	raw := backends[0].open(t)
	ns := newFileSeal(t)
	given := keymat.NewSecret(bytes.Repeat([]byte{0x11}, 32))
	d, err := CreateDomain(t.Context(), raw, ns, "pools/r/", given)
	if err != nil {
		t.Fatalf("CreateDomain(given key) error = %v", err)
	}
	if !d.DomainKey().Equal(given) {
		t.Error("DomainKey() is not the key CreateDomain was given")
	}
	put(t, d.Store(), "k", "v")
	// The caller wiping its copy, or the one DomainKey returned, does not
	// touch the domain's.
	given.Wipe()
	d.DomainKey().Wipe()
	if got := mustGet(t, mustOpen(t, raw, ns, "pools/r/").Store(), "k"); got != "v" {
		t.Errorf("Get(k) after wiping the caller's copies = %q, want v", got)
	}
	if !d.DomainKey().Equal(keymat.NewSecret(bytes.Repeat([]byte{0x11}, 32))) {
		t.Error("wiping the caller's copies changed the domain key")
	}
	// Two fresh domains get different random keys.
	a, b := mustCreate(t, raw, ns, "pools/x/"), mustCreate(t, raw, ns, "pools/y/")
	if a.DomainKey().Equal(b.DomainKey()) {
		t.Error("two generated domain keys are equal")
	}
}

func TestRewrap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		oldSeal, newSeal := newFileSeal(t), newFileSeal(t)
		d := mustCreate(t, raw, oldSeal, "pools/a/")
		put(t, d.Store(), "k", "v")
		if err := d.Rewrap(t.Context(), newSeal); err != nil {
			t.Fatalf("Rewrap() error = %v", err)
		}
		if _, err := OpenDomain(t.Context(), raw, oldSeal, "pools/a/"); !errors.Is(err, ErrSealed) {
			t.Errorf("OpenDomain() with the old seal after Rewrap error = %v, want ErrSealed", err)
		}
		d2 := mustOpen(t, raw, newSeal, "pools/a/")
		if got := mustGet(t, d2.Store(), "k"); got != "v" {
			t.Errorf("after Rewrap, Get(k) = %q, want v", got)
		}
		// Later key replacement wraps with the new seal.
		if err := d.ReplaceDomainKey(t.Context(), keymat.NewSecret(bytes.Repeat([]byte{3}, 32))); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, mustOpen(t, raw, newSeal, "pools/a/").Store(), "k"); got != "v" {
			t.Errorf("after Rewrap and ReplaceDomainKey, Get(k) = %q, want v", got)
		}
		if err := d.Rewrap(t.Context(), forgetfulSeal{newSeal}); err == nil {
			t.Error("Rewrap() to a seal that does not give back what it wrapped error = nil, want an error")
		}
		if got := mustGet(t, mustOpen(t, raw, newSeal, "pools/a/").Store(), "k"); got != "v" {
			t.Errorf("after a refused Rewrap, Get(k) = %q, want v", got)
		}
	})
}

// TestDeriveKey checks HKDF-SHA-256 against vectors computed with Python's
// cryptography package: HKDF(SHA256(), length, salt=None, info=label)
// over the domain key 00 01 … 1f.
func TestDeriveKey(t *testing.T) {
	raw := backends[0].open(t)
	dk := make([]byte, 32)
	for i := range dk {
		dk[i] = byte(i)
	}
	d, err := CreateDomain(t.Context(), raw, newFileSeal(t), "pools/k/", keymat.NewSecret(dk))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		label string
		size  int
		want  string
	}{
		{"coffer/backup/key", 32, "246286a0146784a1703f48307cd77363460407365ba9fe268e57ab1c311c982c"},
		{"full-backup", 64, "4fac713bba054e768b8e307a456fb3d1fbbc7b2ccc1a170f0cde03244ed726e96683e2ab59f02cd5c015cb4e6c3a991fd021805a9f7c81801bd869e09b7a56c8"},
		{"", 16, "37ad29109f43265287804b674e2653d0"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(d.DeriveKey(tc.label, tc.size).Expose()); got != tc.want {
			t.Errorf("DeriveKey(%q, %d) = %s, want %s", tc.label, tc.size, got, tc.want)
		}
	}
	for _, size := range []int{0, -1, 255*32 + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DeriveKey(label, %d) did not panic", size)
				}
			}()
			d.DeriveKey("label", size)
		}()
	}
}

// TestConcurrentUseAndRotation runs barrier reads and writes while keys are
// rotated and replaced: nothing deadlocks (the key operations hold the
// store's write lock while barrier writers wait for it), every record
// written stays readable, and the race detector sees no races.
func TestConcurrentUseAndRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		ns := newFileSeal(t)
		d := mustCreate(t, raw, ns, "pools/a/")
		b := d.Store()
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 30 {
					k := fmt.Sprintf("w%d/%d", w, i)
					err := b.Update(t.Context(), func(tx store.Tx) error {
						if err := tx.Put(k, []byte(k)); err != nil {
							return err
						}
						v, err := tx.Get(k)
						if err == nil && string(v) != k {
							err = fmt.Errorf("read back %q", v)
						}
						return err
					})
					if err != nil {
						t.Errorf("Update(%s) error = %v", k, err)
						return
					}
					if got, err := get(t.Context(), b, k); err != nil || got != k {
						t.Errorf("Get(%s) = %q, %v", k, got, err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for i := range 10 {
				var err error
				if i%3 == 2 {
					err = d.ReplaceDomainKey(t.Context(), keymat.NewSecret(bytes.Repeat([]byte{byte(i)}, 32)))
				} else {
					err = d.RotateDataKey(t.Context())
				}
				if err != nil {
					t.Errorf("key change %d error = %v", i, err)
					return
				}
				_ = d.DeriveKey("x", 32)
			}
		})
		wg.Wait()
		n := 0
		err := mustOpen(t, raw, ns, "pools/a/").Store().View(t.Context(), func(tx store.Tx) error {
			return tx.ForEach("", func(k string, v []byte) error {
				n++
				if string(v) != k {
					return fmt.Errorf("record %s holds %q", k, v)
				}
				return nil
			})
		})
		if err != nil || n != 4*30 {
			t.Errorf("after concurrent use, reading every record found %d (error %v), want 120", n, err)
		}
	})
}

// TestSharedRoot opens two Domains on one root, as two processes sharing a
// store would: a rotation by either is picked up by the other, and no
// rotation drops a key the other added.
func TestSharedRoot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T) store.Store) {
		raw := open(t)
		ns := newFileSeal(t)
		d1 := mustCreate(t, raw, ns, "pools/a/")
		d2 := mustOpen(t, raw, ns, "pools/a/")

		if err := d1.RotateDataKey(t.Context()); err != nil {
			t.Fatal(err)
		}
		put(t, d1.Store(), "from1", "one")
		if got := mustGet(t, d2.Store(), "from1"); got != "one" {
			t.Errorf("d2 reading a record under d1's new key = %q, want one", got)
		}
		if got := d2.keys.Load().ring.current; got != 2 {
			t.Errorf("after reloading, d2's current key = %d, want 2", got)
		}
		// d2 rotates from the stored keyring (ids 1, 2), making id 3.
		if err := d2.RotateDataKey(t.Context()); err != nil {
			t.Fatal(err)
		}
		put(t, d2.Store(), "from2", "two")
		if id, _ := envelope.KeyID(rawGet(t, raw, "pools/a/data/from2")); id != 3 {
			t.Errorf("d2's record after its rotation is sealed under key %d, want 3", id)
		}
		// d1 still holds ids 1, 2 in memory; rotating must keep 3.
		if err := d1.RotateDataKey(t.Context()); err != nil {
			t.Fatal(err)
		}
		fresh := mustOpen(t, raw, ns, "pools/a/")
		if got, want := fresh.keys.Load().ring.ids, []uint32{1, 2, 3, 4}; !slices.Equal(got, want) {
			t.Errorf("stored keyring ids = %v, want %v", got, want)
		}
		for _, k := range []string{"from1", "from2"} {
			if _, err := get(t.Context(), fresh.Store(), k); err != nil {
				t.Errorf("Get(%s) error = %v", k, err)
			}
		}

		// Once d1 replaces the domain key, d2 cannot change keys (it would
		// overwrite the new key) until reopened.
		if err := d1.ReplaceDomainKey(t.Context(), keymat.NewSecret(bytes.Repeat([]byte{1}, 32))); err != nil {
			t.Fatal(err)
		}
		if err := d2.RotateDataKey(t.Context()); !errors.Is(err, ErrSealed) {
			t.Errorf("d2.RotateDataKey() after d1 replaced the domain key error = %v, want ErrSealed", err)
		}
		if err := d2.Rewrap(t.Context(), newFileSeal(t)); !errors.Is(err, ErrSealed) {
			t.Errorf("d2.Rewrap() after d1 replaced the domain key error = %v, want ErrSealed", err)
		}
		if got := mustGet(t, mustOpen(t, raw, ns, "pools/a/").Store(), "from2"); got != "two" {
			t.Errorf("after the refused changes, Get(from2) = %q, want two", got)
		}
	})
}
