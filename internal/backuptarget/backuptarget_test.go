package backuptarget

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/backuptarget/azuritetest"
	"github.com/cofferkms/coffer/internal/hsm"
)

var ctx = context.Background()

func kindOf(err error) hsm.Kind {
	var e *hsm.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func TestOpenRefuses(t *testing.T) {
	root := t.TempDir()
	o := New(Config{LocalRoots: []string{root}})
	none := New(Config{})
	tests := []struct {
		name   string
		o      *Opener
		url    string
		sas    string
		mi     bool
		want   hsm.Kind
		inText string
	}{
		{"not a url", o, "::", "", false, hsm.KindBadRequest, "must be a URL"},
		{"ftp", o, "ftp://host/c", "sv=1", false, hsm.KindBadRequest, `scheme "ftp"`},
		{"http remote", o, "http://acct.blob.core.windows.net/c", "sv=1", false, hsm.KindBadRequest, "must be https"},
		{"http loopback not allowed", o, "http://127.0.0.1:10000/devstoreaccount1/c", "sv=1", false, hsm.KindBadRequest, "must be https"},
		{"no container", o, "https://acct.blob.core.windows.net/", "sv=1", false, hsm.KindBadRequest, "names no container"},
		{"query in url", o, "https://acct.blob.core.windows.net/c?sig=x", "", false, hsm.KindBadRequest, "must not have a query"},
		{"no token", o, "https://acct.blob.core.windows.net/c", "", false, hsm.KindBadRequest, "token is required"},
		{"managed identity", o, "https://acct.blob.core.windows.net/c", "", true, hsm.KindBadRequest, "useManagedIdentity is not supported"},
		{"credentials", o, "https://u:p@acct.blob.core.windows.net/c", "sv=1", false, hsm.KindBadRequest, "must not carry credentials"},
		{"file not enabled", none, "file://" + root, "", false, hsm.KindBadRequest, "not enabled"},
		{"file outside", o, "file:///etc", "", false, hsm.KindForbidden, "outside the directories"},
		{"file escape", o, "file://" + root + "/../x", "", false, hsm.KindForbidden, "outside the directories"},
		{"file remote host", o, "file://host" + root, "", false, hsm.KindBadRequest, "on this server"},
	}
	for _, tc := range tests {
		_, err := tc.o.Open(ctx, tc.url, tc.sas, tc.mi)
		if kindOf(err) != tc.want || !strings.Contains(err.Error(), tc.inText) {
			t.Errorf("%s: Open(%q) = %v, want kind %d containing %q", tc.name, tc.url, err, tc.want, tc.inText)
		}
	}
}

func TestDirectory(t *testing.T) {
	root := t.TempDir()
	o := New(Config{LocalRoots: []string{root}})
	tg, err := o.Open(ctx, "file://"+root+"/backups", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if tg.URL() != "file://"+mustEval(t, root)+"/backups" {
		t.Errorf("URL() = %s", tg.URL())
	}
	for _, write := range []bool{true, false} {
		if err := tg.Check(ctx, write); err != nil {
			t.Errorf("Check(write=%v) = %v", write, err)
		}
	}
	if err := tg.Put(ctx, "mhsm-p-1/manifest.json", []byte("m")); err != nil {
		t.Fatal(err)
	}
	if got, err := tg.Get(ctx, "mhsm-p-1/manifest.json"); err != nil || string(got) != "m" {
		t.Errorf("Get() = %q, %v", got, err)
	}
	if err := tg.Put(ctx, "mhsm-p-1/manifest.json", []byte("other")); kindOf(err) != hsm.KindConflict {
		t.Errorf("Put over an existing object = %v, want Conflict", err)
	}
	if _, err := tg.Get(ctx, "mhsm-p-1/missing"); kindOf(err) != hsm.KindNotFound {
		t.Errorf("Get(missing) = %v, want NotFound", err)
	}
	for _, bad := range []string{"../x", "/abs", "a/../../x", "a\\b", "", "a//b", "./a"} {
		if err := tg.Put(ctx, bad, nil); kindOf(err) != hsm.KindBadRequest {
			t.Errorf("Put(%q) = %v, want BadRequest", bad, err)
		}
	}
	// A symbolic link inside the root that points out of it is refused.
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(root, "link"))
	if _, err := o.Open(ctx, "file://"+root+"/link/sub", "", false); kindOf(err) != hsm.KindForbidden {
		t.Errorf("Open(through a symlink out of the root) = %v, want Forbidden", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "backups", "mhsm-p-1"))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only the manifest (no temporary files)", len(entries))
	}
}

