package hsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
)

// newVersionID returns a key version: 32 lower-case hex characters, as
// Key Vault's.
func newVersionID() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// defaultOps are the key_ops a key gets when a request names none.
func defaultOps(t KeyType) []KeyOp {
	switch t {
	case KeyTypeRSA:
		return []KeyOp{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey}
	case KeyTypeEC:
		return []KeyOp{OpSign, OpVerify}
	default:
		return []KeyOp{OpEncrypt, OpDecrypt, OpWrapKey, OpUnwrapKey}
	}
}

// checkOps enforces which operations a key type can serve. "import" marks a
// BYOK key-exchange key and excludes every other operation.
func checkOps(t KeyType, ops []KeyOp) error {
	if containsOp(ops, OpImport) {
		if t != KeyTypeRSA {
			return badParameter("Only RSA keys can be key-exchange keys (key_ops \"import\").")
		}
		if len(ops) != 1 {
			return badParameter("The key operation \"import\" cannot be combined with other operations.")
		}
		return nil
	}
	for _, op := range ops {
		ok := true
		switch t {
		case KeyTypeEC:
			ok = op == OpSign || op == OpVerify
		case KeyTypeOct:
			ok = op != OpImport
		}
		if !ok {
			return badParameter("Key operation %q is not supported for %s keys.", op, t)
		}
	}
	return nil
}

func applyAttributes(a *Attributes, u AttributesUpdate) {
	if u.Enabled != nil {
		a.Enabled = *u.Enabled
	}
	if u.NotBefore != nil {
		t := u.NotBefore.UTC()
		a.NotBefore = &t
	}
	if u.Expires != nil {
		t := u.Expires.UTC()
		a.Expires = &t
	}
	if u.Exportable != nil {
		a.Exportable = *u.Exportable
	}
}

func checkAttributes(a Attributes, release *ReleasePolicy) error {
	if a.NotBefore != nil && a.Expires != nil && !a.NotBefore.Before(*a.Expires) {
		return badParameter("The key's not-before time (nbf) must be earlier than its expiry time (exp).")
	}
	if a.Exportable && release == nil {
		return badParameter("Exportable keys must have release policy.")
	}
	if !a.Exportable && release != nil {
		return badParameter("Non-exportable keys must not have release policy.")
	}
	return nil
}

// bundle renders a version for the API.
func (p *Pool) bundle(e *keyEntry, v *versionEntry) *KeyBundle {
	return &KeyBundle{
		Name: e.name, Version: v.id, Type: v.key.Type(), Public: v.key.Public(),
		Ops: slices.Clone(v.ops), Attributes: v.attrs, Tags: maps.Clone(v.tags), ReleasePolicy: v.release,
		RecoverableDays: p.cfg.RetentionDays, RecoveryLevel: p.recoveryLevel(),
	}
}

func (p *Pool) deletedKey(e *keyEntry) *DeletedKey {
	return &DeletedKey{KeyBundle: *p.bundle(e, e.latest()), DeletedDate: e.deleted.date, ScheduledPurgeDate: e.deleted.purge}
}

func annotateKey(ctx context.Context, name, version string, k *keymat.Key) {
	ev := audit.FromContext(ctx)
	ev.KeyName = name
	if version != "" {
		ev.KeyVersion = version
	}
	if k != nil {
		ev.KeyType = k.Type().String()
	}
}

// entry returns the key's current entry, or nil.
func (p *Pool) entry(name KeyName) *keyEntry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.keys[name.key()]
}

func (p *Pool) activeEntry(name KeyName) (*keyEntry, error) {
	e := p.entry(name)
	if e == nil || e.deleted != nil {
		return nil, keyNotFound(name.String())
	}
	return e, nil
}

func (p *Pool) resolve(ref KeyRef) (*keyEntry, *versionEntry, error) {
	e, err := p.activeEntry(ref.Name)
	if err != nil {
		return nil, nil, err
	}
	if ref.Version == "" {
		return e, e.latest(), nil
	}
	v := e.version(ref.Version)
	if v == nil {
		return nil, nil, keyVersionNotFound(ref.Name.String(), ref.Version)
	}
	return e, v, nil
}

func (p *Pool) publishKey(e *keyEntry) {
	p.mu.Lock()
	p.keys[e.lname] = e
	p.mu.Unlock()
}

func (p *Pool) unpublishKey(lname string) {
	p.mu.Lock()
	delete(p.keys, lname)
	p.mu.Unlock()
}

func (p *Pool) activeKeyCount() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.keys)
}

