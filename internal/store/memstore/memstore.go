// Package memstore is an in-memory store.Store for tests. Transactions are
// serialised by a single lock; Update works on a copy that replaces the live
// map only on success, so a failed or panicking transaction leaves no trace.
package memstore

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/cofferkms/coffer/internal/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	data   map[string][]byte
	closed bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{data: make(map[string][]byte)} }

// View runs fn against a consistent snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn(&tx{data: s.data})
}

// Update runs fn on a private copy and installs it if fn succeeds.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	t := &tx{data: s.data, writable: true, writes: make(map[string][]byte)}
	if err := fn(t); err != nil {
		return err
	}
	if len(t.writes) == 0 {
		return nil
	}
	next := make(map[string][]byte, len(s.data)+len(t.writes))
	for k, v := range s.data {
		next[k] = v
	}
	for k, v := range t.writes {
		if v == nil {
			delete(next, k)
		} else {
			next[k] = v
		}
	}
	s.data = next
	return nil
}

// Close makes every later View and Update fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

type tx struct {
	data     map[string][]byte
	writable bool
	writes   map[string][]byte // nil value = deleted
}

func (t *tx) lookup(path string) ([]byte, bool) {
	if t.writes != nil {
		if v, ok := t.writes[path]; ok {
			return v, v != nil
		}
	}
	v, ok := t.data[path]
	return v, ok
}

func (t *tx) Get(path string) ([]byte, error) {
	if err := store.CheckPath(path); err != nil {
		return nil, err
	}
	v, ok := t.lookup(path)
	if !ok {
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
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	t.writes[path] = v
	return nil
}

func (t *tx) Delete(path string) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	if err := store.CheckPath(path); err != nil {
		return err
	}
	t.writes[path] = nil
	return nil
}

func (t *tx) keys(prefix string) []string {
	seen := make(map[string]bool)
	var out []string
	for k := range t.data {
		if strings.HasPrefix(k, prefix) {
			seen[k] = true
		}
	}
	for k, v := range t.writes {
		if strings.HasPrefix(k, prefix) {
			seen[k] = v != nil
		}
	}
	for k, live := range seen {
		if live {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (t *tx) List(prefix, after string, limit int) ([]string, error) {
	var out []string
	for _, k := range t.keys(prefix) {
		if after != "" && k <= after {
			continue
		}
		out = append(out, k)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (t *tx) ForEach(prefix string, fn func(string, []byte) error) error {
	for _, k := range t.keys(prefix) {
		v, _ := t.lookup(k)
		if err := fn(k, bytes.Clone(v)); err != nil {
			return err
		}
	}
	return nil
}
