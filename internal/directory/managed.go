package directory

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
)

// A Resource stands for something that runs code (a VM, an app service):
// its managed-identity endpoint secret — the IDENTITY_HEADER an app reads
// from its environment — identifies it. A resource may have a
// system-assigned identity (created with it, deleted with it) and any
// number of user-assigned identities attached to it, as in Azure.

// ManagedIdentitySelector picks a user-assigned identity in a token
// request; empty means the resource's system-assigned identity.
type ManagedIdentitySelector struct {
	ClientID, ObjectID, ResourceID string
}

func resourceKey(name string) string { return strings.ToLower(name) }

// CreateResource registers a resource and returns its identity-endpoint
// secret, shown once.
func (d *Directory) CreateResource(ctx context.Context, tenantID, name string) (*Resource, string, error) {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/ \t") {
		return nil, "", fmt.Errorf("%w: resource name %q", ErrInvalid, name)
	}
	secret, hash := newSecret()
	var out *Resource
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		if err := d.requireTenant(s, tenantID); err != nil {
			return nil, nil, err
		}
		if _, ok := s.resources[resourceKey(name)]; ok {
			return nil, nil, fmt.Errorf("%w: resource %s", ErrExists, name)
		}
		r := &Resource{ID: NewGUID(), Name: name, TenantID: tenantID, Hash: hash, Created: d.now()}
		s.resources[resourceKey(name)] = r
		out = r
		return map[string]any{pathResources + resourceKey(name): r}, nil, nil
	})
	if err != nil {
		return nil, "", err
	}
	c := *out
	c.Hash = nil
	return &c, secret, nil
}

// RotateResourceSecret issues a new identity-endpoint secret; tokens
// obtained with the old one stop working.
func (d *Directory) RotateResourceSecret(ctx context.Context, name string) (string, error) {
	secret, hash := newSecret()
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		old, ok := s.resources[resourceKey(name)]
		if !ok {
			return nil, nil, fmt.Errorf("%w: resource %s", ErrNotFound, name)
		}
		r := *old
		r.ID, r.Hash = NewGUID(), hash
		s.resources[resourceKey(name)] = &r
		return map[string]any{pathResources + resourceKey(name): &r}, nil, nil
	})
	return secret, err
}

