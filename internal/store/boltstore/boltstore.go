// Package boltstore is the embedded default store.Store, a single bbolt
// file in the data directory.
//
// bbolt commits a read-write transaction with an fsync, so a nil return from
// Update means the change is on disk; a crash at any point leaves the file
// at the last committed transaction. Readers use MVCC snapshots and never
// block the single writer.
//
// Caveats inherited from bbolt: one process may open the file at a time
// (Open waits up to Options.Timeout for the file lock and then fails), and
// slices returned by bbolt are valid only inside a transaction, so every
// value is copied out before it is returned.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var bucket = []byte("coffer")

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock another process holds
	// (default 5s).
	Timeout time.Duration
	// NoSync skips fsync on commit. It makes Update's durability promise
	// false and exists only for tests.
	NoSync bool
}

// Store is a store.Store backed by one bbolt file.
type Store struct {
	db     *bolt.DB
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database file at path with mode 0600.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: %s is in use by another process", path)
		}
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		db.Close()
		return nil, fmt.Errorf("boltstore: %s is readable by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: initialising %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&tx{b: btx.Bucket(bucket)}) })
}

// Update runs fn in a read-write transaction, committed (and fsynced) if fn
// returns nil. A panic in fn rolls the transaction back and propagates.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return s.db.Update(func(btx *bolt.Tx) error { return fn(&tx{b: btx.Bucket(bucket), writable: true}) })
}

// Close closes the file.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

type tx struct {
	b        *bolt.Bucket
	writable bool
}

func (t *tx) Get(path string) ([]byte, error) {
	if err := store.CheckPath(path); err != nil {
		return nil, err
	}
	v := t.b.Get([]byte(path))
	if v == nil {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t *tx) Put(path string, value []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	if err := store.CheckPath(path); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	// bbolt keeps references to the slices until commit; copy both.
	return t.b.Put([]byte(path), bytes.Clone(value))
}

func (t *tx) Delete(path string) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	if err := store.CheckPath(path); err != nil {
		return err
	}
	return t.b.Delete([]byte(path))
}

func (t *tx) List(prefix, after string, limit int) ([]string, error) {
	var out []string
	c := t.b.Cursor()
	p := []byte(prefix)
	var k []byte
	if after != "" && after >= prefix {
		k, _ = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, _ = c.Next()
		}
	} else {
		k, _ = c.Seek(p)
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		out = append(out, string(k))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (t *tx) ForEach(prefix string, fn func(string, []byte) error) error {
	c := t.b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), bytes.Clone(v)); err != nil {
			return err
		}
	}
	return nil
}
