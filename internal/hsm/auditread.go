package hsm

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
)

// AuditReader reads pools' audit logs. The server implements it over the
// log files; reading never changes them.
type AuditReader interface {
	// Events returns up to limit events of pool's log with seq > after
	// that pass f, oldest first, and whether more may follow.
	Events(ctx context.Context, pool string, f audit.Filter, after uint64, limit int) (events []audit.Event, more bool, err error)
	// Checkpoint signs the log's head now (if it grew) and returns the
	// latest checkpoint with the key that verifies it.
	Checkpoint(ctx context.Context, pool string) (*audit.Checkpoint, ed25519.PublicKey, error)
}

var errNoAuditAPI = &Error{Kind: KindUnavailable, Code: "NotSupported", Message: "This server does not serve its audit log through the API."}

// MaxAuditEvents bounds one page of the audit API.
const MaxAuditEvents = 1000

// ReadAuditEvents returns a page of the pool's audit log to a caller
// holding audit/read/action at "/" (Administrator and Crypto Auditor
// imply it). This is a Coffer extension; nothing can write the log.
func (p *Pool) ReadAuditEvents(ctx context.Context, c *Caller, f audit.Filter, after uint64, limit int) ([]audit.Event, bool, error) {
	if err := p.authorize(ctx, c, authz.AuditRead, authz.RootScope); err != nil {
		return nil, false, err
	}
	if p.cfg.AuditLog == nil {
		return nil, false, errNoAuditAPI
	}
	if limit <= 0 || limit > MaxAuditEvents {
		return nil, false, badParameter("maxresults must be 1 to %d.", MaxAuditEvents)
	}
	evs, more, err := p.cfg.AuditLog.Events(ctx, p.cfg.Name, f, after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("reading the audit log of %s: %w", p.cfg.Name, err)
	}
	return evs, more, nil
}

// AuditCheckpoint signs the pool's audit log head and returns it with the
// public key that verifies it, for anchoring outside the server.
func (p *Pool) AuditCheckpoint(ctx context.Context, c *Caller) (*audit.Checkpoint, ed25519.PublicKey, error) {
	if err := p.authorize(ctx, c, authz.AuditRead, authz.RootScope); err != nil {
		return nil, nil, err
	}
	if p.cfg.AuditLog == nil {
		return nil, nil, errNoAuditAPI
	}
	cp, pub, err := p.cfg.AuditLog.Checkpoint(ctx, p.cfg.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("signing an audit checkpoint of %s: %w", p.cfg.Name, err)
	}
	return cp, pub, nil
}
