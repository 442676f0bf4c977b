// Package store defines the storage contract every backend implements: a
// transactional, ordered key/value space addressed by slash-separated paths.
//
// The store is untrusted. It sees only the ciphertext that package seal hands
// it, so a backend never needs to know what a record means, and an attacker
// who can read or write the store learns nothing about key material.
//
// Backends live in sub-packages (boltstore, memstore, and later pgstore) and
// all pass the conformance suite in storetest.
package store

import (
	"context"
	"errors"
)

// Sentinel errors. Backends return them (possibly wrapped) so callers can
// branch with errors.Is.
var (
	// ErrNotFound is returned by Tx.Get when no record exists at the path.
	ErrNotFound = errors.New("store: not found")
	// ErrReadOnly is returned by Tx.Put and Tx.Delete inside Store.View.
	ErrReadOnly = errors.New("store: transaction is read-only")
	// ErrClosed is returned by View and Update after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidPath is returned for an empty path or one longer than MaxPathLen.
	ErrInvalidPath = errors.New("store: invalid path")
)

// MaxPathLen bounds record paths so every backend can index them.
const MaxPathLen = 1024

// Store is a transactional key/value store. Implementations must be safe for
// concurrent use.
//
// Update runs fn in a read-write transaction and commits it if fn returns
// nil; if fn returns an error or panics, nothing fn wrote is visible to
// anyone, ever. A nil return from Update means the transaction is durable.
// fn may be called more than once (a backend may retry on a serialization
// conflict), so it must not keep state between calls.
//
// View runs fn in a read-only transaction that sees a consistent snapshot.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is valid only inside the View or Update call that produced it and must
// not be used from other goroutines.
//
// Byte slices passed in may be retained by the implementation only as copies;
// byte slices returned belong to the caller.
type Tx interface {
	// Get returns the value at path, or ErrNotFound.
	Get(path string) ([]byte, error)
	// Put stores value at path, replacing any previous value.
	Put(path string, value []byte) error
	// Delete removes the record at path. Deleting an absent path is not an error.
	Delete(path string) error
	// List returns, in ascending byte order, the paths that start with prefix
	// and sort strictly after after (after == "" means from the beginning).
	// At most limit paths are returned; limit <= 0 means no limit.
	List(prefix, after string, limit int) ([]string, error)
	// ForEach calls fn for every record whose path starts with prefix, in
	// ascending path order. Iteration stops at the first error fn returns,
	// and ForEach returns that error. fn must not modify the store.
	ForEach(prefix string, fn func(path string, value []byte) error) error
}

// CheckPath reports whether path is acceptable to every backend.
func CheckPath(path string) error {
	if path == "" || len(path) > MaxPathLen {
		return ErrInvalidPath
	}
	return nil
}
