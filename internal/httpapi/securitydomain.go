package httpapi

import (
	"net/http"

	"github.com/cofferkms/coffer/internal/hsm"
)

// Security domain (api-admin reference §4). Both operations finish before
// they answer; they still answer 202 with an Azure-AsyncOperation URL,
// which Azure's clients read unconditionally and poll.

type securityDomainObject struct {
	Value string `json:"value"`
}

type securityDomainStatus struct {
	Status        string `json:"status"`
	StatusDetails string `json:"status_details"`
}

type transferKey struct {
	KeyFormat string `json:"key_format"`
	// TransferKey is the JWK serialized into a string: the Azure CLI
	// and the Python SDK json.loads it a second time.
	TransferKey string `json:"transfer_key"`
}

func (s *Server) downloadSecurityDomain(w http.ResponseWriter, r *http.Request) error {
	body, err := readRaw(r)
	if err != nil {
		return err
	}
	file, err := poolFrom(r.Context()).DownloadSecurityDomain(r.Context(), callerFrom(r.Context()), body)
	if err != nil {
		return err
	}
	w.Header().Set("Azure-AsyncOperation", baseURL(r)+"/securitydomain/download/pending")
	w.Header().Set("Retry-After", "1")
	return writeJSON(w, http.StatusAccepted, securityDomainObject{Value: string(file)})
}

func (s *Server) securityDomainStatus(upload bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := poolFrom(r.Context()).SecurityDomainOperationStatus(r.Context(), callerFrom(r.Context()), upload)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, wireSDStatus(st))
	}
}

func wireSDStatus(st *hsm.SecurityDomainStatus) securityDomainStatus {
	return securityDomainStatus{Status: st.Status, StatusDetails: st.Details}
}

func (s *Server) getTransferKey(w http.ResponseWriter, r *http.Request) error {
	jwk, err := poolFrom(r.Context()).TransferKey(r.Context(), callerFrom(r.Context()), baseURL(r)+"/transfer_key")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, transferKey{KeyFormat: "jwk", TransferKey: string(jwk)})
}

func (s *Server) uploadSecurityDomain(w http.ResponseWriter, r *http.Request) error {
	var in securityDomainObject
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.Value == "" {
		return badRequest("value is required: the restore blob built from the security-domain file for this HSM's transfer key.")
	}
	st, err := poolFrom(r.Context()).UploadSecurityDomain(r.Context(), callerFrom(r.Context()), []byte(in.Value))
	if err != nil {
		return err
	}
	w.Header().Set("Azure-AsyncOperation", baseURL(r)+"/securitydomain/upload/pending")
	w.Header().Set("Retry-After", "1")
	return writeJSON(w, http.StatusAccepted, wireSDStatus(st))
}
