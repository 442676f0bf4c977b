package seal

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/store"
)

// barrier is a Domain's encrypting view of the store.
type barrier struct {
	d      *Domain
	prefix string // root+"data/"
	closed atomic.Bool
}

var _ store.Store = (*barrier)(nil)

func (b *barrier) View(ctx context.Context, fn func(store.Tx) error) error {
	if b.closed.Load() {
		return store.ErrClosed
	}
	return b.d.st.View(ctx, func(tx store.Tx) error { return fn(&barrierTx{b: b, tx: tx}) })
}

func (b *barrier) Update(ctx context.Context, fn func(store.Tx) error) error {
	if b.closed.Load() {
		return store.ErrClosed
	}
	return b.d.st.Update(ctx, func(tx store.Tx) error { return fn(&barrierTx{b: b, tx: tx}) })
}

// Close closes this view only: the underlying store belongs to its opener.
func (b *barrier) Close() error {
	b.closed.Store(true)
	return nil
}

type barrierTx struct {
	b  *barrier
	tx store.Tx
}

// full maps a relative path to the stored one, checking both.
func (t *barrierTx) full(rel string) (string, error) {
	if err := store.CheckPath(rel); err != nil {
		return "", err
	}
	p := t.b.prefix + rel
	if err := store.CheckPath(p); err != nil {
		return "", err
	}
	return p, nil
}

// open unseals the value stored at full. Every failure to authenticate is
// the same error, wrapping envelope.ErrOpen.
func (t *barrierTx) open(full string, sealed []byte) ([]byte, error) {
	id, err := envelope.KeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("opening record %s: %w", full, envelope.ErrOpen)
	}
	k, err := t.b.d.dataKey(t.tx, id)
	if err != nil {
		return nil, fmt.Errorf("opening record %s: %w", full, err)
	}
	v, err := k.Open(sealed, []byte(full))
	if err != nil {
		return nil, fmt.Errorf("opening record %s: %w", full, envelope.ErrOpen)
	}
	return v, nil
}

func (t *barrierTx) Get(rel string) ([]byte, error) {
	full, err := t.full(rel)
	if err != nil {
		return nil, err
	}
	sealed, err := t.tx.Get(full)
	if err != nil {
		return nil, err
	}
	return t.open(full, sealed)
}

func (t *barrierTx) Put(rel string, value []byte) error {
	full, err := t.full(rel)
	if err != nil {
		return err
	}
	k := t.b.d.keys.Load().ring
	return t.tx.Put(full, k.keys[k.current].Seal(value, []byte(full)))
}

func (t *barrierTx) Delete(rel string) error {
	full, err := t.full(rel)
	if err != nil {
		return err
	}
	return t.tx.Delete(full)
}

func (t *barrierTx) List(prefix, after string, limit int) ([]string, error) {
	if after != "" {
		after = t.b.prefix + after
	}
	paths, err := t.tx.List(t.b.prefix+prefix, after, limit)
	if err != nil {
		return nil, err
	}
	for i, p := range paths {
		paths[i] = strings.TrimPrefix(p, t.b.prefix)
	}
	return paths, nil
}

func (t *barrierTx) ForEach(prefix string, fn func(string, []byte) error) error {
	return t.tx.ForEach(t.b.prefix+prefix, func(full string, sealed []byte) error {
		v, err := t.open(full, sealed)
		if err != nil {
			return err
		}
		return fn(strings.TrimPrefix(full, t.b.prefix), v)
	})
}
