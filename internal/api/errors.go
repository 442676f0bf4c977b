package api

// ErrorResponse is the Key Vault error envelope:
// {"error":{"code":"…","message":"…","innererror":{"code":"…"}}}.
type ErrorResponse struct {
	Error *Error `json:"error"`
}

// Error is one error, optionally with a nested inner error.
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	InnerError *Error `json:"innererror,omitempty"`
}