func mustEval(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAzurite(t *testing.T) {
	az := azuritetest.Start(t)
	url := az.Container(t, "backups")
	rw := az.SAS(t, url, "racwdl")
	ro := az.SAS(t, url, "rl")
	sig := rw[strings.Index(rw, "sig=")+4:]
	wrong := strings.Replace(rw, "sig="+sig, "sig=AAAA"+sig[4:], 1)
	o := New(Config{AllowHTTP: true})

	tg, err := o.Open(ctx, url, "?"+rw, false)
	if err != nil {
		t.Fatal(err)
	}
	if tg.URL() != url {
		t.Errorf("URL() = %s, want %s", tg.URL(), url)
	}
	for _, write := range []bool{true, false} {
		if err := tg.Check(ctx, write); err != nil {
			t.Fatalf("Check(write=%v) = %v", write, err)
		}
	}
	data := bytes.Repeat([]byte("chunk"), 100_000)
	if err := tg.Put(ctx, "mhsm-p-1/data-00001.bin", data); err != nil {
		t.Fatal(err)
	}
	if got, err := tg.Get(ctx, "mhsm-p-1/data-00001.bin"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Get() = %d bytes, %v", len(got), err)
	}
	if err := tg.Put(ctx, "mhsm-p-1/data-00001.bin", []byte("x")); kindOf(err) != hsm.KindConflict {
		t.Errorf("Put over an existing blob = %v, want Conflict", err)
	}
	if _, err := tg.Get(ctx, "mhsm-p-1/missing"); kindOf(err) != hsm.KindNotFound {
		t.Errorf("Get(missing) = %v, want NotFound", err)
	}

	// A read-only token reads but cannot back up; a wrong signature does
	// nothing; no error shows the token.
	rot, _ := o.Open(ctx, url, ro, false)
	if err := rot.Check(ctx, false); err != nil {
		t.Errorf("read-only Check(read) = %v", err)
	}
	if got, err := rot.Get(ctx, "mhsm-p-1/data-00001.bin"); err != nil || len(got) != len(data) {
		t.Errorf("read-only Get() = %v", err)
	}
	var errs []error
	errs = append(errs, rot.Check(ctx, true), rot.Put(ctx, "mhsm-p-2/x", []byte("x")))
	wt, _ := o.Open(ctx, url, wrong, false)
	errs = append(errs, wt.Check(ctx, true), wt.Check(ctx, false))
	_, err = wt.Get(ctx, "mhsm-p-1/data-00001.bin")
	errs = append(errs, err)
	for i, err := range errs {
		if kindOf(err) != hsm.KindForbidden || !strings.Contains(err.Error(), "refused the SAS token") {
			t.Errorf("refused call %d = %v, want Forbidden naming the SAS token", i, err)
		}
		if err != nil && (strings.Contains(err.Error(), sig) || strings.Contains(err.Error(), "sig=")) {
			t.Errorf("refused call %d shows the token: %v", i, err)
		}
	}

	nope := az.BlobEndpoint + "/nope"
	missing, _ := o.Open(ctx, nope, az.SAS(t, nope, "racwdl"), false)
	for _, write := range []bool{true, false} {
		if err := missing.Check(ctx, write); kindOf(err) != hsm.KindBadRequest || !strings.Contains(err.Error(), "container "+nope+" does not exist") {
			t.Errorf("Check(write=%v) on a missing container = %v", write, err)
		}
	}
}
