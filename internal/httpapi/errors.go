package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/cofferkms/coffer/internal/api"
	"github.com/cofferkms/coffer/internal/hsm"
)

// httpError is an error raised by the HTTP layer itself (decoding, routing,
// api-version), already in the wire vocabulary.
type httpError struct {
	status  int
	code    string
	inner   string
	message string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("httpapi: %d %s: %s", e.status, e.code, e.message)
}

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: "BadParameter", message: fmt.Sprintf(format, args...)}
}

var kindStatus = map[hsm.Kind]int{
	hsm.KindBadRequest:      http.StatusBadRequest,
	hsm.KindNotFound:        http.StatusNotFound,
	hsm.KindConflict:        http.StatusConflict,
	hsm.KindForbidden:       http.StatusForbidden,
	hsm.KindUnavailable:     http.StatusServiceUnavailable,
	hsm.KindTooManyRequests: http.StatusTooManyRequests,
}

// render maps an error to its status and wire body. Internal errors get a
// generic message: their detail goes to the log, never to the client.
func (s *Server) render(r *http.Request, err error) (int, *api.ErrorResponse) {
	var he *httpError
	if errors.As(err, &he) {
		body := &api.Error{Code: he.code, Message: he.message}
		if he.inner != "" {
			body.InnerError = &api.Error{Code: he.inner}
		}
		return he.status, &api.ErrorResponse{Error: body}
	}
	var de *hsm.Error
	if errors.As(err, &de) {
		status, ok := kindStatus[de.Kind]
		if !ok {
			status = http.StatusInternalServerError
		}
		body := &api.Error{Code: de.Code, Message: de.Message}
		if de.Inner != "" {
			body.InnerError = &api.Error{Code: de.Inner}
		}
		return status, &api.ErrorResponse{Error: body}
	}
	s.log.Error("internal error", slog.String("requestId", requestIDFrom(r.Context())), slog.String("path", r.URL.Path), slog.Any("err", err))
	return http.StatusInternalServerError, &api.ErrorResponse{Error: &api.Error{
		Code:    "InternalServerError",
		Message: "The server encountered an internal error. Request id: " + requestIDFrom(r.Context()),
	}}
}

// notImplemented answers an operation Coffer does not offer with 501.
func (s *Server) notImplemented(what string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return &httpError{status: http.StatusNotImplemented, code: "NotImplemented",
			message: what + " is not supported by this server: it needs a hardware vendor's attestation, which a software key service cannot provide."}
	}
}
