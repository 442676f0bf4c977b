package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cofferkms/coffer/internal/api"
)

// decodeBody decodes the request's JSON body into v. Unknown fields are
// ignored, as newer clients send fields older api-versions lack; a missing,
// truncated or mistyped body is a BadParameter naming the problem.
func decodeBody(r *http.Request, v any) error {
	body, err := readRaw(r)
	if err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badRequest("The request body is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return badRequest("The request body is not valid: %s", describeJSONError(err))
	}
	if dec.More() {
		return badRequest("The request body is not valid: unexpected data after the JSON value.")
	}
	return nil
}

// readRaw reads the request body, within the server's size limit.
func readRaw(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge",
				message: fmt.Sprintf("The request body is larger than %d bytes.", mbe.Limit)}
		}
		return nil, badRequest("The request body could not be read.")
	}
	return body, nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at offset %d.", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q must be of type %s.", te.Field, jsonTypeName(te.Type.String()))
		}
		return fmt.Sprintf("expected %s.", jsonTypeName(te.Type.String()))
	case errors.Is(err, api.ErrBase64):
		return "a binary field is not valid base64url."
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early."
	}
	return "malformed JSON."
}

func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "api."):
		return "object"
	case strings.HasPrefix(goType, "[]string"):
		return "array of strings"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.Contains(goType, "int"):
		return "integer"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.Contains(goType, "string"):
		return "string"
	}
	return goType
}
