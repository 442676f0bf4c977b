package oidc

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
)

// oauthError is an OAuth 2.0 error response in Entra's shape: an error
// code, an AADSTS number and a description. Handlers return it; the
// issuer's adapter renders it.
type oauthError struct {
	status     int
	code       string
	aadsts     int
	desc       string
	retryAfter time.Duration
	// authFailure marks a failed authentication, which counts against the
	// caller's rate limit.
	authFailure bool
}

func (e *oauthError) Error() string {
	if e.aadsts == 0 {
		return fmt.Sprintf("oidc: %s: %s", e.code, e.desc)
	}
	return fmt.Sprintf("oidc: %s (AADSTS%d): %s", e.code, e.aadsts, e.desc)
}

func badRequest(aadsts int, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

func missingParameter(name string) *oauthError {
	return badRequest(900144, "The request body must contain the following parameter: '%s'.", name)
}

func invalidClient(aadsts int, desc string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: aadsts, desc: desc, authFailure: true}
}

// armError is a Resource Manager error ({"error":{"code","message"}}),
// for the few ARM endpoints the issuer answers.
type armError struct {
	status  int
	code    string
	message string
}

func (e *armError) Error() string { return fmt.Sprintf("oidc: %s: %s", e.code, e.message) }

// handlerFunc is an endpoint that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (i *Issuer) handle(pattern string, h handlerFunc) {
	i.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			i.writeError(w, r, err)
		}
	})
}

// writeError is the one place identity endpoints turn errors into
// responses. Unexpected errors are logged and answered generically.
func (i *Issuer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *armError
	if errors.As(err, &ae) {
		writeJSON(w, ae.status, map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
		return
	}
	var oe *oauthError
	if !errors.As(err, &oe) {
		i.log.Error("identity endpoint failed", slog.String("path", truncate(r.URL.Path, 200)), slog.Any("err", err))
		oe = &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "The server could not complete the request."}
	}
	now := i.cfg.Now().UTC()
	traceID, correlationID := directory.NewGUID(), correlationOf(r)
	desc := oe.desc
	if oe.aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", oe.aadsts, desc)
	}
	stamp := now.Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error":             oe.code,
		"error_description": fmt.Sprintf("%s Trace ID: %s Correlation ID: %s Timestamp: %s", desc, traceID, correlationID, stamp),
		"timestamp":         stamp,
		"trace_id":          traceID,
		"correlation_id":    correlationID,
	}
	if oe.aadsts != 0 {
		body["error_codes"] = []int{oe.aadsts}
	}
	if oe.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int64(math.Ceil(oe.retryAfter.Seconds()))))
	}
	writeJSON(w, oe.status, body)
}

// correlationOf echoes the client's request id (MSAL sends one as a header
// or, from JS, a query parameter) when it is a GUID.
func correlationOf(r *http.Request) string {
	for _, v := range []string{r.Header.Get("client-request-id"), r.URL.Query().Get("client-request-id")} {
		if isGUID(v) {
			return v
		}
	}
	return directory.NewGUID()
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
