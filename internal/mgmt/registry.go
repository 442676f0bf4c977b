// Package mgmt is the management plane: the registry of pools a server
// hosts, their properties and lifecycle, and the mapping from a request's
// host name to its pool.
//
// Each pool's records live in their own protected key space (a
// seal.Domain rooted at "pools/<name>/"), so pools are cryptographically
// isolated; the registry's own records live in the server's system domain.
// Management access never grants data-plane access: the registry creates
// pools and seeds their initial administrators, and everything inside a pool
// is governed by the pool's local RBAC.
package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/hsm"
	"github.com/cofferkms/coffer/internal/seal"
	"github.com/cofferkms/coffer/internal/store"
)

// PoolInfo are a pool's management-plane properties.
type PoolInfo struct {
	Name            string    `json:"name"`
	Created         time.Time `json:"created"`
	RetentionDays   int       `json:"retentionDays"`
	PurgeProtection bool      `json:"purgeProtection"`
	// InitialAdministrators received Managed HSM Administrator at creation.
	InitialAdministrators []string `json:"initialAdministrators,omitempty"`
	// Recovery creates the pool to receive another pool's security domain
	// (state SecurityDomainRestore) instead of a new one to activate.
	Recovery bool `json:"recovery,omitempty"`
}

// Config carries the registry's dependencies.
type Config struct {
	// Store is the raw (untrusted) store; pools create their domains in it.
	Store store.Store
	// System is the server's own protected store, for registry records.
	System store.Store
	// Seal protects each pool's domain key on this node.
	Seal      seal.NodeSeal
	DNSSuffix string
	Limits    hsm.Limits
	// AuditLog serves the pools' audit API.
	AuditLog hsm.AuditReader
	// BackupTargets opens full-backup storage; nil disables full backup.
	BackupTargets hsm.BackupTargets
	// OnJobDone is told when a pool's backup or restore job ends.
	OnJobDone func(pool string, j hsm.Job)
	Logger    *slog.Logger
	Now       func() time.Time
}

// Registry is the set of pools a server hosts. It is safe for concurrent use.
type Registry struct {
	cfg   Config
	mu    sync.RWMutex
	pools map[string]*poolEntry
}

type poolEntry struct {
	info   PoolInfo
	pool   *hsm.Pool
	domain *seal.Domain
}

// ErrPoolExists and ErrPoolNotFound are returned by Create and Get.
var (
	ErrPoolExists   = errors.New("mgmt: pool already exists")
	ErrPoolNotFound = errors.New("mgmt: pool not found")
)

const pathPools = "pools/"

func poolRoot(name string) string { return "pools/" + name + "/" }

