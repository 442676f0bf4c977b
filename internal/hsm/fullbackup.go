package hsm

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/envelope"
	"github.com/cofferkms/coffer/internal/store"
)

// A full backup is a folder of objects in a backup target:
//
//	manifest.json    fullBackupManifest, in clear (names no key or secret)
//	data-00001.bin … envelope.Seal(K, 1, chunk, aad = manifest digest ‖ chunk index)
//
// K is derived from the pool's security domain (fullBackupLabel), so a
// backup opens only in a pool holding the same security domain; the
// manifest's digest is in every chunk's associated data, so a changed
// manifest, a missing, swapped or truncated chunk, all fail to open.
// A chunk is a sequence of records, each uvarint(len(path)) ‖ path ‖
// uvarint(len(value)) ‖ value: the pool's protected records under keys/,
// rbac/ and settings/ (keys with every version, rotation policies, role
// definitions and assignments, settings).
const (
	fullBackupFormat = "coffer-full-backup/v1"
	fullBackupLabel  = "coffer/full-backup/v1"
	domainIDLabel    = "coffer/domain-id/v1"
	chunkTarget      = 4 << 20
	manifestName     = "manifest.json"
)

// backedUp are the record prefixes a full backup holds; records under
// "pool/" describe the pool itself (its lifecycle, jobs) and stay.
var backedUp = []string{pathKeys, "rbac/", pathSettings}

type fullBackupManifest struct {
	Format   string    `json:"format"`
	Pool     string    `json:"pool"`
	Created  time.Time `json:"created"`
	DomainID string    `json:"domainId"`
	Records  int       `json:"records"`
	Keys     int       `json:"keys"`
	Chunks   int       `json:"chunks"`
}

// BackupTarget is where a full backup's objects go: an Azure Blob
// container, or a local directory. Its errors should be *Error values so
// they reach the caller as Azure-shaped errors.
type BackupTarget interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	// Check proves the target is reachable and grants what a backup
	// (write) or a restore (read) needs.
	Check(ctx context.Context, write bool) error
	// URL is the container's URL, without credentials.
	URL() string
}

// BackupTargets opens a target from the API's storage parameters.
type BackupTargets func(ctx context.Context, containerURL, sasToken string, useManagedIdentity bool) (BackupTarget, error)

// JobKind names a backup or restore job.
type JobKind uint8

const (
	_ JobKind = iota
	JobFullBackup
	JobPreBackup
	JobFullRestore
	JobPreRestore
	JobSelectiveRestore
)

