package seal

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
)

// Errors of domain lifecycle.
var (
	ErrNoDomain     = errors.New("seal: no protected domain at this root")
	ErrDomainExists = errors.New("seal: a protected domain already exists at this root")
)

// DomainKeySize is the size of a domain key (256 bits).
const DomainKeySize = 32

// Domain is one protected key space rooted at a store path prefix (a pool
// uses "pools/<name>/", the server's own records "sys/"). It is safe for
// concurrent use.
type Domain struct {
	st   store.Store
	root string

	mu        sync.RWMutex
	ns        NodeSeal
	domainKey keymat.Secret
	keys      map[uint32]keymat.Secret
	current   uint32
}

func (d *Domain) domainKeyPath() string { return d.root + "seal/domainkey" }
func (d *Domain) keyringPath() string   { return d.root + "seal/keyring" }
func (d *Domain) dataPrefix() string    { return d.root + "d/" }

// keyring is the stored form of the data keys (inside a sealed record).
type keyring struct {
	V       int          `json:"v"`
	Current uint32       `json:"current"`
	Keys    []keyringKey `json:"keys"`
}

type keyringKey struct {
	ID      uint32 `json:"id"`
	Key     []byte `json:"key"`
	Created int64  `json:"created"`
}

// CreateDomain creates a protected domain at root. A zero domainKey means
// generate one; a recovering pool passes the key from its security domain.
func CreateDomain(ctx context.Context, st store.Store, ns NodeSeal, root string, domainKey keymat.Secret) (*Domain, error) {
	if domainKey.IsZero() {
		b := make([]byte, DomainKeySize)
		rand.Read(b)
		domainKey = keymat.NewSecret(b)
		clear(b)
	} else if domainKey.Len() != DomainKeySize {
		return nil, fmt.Errorf("seal: a domain key must be %d bytes", DomainKeySize)
	}
	d := &Domain{st: st, root: root, ns: ns, domainKey: domainKey, keys: map[uint32]keymat.Secret{}}
	first := make([]byte, 32)
	rand.Read(first)
	d.keys[1], d.current = keymat.NewSecret(first), 1
	clear(first)
	err := st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(d.domainKeyPath()); err == nil {
			return ErrDomainExists
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return d.writeKeys(ctx, tx, ns, domainKey)
	})
	if err != nil {
		return nil, fmt.Errorf("seal: creating domain %s: %w", root, err)
	}
	return d, nil
}

// writeKeys stores the domain key (wrapped by ns) and the keyring (sealed
// under domainKey) inside tx.
func (d *Domain) writeKeys(ctx context.Context, tx store.Tx, ns NodeSeal, domainKey keymat.Secret) error {
	wrapped, err := ns.Wrap(ctx, domainKey.Expose(), []byte(d.domainKeyPath()))
	if err != nil {
		return fmt.Errorf("wrapping the domain key: %w", err)
	}
	kr := keyring{V: 1, Current: d.current}
	for id, k := range d.keys {
		kr.Keys = append(kr.Keys, keyringKey{ID: id, Key: k.Expose(), Created: time.Now().Unix()})
	}
	plain, err := json.Marshal(kr)
	if err != nil {
		return err
	}
	defer clear(plain)
	sealed, err := envelope.Seal(domainKey, 0, plain, []byte(d.keyringPath()))
	if err != nil {
		return err
	}
	if err := tx.Put(d.domainKeyPath(), wrapped); err != nil {
		return err
	}
	return tx.Put(d.keyringPath(), sealed)
}

// OpenDomain opens the domain at root, unsealing its keys into memory.
func OpenDomain(ctx context.Context, st store.Store, ns NodeSeal, root string) (*Domain, error) {
	d := &Domain{st: st, root: root, ns: ns}
	var wrapped, sealed []byte
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		if wrapped, err = tx.Get(d.domainKeyPath()); err != nil {
			return err
		}
		sealed, err = tx.Get(d.keyringPath())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoDomain, root)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: reading domain %s: %w", root, err)
	}
	dk, err := ns.Unwrap(ctx, wrapped, []byte(d.domainKeyPath()))
	if err != nil {
		return nil, fmt.Errorf("seal: opening domain %s with %s: %w", root, ns.Describe(), ErrSealed)
	}
	d.domainKey = keymat.NewSecret(dk)
	clear(dk)
	if err := d.loadKeyring(sealed); err != nil {
		return nil, fmt.Errorf("seal: opening domain %s: %w", root, err)
	}
	return d, nil
}

