package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cofferkms/coffer/internal/store"
	"github.com/go-jose/go-jose/v4"
)

const pathKeys = "oidc/keys/"

// signingKey is one token-signing key.
type signingKey struct {
	ID      string
	Key     *rsa.PrivateKey
	Created time.Time
	// Retired keys sign nothing new; they stay published until every token
	// they signed has expired (DropAfter).
	Retired   bool
	DropAfter time.Time
}

type keyRecord struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	DER       []byte    `json:"der"`
	Created   time.Time `json:"created"`
	Retired   bool      `json:"retired,omitempty"`
	DropAfter time.Time `json:"dropAfter,omitempty"`
}

// KeySet holds the issuer's signing keys. It is safe for concurrent use.
type KeySet struct {
	st       store.Store
	now      func() time.Time
	lifetime time.Duration

	mu   sync.RWMutex
	keys []*signingKey // newest last
}

func loadKeySet(ctx context.Context, st store.Store, now func() time.Time, lifetime time.Duration) (*KeySet, error) {
	ks := &KeySet{st: st, now: now, lifetime: lifetime}
	err := st.View(ctx, func(tx store.Tx) error {
		return tx.ForEach(pathKeys, func(p string, v []byte) error {
			var r keyRecord
			if err := json.Unmarshal(v, &r); err != nil || r.V != 1 {
				return fmt.Errorf("decoding %s: malformed signing key record", p)
			}
			k, err := x509.ParsePKCS1PrivateKey(r.DER)
			clear(r.DER)
			if err != nil {
				return fmt.Errorf("decoding %s: %w", p, err)
			}
			ks.keys = append(ks.keys, &signingKey{ID: r.ID, Key: k, Created: r.Created, Retired: r.Retired, DropAfter: r.DropAfter})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("oidc: loading signing keys: %w", err)
	}
	slices.SortFunc(ks.keys, func(a, b *signingKey) int { return a.Created.Compare(b.Created) })
	if ks.current() == nil {
		if err := ks.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *KeySet) current() *signingKey {
	for i := len(ks.keys) - 1; i >= 0; i-- {
		if !ks.keys[i].Retired {
			return ks.keys[i]
		}
	}
	return nil
}

// Current returns the key new tokens are signed with.
func (ks *KeySet) Current() *signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.current()
}

// Rotate makes a new signing key current. The previous key is retired: it
// stays in the JWKS, and verifies, until the tokens it signed expire.
func (ks *KeySet) Rotate(ctx context.Context) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("oidc: generating a signing key: %w", err)
	}
	var idb [16]byte
	rand.Read(idb[:])
	nk := &signingKey{ID: hex.EncodeToString(idb[:]), Key: k, Created: ks.now().UTC()}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var retire *signingKey
	if cur := ks.current(); cur != nil {
		c := *cur
		c.Retired = true
		// Tokens signed just before now live one lifetime more.
		c.DropAfter = ks.now().UTC().Add(ks.lifetime + 5*time.Minute)
		retire = &c
	}
	err = ks.st.Update(ctx, func(tx store.Tx) error {
		for _, sk := range []*signingKey{retire, nk} {
			if sk == nil {
				continue
			}
			b, err := json.Marshal(keyRecord{V: 1, ID: sk.ID, DER: x509.MarshalPKCS1PrivateKey(sk.Key), Created: sk.Created, Retired: sk.Retired, DropAfter: sk.DropAfter})
			if err != nil {
				return err
			}
			if err := tx.Put(pathKeys+sk.ID, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("oidc: storing signing keys: %w", err)
	}
	for i, old := range ks.keys {
		if retire != nil && old.ID == retire.ID {
			ks.keys[i] = retire
		}
	}
	ks.keys = append(ks.keys, nk)
	return nil
}

// Prune drops retired keys whose tokens have all expired.
func (ks *KeySet) Prune(ctx context.Context) error {
	now := ks.now()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var drop []string
	for _, k := range ks.keys {
		if k.Retired && now.After(k.DropAfter) {
			drop = append(drop, k.ID)
		}
	}
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
	ks.keys = slices.DeleteFunc(ks.keys, func(k *signingKey) bool { return slices.Contains(drop, k.ID) })
	return nil
}

// publicKey returns the public key with id, if it is still published.
func (ks *KeySet) publicKey(id string) (*rsa.PublicKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	now := ks.now()
	for _, k := range ks.keys {
		if k.ID == id && (!k.Retired || !now.After(k.DropAfter)) {
			return &k.Key.PublicKey, true
		}
	}
	return nil, false
}

// JWKS returns the published keys.
func (ks *KeySet) JWKS() jose.JSONWebKeySet {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	now := ks.now()
	var set jose.JSONWebKeySet
	for _, k := range ks.keys {
		if k.Retired && now.After(k.DropAfter) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.Key.PublicKey, KeyID: k.ID, Algorithm: "RS256", Use: "sig"})
	}
	return set
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }
