package hsm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/crypto/sdformat"
	"github.com/cofferkms/coffer/internal/store"
)

// The security domain (api-admin reference §4): the pool's domain key,
// split among 3–10 key holders so that a quorum of them, and nobody else,
// can bring it into a new pool. The file is Managed HSM's, byte for byte;
// its one payload is ours.

// sdTag labels the payload of a Coffer security domain: the KDF label and
// the JWE kid of its one EncData entry. Another tag set means the file
// came from another product (or a future format) and is refused.
const sdTag = "coffer_domain_v1"

// sdPayloadMagic begins the payload; the 32-byte domain key follows.
var sdPayloadMagic = []byte("COFFER-SECURITY-DOMAIN-1\n")

// domainKeySize is the size of a pool's domain key and of the file's
// master key.
const domainKeySize = 32

// transferKeyBits is the size of the RSA key a recovering pool publishes
// for the upload.
const transferKeyBits = 3072

// SecurityDomainStatus is the state of the last security-domain operation
// (download or upload), as the pending endpoints report it.
type SecurityDomainStatus struct {
	// Status is "Success", "InProgress" or "Failed": Managed HSM's words
	// (not "Succeeded") for this API.
	Status  string    `json:"status"`
	Details string    `json:"details"`
	Op      string    `json:"op"` // "download" or "upload"
	Time    time.Time `json:"time"`
}

// transferKeyRecord is a recovering pool's RSA key for the upload. It is
// stored in the pool's protected store and deleted once an upload succeeds.
type transferKeyRecord struct {
	CertPEM []byte `json:"cert"`
	KeyPEM  []byte `json:"key"`
}

// DownloadSecurityDomain activates a pool: it splits the pool's domain key
// among the request's certificates (3–10, quorum 2–10) and returns the
// security-domain file. A pool's domain can be downloaded once; the file
// is the only way to bring its keys into another pool.
func (p *Pool) DownloadSecurityDomain(ctx context.Context, c *Caller, request []byte) ([]byte, error) {
	if err := p.authorize(ctx, c, authz.SecurityDomainDownload, authz.RootScope); err != nil {
		return nil, err
	}
	// Said before any complaint about the request: no request would do.
	if err := checkDownloadable(*p.lc.Load()); err != nil {
		return nil, err
	}
	certs, quorum, err := sdformat.ParseDownloadRequest(request)
	if err != nil {
		return nil, badParameter("%s", err.Error())
	}
	return p.downloadSecurityDomain(ctx, certs, quorum)
}

// ActivateDevelopment downloads the security domain of a development pool
// on the server's own authority: `serve --dev` hands the file and its
// generated wrapping keys to the developer instead of asking for them.
func (p *Pool) ActivateDevelopment(ctx context.Context, certs []sdformat.Certificate, quorum int) ([]byte, error) {
	return p.downloadSecurityDomain(ctx, certs, quorum)
}

// checkDownloadable refuses a download the pool's lifecycle does not allow.
func checkDownloadable(lc lifecycle) error {
	switch {
	case lc.Downloaded != nil:
		return &Error{Kind: KindConflict, Code: "Conflict", Inner: "SecurityDomainAlreadyDownloaded",
			Message: fmt.Sprintf("The security domain of this managed HSM was downloaded on %s; it can be downloaded only once. Keep that file and its wrapping keys safe.", lc.Downloaded.UTC().Format(time.RFC3339))}
	case lc.Uploaded != nil:
		return &Error{Kind: KindConflict, Code: "Conflict", Inner: "SecurityDomainUploaded",
			Message: "This managed HSM was recovered from an uploaded security domain: the file it was recovered from is its security domain."}
	case lc.State != StateActivationPending && lc.State != StateActive:
		return &Error{Kind: KindConflict, Code: "Conflict",
			Message: fmt.Sprintf("The security domain cannot be downloaded while the managed HSM is in state %s.", lc.State)}
	}
	return nil
}

