package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

func checkDisplayName(n string) error {
	if strings.TrimSpace(n) == "" || len(n) > 256 {
		return fmt.Errorf("%w: display name must be 1 to 256 characters", ErrInvalid)
	}
	return nil
}

// create adds a new principal built by fn once the tenant is known to exist.
func (d *Directory) create(ctx context.Context, tenantID string, fn func(s *snapshot) (*Principal, error)) (*Principal, error) {
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot, c *change) error {
		if err := s.requireTenant(tenantID); err != nil {
			return err
		}
		p, err := fn(s)
		if err != nil {
			return err
		}
		p.ObjectID, p.TenantID, p.Enabled, p.Created = NewGUID(), tenantID, true, d.now()
		s.principals[p.ObjectID] = p
		c.put(pathPrincipals+p.ObjectID, p)
		out = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// CreateServicePrincipal registers an application and its service
// principal; its appId (client id) and object id are new GUIDs. Add
// credentials with AddSecret or AddCertificate.
func (d *Directory) CreateServicePrincipal(ctx context.Context, tenantID, displayName string) (*Principal, error) {
	if err := checkDisplayName(displayName); err != nil {
		return nil, err
	}
	return d.create(ctx, tenantID, func(*snapshot) (*Principal, error) {
		return &Principal{Kind: KindServicePrincipal, DisplayName: displayName, AppID: NewGUID()}, nil
	})
}

// CreateUser creates a user with a password.
func (d *Directory) CreateUser(ctx context.Context, tenantID, upn, displayName, password string) (*Principal, error) {
	if err := checkDisplayName(displayName); err != nil {
		return nil, err
	}
	if !strings.Contains(upn, "@") || len(upn) > 256 || strings.ContainsAny(upn, " \t/\\") {
		return nil, fmt.Errorf("%w: user principal name %q must look like name@domain", ErrInvalid, upn)
	}
	cred, err := d.passwordCredential(password)
	if err != nil {
		return nil, err
	}
	return d.create(ctx, tenantID, func(s *snapshot) (*Principal, error) {
		if _, ok := s.byUPN[tenantID+"|"+strings.ToLower(upn)]; ok {
			return nil, fmt.Errorf("%w: user %s", ErrExists, upn)
		}
		return &Principal{Kind: KindUser, DisplayName: displayName, UPN: upn, Credentials: []Credential{cred}}, nil
	})
}

// CreateGroup creates a group. Display names are unique within a tenant.
func (d *Directory) CreateGroup(ctx context.Context, tenantID, displayName string) (*Principal, error) {
	if err := checkDisplayName(displayName); err != nil {
		return nil, err
	}
	return d.create(ctx, tenantID, func(s *snapshot) (*Principal, error) {
		for _, p := range s.principals {
			if p.Kind == KindGroup && p.TenantID == tenantID && strings.EqualFold(p.DisplayName, displayName) {
				return nil, fmt.Errorf("%w: group %s", ErrExists, displayName)
			}
		}
		return &Principal{Kind: KindGroup, DisplayName: displayName}, nil
	})
}

// update applies fn to a copy of one principal and stores it.
func (d *Directory) update(ctx context.Context, oid string, fn func(s *snapshot, p *Principal) error) (*Principal, error) {
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot, c *change) error {
		old, ok := s.principals[strings.ToLower(oid)]
		if !ok {
			return fmt.Errorf("%w: principal %s", ErrNotFound, oid)
		}
		p := old.clone()
		if err := fn(s, p); err != nil {
			return err
		}
		s.principals[p.ObjectID] = p
		c.put(pathPrincipals+p.ObjectID, p)
		out = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// Update changes a principal's display name, enabled state or Global
// Administrator role. Disabling cuts the principal off on its next
// request, whatever tokens it holds.
func (d *Directory) Update(ctx context.Context, oid string, u Update) (*Principal, error) {
	if u.DisplayName != nil {
		if err := checkDisplayName(*u.DisplayName); err != nil {
			return nil, err
		}
	}
	return d.update(ctx, oid, func(s *snapshot, p *Principal) error {
		wasAdmin := p.Enabled && p.IsGlobalAdmin()
		if u.GlobalAdmin != nil && p.Kind == KindGroup {
			return fmt.Errorf("%w: directory roles are given to users, applications and identities, not groups", ErrInvalid)
		}
		if u.DisplayName != nil {
			p.DisplayName = *u.DisplayName
		}
		if u.Enabled != nil {
			p.Enabled = *u.Enabled
		}
		if u.GlobalAdmin != nil {
			p.Roles = slices.DeleteFunc(p.Roles, func(r string) bool { return r == RoleGlobalAdministrator })
			if *u.GlobalAdmin {
				p.Roles = append(p.Roles, RoleGlobalAdministrator)
			}
		}
		if wasAdmin && !(p.Enabled && p.IsGlobalAdmin()) {
			return lastAdminGuard(s, p)
		}
		return nil
	})
}

// lastAdminGuard refuses to take away the last enabled Global
// Administrator of p's tenant: nobody could manage the tenant afterwards.
func lastAdminGuard(s *snapshot, p *Principal) error {
	for _, o := range s.principals {
		if o.ObjectID != p.ObjectID && o.TenantID == p.TenantID && o.Enabled && o.IsGlobalAdmin() {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is the last enabled Global Administrator of its tenant; give the role to another principal first", ErrInvalid, p.ObjectID)
}

// SetEnabled enables or disables a principal; a disabled principal's
// tokens stop working at once.
func (d *Directory) SetEnabled(ctx context.Context, oid string, enabled bool) error {
	_, err := d.Update(ctx, oid, Update{Enabled: &enabled})
	return err
}

// Enable enables a principal.
func (d *Directory) Enable(ctx context.Context, oid string) error {
	return d.SetEnabled(ctx, oid, true)
}

// Disable disables a principal.
func (d *Directory) Disable(ctx context.Context, oid string) error {
	return d.SetEnabled(ctx, oid, false)
}

// SetGlobalAdmin grants or removes the Global Administrator directory role.
func (d *Directory) SetGlobalAdmin(ctx context.Context, oid string, on bool) error {
	_, err := d.Update(ctx, oid, Update{GlobalAdmin: &on})
	return err
}

// AddMember adds a principal to a group of the same tenant. Groups may
// contain groups, cycles included; membership is resolved transitively.
func (d *Directory) AddMember(ctx context.Context, groupOID, memberOID string) error {
	_, err := d.update(ctx, groupOID, func(s *snapshot, g *Principal) error {
		member, ok := s.principals[strings.ToLower(memberOID)]
		switch {
		case !ok:
			return fmt.Errorf("%w: principal %s", ErrNotFound, memberOID)
		case g.Kind != KindGroup:
			return fmt.Errorf("%w: %s is not a group", ErrInvalid, groupOID)
		case member.TenantID != g.TenantID:
			return fmt.Errorf("%w: the member belongs to another tenant", ErrInvalid)
		case member.ObjectID == g.ObjectID:
			return fmt.Errorf("%w: a group cannot contain itself", ErrInvalid)
		case slices.Contains(g.Members, member.ObjectID):
			return fmt.Errorf("%w: %s is already a member", ErrExists, member.ObjectID)
		}
		g.Members = append(g.Members, member.ObjectID)
		return nil
	})
	return err
}

// RemoveMember removes a principal from a group.
func (d *Directory) RemoveMember(ctx context.Context, groupOID, memberOID string) error {
	_, err := d.update(ctx, groupOID, func(_ *snapshot, g *Principal) error {
		i := slices.Index(g.Members, strings.ToLower(memberOID))
		if g.Kind != KindGroup || i < 0 {
			return fmt.Errorf("%w: %s is not a member of %s", ErrNotFound, memberOID, groupOID)
		}
		g.Members = slices.Delete(g.Members, i, i+1)
		return nil
	})
	return err
}

// Delete removes a principal and its group memberships. Its tokens stop
// working at once.
func (d *Directory) Delete(ctx context.Context, oid string) error {
	oid = strings.ToLower(oid)
	return d.mutate(ctx, func(s *snapshot, c *change) error {
		p, ok := s.principals[oid]
		if !ok {
			return fmt.Errorf("%w: principal %s", ErrNotFound, oid)
		}
		if p.Enabled && p.IsGlobalAdmin() {
			if err := lastAdminGuard(s, p); err != nil {
				return err
			}
		}
		delete(s.principals, oid)
		c.deletes = append(c.deletes, pathPrincipals+oid)
		for id, g := range s.principals {
			if g.Kind == KindGroup && slices.Contains(g.Members, oid) {
				n := g.clone()
				n.Members = slices.DeleteFunc(n.Members, func(m string) bool { return m == oid })
				s.principals[id] = n
				c.put(pathPrincipals+id, n)
			}
		}
		return nil
	})
}

// Get returns a principal by object id.
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

// List lists a tenant's principals of one kind (every kind for the zero
// Kind), by display name.
func (d *Directory) List(tenantID string, kind Kind) []*Principal {
	var out []*Principal
	for _, p := range d.snap.Load().principals {
		if p.TenantID == tenantID && (kind == kindInvalid || p.Kind == kind) {
			out = append(out, p.Public())
		}
	}
	slices.SortFunc(out, func(a, b *Principal) int {
		if c := strings.Compare(a.DisplayName, b.DisplayName); c != 0 {
			return c
		}
		return strings.Compare(a.ObjectID, b.ObjectID)
	})
	return out
}

// TransitiveGroups returns, sorted, every group oid is a member of,
// directly or through nested groups. Disabled groups confer nothing. The
// slice is shared: callers must not modify it.
func (d *Directory) TransitiveGroups(oid string) []string {
	return d.snap.Load().groupsOf[strings.ToLower(oid)]
}
