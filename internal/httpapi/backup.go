package httpapi

import (
	"net/http"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/hsm"
)

// Full backup, restore and selective key restore (api-admin reference §2).
// Every operation is a long-running one: 202 with the job's status and an
// absolute Azure-AsyncOperation URL the clients poll.

type sasTokenParameter struct {
	StorageResourceURI string `json:"storageResourceUri"`
	Token              string `json:"token"`
	UseManagedIdentity bool   `json:"useManagedIdentity"`
}

type restoreParameters struct {
	SASTokenParameters *sasTokenParameter `json:"sasTokenParameters"`
	FolderToRestore    string             `json:"folderToRestore"`
}

type selectiveRestoreParameters struct {
	SASTokenParameters *sasTokenParameter `json:"sasTokenParameters"`
	Folder             string             `json:"folder"`
}

type jobError struct {
	Code       *string `json:"code"`
	Message    *string `json:"message"`
	InnerError any     `json:"innererror"`
}

// restoreOperation is RestoreOperation and SelectiveKeyRestoreOperation;
// backupOperation (FullBackupOperation) adds the folder's URL.
type restoreOperation struct {
	Status        string    `json:"status"`
	StatusDetails *string   `json:"statusDetails"`
	Error         *jobError `json:"error"`
	StartTime     int64     `json:"startTime"`
	EndTime       *int64    `json:"endTime"`
	JobID         string    `json:"jobId"`
}

type backupOperation struct {
	restoreOperation
	AzureStorageBlobContainerURI *string `json:"azureStorageBlobContainerUri"`
}

func wireJob(j *hsm.Job) any {
	op := restoreOperation{Status: j.Status, StartTime: j.Start.Unix(), JobID: j.ID}
	if j.Details != "" {
		d := j.Details
		op.StatusDetails = &d
	}
	if !j.End.IsZero() {
		e := j.End.Unix()
		op.EndTime = &e
	}
	if j.Error != nil {
		code, msg := j.Error.Code, j.Error.Message
		op.Error = &jobError{Code: &code, Message: &msg}
	}
	if j.IsRestore() {
		return op
	}
	b := backupOperation{restoreOperation: op}
	if j.FolderURL != "" {
		u := j.FolderURL
		b.AzureStorageBlobContainerURI = &u
	}
	return b
}

// writeJob answers 202 with the job and where to poll it.
func writeJob(w http.ResponseWriter, r *http.Request, j *hsm.Job) error {
	kind := "backup"
	if j.IsRestore() {
		kind = "restore"
	}
	audit.FromContext(r.Context()).TargetID = j.ID
	w.Header().Set("Azure-AsyncOperation", baseURL(r)+"/"+kind+"/"+j.ID+"/pending")
	w.Header().Set("Retry-After", "2")
	return writeJSON(w, http.StatusAccepted, wireJob(j))
}

func (s *Server) fullBackup(pre bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in sasTokenParameter
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		j, err := poolFrom(r.Context()).StartFullBackup(r.Context(), callerFrom(r.Context()), in.StorageResourceURI, in.Token, in.UseManagedIdentity, pre)
		if err != nil {
			return err
		}
		return writeJob(w, r, j)
	}
}

func (s *Server) fullRestore(pre bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in restoreParameters
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		if in.SASTokenParameters == nil && !pre {
			return badRequest("sasTokenParameters is required.")
		}
		if in.SASTokenParameters == nil {
			in.SASTokenParameters = &sasTokenParameter{}
		}
		sp := in.SASTokenParameters
		j, err := poolFrom(r.Context()).StartFullRestore(r.Context(), callerFrom(r.Context()), sp.StorageResourceURI, sp.Token, sp.UseManagedIdentity, in.FolderToRestore, pre)
		if err != nil {
			return err
		}
		return writeJob(w, r, j)
	}
}

func (s *Server) selectiveRestore(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	var in selectiveRestoreParameters
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.SASTokenParameters == nil {
		return badRequest("sasTokenParameters is required.")
	}
	sp := in.SASTokenParameters
	j, err := poolFrom(r.Context()).StartSelectiveRestore(r.Context(), callerFrom(r.Context()), name, sp.StorageResourceURI, sp.Token, sp.UseManagedIdentity, in.Folder)
	if err != nil {
		return err
	}
	return writeJob(w, r, j)
}

func (s *Server) jobStatus(restore bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		audit.FromContext(r.Context()).TargetID = truncate(r.PathValue("id"), 64)
		j, err := poolFrom(r.Context()).JobStatus(r.Context(), callerFrom(r.Context()), r.PathValue("id"), restore)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, wireJob(j))
	}
}