func (d *Domain) loadKeyring(sealed []byte) error {
	plain, err := envelope.Open(d.domainKey, sealed, []byte(d.keyringPath()))
	if err != nil {
		return ErrSealed
	}
	defer clear(plain)
	var kr keyring
	if err := json.Unmarshal(plain, &kr); err != nil || kr.V != 1 {
		return errors.New("keyring record is malformed")
	}
	d.keys = make(map[uint32]keymat.Secret, len(kr.Keys))
	for _, k := range kr.Keys {
		if len(k.Key) != 32 {
			return errors.New("keyring holds a malformed key")
		}
		d.keys[k.ID] = keymat.NewSecret(k.Key)
		clear(k.Key)
	}
	if _, ok := d.keys[kr.Current]; !ok {
		return errors.New("keyring names no current key")
	}
	d.current = kr.Current
	return nil
}

// Store returns the domain's barrier: a store.Store whose paths are
// relative to the domain and whose values are sealed. Closing it does not
// close the underlying store.
func (d *Domain) Store() store.Store { return &barrier{d: d} }

// DomainKey returns the domain key. Callers (the security-domain download)
// must audit its use and never log it.
func (d *Domain) DomainKey() keymat.Secret {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.domainKey
}

// DeriveKey derives a purpose-specific key from the domain key with
// HKDF-SHA-256 (the label is the info string). Keys derived this way open
// only where the same domain key is held.
func (d *Domain) DeriveKey(label string, size int) keymat.Secret {
	d.mu.RLock()
	dk := d.domainKey
	d.mu.RUnlock()
	k, err := hkdf.Key(sha256.New, dk.Expose(), nil, label, size)
	if err != nil {
		// Only an out-of-range size fails, which is a programming error.
		panic(fmt.Sprintf("seal: DeriveKey(%q, %d): %v", label, size, err))
	}
	s := keymat.NewSecret(k)
	clear(k)
	return s
}

// RotateDataKey makes a new data key current. Older keys stay to read
// records sealed under them.
func (d *Domain) RotateDataKey(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := make([]byte, 32)
	rand.Read(b)
	next := uint32(0)
	for id := range d.keys {
		next = max(next, id)
	}
	next++
	prevCurrent := d.current
	d.keys[next], d.current = keymat.NewSecret(b), next
	clear(b)
	err := d.st.Update(ctx, func(tx store.Tx) error { return d.writeKeys(ctx, tx, d.ns, d.domainKey) })
	if err != nil {
		delete(d.keys, next)
		d.current = prevCurrent
		return fmt.Errorf("seal: rotating data key of %s: %w", d.root, err)
	}
	return nil
}

// ReplaceDomainKey adopts a new domain key (security-domain upload): the
// keyring is re-sealed under it and it is wrapped by the node seal, in one
// store transaction, so records stay readable and a crash leaves either the
// old key or the new one.
func (d *Domain) ReplaceDomainKey(ctx context.Context, newKey keymat.Secret) error {
	if newKey.Len() != DomainKeySize {
		return fmt.Errorf("seal: a domain key must be %d bytes", DomainKeySize)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.st.Update(ctx, func(tx store.Tx) error { return d.writeKeys(ctx, tx, d.ns, newKey) })
	if err != nil {
		return fmt.Errorf("seal: replacing the domain key of %s: %w", d.root, err)
	}
	d.domainKey = keymat.NewSecret(newKey.Expose())
	return nil
}

// Rewrap moves the domain to another node seal.
func (d *Domain) Rewrap(ctx context.Context, ns NodeSeal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.st.Update(ctx, func(tx store.Tx) error { return d.writeKeys(ctx, tx, ns, d.domainKey) })
	if err != nil {
		return fmt.Errorf("seal: rewrapping %s: %w", d.root, err)
	}
	d.ns = ns
	return nil
}

// Destroy deletes every record of the domain, its keys last, in one
// transaction.
func (d *Domain) Destroy(ctx context.Context) error {
	return d.st.Update(ctx, func(tx store.Tx) error {
		paths, err := tx.List(d.root, "", 0)
		if err != nil {
			return err
		}
		for _, p := range paths {
			if err := tx.Delete(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// keyFor returns the data key with id, or the current key when seal is set.
func (d *Domain) keyFor(id uint32, seal bool) (keymat.Secret, uint32, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if seal {
		id = d.current
	}
	k, ok := d.keys[id]
	return k, id, ok
}
