package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/store"
)

// Store layout: one record per tenant, principal and resource, each a
// versioned JSON envelope ({"v":1,"data":...}).
const (
	pathTenants    = "dir/tenants/"
	pathPrincipals = "dir/principals/"
	pathResources  = "dir/resources/"
	recordVersion  = 1
)

// Config carries the directory's dependencies.
type Config struct {
	// Store holds the directory's records; in a server it is an encrypting
	// barrier view.
	Store store.Store
	// Argon2 are the parameters for new password hashes; zero means
	// DefaultArgon2.
	Argon2 Argon2Params
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Directory is the embedded directory. It is safe for concurrent use.
// Reads are served from an immutable in-memory snapshot; writes go to the
// store first and then replace the snapshot.
type Directory struct {
	cfg        Config
	writeMu    sync.Mutex
	snap       atomic.Pointer[snapshot]
	argonSlots chan struct{}
}

// snapshot is an immutable view of the whole directory. The primary maps
// are copied on write; the derived ones are rebuilt by index.
type snapshot struct {
	gen        uint64
	tenants    map[string]*Tenant    // by id
	principals map[string]*Principal // by object id
	resources  map[string]*Resource  // by lower-case name

	byApp          map[string]*Principal   // tenant|lower(appId)
	byUPN          map[string]*Principal   // tenant|lower(upn)
	resourceByCred map[string]*Resource    // by Resource.ID
	byHeader       map[[32]byte]headerUser // SHA-256 of an identity-header secret
	managed        []*Principal            // managed identities
	groupsOf       map[string][]string     // object id → transitive groups, sorted
}

// headerUser is what an identity-header secret names: a resource, or a
// user-assigned identity's own secret (identity and credential id).
type headerUser struct {
	resource *Resource
	identity *Principal
	credID   string
}

// envelope is the stored form of every record.
type envelope[T any] struct {
	V    int `json:"v"`
	Data *T  `json:"data"`
}

func decodeRecord[T any](path string, b []byte) (*T, error) {
	var e envelope[T]
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if e.V != recordVersion || e.Data == nil {
		return nil, fmt.Errorf("decoding %s: unsupported record version %d", path, e.V)
	}
	return e.Data, nil
}

func loadAll[T any](tx store.Tx, prefix string, add func(*T)) error {
	return tx.ForEach(prefix, func(p string, v []byte) error {
		rec, err := decodeRecord[T](p, v)
		if err != nil {
			return err
		}
		add(rec)
		return nil
	})
}

// Open loads the directory from its store.
func Open(ctx context.Context, cfg Config) (*Directory, error) {
	if cfg.Store == nil {
		return nil, errors.New("directory: Config.Store is required")
	}
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2
	}
	if cfg.Argon2.Time == 0 || cfg.Argon2.MemoryKiB < 8*uint32(cfg.Argon2.Threads) || cfg.Argon2.Threads == 0 {
		return nil, errors.New("directory: Config.Argon2 needs Time ≥ 1, Threads ≥ 1 and MemoryKiB ≥ 8×Threads")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &snapshot{tenants: map[string]*Tenant{}, principals: map[string]*Principal{}, resources: map[string]*Resource{}}
	err := cfg.Store.View(ctx, func(tx store.Tx) error {
		return errors.Join(
			loadAll(tx, pathTenants, func(t *Tenant) { s.tenants[t.ID] = t }),
			loadAll(tx, pathResources, func(r *Resource) { s.resources[resourceKey(r.Name)] = r }),
			loadAll(tx, pathPrincipals, func(p *Principal) { s.principals[p.ObjectID] = p }),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("directory: loading: %w", err)
	}
	s.index()
	d := &Directory{cfg: cfg, argonSlots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
	d.snap.Store(s)
	return d, nil
}

// index rebuilds the derived maps of s.
func (s *snapshot) index() {
	s.byApp = make(map[string]*Principal)
	s.byUPN = make(map[string]*Principal)
	s.resourceByCred = make(map[string]*Resource, len(s.resources))
	s.byHeader = make(map[[32]byte]headerUser, len(s.resources))
	s.managed = nil
	for _, r := range s.resources {
		s.resourceByCred[r.ID] = r
		if len(r.Hash) == sha256.Size {
			s.byHeader[[32]byte(r.Hash)] = headerUser{resource: r}
		}
	}
	direct := make(map[string][]string) // member → enabled groups listing it
	for _, p := range s.principals {
		if p.AppID != "" {
			s.byApp[p.TenantID+"|"+strings.ToLower(p.AppID)] = p
		}
		if p.UPN != "" {
			s.byUPN[p.TenantID+"|"+strings.ToLower(p.UPN)] = p
		}
		if p.Kind == KindManagedIdentity {
			s.managed = append(s.managed, p)
			for _, c := range p.Credentials {
				if c.Kind == CredIdentityHeader && len(c.Hash) == sha256.Size {
					s.byHeader[[32]byte(c.Hash)] = headerUser{identity: p, credID: c.ID}
				}
			}
		}
		if p.Kind == KindGroup && p.Enabled {
			for _, m := range p.Members {
				direct[m] = append(direct[m], p.ObjectID)
			}
		}
	}
	s.groupsOf = transitiveGroups(direct)
}

// transitiveGroups computes, for every member, the groups it belongs to
// directly or through nested groups. Each group's ancestors are computed
// once (breadth-first, so cycles end); a group is never its own member.
func transitiveGroups(direct map[string][]string) map[string][]string {
	ancestors := make(map[string]map[string]bool)
	closure := func(g string) map[string]bool {
		if a, ok := ancestors[g]; ok {
			return a
		}
		seen := map[string]bool{}
		queue := slices.Clone(direct[g])
		for len(queue) > 0 {
			next := queue[0]
			queue = queue[1:]
			if seen[next] {
				continue
			}
			seen[next] = true
			queue = append(queue, direct[next]...)
		}
		ancestors[g] = seen
		return seen
	}
	out := make(map[string][]string, len(direct))
	for member, groups := range direct {
		all := map[string]bool{}
		for _, g := range groups {
			all[g] = true
			maps.Copy(all, closure(g))
		}
		delete(all, member)
		if len(all) > 0 {
			out[member] = slices.Sorted(maps.Keys(all))
		}
	}
	return out
}

// clone copies the snapshot's primary maps for a mutation. The derived
// maps are shared: they describe the directory before the mutation, which
// is what a mutation's checks ask about, and index replaces them after.
func (s *snapshot) clone() *snapshot {
	n := *s
	n.gen++
	n.tenants, n.principals, n.resources = maps.Clone(s.tenants), maps.Clone(s.principals), maps.Clone(s.resources)
	return &n
}

func (d *Directory) now() time.Time { return d.cfg.Now().UTC().Truncate(time.Second) }

// change is what a mutation writes: records to put and paths to delete.
type change struct {
	puts    map[string]any
	deletes []string
}

func (c *change) put(path string, v any) {
	if c.puts == nil {
		c.puts = make(map[string]any)
	}
	c.puts[path] = v
}

// mutate applies fn to a copy of the directory, writes the records fn
// names, and only then publishes the new snapshot: a failed write leaves
// the directory as it was.
func (d *Directory) mutate(ctx context.Context, fn func(s *snapshot, c *change) error) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	next := d.snap.Load().clone()
	var c change
	if err := fn(next, &c); err != nil {
		return err
	}
	encoded := make(map[string][]byte, len(c.puts))
	for p, v := range c.puts {
		b, err := json.Marshal(envelope[any]{V: recordVersion, Data: &v})
		if err != nil {
			return fmt.Errorf("directory: encoding %s: %w", p, err)
		}
		encoded[p] = b
	}
	err := d.cfg.Store.Update(ctx, func(tx store.Tx) error {
		for p, b := range encoded {
			if err := tx.Put(p, b); err != nil {
				return err
			}
		}
		for _, p := range c.deletes {
			if err := tx.Delete(p); err != nil {
				return err
			}
		}
		// The request's audit event is made durable before the change.
		return store.RunCommitHook(ctx)
	})
	if err != nil {
		return fmt.Errorf("directory: writing: %w", err)
	}
	next.index()
	d.snap.Store(next)
	return nil
}

// Generation changes whenever the directory does; caches derived from it
// (verified tokens' groups, authorization decisions) compare it to know
// when to recompute.
func (d *Directory) Generation() uint64 { return d.snap.Load().gen }

// NewGUID returns a random version-4 GUID, the form of every object id.
func NewGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func eqFold(a, b string) bool { return strings.EqualFold(a, b) }

// reservedTenantNames cannot name tenants: they are path segments of the
// data plane and of well-known endpoints.
var reservedTenantNames = map[string]bool{
	"adfs": true, "common": true, "organizations": true, "consumers": true, "keys": true, "deletedkeys": true,
	"rng": true, "providers": true, "settings": true, "backup": true, "restore": true, "securitydomain": true,
	"msi": true, "metadata": true, "subscriptions": true, "tenants": true, "healthz": true, "readyz": true, "metrics": true,
}

// CreateTenant creates a tenant named by a display or domain name (such
// as contoso.example). The first tenant becomes the default.
func (d *Directory) CreateTenant(ctx context.Context, name string) (*Tenant, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || len(name) > 64 || reservedTenantNames[name] || strings.ContainsAny(name, "/?#%\\ \t") || looksLikeGUID(name) {
		return nil, fmt.Errorf("%w: tenant name %q is not allowed", ErrInvalid, name)
	}
	var out *Tenant
	err := d.mutate(ctx, func(s *snapshot, c *change) error {
		for _, t := range s.tenants {
			if t.Name == name {
				return fmt.Errorf("%w: tenant %s", ErrExists, name)
			}
		}
		t := &Tenant{ID: NewGUID(), Name: name, Default: len(s.tenants) == 0, Created: d.now()}
		s.tenants[t.ID] = t
		c.put(pathTenants+t.ID, t)
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	cp := *out
	return &cp, nil
}

// looksLikeGUID reports whether s has a GUID's shape; tenant names must
// not, or a name could shadow another tenant's id.
func looksLikeGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'):
			return false
		}
	}
	return true
}

// DefaultTenant returns the default tenant, if any.
func (d *Directory) DefaultTenant() (*Tenant, bool) {
	return d.snap.Load().defaultTenant()
}

func (s *snapshot) defaultTenant() (*Tenant, bool) {
	for _, t := range s.tenants {
		if t.Default {
			cp := *t
			return &cp, true
		}
	}
	return nil, false
}

// Tenant finds a tenant by id or name; "adfs" names the default tenant.
func (d *Directory) Tenant(idOrName string) (*Tenant, bool) {
	s := d.snap.Load()
	if strings.EqualFold(idOrName, "adfs") {
		return s.defaultTenant()
	}
	if t, ok := s.tenants[strings.ToLower(idOrName)]; ok {
		cp := *t
		return &cp, true
	}
	for _, t := range s.tenants {
		if strings.EqualFold(t.Name, idOrName) {
			cp := *t
			return &cp, true
		}
	}
	return nil, false
}

// Tenants lists the tenants by name.
func (d *Directory) Tenants() []*Tenant {
	s := d.snap.Load()
	out := make([]*Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		cp := *t
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *Tenant) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *snapshot) requireTenant(tenantID string) error {
	if _, ok := s.tenants[tenantID]; !ok {
		return fmt.Errorf("%w: tenant %s", ErrNotFound, tenantID)
	}
	return nil
}
