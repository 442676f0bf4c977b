package hsm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/store"
)

// Store layout of local RBAC.
const (
	pathRoles       = "rbac/roles/"
	pathAssignments = "rbac/assignments/"
)

// Built-in role ids used by the pool itself.
const (
	RoleAdministrator = "a290e904-7015-4bba-90c8-60543313cdb4"
	RoleCryptoOfficer = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
	RoleCryptoUser    = "21dbd100-6940-42c2-9190-5d6cb909625b"
)

// breakGlassPrincipal is a synthetic identity holding Administrator at "/"
// in breakGlassPolicy. Directory Global Administrators are evaluated against
// it when the pool's own assignments deny them.
const breakGlassPrincipal = "global-administrator-break-glass"

var breakGlassPolicy = authz.NewPolicy(authz.BuiltinRoles(), []authz.RoleAssignment{{
	ID: "00000000-0000-0000-0000-000000000000", Scope: authz.RootScope,
	RoleDefinitionID: RoleAdministrator, PrincipalID: breakGlassPrincipal,
}})

// securityDomainAction are never granted by break-glass: the security
// domain is the pool's keys, and it goes only to people the pool's own
// administrators chose (a directory administrator is not one of them).
var securityDomainAction = map[authz.Action]bool{
	authz.SecurityDomainDownload: true, authz.SecurityDomainUpload: true, authz.SecurityDomainTransferKeyRead: true,
}

// rbacState is an immutable snapshot of the pool's roles and assignments.
type rbacState struct {
	policy      *authz.Policy
	custom      map[string]authz.RoleDefinition // by id
	assignments map[string]authz.RoleAssignment // by id (names are pool-wide unique)
}

func (p *Pool) publishRBAC(custom []authz.RoleDefinition, assignments []authz.RoleAssignment) {
	st := &rbacState{custom: make(map[string]authz.RoleDefinition), assignments: make(map[string]authz.RoleAssignment)}
	for _, r := range custom {
		st.custom[r.ID] = r
	}
	for _, a := range assignments {
		st.assignments[a.ID] = a
	}
	roles := append(authz.BuiltinRoles(), custom...)
	st.policy = authz.NewPolicy(roles, assignments)
	p.rbac.Store(st)
}

func (s *rbacState) customList() []authz.RoleDefinition {
	return slices.Collect(maps.Values(s.custom))
}

func (s *rbacState) assignmentList() []authz.RoleAssignment {
	return slices.Collect(maps.Values(s.assignments))
}

// authorize decides whether c may perform action on scope, and records the
// decision on the request's audit event.
func (p *Pool) authorize(ctx context.Context, c *Caller, action authz.Action, scope authz.Scope) error {
	if c == systemCaller {
		return nil
	}
	ev := audit.FromContext(ctx)
	if err := p.checkState(action); err != nil {
		return err
	}
	if c == nil {
		return accessDenied(action, scope)
	}
	d := p.rbac.Load().policy.Decide(c.Identities, action, scope)
	if d.Allowed {
		ev.AssignmentID = d.AssignmentID
		return nil
	}
	if c.GlobalAdmin && !securityDomainAction[action] && breakGlassPolicy.Decide([]string{breakGlassPrincipal}, action, scope).Allowed {
		ev.BreakGlass = true
		p.log.Warn("global administrator break-glass access", slog.String("oid", c.ObjectID),
			slog.String("action", action.String()), slog.String("scope", scope.String()))
		return nil
	}
	return accessDenied(action, scope)
}

func accessDenied(action authz.Action, scope authz.Scope) error {
	return &Error{Kind: KindForbidden, Code: "AccessDenied",
		Message: fmt.Sprintf("Not authorized to access %s on %s", action, scope)}
}

type permissionRecord struct {
	Actions        []string `json:"actions,omitempty"`
	NotActions     []string `json:"notActions,omitempty"`
	DataActions    []string `json:"dataActions,omitempty"`
	NotDataActions []string `json:"notDataActions,omitempty"`
}

type roleRecord struct {
	V           int                `json:"v"`
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Permissions []permissionRecord `json:"permissions"`
	Scopes      []string           `json:"assignableScopes,omitempty"`
}

