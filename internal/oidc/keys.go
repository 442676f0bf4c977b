package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cofferkms/coffer/internal/store"
	"github.com/go-jose/go-jose/v4"
)

const (
	pathKeys         = "oidc/keys/"
	keyRecordVersion = 1
	// retireMargin keeps a retired key published a little past the expiry
	// of the last token it signed, beyond the verifier's leeway.
	retireMargin = 5 * time.Minute
	// reloadInterval bounds how often an unknown kid makes the key set
	// re-read the store (another node sharing it may have rotated).
	reloadInterval = 5 * time.Second
)

// signingKey is one token-signing key.
type signingKey struct {
	id      string
	key     *rsa.PrivateKey
	created time.Time
	// A retired key signs nothing new; it stays published until every
	// token it signed has expired (dropAfter).
	retired   bool
	dropAfter time.Time
}

func (k *signingKey) published(now time.Time) bool { return !k.retired || !now.After(k.dropAfter) }

// keyRecord is a signing key's stored form. The store is an encrypting
// barrier, so the private key is kept as PKCS #1 DER.
type keyRecord struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	DER       []byte    `json:"der"`
	Created   time.Time `json:"created"`
	Retired   bool      `json:"retired,omitempty"`
	DropAfter time.Time `json:"dropAfter,omitzero"`
}

// KeySet holds the issuer's RSA-2048 signing keys: one current, plus
// retired ones still published for the tokens they signed. It is safe for
// concurrent use and shared by the Issuer and the Verifier.
type KeySet struct {
	st          store.Store
	now         func() time.Time
	lifetime    time.Duration
	rotateEvery time.Duration // ≤ 0: never automatically

	writeMu    sync.Mutex // serialises Rotate, Prune and reload
	lastReload time.Time  // guarded by writeMu

	mu   sync.RWMutex
	keys []*signingKey // oldest first
}

