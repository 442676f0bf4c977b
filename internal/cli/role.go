package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/cofferkms/coffer/internal/api"
	"github.com/cofferkms/coffer/internal/client"
	"github.com/spf13/cobra"
)

const roleDefinitionPrefix = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// rbacPath builds a local-RBAC path at scope: "/" is no prefix.
func rbacPath(scope, kind, name string) string {
	scope = "/" + strings.Trim(scope, "/")
	if scope == "/" {
		scope = ""
	}
	p := scope + "/providers/Microsoft.Authorization/" + kind
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// resolveRole turns a role name or id into a role definition id, the way
// az keyvault role does: a GUID is taken as is, otherwise the definitions
// are listed and matched by exact name.
func resolveRole(ctx context.Context, c *client.Client, role string) (string, error) {
	if i := strings.LastIndex(role, "/"); i >= 0 {
		role = role[i+1:]
	}
	if isGUID(role) {
		return role, nil
	}
	var list api.RoleDefinitionListResult
	if err := c.Data(ctx, "GET", rbacPath("/", "roleDefinitions", ""), nil, nil, &list); err != nil {
		return "", err
	}
	for _, d := range list.Value {
		if d.Properties != nil && d.Properties.RoleName == role {
			return d.Name, nil
		}
	}
	return "", usageErr("no role definition is named %q", role)
}

// roleDefinitionView is a role definition as az keyvault role definition
// prints it: the properties flattened next to the id and name.
type roleDefinitionView struct {
	AssignableScopes []string         `json:"assignableScopes"`
	Description      string           `json:"description"`
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Permissions      []api.Permission `json:"permissions"`
	RoleName         string           `json:"roleName"`
	RoleType         string           `json:"roleType"`
	Type             string           `json:"type"`
}

var definitionColumns = []string{"roleName", "roleType", "name", "description"}

func definitionView(d api.RoleDefinition) roleDefinitionView {
	v := roleDefinitionView{ID: d.ID, Name: d.Name, Type: d.Type}
	if p := d.Properties; p != nil {
		v.AssignableScopes, v.Description, v.Permissions, v.RoleName, v.RoleType = p.AssignableScopes, p.Description, p.Permissions, p.RoleName, p.Type
	}
	return v
}

// roleAssignmentView is a role assignment as az keyvault role assignment
// prints it, with the role's name resolved.
type roleAssignmentView struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	PrincipalID        string `json:"principalId"`
	RoleDefinitionID   string `json:"roleDefinitionId"`
	RoleDefinitionName string `json:"roleDefinitionName"`
	Scope              string `json:"scope"`
	Type               string `json:"type"`
}

var assignmentColumns = []string{"name", "roleDefinitionName", "principalId", "scope"}

// assignmentViews flattens assignments and names their roles from one
// listing of the definitions.
func assignmentViews(ctx context.Context, c *client.Client, as ...api.RoleAssignment) ([]roleAssignmentView, error) {
	var defs api.RoleDefinitionListResult
	if err := c.Data(ctx, "GET", rbacPath("/", "roleDefinitions", ""), nil, nil, &defs); err != nil {
		// Naming roles is a convenience; a caller who may list
		// assignments but not definitions still gets the assignments.
		defs.Value = nil
	}
	names := map[string]string{}
	for _, d := range defs.Value {
		if d.Properties != nil {
			names[strings.ToLower(d.Name)] = d.Properties.RoleName
		}
	}
	out := []roleAssignmentView{}
	for _, a := range as {
		v := roleAssignmentView{ID: a.ID, Name: a.Name, Type: a.Type}
		if p := a.Properties; p != nil {
			v.PrincipalID, v.RoleDefinitionID, v.Scope = p.PrincipalID, p.RoleDefinitionID, p.Scope
			v.RoleDefinitionName = names[strings.ToLower(p.RoleDefinitionID[strings.LastIndex(p.RoleDefinitionID, "/")+1:])]
		}
		out = append(out, v)
	}
	return out, nil
}

