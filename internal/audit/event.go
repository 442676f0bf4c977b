package audit

import (
	"context"
	"time"
)

// Result types, as Azure's AuditEvent resultType.
const (
	ResultSuccess = "Success"
	ResultFailure = "Failure"
)

// Identity is who made a request, as far as the server could tell.
type Identity struct {
	TenantID string `json:"tid,omitempty"`
	ObjectID string `json:"oid,omitempty"`
	AppID    string `json:"appid,omitempty"`
	UPN      string `json:"upn,omitempty"`
	Type     string `json:"idtyp,omitempty"`
	Issuer   string `json:"iss,omitempty"`
}

// Event is one audited request. Field names follow Azure's AuditEvent
// schema where one exists. An Event never holds plaintext, ciphertext, key
// material, tokens or secrets: only names, identifiers and outcomes.
//
// Seq and PrevHash must stay the first two fields and Hash the last: the
// log's line format depends on that order (see the package doc).
type Event struct {
	// Seq, PrevHash and Hash are set by Manager.Append: the event's place
	// in its log, the hash of the event before it, and its own hash.
	Seq      uint64 `json:"seq"`
	PrevHash string `json:"prev"`

	Time             time.Time `json:"time"`
	Pool             string    `json:"pool,omitempty"`
	OperationName    string    `json:"operationName"`
	OperationVersion string    `json:"operationVersion,omitempty"`
	ResultType       string    `json:"resultType"`
	ResultSignature  string    `json:"resultSignature"`
	HTTPStatusCode   int       `json:"httpStatusCode"`
	ErrorCode        string    `json:"errorCode,omitempty"`
	DurationMs       int64     `json:"durationMs"`
	CallerIPAddress  string    `json:"callerIpAddress,omitempty"`
	Identity         *Identity `json:"identity,omitempty"`
	RequestID        string    `json:"requestId,omitempty"`
	ClientRequestID  string    `json:"clientRequestId,omitempty"`
	RequestURI       string    `json:"requestUri,omitempty"`
	ClientInfo       string    `json:"clientInfo,omitempty"`

	KeyName      string `json:"keyName,omitempty"`
	KeyVersion   string `json:"keyVersion,omitempty"`
	KeyType      string `json:"keyType,omitempty"`
	Algorithm    string `json:"algorithm,omitempty"`
	TargetID     string `json:"targetId,omitempty"` // role assignment, definition, job or setting name
	AssignmentID string `json:"appliedAssignmentId,omitempty"`
	// BreakGlass marks a request allowed only through the Global
	// Administrator recovery path.
	BreakGlass bool   `json:"breakGlass,omitempty"`
	Detail     string `json:"detail,omitempty"`

	Hash string `json:"hash,omitempty"` // always the last member of a line
}

type ctxKey struct{}

// NewContext returns ctx carrying ev, so layers below the HTTP handler can
// annotate the request's event.
func NewContext(ctx context.Context, ev *Event) context.Context {
	return context.WithValue(ctx, ctxKey{}, ev)
}

// FromContext returns the event carried by ctx, or a throwaway event when
// there is none, so callers never need a nil check.
func FromContext(ctx context.Context) *Event {
	if ev, ok := ctx.Value(ctxKey{}).(*Event); ok && ev != nil {
		return ev
	}
	return &Event{}
}
