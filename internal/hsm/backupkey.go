package hsm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/store"
)

// Single-key backup blobs:
//
//	"CKB1" || envelope.Seal(K, 1, json(keyBackup), aad = keyBackupLabel)
//
// where K is derived from the pool's security domain with keyBackupLabel,
// so a blob opens only in a pool holding the same security domain.
var keyBackupMagic = []byte("CKB1")

const keyBackupLabel = "coffer/key-backup/v1"

type keyBackup struct {
	V        int                   `json:"v"`
	Name     string                `json:"name"`
	NextSeq  uint64                `json:"nextSeq"`
	Policy   *rotationPolicyRecord `json:"rotationPolicy,omitempty"`
	Versions []versionRecord       `json:"versions"`
}

func invalidBackup() *Error {
	return badParameter("The backup blob is invalid, corrupt, or was not made by a pool holding this pool's security domain.")
}

// BackupKey returns a protected blob holding every version of a key.
func (p *Pool) BackupKey(ctx context.Context, c *Caller, name KeyName) ([]byte, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.KeysBackup, authz.KeyScope(name.String())); err != nil {
		return nil, err
	}
	e, err := p.activeEntry(name)
	if err != nil {
		return nil, err
	}
	kb := keyBackup{V: recordVersion, Name: e.name, NextSeq: e.nextSeq}
	if e.policy != nil {
		kb.Policy = e.policy.record()
	}
	for _, v := range e.versions {
		r, err := v.record()
		if err != nil {
			return nil, fmt.Errorf("hsm: backing up key %s: %w", e.name, err)
		}
		kb.Versions = append(kb.Versions, r)
	}
	plain, err := json.Marshal(kb)
	if err != nil {
		return nil, fmt.Errorf("hsm: backing up key %s: %w", e.name, err)
	}
	defer clear(plain)
	sealed, err := envelope.Seal(p.cfg.Keys.DeriveKey(keyBackupLabel, 32), 1, plain, []byte(keyBackupLabel))
	if err != nil {
		return nil, fmt.Errorf("hsm: backing up key %s: %w", e.name, err)
	}
	return append(bytes.Clone(keyBackupMagic), sealed...), nil
}

// openKeyBackup decrypts and decodes a backup blob into a key entry.
func (p *Pool) openKeyBackup(blob []byte) (*keyEntry, error) {
	if !bytes.HasPrefix(blob, keyBackupMagic) {
		return nil, invalidBackup()
	}
	plain, err := envelope.Open(p.cfg.Keys.DeriveKey(keyBackupLabel, 32), blob[len(keyBackupMagic):], []byte(keyBackupLabel))
	if err != nil {
		return nil, invalidBackup()
	}
	defer clear(plain)
	var kb keyBackup
	if err := json.Unmarshal(plain, &kb); err != nil || kb.V != recordVersion || len(kb.Versions) == 0 {
		return nil, invalidBackup()
	}
	name, err := ParseKeyName(kb.Name)
	if err != nil {
		return nil, invalidBackup()
	}
	e := &keyEntry{name: name.String(), lname: name.key(), nextSeq: kb.NextSeq}
	if kb.Policy != nil {
		if e.policy, err = kb.Policy.policy(); err != nil {
			return nil, invalidBackup()
		}
	}
	for _, r := range kb.Versions {
		v, err := versionFromRecord(r)
		if err != nil {
			return nil, invalidBackup()
		}
		e.versions = append(e.versions, v)
	}
	e.sortVersions()
	return e, nil
}

// RestoreKey restores a key, with all its versions and their ids, from a
// backup blob. It fails if a key of that name exists, active or deleted.
func (p *Pool) RestoreKey(ctx context.Context, c *Caller, blob []byte) (*KeyBundle, error) {
	e, err := p.openKeyBackup(blob)
	if err != nil {
		return nil, err
	}
	annotateKey(ctx, e.name, "", nil)
	if err := p.authorize(ctx, c, authz.KeysRestore, authz.KeyScope(e.name)); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if old := p.entry(MustKeyName(e.name)); old != nil {
		if old.deleted != nil {
			return nil, deletedButRecoverable(e.name)
		}
		return nil, &Error{Kind: KindConflict, Code: "Conflict", Inner: "ObjectAlreadyExists",
			Message: fmt.Sprintf("Key %s already exists; a key can only be restored under a name that is not in use.", e.name)}
	}
	if p.activeKeyCount() >= p.cfg.Limits.MaxKeys {
		return nil, badParameter("The pool already holds the maximum number of keys (%d).", p.cfg.Limits.MaxKeys)
	}
	err = p.update(ctx, func(tx store.Tx) error {
		for _, v := range e.versions {
			if err := putVersion(tx, e.lname, v); err != nil {
				return err
			}
		}
		return putMeta(tx, e)
	}, func() { p.publishKey(e) })
	if err != nil {
		return nil, err
	}
	v := e.latest()
	annotateKey(ctx, e.name, v.id, v.key)
	return p.bundle(e, v), nil
}
