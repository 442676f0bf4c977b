// Tests that keep the code base's shape: the import direction of the layers
// and one package doc comment per package.
package internal_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cofferkms/coffer"

type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// isStd reports whether an import path is in the standard library.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// rule restricts what a package (or a package tree, with a trailing /...)
// may import directly: internal packages by relative path prefix, external
// modules by module path prefix. Standard library imports are always allowed.
type rule struct {
	pkg   string
	allow []string
}

// The layers, from design: cli → server → httpapi → hsm/mgmt/oidc → authz,
// audit, seal, store, crypto/*. Lower layers never import upper ones, the
// HTTP layer never touches storage, sealing or key material directly, and
// the pure packages depend on the standard library alone.
var rules = []rule{
	{"internal/api", nil},
	{"internal/authz", nil},
	{"internal/config", nil},
	{"internal/certs", nil},
	{"internal/store", nil},
	{"internal/store/memstore", []string{"internal/store"}},
	{"internal/store/boltstore", []string{"internal/store", "go.etcd.io/bbolt"}},
	{"internal/store/storetest", []string{"internal/store"}},
	{"internal/store/pgstore", []string{"internal/store", "github.com/jackc/pgx/v5"}},
	{"internal/crypto/...", []string{"internal/crypto/", "github.com/decred/dcrd/dcrec/secp256k1/v4", "github.com/go-jose/go-jose/v4", "golang.org/x/crypto"}},
	{"internal/seal", []string{"internal/store", "internal/crypto/"}},
	{"internal/seal/pkcs11seal", []string{"internal/seal", "internal/crypto/", "github.com/miekg/pkcs11"}},
	// A backup target is storage for the hsm layer's full backups.
	{"internal/backuptarget", []string{"internal/hsm", "github.com/Azure/azure-sdk-for-go/"}},
	{"internal/audit", []string{"internal/crypto/keymat"}},
	{"internal/directory", []string{"internal/store", "internal/crypto/", "golang.org/x/crypto"}},
	{"internal/oidc", []string{"internal/directory", "internal/store", "internal/crypto/", "github.com/go-jose/go-jose/v4", "github.com/coreos/go-oidc/v3", "golang.org/x/"}},
	{"internal/hsm", []string{"internal/authz", "internal/audit", "internal/store", "internal/crypto/"}},
	{"internal/mgmt", []string{"internal/hsm", "internal/authz", "internal/audit", "internal/seal", "internal/store", "internal/crypto/"}},
	// httpapi reaches store only for the commit hook that records a
	// request's audit event inside its transaction.
	{"internal/httpapi", []string{"internal/api", "internal/hsm", "internal/mgmt", "internal/oidc", "internal/directory", "internal/audit", "internal/authz", "internal/store", "github.com/prometheus/"}},
}

func allowed(r rule, imp string) bool {
	if isStd(imp) {
		return true
	}
	for _, a := range r.allow {
		if strings.HasPrefix(a, "internal/") {
			if strings.HasPrefix(rel(imp), a) && strings.HasPrefix(imp, module+"/") {
				return true
			}
		} else if strings.HasPrefix(imp, a) {
			return true
		}
	}
	return false
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		for _, r := range rules {
			match := name == r.pkg
			if prefix, ok := strings.CutSuffix(r.pkg, "/..."); ok {
				match = strings.HasPrefix(name, prefix+"/")
			}
			if !match {
				continue
			}
			for _, imp := range p.Imports {
				if !allowed(r, imp) {
					t.Errorf("%s imports %s, which its layer may not", name, imp)
				}
			}
		}
		// Nothing below the command layer reaches up into it.
		for _, imp := range p.Imports {
			up := rel(imp)
			if (up == "internal/cli" || up == "internal/server") && name != "internal/cli" && !strings.HasPrefix(name, "cmd/") {
				t.Errorf("%s imports %s: only the command layer may", name, up)
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Dir == "" || len(p.GoFiles) == 0 {
			continue
		}
		entries, err := os.ReadDir(p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		var docs []string
		fset := token.NewFileSet()
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, n), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				docs = append(docs, n)
			}
		}
		if len(docs) != 1 {
			slices.Sort(docs)
			t.Errorf("%s has %d package doc comments (%v), want exactly 1", rel(p.ImportPath), len(docs), docs)
		}
	}
}