type assignmentRecord struct {
	V                int    `json:"v"`
	ID               string `json:"id"`
	Scope            string `json:"scope"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
}

func actionStrings(as []authz.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func parseActions(ss []string) ([]authz.Action, error) {
	out := make([]authz.Action, 0, len(ss))
	for _, s := range ss {
		a, err := authz.ParseAction(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func encodeRole(r authz.RoleDefinition) ([]byte, error) {
	rec := roleRecord{V: recordVersion, ID: r.ID, Name: r.Name, Description: r.Description}
	for _, pm := range r.Permissions {
		rec.Permissions = append(rec.Permissions, permissionRecord{
			Actions: pm.Actions, NotActions: pm.NotActions,
			DataActions: actionStrings(pm.DataActions), NotDataActions: actionStrings(pm.NotDataActions),
		})
	}
	for _, s := range r.AssignableScopes {
		rec.Scopes = append(rec.Scopes, s.String())
	}
	return json.Marshal(rec)
}

func decodeRole(b []byte) (authz.RoleDefinition, error) {
	var rec roleRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return authz.RoleDefinition{}, err
	}
	if rec.V != recordVersion {
		return authz.RoleDefinition{}, fmt.Errorf("unsupported role record format %d", rec.V)
	}
	r := authz.RoleDefinition{ID: rec.ID, Name: rec.Name, Description: rec.Description, Type: authz.CustomRole}
	for _, pm := range rec.Permissions {
		da, err := parseActions(pm.DataActions)
		if err != nil {
			return r, err
		}
		nda, err := parseActions(pm.NotDataActions)
		if err != nil {
			return r, err
		}
		r.Permissions = append(r.Permissions, authz.Permission{Actions: pm.Actions, NotActions: pm.NotActions, DataActions: da, NotDataActions: nda})
	}
	for _, s := range rec.Scopes {
		sc, err := authz.ParseScope(s)
		if err != nil {
			return r, err
		}
		r.AssignableScopes = append(r.AssignableScopes, sc)
	}
	return r, nil
}

func encodeAssignment(a authz.RoleAssignment) ([]byte, error) {
	return json.Marshal(assignmentRecord{V: recordVersion, ID: a.ID, Scope: a.Scope.String(), RoleDefinitionID: a.RoleDefinitionID, PrincipalID: a.PrincipalID})
}

func decodeAssignment(b []byte) (authz.RoleAssignment, error) {
	var rec assignmentRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return authz.RoleAssignment{}, err
	}
	if rec.V != recordVersion {
		return authz.RoleAssignment{}, fmt.Errorf("unsupported assignment record format %d", rec.V)
	}
	sc, err := authz.ParseScope(rec.Scope)
	if err != nil {
		return authz.RoleAssignment{}, err
	}
	return authz.RoleAssignment{ID: rec.ID, Scope: sc, RoleDefinitionID: rec.RoleDefinitionID, PrincipalID: rec.PrincipalID}, nil
}

func loadRBAC(tx store.Tx) ([]authz.RoleDefinition, []authz.RoleAssignment, error) {
	var roles []authz.RoleDefinition
	var assignments []authz.RoleAssignment
	err := tx.ForEach(pathRoles, func(path string, v []byte) error {
		r, err := decodeRole(v)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		roles = append(roles, r)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = tx.ForEach(pathAssignments, func(path string, v []byte) error {
		a, err := decodeAssignment(v)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		assignments = append(assignments, a)
		return nil
	})
	return roles, assignments, err
}

// roleByID finds a built-in or custom role definition.
func (s *rbacState) roleByID(id string) (authz.RoleDefinition, bool) {
	for _, r := range authz.BuiltinRoles() {
		if strings.EqualFold(r.ID, id) {
			return r, true
		}
	}
	r, ok := s.custom[strings.ToLower(id)]
	return r, ok
}

// SeedAssignments gives principals roles at "/" without authorization: it
// is how a pool gets its initial administrators. Assignments that already
// exist (same principal, role and scope) are kept.
func (p *Pool) SeedAssignments(ctx context.Context, principalIDs []string, roleIDs []string) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	st := p.rbac.Load()
	list := st.assignmentList()
	var added []authz.RoleAssignment
	for _, pid := range principalIDs {
		for _, rid := range roleIDs {
			dup := slices.ContainsFunc(list, func(a authz.RoleAssignment) bool {
				return strings.EqualFold(a.PrincipalID, pid) && strings.EqualFold(a.RoleDefinitionID, rid) && a.Scope == authz.RootScope
			})
			if dup {
				continue
			}
			a := authz.RoleAssignment{ID: newGUID(), Scope: authz.RootScope, RoleDefinitionID: rid, PrincipalID: strings.ToLower(pid)}
			added = append(added, a)
			list = append(list, a)
		}
	}
	if len(added) == 0 {
		return nil
	}
	return p.update(ctx, func(tx store.Tx) error {
		for _, a := range added {
			b, err := encodeAssignment(a)
			if err != nil {
				return err
			}
			if err := tx.Put(pathAssignments+a.ID, b); err != nil {
				return err
			}
		}
		return nil
	}, func() { p.publishRBAC(st.customList(), list) })
}
