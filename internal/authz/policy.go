package authz

import "strings"

// Decision is the outcome of Decide. AssignmentID names an assignment that
// granted the action, for the audit log.
type Decision struct {
	Allowed      bool
	AssignmentID string
}

// grant is one principal's permissions at one scope: the union of its
// assignments there, and the assignments themselves to name the one that
// granted an action (usually one or two).
type grant struct {
	set  actionSet
	refs []grantRef
}

type grantRef struct {
	set actionSet
	id  string
}

// Policy is an immutable snapshot of a pool's roles and assignments,
// indexed for Decide. Build a new one on every change.
type Policy struct {
	// grants[principal id][scope index]
	grants map[string]map[string]*grant
}

// effective returns the actions a role grants: per permission block,
// dataActions minus that block's notDataActions, united over blocks, plus
// the implied extension actions of built-in roles.
func effective(r RoleDefinition) actionSet {
	var s actionSet
	for _, p := range r.Permissions {
		s |= setOf(p.DataActions) &^ setOf(p.NotDataActions)
	}
	if b, ok := builtinByID(r.ID); ok && r.Type == BuiltInRole {
		s |= setOf(b.implied)
	}
	return s
}

// NewPolicy indexes roles and assignments. Assignments to unknown roles
// grant nothing.
func NewPolicy(roles []RoleDefinition, assignments []RoleAssignment) *Policy {
	byRole := make(map[string]actionSet, len(roles))
	for _, r := range roles {
		byRole[strings.ToLower(r.ID)] = effective(r)
	}
	p := &Policy{grants: make(map[string]map[string]*grant)}
	for _, a := range assignments {
		set, ok := byRole[strings.ToLower(a.RoleDefinitionID)]
		if !ok || set == 0 {
			continue
		}
		pid := strings.ToLower(a.PrincipalID)
		scopes := p.grants[pid]
		if scopes == nil {
			scopes = make(map[string]*grant, 1)
			p.grants[pid] = scopes
		}
		idx := a.Scope.index()
		g := scopes[idx]
		if g == nil {
			g = &grant{}
			scopes[idx] = g
		}
		g.refs = append(g.refs, grantRef{set: set, id: a.ID})
		g.set |= set
	}
	return p
}

// lookupScopes are the scope indexes an assignment may sit at to cover s.
func lookupScopes(s Scope) [3]string {
	if s.key != "" {
		return [3]string{"/", "/keys", s.index()}
	}
	if s.keys {
		return [3]string{"/", "/keys", ""}
	}
	return [3]string{"/", "", ""}
}

// Decide reports whether any of identities (a principal's object id and its
// groups' ids) may perform action on scope.
func (p *Policy) Decide(identities []string, action Action, scope Scope) Decision {
	if action <= actionInvalid || action >= numActions {
		return Decision{}
	}
	scopes := lookupScopes(scope)
	for _, id := range identities {
		m := p.grants[lower(id)]
		if m == nil {
			continue
		}
		for _, si := range scopes {
			if si == "" {
				continue
			}
			if g := m[si]; g != nil && g.set.has(action) {
				for _, r := range g.refs {
					if r.set.has(action) {
						return Decision{Allowed: true, AssignmentID: r.id}
					}
				}
			}
		}
	}
	return Decision{}
}

// lower case-folds an id, without allocating for ids already in lower case
// (GUIDs in tokens usually are).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Effective returns every action the identities hold at scope.
func (p *Policy) Effective(identities []string, scope Scope) []Action {
	var s actionSet
	for _, id := range identities {
		m := p.grants[strings.ToLower(id)]
		for _, si := range lookupScopes(scope) {
			if g := m[si]; si != "" && g != nil {
				s |= g.set
			}
		}
	}
	return s.list()
}
