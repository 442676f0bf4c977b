package httpapi

import (
	"net/http"

	"github.com/cofferkms/coffer/internal/audit"
)

// handlerFunc is a handler that returns its error; handle renders it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h for pattern under an operation name (Azure's
// AuditEvent operationName where one exists).
func (s *Server) handle(pattern, op string, h handlerFunc) {
	s.ops[pattern] = op
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		audit.FromContext(r.Context()).OperationName = op
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	// Keys. Literal segments are listed before {version} patterns only for
	// reading; ServeMux prefers the most specific pattern regardless.
	s.handle("GET /keys", "KeyList", s.listKeys)
	s.handle("POST /keys/restore", "KeyRestore", s.restoreKey)
	s.handle("POST /keys/{name}/create", "KeyCreate", s.createKey)
	s.handle("PUT /keys/{name}", "KeyImport", s.importKey)
	s.handle("GET /keys/{name}", "KeyGet", s.getKey)
	s.handle("GET /keys/{name}/{version}", "KeyGet", s.getKey)
	s.handle("PATCH /keys/{name}", "KeyUpdate", s.updateKey)
	s.handle("PATCH /keys/{name}/{version}", "KeyUpdate", s.updateKey)
	s.handle("DELETE /keys/{name}", "KeyDelete", s.deleteKey)
	s.handle("GET /keys/{name}/versions", "KeyListVersions", s.listKeyVersions)
	s.handle("POST /keys/{name}/backup", "KeyBackup", s.backupKey)
	s.handle("POST /keys/{name}/rotate", "KeyRotate", s.rotateKey)
	s.handle("GET /keys/{name}/rotationpolicy", "KeyRotationPolicyGet", s.getRotationPolicy)
	s.handle("PUT /keys/{name}/rotationpolicy", "KeyRotationPolicySet", s.updateRotationPolicy)
	for _, op := range []struct{ path, name string }{
		{"encrypt", "KeyEncrypt"}, {"decrypt", "KeyDecrypt"}, {"wrapkey", "KeyWrap"},
		{"unwrapkey", "KeyUnwrap"}, {"sign", "KeySign"}, {"verify", "KeyVerify"},
	} {
		h := s.cryptoHandler(op.path)
		s.handle("POST /keys/{name}/"+op.path, op.name, h)
		s.handle("POST /keys/{name}/{version}/"+op.path, op.name, h)
	}

	// Secure key release and key attestation need an attestation service and
	// an HSM vendor's certificate chain; Coffer has neither yet, and says so.
	for _, pat := range []string{"POST /keys/{name}/release", "POST /keys/{name}/{version}/release"} {
		s.handle(pat, "KeyRelease", s.notImplemented("Secure key release"))
	}
	for _, pat := range []string{"GET /keys/{name}/attestation", "GET /keys/{name}/{version}/attestation"} {
		s.handle(pat, "KeyAttestationGet", s.notImplemented("Key attestation"))
	}

	// Deleted keys.
	s.handle("GET /deletedkeys", "KeyListDeleted", s.listDeletedKeys)
	s.handle("GET /deletedkeys/{name}", "KeyGetDeleted", s.getDeletedKey)
	s.handle("DELETE /deletedkeys/{name}", "KeyPurge", s.purgeDeletedKey)
	s.handle("POST /deletedkeys/{name}/recover", "KeyRecover", s.recoverDeletedKey)

	// Random bytes.
	s.handle("POST /rng", "RandomBytesGet", s.randomBytes)

	// Local RBAC (the scope was split off the path during normalisation).
	const rbac = "/providers/microsoft.authorization"
	s.handle("GET "+rbac+"/roledefinitions", "RoleDefinitionList", s.listRoleDefinitions)
	s.handle("GET "+rbac+"/roledefinitions/{id}", "RoleDefinitionGet", s.getRoleDefinition)
	s.handle("PUT "+rbac+"/roledefinitions/{id}", "RoleDefinitionSet", s.putRoleDefinition)
	s.handle("DELETE "+rbac+"/roledefinitions/{id}", "RoleDefinitionDelete", s.deleteRoleDefinition)
	s.handle("GET "+rbac+"/roleassignments", "RoleAssignmentList", s.listRoleAssignments)
	s.handle("GET "+rbac+"/roleassignments/{id}", "RoleAssignmentGet", s.getRoleAssignment)
	s.handle("PUT "+rbac+"/roleassignments/{id}", "RoleAssignmentCreate", s.createRoleAssignment)
	s.handle("DELETE "+rbac+"/roleassignments/{id}", "RoleAssignmentDelete", s.deleteRoleAssignment)

	// Settings.
	s.handle("GET /settings", "SettingList", s.listSettings)
	s.handle("GET /settings/{name}", "SettingGet", s.getSetting)
	s.handle("PATCH /settings/{name}", "SettingUpdate", s.updateSetting)

	// Full backup and restore.
	s.handle("POST /backup", "FullBackup", s.fullBackup(false))
	s.handle("POST /prebackup", "PreFullBackup", s.fullBackup(true))
	s.handle("GET /backup/{id}/pending", "FullBackupStatus", s.jobStatus(false))
	s.handle("PUT /restore", "FullRestore", s.fullRestore(false))
	s.handle("PUT /prerestore", "PreFullRestore", s.fullRestore(true))
	s.handle("GET /restore/{id}/pending", "RestoreStatus", s.jobStatus(true))
	s.handle("PUT /keys/{name}/restore", "SelectiveKeyRestore", s.selectiveRestore)

	// Security domain.
	s.handle("POST /securitydomain/download", "SecurityDomainBackup", s.downloadSecurityDomain)
	s.handle("GET /securitydomain/download/pending", "SecurityDomainBackupStatusGet", s.securityDomainStatus(false))
	s.handle("GET /securitydomain/upload", "SecurityDomainTransferKeyGet", s.getTransferKey)
	s.handle("POST /securitydomain/upload", "SecurityDomainRestore", s.uploadSecurityDomain)
	s.handle("GET /securitydomain/upload/pending", "SecurityDomainRestoreStatusGet", s.securityDomainStatus(true))

	// Audit log (Coffer extension).
	s.handle("GET /audit/events", "AuditEventsRead", s.listAuditEvents)
	s.handle("GET /audit/checkpoint", "AuditCheckpointGet", s.getAuditCheckpoint)
}
