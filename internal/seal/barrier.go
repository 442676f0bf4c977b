package seal

import (
	"context"
	"fmt"
	"strings"

	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/store"
)

// barrier is a Domain's encrypting view of the store.
type barrier struct{ d *Domain }

var _ store.Store = (*barrier)(nil)

func (b *barrier) View(ctx context.Context, fn func(store.Tx) error) error {
	return b.d.st.View(ctx, func(tx store.Tx) error { return fn(&barrierTx{d: b.d, tx: tx}) })
}

func (b *barrier) Update(ctx context.Context, fn func(store.Tx) error) error {
	return b.d.st.Update(ctx, func(tx store.Tx) error { return fn(&barrierTx{d: b.d, tx: tx}) })
}

// Close is a no-op: the underlying store belongs to its opener.
func (b *barrier) Close() error { return nil }

type barrierTx struct {
	d  *Domain
	tx store.Tx
}

func (t *barrierTx) full(rel string) (string, error) {
	if err := store.CheckPath(rel); err != nil {
		return "", err
	}
	p := t.d.dataPrefix() + rel
	if err := store.CheckPath(p); err != nil {
		return "", err
	}
	return p, nil
}

func (t *barrierTx) open(full string, sealed []byte) ([]byte, error) {
	id, err := envelope.KeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("seal: record %s: %w", full, err)
	}
	key, _, ok := t.d.keyFor(id, false)
	if !ok {
		return nil, fmt.Errorf("seal: record %s is sealed under unknown data key %d", full, id)
	}
	v, err := envelope.Open(key, sealed, []byte(full))
	if err != nil {
		return nil, fmt.Errorf("seal: record %s: %w", full, err)
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
	key, id, _ := t.d.keyFor(0, true)
	sealed, err := envelope.Seal(key, id, value, []byte(full))
	if err != nil {
		return err
	}
	return t.tx.Put(full, sealed)
}

func (t *barrierTx) Delete(rel string) error {
	full, err := t.full(rel)
	if err != nil {
		return err
	}
	return t.tx.Delete(full)
}

func (t *barrierTx) List(prefix, after string, limit int) ([]string, error) {
	p := t.d.dataPrefix()
	a := ""
	if after != "" {
		a = p + after
	}
	paths, err := t.tx.List(p+prefix, a, limit)
	for i := range paths {
		paths[i] = strings.TrimPrefix(paths[i], p)
	}
	return paths, err
}

func (t *barrierTx) ForEach(prefix string, fn func(string, []byte) error) error {
	p := t.d.dataPrefix()
	return t.tx.ForEach(p+prefix, func(full string, sealed []byte) error {
		v, err := t.open(full, sealed)
		if err != nil {
			return err
		}
		return fn(strings.TrimPrefix(full, p), v)
	})
}
