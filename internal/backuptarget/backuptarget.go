package backuptarget

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/cofferkms/coffer/internal/hsm"
)

// Config says which targets a server may use.
type Config struct {
	// LocalRoots are the directories file:// targets may name (the
	// target must lie inside one); empty refuses file:// targets.
	LocalRoots []string
	// AllowHTTP permits http:// container URLs on loopback addresses
	// (a storage emulator); otherwise only https.
	AllowHTTP bool
	// HTTPClient, if set, carries requests to blob storage.
	HTTPClient *http.Client
}

// Opener opens backup targets; it is hsm.Config.BackupTargets.
type Opener struct{ cfg Config }

// New returns an Opener for cfg.
func New(cfg Config) *Opener { return &Opener{cfg: cfg} }

// maxObject bounds one object read back from a target: a backup's chunks
// are a few MiB, and a target's content is not trusted.
const maxObject = 256 << 20

func badRequest(format string, args ...any) *hsm.Error {
	return &hsm.Error{Kind: hsm.KindBadRequest, Code: "BadParameter", Message: fmt.Sprintf(format, args...)}
}

// Open opens the target a backup or restore request names.
func (o *Opener) Open(ctx context.Context, containerURL, sasToken string, useManagedIdentity bool) (hsm.BackupTarget, error) {
	u, err := url.Parse(containerURL)
	if err != nil || u.Scheme == "" {
		return nil, badRequest("storageResourceUri must be a URL: https://<account>.blob.core.windows.net/<container>, or file:///<directory>.")
	}
	if u.User != nil {
		return nil, badRequest("storageResourceUri must not carry credentials.")
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		return o.openDir(u)
	case "https", "http":
		if useManagedIdentity {
			return nil, badRequest("useManagedIdentity is not supported: Coffer has no Azure managed identity for storage. Pass a SAS token instead.")
		}
		return o.openBlob(ctx, u, sasToken)
	}
	return nil, badRequest("storageResourceUri has scheme %q: use an https blob container URL or file:///<directory>.", u.Scheme)
}

// checkObjectName refuses names that could leave a folder.
func checkObjectName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return badRequest("invalid backup object name")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return badRequest("invalid backup object name")
		}
	}
	if path.Clean(name) != name {
		return badRequest("invalid backup object name")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