// addVersion stores v as the new latest version of the key called name,
// creating the key if needed. The caller holds writeMu.
func (p *Pool) addVersion(ctx context.Context, name KeyName, v *versionEntry) (*keyEntry, error) {
	var e *keyEntry
	if old := p.entry(name); old != nil {
		if old.deleted != nil {
			return nil, deletedButRecoverable(name.String())
		}
		if len(old.versions) >= p.cfg.Limits.MaxVersionsPerKey {
			return nil, badParameter("Key %s already has the maximum number of versions (%d).", old.name, p.cfg.Limits.MaxVersionsPerKey)
		}
		e = old.clone()
	} else {
		if p.activeKeyCount() >= p.cfg.Limits.MaxKeys {
			return nil, badParameter("The pool already holds the maximum number of keys (%d).", p.cfg.Limits.MaxKeys)
		}
		e = &keyEntry{name: name.String(), lname: name.key()}
	}
	v.seq = e.nextSeq
	e.nextSeq++
	e.versions = append(e.versions, v)
	err := p.update(ctx, func(tx store.Tx) error {
		if err := putVersion(tx, e.lname, v); err != nil {
			return err
		}
		return putMeta(tx, e)
	}, func() { p.publishKey(e) })
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (p *Pool) newVersion(k *keymat.Key, ops []KeyOp, attrs AttributesUpdate, tags map[string]string, release *ReleasePolicy) (*versionEntry, error) {
	if err := checkOps(k.Type(), ops); err != nil {
		return nil, err
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	now := p.now()
	a := Attributes{Enabled: true, Created: now, Updated: now}
	applyAttributes(&a, attrs)
	if err := checkAttributes(a, release); err != nil {
		return nil, err
	}
	return &versionEntry{id: newVersionID(), key: k, ops: ops, attrs: a, tags: maps.Clone(tags), release: release}, nil
}

// CreateKey generates a new key, or a new version of an existing key.
func (p *Pool) CreateKey(ctx context.Context, c *Caller, name KeyName, in CreateKeyInput) (*KeyBundle, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysCreate, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	k, err := generate(in)
	if err != nil {
		return nil, err
	}
	return p.storeNewKeyVersion(ctx, name, k, in.Ops, in.OpsSet, in.Attributes, in.Tags, in.ReleasePolicy)
}

// storeNewKeyVersion stores k as a new version of the key name (creating
// the key if need be): what creating and importing a key share. Without
// opsSet the key type's default operations apply.
func (p *Pool) storeNewKeyVersion(ctx context.Context, name KeyName, k *keymat.Key, ops []KeyOp, opsSet bool,
	attrs AttributesUpdate, tags map[string]string, release *ReleasePolicy) (*KeyBundle, error) {
	if !opsSet {
		ops = defaultOps(k.Type())
	}
	v, err := p.newVersion(k, ops, attrs, tags, release)
	if err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	e, err := p.addVersion(ctx, name, v)
	if err != nil {
		return nil, err
	}
	annotateKey(ctx, e.name, v.id, k)
	return p.bundle(e, v), nil
}

func generate(in CreateKeyInput) (*keymat.Key, error) {
	switch in.Type {
	case KeyTypeRSA:
		if in.Curve != 0 {
			return nil, badParameter("The curve (crv) parameter is not valid for RSA keys.")
		}
		size := in.Size
		if size == 0 {
			size = 2048
		}
		if size != 2048 && size != 3072 && size != 4096 {
			return nil, badParameter("RSA key size %d is not supported; use 2048, 3072 or 4096.", size)
		}
		if in.PublicExponent != 0 && in.PublicExponent != 65537 {
			return nil, badParameter("RSA public exponent %d is not supported; use 65537.", in.PublicExponent)
		}
		return keymat.GenerateRSA(size, 65537)
	case KeyTypeEC:
		crv := in.Curve
		if crv == 0 {
			crv = keymat.CurveP256
		}
		if in.Size != 0 && in.Size != crv.Bits() {
			return nil, badParameter("Key size %d does not match curve %s.", in.Size, crv)
		}
		if in.PublicExponent != 0 {
			return nil, badParameter("The public exponent parameter is not valid for EC keys.")
		}
		return keymat.GenerateEC(crv)
	case KeyTypeOct:
		if in.Curve != 0 || in.PublicExponent != 0 {
			return nil, badParameter("The curve and public exponent parameters are not valid for oct keys.")
		}
		size := in.Size
		if size == 0 {
			size = 256
		}
		if size != 128 && size != 192 && size != 256 {
			return nil, badParameter("AES key size %d is not supported; use 128, 192 or 256.", size)
		}
		return keymat.GenerateOct(size)
	}
	return nil, badParameter("The key type (kty) is required.")
}

// ImportKey imports key material as a new key or a new version.
func (p *Pool) ImportKey(ctx context.Context, c *Caller, name KeyName, in ImportKeyInput) (*KeyBundle, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysImport, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	var k *keymat.Key
	var err error
	if len(in.KeyHSM) > 0 {
		k, err = p.unwrapBYOK(ctx, in)
	} else {
		k, err = keymat.FromJWK(in.JWK)
		if err != nil {
			err = badParameter("JSON Web Key: %s", strings.TrimPrefix(err.Error(), "keymat: "))
		}
	}
	if err != nil {
		return nil, err
	}
	return p.storeNewKeyVersion(ctx, name, k, in.Ops, in.OpsSet, in.Attributes, in.Tags, in.ReleasePolicy)
}

// GetKey returns a key version (the latest when ref.Version is empty).
func (p *Pool) GetKey(ctx context.Context, c *Caller, ref KeyRef) (*KeyBundle, error) {
	annotateKey(ctx, ref.Name.String(), ref.Version, nil)
	if err := p.authorize(ctx, c, authz.KeysRead, authz.KeyScope(ref.Name.String())); err != nil {
		return nil, err
	}
	e, v, err := p.resolve(ref)
	if err != nil {
		return nil, err
	}
	annotateKey(ctx, e.name, v.id, v.key)
	return p.bundle(e, v), nil
}

// UpdateKey changes a version's key_ops, attributes, tags or release policy.
// Key material never changes.
func (p *Pool) UpdateKey(ctx context.Context, c *Caller, ref KeyRef, in UpdateKeyInput) (*KeyBundle, error) {
	annotateKey(ctx, ref.Name.String(), ref.Version, nil)
	if err := p.authorize(ctx, c, authz.KeysWrite, authz.KeyScope(ref.Name.String())); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	e, v, err := p.resolve(ref)
	if err != nil {
		return nil, err
	}
	nv := v.clone()
	if in.OpsSet {
		if err := checkOps(v.key.Type(), in.Ops); err != nil {
			return nil, err
		}
		nv.ops = slices.Clone(in.Ops)
	}
	if in.TagsSet {
		if err := validateTags(in.Tags); err != nil {
			return nil, err
		}
		nv.tags = maps.Clone(in.Tags)
	}
	if in.ReleasePolicy != nil {
		if v.release != nil && v.release.Immutable {
			return nil, badParameter("Immutable Key Release Policy cannot be modified.")
		}
		nv.release = in.ReleasePolicy
	}
	applyAttributes(&nv.attrs, in.Attributes)
	if err := checkAttributes(nv.attrs, nv.release); err != nil {
		return nil, err
	}
	nv.attrs.Updated = p.now()
	ne := e.clone()
	for i, x := range ne.versions {
		if x == v {
			ne.versions[i] = nv
		}
	}
	err = p.update(ctx, func(tx store.Tx) error { return putVersion(tx, ne.lname, nv) }, func() { p.publishKey(ne) })
	if err != nil {
		return nil, err
	}
	annotateKey(ctx, ne.name, nv.id, nv.key)
	return p.bundle(ne, nv), nil
}

// DeleteKey soft-deletes a key with all its versions.
func (p *Pool) DeleteKey(ctx context.Context, c *Caller, name KeyName) (*DeletedKey, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysDelete, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	e, err := p.activeEntry(name)
	if err != nil {
		return nil, err
	}
	ne := e.clone()
	now := p.now()
	ne.deleted = &deletion{date: now, purge: now.Add(time.Duration(p.cfg.RetentionDays) * 24 * time.Hour)}
	if err := p.update(ctx, func(tx store.Tx) error { return putMeta(tx, ne) }, func() { p.publishKey(ne) }); err != nil {
		return nil, err
	}
	annotateKey(ctx, ne.name, "", ne.latest().key)
	return p.deletedKey(ne), nil
}

// GetDeletedKey returns a soft-deleted key.
func (p *Pool) GetDeletedKey(ctx context.Context, c *Caller, name KeyName) (*DeletedKey, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.DeletedKeysRead, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	e := p.entry(name)
	if e == nil || e.deleted == nil {
		return nil, deletedKeyNotFound(name.String())
	}
	return p.deletedKey(e), nil
}

// RecoverDeletedKey brings a soft-deleted key back.
func (p *Pool) RecoverDeletedKey(ctx context.Context, c *Caller, name KeyName) (*KeyBundle, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.DeletedKeysRecover, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	e := p.entry(name)
	if e == nil || e.deleted == nil {
		return nil, deletedKeyNotFound(name.String())
	}
	ne := e.clone()
	ne.deleted = nil
	if err := p.update(ctx, func(tx store.Tx) error { return putMeta(tx, ne) }, func() { p.publishKey(ne) }); err != nil {
		return nil, err
	}
	return p.bundle(ne, ne.latest()), nil
}

// PurgeDeletedKey permanently deletes a soft-deleted key. Under purge
// protection it is refused until the scheduled purge date, after which the
// pool purges the key itself.
func (p *Pool) PurgeDeletedKey(ctx context.Context, c *Caller, name KeyName) error {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.DeletedKeysDelete, authz.KeyScope(name.String())); err != nil {
		return err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	e := p.entry(name)
	if e == nil || e.deleted == nil {
		return deletedKeyNotFound(name.String())
	}
	if p.cfg.PurgeProtection && p.now().Before(e.deleted.purge) {
		return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "PurgeProtectionEnabled",
			Message: `Operation "purge" is not allowed because purge protection is enabled for this managed HSM. The key will be purged automatically after the retention period has passed.`}
	}
	return p.purge(ctx, e)
}

func (p *Pool) purge(ctx context.Context, e *keyEntry) error {
	return p.update(ctx, func(tx store.Tx) error { return deleteKeyRecords(tx, e.lname) }, func() { p.unpublishKey(e.lname) })
}

func (p *Pool) itemOf(e *keyEntry, v *versionEntry, withVersion bool) KeyItem {
	it := KeyItem{Name: e.name, Attributes: v.attrs, Tags: maps.Clone(v.tags),
		RecoverableDays: p.cfg.RetentionDays, RecoveryLevel: p.recoveryLevel()}
	if withVersion {
		it.Version = v.id
	}
	if e.deleted != nil {
		d, pd := e.deleted.date, e.deleted.purge
		it.DeletedDate, it.ScheduledPurgeDate = &d, &pd
	}
	return it
}

func pageBounds(req PageRequest) int {
	if req.Max <= 0 || req.Max > MaxPageSize {
		return DefaultPageSize
	}
	return req.Max
}

// sortedEntries returns the entries matching want, ordered by folded name.
func (p *Pool) sortedEntries(want func(*keyEntry) bool) []*keyEntry {
	p.mu.RLock()
	out := make([]*keyEntry, 0, len(p.keys))
	for _, e := range p.keys {
		if want(e) {
			out = append(out, e)
		}
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b *keyEntry) int { return strings.Compare(a.lname, b.lname) })
	return out
}

