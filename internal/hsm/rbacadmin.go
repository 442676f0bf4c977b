package hsm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/store"
)

func roleDefinitionNotFound(id string) *Error {
	return &Error{Kind: KindNotFound, Code: "RoleDefinitionNotFound", Message: fmt.Sprintf("Requested role definition %s not found", safeName(id))}
}

func roleAssignmentNotFound() *Error {
	return &Error{Kind: KindNotFound, Code: "RoleAssignmentNotFound", Message: "Requested role assignment not found"}
}

func parseGUIDParam(what, s string) (string, error) {
	g, err := authz.ParseGUID(s)
	if err != nil {
		return "", badParameter("The %s %q is not a valid GUID.", what, safeName(s))
	}
	return g, nil
}

// ListRoleDefinitions returns the built-in and custom role definitions.
// Definitions exist only at "/", so every scope sees the same set.
func (p *Pool) ListRoleDefinitions(ctx context.Context, c *Caller, scope authz.Scope) ([]authz.RoleDefinition, error) {
	if err := p.authorize(ctx, c, authz.RoleDefinitionsRead, scope); err != nil {
		return nil, err
	}
	out := authz.BuiltinRoles()
	custom := p.rbac.Load().customList()
	slices.SortFunc(custom, func(a, b authz.RoleDefinition) int { return strings.Compare(a.Name, b.Name) })
	return append(out, custom...), nil
}

// GetRoleDefinition returns one role definition by id.
func (p *Pool) GetRoleDefinition(ctx context.Context, c *Caller, scope authz.Scope, id string) (*authz.RoleDefinition, error) {
	audit.FromContext(ctx).TargetID = id
	if err := p.authorize(ctx, c, authz.RoleDefinitionsRead, scope); err != nil {
		return nil, err
	}
	g, err := parseGUIDParam("role definition name", id)
	if err != nil {
		return nil, roleDefinitionNotFound(id)
	}
	r, ok := p.rbac.Load().roleByID(g)
	if !ok {
		return nil, roleDefinitionNotFound(id)
	}
	return &r, nil
}

