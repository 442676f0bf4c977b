package httpapi

import (
	"context"
	"strings"
)

// dataPlaneRoots are the first path segments of the Managed HSM data plane.
// Requests under them must be authenticated before anything else happens.
var dataPlaneRoots = map[string]bool{
	"keys": true, "deletedkeys": true, "rng": true, "providers": true, "settings": true,
	"backup": true, "restore": true, "prebackup": true, "prerestore": true, "securitydomain": true,
	"audit": true, // Coffer extension: the audit read API
}

// normalized is a request path in canonical form.
type normalized struct {
	path      string // canonical path for routing
	dataPlane bool
	// scope is the role scope that preceded /providers/Microsoft.Authorization
	// ("" when the request is not an RBAC request).
	scope    string
	rbac     bool
	segments []string
}

// normalizePath collapses repeated slashes, drops a trailing slash (Azure
// clients send /keys/{name}/ for "latest"), lower-cases the fixed segments
// that Key Vault matches case-insensitively, and splits a role scope off RBAC
// paths: /keys/k1/providers/Microsoft.Authorization/roleAssignments/{n}
// routes as /providers/microsoft.authorization/roleassignments/{n} with
// scope "/keys/k1". Key and setting names keep their case.
func normalizePath(p string) normalized {
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	n := normalized{}
	if len(segs) == 0 {
		n.path = "/"
		return n
	}
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") && strings.EqualFold(segs[i+1], "Microsoft.Authorization") {
			n.rbac = true
			n.scope = "/" + strings.Join(segs[:i], "/")
			rest := make([]string, 0, len(segs)-i)
			for j, s := range segs[i:] {
				if j < 3 {
					s = strings.ToLower(s)
				}
				rest = append(rest, s)
			}
			segs = rest
			break
		}
	}
	first := strings.ToLower(segs[0])
	n.dataPlane = dataPlaneRoots[first]
	if n.dataPlane {
		segs[0] = first
		if first == "keys" || first == "deletedkeys" || first == "securitydomain" || first == "backup" || first == "restore" {
			// Below the key name come versions (hex) and operation names,
			// both matched case-insensitively.
			for i := 2; i < len(segs); i++ {
				segs[i] = strings.ToLower(segs[i])
			}
			if first != "keys" && first != "deletedkeys" && len(segs) > 1 {
				segs[1] = strings.ToLower(segs[1])
			}
		}
	}
	n.segments = segs
	n.path = "/" + strings.Join(segs, "/")
	return n
}

type scopeKey struct{}

func withScope(ctx context.Context, scope string) context.Context {
	return context.WithValue(ctx, scopeKey{}, scope)
}

func scopeFrom(ctx context.Context) string {
	s, _ := ctx.Value(scopeKey{}).(string)
	return s
}