func (p *Pool) listEntries(req PageRequest, deleted bool) Page[KeyItem] {
	n := pageBounds(req)
	entries := p.sortedEntries(func(e *keyEntry) bool { return (e.deleted != nil) == deleted })
	var page Page[KeyItem]
	for _, e := range entries {
		if req.After != "" && e.lname <= req.After {
			continue
		}
		if len(page.Items) == n {
			page.Next = page.Items[n-1].Name
			page.Next = strings.ToLower(page.Next)
			break
		}
		page.Items = append(page.Items, p.itemOf(e, e.latest(), false))
	}
	return page
}

// ListKeys lists active keys, ordered by name, a page at a time.
func (p *Pool) ListKeys(ctx context.Context, c *Caller, req PageRequest) (Page[KeyItem], error) {
	if err := p.authorize(ctx, c, authz.KeysRead, authz.KeysScope); err != nil {
		return Page[KeyItem]{}, err
	}
	return p.listEntries(req, false), nil
}

// ListDeletedKeys lists soft-deleted keys.
func (p *Pool) ListDeletedKeys(ctx context.Context, c *Caller, req PageRequest) (Page[KeyItem], error) {
	if err := p.authorize(ctx, c, authz.DeletedKeysRead, authz.KeysScope); err != nil {
		return Page[KeyItem]{}, err
	}
	return p.listEntries(req, true), nil
}

// ListKeyVersions lists a key's versions, oldest first.
func (p *Pool) ListKeyVersions(ctx context.Context, c *Caller, name KeyName, req PageRequest) (Page[KeyItem], error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysRead, authz.KeyScope(name.String())); err != nil {
		return Page[KeyItem]{}, err
	}
	e, err := p.activeEntry(name)
	if err != nil {
		return Page[KeyItem]{}, err
	}
	n := pageBounds(req)
	var page Page[KeyItem]
	started := req.After == ""
	for _, v := range e.versions {
		if !started {
			started = v.id == req.After
			continue
		}
		if len(page.Items) == n {
			page.Next = page.Items[n-1].Version
			break
		}
		page.Items = append(page.Items, p.itemOf(e, v, true))
	}
	return page, nil
}
