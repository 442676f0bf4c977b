package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/store"
	"golang.org/x/crypto/argon2"
)

// Store layout.
const (
	pathTenants    = "dir/tenants/"
	pathPrincipals = "dir/principals/"
	pathResources  = "dir/resources/"
)

// Config carries the directory's dependencies.
type Config struct {
	Store store.Store
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Directory is the embedded directory. It is safe for concurrent use.
type Directory struct {
	cfg     Config
	writeMu sync.Mutex
	snap    atomic.Pointer[snapshot]
}

// snapshot is an immutable view of the whole directory.
type snapshot struct {
	gen        uint64
	tenants    map[string]*Tenant    // by id
	principals map[string]*Principal // by object id
	byApp      map[string]*Principal // tenant|appId (lower case)
	byUPN      map[string]*Principal // tenant|upn (lower case)
	resources  map[string]*Resource  // by name (lower case)
	groupsOf   map[string][]string   // object id → transitive group ids
}

// Open loads the directory from its store.
func Open(ctx context.Context, cfg Config) (*Directory, error) {
	if cfg.Store == nil {
		return nil, errors.New("directory: Config.Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Directory{cfg: cfg}
	s := &snapshot{tenants: map[string]*Tenant{}, principals: map[string]*Principal{}, resources: map[string]*Resource{}}
	err := cfg.Store.View(ctx, func(tx store.Tx) error {
		if err := tx.ForEach(pathTenants, func(p string, v []byte) error {
			var t Tenant
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decoding %s: %w", p, err)
			}
			s.tenants[t.ID] = &t
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(pathResources, func(p string, v []byte) error {
			var r Resource
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decoding %s: %w", p, err)
			}
			s.resources[strings.ToLower(r.Name)] = &r
			return nil
		}); err != nil {
			return err
		}
		return tx.ForEach(pathPrincipals, func(p string, v []byte) error {
			var pr Principal
			if err := json.Unmarshal(v, &pr); err != nil {
				return fmt.Errorf("decoding %s: %w", p, err)
			}
			s.principals[pr.ObjectID] = &pr
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("directory: loading: %w", err)
	}
	s.index()
	d.snap.Store(s)
	return d, nil
}

// index rebuilds the derived maps of s.
func (s *snapshot) index() {
	s.byApp = make(map[string]*Principal)
	s.byUPN = make(map[string]*Principal)
	for _, p := range s.principals {
		if p.AppID != "" {
			s.byApp[p.TenantID+"|"+strings.ToLower(p.AppID)] = p
		}
		if p.UPN != "" {
			s.byUPN[p.TenantID+"|"+strings.ToLower(p.UPN)] = p
		}
	}
	// Transitive memberships: walk each group's members, following nested
	// groups and stopping at cycles.
	direct := make(map[string][]string) // member → groups that list it
	for _, g := range s.principals {
		if g.Kind == KindGroup && g.Enabled {
			for _, m := range g.Members {
				direct[m] = append(direct[m], g.ObjectID)
			}
		}
	}
	s.groupsOf = make(map[string][]string)
	for oid := range s.principals {
		seen := map[string]bool{}
		queue := slices.Clone(direct[oid])
		for len(queue) > 0 {
			g := queue[0]
			queue = queue[1:]
			if seen[g] || g == oid {
				continue
			}
			seen[g] = true
			queue = append(queue, direct[g]...)
		}
		if len(seen) > 0 {
			gs := make([]string, 0, len(seen))
			for g := range seen {
				gs = append(gs, g)
			}
			slices.Sort(gs)
			s.groupsOf[oid] = gs
		}
	}
}

// clone copies the snapshot's primary maps for a mutation.
func (s *snapshot) clone() *snapshot {
	n := &snapshot{gen: s.gen + 1, tenants: map[string]*Tenant{}, principals: make(map[string]*Principal, len(s.principals)), resources: map[string]*Resource{}}
	for k, v := range s.tenants {
		n.tenants[k] = v
	}
	for k, v := range s.principals {
		n.principals[k] = v
	}
	for k, v := range s.resources {
		n.resources[k] = v
	}
	return n
}

func (d *Directory) now() time.Time { return d.cfg.Now().UTC().Truncate(time.Second) }

// mutate applies fn to a copy of the directory, persists the records it
// names, and publishes the new snapshot.
func (d *Directory) mutate(ctx context.Context, fn func(s *snapshot) (puts map[string]any, deletes []string, err error)) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	next := d.snap.Load().clone()
	puts, deletes, err := fn(next)
	if err != nil {
		return err
	}
	err = d.cfg.Store.Update(ctx, func(tx store.Tx) error {
		for p, v := range puts {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := tx.Put(p, b); err != nil {
				return err
			}
		}
		for _, p := range deletes {
			if err := tx.Delete(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("directory: writing: %w", err)
	}
	next.index()
	d.snap.Store(next)
	return nil
}

// Generation changes whenever the directory does.
func (d *Directory) Generation() uint64 { return d.snap.Load().gen }

// NewGUID returns a random version-4 GUID, the form of every object id.
func NewGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newSecret returns a 256-bit random secret in base64url (43 characters)
// and its SHA-256.
func newSecret() (string, []byte) {
	var b [32]byte
	rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(s))
	return s, h[:]
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// reservedTenantNames cannot name tenants: they are path segments of the
// data plane and of well-known endpoints.
var reservedTenantNames = map[string]bool{
	"adfs": true, "common": true, "organizations": true, "consumers": true, "keys": true, "deletedkeys": true,
	"rng": true, "providers": true, "settings": true, "backup": true, "restore": true, "securitydomain": true,
	"msi": true, "metadata": true, "subscriptions": true, "tenants": true, "healthz": true, "readyz": true, "metrics": true,
}

// CreateTenant creates a tenant. The first tenant becomes the default.
func (d *Directory) CreateTenant(ctx context.Context, name string) (*Tenant, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || len(name) > 64 || reservedTenantNames[name] || strings.ContainsAny(name, "/ \t") {
		return nil, fmt.Errorf("%w: tenant name %q is not allowed", ErrInvalid, name)
	}
	var out *Tenant
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		for _, t := range s.tenants {
			if t.Name == name {
				return nil, nil, fmt.Errorf("%w: tenant %s", ErrExists, name)
			}
		}
		t := &Tenant{ID: NewGUID(), Name: name, Default: len(s.tenants) == 0, Created: d.now()}
		s.tenants[t.ID] = t
		out = t
		return map[string]any{pathTenants + t.ID: t}, nil, nil
	})
	return out, err
}

// DefaultTenant returns the default tenant, if any.
func (d *Directory) DefaultTenant() (*Tenant, bool) {
	for _, t := range d.snap.Load().tenants {
		if t.Default {
			return t, true
		}
	}
	return nil, false
}

// Tenant finds a tenant by id or name; "adfs" means the default tenant.
func (d *Directory) Tenant(idOrName string) (*Tenant, bool) {
	s := d.snap.Load()
	if strings.EqualFold(idOrName, "adfs") {
		return d.DefaultTenant()
	}
	if t, ok := s.tenants[strings.ToLower(idOrName)]; ok {
		return t, true
	}
	for _, t := range s.tenants {
		if strings.EqualFold(t.Name, idOrName) {
			return t, true
		}
	}
	return nil, false
}

// Tenants lists the tenants.
func (d *Directory) Tenants() []*Tenant {
	s := d.snap.Load()
	out := make([]*Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Tenant) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (d *Directory) requireTenant(s *snapshot, tenantID string) error {
	if _, ok := s.tenants[tenantID]; !ok {
		return fmt.Errorf("%w: tenant %s", ErrNotFound, tenantID)
	}
	return nil
}

func checkDisplayName(n string) error {
	if strings.TrimSpace(n) == "" || len(n) > 256 {
		return fmt.Errorf("%w: display name must be 1 to 256 characters", ErrInvalid)
	}
	return nil
}

// CreateServicePrincipal registers an application and its service principal.
func (d *Directory) CreateServicePrincipal(ctx context.Context, tenantID, displayName string) (*Principal, error) {
	if err := checkDisplayName(displayName); err != nil {
		return nil, err
	}
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		if err := d.requireTenant(s, tenantID); err != nil {
			return nil, nil, err
		}
		p := &Principal{ObjectID: NewGUID(), TenantID: tenantID, Kind: KindServicePrincipal, DisplayName: displayName,
			Enabled: true, Created: d.now(), AppID: NewGUID()}
		s.principals[p.ObjectID] = p
		out = p
		return map[string]any{pathPrincipals + p.ObjectID: p}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// CreateUser creates a user with a password.
func (d *Directory) CreateUser(ctx context.Context, tenantID, upn, displayName, password string) (*Principal, error) {
	if err := checkDisplayName(displayName); err != nil {
		return nil, err
	}
	if !strings.Contains(upn, "@") || len(upn) > 256 || strings.ContainsAny(upn, " /") {
		return nil, fmt.Errorf("%w: user principal name %q must look like name@domain", ErrInvalid, upn)
	}
	if len(password) < 12 {
		return nil, fmt.Errorf("%w: passwords must have at least 12 characters", ErrInvalid)
	}
	cred := passwordCredential(password, d.now())
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		if err := d.requireTenant(s, tenantID); err != nil {
			return nil, nil, err
		}
		if _, ok := s.byUPN[tenantID+"|"+strings.ToLower(upn)]; ok {
			return nil, nil, fmt.Errorf("%w: user %s", ErrExists, upn)
		}
		p := &Principal{ObjectID: NewGUID(), TenantID: tenantID, Kind: KindUser, DisplayName: displayName, Enabled: true,
			Created: d.now(), UPN: upn, Credentials: []Credential{cred}}
		s.principals[p.ObjectID] = p
		out = p
		return map[string]any{pathPrincipals + p.ObjectID: p}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// argon2id parameters: RFC 9106 §4 second recommended option.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 4
	argonKeyLen  = 32
)

func passwordCredential(password string, now time.Time) Credential {
	salt := make([]byte, 16)
	rand.Read(salt)
	return Credential{ID: NewGUID(), Kind: CredPassword, Created: now, Salt: salt,
		Hash: argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)}
}

// SetPassword replaces a user's password, which revokes tokens issued
// against the old one.
func (d *Directory) SetPassword(ctx context.Context, oid, password string) error {
	if len(password) < 12 {
		return fmt.Errorf("%w: passwords must have at least 12 characters", ErrInvalid)
	}
	cred := passwordCredential(password, d.now())
	return d.update(ctx, oid, func(p *Principal) error {
		if p.Kind != KindUser {
			return fmt.Errorf("%w: only users have passwords", ErrInvalid)
		}
		p.Credentials = []Credential{cred}
		return nil
	})
}

// CreateGroup creates a group.
func (d *Directory) CreateGroup(ctx context.Context, tenantID, displayName string) (*Principal, error) {
	if err := checkDisplayName(displayName); err != nil {
		return nil, err
	}
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		if err := d.requireTenant(s, tenantID); err != nil {
			return nil, nil, err
		}
		for _, p := range s.principals {
			if p.Kind == KindGroup && p.TenantID == tenantID && strings.EqualFold(p.DisplayName, displayName) {
				return nil, nil, fmt.Errorf("%w: group %s", ErrExists, displayName)
			}
		}
		p := &Principal{ObjectID: NewGUID(), TenantID: tenantID, Kind: KindGroup, DisplayName: displayName, Enabled: true, Created: d.now()}
		s.principals[p.ObjectID] = p
		out = p
		return map[string]any{pathPrincipals + p.ObjectID: p}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// update applies fn to a copy of one principal and stores it.
func (d *Directory) update(ctx context.Context, oid string, fn func(p *Principal) error) error {
	return d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		old, ok := s.principals[strings.ToLower(oid)]
		if !ok {
			return nil, nil, fmt.Errorf("%w: principal %s", ErrNotFound, oid)
		}
		p := *old
		p.Members, p.Roles, p.Credentials, p.AttachedTo = slices.Clone(old.Members), slices.Clone(old.Roles), slices.Clone(old.Credentials), slices.Clone(old.AttachedTo)
		if err := fn(&p); err != nil {
			return nil, nil, err
		}
		s.principals[p.ObjectID] = &p
		return map[string]any{pathPrincipals + p.ObjectID: &p}, nil, nil
	})
}

// AddMember adds a principal to a group. Groups may contain groups.
func (d *Directory) AddMember(ctx context.Context, groupOID, memberOID string) error {
	member, ok := d.Get(memberOID)
	if !ok {
		return fmt.Errorf("%w: principal %s", ErrNotFound, memberOID)
	}
	return d.update(ctx, groupOID, func(g *Principal) error {
		if g.Kind != KindGroup {
			return fmt.Errorf("%w: %s is not a group", ErrInvalid, groupOID)
		}
		if member.TenantID != g.TenantID {
			return fmt.Errorf("%w: the member belongs to another tenant", ErrInvalid)
		}
		if member.ObjectID == g.ObjectID {
			return fmt.Errorf("%w: a group cannot contain itself", ErrInvalid)
		}
		if slices.Contains(g.Members, member.ObjectID) {
			return fmt.Errorf("%w: %s is already a member", ErrExists, member.ObjectID)
		}
		g.Members = append(g.Members, member.ObjectID)
		return nil
	})
}

// RemoveMember removes a principal from a group.
func (d *Directory) RemoveMember(ctx context.Context, groupOID, memberOID string) error {
	return d.update(ctx, groupOID, func(g *Principal) error {
		i := slices.Index(g.Members, strings.ToLower(memberOID))
		if g.Kind != KindGroup || i < 0 {
			return fmt.Errorf("%w: %s is not a member of %s", ErrNotFound, memberOID, groupOID)
		}
		g.Members = slices.Delete(g.Members, i, i+1)
		return nil
	})
}

// SetEnabled enables or disables a principal; a disabled principal is cut
// off on its next request, whatever tokens it holds.
func (d *Directory) SetEnabled(ctx context.Context, oid string, enabled bool) error {
	return d.update(ctx, oid, func(p *Principal) error { p.Enabled = enabled; return nil })
}

// SetGlobalAdmin grants or removes the Global Administrator directory role.
func (d *Directory) SetGlobalAdmin(ctx context.Context, oid string, on bool) error {
	return d.update(ctx, oid, func(p *Principal) error {
		if p.Kind == KindGroup {
			return fmt.Errorf("%w: directory roles are given to users and applications, not groups", ErrInvalid)
		}
		p.Roles = slices.DeleteFunc(p.Roles, func(r string) bool { return r == RoleGlobalAdministrator })
		if on {
			p.Roles = append(p.Roles, RoleGlobalAdministrator)
		}
		return nil
	})
}

// Delete removes a principal and its memberships.
func (d *Directory) Delete(ctx context.Context, oid string) error {
	oid = strings.ToLower(oid)
	return d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		if _, ok := s.principals[oid]; !ok {
			return nil, nil, fmt.Errorf("%w: principal %s", ErrNotFound, oid)
		}
		delete(s.principals, oid)
		puts := map[string]any{}
		for id, g := range s.principals {
			if g.Kind == KindGroup && slices.Contains(g.Members, oid) {
				c := *g
				c.Members = slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == oid })
				s.principals[id] = &c
				puts[pathPrincipals+id] = &c
			}
		}
		return puts, []string{pathPrincipals + oid}, nil
	})
}

// Get returns a principal by object id (without credential hashes).
func (d *Directory) Get(oid string) (*Principal, bool) {
	p, ok := d.snap.Load().principals[strings.ToLower(oid)]
	if !ok {
		return nil, false
	}
	return p.Public(), true
}

// ByAppID finds a service principal or managed identity by client id.
func (d *Directory) ByAppID(tenantID, appID string) (*Principal, bool) {
	p, ok := d.snap.Load().byApp[tenantID+"|"+strings.ToLower(appID)]
	if !ok {
		return nil, false
	}
	return p.Public(), true
}

// ByUPN finds a user by user principal name.
func (d *Directory) ByUPN(tenantID, upn string) (*Principal, bool) {
	p, ok := d.snap.Load().byUPN[tenantID+"|"+strings.ToLower(upn)]
	if !ok {
		return nil, false
	}
	return p.Public(), true
}

// List lists a tenant's principals of one kind (all kinds for zero).
func (d *Directory) List(tenantID string, kind Kind) []*Principal {
	var out []*Principal
	for _, p := range d.snap.Load().principals {
		if p.TenantID == tenantID && (kind == kindInvalid || p.Kind == kind) {
			out = append(out, p.Public())
		}
	}
	slices.SortFunc(out, func(a, b *Principal) int { return strings.Compare(a.DisplayName+a.ObjectID, b.DisplayName+b.ObjectID) })
	return out
}

// TransitiveGroups returns every group oid is a member of, directly or
// through nested groups. Disabled groups confer nothing.
func (d *Directory) TransitiveGroups(oid string) []string {
	return d.snap.Load().groupsOf[strings.ToLower(oid)]
}

// AddSecret adds a client secret to a service principal and returns it;
// it is never shown again.
func (d *Directory) AddSecret(ctx context.Context, oid string, expires *time.Time) (string, Credential, error) {
	secret, hash := newSecret()
	cred := Credential{ID: NewGUID(), Kind: CredSecret, Hint: secret[:3], Created: d.now(), Expires: expires, Hash: hash}
	err := d.update(ctx, oid, func(p *Principal) error {
		if p.Kind != KindServicePrincipal {
			return fmt.Errorf("%w: only service principals have client secrets", ErrInvalid)
		}
		p.Credentials = append(p.Credentials, cred)
		return nil
	})
	if err != nil {
		return "", Credential{}, err
	}
	cred.Hash = nil
	return secret, cred, nil
}

// AddCertificate registers a certificate (DER) a service principal may
// sign client assertions with.
func (d *Directory) AddCertificate(ctx context.Context, oid string, der []byte) (Credential, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: not an X.509 certificate: %v", ErrInvalid, err)
	}
	s1, s256 := sha1.Sum(der), sha256.Sum256(der)
	na := cert.NotAfter.UTC()
	cred := Credential{ID: NewGUID(), Kind: CredCertificate, Created: d.now(), Expires: &na, NotAfter: &na,
		CertDER: der, SHA1: s1[:], SHA256: s256[:], Subject: cert.Subject.String()}
	err = d.update(ctx, oid, func(p *Principal) error {
		if p.Kind != KindServicePrincipal {
			return fmt.Errorf("%w: only service principals have certificates", ErrInvalid)
		}
		for _, c := range p.Credentials {
			if c.Kind == CredCertificate && subtle.ConstantTimeCompare(c.SHA256, cred.SHA256) == 1 {
				return fmt.Errorf("%w: this certificate is already registered", ErrExists)
			}
		}
		p.Credentials = append(p.Credentials, cred)
		return nil
	})
	return cred, err
}

// RemoveCredential removes one credential; tokens issued with it stop
// working on their next use.
func (d *Directory) RemoveCredential(ctx context.Context, oid, credID string) error {
	return d.update(ctx, oid, func(p *Principal) error {
		i := slices.IndexFunc(p.Credentials, func(c Credential) bool { return c.ID == credID })
		if i < 0 {
			return fmt.Errorf("%w: credential %s", ErrNotFound, credID)
		}
		p.Credentials = slices.Delete(p.Credentials, i, i+1)
		return nil
	})
}

// ResetCredentials removes every secret and certificate of a service
// principal and issues one new secret.
func (d *Directory) ResetCredentials(ctx context.Context, oid string) (string, Credential, error) {
	secret, hash := newSecret()
	cred := Credential{ID: NewGUID(), Kind: CredSecret, Hint: secret[:3], Created: d.now(), Hash: hash}
	err := d.update(ctx, oid, func(p *Principal) error {
		if p.Kind != KindServicePrincipal {
			return fmt.Errorf("%w: only service principals have client credentials", ErrInvalid)
		}
		p.Credentials = []Credential{cred}
		return nil
	})
	cred.Hash = nil
	return secret, cred, err
}

// AuthenticateSecret checks a client secret and returns the service
// principal and the id of the credential that matched.
func (d *Directory) AuthenticateSecret(tenantID, clientID, secret string) (*Principal, string, error) {
	s := d.snap.Load()
	p, ok := s.byApp[tenantID+"|"+strings.ToLower(clientID)]
	if !ok || p.Kind != KindServicePrincipal {
		return nil, "", ErrUnknownClient
	}
	h := hashSecret(secret)
	now := d.now()
	for _, c := range p.Credentials {
		if c.Kind == CredSecret && subtle.ConstantTimeCompare(c.Hash, h) == 1 {
			switch {
			case !p.Enabled:
				return nil, "", ErrDisabled
			case c.expired(now):
				return nil, "", ErrCredExpired
			}
			return p.Public(), c.ID, nil
		}
	}
	return nil, "", ErrAuthFailed
}

// AuthenticatePassword checks a user's password.
func (d *Directory) AuthenticatePassword(tenantID, upn, password string) (*Principal, string, error) {
	s := d.snap.Load()
	p, ok := s.byUPN[tenantID+"|"+strings.ToLower(upn)]
	if !ok {
		// Spend the same work as a real check, so timing does not reveal
		// which user names exist.
		argon2.IDKey([]byte(password), make([]byte, 16), argonTime, argonMemory, argonThreads, argonKeyLen)
		return nil, "", ErrAuthFailed
	}
	for _, c := range p.Credentials {
		if c.Kind == CredPassword {
			got := argon2.IDKey([]byte(password), c.Salt, argonTime, argonMemory, argonThreads, argonKeyLen)
			if subtle.ConstantTimeCompare(got, c.Hash) == 1 {
				if !p.Enabled {
					return nil, "", ErrDisabled
				}
				return p.Public(), c.ID, nil
			}
		}
	}
	return nil, "", ErrAuthFailed
}

// CertificateFor returns the registered certificate of a service principal
// whose thumbprint (SHA-1 for x5t, SHA-256 for x5t#S256) matches.
func (d *Directory) CertificateFor(tenantID, clientID string, thumb []byte) (*x509.Certificate, *Principal, string, error) {
	s := d.snap.Load()
	p, ok := s.byApp[tenantID+"|"+strings.ToLower(clientID)]
	if !ok || p.Kind != KindServicePrincipal {
		return nil, nil, "", ErrUnknownClient
	}
	for _, c := range p.Credentials {
		if c.Kind != CredCertificate {
			continue
		}
		if subtle.ConstantTimeCompare(c.SHA1, thumb) == 1 || subtle.ConstantTimeCompare(c.SHA256, thumb) == 1 {
			if !p.Enabled {
				return nil, nil, "", ErrDisabled
			}
			if c.expired(d.now()) {
				return nil, nil, "", ErrCredExpired
			}
			cert, err := x509.ParseCertificate(c.CertDER)
			if err != nil {
				return nil, nil, "", ErrAuthFailed
			}
			return cert, p.Public(), c.ID, nil
		}
	}
	return nil, nil, "", ErrAuthFailed
}

// Live reports whether a token issued to oid with credential credID may
// still be honoured: the principal exists and is enabled, and the
// credential (when one is named) still exists and has not expired.
func (d *Directory) Live(oid, credID string) error {
	p, ok := d.snap.Load().principals[oid]
	if !ok {
		return fmt.Errorf("%w: principal %s", ErrNotFound, oid)
	}
	if !p.Enabled {
		return ErrDisabled
	}
	if credID == "" {
		return nil
	}
	if p.Kind == KindManagedIdentity {
		return d.liveIdentity(p, credID)
	}
	for _, c := range p.Credentials {
		if c.ID == credID {
			if c.expired(d.now()) {
				return ErrCredExpired
			}
			return nil
		}
	}
	return fmt.Errorf("%w: credential %s was removed", ErrAuthFailed, credID)
}
