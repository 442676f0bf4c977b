package backuptarget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cofferkms/coffer/internal/hsm"
)

// dirTarget is a local directory inside one of the configured roots.
// Every operation opens the root and then the target through os.Root, so
// no name, and no symbolic link met on the way, reaches outside the root.
type dirTarget struct {
	root string // the configured root, symbolic links resolved
	rel  string // the target relative to root; "." for the root itself
	url  string
}

func (o *Opener) openDir(u *url.URL) (hsm.BackupTarget, error) {
	if len(o.cfg.LocalRoots) == 0 {
		return nil, badParameter("", "Backups to file:// targets are not enabled on this server: its configuration names no local backup directories.")
	}
	if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
		return nil, badParameter("", "A file:// target must be a directory on this server: file:///<directory>.")
	}
	if !strings.HasPrefix(u.Path, "/") {
		return nil, badParameter("", "A file:// target needs an absolute path: file:///<directory>.")
	}
	p := filepath.Clean(filepath.FromSlash(u.Path))
	resolved, err := resolveExisting(p)
	var errno syscall.Errno
	switch {
	case errors.Is(err, errDangling):
		return nil, outsideRoots(p)
	case errors.As(err, &errno):
		return nil, badParameter("", "The directory %s cannot be used: %s.", p, errno.Error())
	case err != nil:
		return nil, badParameter("", "The directory %s cannot be used.", p)
	}
	for _, root := range o.cfg.LocalRoots {
		r, err := filepath.Abs(root)
		if err == nil {
			r, err = filepath.EvalSymlinks(r)
		}
		if err != nil {
			continue // a root that does not exist holds no target
		}
		rel, err := filepath.Rel(r, resolved)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		d := &dirTarget{root: r, rel: rel, url: (&url.URL{Scheme: "file", Path: filepath.ToSlash(resolved)}).String()}
		rt, err := os.OpenRoot(r)
		if err != nil {
			return nil, d.ioError("opening the backup directory root for", err)
		}
		defer rt.Close()
		if rel != "." {
			if err := rt.MkdirAll(rel, 0o700); err != nil {
				return nil, d.ioError("creating", err)
			}
		}
		return d, nil
	}
	return nil, outsideRoots(p)
}

func outsideRoots(p string) *hsm.Error {
	return &hsm.Error{Kind: hsm.KindForbidden, Code: "Forbidden",
		Message: fmt.Sprintf("%s is not inside a directory this server allows for backups.", p)}
}

var errDangling = errors.New("backuptarget: a symbolic link on the path leads nowhere")

