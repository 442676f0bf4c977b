package hsm

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/crypto/sdformat"
)

// holders makes n key holders: their wrapping keys and the download
// request naming their certificates.
func holders(t *testing.T, n, quorum int) ([]sdformat.WrappingKey, []byte) {
	t.Helper()
	var keys []sdformat.WrappingKey
	var jwks []json.RawMessage
	for range n {
		certPEM, keyPEM, err := sdformat.GenerateWrappingKey(rand.Reader, 2048, "holder", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wk, err := sdformat.LoadWrappingKey(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, wk)
		jwk, err := sdformat.CertificateJWK(wk.CertDER)
		if err != nil {
			t.Fatal(err)
		}
		jwks = append(jwks, jwk)
	}
	req, _ := json.Marshal(map[string]any{"certificates": jwks, "required": quorum})
	return keys, req
}

func activationPending(t *testing.T, name string, domain keymat.Secret, mutate func(*Config)) *Pool {
	t.Helper()
	p, _ := newPool(t, name, domain, mutate)
	if err := p.InitState(ctx, StateActivationPending); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecurityDomainDownloadActivates(t *testing.T) {
	p := activationPending(t, "p", keymat.Secret{}, nil)
	if _, err := p.CreateKey(ctx, admin, MustKeyName("k"), CreateKeyInput{Type: KeyTypeEC}); kind(err) != KindForbidden || !strings.Contains(err.Error(), "ManagedHsmNotActivated") {
		t.Fatalf("CreateKey before activation = %v, want ManagedHsmNotActivated", err)
	}
	if _, err := p.SecurityDomainOperationStatus(ctx, admin, false); kind(err) != KindNotFound {
		t.Errorf("status before any download = %v, want NotFound", err)
	}
	keys, req := holders(t, 3, 2)

	// Bad requests change nothing.
	var bad map[string]any
	json.Unmarshal(req, &bad)
	for name, body := range map[string]string{
		"empty":        `{}`,
		"not json":     `{"certificates":`,
		"quorum 1":     strings.Replace(string(req), `"required":2`, `"required":1`, 1),
		"quorum 4 > 3": strings.Replace(string(req), `"required":2`, `"required":4`, 1),
	} {
		if _, err := p.DownloadSecurityDomain(ctx, admin, []byte(body)); kind(err) != KindBadRequest {
			t.Errorf("DownloadSecurityDomain(%s) = %v, want BadRequest", name, err)
		}
	}
	if p.State() != StateActivationPending {
		t.Fatalf("state after refused downloads = %s", p.State())
	}
	other := &Caller{ObjectID: "other", Identities: []string{"other"}}
	if _, err := p.DownloadSecurityDomain(ctx, other, req); kind(err) != KindForbidden {
		t.Errorf("download by a non-administrator = %v, want Forbidden", err)
	}
	breakGlass := &Caller{ObjectID: "ga", Identities: []string{"ga"}, GlobalAdmin: true}
	if _, err := p.DownloadSecurityDomain(ctx, breakGlass, req); kind(err) != KindForbidden {
		t.Errorf("download by a Global Administrator = %v, want Forbidden (break-glass never reaches the security domain)", err)
	}

	file, err := p.DownloadSecurityDomain(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.State() != StateActive {
		t.Errorf("state after download = %s, want Active", p.State())
	}
	for _, upload := range []bool{false, true} {
		st, err := p.SecurityDomainOperationStatus(ctx, admin, upload)
		if err != nil || st.Status != "Success" {
			t.Errorf("SecurityDomainOperationStatus(upload=%v) = %+v, %v, want Success", upload, st, err)
		}
	}
	if _, err := p.DownloadSecurityDomain(ctx, admin, req); kind(err) != KindConflict {
		t.Errorf("second download = %v, want Conflict", err)
	}
	mustCreate(t, p, "k", CreateKeyInput{Type: KeyTypeEC})

	// Any two holders open the file and find the pool's domain key.
	for _, pair := range [][2]int{{0, 1}, {1, 2}, {2, 0}} {
		_, data, err := sdformat.Recover(file, []sdformat.WrappingKey{keys[pair[0]], keys[pair[1]]})
		if err != nil {
			t.Fatalf("Recover with holders %v: %v", pair, err)
		}
		dk, err := domainKeyFrom(data)
		if err != nil {
			t.Fatal(err)
		}
		want := p.cfg.Keys.DomainKey()
		if !dk.Equal(want) {
			t.Errorf("holders %v recovered another domain key", pair)
		}
	}
	if _, _, err := sdformat.Recover(file, keys[:1]); err == nil {
		t.Error("Recover with one holder of a quorum of two succeeded")
	}
}

// restoreBlob builds an upload for pool p from a security-domain file, as
// a quorum of holders does.
func restoreBlob(t *testing.T, p *Pool, file []byte, keys []sdformat.WrappingKey) []byte {
	t.Helper()
	jwk, err := p.TransferKey(ctx, admin, "https://p/transfer_key")
	if err != nil {
		t.Fatal(err)
	}
	var tk struct {
		X5c []string `json:"x5c"`
		Kty string   `json:"kty"`
	}
	if err := json.Unmarshal(jwk, &tk); err != nil || len(tk.X5c) != 1 || tk.Kty != "RSA" {
		t.Fatalf("TransferKey() = %s, %v", jwk, err)
	}
	wk, _ := p.transferKey(ctx, false)
	_, data, err := sdformat.Recover(file, keys)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := sdformat.BuildRestoreBlob(rand.Reader, data, wk.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func TestSecurityDomainRecovery(t *testing.T) {
	target := newMemTarget()
	old := activationPending(t, "old", keymat.Secret{}, withTarget(target))
	keys, req := holders(t, 3, 2)
	file, err := old.DownloadSecurityDomain(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	populate(t, old)
	want := poolContent(t, old)
	digest := bytes.Repeat([]byte{3}, 32)
	sig, err := old.Sign(ctx, admin, KeyRef{Name: MustKeyName("rsa")}, jwa.PS256, digest)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := old.WrapKey(ctx, admin, KeyRef{Name: MustKeyName("aes")}, jwa.A256KW, digest)
	if err != nil {
		t.Fatal(err)
	}
	j, err := old.StartFullBackup(ctx, admin, "https://acct.blob.example/backups", "sas", false, false)
	if err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, old, j)
	if done.Status != "Succeeded" {
		t.Fatalf("backup = %+v", done)
	}
	folder := done.FolderURL[strings.LastIndex(done.FolderURL, "/")+1:]

	// A new pool (another domain key) created for recovery.
	fresh, _ := newPool(t, "new", keymat.Secret{}, withTarget(target))
	if err := fresh.InitState(ctx, StateSecurityDomainRestore); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.CreateKey(ctx, admin, MustKeyName("x"), CreateKeyInput{Type: KeyTypeEC}); kind(err) != KindForbidden {
		t.Errorf("CreateKey in a recovering pool = %v, want Forbidden", err)
	}
	if _, err := fresh.DownloadSecurityDomain(ctx, admin, req); kind(err) != KindForbidden {
		t.Errorf("download from a recovering pool = %v, want Forbidden", err)
	}
	if _, err := fresh.UploadSecurityDomain(ctx, admin, []byte(`{}`)); kind(err) != KindBadRequest {
		t.Errorf("upload before the transfer key exists = %v, want BadRequest", err)
	}
	blob := restoreBlob(t, fresh, file, keys[1:])

	// Failures leave the pool waiting, its domain key unchanged.
	before := fresh.cfg.Keys.DomainKey()
	tampered := tamperPayload(t, blob)
	otherPool := activationPending(t, "other", keymat.Secret{}, nil)
	otherPool.InitState(ctx, StateSecurityDomainRestore)
	forOther := restoreBlob(t, otherPool, file, keys[:2])
	foreign, _ := sdformat.BuildRestoreBlob(rand.Reader, []sdformat.Datum{{Tag: "hsm_backup", Plaintext: []byte("not ours")}}, mustTransferCert(t, fresh))
	for name, b := range map[string][]byte{
		"garbage":                []byte("not a blob"),
		"tampered":               tampered,
		"another transfer key":   forOther,
		"another product's file": foreign,
		"truncated":              blob[:len(blob)/2],
	} {
		if _, err := fresh.UploadSecurityDomain(ctx, admin, b); kind(err) != KindBadRequest {
			t.Errorf("UploadSecurityDomain(%s) = %v, want BadRequest", name, err)
		}
		if fresh.State() != StateSecurityDomainRestore || !fresh.cfg.Keys.DomainKey().Equal(before) {
			t.Fatalf("a refused upload (%s) changed the pool", name)
		}
	}
	other := &Caller{ObjectID: "other", Identities: []string{"other"}}
	if _, err := fresh.UploadSecurityDomain(ctx, other, blob); kind(err) != KindForbidden {
		t.Errorf("upload by a non-administrator = %v, want Forbidden", err)
	}

	st, err := fresh.UploadSecurityDomain(ctx, admin, blob)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "Success" || fresh.State() != StateActive {
		t.Fatalf("upload = %+v, state %s", st, fresh.State())
	}
	if !fresh.cfg.Keys.DomainKey().Equal(old.cfg.Keys.DomainKey()) {
		t.Fatal("the recovered pool does not hold the old pool's domain key")
	}
	if _, err := fresh.UploadSecurityDomain(ctx, admin, blob); kind(err) != KindConflict {
		t.Errorf("second upload = %v, want Conflict", err)
	}
	if _, err := fresh.TransferKey(ctx, admin, "k"); kind(err) != KindConflict {
		t.Errorf("transfer key of an active pool = %v, want Conflict", err)
	}

	// The recovered pool restores the old pool's backup.
	wantFresh := restoredContent(t, fresh, want)
	rj, err := fresh.StartFullRestore(ctx, admin, "https://acct.blob.example/backups", "sas", false, folder, false)
	if err != nil {
		t.Fatal(err)
	}
	if rd := waitJob(t, fresh, rj); rd.Status != "Succeeded" {
		t.Fatalf("restore = %+v", rd)
	}
	if got := sortedContent(t, fresh); got != wantFresh {
		t.Errorf("recovered pool differs:\n got:\n%s\nwant:\n%s", got, wantFresh)
	}
	if ok, err := fresh.Verify(ctx, admin, KeyRef{Name: MustKeyName("rsa")}, jwa.PS256, digest, sig.Value); err != nil || !ok {
		t.Errorf("Verify of an old signature in the recovered pool = %v, %v", ok, err)
	}
	if got, err := fresh.UnwrapKey(ctx, admin, KeyRef{Name: MustKeyName("aes")}, jwa.A256KW, wrapped.Value); err != nil || !bytes.Equal(got.Value, digest) {
		t.Errorf("UnwrapKey of an old wrapped key in the recovered pool = %v, %v", got, err)
	}
}

// tamperPayload flips one bit of the ciphertext of a blob's payload.
func tamperPayload(t *testing.T, blob []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(blob, &m); err != nil {
		t.Fatal(err)
	}
	d := m["EncData"].(map[string]any)["data"].([]any)[0].(map[string]any)
	parts := strings.Split(d["compact_jwe"].(string), ".")
	ct := []byte(parts[3])
	ct[len(ct)/2] ^= 1
	if ct[len(ct)/2] == '.' || ct[len(ct)/2] > 'z' {
		ct[len(ct)/2] = 'A'
	}
	parts[3] = string(ct)
	d["compact_jwe"] = strings.Join(parts, ".")
	out, _ := json.Marshal(m)
	if bytes.Equal(out, blob) {
		t.Fatal("tamperPayload changed nothing")
	}
	return out
}

func mustTransferCert(t *testing.T, p *Pool) []byte {
	t.Helper()
	wk, err := p.transferKey(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	return wk.CertDER
}

// The domain key survives only inside the file's encryption: no part of
// it appears in the file.
func TestSecurityDomainFileHidesDomainKey(t *testing.T) {
	domain := keymat.NewSecret(bytes.Repeat([]byte{0x5a}, 32))
	p := activationPending(t, "p", domain, nil)
	_, req := holders(t, 3, 3)
	file, err := p.DownloadSecurityDomain(ctx, admin, req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, bytes.Repeat([]byte{0x5a}, 8)) || bytes.Contains(file, []byte("WlpaWlpa")) || bytes.Contains(file, sdPayloadMagic) {
		t.Error("the security-domain file shows the domain key or its payload in clear")
	}
	var f struct {
		SharedKeys struct {
			Required  int `json:"required"`
			EncShares []struct {
				X5t string `json:"x5t_256"`
			} `json:"enc_shares"`
		}
	}
	if err := json.Unmarshal(file, &f); err != nil || f.SharedKeys.Required != 3 || len(f.SharedKeys.EncShares) != 3 {
		t.Errorf("file = %s..., want 3 shares, quorum 3", file[:min(len(file), 120)])
	}
}
