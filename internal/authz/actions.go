package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by the parsers.
var (
	ErrInvalidAction = errors.New("authz: unknown permission")
	ErrInvalidScope  = errors.New("authz: invalid scope")
	ErrInvalidGUID   = errors.New("authz: invalid GUID")
	ErrInvalidRole   = errors.New("authz: invalid role definition")
)

// Action is one Managed HSM data action; the zero value is invalid. The
// numbering is internal (it indexes bitsets) and never persisted: records
// store the permission strings.
type Action uint8

// Data actions, in the order of api-admin reference §1.7.
const (
	actionInvalid Action = iota
	KeysRead
	KeysWrite
	KeysCreate
	KeysDelete
	KeysImport
	KeysExport
	KeysRelease
	KeysBackup
	KeysRestore
	KeysEncrypt
	KeysDecrypt
	KeysWrap
	KeysUnwrap
	KeysSign
	KeysVerify
	DeletedKeysRead
	DeletedKeysRecover
	DeletedKeysDelete
	RoleAssignmentsRead
	RoleAssignmentsWrite
	RoleAssignmentsDelete
	RoleDefinitionsRead
	RoleDefinitionsWrite
	RoleDefinitionsDelete
	SecurityDomainDownload
	SecurityDomainDownloadRead
	SecurityDomainUpload
	SecurityDomainUploadRead
	SecurityDomainTransferKeyRead
	BackupStart
	BackupStatus
	RestoreStart
	RestoreStatus
	RNG
	KeysRotate
	KeysDerive
	// SettingsRead, SettingsWrite and AuditRead are Coffer extensions (see
	// the package doc).
	SettingsRead
	SettingsWrite
	// AuditRead is a Coffer extension: reading the pool's audit log.
	AuditRead
	numActions
)

const prefix = "Microsoft.KeyVault/managedHsm/"

var actionNames = [numActions]string{
	KeysRead:                      "keys/read/action",
	KeysWrite:                     "keys/write/action",
	KeysCreate:                    "keys/create",
	KeysDelete:                    "keys/delete",
	KeysImport:                    "keys/import/action",
	KeysExport:                    "keys/export/action",
	KeysRelease:                   "keys/release/action",
	KeysBackup:                    "keys/backup/action",
	KeysRestore:                   "keys/restore/action",
	KeysEncrypt:                   "keys/encrypt/action",
	KeysDecrypt:                   "keys/decrypt/action",
	KeysWrap:                      "keys/wrap/action",
	KeysUnwrap:                    "keys/unwrap/action",
	KeysSign:                      "keys/sign/action",
	KeysVerify:                    "keys/verify/action",
	DeletedKeysRead:               "keys/deletedKeys/read/action",
	DeletedKeysRecover:            "keys/deletedKeys/recover/action",
	DeletedKeysDelete:             "keys/deletedKeys/delete",
	RoleAssignmentsRead:           "roleAssignments/read/action",
	RoleAssignmentsWrite:          "roleAssignments/write/action",
	RoleAssignmentsDelete:         "roleAssignments/delete/action",
	RoleDefinitionsRead:           "roleDefinitions/read/action",
	RoleDefinitionsWrite:          "roleDefinitions/write/action",
	RoleDefinitionsDelete:         "roleDefinitions/delete/action",
	SecurityDomainDownload:        "securitydomain/download/action",
	SecurityDomainDownloadRead:    "securitydomain/download/read",
	SecurityDomainUpload:          "securitydomain/upload/action",
	SecurityDomainUploadRead:      "securitydomain/upload/read",
	SecurityDomainTransferKeyRead: "securitydomain/transferkey/read",
	BackupStart:                   "backup/start/action",
	BackupStatus:                  "backup/status/action",
	RestoreStart:                  "restore/start/action",
	RestoreStatus:                 "restore/status/action",
	RNG:                           "rng/action",
	KeysRotate:                    "keys/rotate/action",
	KeysDerive:                    "keys/derive/action",
	SettingsRead:                  "settings/read/action",
	SettingsWrite:                 "settings/write/action",
	AuditRead:                     "audit/read/action",
}

// String returns the full permission string.
func (a Action) String() string {
	if a > actionInvalid && a < numActions {
		return prefix + actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction parses a permission string. Matching is case-insensitive on
// the whole string, since Azure's documentation spells the namespace both
// "managedHsm" and "managedHSM".
func ParseAction(s string) (Action, error) {
	rest, ok := cutPrefixFold(s, prefix)
	if ok {
		for a := KeysRead; a < numActions; a++ {
			if strings.EqualFold(rest, actionNames[a]) {
				return a, nil
			}
		}
	}
	if strings.Contains(s, "*") {
		return actionInvalid, fmt.Errorf("%w: %q: wildcards are not supported; list the permissions", ErrInvalidAction, trunc(s))
	}
	return actionInvalid, fmt.Errorf("%w: %q", ErrInvalidAction, trunc(s))
}

// AllActions lists every action, Coffer's extensions included.
func AllActions() []Action {
	out := make([]Action, 0, numActions-1)
	for a := KeysRead; a < numActions; a++ {
		out = append(out, a)
	}
	return out
}

func cutPrefixFold(s, p string) (string, bool) {
	if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
		return s[len(p):], true
	}
	return s, false
}

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// actionSet is a bitset over actions.
type actionSet uint64

func (s actionSet) has(a Action) bool { return s&(1<<a) != 0 }

func setOf(as []Action) actionSet {
	var s actionSet
	for _, a := range as {
		s |= 1 << a
	}
	return s
}

func (s actionSet) list() []Action {
	var out []Action
	for a := KeysRead; a < numActions; a++ {
		if s.has(a) {
			out = append(out, a)
		}
	}
	return out
}

// Denied returns the error message Managed HSM gives for a denial
// ("Not authorized to access <action> on <scope>"); callers answer it with
// 403 and code AccessDenied.
func Denied(a Action, s Scope) string {
	return fmt.Sprintf("Not authorized to access %s on %s", a, s)
}