// PutRoleDefinition creates or replaces a custom role definition.
func (p *Pool) PutRoleDefinition(ctx context.Context, c *Caller, scope authz.Scope, id string, r authz.RoleDefinition) (*authz.RoleDefinition, error) {
	audit.FromContext(ctx).TargetID = id
	if err := p.authorize(ctx, c, authz.RoleDefinitionsWrite, scope); err != nil {
		return nil, err
	}
	g, err := parseGUIDParam("role definition name", id)
	if err != nil {
		return nil, err
	}
	if scope != authz.RootScope {
		return nil, badParameter("Role definitions can only be created at scope \"/\".")
	}
	r.ID, r.Type = g, authz.CustomRole
	if r.Name == "" {
		r.Name = g
	}
	r.AssignableScopes = []authz.Scope{authz.RootScope}
	for _, b := range authz.BuiltinRoles() {
		if strings.EqualFold(b.ID, g) {
			return nil, &Error{Kind: KindForbidden, Code: "Forbidden", Message: "Built-in role definitions cannot be changed."}
		}
	}
	if err := authz.ValidateCustomRole(r); err != nil {
		return nil, badParameter("%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	st := p.rbac.Load()
	for _, b := range authz.BuiltinRoles() {
		if strings.EqualFold(b.Name, r.Name) {
			return nil, &Error{Kind: KindConflict, Code: "RoleDefinitionWithSameNameExists", Message: fmt.Sprintf("A role definition named %q already exists.", r.Name)}
		}
	}
	for _, o := range st.custom {
		if o.ID != g && strings.EqualFold(o.Name, r.Name) {
			return nil, &Error{Kind: KindConflict, Code: "RoleDefinitionWithSameNameExists", Message: fmt.Sprintf("A role definition named %q already exists.", r.Name)}
		}
	}
	if _, exists := st.custom[g]; !exists && len(st.custom) >= p.cfg.Limits.MaxCustomRoles {
		return nil, badParameter("The pool already has the maximum number of custom role definitions (%d).", p.cfg.Limits.MaxCustomRoles)
	}
	b, err := encodeRole(r)
	if err != nil {
		return nil, err
	}
	custom := st.customList()
	custom = slices.DeleteFunc(custom, func(o authz.RoleDefinition) bool { return o.ID == g })
	custom = append(custom, r)
	err = p.update(ctx, func(tx store.Tx) error { return tx.Put(pathRoles+g, b) },
		func() { p.publishRBAC(custom, st.assignmentList()) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteRoleDefinition deletes a custom role definition. Assignments that
// use it stay listed but grant nothing, as in Managed HSM.
func (p *Pool) DeleteRoleDefinition(ctx context.Context, c *Caller, scope authz.Scope, id string) (*authz.RoleDefinition, error) {
	audit.FromContext(ctx).TargetID = id
	if err := p.authorize(ctx, c, authz.RoleDefinitionsDelete, scope); err != nil {
		return nil, err
	}
	g, err := parseGUIDParam("role definition name", id)
	if err != nil {
		return nil, roleDefinitionNotFound(id)
	}
	for _, b := range authz.BuiltinRoles() {
		if strings.EqualFold(b.ID, g) {
			return nil, &Error{Kind: KindForbidden, Code: "Forbidden", Message: "Built-in role definitions cannot be deleted."}
		}
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	st := p.rbac.Load()
	r, ok := st.custom[g]
	if !ok {
		return nil, roleDefinitionNotFound(id)
	}
	custom := slices.DeleteFunc(st.customList(), func(o authz.RoleDefinition) bool { return o.ID == g })
	err = p.update(ctx, func(tx store.Tx) error { return tx.Delete(pathRoles + g) },
		func() { p.publishRBAC(custom, st.assignmentList()) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// AssignmentFilter selects role assignments in a list.
type AssignmentFilter struct {
	// PrincipalID, when set, selects that principal's assignments at any
	// scope (at, above or below the request scope).
	PrincipalID string
}

// ListRoleAssignments lists the assignments that apply at scope: those at
// the scope or above it. At "/" and "/keys" both pool-wide scopes are
// listed, as Managed HSM does; key-level assignments appear only when
// listing at their key.
func (p *Pool) ListRoleAssignments(ctx context.Context, c *Caller, scope authz.Scope, f AssignmentFilter) ([]authz.RoleAssignment, error) {
	if err := p.authorize(ctx, c, authz.RoleAssignmentsRead, scope); err != nil {
		return nil, err
	}
	var out []authz.RoleAssignment
	for _, a := range p.rbac.Load().assignments {
		switch {
		case f.PrincipalID != "":
			if !strings.EqualFold(a.PrincipalID, f.PrincipalID) {
				continue
			}
		case a.Scope.Covers(scope):
		case scope.KeyName() == "" && a.Scope.KeyName() == "":
		default:
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b authz.RoleAssignment) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// GetRoleAssignment returns an assignment by name. Names are unique across
// the pool, so the lookup does not depend on the scope in the URL.
func (p *Pool) GetRoleAssignment(ctx context.Context, c *Caller, scope authz.Scope, name string) (*authz.RoleAssignment, error) {
	audit.FromContext(ctx).TargetID = name
	if err := p.authorize(ctx, c, authz.RoleAssignmentsRead, scope); err != nil {
		return nil, err
	}
	g, err := authz.ParseGUID(name)
	if err != nil {
		return nil, roleAssignmentNotFound()
	}
	a, ok := p.rbac.Load().assignments[g]
	if !ok {
		return nil, roleAssignmentNotFound()
	}
	return &a, nil
}

// CreateRoleAssignment assigns a role to a principal at scope.
func (p *Pool) CreateRoleAssignment(ctx context.Context, c *Caller, scope authz.Scope, name, roleDefinitionID, principalID string) (*authz.RoleAssignment, error) {
	audit.FromContext(ctx).TargetID = name
	if err := p.authorize(ctx, c, authz.RoleAssignmentsWrite, scope); err != nil {
		return nil, err
	}
	g, err := parseGUIDParam("role assignment name", name)
	if err != nil {
		return nil, err
	}
	pid, err := parseGUIDParam("principalId", principalID)
	if err != nil {
		return nil, err
	}
	roleGUID, err := parseGUIDParam("role definition id", roleDefinitionID)
	if err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	st := p.rbac.Load()
	if _, ok := st.roleByID(roleGUID); !ok {
		return nil, &Error{Kind: KindBadRequest, Code: "RoleDefinitionDoesNotExist", Message: fmt.Sprintf("The role definition %s does not exist.", roleGUID)}
	}
	if _, exists := st.assignments[g]; exists {
		return nil, &Error{Kind: KindConflict, Code: "RoleAssignmentExists", Message: fmt.Sprintf("A role assignment named %s already exists.", g)}
	}
	atScope := 0
	for _, a := range st.assignments {
		if a.PrincipalID == pid && strings.EqualFold(a.RoleDefinitionID, roleGUID) && a.Scope == scope {
			return nil, &Error{Kind: KindConflict, Code: "RoleAssignmentExists", Message: fmt.Sprintf("The role assignment already exists as %s.", a.ID)}
		}
		if a.Scope == scope || (scope.KeyName() == "" && a.Scope.KeyName() == "") {
			atScope++
		}
	}
	limit := p.cfg.Limits.MaxAssignmentsPoolScope
	if scope.KeyName() != "" {
		limit = p.cfg.Limits.MaxAssignmentsKeyScope
	}
	if atScope >= limit {
		return nil, badParameter("The scope %s already has the maximum number of role assignments (%d).", scope, limit)
	}
	a := authz.RoleAssignment{ID: g, Scope: scope, RoleDefinitionID: roleGUID, PrincipalID: pid}
	b, err := encodeAssignment(a)
	if err != nil {
		return nil, err
	}
	list := append(st.assignmentList(), a)
	err = p.update(ctx, func(tx store.Tx) error { return tx.Put(pathAssignments+g, b) },
		func() { p.publishRBAC(st.customList(), list) })
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteRoleAssignment removes an assignment and returns it.
func (p *Pool) DeleteRoleAssignment(ctx context.Context, c *Caller, scope authz.Scope, name string) (*authz.RoleAssignment, error) {
	audit.FromContext(ctx).TargetID = name
	g, gerr := authz.ParseGUID(name)
	st := p.rbac.Load()
	a, ok := st.assignments[g]
	// Authorize at the assignment's own scope when it exists, so a key-level
	// Policy Administrator can remove what it may create.
	authScope := scope
	if gerr == nil && ok && scope.Covers(a.Scope) {
		authScope = a.Scope
	}
	if err := p.authorize(ctx, c, authz.RoleAssignmentsDelete, authScope); err != nil {
		return nil, err
	}
	if gerr != nil || !ok {
		return nil, roleAssignmentNotFound()
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	st = p.rbac.Load()
	a, ok = st.assignments[g]
	if !ok {
		return nil, roleAssignmentNotFound()
	}
	list := slices.DeleteFunc(st.assignmentList(), func(o authz.RoleAssignment) bool { return o.ID == g })
	err := p.update(ctx, func(tx store.Tx) error { return tx.Delete(pathAssignments + g) },
		func() { p.publishRBAC(st.customList(), list) })
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ParsePermission parses a permission block of a custom role definition.
// Unknown data action strings are rejected, naming the string.
func ParsePermission(actions, notActions, dataActions, notDataActions []string) (authz.Permission, error) {
	da, err := parseActions(dataActions)
	if err != nil {
		return authz.Permission{}, badParameter("%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	nda, err := parseActions(notDataActions)
	if err != nil {
		return authz.Permission{}, badParameter("%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	return authz.Permission{Actions: actions, NotActions: notActions, DataActions: da, NotDataActions: nda}, nil
}
