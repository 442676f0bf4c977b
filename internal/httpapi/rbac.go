package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cofferkms/coffer/internal/api"
	"github.com/cofferkms/coffer/internal/hsm"
)

const (
	roleDefinitionIDPrefix = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
	typeRoleDefinitions    = "Microsoft.Authorization/roleDefinitions"
	typeRoleAssignments    = "Microsoft.Authorization/roleAssignments"
)

func requestScope(r *http.Request) (hsm.Scope, error) {
	sc, err := hsm.ParseScope(scopeFrom(r.Context()))
	if err != nil {
		return sc, badRequest("The scope %q is not valid; use \"/\", \"/keys\" or \"/keys/{key name}\".", truncate(scopeFrom(r.Context()), 200))
	}
	return sc, nil
}

func wireRoleDefinition(d *hsm.RoleDefinition) api.RoleDefinition {
	props := &api.RoleDefinitionProperties{RoleName: d.Name, Description: d.Description, Type: d.Type.String(), AssignableScopes: []string{}}
	for _, s := range d.AssignableScopes {
		props.AssignableScopes = append(props.AssignableScopes, s.String())
	}
	for _, p := range d.Permissions {
		wp := api.Permission{Actions: nonNil(p.Actions), NotActions: nonNil(p.NotActions), DataActions: []string{}, NotDataActions: []string{}}
		for _, a := range p.DataActions {
			wp.DataActions = append(wp.DataActions, a.String())
		}
		for _, a := range p.NotDataActions {
			wp.NotDataActions = append(wp.NotDataActions, a.String())
		}
		props.Permissions = append(props.Permissions, wp)
	}
	if props.Permissions == nil {
		props.Permissions = []api.Permission{}
	}
	return api.RoleDefinition{ID: roleDefinitionIDPrefix + d.ID, Name: d.ID, Type: typeRoleDefinitions, Properties: props}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func wireRoleAssignment(a *hsm.RoleAssignment) api.RoleAssignment {
	prefix := ""
	if a.Scope.String() != "/" {
		prefix = a.Scope.String()
	}
	return api.RoleAssignment{
		ID: prefix + "/providers/Microsoft.Authorization/roleAssignments/" + a.ID, Name: a.ID, Type: typeRoleAssignments,
		Properties: &api.RoleAssignmentProperties{Scope: a.Scope.String(), RoleDefinitionID: roleDefinitionIDPrefix + a.RoleDefinitionID, PrincipalID: a.PrincipalID},
	}
}

// roleDefinitionGUID takes the last segment of a roleDefinitionId, which
// clients send either as the full id or as a bare GUID.
func roleDefinitionGUID(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

func (s *Server) listRoleDefinitions(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	defs, err := poolFrom(r.Context()).ListRoleDefinitions(r.Context(), callerFrom(r.Context()), scope)
	if err != nil {
		return err
	}
	f, err := parseFilter(r.URL.Query().Get("$filter"), "atScopeAndBelow()", "roleName eq ")
	if err != nil {
		return err
	}
	out := api.RoleDefinitionListResult{Value: []api.RoleDefinition{}}
	for i := range defs {
		d := &defs[i]
		if f.operand != "" && !strings.EqualFold(d.Name, f.operand) {
			continue
		}
		out.Value = append(out.Value, wireRoleDefinition(d))
	}
	return writeJSON(w, http.StatusOK, out)
}

// listFilter is a parsed $filter: empty, a scope function that does not
// narrow the set (atScope(), atScopeAndBelow(): definitions exist only at
// "/", and assignment listings already hold what applies at the scope), or
// one "name eq 'value'" / "assignedTo('value')" comparison.
type listFilter struct {
	operand string
}

// parseFilter accepts the filters the Managed HSM specification documents
// for a listing, and refuses every other one: ignoring a filter a caller
// relies on ("assignments of this principal") would answer a different
// question than the one asked.
func parseFilter(raw string, scopeFunc, comparison string) (listFilter, error) {
	f := strings.TrimSpace(raw)
	switch {
	case f == "" || strings.EqualFold(f, scopeFunc):
		return listFilter{}, nil
	case comparison != "":
		if rest, ok := cutPrefixFold(f, comparison); ok {
			if v, ok := quoted(strings.TrimSpace(rest)); ok {
				return listFilter{operand: v}, nil
			}
		}
		// ARM's assignedTo('id') means the same as principalId eq 'id'.
		if rest, ok := cutPrefixFold(f, "assignedTo("); ok && comparison == "principalId eq " && strings.HasSuffix(rest, ")") {
			if v, ok := quoted(strings.TrimSpace(strings.TrimSuffix(rest, ")"))); ok {
				return listFilter{operand: v}, nil
			}
		}
	}
	want := scopeFunc
	if comparison != "" {
		want += " or " + comparison + "'...'"
	}
	return listFilter{}, &hsm.Error{Kind: hsm.KindBadRequest, Code: "BadParameter",
		Message: fmt.Sprintf("The $filter %q is not supported here; use %s.", truncate(f, 100), want)}
}

func quoted(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' && !strings.Contains(s[1:len(s)-1], "'") {
		return s[1 : len(s)-1], true
	}
	return "", false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func (s *Server) getRoleDefinition(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	d, err := poolFrom(r.Context()).GetRoleDefinition(r.Context(), callerFrom(r.Context()), scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireRoleDefinition(d))
}

func (s *Server) putRoleDefinition(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	var body api.RoleDefinitionCreateParameters
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Properties == nil {
		return badRequest("The role definition properties are required.")
	}
	def := hsm.RoleDefinition{Name: body.Properties.RoleName, Description: body.Properties.Description}
	for _, p := range body.Properties.Permissions {
		perm, err := hsm.ParsePermission(p.Actions, p.NotActions, p.DataActions, p.NotDataActions)
		if err != nil {
			return err
		}
		def.Permissions = append(def.Permissions, perm)
	}
	d, err := poolFrom(r.Context()).PutRoleDefinition(r.Context(), callerFrom(r.Context()), scope, r.PathValue("id"), def)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wireRoleDefinition(d))
}

func (s *Server) deleteRoleDefinition(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	d, err := poolFrom(r.Context()).DeleteRoleDefinition(r.Context(), callerFrom(r.Context()), scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireRoleDefinition(d))
}

func (s *Server) listRoleAssignments(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	lf, err := parseFilter(r.URL.Query().Get("$filter"), "atScope()", "principalId eq ")
	if err != nil {
		return err
	}
	f := hsm.AssignmentFilter{PrincipalID: lf.operand}
	list, err := poolFrom(r.Context()).ListRoleAssignments(r.Context(), callerFrom(r.Context()), scope, f)
	if err != nil {
		return err
	}
	out := api.RoleAssignmentListResult{Value: []api.RoleAssignment{}}
	for i := range list {
		out.Value = append(out.Value, wireRoleAssignment(&list[i]))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	a, err := poolFrom(r.Context()).GetRoleAssignment(r.Context(), callerFrom(r.Context()), scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireRoleAssignment(a))
}

func (s *Server) createRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	var body api.RoleAssignmentCreateParameters
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Properties == nil || body.Properties.RoleDefinitionID == "" || body.Properties.PrincipalID == "" {
		return badRequest("The role assignment needs properties.roleDefinitionId and properties.principalId.")
	}
	a, err := poolFrom(r.Context()).CreateRoleAssignment(r.Context(), callerFrom(r.Context()), scope, r.PathValue("id"),
		roleDefinitionGUID(body.Properties.RoleDefinitionID), body.Properties.PrincipalID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wireRoleAssignment(a))
}

func (s *Server) deleteRoleAssignment(w http.ResponseWriter, r *http.Request) error {
	scope, err := requestScope(r)
	if err != nil {
		return err
	}
	a, err := poolFrom(r.Context()).DeleteRoleAssignment(r.Context(), callerFrom(r.Context()), scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireRoleAssignment(a))
}
