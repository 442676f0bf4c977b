package hsm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/store"
)

// Store layout (paths relative to the pool's protected store):
//
//	keys/<folded name>/meta          keyMetaRecord
//	keys/<folded name>/v/<version>   versionRecord (includes sealed material)
const pathKeys = "keys/"

func keyMetaPath(lname string) string         { return pathKeys + lname + "/meta" }
func keyVersionPath(lname, ver string) string { return pathKeys + lname + "/v/" + ver }
func keyVersionsPrefix(lname string) string   { return pathKeys + lname + "/v/" }

const recordVersion = 1

type keyMetaRecord struct {
	V              int                   `json:"v"`
	Name           string                `json:"name"`
	NextSeq        uint64                `json:"nextSeq"`
	DeletedDate    *int64                `json:"deletedDate,omitempty"`
	ScheduledPurge *int64                `json:"scheduledPurge,omitempty"`
	Policy         *rotationPolicyRecord `json:"rotationPolicy,omitempty"`
}

type versionRecord struct {
	V          int               `json:"v"`
	ID         string            `json:"id"`
	Seq        uint64            `json:"seq"`
	Created    int64             `json:"created"`
	Updated    int64             `json:"updated"`
	Enabled    bool              `json:"enabled"`
	NotBefore  *int64            `json:"nbf,omitempty"`
	Expires    *int64            `json:"exp,omitempty"`
	Exportable bool              `json:"exportable,omitempty"`
	Ops        []string          `json:"ops"`
	Tags       map[string]string `json:"tags,omitempty"`
	Release    *ReleasePolicy    `json:"release,omitempty"`
	// Material is keymat's canonical encoding. The record as a whole is
	// sealed by the barrier, so it is never stored in clear.
	Material []byte `json:"material"`
}

// keyEntry is a key's in-memory state. Entries and their versions are
// immutable once published: a mutation builds a new entry and swaps it in.
type keyEntry struct {
	name     string
	lname    string
	nextSeq  uint64
	versions []*versionEntry // ascending creation order; last is latest
	policy   *RotationPolicy
	deleted  *deletion
}

type deletion struct {
	date, purge time.Time
}

type versionEntry struct {
	id      string
	seq     uint64
	key     *keymat.Key
	ops     []KeyOp
	attrs   Attributes
	tags    map[string]string
	release *ReleasePolicy
}

func (e *keyEntry) latest() *versionEntry { return e.versions[len(e.versions)-1] }

func (e *keyEntry) version(id string) *versionEntry {
	for _, v := range e.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (e *keyEntry) sortVersions() {
	slices.SortFunc(e.versions, func(a, b *versionEntry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
}

// clone returns a shallow copy whose version slice can be changed freely.
func (e *keyEntry) clone() *keyEntry {
	c := *e
	c.versions = slices.Clone(e.versions)
	return &c
}

func (v *versionEntry) clone() *versionEntry {
	c := *v
	c.ops = slices.Clone(v.ops)
	c.tags = maps.Clone(v.tags)
	return &c
}

func (e *keyEntry) metaRecord() keyMetaRecord {
	r := keyMetaRecord{V: recordVersion, Name: e.name, NextSeq: e.nextSeq}
	if e.deleted != nil {
		d, pd := e.deleted.date.Unix(), e.deleted.purge.Unix()
		r.DeletedDate, r.ScheduledPurge = &d, &pd
	}
	if e.policy != nil {
		r.Policy = e.policy.record()
	}
	return r
}

func (v *versionEntry) record() (versionRecord, error) {
	mat, err := v.key.MarshalBinary()
	if err != nil {
		return versionRecord{}, fmt.Errorf("encoding key material: %w", err)
	}
	r := versionRecord{
		V: recordVersion, ID: v.id, Seq: v.seq,
		Created: v.attrs.Created.Unix(), Updated: v.attrs.Updated.Unix(),
		Enabled: v.attrs.Enabled, NotBefore: unixPtr(v.attrs.NotBefore), Expires: unixPtr(v.attrs.Expires),
		Exportable: v.attrs.Exportable, Tags: v.tags, Release: v.release, Material: mat,
	}
	for _, op := range v.ops {
		r.Ops = append(r.Ops, op.String())
	}
	return r, nil
}

func versionFromRecord(r versionRecord) (*versionEntry, error) {
	if r.V != recordVersion {
		return nil, fmt.Errorf("unsupported version record format %d", r.V)
	}
	k, err := keymat.UnmarshalKey(r.Material)
	if err != nil {
		return nil, fmt.Errorf("decoding key material of version %s: %w", r.ID, err)
	}
	ops, err := ParseKeyOps(r.Ops)
	if err != nil {
		return nil, fmt.Errorf("decoding key_ops of version %s: %w", r.ID, err)
	}
	return &versionEntry{
		id: r.ID, seq: r.Seq, key: k, ops: ops, tags: r.Tags, release: r.Release,
		attrs: Attributes{
			Enabled: r.Enabled, NotBefore: timePtr(r.NotBefore), Expires: timePtr(r.Expires),
			Created: time.Unix(r.Created, 0).UTC(), Updated: time.Unix(r.Updated, 0).UTC(), Exportable: r.Exportable,
		},
	}, nil
}

// loadKeyRecord folds one stored record into the entries being loaded.
func loadKeyRecord(keys map[string]*keyEntry, path string, value []byte) error {
	rest := strings.TrimPrefix(path, pathKeys)
	lname, tail, ok := strings.Cut(rest, "/")
	if !ok {
		return fmt.Errorf("unexpected key record %q", path)
	}
	e := keys[lname]
	if e == nil {
		e = &keyEntry{lname: lname}
		keys[lname] = e
	}
	switch {
	case tail == "meta":
		var m keyMetaRecord
		if err := json.Unmarshal(value, &m); err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		if m.V != recordVersion {
			return fmt.Errorf("decoding %s: unsupported format %d", path, m.V)
		}
		e.name, e.nextSeq = m.Name, m.NextSeq
		if m.DeletedDate != nil && m.ScheduledPurge != nil {
			e.deleted = &deletion{date: time.Unix(*m.DeletedDate, 0).UTC(), purge: time.Unix(*m.ScheduledPurge, 0).UTC()}
		}
		if m.Policy != nil {
			pol, err := m.Policy.policy()
			if err != nil {
				return fmt.Errorf("decoding %s: %w", path, err)
			}
			e.policy = pol
		}
	case strings.HasPrefix(tail, "v/"):
		var r versionRecord
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		v, err := versionFromRecord(r)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		e.versions = append(e.versions, v)
	default:
		return fmt.Errorf("unexpected key record %q", path)
	}
	return nil
}

// putMeta and putVersion write records inside a transaction.
func putMeta(tx store.Tx, e *keyEntry) error {
	b, err := json.Marshal(e.metaRecord())
	if err != nil {
		return err
	}
	return tx.Put(keyMetaPath(e.lname), b)
}

func putVersion(tx store.Tx, lname string, v *versionEntry) error {
	r, err := v.record()
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(keyVersionPath(lname, v.id), b)
}

// deleteKeyRecords removes every record of a key.
func deleteKeyRecords(tx store.Tx, lname string) error {
	paths, err := tx.List(keyVersionsPrefix(lname), "", 0)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := tx.Delete(p); err != nil {
			return err
		}
	}
	return tx.Delete(keyMetaPath(lname))
}

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

func timePtr(u *int64) *time.Time {
	if u == nil {
		return nil
	}
	t := time.Unix(*u, 0).UTC()
	return &t
}