// DeleteResource removes a resource and its system-assigned identity and
// detaches user-assigned ones.
func (d *Directory) DeleteResource(ctx context.Context, name string) error {
	return d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		key := resourceKey(name)
		if _, ok := s.resources[key]; !ok {
			return nil, nil, fmt.Errorf("%w: resource %s", ErrNotFound, name)
		}
		delete(s.resources, key)
		puts, dels := map[string]any{}, []string{pathResources + key}
		for id, p := range s.principals {
			if p.Kind != KindManagedIdentity {
				continue
			}
			if p.SystemAssigned && strings.EqualFold(p.ResourceID, name) {
				delete(s.principals, id)
				dels = append(dels, pathPrincipals+id)
			} else if slices.ContainsFunc(p.AttachedTo, func(a string) bool { return strings.EqualFold(a, name) }) {
				c := *p
				c.AttachedTo = slices.DeleteFunc(slices.Clone(p.AttachedTo), func(a string) bool { return strings.EqualFold(a, name) })
				s.principals[id] = &c
				puts[pathPrincipals+id] = &c
			}
		}
		return puts, dels, nil
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

// EnableSystemIdentity gives a resource its system-assigned identity.
func (d *Directory) EnableSystemIdentity(ctx context.Context, resource string) (*Principal, error) {
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		r, ok := s.resources[resourceKey(resource)]
		if !ok {
			return nil, nil, fmt.Errorf("%w: resource %s", ErrNotFound, resource)
		}
		for _, p := range s.principals {
			if p.Kind == KindManagedIdentity && p.SystemAssigned && strings.EqualFold(p.ResourceID, r.Name) {
				return nil, nil, fmt.Errorf("%w: resource %s already has a system-assigned identity", ErrExists, r.Name)
			}
		}
		p := &Principal{ObjectID: NewGUID(), TenantID: r.TenantID, Kind: KindManagedIdentity, DisplayName: r.Name,
			Enabled: true, Created: d.now(), AppID: NewGUID(), SystemAssigned: true, ResourceID: r.Name}
		s.principals[p.ObjectID] = p
		out = p
		return map[string]any{pathPrincipals + p.ObjectID: p}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// CreateUserAssignedIdentity creates a user-assigned managed identity. Its
// resource id has Azure's shape so SDKs can select it with mi_res_id.
func (d *Directory) CreateUserAssignedIdentity(ctx context.Context, tenantID, name string) (*Principal, error) {
	if err := checkDisplayName(name); err != nil || strings.ContainsAny(name, "/ ") {
		return nil, fmt.Errorf("%w: identity name %q", ErrInvalid, name)
	}
	var out *Principal
	err := d.mutate(ctx, func(s *snapshot) (map[string]any, []string, error) {
		if err := d.requireTenant(s, tenantID); err != nil {
			return nil, nil, err
		}
		rid := fmt.Sprintf("/subscriptions/%s/resourceGroups/coffer/providers/Microsoft.ManagedIdentity/userAssignedIdentities/%s", tenantID, name)
		for _, p := range s.principals {
			if p.Kind == KindManagedIdentity && strings.EqualFold(p.ResourceID, rid) {
				return nil, nil, fmt.Errorf("%w: identity %s", ErrExists, name)
			}
		}
		p := &Principal{ObjectID: NewGUID(), TenantID: tenantID, Kind: KindManagedIdentity, DisplayName: name,
			Enabled: true, Created: d.now(), AppID: NewGUID(), ResourceID: rid}
		s.principals[p.ObjectID] = p
		out = p
		return map[string]any{pathPrincipals + p.ObjectID: p}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Public(), nil
}

// AttachIdentity lets a resource use a user-assigned identity.
func (d *Directory) AttachIdentity(ctx context.Context, oid, resource string) error {
	if _, ok := d.snap.Load().resources[resourceKey(resource)]; !ok {
		return fmt.Errorf("%w: resource %s", ErrNotFound, resource)
	}
	return d.update(ctx, oid, func(p *Principal) error {
		if p.Kind != KindManagedIdentity || p.SystemAssigned {
			return fmt.Errorf("%w: only user-assigned identities can be attached", ErrInvalid)
		}
		if !slices.ContainsFunc(p.AttachedTo, func(a string) bool { return strings.EqualFold(a, resource) }) {
			p.AttachedTo = append(p.AttachedTo, resource)
		}
		return nil
	})
}

// AuthenticateManagedIdentity resolves an identity-endpoint request: the
// header secret names the resource, the selector (if any) one of its
// user-assigned identities. The returned credential id is the resource's,
// so rotating its secret or deleting it cuts the tokens off.
func (d *Directory) AuthenticateManagedIdentity(header string, sel ManagedIdentitySelector) (*Principal, string, error) {
	s := d.snap.Load()
	h := hashSecret(header)
	var res *Resource
	for _, r := range s.resources {
		if subtle.ConstantTimeCompare(r.Hash, h) == 1 {
			res = r
		}
	}
	if res == nil {
		return nil, "", ErrAuthFailed
	}
	return d.identityOf(res, sel)
}

// identityOf picks the resource's system-assigned identity, or the
// attached user-assigned identity the selector names.
func (d *Directory) identityOf(res *Resource, sel ManagedIdentitySelector) (*Principal, string, error) {
	s := d.snap.Load()
	for _, p := range s.principals {
		if p.Kind != KindManagedIdentity || p.TenantID != res.TenantID {
			continue
		}
		var match bool
		switch {
		case sel == (ManagedIdentitySelector{}):
			match = p.SystemAssigned && strings.EqualFold(p.ResourceID, res.Name)
		case slices.ContainsFunc(p.AttachedTo, func(a string) bool { return strings.EqualFold(a, res.Name) }):
			match = (sel.ClientID != "" && strings.EqualFold(sel.ClientID, p.AppID)) ||
				(sel.ObjectID != "" && strings.EqualFold(sel.ObjectID, p.ObjectID)) ||
				(sel.ResourceID != "" && strings.EqualFold(sel.ResourceID, p.ResourceID))
		}
		if match {
			if !p.Enabled {
				return nil, "", ErrDisabled
			}
			return p.Public(), res.ID, nil
		}
	}
	return nil, "", fmt.Errorf("%w: no managed identity matches the request for resource %s", ErrNotFound, res.Name)
}

// liveIdentity checks a managed identity's token: the resource it came
// through must still exist with the same secret, and the identity must
// still belong to it.
func (d *Directory) liveIdentity(p *Principal, resourceID string) error {
	for _, r := range d.snap.Load().resources {
		if r.ID != resourceID {
			continue
		}
		if p.SystemAssigned && strings.EqualFold(p.ResourceID, r.Name) ||
			slices.ContainsFunc(p.AttachedTo, func(a string) bool { return strings.EqualFold(a, r.Name) }) {
			return nil
		}
	}
	return fmt.Errorf("%w: the identity's resource or its secret changed", ErrAuthFailed)
}

// IdentityForResource resolves an identity of a named resource, for the
// IMDS-shaped endpoint, which (like Azure's) carries no secret: the server
// serves it only to callers on the resource itself (loopback).
func (d *Directory) IdentityForResource(name string, sel ManagedIdentitySelector) (*Principal, string, error) {
	r, ok := d.snap.Load().resources[resourceKey(name)]
	if !ok {
		return nil, "", fmt.Errorf("%w: resource %s", ErrNotFound, name)
	}
	return d.identityOf(r, sel)
}