func loadKeySet(ctx context.Context, st store.Store, now func() time.Time, lifetime, rotateEvery time.Duration) (*KeySet, error) {
	ks := &KeySet{st: st, now: now, lifetime: lifetime, rotateEvery: rotateEvery}
	keys, err := ks.read(ctx)
	if err != nil {
		return nil, err
	}
	ks.keys = keys
	if ks.current() == nil {
		if err := ks.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// read loads every stored key, oldest first.
func (ks *KeySet) read(ctx context.Context) ([]*signingKey, error) {
	var keys []*signingKey
	err := ks.st.View(ctx, func(tx store.Tx) error {
		return tx.ForEach(pathKeys, func(p string, v []byte) error {
			var r keyRecord
			if err := json.Unmarshal(v, &r); err != nil || r.V != keyRecordVersion {
				return fmt.Errorf("decoding %s: malformed signing key record", p)
			}
			k, err := x509.ParsePKCS1PrivateKey(r.DER)
			clear(r.DER)
			if err != nil {
				return fmt.Errorf("decoding %s: malformed signing key", p)
			}
			keys = append(keys, &signingKey{id: r.ID, key: k, created: r.Created, retired: r.Retired, dropAfter: r.DropAfter})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("oidc: loading signing keys: %w", err)
	}
	slices.SortStableFunc(keys, func(a, b *signingKey) int { return a.created.Compare(b.created) })
	return keys, nil
}

func (ks *KeySet) current() *signingKey {
	for i := len(ks.keys) - 1; i >= 0; i-- {
		if !ks.keys[i].retired {
			return ks.keys[i]
		}
	}
	return nil
}

// Rotate makes a new signing key current. The previous one is retired: it
// stays in the JWKS, and keeps verifying, until the tokens it signed have
// expired.
func (ks *KeySet) Rotate(ctx context.Context) error {
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	return ks.rotateLocked(ctx)
}

func (ks *KeySet) rotateLocked(ctx context.Context) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("oidc: generating a signing key: %w", err)
	}
	var idb [16]byte
	rand.Read(idb[:])
	now := ks.now().UTC()
	nk := &signingKey{id: hex.EncodeToString(idb[:]), key: k, created: now}
	ks.mu.RLock()
	var retire *signingKey
	if cur := ks.current(); cur != nil {
		c := *cur
		c.retired, c.dropAfter = true, now.Add(ks.lifetime+retireMargin)
		retire = &c
	}
	ks.mu.RUnlock()
	err = ks.st.Update(ctx, func(tx store.Tx) error {
		for _, sk := range []*signingKey{retire, nk} {
			if sk == nil {
				continue
			}
			b, err := json.Marshal(keyRecord{V: keyRecordVersion, ID: sk.id, DER: x509.MarshalPKCS1PrivateKey(sk.key),
				Created: sk.created, Retired: sk.retired, DropAfter: sk.dropAfter})
			if err != nil {
				return err
			}
			if err := tx.Put(pathKeys+sk.id, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("oidc: storing signing keys: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	keys := slices.Clone(ks.keys)
	if retire != nil {
		keys[slices.IndexFunc(keys, func(k *signingKey) bool { return k.id == retire.id })] = retire
	}
	ks.keys = append(keys, nk)
	return nil
}

// Prune deletes retired keys whose tokens have all expired. They are
// already out of the JWKS; this removes them from the store.
func (ks *KeySet) Prune(ctx context.Context) error {
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	now := ks.now()
	ks.mu.RLock()
	var drop []string
	for _, k := range ks.keys {
		if !k.published(now) {
			drop = append(drop, k.id)
		}
	}
	ks.mu.RUnlock()
	if len(drop) == 0 {
		return nil
	}
	err := ks.st.Update(ctx, func(tx store.Tx) error {
		for _, id := range drop {
			if err := tx.Delete(pathKeys + id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("oidc: pruning signing keys: %w", err)
	}
	ks.mu.Lock()
	ks.keys = slices.DeleteFunc(slices.Clone(ks.keys), func(k *signingKey) bool { return slices.Contains(drop, k.id) })
	ks.mu.Unlock()
	return nil
}

// signer returns the key to sign with now, first rotating if the current
// key is older than the rotation interval.
func (ks *KeySet) signer(ctx context.Context) (*signingKey, error) {
	ks.mu.RLock()
	cur := ks.current()
	ks.mu.RUnlock()
	if cur != nil && (ks.rotateEvery <= 0 || ks.now().Before(cur.created.Add(ks.rotateEvery))) {
		return cur, nil
	}
	ks.writeMu.Lock()
	defer ks.writeMu.Unlock()
	ks.mu.RLock()
	cur = ks.current()
	ks.mu.RUnlock()
	if cur == nil || (ks.rotateEvery > 0 && !ks.now().Before(cur.created.Add(ks.rotateEvery))) {
		if err := ks.rotateLocked(ctx); err != nil {
			return nil, err
		}
		ks.mu.RLock()
		cur = ks.current()
		ks.mu.RUnlock()
	}
	if cur == nil {
		return nil, errors.New("oidc: no signing key")
	}
	return cur, nil
}

// publicKey returns the published key with id. An unknown id makes the
// set re-read the store (at most every reloadInterval), so tokens signed
// by a key another node created verify here too.
func (ks *KeySet) publicKey(ctx context.Context, id string) (*rsa.PublicKey, bool) {
	if k, ok := ks.lookup(id); ok {
		return k, true
	}
	ks.writeMu.Lock()
	reload := ks.now().Sub(ks.lastReload) >= reloadInterval
	if reload {
		ks.lastReload = ks.now()
		if keys, err := ks.read(ctx); err == nil {
			ks.mu.Lock()
			ks.keys = keys
			ks.mu.Unlock()
		}
	}
	ks.writeMu.Unlock()
	if !reload {
		return nil, false
	}
	return ks.lookup(id)
}

func (ks *KeySet) lookup(id string) (*rsa.PublicKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	now := ks.now()
	for _, k := range ks.keys {
		if k.id == id && k.published(now) {
			return &k.key.PublicKey, true
		}
	}
	return nil, false
}

// JWKS returns the published public keys.
func (ks *KeySet) JWKS() jose.JSONWebKeySet {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	now := ks.now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range ks.keys {
		if k.published(now) {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.id, Algorithm: string(jose.RS256), Use: "sig"})
		}
	}
	return set
}