// resolveAssignee turns --assignee into an object id, as az does: a GUID is
// taken as is; a user principal name, or the display name of exactly one
// principal, is looked up in the directory (which needs directory access).
func resolveAssignee(ctx context.Context, c *client.Client, who string) (string, error) {
	if isGUID(who) {
		return who, nil
	}
	var list struct {
		Value []struct {
			ObjectID    string `json:"objectId"`
			UPN         string `json:"upn"`
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	if err := c.Directory(ctx, "GET", "/"+url.PathEscape(c.Profile.Tenant)+"/principals", nil, &list); err != nil {
		return "", fmt.Errorf("looking up %q in the directory (pass an object id instead): %w", who, err)
	}
	var found []string
	for _, p := range list.Value {
		if strings.EqualFold(p.UPN, who) {
			return p.ObjectID, nil
		}
		if p.DisplayName == who {
			found = append(found, p.ObjectID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", usageErr("no principal is named %q", who)
	}
	return "", usageErr("%d principals are named %q; pass an object id", len(found), who)
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

func oneAssignment(ctx context.Context, c *client.Client, a api.RoleAssignment, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	vs, err := assignmentViews(ctx, c, a)
	if err != nil {
		return nil, err
	}
	return columns{vs[0], assignmentColumns}, nil
}

func newRoleCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Manage local RBAC: role definitions and role assignments",
		Long: `Manage the pool's local RBAC, as az keyvault role does. Scopes are "/" (the whole pool),
"/keys" (every key) and "/keys/{name}" (one key). Roles may be named or given by id.`,
	}
	o.register(cmd)
	run := func(fn func(ctx context.Context, c *client.Client, args []string) (any, error)) func(*cobra.Command, []string) error {
		return func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) { return fn(ctx, c, args) })(cc, args)
		}
	}

	// Definitions.
	def := &cobra.Command{Use: "definition", Short: "Manage role definitions"}
	var customOnly bool
	dlist := &cobra.Command{Use: "list", Short: "List role definitions", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *client.Client, _ []string) (any, error) {
			var list api.RoleDefinitionListResult
			if err := c.Data(ctx, "GET", rbacPath("/", "roleDefinitions", ""), nil, nil, &list); err != nil {
				return nil, err
			}
			out := []roleDefinitionView{}
			for _, d := range list.Value {
				if !customOnly || d.Properties.Type == "CustomRole" {
					out = append(out, definitionView(d))
				}
			}
			return columns{out, definitionColumns}, nil
		})}
	dlist.Flags().BoolVar(&customOnly, "custom-role-only", false, "list custom roles only")
	dshow := &cobra.Command{Use: "show NAME_OR_ID", Short: "Show a role definition", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, c *client.Client, args []string) (any, error) {
			id, err := resolveRole(ctx, c, args[0])
			if err != nil {
				return nil, err
			}
			var d api.RoleDefinition
			if err := c.Data(ctx, "GET", rbacPath("/", "roleDefinitions", id), nil, nil, &d); err != nil {
				return nil, err
			}
			return columns{definitionView(d), definitionColumns}, nil
		})}
	var defJSON string
	put := func(update bool) func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		return func(ctx context.Context, c *client.Client, _ []string) (any, error) {
			raw := []byte(defJSON)
			if strings.HasPrefix(defJSON, "@") {
				var err error
				if raw, err = os.ReadFile(defJSON[1:]); err != nil {
					return nil, err
				}
			}
			// The az keyvault role definition format: roleName, description,
			// dataActions, notDataActions (and name for an update).
			var in struct {
				Name           string   `json:"name"`
				RoleName       string   `json:"roleName"`
				Description    string   `json:"description"`
				DataActions    []string `json:"dataActions"`
				NotDataActions []string `json:"notDataActions"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, usageErr("--role-definition is not JSON: %v", err)
			}
			id := in.Name
			if update && id == "" {
				return nil, usageErr("an update needs the role's name (its GUID) in the definition")
			}
			if !update && id == "" {
				id = newGUID()
			}
			body := api.RoleDefinitionCreateParameters{Properties: &api.RoleDefinitionProperties{
				RoleName: in.RoleName, Description: in.Description, Type: "CustomRole", AssignableScopes: []string{"/"},
				Permissions: []api.Permission{{Actions: []string{}, NotActions: []string{}, DataActions: nonNilStrings(in.DataActions), NotDataActions: nonNilStrings(in.NotDataActions)}},
			}}
			var d api.RoleDefinition
			if err := c.Data(ctx, "PUT", rbacPath("/", "roleDefinitions", id), nil, body, &d); err != nil {
				return nil, err
			}
			return columns{definitionView(d), definitionColumns}, nil
		}
	}
	dcreate := &cobra.Command{Use: "create", Short: "Create a custom role", Args: cobra.NoArgs, RunE: run(put(false)),
		Example: `  coffer role definition create --role-definition '{"roleName":"Signer","dataActions":["Microsoft.KeyVault/managedHsm/keys/sign/action","Microsoft.KeyVault/managedHsm/keys/read/action"]}'`}
	dupdate := &cobra.Command{Use: "update", Short: "Update a custom role", Args: cobra.NoArgs, RunE: run(put(true))}
	for _, c := range []*cobra.Command{dcreate, dupdate} {
		c.Flags().StringVar(&defJSON, "role-definition", "", "role definition JSON, or @file")
		c.MarkFlagRequired("role-definition")
	}
	ddelete := &cobra.Command{Use: "delete NAME_OR_ID", Short: "Delete a custom role; its assignments stop granting", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, c *client.Client, args []string) (any, error) {
			id, err := resolveRole(ctx, c, args[0])
			if err != nil {
				return nil, err
			}
			var d api.RoleDefinition
			if err := c.Data(ctx, "DELETE", rbacPath("/", "roleDefinitions", id), nil, nil, &d); err != nil {
				return nil, err
			}
			return columns{definitionView(d), definitionColumns}, nil
		})}
	def.AddCommand(dlist, dshow, dcreate, dupdate, ddelete)

	// Assignments.
	var role, assignee, scope, name string
	asg := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	acreate := &cobra.Command{Use: "create", Short: "Assign a role to a principal at a scope", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *client.Client, _ []string) (any, error) {
			id, err := resolveRole(ctx, c, role)
			if err != nil {
				return nil, err
			}
			principal, err := resolveAssignee(ctx, c, assignee)
			if err != nil {
				return nil, err
			}
			n := name
			if n == "" {
				n = newGUID()
			}
			body := api.RoleAssignmentCreateParameters{Properties: &api.RoleAssignmentProperties{RoleDefinitionID: roleDefinitionPrefix + id, PrincipalID: principal}}
			var a api.RoleAssignment
			return oneAssignment(ctx, c, a, c.Data(ctx, "PUT", rbacPath(scope, "roleAssignments", n), nil, body, &a))
		})}
	acreate.Flags().StringVar(&role, "role", "", "role name or id")
	acreate.Flags().StringVar(&assignee, "assignee", "", "principal: object id, user principal name, or a unique display name")
	acreate.Flags().StringVar(&name, "name", "", "assignment name (a GUID; default: a new one)")
	acreate.MarkFlagRequired("role")
	acreate.MarkFlagRequired("assignee")
	alist := &cobra.Command{Use: "list", Short: "List role assignments at a scope", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, c *client.Client, _ []string) (any, error) {
			q := url.Values{}
			if assignee != "" {
				principal, err := resolveAssignee(ctx, c, assignee)
				if err != nil {
					return nil, err
				}
				q.Set("$filter", "principalId eq '"+principal+"'")
			}
			var list api.RoleAssignmentListResult
			if err := c.Data(ctx, "GET", rbacPath(scope, "roleAssignments", ""), q, nil, &list); err != nil {
				return nil, err
			}
			out := list.Value
			if role != "" {
				id, err := resolveRole(ctx, c, role)
				if err != nil {
					return nil, err
				}
				out = nil
				for _, a := range list.Value {
					if strings.HasSuffix(strings.ToLower(a.Properties.RoleDefinitionID), "/"+strings.ToLower(id)) {
						out = append(out, a)
					}
				}
			}
			vs, err := assignmentViews(ctx, c, out...)
			if err != nil {
				return nil, err
			}
			return columns{vs, assignmentColumns}, nil
		})}
	alist.Flags().StringVar(&role, "role", "", "only this role")
	alist.Flags().StringVar(&assignee, "assignee", "", "only this principal (at any scope)")
	ashow := &cobra.Command{Use: "show NAME", Short: "Show a role assignment", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, c *client.Client, args []string) (any, error) {
			var a api.RoleAssignment
			return oneAssignment(ctx, c, a, c.Data(ctx, "GET", rbacPath(scope, "roleAssignments", args[0]), nil, nil, &a))
		})}
	adelete := &cobra.Command{Use: "delete NAME", Short: "Delete a role assignment", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, c *client.Client, args []string) (any, error) {
			var a api.RoleAssignment
			return oneAssignment(ctx, c, a, c.Data(ctx, "DELETE", rbacPath(scope, "roleAssignments", args[0]), nil, nil, &a))
		})}
	for _, c := range []*cobra.Command{acreate, alist, ashow, adelete} {
		c.Flags().StringVar(&scope, "scope", "/", `scope: "/", "/keys" or "/keys/{name}"`)
	}
	asg.AddCommand(acreate, alist, ashow, adelete)
	cmd.AddCommand(def, asg)
	return cmd
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newSettingCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "setting", Short: "Manage pool settings (AllowKeyManagementOperationsThroughARM)"}
	o.register(cmd)
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "List the pool's settings", Args: cobra.NoArgs,
			RunE: o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				var out api.SettingsListResult
				if err := c.Data(ctx, "GET", "/settings", nil, nil, &out); err != nil {
					return nil, err
				}
				return out.Settings, nil
			})},
	)
	var value string
	show := &cobra.Command{Use: "show NAME", Short: "Show a setting", Args: cobra.ExactArgs(1)}
	show.RunE = func(cc *cobra.Command, args []string) error {
		return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
			var st api.Setting
			return st, c.Data(ctx, "GET", "/settings/"+url.PathEscape(args[0]), nil, nil, &st)
		})(cc, args)
	}
	update := &cobra.Command{Use: "update NAME", Short: `Set a setting ("true" or "false")`, Args: cobra.ExactArgs(1)}
	update.RunE = func(cc *cobra.Command, args []string) error {
		return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
			var st api.Setting
			return st, c.Data(ctx, "PATCH", "/settings/"+url.PathEscape(args[0]), nil, map[string]string{"value": value}, &st)
		})(cc, args)
	}
	update.Flags().StringVar(&value, "value", "", `new value: "true" or "false"`)
	update.MarkFlagRequired("value")
	cmd.AddCommand(show, update)
	return cmd
}
