package api

// Permission is one permission block of a role definition.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinitionProperties are a role definition's properties.
type RoleDefinitionProperties struct {
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	Type             string       `json:"type"`
	Permissions      []Permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

// RoleDefinition is a local RBAC role definition.
type RoleDefinition struct {
	ID         string                    `json:"id"`
	Name       string                    `json:"name"`
	Type       string                    `json:"type"`
	Properties *RoleDefinitionProperties `json:"properties"`
}

// RoleDefinitionCreateParameters is the body of PUT .../roleDefinitions/{name}.
type RoleDefinitionCreateParameters struct {
	Properties *RoleDefinitionProperties `json:"properties"`
}

// RoleDefinitionListResult is a list of role definitions.
type RoleDefinitionListResult struct {
	Value    []RoleDefinition `json:"value"`
	NextLink *string          `json:"nextLink"`
}

// RoleAssignmentProperties are a role assignment's properties.
type RoleAssignmentProperties struct {
	Scope            string `json:"scope,omitempty"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
}

// RoleAssignment is a local RBAC role assignment.
type RoleAssignment struct {
	ID         string                    `json:"id"`
	Name       string                    `json:"name"`
	Type       string                    `json:"type"`
	Properties *RoleAssignmentProperties `json:"properties"`
}

// RoleAssignmentCreateParameters is the body of PUT .../roleAssignments/{name}.
type RoleAssignmentCreateParameters struct {
	Properties *RoleAssignmentProperties `json:"properties"`
}

// RoleAssignmentListResult is a list of role assignments.
type RoleAssignmentListResult struct {
	Value    []RoleAssignment `json:"value"`
	NextLink *string          `json:"nextLink"`
}

// Setting is a pool setting; values are strings.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type,omitempty"`
}

// SettingsListResult is the body of GET /settings.
type SettingsListResult struct {
	Settings []Setting `json:"settings"`
}

// UpdateSettingRequest is the body of PATCH /settings/{name}.
type UpdateSettingRequest struct {
	Value *string `json:"value"`
}

// SASTokenParameter names a blob container and its credential.
type SASTokenParameter struct {
	StorageResourceURI string `json:"storageResourceUri"`
	Token              string `json:"token,omitempty"`
	UseManagedIdentity *bool  `json:"useManagedIdentity,omitempty"`
}

// RestoreOperationParameters is the body of PUT /restore.
type RestoreOperationParameters struct {
	SASTokenParameters *SASTokenParameter `json:"sasTokenParameters"`
	FolderToRestore    string             `json:"folderToRestore"`
}

// SelectiveKeyRestoreOperationParameters is the body of PUT /keys/{name}/restore.
type SelectiveKeyRestoreOperationParameters struct {
	SASTokenParameters *SASTokenParameter `json:"sasTokenParameters"`
	Folder             string             `json:"folder"`
}

// JobError is the error of a failed backup or restore job.
type JobError = Error

// FullBackupOperation is the status of a backup job.
type FullBackupOperation struct {
	Status                       string    `json:"status"`
	StatusDetails                *string   `json:"statusDetails"`
	Error                        *JobError `json:"error"`
	StartTime                    *int64    `json:"startTime"`
	EndTime                      *int64    `json:"endTime"`
	JobID                        string    `json:"jobId"`
	AzureStorageBlobContainerURI *string   `json:"azureStorageBlobContainerUri"`
}

// RestoreOperation is the status of a restore or selective-restore job.
type RestoreOperation struct {
	Status        string    `json:"status"`
	StatusDetails *string   `json:"statusDetails"`
	Error         *JobError `json:"error"`
	JobID         string    `json:"jobId"`
	StartTime     *int64    `json:"startTime"`
	EndTime       *int64    `json:"endTime"`
}

// SecurityDomainObject carries the security-domain file or restore blob as a
// JSON string.
type SecurityDomainObject struct {
	Value string `json:"value"`
}

// SecurityDomainOperationStatus is the status of a download or upload.
type SecurityDomainOperationStatus struct {
	Status        string `json:"status"`
	StatusDetails string `json:"status_details,omitempty"`
}

// TransferKey is the body of GET /securitydomain/upload; TransferKey holds
// the JWK serialised as a JSON string, which is what clients parse.
type TransferKey struct {
	KeyFormat   string `json:"key_format"`
	TransferKey string `json:"transfer_key"`
}
