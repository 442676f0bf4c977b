package authz

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// RoleType is a role definition's type; the zero value is invalid.
type RoleType uint8

// Role types, as the wire spells them.
const (
	roleTypeInvalid RoleType = iota
	BuiltInRole
	CustomRole
)

func (t RoleType) String() string {
	switch t {
	case BuiltInRole:
		return "AKVBuiltInRole"
	case CustomRole:
		return "CustomRole"
	}
	return fmt.Sprintf("RoleType(%d)", uint8(t))
}

// Permission is one permission block of a role. Actions and NotActions are
// management-plane actions, carried but not evaluated by the data plane.
type Permission struct {
	Actions, NotActions         []string
	DataActions, NotDataActions []Action
}

// RoleDefinition is a role.
type RoleDefinition struct {
	ID               string // lower-case GUID
	Name             string
	Description      string
	Type             RoleType
	Permissions      []Permission
	AssignableScopes []Scope
}

// RoleAssignment gives a principal a role at a scope.
type RoleAssignment struct {
	ID               string // lower-case GUID (the assignment's name)
	Scope            Scope
	RoleDefinitionID string
	PrincipalID      string
}

// ParseGUID validates a GUID and returns its canonical lower-case form.
func ParseGUID(s string) (string, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return "", fmt.Errorf("%w: %q", ErrInvalidGUID, trunc(s))
	}
	if _, err := hex.DecodeString(strings.ReplaceAll(t, "-", "")); err != nil {
		return "", fmt.Errorf("%w: %q", ErrInvalidGUID, trunc(s))
	}
	return strings.ToLower(t), nil
}

// builtin describes a built-in role. dataActions are exactly Azure's wire
// lists (recorded 2022, in wire order); implied are Coffer's extension
// actions the role also holds without listing them.
type builtin struct {
	id, name, description string
	dataActions           []Action
	actions               []string
	implied               []Action
}

// Built-in roles of Managed HSM, with Azure's GUIDs, documented names and
// descriptions, and wire permission lists.
var builtins = []builtin{
	{
		id: "a290e904-7015-4bba-90c8-60543313cdb4", name: "Managed HSM Administrator",
		description: "Grants permissions to perform all operations related to the security domain, full backup and restore, and role management. Not permitted to perform any key management operations.",
		dataActions: []Action{RoleAssignmentsDelete, RoleAssignmentsRead, RoleAssignmentsWrite, RoleDefinitionsRead, RoleDefinitionsWrite, RoleDefinitionsDelete,
			SecurityDomainDownload, SecurityDomainDownloadRead, SecurityDomainUpload, SecurityDomainUploadRead, SecurityDomainTransferKeyRead,
			BackupStart, RestoreStart, BackupStatus, RestoreStatus},
		implied: []Action{SettingsRead, SettingsWrite, AuditRead},
	},
	{
		id: "515eb02d-2335-4d2d-92f2-b1cbdf9c3778", name: "Managed HSM Crypto Officer",
		description: "Grants permissions to perform all role management, purge or recover deleted keys, and export keys. Not permitted to perform any other key management operations.",
		dataActions: []Action{RoleAssignmentsDelete, RoleAssignmentsRead, RoleAssignmentsWrite, RoleDefinitionsRead, RoleDefinitionsWrite, RoleDefinitionsDelete,
			DeletedKeysRead, DeletedKeysDelete, DeletedKeysRecover, KeysExport},
		implied: []Action{SettingsRead},
	},
	{
		id: "21dbd100-6940-42c2-9190-5d6cb909625b", name: "Managed HSM Crypto User",
		description: "Grants permissions to perform all key management operations except purge or recover deleted keys and export keys.",
		dataActions: []Action{RoleDefinitionsRead, RoleAssignmentsRead, KeysRead, KeysWrite, KeysDelete, KeysCreate, KeysRotate, KeysImport, KeysRelease,
			KeysBackup, KeysRestore, KeysEncrypt, KeysDecrypt, KeysWrap, KeysUnwrap, KeysSign, KeysVerify, KeysDerive, RNG},
		implied: []Action{SettingsRead},
	},
	{
		id: "4bd23610-cdcf-4971-bdee-bdc562cc28e4", name: "Managed HSM Policy Administrator",
		description: "Grants permissions to create and delete role assignments.",
		dataActions: []Action{RoleDefinitionsRead, RoleDefinitionsWrite, RoleDefinitionsDelete, RoleAssignmentsRead, RoleAssignmentsWrite, RoleAssignmentsDelete},
		implied:     []Action{SettingsRead},
	},
	{
		id: "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", name: "Managed HSM Crypto Auditor",
		description: "Grants read permissions to read (but not use) key attributes.",
		dataActions: []Action{RoleAssignmentsRead, RoleDefinitionsRead, KeysRead, DeletedKeysRead},
		implied:     []Action{SettingsRead, AuditRead},
	},
	{
		id: "33413926-3206-4cdd-b39a-83574fe37a17", name: "Managed HSM Crypto Service Encryption User",
		description: "Grants permissions to use a key for service encryption.",
		dataActions: []Action{KeysRead, KeysWrap, KeysUnwrap},
	},
	{
		id: "21dbd100-6940-42c2-9190-5d6cb909625c", name: "Managed HSM Crypto Service Release User",
		description: "Grants permissions to release a key to a trusted execution environment.",
		dataActions: []Action{KeysRelease},
	},
	{
		id: "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", name: "Managed HSM Backup",
		description: "Grants permissions to perform single-key or whole-HSM backup.",
		dataActions: []Action{BackupStart, BackupStatus, KeysBackup},
	},
	{
		id: "6efe6056-5259-49d2-8b3d-d3d73544b20b", name: "Managed HSM Restore",
		description: "Grants permissions to perform single-key or whole-HSM restore.",
		dataActions: []Action{RestoreStart, RestoreStatus, KeysRestore},
	},
	{
		id: "770fd66c-6266-4643-9d4e-b616870898d5", name: "Managed HSM ARM User",
		description: "Lets Azure Resource Manager create and read keys on behalf of a user, when the pool allows it.",
		actions:     []string{"Microsoft.KeyVault/managedHsm/keys/createIfNotExists", "Microsoft.KeyVault/managedHsm/keys/read/action"},
	},
}

