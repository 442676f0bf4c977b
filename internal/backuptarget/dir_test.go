package backuptarget

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferkms/coffer/internal/hsm"
)

// realDir resolves symbolic links in a temporary directory's path (on
// some systems the temporary directory is behind one).
func realDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openDir(t *testing.T, o *Opener, dir string) hsm.BackupTarget {
	t.Helper()
	tg, err := o.Open(context.Background(), "file://"+dir, "", false)
	if err != nil {
		t.Fatalf("Open(file://%s) = %v", dir, err)
	}
	return tg
}

func TestDirRoundTrip(t *testing.T) {
	ctx := context.Background()
	root := realDir(t)
	o := New(Config{LocalRoots: []string{root}})
	dir := filepath.Join(root, "backups", "nightly")
	tg := openDir(t, o, dir)
	if got, want := tg.URL(), "file://"+dir; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Open(file://%s) did not create the directory: %v", dir, err)
	}
	for _, write := range []bool{true, false} {
		if err := tg.Check(ctx, write); err != nil {
			t.Errorf("Check(write=%v) = %v, want nil", write, err)
		}
	}
	objects := map[string][]byte{
		"mhsm-p-20260101120000123/data-00001.bin": bytes.Repeat([]byte{0xa5}, 5<<20),
		"mhsm-p-20260101120000123/data-00002.bin": {},
		"mhsm-p-20260101120000123/manifest.json":  []byte(`{"format":"coffer-full-backup/v1"}`),
	}
	for name, data := range objects {
		if err := tg.Put(ctx, name, data); err != nil {
			t.Fatalf("Put(%s) = %v", name, err)
		}
	}
	for name, data := range objects {
		got, err := tg.Get(ctx, name)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Get(%s) = %d bytes, %v, want the %d bytes put", name, len(got), err, len(data))
		}
	}
	// The folder holds the objects and nothing else: no temporary files,
	// no probes.
	entries, err := os.ReadDir(filepath.Join(dir, "mhsm-p-20260101120000123"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"data-00001.bin", "data-00002.bin", "manifest.json"}, names); diff != "" {
		t.Errorf("the backup folder holds (-want +got):\n%s", diff)
	}
	if top, _ := os.ReadDir(dir); len(top) != 1 {
		t.Errorf("the target holds %d entries, want only the backup folder (no probe files)", len(top))
	}
	// A second Open of the same directory finds the same objects.
	again := openDir(t, o, dir)
	if got, err := again.Get(ctx, "mhsm-p-20260101120000123/manifest.json"); err != nil || !bytes.Equal(got, objects["mhsm-p-20260101120000123/manifest.json"]) {
		t.Errorf("Get(manifest.json) after reopening = %q, %v", got, err)
	}
}

func TestDirRootItself(t *testing.T) {
	root := realDir(t)
	tg := openDir(t, New(Config{LocalRoots: []string{root}}), root)
	if err := tg.Put(context.Background(), "f/o", []byte("x")); err != nil {
		t.Errorf("Put(f/o) into the root itself = %v", err)
	}
}

func TestDirRefusals(t *testing.T) {
	ctx := context.Background()
	root := realDir(t)
	o := New(Config{LocalRoots: []string{root}})
	tg := openDir(t, o, filepath.Join(root, "t"))
	if err := tg.Put(ctx, "f/obj", []byte("first")); err != nil {
		t.Fatal(err)
	}
	outside := realDir(t)
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Links made after the target was opened, inside it, leading out.
	for _, l := range []struct{ target, link string }{
		{outside, filepath.Join(root, "t", "out")},
		{filepath.Join(outside, "secret"), filepath.Join(root, "t", "f", "secret")},
		{"../../../../../../../../" + outside, filepath.Join(root, "t", "rel")},
	} {
		if err := os.Symlink(l.target, l.link); err != nil {
			t.Fatal(err)
		}
	}
	forbidden := shape{hsm.KindForbidden, "Forbidden", ""}
	conflict := shape{hsm.KindConflict, "Conflict", "BlobAlreadyExists"}
	notFound := shape{hsm.KindNotFound, "NotFound", "BlobNotFound"}
	tests := []struct {
		name string
		err  error
		want shape
	}{
		{"overwrite", tg.Put(ctx, "f/obj", []byte("second")), conflict},
		{"overwrite with the same data", tg.Put(ctx, "f/obj", []byte("first")), conflict},
		{"missing object", func() error { _, err := tg.Get(ctx, "f/missing"); return err }(), notFound},
		{"put dot-dot name", tg.Put(ctx, "../escape", []byte("x")), badRequest},
		{"put absolute name", tg.Put(ctx, "/abs", []byte("x")), badRequest},
		{"put backslash name", tg.Put(ctx, `f\..\..\x`, []byte("x")), badRequest},
		{"get dot-dot name", func() error { _, err := tg.Get(ctx, "f/../../t/f/obj"); return err }(), badRequest},
		{"put through an absolute link", tg.Put(ctx, "out/x", []byte("x")), forbidden},
		{"put through a relative link", tg.Put(ctx, "rel/x", []byte("x")), forbidden},
		{"get through a link", func() error { _, err := tg.Get(ctx, "f/secret"); return err }(), forbidden},
		{"get a directory", func() error { _, err := tg.Get(ctx, "f"); return err }(), badRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, shapeOf(tc.err)); diff != "" {
				t.Errorf("got %v (-want +got):\n%s", tc.err, diff)
			}
		})
	}
	if got, err := tg.Get(ctx, "f/obj"); err != nil || string(got) != "first" {
		t.Errorf("Get(f/obj) after the refused overwrite = %q, %v, want %q", got, err, "first")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("the outside directory holds %d entries, want only its own file", len(entries))
	}
}

func TestDirOpenRefusals(t *testing.T) {
	root := realDir(t)
	outside := realDir(t)
	for _, l := range []struct{ target, link string }{
		{outside, filepath.Join(root, "out")},
		{filepath.Join(outside, "missing"), filepath.Join(root, "dangling")},
		{root, filepath.Join(outside, "in")},
	} {
		if err := os.Symlink(l.target, l.link); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o := New(Config{LocalRoots: []string{root}})
	forbidden := shape{hsm.KindForbidden, "Forbidden", ""}
	tests := []struct {
		name string
		o    *Opener
		url  string
		want shape
	}{
		{"not configured", New(Config{}), "file://" + root, badRequest},
		{"outside", o, "file://" + outside, forbidden},
		{"parent of the root", o, "file://" + filepath.Dir(root), forbidden},
		{"dot-dot", o, "file://" + root + "/../" + filepath.Base(outside), forbidden},
		{"escaped dot-dot", o, "file://" + root + "/%2e%2e/" + filepath.Base(outside), forbidden},
		{"sibling with the root as prefix", o, "file://" + root + "-evil", forbidden},
		{"symlink out", o, "file://" + root + "/out/sub", forbidden},
		{"dangling symlink", o, "file://" + root + "/dangling/sub", forbidden},
		{"relative path", o, "file:relative/dir", badRequest},
		{"below a file", o, "file://" + root + "/file/sub", badRequest},
		{"root behind a configured link", New(Config{LocalRoots: []string{filepath.Join(outside, "in")}}), "file://" + filepath.Join(outside, "in", "sub"), shape{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := tc.o.Open(context.Background(), tc.url, "", false)
			if diff := cmp.Diff(tc.want, shapeOf(err)); diff != "" {
				t.Errorf("Open(%q) = %v, %v (-want +got):\n%s", tc.url, tg, err, diff)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("the outside directory holds %d entries, want only the link made by the test", len(entries))
	}
}
