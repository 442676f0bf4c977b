package hsm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
)

// Rotation policy limits. Key Vault requires an expiry of at least 28 days
// and rotation triggers at least 7 days after creation or before expiry.
const (
	minExpiryDays  = 28
	minTriggerDays = 7
)

// LifetimeAction is one rotation-policy action.
type LifetimeAction struct {
	// Type is "Rotate" or "Notify".
	Type string
	// Exactly one trigger is set.
	TimeAfterCreate  *Duration
	TimeBeforeExpiry *Duration
}

// RotationPolicy is a key's rotation policy.
type RotationPolicy struct {
	Actions []LifetimeAction
	// ExpiryTime, when set, gives new versions created by rotation an expiry
	// of creation time plus ExpiryTime.
	ExpiryTime       *Duration
	Created, Updated time.Time
}

type lifetimeActionRecord struct {
	Type             string `json:"type"`
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

type rotationPolicyRecord struct {
	Actions    []lifetimeActionRecord `json:"actions"`
	ExpiryTime string                 `json:"expiryTime,omitempty"`
	Created    int64                  `json:"created"`
	Updated    int64                  `json:"updated"`
}

func (rp *RotationPolicy) record() *rotationPolicyRecord {
	r := &rotationPolicyRecord{Created: rp.Created.Unix(), Updated: rp.Updated.Unix()}
	if rp.ExpiryTime != nil {
		r.ExpiryTime = rp.ExpiryTime.String()
	}
	for _, a := range rp.Actions {
		ar := lifetimeActionRecord{Type: a.Type}
		if a.TimeAfterCreate != nil {
			ar.TimeAfterCreate = a.TimeAfterCreate.String()
		}
		if a.TimeBeforeExpiry != nil {
			ar.TimeBeforeExpiry = a.TimeBeforeExpiry.String()
		}
		r.Actions = append(r.Actions, ar)
	}
	return r
}

func (r *rotationPolicyRecord) policy() (*RotationPolicy, error) {
	rp := &RotationPolicy{Created: time.Unix(r.Created, 0).UTC(), Updated: time.Unix(r.Updated, 0).UTC()}
	if r.ExpiryTime != "" {
		d, err := ParseDuration(r.ExpiryTime)
		if err != nil {
			return nil, err
		}
		rp.ExpiryTime = &d
	}
	for _, ar := range r.Actions {
		a := LifetimeAction{Type: ar.Type}
		if ar.TimeAfterCreate != "" {
			d, err := ParseDuration(ar.TimeAfterCreate)
			if err != nil {
				return nil, err
			}
			a.TimeAfterCreate = &d
		}
		if ar.TimeBeforeExpiry != "" {
			d, err := ParseDuration(ar.TimeBeforeExpiry)
			if err != nil {
				return nil, err
			}
			a.TimeBeforeExpiry = &d
		}
		rp.Actions = append(rp.Actions, a)
	}
	return rp, nil
}

// validate enforces Key Vault's rotation-policy rules. The reference time
// only anchors calendar arithmetic for month and year durations.
func (rp *RotationPolicy) validate(ref time.Time) error {
	if len(rp.Actions) > 2 {
		return badParameter("A rotation policy may have at most two lifetime actions.")
	}
	seen := map[string]bool{}
	for i := range rp.Actions {
		a := &rp.Actions[i]
		switch {
		case strings.EqualFold(a.Type, "Rotate"):
			a.Type = "Rotate"
		case strings.EqualFold(a.Type, "Notify"):
			a.Type = "Notify"
		default:
			return badParameter("Lifetime action type %q is invalid; use Rotate or Notify.", safeName(a.Type))
		}
		if seen[a.Type] {
			return badParameter("A rotation policy may have only one %s action.", a.Type)
		}
		seen[a.Type] = true
		if (a.TimeAfterCreate == nil) == (a.TimeBeforeExpiry == nil) {
			return badParameter("Each lifetime action needs exactly one trigger: timeAfterCreate or timeBeforeExpiry.")
		}
		if a.Type == "Notify" && a.TimeAfterCreate != nil {
			return badParameter("A Notify action can only be triggered by timeBeforeExpiry.")
		}
		if a.TimeAfterCreate != nil && !a.TimeAfterCreate.atLeast(ref, minTriggerDays) {
			return badParameter("timeAfterCreate must be at least %d days.", minTriggerDays)
		}
		if a.TimeBeforeExpiry != nil && !a.TimeBeforeExpiry.atLeast(ref, minTriggerDays) {
			return badParameter("timeBeforeExpiry must be at least %d days.", minTriggerDays)
		}
	}
	if rp.ExpiryTime != nil && !rp.ExpiryTime.atLeast(ref, minExpiryDays) {
		return badParameter("expiryTime must be at least %d days.", minExpiryDays)
	}
	for _, a := range rp.Actions {
		if a.TimeBeforeExpiry != nil && rp.ExpiryTime != nil {
			// The trigger must leave at least minTriggerDays between creation
			// and the point it fires.
			fire := a.TimeBeforeExpiry.SubFrom(rp.ExpiryTime.AddTo(ref))
			if fire.Before(ref.AddDate(0, 0, minTriggerDays)) {
				return badParameter("timeBeforeExpiry must be at most expiryTime minus %d days.", minTriggerDays)
			}
		}
	}
	return nil
}

// GetRotationPolicy returns the key's rotation policy; a key without one
// gets an empty policy (no actions).
func (p *Pool) GetRotationPolicy(ctx context.Context, c *Caller, name KeyName) (*RotationPolicy, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysRead, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	e, err := p.activeEntry(name)
	if err != nil {
		return nil, err
	}
	if e.policy == nil {
		return &RotationPolicy{}, nil
	}
	cp := *e.policy
	return &cp, nil
}

// UpdateRotationPolicy replaces the key's rotation policy. A policy with no
// actions and no expiry removes it.
func (p *Pool) UpdateRotationPolicy(ctx context.Context, c *Caller, name KeyName, rp RotationPolicy) (*RotationPolicy, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysWrite, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	now := p.now()
	if err := rp.validate(now); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	e, err := p.activeEntry(name)
	if err != nil {
		return nil, err
	}
	ne := e.clone()
	if len(rp.Actions) == 0 && rp.ExpiryTime == nil {
		ne.policy = nil
	} else {
		rp.Created, rp.Updated = now, now
		if e.policy != nil {
			rp.Created = e.policy.Created
		}
		ne.policy = &rp
	}
	if err := p.update(ctx, func(tx store.Tx) error { return putMeta(tx, ne) }, func() { p.publishKey(ne) }); err != nil {
		return nil, err
	}
	if ne.policy == nil {
		return &RotationPolicy{}, nil
	}
	out := *ne.policy
	return &out, nil
}

// RotateKey creates a new version of a key with the same type and size. The
// new version keeps the latest version's key_ops and tags; its expiry comes
// from the rotation policy's expiryTime, if any. (Key Vault also rotates keys
// without a policy on demand; Coffer does the same.)
func (p *Pool) RotateKey(ctx context.Context, c *Caller, name KeyName) (*KeyBundle, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysRotate, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	return p.rotateLocked(ctx, name)
}

func (p *Pool) rotateLocked(ctx context.Context, name KeyName) (*KeyBundle, error) {
	e, err := p.activeEntry(name)
	if err != nil {
		return nil, err
	}
	cur := e.latest()
	var k *keymat.Key
	switch cur.key.Type() {
	case KeyTypeRSA:
		k, err = keymat.GenerateRSA(cur.key.Bits(), 65537)
	case KeyTypeEC:
		k, err = keymat.GenerateEC(cur.key.Curve())
	case KeyTypeOct:
		k, err = keymat.GenerateOct(cur.key.Bits())
	default:
		err = fmt.Errorf("unknown key type %v", cur.key.Type())
	}
	if err != nil {
		return nil, fmt.Errorf("hsm: rotating key %s: %w", e.name, err)
	}
	var upd AttributesUpdate
	if e.policy != nil && e.policy.ExpiryTime != nil {
		exp := e.policy.ExpiryTime.AddTo(p.now())
		upd.Expires = &exp
	}
	// A rotated version of an exportable key keeps its release policy.
	if cur.attrs.Exportable {
		t := true
		upd.Exportable = &t
	}
	v, err := p.newVersion(k, cur.ops, upd, cur.tags, cur.release)
	if err != nil {
		return nil, err
	}
	ne, err := p.addVersion(ctx, name, v)
	if err != nil {
		return nil, err
	}
	annotateKey(ctx, ne.name, v.id, k)
	return p.bundle(ne, v), nil
}

// rotationDue reports whether the key's Rotate action has fired for its
// latest version.
func rotationDue(e *keyEntry, now time.Time) bool {
	if e.policy == nil || e.deleted != nil {
		return false
	}
	v := e.latest()
	for _, a := range e.policy.Actions {
		if a.Type != "Rotate" {
			continue
		}
		if a.TimeAfterCreate != nil && !now.Before(a.TimeAfterCreate.AddTo(v.attrs.Created)) {
			return true
		}
		if a.TimeBeforeExpiry != nil && v.attrs.Expires != nil && !now.Before(a.TimeBeforeExpiry.SubFrom(*v.attrs.Expires)) {
			return true
		}
	}
	return false
}

// MaintenanceEvent is background work the pool did, for the audit log.
type MaintenanceEvent struct {
	Operation string // "KeyRotate" or "KeyPurge"
	Key       string
	Version   string
	Err       error
}

// Maintain does the pool's time-driven work: rotating keys whose rotation
// policy fired and purging deleted keys past their scheduled purge date. It
// is called periodically by the server; each action is reported so the
// caller can audit it.
func (p *Pool) Maintain(ctx context.Context) []MaintenanceEvent {
	if p.State() != StateActive {
		return nil
	}
	now := p.now()
	var out []MaintenanceEvent
	for _, e := range p.sortedEntries(func(e *keyEntry) bool {
		return rotationDue(e, now) || (e.deleted != nil && !now.Before(e.deleted.purge))
	}) {
		actx := audit.NewContext(ctx, &audit.Event{})
		if e.deleted != nil {
			p.writeMu.Lock()
			cur := p.entry(MustKeyName(e.name))
			var err error
			if cur != nil && cur.deleted != nil && !now.Before(cur.deleted.purge) {
				err = p.purge(actx, cur)
			}
			p.writeMu.Unlock()
			out = append(out, MaintenanceEvent{Operation: "KeyPurge", Key: e.name, Err: err})
			continue
		}
		p.writeMu.Lock()
		var b *KeyBundle
		var err error
		if cur := p.entry(MustKeyName(e.name)); cur != nil && rotationDue(cur, now) {
			b, err = p.rotateLocked(actx, MustKeyName(e.name))
		}
		p.writeMu.Unlock()
		ev := MaintenanceEvent{Operation: "KeyRotate", Key: e.name, Err: err}
		if b != nil {
			ev.Version = b.Version
		}
		if err != nil {
			p.log.Error("automatic rotation failed", slog.String("key", e.name), slog.Any("err", err))
		}
		out = append(out, ev)
	}
	return out
}