func (p *Pool) downloadSecurityDomain(ctx context.Context, certs []sdformat.Certificate, quorum int) ([]byte, error) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	lc := *p.lc.Load()
	if err := checkDownloadable(lc); err != nil {
		return nil, err
	}
	dk := p.cfg.Keys.DomainKey()
	defer dk.Wipe()
	payload := make([]byte, 0, len(sdPayloadMagic)+domainKeySize)
	payload = append(append(payload, sdPayloadMagic...), dk.Expose()...)
	defer clear(payload)
	master := make([]byte, domainKeySize)
	rand.Read(master) // never fails (Go 1.24+)
	defer clear(master)
	file, err := sdformat.Build(rand.Reader, master, []sdformat.Datum{{Tag: sdTag, Plaintext: payload}}, certs, quorum)
	if err != nil {
		return nil, fmt.Errorf("hsm: building the security domain of %s: %w", p.cfg.Name, err)
	}
	now := p.now()
	lc.Downloaded = &now
	lc.State = StateActive
	lc.LastSD = &SecurityDomainStatus{Status: "Success", Op: "download", Time: now,
		Details: fmt.Sprintf("The security domain was downloaded, split among %d certificates with a quorum of %d; the managed HSM is active.", len(certs), quorum)}
	if err := p.update(ctx, func(tx store.Tx) error { return putLifecycle(tx, lc) }, func() { p.setLifecycle(lc) }); err != nil {
		return nil, err
	}
	p.log.Info("security domain downloaded; pool active", slog.Int("certificates", len(certs)), slog.Int("quorum", quorum))
	return file, nil
}

// SecurityDomainOperationStatus returns the state of the last download or
// upload; upload says which endpoint asked, for its permission. (Both
// endpoints report the same operation: the Azure CLI polls the upload one
// after a download.)
func (p *Pool) SecurityDomainOperationStatus(ctx context.Context, c *Caller, upload bool) (*SecurityDomainStatus, error) {
	action := authz.SecurityDomainDownloadRead
	if upload {
		action = authz.SecurityDomainUploadRead
	}
	if err := p.authorize(ctx, c, action, authz.RootScope); err != nil {
		return nil, err
	}
	st := p.lc.Load().LastSD
	if st == nil {
		return nil, &Error{Kind: KindNotFound, Code: "NotFound",
			Message: "No security-domain download or upload has run on this managed HSM."}
	}
	s := *st
	return &s, nil
}

// TransferKey returns the public half of the key a recovering pool
// receives its security domain under, as the JWK clients expect (kid names
// it). The key is made on first use and kept until an upload succeeds.
func (p *Pool) TransferKey(ctx context.Context, c *Caller, kid string) ([]byte, error) {
	if err := p.authorize(ctx, c, authz.SecurityDomainTransferKeyRead, authz.RootScope); err != nil {
		return nil, err
	}
	if err := p.checkRecovering(); err != nil {
		return nil, err
	}
	wk, err := p.transferKey(ctx, true)
	if err != nil {
		return nil, err
	}
	return sdformat.TransferKeyJWK(&wk.Key.PublicKey, wk.CertDER, kid)
}

// transferKey loads the pool's transfer key, making it if create is set
// and there is none.
func (p *Pool) transferKey(ctx context.Context, create bool) (sdformat.WrappingKey, error) {
	wk, ok, err := p.loadTransferKey(ctx)
	switch {
	case err != nil || ok:
		return wk, err
	case !create:
		return sdformat.WrappingKey{}, badParameter("This managed HSM has no transfer key yet: get it first (GET /securitydomain/upload) and build the restore blob for it.")
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	// Another request may have made it while this one waited.
	if wk, ok, err := p.loadTransferKey(ctx); err != nil || ok {
		return wk, err
	}
	certPEM, keyPEM, err := sdformat.GenerateWrappingKey(rand.Reader, transferKeyBits, "Coffer transfer key for "+p.cfg.Name, p.now())
	if err != nil {
		return sdformat.WrappingKey{}, fmt.Errorf("hsm: making the transfer key of %s: %w", p.cfg.Name, err)
	}
	defer clear(keyPEM)
	b, err := json.Marshal(transferKeyRecord{CertPEM: certPEM, KeyPEM: keyPEM})
	if err != nil {
		return sdformat.WrappingKey{}, err
	}
	defer clear(b)
	if err := p.update(ctx, func(tx store.Tx) error { return tx.Put(pathTransferKey, b) }, nil); err != nil {
		return sdformat.WrappingKey{}, err
	}
	return sdformat.LoadWrappingKey(certPEM, keyPEM)
}

// loadTransferKey reads the stored transfer key; ok is false when there
// is none.
func (p *Pool) loadTransferKey(ctx context.Context) (wk sdformat.WrappingKey, ok bool, err error) {
	var rec transferKeyRecord
	err = p.cfg.Store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(pathTransferKey)
		if err != nil {
			return err
		}
		defer clear(b)
		return json.Unmarshal(b, &rec)
	})
	if errors.Is(err, store.ErrNotFound) {
		return sdformat.WrappingKey{}, false, nil
	}
	if err != nil {
		return sdformat.WrappingKey{}, false, fmt.Errorf("hsm: reading the transfer key of %s: %w", p.cfg.Name, err)
	}
	defer clear(rec.KeyPEM)
	wk, err = sdformat.LoadWrappingKey(rec.CertPEM, rec.KeyPEM)
	return wk, err == nil, err
}

