package authz

import (
	"fmt"
	"strings"
)

// Scope is a normalised role-assignment scope: "/", "/keys" or
// "/keys/{name}". Key names compare case-insensitively; the spelling given
// is kept for display.
type Scope struct {
	key  string // "" for "/" and "/keys"
	keys bool   // "/keys" or "/keys/{name}"
}

// Well-known scopes.
var (
	RootScope = Scope{}
	KeysScope = Scope{keys: true}
)

// KeyScope is the scope of one key. The name is not validated here; use
// ParseScope for untrusted input.
func KeyScope(name string) Scope { return Scope{key: name, keys: true} }

// ParseScope normalises a scope as clients send it: repeated slashes
// collapse, a trailing slash is dropped, a leading slash is added, "" is
// "/", and "keys" means "/keys".
func ParseScope(s string) (Scope, error) {
	var segs []string
	for _, p := range strings.Split(s, "/") {
		if p != "" {
			segs = append(segs, p)
		}
	}
	switch {
	case len(segs) == 0:
		return RootScope, nil
	case !strings.EqualFold(segs[0], "keys") || len(segs) > 2:
		return Scope{}, fmt.Errorf("%w: %q: use \"/\", \"/keys\" or \"/keys/{key name}\"", ErrInvalidScope, trunc(s))
	case len(segs) == 1:
		return KeysScope, nil
	}
	name := segs[1]
	if len(name) > 127 {
		return Scope{}, fmt.Errorf("%w: key name in %q is longer than 127 characters", ErrInvalidScope, trunc(s))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '-' && !('0' <= c && c <= '9') && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return Scope{}, fmt.Errorf("%w: key name in %q may contain only 0-9, a-z, A-Z and -", ErrInvalidScope, trunc(s))
		}
	}
	return KeyScope(name), nil
}

// String returns the scope's canonical form.
func (s Scope) String() string {
	switch {
	case s.key != "":
		return "/keys/" + s.key
	case s.keys:
		return "/keys"
	}
	return "/"
}

// KeyName returns the key of a key scope, or "".
func (s Scope) KeyName() string { return s.key }

// Covers reports whether an assignment at s applies at o.
func (s Scope) Covers(o Scope) bool {
	switch {
	case !s.keys:
		return true
	case s.key == "":
		return o.keys
	}
	return strings.EqualFold(s.key, o.key)
}

// index is the scope's lookup key in a Policy: "/", "/keys", or "/keys/"
// plus the case-folded name.
func (s Scope) index() string {
	if s.key != "" {
		return "/keys/" + strings.ToLower(s.key)
	}
	return s.String()
}
