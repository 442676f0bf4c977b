package backuptarget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/cofferkms/coffer/internal/hsm"
)

// Config says which targets a server may open.
type Config struct {
	// LocalRoots are the directories file:// targets may name (the target
	// must lie inside one after cleaning and resolving symbolic links); an
	// empty list refuses file:// targets.
	LocalRoots []string
	// AllowHTTP permits http:// container URLs whose host is a loopback
	// address (a storage emulator); otherwise only https is accepted.
	AllowHTTP bool
	// HTTPClient, if set, carries the requests to blob storage (custom
	// CA roots, proxies, egress rules).
	HTTPClient *http.Client
}

// Opener opens backup targets; its Open method is an hsm.BackupTargets.
type Opener struct{ cfg Config }

// New returns an Opener for cfg.
func New(cfg Config) *Opener { return &Opener{cfg: cfg} }

// MaxObjectSize bounds one object read back from a target. A backup's
// chunks are a few MiB; what a target holds is not trusted, and it is read
// into memory whole.
const MaxObjectSize = 256 << 20

// maxNameLen is Azure Blob Storage's limit on a blob name.
const maxNameLen = 1024

// Open opens the target a backup or restore request names: containerURL
// is the request's storageResourceUri, sasToken its token (with or without
// the leading '?') and useManagedIdentity its useManagedIdentity.
//
// An https (or, when allowed, loopback http) URL is a blob container and
// needs a SAS token; useManagedIdentity is refused for it because this
// server has no managed identity to present to a storage account. A
// file:///dir URL is a local directory inside one of Config.LocalRoots,
// created if missing; it takes no credential, so the token and
// useManagedIdentity are ignored for it.
func (o *Opener) Open(ctx context.Context, containerURL, sasToken string, useManagedIdentity bool) (hsm.BackupTarget, error) {
	// No message below quotes containerURL: its query may hold a token.
	u, err := url.Parse(strings.TrimSpace(containerURL))
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return nil, badParameter("", "storageResourceUri must be a URL: https://<account>.blob.core.windows.net/<container>, or file:///<directory> where the server allows local backups.")
	}
	if u.User != nil {
		return nil, badParameter("", "storageResourceUri must not carry a user name or password.")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, badParameter("", "storageResourceUri must not carry a query string: pass the container URL alone and the SAS token, without the leading '?', in token.")
	}
	if u.Fragment != "" {
		return nil, badParameter("", "storageResourceUri must not carry a fragment (#...).")
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		return o.openDir(u)
	case "https", "http":
		if useManagedIdentity {
			return nil, badParameter("", "useManagedIdentity is not supported: this server has no Azure managed identity to present to a storage account. Pass a SAS token for the container in token instead.")
		}
		return o.openBlob(u, sasToken)
	}
	return nil, badParameter("", "storageResourceUri has the scheme %q: use an https blob container URL, or file:///<directory> where the server allows local backups.", u.Scheme)
}

func badParameter(inner, format string, args ...any) *hsm.Error {
	return &hsm.Error{Kind: hsm.KindBadRequest, Code: "BadParameter", Inner: inner, Message: fmt.Sprintf(format, args...)}
}

// checkObjectName refuses object names that could leave the target or
// that blob storage would store under another name: hsm builds them from
// a folder a caller names and fixed file names.
func checkObjectName(name string) error {
	ok := name != "" && len(name) <= maxNameLen && !strings.HasPrefix(name, "/") && path.Clean(name) == name &&
		!strings.ContainsFunc(name, func(r rune) bool { return r == '\\' || r == unicode.ReplacementChar || unicode.IsControl(r) })
	if ok {
		for seg := range strings.SplitSeq(name, "/") {
			if seg == "." || seg == ".." {
				ok = false
			}
		}
	}
	if !ok {
		return badParameter("", "%q is not a valid backup object name.", name)
	}
	return nil
}

// probeName is a fresh name for the object Check writes and deletes.
func probeName() string {
	var b [12]byte
	rand.Read(b[:])
	return ".coffer-probe-" + hex.EncodeToString(b[:])
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
