package seal

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
)

// Errors of a domain's life cycle.
var (
	// ErrNoDomain is returned by OpenDomain when root holds no domain.
	ErrNoDomain = errors.New("seal: no protected domain at this root")
	// ErrDomainExists is returned by CreateDomain when root already holds
	// a domain, or records of one.
	ErrDomainExists = errors.New("seal: a protected domain already exists at this root")
)

// DomainKeySize is the size of a domain key: 256 bits.
const DomainKeySize = 32

// keyringKeyID is the envelope key id of the keyring record, which is
// sealed under the domain key rather than a data key (whose ids start at 1).
const keyringKeyID = 0

// Domain is one protected key space rooted at a store path prefix: a pool
// uses "pools/<name>/", the server's own records "sys/". It is safe for
// concurrent use.
//
// Several Domain values may serve one root, in one process or in several
// sharing a store: a data key rotated by one is picked up by the others
// the first time they meet a record sealed under it, and no key change by
// one drops a data key the other added. Once one replaces the domain key,
// the others' key changes, and their reads of data keys they have not yet
// seen, fail with ErrSealed until they are reopened.
type Domain struct {
	st   store.Store
	root string

	// mgmt serialises the operations that rewrite the key records. It is
	// never held by barrier reads and writes, which only load keys.
	mgmt sync.Mutex
	ns   NodeSeal // guarded by mgmt

	keys atomic.Pointer[domainKeys]
}

// domainKeys is the unsealed key state, replaced whole on every change.
type domainKeys struct {
	domainKey keymat.Secret
	ring      *keyring
}

func domainKeyPath(root string) string { return root + "seal/domainkey" }
func keyringPath(root string) string   { return root + "seal/keyring" }
func dataPrefix(root string) string    { return root + "data/" }

func checkRoot(root string) error {
	if root == "" || !strings.HasSuffix(root, "/") || strings.HasPrefix(root, "/") || store.CheckPath(domainKeyPath(root)) != nil {
		return fmt.Errorf("seal: domain root %q must be a short relative path ending in /", root)
	}
	return nil
}