func (p *Pool) checkRecovering() error {
	if st := p.lc.Load().State; st != StateSecurityDomainRestore {
		return &Error{Kind: KindConflict, Code: "Conflict", Inner: "SecurityDomainPresent",
			Message: fmt.Sprintf("This managed HSM holds a security domain already (state %s); a security domain can be uploaded only into a managed HSM created for recovery.", st)}
	}
	return nil
}

// UploadSecurityDomain recovers a pool: blob is the restore blob a quorum
// of key holders built from the old pool's security-domain file for this
// pool's transfer key. On success the pool holds the old pool's domain key
// (so it opens that pool's backups) and is active; on any failure nothing
// changes.
func (p *Pool) UploadSecurityDomain(ctx context.Context, c *Caller, blob []byte) (*SecurityDomainStatus, error) {
	if err := p.authorize(ctx, c, authz.SecurityDomainUpload, authz.RootScope); err != nil {
		return nil, err
	}
	if err := p.checkRecovering(); err != nil {
		return nil, err
	}
	wk, err := p.transferKey(ctx, false)
	if err != nil {
		return nil, err
	}
	data, err := sdformat.OpenRestoreBlob(blob, wk.Key, wk.CertDER)
	if err != nil {
		return nil, badParameter("The security domain could not be restored: %s", err.Error())
	}
	defer func() {
		for _, d := range data {
			clear(d.Plaintext)
		}
	}()
	dk, err := domainKeyFrom(data)
	if err != nil {
		return nil, err
	}
	defer dk.Wipe()

	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if err := p.checkRecovering(); err != nil { // an upload may have won the race
		return nil, err
	}
	// The new domain key is in force once this returns; the lifecycle
	// record is written after it. If the node stops in between, the pool
	// still waits for an upload and the same upload succeeds again.
	if err := p.cfg.Keys.ReplaceDomainKey(ctx, dk); err != nil {
		return nil, fmt.Errorf("hsm: installing the uploaded security domain in %s: %w", p.cfg.Name, err)
	}
	now := p.now()
	lc := *p.lc.Load()
	lc.State = StateActive
	lc.Uploaded = &now
	lc.LastSD = &SecurityDomainStatus{Status: "Success", Op: "upload", Time: now,
		Details: "The security domain was uploaded; the managed HSM is active and can restore backups of the managed HSM it came from."}
	err = p.update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(pathTransferKey); err != nil {
			return err
		}
		return putLifecycle(tx, lc)
	}, func() { p.setLifecycle(lc) })
	if err != nil {
		return nil, err
	}
	p.log.Info("security domain uploaded; pool active")
	s := *lc.LastSD
	return &s, nil
}

// domainKeyFrom finds the domain key among a security domain's payloads.
func domainKeyFrom(data []sdformat.Datum) (keymat.Secret, error) {
	var tags []string
	for _, d := range data {
		tags = append(tags, d.Tag)
		if d.Tag != sdTag {
			continue
		}
		key, ok := bytes.CutPrefix(d.Plaintext, sdPayloadMagic)
		if !ok || len(key) != domainKeySize {
			return keymat.Secret{}, badParameter("The security domain's %s payload is malformed.", sdTag)
		}
		return keymat.NewSecret(key), nil
	}
	slices.Sort(tags)
	return keymat.Secret{}, badParameter("This is not a Coffer security domain: it holds no %s payload (it holds %q).", sdTag, tags)
}