// Open loads every registered pool.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.System == nil || cfg.Seal == nil {
		return nil, errors.New("mgmt: Config.Store, Config.System and Config.Seal are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Registry{cfg: cfg, pools: make(map[string]*poolEntry)}
	var infos []PoolInfo
	err := cfg.System.View(ctx, func(tx store.Tx) error {
		return tx.ForEach(pathPools, func(path string, v []byte) error {
			var info PoolInfo
			if err := json.Unmarshal(v, &info); err != nil {
				return fmt.Errorf("decoding %s: %w", path, err)
			}
			infos = append(infos, info)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("mgmt: loading pools: %w", err)
	}
	for _, info := range infos {
		d, err := seal.OpenDomain(ctx, cfg.Store, cfg.Seal, poolRoot(info.Name))
		if err != nil {
			return nil, fmt.Errorf("mgmt: opening pool %s: %w", info.Name, err)
		}
		p, err := r.openPool(ctx, info, d)
		if err != nil {
			return nil, err
		}
		r.pools[info.Name] = &poolEntry{info: info, pool: p, domain: d}
	}
	return r, nil
}

func (r *Registry) openPool(ctx context.Context, info PoolInfo, d *seal.Domain) (*hsm.Pool, error) {
	p, err := hsm.Open(ctx, hsm.Config{
		Name: info.Name, Store: d.Store(), Keys: d,
		RetentionDays: info.RetentionDays, PurgeProtection: info.PurgeProtection,
		Limits: r.cfg.Limits, AuditLog: r.cfg.AuditLog, Logger: r.cfg.Logger, Now: r.cfg.Now,
		BackupTargets: r.cfg.BackupTargets, OnJobDone: r.cfg.OnJobDone,
	})
	if err != nil {
		return nil, fmt.Errorf("mgmt: opening pool %s: %w", info.Name, err)
	}
	return p, nil
}

// Create registers a new pool with a fresh security domain and gives its
// initial administrators Managed HSM Administrator at "/". The pool starts
// in state: ActivationPending (it serves nothing until an initial
// administrator downloads its security domain), SecurityDomainRestore
// (info.Recovery: it waits for another pool's security domain), or
// Active (development pools, which the server activates itself).
func (r *Registry) Create(ctx context.Context, info PoolInfo, state hsm.State) (*hsm.Pool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pools[info.Name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrPoolExists, info.Name)
	}
	if info.RetentionDays == 0 {
		info.RetentionDays = 90
	}
	info.Created = r.cfg.Now().UTC().Truncate(time.Second)
	d, err := seal.CreateDomain(ctx, r.cfg.Store, r.cfg.Seal, poolRoot(info.Name), keymat.Secret{})
	if errors.Is(err, seal.ErrDomainExists) {
		// A crash between creating the domain and registering the pool
		// leaves an empty domain behind; adopt it.
		d, err = seal.OpenDomain(ctx, r.cfg.Store, r.cfg.Seal, poolRoot(info.Name))
	}
	if err != nil {
		return nil, fmt.Errorf("mgmt: creating pool %s: %w", info.Name, err)
	}
	p, err := r.openPool(ctx, info, d)
	if err != nil {
		return nil, err
	}
	if len(info.InitialAdministrators) > 0 {
		if err := p.SeedAssignments(ctx, info.InitialAdministrators, []string{hsm.RoleAdministrator}); err != nil {
			return nil, fmt.Errorf("mgmt: seeding administrators of %s: %w", info.Name, err)
		}
	}
	if info.Recovery && state != hsm.StateSecurityDomainRestore {
		return nil, fmt.Errorf("mgmt: a recovery pool starts in state %s", hsm.StateSecurityDomainRestore)
	}
	if err := p.InitState(ctx, state); err != nil {
		return nil, fmt.Errorf("mgmt: initialising pool %s: %w", info.Name, err)
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	if err := r.cfg.System.Update(ctx, func(tx store.Tx) error { return tx.Put(pathPools+info.Name, b) }); err != nil {
		return nil, fmt.Errorf("mgmt: registering pool %s: %w", info.Name, err)
	}
	r.pools[info.Name] = &poolEntry{info: info, pool: p, domain: d}
	r.cfg.Logger.Info("pool created", slog.String("pool", info.Name), slog.Int("retentionDays", info.RetentionDays))
	return p, nil
}

// Get returns a pool by name.
func (r *Registry) Get(name string) (*hsm.Pool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.pools[name]
	if !ok {
		return nil, false
	}
	return e.pool, true
}

// Info returns a pool's properties.
func (r *Registry) Info(name string) (PoolInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.pools[name]
	if !ok {
		return PoolInfo{}, false
	}
	return e.info, true
}

// Names lists the pools, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.pools))
	for n := range r.pools {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// PoolForHost maps a request's Host to a pool: "<pool>.<suffix>[:port]"
// names the pool; a server with exactly one pool also answers on any other
// host (an IP address, localhost), which is what set-ups without DNS need.
func (r *Registry) PoolForHost(host string) (*hsm.Pool, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	r.mu.RLock()
	defer r.mu.RUnlock()
	if name, ok := strings.CutSuffix(host, "."+r.cfg.DNSSuffix); ok && !strings.Contains(name, ".") {
		if e, ok := r.pools[name]; ok {
			return e.pool, true
		}
		return nil, false
	}
	if len(r.pools) == 1 {
		for _, e := range r.pools {
			return e.pool, true
		}
	}
	return nil, false
}

// Maintain runs every pool's time-driven work.
func (r *Registry) Maintain(ctx context.Context) map[string][]hsm.MaintenanceEvent {
	r.mu.RLock()
	entries := make([]*poolEntry, 0, len(r.pools))
	for _, e := range r.pools {
		entries = append(entries, e)
	}
	r.mu.RUnlock()
	out := make(map[string][]hsm.MaintenanceEvent)
	for _, e := range entries {
		if evs := e.pool.Maintain(ctx); len(evs) > 0 {
			out[e.info.Name] = evs
		}
	}
	return out
}
