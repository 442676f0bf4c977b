package backuptarget

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferkms/coffer/internal/backuptarget/azuritetest"
	"github.com/cofferkms/coffer/internal/hsm"
)

// countingTransport counts the requests that pass through it to the real
// transport, to show Config.HTTPClient carries them.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func openBlob(t *testing.T, o *Opener, containerURL, token string) hsm.BackupTarget {
	t.Helper()
	tg, err := o.Open(context.Background(), containerURL, token, false)
	if err != nil {
		t.Fatalf("Open(%s) = %v", containerURL, err)
	}
	if got := tg.URL(); got != strings.TrimSuffix(containerURL, "/") {
		t.Errorf("Open(%s).URL() = %q, want the container URL alone", containerURL, got)
	}
	return tg
}

// TestBlob runs the blob target against Azurite, the Azure Storage
// emulator, with real SAS tokens.
func TestBlob(t *testing.T) {
	ctx := context.Background()
	az := azuritetest.Start(t)
	containerURL := az.Container(t, "backups")
	rw := az.SAS(t, containerURL, "racwdl")
	ro := az.SAS(t, containerURL, "rl")
	wo := az.SAS(t, containerURL, "cw")
	wrongKey := make([]byte, 64)
	rand.Read(wrongKey)
	wrong := azuritetest.SignSAS(t, containerURL, "racwdl", base64.StdEncoding.EncodeToString(wrongKey))
	transport := &countingTransport{}
	o := New(Config{AllowHTTP: true, HTTPClient: &http.Client{Transport: transport}})

	// No error and no URL shows a token, its signature, or any query.
	var secrets []string
	for _, tok := range []string{rw, ro, wo, wrong} {
		q, err := url.ParseQuery(tok)
		if err != nil || q.Get("sig") == "" {
			t.Fatalf("url.ParseQuery(%q) = %v, %v, want a SAS token", tok, q, err)
		}
		secrets = append(secrets, tok, q.Get("sig"), url.QueryEscape(q.Get("sig")))
	}
	noSecret := func(t *testing.T, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%q shows a SAS token or signature", text)
			}
		}
		if strings.Contains(text, "sig=") || strings.Contains(text, "?") {
			t.Errorf("%q shows a query string", text)
		}
	}
	record := func(t *testing.T, err error) error {
		t.Helper()
		noSecret(t, errText(err))
		return err
	}

	t.Run("round trip", func(t *testing.T) {
		tg := openBlob(t, o, containerURL, "?"+rw)
		for _, write := range []bool{true, false} {
			if err := record(t, tg.Check(ctx, write)); err != nil {
				t.Fatalf("Check(write=%v) = %v, want nil", write, err)
			}
		}
		objects := map[string][]byte{
			"mhsm-p-20260101120000123/data-00001.bin": bytes.Repeat([]byte("chunk"), 1<<20),
			"mhsm-p-20260101120000123/data-00002.bin": {},
			"mhsm-p-20260101120000123/manifest.json":  []byte(`{"format":"coffer-full-backup/v1"}`),
		}
		for name, data := range objects {
			if err := record(t, tg.Put(ctx, name, data)); err != nil {
				t.Fatalf("Put(%s) = %v", name, err)
			}
		}
		// A restore's read-only token reads what a backup wrote.
		rtg := openBlob(t, o, containerURL, ro)
		if err := record(t, rtg.Check(ctx, false)); err != nil {
			t.Errorf("read-only Check(write=false) = %v, want nil", err)
		}
		for name, data := range objects {
			got, err := rtg.Get(ctx, name)
			if record(t, err) != nil || !bytes.Equal(got, data) {
				t.Errorf("Get(%s) = %d bytes, %v, want the %d bytes put", name, len(got), err, len(data))
			}
		}
		if transport.n.Load() == 0 {
			t.Error("Config.HTTPClient carried no request")
		}
	})

	tg := openBlob(t, o, containerURL, rw)
	if err := tg.Put(ctx, "f/obj", []byte("first")); err != nil {
		t.Fatal(err)
	}
	forbidden := func(inner string) shape { return shape{hsm.KindForbidden, "Forbidden", inner} }
	noContainer := shape{hsm.KindBadRequest, "BadParameter", "ContainerNotFound"}
	roT := openBlob(t, o, containerURL, ro)
	woT := openBlob(t, o, containerURL, wo)
	wrongT := openBlob(t, o, containerURL, wrong)
	missingURL := az.BlobEndpoint + "/no-such-container"
	missingT := openBlob(t, o, missingURL, az.SAS(t, missingURL, "racwdl"))
	get := func(tg hsm.BackupTarget, name string) error { _, err := tg.Get(ctx, name); return err }
	tests := []struct {
		name   string
		call   func() error
		want   shape
		inText string
	}{
		{"overwrite", func() error { return tg.Put(ctx, "f/obj", []byte("second")) }, shape{hsm.KindConflict, "Conflict", "BlobAlreadyExists"}, "never overwrites"},
		{"repeated put of the same data", func() error { return tg.Put(ctx, "f/obj", []byte("first")) }, shape{}, ""},
		{"missing blob", func() error { return get(tg, "f/missing") }, shape{hsm.KindNotFound, "NotFound", "BlobNotFound"}, "f/missing does not exist in the container " + containerURL},
		{"bad object name", func() error { return tg.Put(ctx, "../x", nil) }, badRequest, "not a valid backup object name"},
		{"read-only token, backup check", func() error { return roT.Check(ctx, true) }, forbidden("AuthorizationPermissionMismatch"), "The storage account rejected the SAS token"},
		{"read-only token, put", func() error { return roT.Put(ctx, "f/other", []byte("x")) }, forbidden("AuthorizationPermissionMismatch"), "The storage account rejected the SAS token"},
		{"write-only token, backup check needs delete", func() error { return woT.Check(ctx, true) }, forbidden("AuthorizationPermissionMismatch"), "deleting the probe blob"},
		{"write-only token, restore check", func() error { return woT.Check(ctx, false) }, forbidden("AuthorizationPermissionMismatch"), "The storage account rejected the SAS token"},
		{"wrong signature, backup check", func() error { return wrongT.Check(ctx, true) }, forbidden("AuthorizationFailure"), "The storage account rejected the SAS token"},
		{"wrong signature, restore check", func() error { return wrongT.Check(ctx, false) }, forbidden("AuthorizationFailure"), "The storage account rejected the SAS token"},
		{"wrong signature, get", func() error { return get(wrongT, "f/obj") }, forbidden("AuthorizationFailure"), "The storage account rejected the SAS token"},
		{"wrong signature, put", func() error { return wrongT.Put(ctx, "f/new", []byte("x")) }, forbidden("AuthorizationFailure"), "The storage account rejected the SAS token"},
		{"missing container, backup check", func() error { return missingT.Check(ctx, true) }, noContainer, "The container " + missingURL + " does not exist"},
		{"missing container, restore check", func() error { return missingT.Check(ctx, false) }, noContainer, "The container " + missingURL + " does not exist"},
		{"missing container, get", func() error { return get(missingT, "f/obj") }, noContainer, "The container " + missingURL + " does not exist"},
		{"missing container, put", func() error { return missingT.Put(ctx, "f/obj", nil) }, noContainer, "The container " + missingURL + " does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := record(t, tc.call())
			if diff := cmp.Diff(tc.want, shapeOf(err)); diff != "" || !strings.Contains(errText(err), tc.inText) {
				t.Errorf("got %v, want an error containing %q (-want +got):\n%s", err, tc.inText, diff)
			}
		})
	}
	if got, err := tg.Get(ctx, "f/obj"); err != nil || string(got) != "first" {
		t.Errorf("Get(f/obj) after the refused overwrite = %q, %v, want %q", got, err, "first")
	}

	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String() + "/devstoreaccount1/backups"
		l.Close()
		err = record(t, openBlob(t, o, closed, rw).Check(ctx, false))
		want := shape{hsm.KindUnavailable, "ServiceUnavailable", "StorageUnreachable"}
		if diff := cmp.Diff(want, shapeOf(err)); diff != "" || !strings.Contains(errText(err), "connection was refused") {
			t.Errorf("Check on a closed port = %v, want a refused connection (-want +got):\n%s", err, diff)
		}
	})
}
