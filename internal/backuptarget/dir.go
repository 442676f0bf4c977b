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
	"path/filepath"
	"strings"

	"github.com/cofferkms/coffer/internal/hsm"
)

// dirTarget is a local directory inside one of the configured roots.
type dirTarget struct {
	dir string // absolute, symlinks resolved
}

func (o *Opener) openDir(u *url.URL) (hsm.BackupTarget, error) {
	if len(o.cfg.LocalRoots) == 0 {
		return nil, badRequest("file:// backup targets are not enabled on this server (configuration backup.localRoots).")
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, badRequest("a file:// target must be on this server: file:///<directory>.")
	}
	if u.RawQuery != "" {
		return nil, badRequest("a file:// target takes no query.")
	}
	p := filepath.Clean(u.Path)
	if !filepath.IsAbs(p) {
		return nil, badRequest("a file:// target needs an absolute path: file:///<directory>.")
	}
	resolved, err := resolveExisting(p)
	if err != nil {
		return nil, badRequest("the directory %s cannot be used: %v", p, errors.Unwrap(err))
	}
	for _, root := range o.cfg.LocalRoots {
		r, err := filepath.EvalSymlinks(filepath.Clean(root))
		if err != nil {
			continue
		}
		if resolved == r || strings.HasPrefix(resolved, r+string(filepath.Separator)) {
			if err := os.MkdirAll(resolved, 0o700); err != nil {
				return nil, badRequest("the directory %s cannot be created: %v", p, errors.Unwrap(err))
			}
			return &dirTarget{dir: resolved}, nil
		}
	}
	return nil, &hsm.Error{Kind: hsm.KindForbidden, Code: "Forbidden",
		Message: fmt.Sprintf("%s is outside the directories this server allows for backups (configuration backup.localRoots).", p)}
}

// resolveExisting resolves symbolic links in the longest existing prefix
// of p and appends the rest, so a target that does not exist yet is judged
// by where it would be created.
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
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

func (d *dirTarget) URL() string { return (&url.URL{Scheme: "file", Path: d.dir}).String() }

// path is the file of an object; names are checked to stay in the folder.
func (d *dirTarget) path(name string) (string, error) {
	if err := checkObjectName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.dir, filepath.FromSlash(name)), nil
}

// Put writes an object atomically and never over an existing one: a
// temporary file, synced, then linked into place.
func (d *dirTarget) Put(_ context.Context, name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return d.ioError("writing "+name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".coffer-tmp-*")
	if err != nil {
		return d.ioError("writing "+name, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), p)
	}
	if errors.Is(err, fs.ErrExist) {
		return &hsm.Error{Kind: hsm.KindConflict, Code: "Conflict", Message: fmt.Sprintf("%s already exists in %s; backups never overwrite.", name, d.URL())}
	}
	if err != nil {
		return d.ioError("writing "+name, err)
	}
	if f, err := os.Open(filepath.Dir(p)); err == nil {
		f.Sync()
		f.Close()
	}
	return nil
}

func (d *dirTarget) Get(_ context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &hsm.Error{Kind: hsm.KindNotFound, Code: "NotFound", Message: fmt.Sprintf("%s is not in %s.", name, d.URL())}
	}
	if err != nil {
		return nil, d.ioError("reading "+name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxObject+1))
	if err != nil {
		return nil, d.ioError("reading "+name, err)
	}
	if len(data) > maxObject {
		return nil, badRequest("%s in %s is larger than a backup object can be.", name, d.URL())
	}
	return data, nil
}

func (d *dirTarget) Check(_ context.Context, write bool) error {
	fi, err := os.Stat(d.dir)
	if err != nil || !fi.IsDir() {
		return badRequest("%s is not a directory.", d.URL())
	}
	if !write {
		f, err := os.Open(d.dir)
		if err != nil {
			return d.ioError("checking read access", err)
		}
		return f.Close()
	}
	var suffix [8]byte
	rand.Read(suffix[:])
	probe := filepath.Join(d.dir, ".coffer-probe-"+hex.EncodeToString(suffix[:]))
	if err := os.WriteFile(probe, []byte("coffer backup probe"), 0o600); err != nil {
		return d.ioError("checking write access", err)
	}
	return os.Remove(probe)
}

func (d *dirTarget) ioError(what string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return &hsm.Error{Kind: hsm.KindForbidden, Code: "Forbidden", Message: fmt.Sprintf("%s in %s: permission denied.", capitalize(what), d.URL())}
	}
	return &hsm.Error{Kind: hsm.KindUnavailable, Code: "StorageUnavailable", Message: fmt.Sprintf("%s in %s failed.", capitalize(what), d.URL())}
}