// alternateNames maps role names that have appeared on the wire to the
// documented names (clients match names exactly).
var alternateNames = map[string]string{
	"managed hsm backup user":                 "Managed HSM Backup",
	"managed hsm crypto service encryption":   "Managed HSM Crypto Service Encryption User",
	"managed hsm restore user":                "Managed HSM Restore",
	"managed hsm crypto service release user": "Managed HSM Crypto Service Release User",
}

// BuiltinRoles returns the built-in role definitions, as the wire shows
// them. The slice is freshly allocated.
func BuiltinRoles() []RoleDefinition {
	out := make([]RoleDefinition, len(builtins))
	for i, b := range builtins {
		out[i] = RoleDefinition{
			ID: b.id, Name: b.name, Description: b.description, Type: BuiltInRole,
			Permissions:      []Permission{{Actions: append([]string{}, b.actions...), NotActions: []string{}, DataActions: append([]Action{}, b.dataActions...), NotDataActions: []Action{}}},
			AssignableScopes: []Scope{RootScope},
		}
	}
	return out
}

// LookupBuiltinByName finds a built-in role by its documented name or a
// name it has had on the wire, case-insensitively.
func LookupBuiltinByName(name string) (RoleDefinition, bool) {
	if doc, ok := alternateNames[strings.ToLower(name)]; ok {
		name = doc
	}
	for _, r := range BuiltinRoles() {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return RoleDefinition{}, false
}

func builtinByID(id string) (builtin, bool) {
	for _, b := range builtins {
		if b.id == id {
			return b, true
		}
	}
	return builtin{}, false
}

// ValidateCustomRole checks a custom role definition.
func ValidateCustomRole(r RoleDefinition) error {
	if _, err := ParseGUID(r.ID); err != nil {
		return fmt.Errorf("%w: the role id is not a GUID", ErrInvalidRole)
	}
	if strings.TrimSpace(r.Name) == "" || len(r.Name) > 256 {
		return fmt.Errorf("%w: the role name must be 1 to 256 characters", ErrInvalidRole)
	}
	if len(r.Description) > 1024 {
		return fmt.Errorf("%w: the description is longer than 1024 characters", ErrInvalidRole)
	}
	if _, ok := builtinByID(r.ID); ok {
		return fmt.Errorf("%w: %s is a built-in role", ErrInvalidRole, r.ID)
	}
	for _, p := range r.Permissions {
		for _, a := range append(append([]Action{}, p.DataActions...), p.NotDataActions...) {
			if a <= actionInvalid || a >= numActions {
				return fmt.Errorf("%w: unknown data action", ErrInvalidRole)
			}
		}
		if len(p.Actions) > 0 || len(p.NotActions) > 0 {
			return fmt.Errorf("%w: custom roles take dataActions and notDataActions only; actions are management-plane permissions", ErrInvalidRole)
		}
	}
	for _, s := range r.AssignableScopes {
		if s != RootScope {
			return fmt.Errorf("%w: role definitions are assignable at \"/\" only", ErrInvalidRole)
		}
	}
	return nil
}