// CreateDomain creates a protected domain at root, with domainKey as its
// domain key (a recovering pool passes the key from its security domain),
// or a new random one if domainKey is the zero Secret. It fails with
// ErrDomainExists if root holds a domain or any of a domain's records.
func CreateDomain(ctx context.Context, st store.Store, ns NodeSeal, root string, domainKey keymat.Secret) (*Domain, error) {
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	var dk keymat.Secret
	switch {
	case domainKey.IsZero():
		b := make([]byte, DomainKeySize)
		rand.Read(b) // never fails (Go 1.24+)
		dk = keymat.NewSecret(b)
		clear(b)
	case domainKey.Len() != DomainKeySize:
		return nil, fmt.Errorf("seal: a domain key must be %d bytes", DomainKeySize)
	default:
		// A copy, so the caller wiping its Secret leaves the domain intact.
		dk = keymat.NewSecret(domainKey.Expose())
	}
	ring, err := newKeyring()
	if err != nil {
		return nil, err
	}
	// Wrapping may be slow (an HSM), so it happens before the
	// transaction rather than inside it.
	wrapped, err := wrapDomainKey(ctx, ns, dk, root)
	if err != nil {
		return nil, fmt.Errorf("creating domain %s: %w", root, err)
	}
	sealedRing, err := sealKeyring(dk, ring, root)
	if err != nil {
		return nil, err
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, p := range []string{domainKeyPath(root), keyringPath(root)} {
			if _, err := tx.Get(p); err == nil {
				return ErrDomainExists
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if data, err := tx.List(dataPrefix(root), "", 1); err != nil {
			return err
		} else if len(data) > 0 {
			return ErrDomainExists
		}
		if err := tx.Put(domainKeyPath(root), wrapped); err != nil {
			return err
		}
		return tx.Put(keyringPath(root), sealedRing)
	})
	if err != nil {
		return nil, fmt.Errorf("creating domain %s: %w", root, err)
	}
	d := &Domain{st: st, root: root, ns: ns}
	d.keys.Store(&domainKeys{domainKey: dk, ring: ring})
	return d, nil
}

// OpenDomain opens the domain at root, unwrapping its domain key with ns
// and unsealing its keyring into memory. It fails with ErrNoDomain if root
// holds no domain and with ErrSealed if ns is not the seal the domain key
// was wrapped with.
func OpenDomain(ctx context.Context, st store.Store, ns NodeSeal, root string) (*Domain, error) {
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	var wrapped, sealedRing []byte
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		if wrapped, err = tx.Get(domainKeyPath(root)); errors.Is(err, store.ErrNotFound) {
			return ErrNoDomain
		} else if err != nil {
			return err
		}
		if sealedRing, err = tx.Get(keyringPath(root)); errors.Is(err, store.ErrNotFound) {
			return errors.New("seal: the domain key is stored but the keyring is missing")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening domain %s: %w", root, err)
	}
	b, err := ns.Unwrap(ctx, wrapped, []byte(domainKeyPath(root)))
	if err != nil {
		return nil, fmt.Errorf("opening domain %s with node seal %s: %w", root, ns.Describe(), err)
	}
	dk := keymat.NewSecret(b)
	clear(b)
	if dk.Len() != DomainKeySize {
		return nil, fmt.Errorf("opening domain %s: unwrapped domain key has the wrong size: %w", root, ErrSealed)
	}
	ring, err := openKeyring(dk, sealedRing, root)
	if err != nil {
		return nil, fmt.Errorf("opening domain %s: %w", root, err)
	}
	d := &Domain{st: st, root: root, ns: ns}
	d.keys.Store(&domainKeys{domainKey: dk, ring: ring})
	return d, nil
}

// wrapDomainKey wraps dk with ns and checks that ns gives it back, so a
// faulty seal is found before its output is the only copy of the key.
func wrapDomainKey(ctx context.Context, ns NodeSeal, dk keymat.Secret, root string) ([]byte, error) {
	aad := []byte(domainKeyPath(root))
	wrapped, err := ns.Wrap(ctx, dk.Expose(), aad)
	if err != nil {
		return nil, fmt.Errorf("wrapping the domain key with %s: %w", ns.Describe(), err)
	}
	back, err := ns.Unwrap(ctx, wrapped, aad)
	if err != nil {
		return nil, fmt.Errorf("checking the domain key wrapped with %s: %w", ns.Describe(), err)
	}
	ok := keymat.NewSecret(back).Equal(dk)
	clear(back)
	if !ok {
		return nil, fmt.Errorf("seal: node seal %s did not give back the key it wrapped", ns.Describe())
	}
	return wrapped, nil
}

func sealKeyring(dk keymat.Secret, ring *keyring, root string) ([]byte, error) {
	plain := ring.encode()
	defer clear(plain)
	return envelope.Seal(dk, keyringKeyID, plain, []byte(keyringPath(root)))
}

func openKeyring(dk keymat.Secret, sealed []byte, root string) (*keyring, error) {
	plain, err := envelope.Open(dk, sealed, []byte(keyringPath(root)))
	if err != nil {
		return nil, fmt.Errorf("keyring does not open under the domain key held: %w", ErrSealed)
	}
	defer clear(plain)
	return decodeKeyring(plain)
}

// Store returns a barrier view of the domain: a store.Store whose paths
// are relative to the domain (record rel lives at root+"data/"+rel) and
// whose values are sealed under the current data key with the full stored
// path as associated data. Records that fail to open return an error
// wrapping envelope.ErrOpen. Each call returns a new view; closing a view
// makes it return store.ErrClosed but leaves the underlying store open.
//
// Paths the barrier accepts are shorter than store.MaxPathLen by the length
// of root+"data/".
func (d *Domain) Store() store.Store { return &barrier{d: d, prefix: dataPrefix(d.root)} }

// DomainKey returns a copy of the domain key, for the security-domain
// download. Callers audit its use and never log it.
func (d *Domain) DomainKey() keymat.Secret {
	return keymat.NewSecret(d.keys.Load().domainKey.Expose())
}

// DeriveKey derives a size-byte key from the domain key with HKDF-SHA-256
// (RFC 5869; no salt, label as the info string). Keys for key backups and
// full backups come from here, so those open only where the same domain
// key is held. Distinct labels give independent keys. It panics if size is
// not between 1 and 8160 (255 × 32), which only a programming error does.
func (d *Domain) DeriveKey(label string, size int) keymat.Secret {
	if size < 1 || size > 255*sha256.Size {
		panic(fmt.Sprintf("seal: DeriveKey(%q, %d): size out of range", label, size))
	}
	dk := d.keys.Load().domainKey
	k, err := hkdf.Key(sha256.New, dk.Expose(), nil, label, size)
	if err != nil {
		panic(fmt.Sprintf("seal: DeriveKey(%q, %d): %v", label, size, err))
	}
	s := keymat.NewSecret(k)
	clear(k)
	return s
}

// RotateDataKey adds a new data key to the keyring and makes it current:
// records written from now on use it, and older keys stay to read older
// records. It must not be called inside a transaction of the same store.
func (d *Domain) RotateDataKey(ctx context.Context) error {
	d.mgmt.Lock()
	defer d.mgmt.Unlock()
	err := d.rewrite(ctx, func(tx store.Tx, cur *domainKeys) (*domainKeys, error) {
		ring, err := cur.ring.withNewKey()
		if err != nil {
			return nil, err
		}
		sealed, err := sealKeyring(cur.domainKey, ring, d.root)
		if err != nil {
			return nil, err
		}
		return &domainKeys{domainKey: cur.domainKey, ring: ring}, tx.Put(keyringPath(d.root), sealed)
	})
	if err != nil {
		return fmt.Errorf("rotating the data key of %s: %w", d.root, err)
	}
	return nil
}

// ReplaceDomainKey makes newKey the domain key (security-domain upload):
// the keyring is re-sealed under newKey and newKey is wrapped by the node
// seal, both in one store transaction, so a crash leaves either the old
// domain key in force or the new one. Data keys are unchanged, so every
// record stays readable; the old domain key no longer opens the keyring.
// It must not be called inside a transaction of the same store.
func (d *Domain) ReplaceDomainKey(ctx context.Context, newKey keymat.Secret) error {
	if newKey.Len() != DomainKeySize {
		return fmt.Errorf("seal: a domain key must be %d bytes", DomainKeySize)
	}
	nk := keymat.NewSecret(newKey.Expose())
	d.mgmt.Lock()
	defer d.mgmt.Unlock()
	wrapped, err := wrapDomainKey(ctx, d.ns, nk, d.root)
	if err != nil {
		return fmt.Errorf("replacing the domain key of %s: %w", d.root, err)
	}
	err = d.rewrite(ctx, func(tx store.Tx, cur *domainKeys) (*domainKeys, error) {
		sealed, err := sealKeyring(nk, cur.ring, d.root)
		if err != nil {
			return nil, err
		}
		if err := tx.Put(keyringPath(d.root), sealed); err != nil {
			return nil, err
		}
		return &domainKeys{domainKey: nk, ring: cur.ring}, tx.Put(domainKeyPath(d.root), wrapped)
	})
	if err != nil {
		return fmt.Errorf("replacing the domain key of %s: %w", d.root, err)
	}
	return nil
}

// Rewrap wraps the domain key with ns instead of the current node seal
// (seal migration). The caller closes the old seal when every domain has
// moved. It must not be called inside a transaction of the same store.
func (d *Domain) Rewrap(ctx context.Context, ns NodeSeal) error {
	d.mgmt.Lock()
	defer d.mgmt.Unlock()
	wrapped, err := wrapDomainKey(ctx, ns, d.keys.Load().domainKey, d.root)
	if err != nil {
		return fmt.Errorf("rewrapping %s: %w", d.root, err)
	}
	err = d.rewrite(ctx, func(tx store.Tx, cur *domainKeys) (*domainKeys, error) {
		return cur, tx.Put(domainKeyPath(d.root), wrapped)
	})
	if err != nil {
		return fmt.Errorf("rewrapping %s: %w", d.root, err)
	}
	d.ns = ns
	return nil
}

// rewrite runs change in a store transaction on the key state as stored,
// and installs the state it returns once the transaction commits. Reading
// the stored keyring first both picks up data keys another process added
// (so none is dropped) and proves the domain key held is still the one in
// force (so a stale process cannot overwrite a newer key). The caller
// holds d.mgmt, so the domain key does not change underneath.
func (d *Domain) rewrite(ctx context.Context, change func(store.Tx, *domainKeys) (*domainKeys, error)) error {
	var next *domainKeys
	err := d.st.Update(ctx, func(tx store.Tx) error {
		cur := d.keys.Load()
		sealed, err := tx.Get(keyringPath(d.root))
		if err != nil {
			return fmt.Errorf("reading the keyring: %w", err)
		}
		ring, err := openKeyring(cur.domainKey, sealed, d.root)
		if err != nil {
			return err
		}
		next, err = change(tx, &domainKeys{domainKey: cur.domainKey, ring: ring})
		return err
	})
	if err != nil {
		return err
	}
	d.keys.Store(next)
	return nil
}

// dataKey returns the data key with id. A key this Domain has not seen may
// have been added by another Domain sharing the store, so on a miss the
// keyring is read again, inside the caller's transaction.
func (d *Domain) dataKey(tx store.Tx, id uint32) (*envelope.Key, error) {
	cur := d.keys.Load()
	if k := cur.ring.keys[id]; k != nil {
		return k, nil
	}
	if id == keyringKeyID {
		return nil, envelope.ErrOpen
	}
	sealed, err := tx.Get(keyringPath(d.root))
	if err != nil {
		return nil, fmt.Errorf("reading the keyring of %s: %w", d.root, err)
	}
	ring, err := openKeyring(cur.domainKey, sealed, d.root)
	if err != nil {
		return nil, fmt.Errorf("reloading the keyring of %s: %w", d.root, err)
	}
	k := ring.keys[id]
	if k == nil {
		return nil, envelope.ErrOpen
	}
	// Data keys are only ever added, so a longer keyring is a newer one.
	if len(ring.ids) > len(cur.ring.ids) {
		d.keys.CompareAndSwap(cur, &domainKeys{domainKey: cur.domainKey, ring: ring})
	}
	return k, nil
}
