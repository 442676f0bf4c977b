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

// bucketName is the one bucket that holds every record; paths are its keys.
var bucketName = []byte("coffer")

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// errTxDone is returned by a Tx used after its View or Update returned.
var errTxDone = errors.New("boltstore: transaction used after it ended")

// Options tune Open. The zero value is the production setting.
type Options struct {
	// Timeout bounds the wait for a file lock held by another process.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// NoSync skips fsync on commit, so a nil return from Update no longer
	// means durable. For tests only.
	NoSync bool
}

// Store is a store.Store backed by one bbolt file.
type Store struct {
	db     *bolt.DB
	path   string
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating it with mode 0600 if it
// does not exist.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if fi, err := os.Stat(path); err == nil {
		if err := checkMode(path, fi); err != nil {
			return nil, err
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.Timeout,
		NoSync:  opts.NoSync,
		// The map freelist is faster to update than the array one for
		// files with many free pages; bbolt recommends it for new files.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: %s is locked by another process (waited %v)", path, opts.Timeout)
		}
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	// Checked again on the open file: the file may have been created just
	// now under an unusual umask, or swapped since the first check.
	fi, err := os.Stat(path)
	if err == nil {
		err = checkMode(path, fi)
	}
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketName)
			return err
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

func checkMode(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("boltstore: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("boltstore: %s is accessible by group or others (mode %v); run chmod 600 on it", path, perm)
	}
	return nil
}

// View runs fn in a read-only transaction on a consistent snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.closedErr(s.db.View(func(btx *bolt.Tx) error { return run(btx, false, fn) }))
}

// Update runs fn in a read-write transaction and commits it, with fsync,
// if fn returns nil. If fn fails or panics the transaction is rolled back
// (and the panic continues). fn is called exactly once.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.closedErr(s.db.Update(func(btx *bolt.Tx) error { return run(btx, true, fn) }))
}

func (s *Store) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// closedErr maps bbolt's error for a transaction begun on a closed
// database (Close raced with the check in ready) to store.ErrClosed.
func (s *Store) closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

func run(btx *bolt.Tx, writable bool, fn func(store.Tx) error) error {
	b := btx.Bucket(bucketName)
	if b == nil {
		return errors.New("boltstore: the records bucket is missing")
	}
	t := &tx{b: b, writable: writable}
	defer func() { t.b = nil }()
	return fn(t)
}

// Close waits for running transactions to end and closes the file. Later
// calls to View and Update return store.ErrClosed; closing twice is a
// no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: closing %s: %w", s.path, err)
	}
	return nil
}

// tx adapts a bbolt bucket to store.Tx. b is nil once the transaction has
// ended, so a Tx kept past its closure fails instead of reading unmapped
// memory.
type tx struct {
	b        *bolt.Bucket
	writable bool
}

func (t *tx) Get(path string) ([]byte, error) {
	if t.b == nil {
		return nil, errTxDone
	}
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
	if t.b == nil {
		return errTxDone
	}
	if !t.writable {
		return store.ErrReadOnly
	}
	if err := store.CheckPath(path); err != nil {
		return err
	}
	// bytes.Clone of an empty slice is non-nil, which bbolt needs to
	// tell an empty value from an absent one.
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	return t.b.Put([]byte(path), v)
}

func (t *tx) Delete(path string) error {
	if t.b == nil {
		return errTxDone
	}
	if !t.writable {
		return store.ErrReadOnly
	}
	if err := store.CheckPath(path); err != nil {
		return err
	}
	return t.b.Delete([]byte(path))
}

func (t *tx) List(prefix, after string, limit int) ([]string, error) {
	if t.b == nil {
		return nil, errTxDone
	}
	var out []string
	c := t.b.Cursor()
	p := []byte(prefix)
	var k []byte
	if after != "" && after >= prefix {
		// Start past after; every path under prefix sorts at or after
		// prefix, so when after sorts before prefix the prefix is the
		// start. If after sorts past every path under prefix, the
		// HasPrefix test below ends the loop at once.
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
	if t.b == nil {
		return errTxDone
	}
	c := t.b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), bytes.Clone(v)); err != nil {
			return err
		}
	}
	return nil
}
