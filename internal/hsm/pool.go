package hsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
)

// DomainKeys is the pool's security domain as the pool uses it (a
// seal.Domain). Backup blobs are sealed with keys derived from it so they
// open only where the same domain is held.
type DomainKeys interface {
	DeriveKey(label string, size int) keymat.Secret
	// DomainKey returns a copy of the domain key, for the security-domain
	// download.
	DomainKey() keymat.Secret
	// ReplaceDomainKey installs an uploaded domain key.
	ReplaceDomainKey(ctx context.Context, key keymat.Secret) error
}

// Limits are the pool's object limits; zero fields take Managed HSM's values.
type Limits struct {
	MaxKeys                 int // keys per pool (5000)
	MaxVersionsPerKey       int // versions per key, rotation included (100)
	MaxCustomRoles          int // custom role definitions (50)
	MaxAssignmentsPoolScope int // role assignments at "/" and "/keys" (50)
	MaxAssignmentsKeyScope  int // role assignments per key scope (10)
}

func (l Limits) withDefaults() Limits {
	if l.MaxKeys == 0 {
		l.MaxKeys = 5000
	}
	if l.MaxVersionsPerKey == 0 {
		l.MaxVersionsPerKey = 100
	}
	if l.MaxCustomRoles == 0 {
		l.MaxCustomRoles = 50
	}
	if l.MaxAssignmentsPoolScope == 0 {
		l.MaxAssignmentsPoolScope = 50
	}
	if l.MaxAssignmentsKeyScope == 0 {
		l.MaxAssignmentsKeyScope = 10
	}
	return l
}

// Config carries everything a Pool depends on.
type Config struct {
	// Name is the pool's name (the first label of its host name).
	Name string
	// Store is the pool's protected store (a seal.Domain barrier view).
	Store store.Store
	// Keys derives backup keys from the pool's security domain.
	Keys DomainKeys
	// RetentionDays is the soft-delete retention, 7–90 (default 90).
	RetentionDays int
	// PurgeProtection forbids purging deleted keys before retention ends.
	PurgeProtection bool
	Limits          Limits
	// AuditLog reads the pool's audit log for the audit API; nil disables
	// that API.
	AuditLog AuditReader
	// BackupTargets opens full-backup storage; nil disables full backup.
	BackupTargets BackupTargets
	// OnJobDone, if set, is told when a backup or restore job ends (the
	// server records it in the audit log).
	OnJobDone func(pool string, j Job)
	Logger    *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Pool is one Managed HSM. It is safe for concurrent use.
type Pool struct {
	cfg Config
	log *slog.Logger

	// writeMu serialises mutations so each one reads a stable state, writes
	// the store, and only then publishes the new in-memory state.
	writeMu sync.Mutex

	mu   sync.RWMutex
	keys map[string]*keyEntry // by case-folded name; active and deleted

	rbac     atomic.Pointer[rbacState]
	settings atomic.Pointer[map[string]string]
	lc       atomic.Pointer[lifecycle]
	jobs     jobs
}

// Open loads the pool's state from its store into memory.
func Open(ctx context.Context, cfg Config) (*Pool, error) {
	if cfg.Name == "" || cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("hsm: Config.Name, Config.Store and Config.Keys are required")
	}
	if cfg.RetentionDays == 0 {
		cfg.RetentionDays = 90
	}
	if cfg.RetentionDays < 7 || cfg.RetentionDays > 90 {
		return nil, fmt.Errorf("hsm: soft-delete retention must be 7 to 90 days, not %d", cfg.RetentionDays)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	p := &Pool{cfg: cfg, log: cfg.Logger.With("pool", cfg.Name), keys: make(map[string]*keyEntry)}
	if err := p.load(ctx); err != nil {
		return nil, fmt.Errorf("opening pool %s: %w", cfg.Name, err)
	}
	return p, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.cfg.Name }

func (p *Pool) now() time.Time { return p.cfg.Now().UTC().Truncate(time.Second) }

// load reads every record of the pool. It runs once, before the pool serves.
func (p *Pool) load(ctx context.Context) error {
	keys := make(map[string]*keyEntry)
	var roles []authz.RoleDefinition
	var assignments []authz.RoleAssignment
	settings := defaultSettings()
	var lc lifecycle
	err := p.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if lc, err = loadLifecycle(tx); err != nil {
			return err
		}
		if err := tx.ForEach(pathKeys, func(path string, value []byte) error {
			return loadKeyRecord(keys, path, value)
		}); err != nil {
			return err
		}
		if roles, assignments, err = loadRBAC(tx); err != nil {
			return err
		}
		return loadSettings(tx, settings)
	})
	if err != nil {
		return err
	}
	for name, e := range keys {
		if e.name == "" || len(e.versions) == 0 {
			// A meta record without versions (or the reverse) cannot be
			// produced by a committed transaction; refuse to guess.
			return fmt.Errorf("key %s: incomplete records in store", name)
		}
		e.sortVersions()
	}
	p.keys = keys
	p.publishRBAC(roles, assignments)
	p.settings.Store(&settings)
	p.setLifecycle(lc)
	return nil
}

// update runs fn in a store transaction while holding the write lock, and
// calls publish (still under the lock) only once the transaction committed.
func (p *Pool) update(ctx context.Context, fn func(tx store.Tx) error, publish func()) error {
	// The request's commit hook (its audit event) runs last inside the
	// transaction: if the event cannot be made durable, nothing changes.
	err := p.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return store.RunCommitHook(ctx)
	})
	if err != nil {
		var he *Error
		if errors.As(err, &he) {
			return err
		}
		return fmt.Errorf("hsm: writing pool %s: %w", p.cfg.Name, err)
	}
	if publish != nil {
		publish()
	}
	return nil
}

// recoveryLevel is Key Vault's DeletionRecoveryLevel for this pool.
func (p *Pool) recoveryLevel() string {
	custom := p.cfg.RetentionDays < 90
	switch {
	case custom && p.cfg.PurgeProtection:
		return "CustomizedRecoverable"
	case custom:
		return "CustomizedRecoverable+Purgeable"
	case p.cfg.PurgeProtection:
		return "Recoverable"
	default:
		return "Recoverable+Purgeable"
	}
}
