package directory

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
)

// Managed identities follow Azure's model. A resource (a VM, an app) has an
// identity-endpoint secret, the IDENTITY_HEADER its code reads from the
// environment; the secret names the resource, and the request's selector
// (client_id, object_id or mi_res_id) picks one of its identities: the
// system-assigned one by default, or an attached user-assigned one. A
// user-assigned identity may also have a header secret of its own
// (ResetCredentials), so an app can use it without modelling a resource.

func resourceKey(name string) string { return strings.ToLower(name) }

// validName reports whether s is a resource or identity name: 1 to 128
// letters, digits, '-', '_' and '.', starting with a letter or digit.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		alnum := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !alnum && (i == 0 || (r != '-' && r != '_' && r != '.')) {
			return false
		}
	}
	return true
}

// servedBy reports whether managed identity p is reachable through the
// named resource.
func (p *Principal) servedBy(resource string) bool {
	if p.SystemAssigned {
		return eqFold(p.Resource, resource)
	}
	return slices.ContainsFunc(p.AttachedTo, func(a string) bool { return eqFold(a, resource) })
}

// CreateResource registers a resource and returns its identity-endpoint
// secret, shown once. Resource names are unique across the directory.
func (d *Directory) CreateResource(ctx context.Context, tenantID, name string) (*Resource, string, error) {
	if !validName(name) {
		return nil, "", fmt.Errorf("%w: resource name %q", ErrInvalid, name)
	}
	secret, hash := newSecret()
	var out Resource
	err := d.mutate(ctx, func(s *snapshot, c *change) error {
		if err := s.requireTenant(tenantID); err != nil {
			return err
		}
		if _, ok := s.resources[resourceKey(name)]; ok {
			return fmt.Errorf("%w: resource %s", ErrExists, name)
		}
		r := &Resource{ID: NewGUID(), Name: name, TenantID: tenantID, Hash: hash, Created: d.now()}
		s.resources[resourceKey(name)] = r
		c.put(pathResources+resourceKey(name), r)
		out = *r
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	out.Hash = nil
	return &out, secret, nil
}

// RotateResourceSecret issues a new identity-endpoint secret for a
// resource; tokens obtained through the old one stop working.
func (d *Directory) RotateResourceSecret(ctx context.Context, name string) (string, error) {
	secret, hash := newSecret()
	err := d.mutate(ctx, func(s *snapshot, c *change) error {
		old, ok := s.resources[resourceKey(name)]
		if !ok {
			return fmt.Errorf("%w: resource %s", ErrNotFound, name)
		}
		r := *old
		r.ID, r.Hash = NewGUID(), hash
		s.resources[resourceKey(name)] = &r
		c.put(pathResources+resourceKey(name), &r)
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// DeleteResource removes a resource with its system-assigned identity and
// detaches the user-assigned ones.
func (d *Directory) DeleteResource(ctx context.Context, name string) error {
	return d.mutate(ctx, func(s *snapshot, c *change) error {
		key := resourceKey(name)
		if _, ok := s.resources[key]; !ok {
			return fmt.Errorf("%w: resource %s", ErrNotFound, name)
		}
		delete(s.resources, key)
		c.deletes = append(c.deletes, pathResources+key)
		for _, p := range s.managed {
			switch {
			case p.SystemAssigned && eqFold(p.Resource, name):
				delete(s.principals, p.ObjectID)
				c.deletes = append(c.deletes, pathPrincipals+p.ObjectID)
			case p.servedBy(name):
				n := p.clone()
				n.AttachedTo = slices.DeleteFunc(n.AttachedTo, func(a string) bool { return eqFold(a, name) })
				s.principals[n.ObjectID] = n
				c.put(pathPrincipals+n.ObjectID, n)
			}
		}
		return nil
	})
}

// Resources lists a tenant's resources (without secrets).
func (d *Directory) Resources(tenantID string) []*Resource {
	var out []*Resource
	for _, r := range d.snap.Load().resources {
		if r.TenantID == tenantID {
			c := *r
			c.Hash = nil
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// EnableSystemIdentity gives a resource its system-assigned identity (one
// per resource).
func (d *Directory) EnableSystemIdentity(ctx context.Context, resource string) (*Principal, error) {
	r, ok := d.snap.Load().resources[resourceKey(resource)]
	if !ok {
		return nil, fmt.Errorf("%w: resource %s", ErrNotFound, resource)
	}
	return d.create(ctx, r.TenantID, func(s *snapshot) (*Principal, error) {
		r, ok := s.resources[resourceKey(resource)]
		if !ok {
			return nil, fmt.Errorf("%w: resource %s", ErrNotFound, resource)
		}
		for _, p := range s.managed {
			if p.SystemAssigned && eqFold(p.Resource, r.Name) {
				return nil, fmt.Errorf("%w: resource %s already has a system-assigned identity", ErrExists, r.Name)
			}
		}
		return &Principal{Kind: KindManagedIdentity, DisplayName: r.Name, AppID: NewGUID(), SystemAssigned: true, Resource: r.Name}, nil
	})
}

// userAssignedResourceID is the Azure-shaped resource id of a
// user-assigned identity; a tenant's subscription id is its tenant id.
func userAssignedResourceID(tenantID, name string) string {
	return "/subscriptions/" + tenantID + "/resourceGroups/coffer/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

// CreateUserAssignedIdentity creates a user-assigned managed identity.
// Attach it to resources, or give it a header secret of its own with
// ResetCredentials.
func (d *Directory) CreateUserAssignedIdentity(ctx context.Context, tenantID, name string) (*Principal, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: identity name %q", ErrInvalid, name)
	}
	rid := userAssignedResourceID(tenantID, name)
	return d.create(ctx, tenantID, func(s *snapshot) (*Principal, error) {
		for _, p := range s.managed {
			if eqFold(p.ResourceID, rid) {
				return nil, fmt.Errorf("%w: identity %s", ErrExists, name)
			}
		}
		return &Principal{Kind: KindManagedIdentity, DisplayName: name, AppID: NewGUID(), ResourceID: rid}, nil
	})
}

// AttachIdentity lets a resource use a user-assigned identity of its tenant.
func (d *Directory) AttachIdentity(ctx context.Context, oid, resource string) error {
	_, err := d.update(ctx, oid, func(s *snapshot, p *Principal) error {
		r, ok := s.resources[resourceKey(resource)]
		switch {
		case !ok:
			return fmt.Errorf("%w: resource %s", ErrNotFound, resource)
		case p.Kind != KindManagedIdentity || p.SystemAssigned:
			return fmt.Errorf("%w: only user-assigned identities can be attached", ErrInvalid)
		case r.TenantID != p.TenantID:
			return fmt.Errorf("%w: the resource belongs to another tenant", ErrInvalid)
		}
		if !p.servedBy(r.Name) {
			p.AttachedTo = append(p.AttachedTo, r.Name)
		}
		return nil
	})
	return err
}

// DetachIdentity stops a resource from using a user-assigned identity;
// tokens it obtained through the resource stop working.
func (d *Directory) DetachIdentity(ctx context.Context, oid, resource string) error {
	_, err := d.update(ctx, oid, func(_ *snapshot, p *Principal) error {
		if p.SystemAssigned || !p.servedBy(resource) {
			return fmt.Errorf("%w: identity %s is not attached to %s", ErrNotFound, oid, resource)
		}
		p.AttachedTo = slices.DeleteFunc(p.AttachedTo, func(a string) bool { return eqFold(a, resource) })
		return nil
	})
	return err
}

// AuthenticateManagedIdentity resolves a managed-identity endpoint request.
// The header secret names a resource or a user-assigned identity; the
// selector (if any) must name an identity reachable through it. The
// returned credential id binds the token: rotating the secret, detaching
// the identity or deleting the resource revokes it.
func (d *Directory) AuthenticateManagedIdentity(header string, sel ManagedIdentitySelector) (*Principal, string, error) {
	s := d.snap.Load()
	u, ok := s.byHeader[sha256.Sum256([]byte(header))]
	switch {
	case !ok:
		return nil, "", ErrAuthFailed
	case u.resource != nil:
		return s.identityOf(u.resource, sel)
	case sel != (ManagedIdentitySelector{}) && !sel.matches(u.identity):
		return nil, "", fmt.Errorf("%w: the selected identity is not the one the secret belongs to", ErrNotFound)
	case !u.identity.Enabled:
		return nil, "", ErrDisabled
	}
	return u.identity.Public(), u.credID, nil
}

// identityOf picks the resource's system-assigned identity (empty
// selector), or the identity reachable through it that the selector names.
func (s *snapshot) identityOf(res *Resource, sel ManagedIdentitySelector) (*Principal, string, error) {
	for _, p := range s.managed {
		if p.TenantID != res.TenantID || !p.servedBy(res.Name) {
			continue
		}
		if sel == (ManagedIdentitySelector{}) && p.SystemAssigned || sel != (ManagedIdentitySelector{}) && sel.matches(p) {
			if !p.Enabled {
				return nil, "", ErrDisabled
			}
			return p.Public(), res.ID, nil
		}
	}
	return nil, "", fmt.Errorf("%w: no managed identity of resource %s matches the request", ErrNotFound, res.Name)
}

// IdentityForResource resolves an identity of a named resource without a
// secret, for the IMDS-shaped endpoint, which (like Azure's) is trusted
// because only code on the machine can reach it.
func (d *Directory) IdentityForResource(name string, sel ManagedIdentitySelector) (*Principal, string, error) {
	s := d.snap.Load()
	r, ok := s.resources[resourceKey(name)]
	if !ok {
		return nil, "", fmt.Errorf("%w: resource %s", ErrNotFound, name)
	}
	return s.identityOf(r, sel)
}