// resolveExisting resolves symbolic links in the longest existing prefix
// of p and appends the rest, so a target that does not exist yet is judged
// by where it would be created. A dangling symbolic link on the way is an
// error: where it leads cannot be judged.
func resolveExisting(p string) (string, error) {
	rest := ""
	for cur := p; ; {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(cur); lerr == nil {
			return "", errDangling
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

func (d *dirTarget) URL() string { return d.url }

// open returns the target directory as an os.Root; the caller closes it.
func (d *dirTarget) open() (*os.Root, error) {
	r, err := os.OpenRoot(d.root)
	if err != nil || d.rel == "." {
		return r, err
	}
	defer r.Close()
	return r.OpenRoot(d.rel)
}

func tempName(dir string) string {
	var b [12]byte
	rand.Read(b[:])
	return path.Join(dir, ".coffer-tmp-"+hex.EncodeToString(b[:]))
}

// Put writes an object atomically and never over an existing one: the
// data goes to a temporary file that is synced, then linked under the
// object's name (link, unlike rename, fails if the name is taken).
func (d *dirTarget) Put(_ context.Context, name string, data []byte) error {
	if err := checkObjectName(name); err != nil {
		return err
	}
	r, err := d.open()
	if err != nil {
		return d.ioError("writing "+name+" to", err)
	}
	defer r.Close()
	dir := path.Dir(name)
	if dir != "." {
		if err := r.MkdirAll(dir, 0o700); err != nil {
			return d.ioError("writing "+name+" to", err)
		}
	}
	tmp := tempName(dir)
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return d.ioError("writing "+name+" to", err)
	}
	defer r.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Link(tmp, name)
	}
	if errors.Is(err, fs.ErrExist) {
		return &hsm.Error{Kind: hsm.KindConflict, Code: "Conflict", Inner: "BlobAlreadyExists",
			Message: fmt.Sprintf("%s already exists in %s; a backup never overwrites an object.", name, d.url)}
	}
	if err != nil {
		return d.ioError("writing "+name+" to", err)
	}
	// The new name is durable once its directory is, and the directories
	// MkdirAll may have made once theirs are.
	for p := dir; ; p = path.Dir(p) {
		if err := syncDir(r, p); err != nil {
			return d.ioError("writing "+name+" to", err)
		}
		if p == "." {
			return nil
		}
	}
}

func syncDir(r *os.Root, dir string) error {
	f, err := r.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get reads a regular file of at most MaxObjectSize bytes.
func (d *dirTarget) Get(_ context.Context, name string) ([]byte, error) {
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	r, err := d.open()
	if err != nil {
		return nil, d.ioError("reading "+name+" from", err)
	}
	defer r.Close()
	f, err := r.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &hsm.Error{Kind: hsm.KindNotFound, Code: "NotFound", Inner: "BlobNotFound",
			Message: fmt.Sprintf("%s does not exist in %s.", name, d.url)}
	}
	if err != nil {
		return nil, d.ioError("reading "+name+" from", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, d.ioError("reading "+name+" from", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, badParameter("", "%s in %s is not a file.", name, d.url)
	}
	if fi.Size() > MaxObjectSize {
		return nil, tooLarge(name, d.url)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxObjectSize+1))
	if err != nil {
		return nil, d.ioError("reading "+name+" from", err)
	}
	if len(data) > MaxObjectSize {
		return nil, tooLarge(name, d.url)
	}
	return data, nil
}

// Check proves the directory can be listed (a restore) or can take a new
// file and lose it again (a backup).
func (d *dirTarget) Check(_ context.Context, write bool) error {
	r, err := d.open()
	if err != nil {
		return d.ioError("opening", err)
	}
	defer r.Close()
	if !write {
		f, err := r.Open(".")
		if err != nil {
			return d.ioError("reading", err)
		}
		defer f.Close()
		if _, err := f.ReadDir(1); err != nil && !errors.Is(err, io.EOF) {
			return d.ioError("reading", err)
		}
		return nil
	}
	probe := probeName()
	f, err := r.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return d.ioError("writing a probe file to", err)
	}
	_, err = f.Write([]byte("coffer backup probe\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := r.Remove(probe); err == nil {
		err = rerr
	}
	if err != nil {
		return d.ioError("writing a probe file to", err)
	}
	return nil
}

// ioError describes a file system failure by its errno alone: a path
// error's text would repeat paths the message already gives.
func (d *dirTarget) ioError(what string, err error) *hsm.Error {
	why := "the operation failed"
	var errno syscall.Errno
	switch {
	case escapes(err):
		why = "the path leads outside the backup directory"
	case errors.As(err, &errno):
		why = errno.Error()
	}
	msg := fmt.Sprintf("%s %s failed: %s.", capitalize(what), d.url, why)
	switch {
	case errors.Is(err, fs.ErrPermission) || escapes(err):
		return &hsm.Error{Kind: hsm.KindForbidden, Code: "Forbidden", Message: msg}
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO):
		return &hsm.Error{Kind: hsm.KindUnavailable, Code: "ServiceUnavailable", Message: msg}
	}
	return badParameter("", "%s", msg)
}

// escapes reports whether os.Root refused a name for leading out of the
// root (through "..", or a symbolic link); it has no exported error value
// for that, only this text.
func escapes(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