// Job is a backup or restore operation's status, as the API reports it.
type Job struct {
	ID      string    `json:"id"`
	Kind    JobKind   `json:"kind"`
	Status  string    `json:"status"` // InProgress, Succeeded, Failed
	Details string    `json:"details,omitempty"`
	Error   *Error    `json:"error,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	// FolderURL is where a successful full backup was written.
	FolderURL string `json:"folderUrl,omitempty"`
}

// IsRestore reports whether the job's status is read at /restore/{id}.
func (j *Job) IsRestore() bool {
	return j.Kind == JobFullRestore || j.Kind == JobPreRestore || j.Kind == JobSelectiveRestore
}

// jobs tracks a pool's backup and restore jobs: one runs at a time.
type jobs struct {
	mu      sync.Mutex
	running string
	byID    map[string]*Job
	wg      sync.WaitGroup
}

const pathJobs = "pool/jobs/"

func errBusy() *Error {
	return &Error{Kind: KindConflict, Code: "Conflict", Message: "Another backup or restore is in progress on this managed HSM; only one runs at a time."}
}

// startJob registers a job and runs fn in the background. fn returns the
// folder URL (backups) or an error.
func (p *Pool) startJob(kind JobKind, fn func(ctx context.Context, j *Job) error) (*Job, error) {
	p.jobs.mu.Lock()
	defer p.jobs.mu.Unlock()
	if p.jobs.running != "" {
		return nil, errBusy()
	}
	if p.jobs.byID == nil {
		p.jobs.byID = map[string]*Job{}
	}
	var id [16]byte
	rand.Read(id[:])
	j := &Job{ID: hex.EncodeToString(id[:]), Kind: kind, Status: "InProgress", Start: p.now().UTC().Truncate(time.Second)}
	p.jobs.running = j.ID
	p.jobs.byID[j.ID] = j
	snapshot := *j
	p.jobs.wg.Add(1)
	go func() {
		defer p.jobs.wg.Done()
		ctx := context.Background()
		err := fn(ctx, j)
		p.jobs.mu.Lock()
		j.End = p.now().UTC().Truncate(time.Second)
		if err != nil {
			j.Status = "Failed"
			var he *Error
			if !errors.As(err, &he) {
				p.log.Error("backup or restore job failed", slog.String("job", j.ID), slog.Any("err", err))
				he = &Error{Kind: KindUnavailable, Code: "InternalError", Message: "The job failed; the server log has details (job " + j.ID + ")."}
			}
			j.Error, j.Details = he, he.Message
		} else {
			j.Status = "Succeeded"
		}
		done := *j
		p.jobs.running = ""
		p.jobs.mu.Unlock()
		// Keep the outcome across restarts: clients poll for it.
		if b, err := json.Marshal(done); err == nil {
			if err := p.cfg.Store.Update(ctx, func(tx store.Tx) error { return tx.Put(pathJobs+done.ID, b) }); err != nil {
				p.log.Error("recording a job's outcome", slog.String("job", done.ID), slog.Any("err", err))
			}
		}
		if p.cfg.OnJobDone != nil {
			p.cfg.OnJobDone(p.cfg.Name, done)
		}
	}()
	return &snapshot, nil
}

// JobStatus returns a job's status; restore says whether it was asked
// for at /restore/{id} (true) or /backup/{id} (false).
func (p *Pool) JobStatus(ctx context.Context, c *Caller, id string, restore bool) (*Job, error) {
	action := authz.BackupStatus
	if restore {
		action = authz.RestoreStatus
	}
	if err := p.authorize(ctx, c, action, authz.RootScope); err != nil {
		return nil, err
	}
	p.jobs.mu.Lock()
	j, ok := p.jobs.byID[id]
	var out Job
	if ok {
		out = *j
	}
	p.jobs.mu.Unlock()
	if !ok {
		var b []byte
		err := p.cfg.Store.View(ctx, func(tx store.Tx) error {
			var err error
			b, err = tx.Get(pathJobs + id)
			return err
		})
		if err != nil || json.Unmarshal(b, &out) != nil || strings.Contains(id, "/") {
			return nil, &Error{Kind: KindNotFound, Code: "NotFound", Message: fmt.Sprintf("No backup or restore job %s.", safeName(id))}
		}
	}
	if out.IsRestore() != restore {
		return nil, &Error{Kind: KindNotFound, Code: "NotFound", Message: fmt.Sprintf("No %s job %s.", map[bool]string{true: "restore", false: "backup"}[restore], out.ID)}
	}
	return &out, nil
}

// WaitJobs waits for running jobs (shutdown and tests).
func (p *Pool) WaitJobs() { p.jobs.wg.Wait() }

// domainID names the pool's security domain without revealing it.
func (p *Pool) domainID() string {
	k := p.cfg.Keys.DeriveKey(domainIDLabel, 16)
	return hex.EncodeToString(k.Expose())
}

func (p *Pool) openTarget(ctx context.Context, containerURL, sas string, mi bool) (BackupTarget, error) {
	if p.cfg.BackupTargets == nil {
		return nil, &Error{Kind: KindUnavailable, Code: "NotSupported", Message: "This server has no backup storage configured."}
	}
	if containerURL == "" {
		return nil, badParameter("storageResourceUri is required: the URL of the blob container (or file:// directory) to use.")
	}
	return p.cfg.BackupTargets(ctx, containerURL, sas, mi)
}

// StartFullBackup starts writing every key, version, attribute, tag, role
// definition, role assignment and setting to a new folder of the target.
// pre runs only the checks (POST /prebackup).
func (p *Pool) StartFullBackup(ctx context.Context, c *Caller, containerURL, sas string, mi, pre bool) (*Job, error) {
	if err := p.authorize(ctx, c, authz.BackupStart, authz.RootScope); err != nil {
		return nil, err
	}
	t, err := p.openTarget(ctx, containerURL, sas, mi)
	if err != nil {
		return nil, err
	}
	if pre {
		return p.startJob(JobPreBackup, func(ctx context.Context, j *Job) error { return t.Check(ctx, true) })
	}
	return p.startJob(JobFullBackup, func(ctx context.Context, j *Job) error {
		if err := t.Check(ctx, true); err != nil {
			return err
		}
		folder := folderName(p.cfg.Name, p.now())
		if err := p.writeFullBackup(ctx, t, folder); err != nil {
			return err
		}
		p.jobs.mu.Lock()
		j.FolderURL = strings.TrimRight(t.URL(), "/") + "/" + folder
		p.jobs.mu.Unlock()
		return nil
	})
}

// folderName follows Managed HSM's folder names: mhsm-<pool>-<UTC time
// to the millisecond>.
func folderName(pool string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("mhsm-%s-%s%03d", pool, t.Format("20060102150405"), t.Nanosecond()/1e6)
}

func appendRecord(b []byte, path string, value []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(path)))
	b = append(b, path...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

func chunkAAD(manifest []byte, i int) []byte {
	d := sha256.Sum256(manifest)
	return binary.BigEndian.AppendUint32(append([]byte(fullBackupFormat+"\x00"), d[:]...), uint32(i))
}

func (p *Pool) writeFullBackup(ctx context.Context, t BackupTarget, folder string) error {
	var chunks [][]byte
	var cur []byte
	records, keys := 0, 0
	// One read transaction: a consistent snapshot of the whole pool.
	err := p.cfg.Store.View(ctx, func(tx store.Tx) error {
		for _, prefix := range backedUp {
			err := tx.ForEach(prefix, func(path string, value []byte) error {
				cur = appendRecord(cur, path, value)
				records++
				if strings.HasPrefix(path, pathKeys) && strings.HasSuffix(path, "/meta") {
					keys++
				}
				if len(cur) >= chunkTarget {
					chunks, cur = append(chunks, cur), nil
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading pool %s for a backup: %w", p.cfg.Name, err)
	}
	if len(cur) > 0 || len(chunks) == 0 {
		chunks = append(chunks, cur)
	}
	defer func() {
		for _, c := range chunks {
			clear(c)
		}
	}()
	m := fullBackupManifest{Format: fullBackupFormat, Pool: p.cfg.Name, Created: p.now().UTC(), DomainID: p.domainID(),
		Records: records, Keys: keys, Chunks: len(chunks)}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	k := p.cfg.Keys.DeriveKey(fullBackupLabel, 32)
	for i, c := range chunks {
		sealed, err := envelope.Seal(k, 1, c, chunkAAD(mb, i))
		if err != nil {
			return fmt.Errorf("sealing a backup chunk: %w", err)
		}
		if err := t.Put(ctx, fmt.Sprintf("%s/data-%05d.bin", folder, i+1), sealed); err != nil {
			return err
		}
	}
	// The manifest goes last: a folder without one is an unfinished backup.
	return t.Put(ctx, folder+"/"+manifestName, mb)
}

var errBackupCorrupt = &Error{Kind: KindBadRequest, Code: "BadParameter",
	Message: "The backup is corrupt or incomplete: a part of it is missing or does not open."}

// splitPathStyle moves a container name from the folder to the container
// URL. The Azure SDKs find the container of a backup's folder URL in the
// first segment of its path, which for a path-style URL (a storage
// emulator's, http://host:port/account/container/folder) is the account:
// they send the account's URL with "container/folder" as the folder.
func splitPathStyle(containerURL, folder string) (string, string) {
	container, rest, ok := strings.Cut(folder, "/")
	if !ok || container == "" || rest == "" || strings.ContainsAny(rest, "/\\") || strings.Contains(container, "..") {
		return containerURL, folder
	}
	return strings.TrimRight(containerURL, "/") + "/" + container, rest
}

// readFullBackup reads, authenticates and decodes a backup folder.
func (p *Pool) readFullBackup(ctx context.Context, t BackupTarget, folder string) (map[string][]byte, *fullBackupManifest, error) {
	if folder == "" || strings.ContainsAny(folder, "/\\") || strings.Contains(folder, "..") {
		return nil, nil, badParameter("folderToRestore must be the name of a backup folder, like mhsm-%s-20260101120000123.", p.cfg.Name)
	}
	mb, err := t.Get(ctx, folder+"/"+manifestName)
	if err != nil {
		return nil, nil, err
	}
	var m fullBackupManifest
	if err := json.Unmarshal(mb, &m); err != nil || m.Format != fullBackupFormat || m.Chunks < 1 || m.Chunks > 1_000_000 {
		return nil, nil, badParameter("%s/%s is not a Coffer full backup manifest.", folder, manifestName)
	}
	if m.DomainID != p.domainID() {
		return nil, nil, &Error{Kind: KindBadRequest, Code: "BadParameter", Inner: "SecurityDomainMismatch",
			Message: fmt.Sprintf("The backup %s was made by a managed HSM with a different security domain; it can be restored only into a managed HSM holding that security domain.", folder)}
	}
	k := p.cfg.Keys.DeriveKey(fullBackupLabel, 32)
	recs := make(map[string][]byte, m.Records)
	for i := range m.Chunks {
		sealed, err := t.Get(ctx, fmt.Sprintf("%s/data-%05d.bin", folder, i+1))
		if err != nil {
			return nil, nil, err
		}
		plain, err := envelope.Open(k, sealed, chunkAAD(mb, i))
		if err != nil {
			return nil, nil, errBackupCorrupt
		}
		for len(plain) > 0 {
			n, w := binary.Uvarint(plain)
			if w <= 0 || n > uint64(len(plain)-w) {
				return nil, nil, errBackupCorrupt
			}
			path := string(plain[w : w+int(n)])
			plain = plain[w+int(n):]
			n, w = binary.Uvarint(plain)
			if w <= 0 || n > uint64(len(plain)-w) {
				return nil, nil, errBackupCorrupt
			}
			if !backedUpPath(path) {
				return nil, nil, errBackupCorrupt
			}
			recs[path] = bytes.Clone(plain[w : w+int(n)])
			plain = plain[w+int(n):]
		}
	}
	if len(recs) != m.Records {
		return nil, nil, errBackupCorrupt
	}
	return recs, &m, nil
}

func backedUpPath(path string) bool {
	for _, p := range backedUp {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// StartFullRestore replaces the pool's keys, role definitions, role
// assignments and settings with a backup's, atomically. While it runs the
// pool refuses every data-plane call except the restore's status. pre
// runs only the checks (PUT /prerestore).
func (p *Pool) StartFullRestore(ctx context.Context, c *Caller, containerURL, sas string, mi bool, folder string, pre bool) (*Job, error) {
	if err := p.authorize(ctx, c, authz.RestoreStart, authz.RootScope); err != nil {
		return nil, err
	}
	containerURL, folder = splitPathStyle(containerURL, folder)
	t, err := p.openTarget(ctx, containerURL, sas, mi)
	if err != nil {
		return nil, err
	}
	if pre {
		return p.startJob(JobPreRestore, func(ctx context.Context, j *Job) error {
			if err := t.Check(ctx, false); err != nil {
				return err
			}
			if folder == "" {
				return nil
			}
			_, _, err := p.readFullBackup(ctx, t, folder)
			return err
		})
	}
	if folder == "" {
		return nil, badParameter("folderToRestore is required.")
	}
	return p.startJob(JobFullRestore, func(ctx context.Context, j *Job) error {
		recs, _, err := p.readFullBackup(ctx, t, folder)
		if err != nil {
			return err
		}
		defer func() {
			for _, v := range recs {
				clear(v)
			}
		}()
		return p.replaceContent(ctx, recs)
	})
}

// replaceContent swaps the pool's backed-up records for recs in one
// transaction and reloads the in-memory state from the store.
//
// The pool's own Administrator assignments at "/" stay, besides the
// backup's: they are the people running the recovery, and after a
// disaster the principals the backup names may be gone with the directory
// that held them. (A deliberate extension: Managed HSM restores the
// backup's assignments only, in a tenant that survived.)
func (p *Pool) replaceContent(ctx context.Context, recs map[string][]byte) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	before := *p.lc.Load()
	restoring := before
	restoring.State = StateRestoring
	p.setLifecycle(restoring)
	defer p.setLifecycle(before)
	err := p.cfg.Store.Update(ctx, func(tx store.Tx) error {
		kept := map[string][]byte{}
		err := tx.ForEach(pathAssignments, func(path string, v []byte) error {
			if a, err := decodeAssignment(v); err == nil && a.RoleDefinitionID == RoleAdministrator && a.Scope == authz.RootScope {
				kept[path] = bytes.Clone(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for path, v := range kept {
			if _, ok := recs[path]; !ok {
				recs[path] = v
			}
		}
		for _, prefix := range backedUp {
			var old []string
			if err := tx.ForEach(prefix, func(path string, _ []byte) error { old = append(old, path); return nil }); err != nil {
				return err
			}
			for _, path := range old {
				if err := tx.Delete(path); err != nil {
					return err
				}
			}
		}
		for path, v := range recs {
			if err := tx.Put(path, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restoring pool %s: %w", p.cfg.Name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.load(ctx); err != nil {
		return fmt.Errorf("reloading pool %s after a restore: %w", p.cfg.Name, err)
	}
	return nil
}

// StartSelectiveRestore restores one key, with every version, from a full
// backup. As in Managed HSM the key must not exist (purge it first).
func (p *Pool) StartSelectiveRestore(ctx context.Context, c *Caller, name KeyName, containerURL, sas string, mi bool, folder string) (*Job, error) {
	annotateKey(ctx, name.String(), "", nil)
	if err := p.authorize(ctx, c, authz.RestoreStart, authz.RootScope); err != nil {
		return nil, err
	}
	containerURL, folder = splitPathStyle(containerURL, folder)
	if folder == "" {
		return nil, badParameter("folder is required: the name of the backup folder to restore the key from.")
	}
	if err := p.keyAbsent(name); err != nil {
		return nil, err
	}
	t, err := p.openTarget(ctx, containerURL, sas, mi)
	if err != nil {
		return nil, err
	}
	return p.startJob(JobSelectiveRestore, func(ctx context.Context, j *Job) error {
		recs, _, err := p.readFullBackup(ctx, t, folder)
		if err != nil {
			return err
		}
		prefix := pathKeys + name.key() + "/"
		mine := map[string][]byte{}
		for path, v := range recs {
			if strings.HasPrefix(path, prefix) {
				mine[path] = v
			}
		}
		if len(mine) == 0 {
			return &Error{Kind: KindNotFound, Code: "KeyNotFound", Message: fmt.Sprintf("The backup %s holds no key named %s.", folder, name)}
		}
		return p.restoreKeyRecords(ctx, name, mine)
	})
}

// keyAbsent requires that no live or deleted key has the name.
func (p *Pool) keyAbsent(name KeyName) error {
	p.mu.RLock()
	_, exists := p.keys[name.key()]
	p.mu.RUnlock()
	if exists {
		return &Error{Kind: KindConflict, Code: "Conflict",
			Message: fmt.Sprintf("A key named %s exists (or is deleted and not yet purged); a selective restore needs it purged first.", name)}
	}
	return nil
}

func (p *Pool) restoreKeyRecords(ctx context.Context, name KeyName, recs map[string][]byte) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if err := p.keyAbsent(name); err != nil {
		return err
	}
	entries := map[string]*keyEntry{}
	for path, v := range recs {
		if err := loadKeyRecord(entries, path, v); err != nil {
			return errBackupCorrupt
		}
	}
	e := entries[name.key()]
	if e == nil || e.name == "" || len(e.versions) == 0 {
		return errBackupCorrupt
	}
	e.sortVersions()
	return p.update(ctx, func(tx store.Tx) error {
		for path, v := range recs {
			if err := tx.Put(path, v); err != nil {
				return err
			}
		}
		return nil
	}, func() {
		p.mu.Lock()
		p.keys[e.lname] = e
		p.mu.Unlock()
	})
}
