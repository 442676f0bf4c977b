package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/store"
)

// State is a pool's lifecycle state. The zero value is invalid.
type State uint8

const (
	_ State = iota
	// StateActivationPending: a new pool whose security domain has not
	// been downloaded. Only its initial administrators may download it
	// (which activates the pool); every other data-plane call is refused.
	StateActivationPending
	// StateActive: the pool serves requests.
	StateActive
	// StateSecurityDomainRestore: a pool created to recover another one.
	// It waits for the other pool's security domain to be uploaded
	// (transfer key, upload, status); everything else is refused.
	StateSecurityDomainRestore
	// StateRestoring: a full restore is replacing the pool's content;
	// only the restore's status may be read.
	StateRestoring
)

var stateNames = map[State]string{
	StateActivationPending:     "ActivationPending",
	StateActive:                "Active",
	StateSecurityDomainRestore: "SecurityDomainRestore",
	StateRestoring:             "Restoring",
}

func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState parses a state's name.
func ParseState(s string) (State, error) {
	for st, n := range stateNames {
		if n == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("hsm: unknown pool state %q", s)
}

// MarshalText and UnmarshalText store states by name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// pathLifecycle holds the pool's lifecycle record. Records under "pool/"
// describe the pool itself: they are never part of a full backup.
const (
	pathLifecycle   = "pool/lifecycle"
	pathTransferKey = "pool/transferkey"
)

// lifecycle is the persisted lifecycle of a pool.
type lifecycle struct {
	State State `json:"state"`
	// Downloaded is when the security domain was downloaded (activation).
	Downloaded *time.Time `json:"downloaded,omitempty"`
	// Uploaded is when a security domain was uploaded (recovery).
	Uploaded *time.Time `json:"uploaded,omitempty"`
	// LastSD is the last security-domain download or upload.
	LastSD *SecurityDomainStatus `json:"lastSecurityDomainOperation,omitempty"`
}

// loadLifecycle reads the lifecycle record. A pool without one predates
// lifecycles and was created active.
func loadLifecycle(tx store.Tx) (lifecycle, error) {
	b, err := tx.Get(pathLifecycle)
	if errors.Is(err, store.ErrNotFound) {
		return lifecycle{State: StateActive}, nil
	}
	if err != nil {
		return lifecycle{}, err
	}
	var lc lifecycle
	if err := json.Unmarshal(b, &lc); err != nil || lc.State == 0 {
		return lifecycle{}, fmt.Errorf("decoding %s: malformed record", pathLifecycle)
	}
	return lc, nil
}

func putLifecycle(tx store.Tx, lc lifecycle) error {
	b, err := json.Marshal(lc)
	if err != nil {
		return err
	}
	return tx.Put(pathLifecycle, b)
}

// InitState sets the lifecycle state of a pool just created (by the
// management plane): StateActivationPending, StateSecurityDomainRestore
// or, for a development pool, StateActive.
func (p *Pool) InitState(ctx context.Context, s State) error {
	if s != StateActivationPending && s != StateSecurityDomainRestore && s != StateActive {
		return fmt.Errorf("hsm: a pool cannot start in state %s", s)
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	lc := lifecycle{State: s}
	return p.update(ctx, func(tx store.Tx) error { return putLifecycle(tx, lc) }, func() { p.setLifecycle(lc) })
}

func (p *Pool) setLifecycle(lc lifecycle) {
	p.lc.Store(&lc)
}

// State returns the pool's lifecycle state.
func (p *Pool) State() State { return p.lc.Load().State }

// allowedIn lists what each state permits besides reading the audit log,
// which auditors may do whatever the pool's state.
var allowedIn = map[State]map[authz.Action]bool{
	StateActivationPending: {authz.SecurityDomainDownload: true, authz.SecurityDomainDownloadRead: true},
	StateSecurityDomainRestore: {authz.SecurityDomainTransferKeyRead: true, authz.SecurityDomainUpload: true,
		authz.SecurityDomainUploadRead: true, authz.SecurityDomainDownloadRead: true},
	StateRestoring: {authz.RestoreStatus: true, authz.BackupStatus: true},
}

// checkState refuses an action the pool's state does not allow.
func (p *Pool) checkState(action authz.Action) error {
	st := p.lc.Load().State
	if st == StateActive || action == authz.AuditRead {
		return nil
	}
	if allowedIn[st][action] {
		return nil
	}
	switch st {
	case StateActivationPending:
		return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "ManagedHsmNotActivated",
			Message: "The managed HSM is not activated: every data-plane operation is disabled until an initial administrator downloads its security domain (POST /securitydomain/download)."}
	case StateSecurityDomainRestore:
		return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "ManagedHsmSecurityDomainRestore",
			Message: "The managed HSM was created to recover another one and waits for its security domain: get the transfer key (GET /securitydomain/upload), then upload the security domain (POST /securitydomain/upload)."}
	case StateRestoring:
		return &Error{Kind: KindUnavailable, Code: "ServiceUnavailable", Inner: "ManagedHsmRestoring",
			Message: "The managed HSM is being restored from a full backup: data-plane operations other than checking the restore status are disabled until it completes."}
	}
	return &Error{Kind: KindUnavailable, Code: "ServiceUnavailable", Message: "The managed HSM is not available."}
}
