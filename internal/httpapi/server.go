package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/hsm"
	"github.com/cofferkms/coffer/internal/store"
)

// Principal is an authenticated caller as the token verifier reports it.
type Principal struct {
	TenantID, ObjectID, AppID, UPN, Type, Issuer string
	// Groups are the transitive group ids of the principal.
	Groups      []string
	GlobalAdmin bool
}

// Authenticator verifies bearer tokens. It must be cheap for a token it has
// seen before (no repeated signature verification) while still honouring
// revocation of the principal.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (*Principal, error)
}

// PoolResolver finds the pool a request addresses by its host name.
type PoolResolver interface {
	// PoolForHost returns the pool for host (which may carry a port), or
	// false when no pool answers on that host.
	PoolForHost(host string) (*hsm.Pool, bool)
}

// AuditLog is where request events go. Append returns once the event is
// durable (or the log's policy says it need not wait); an error means the
// event could not be recorded and the request must fail.
type AuditLog interface {
	Append(ctx context.Context, ev *audit.Event) error
	// Writable reports whether pool's log accepts events right now; a
	// state-changing request is refused before it acts when it does not.
	Writable(pool string) bool
}

// RequestObserver sees every answered request's event, after it is
// recorded (for metrics). It must be quick.
type RequestObserver interface {
	ObserveRequest(ev *audit.Event, elapsed time.Duration)
}

// Challenge configures the WWW-Authenticate header of 401 responses.
type Challenge struct {
	// Resource is the token audience clients must ask for, e.g.
	// "https://managedhsm.azure.net" or "https://mhsm.localtest:8443".
	Resource string
	// Tenant is the tenant in the authorization URL: a tenant GUID, or
	// "adfs" for clients configured only through environment variables.
	Tenant string
	// AuthorityHost is the issuer's scheme and host; empty means the host
	// the request came to (the embedded issuer shares the listener).
	AuthorityHost string
}

// Config carries the server's dependencies.
type Config struct {
	Pools     PoolResolver
	Auth      Authenticator
	Audit     AuditLog
	Challenge Challenge
	// Identity serves the embedded issuer's endpoints (token, discovery,
	// JWKS, managed identity); nil disables them.
	Identity http.Handler
	// Ops serves operational endpoints (/healthz, /readyz, /metrics); nil
	// disables them. They are not audited: probes and scrapes every few
	// seconds would bury the requests auditors look for, and /readyz
	// must answer precisely when the audit log cannot.
	Ops http.Handler
	// Observer, if set, sees every request's event (metrics).
	Observer RequestObserver
	// Directory enables the directory administration API.
	Directory DirectoryConfig
	// CAPEM is served at /ca.pem so clients can fetch the trust anchor.
	CAPEM []byte
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
	Now          func() time.Time
}

// Server is the HTTP front end. It implements http.Handler.
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	dirMux *http.ServeMux
	ops    map[string]string // route pattern → audit operation name
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Pools == nil || cfg.Auth == nil || cfg.Audit == nil {
		return nil, errors.New("httpapi: Config.Pools, Config.Auth and Config.Audit are required")
	}
	if cfg.Challenge.Resource == "" || cfg.Challenge.Tenant == "" {
		return nil, errors.New("httpapi: Config.Challenge needs Resource and Tenant")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), ops: make(map[string]string)}
	s.routes()
	s.directoryRoutes()
	return s, nil
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyCaller
	keyPool
)

func requestIDFrom(ctx context.Context) string { s, _ := ctx.Value(keyRequestID).(string); return s }

func callerFrom(ctx context.Context) *hsm.Caller {
	c, _ := ctx.Value(keyCaller).(*hsm.Caller)
	return c
}

func poolFrom(ctx context.Context) *hsm.Pool { p, _ := ctx.Value(keyPool).(*hsm.Pool); return p }

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// bufferedWriter holds a response until the request's audit event is
// durable.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ServeHTTP runs the request pipeline.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ops != nil && isOpsPath(r.URL.Path) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		s.cfg.Ops.ServeHTTP(w, r)
		return
	}
	start := s.cfg.Now()
	reqID := newRequestID()
	ctx := context.WithValue(r.Context(), keyRequestID, reqID)
	ev := &audit.Event{
		Time: start.UTC(), RequestID: reqID, CallerIPAddress: clientIP(r),
		ClientRequestID: truncate(r.Header.Get("x-ms-client-request-id"), 64),
		ClientInfo:      truncate(r.UserAgent(), 256),
		RequestURI:      truncate(requestURI(r), 2048),
	}
	ctx = audit.NewContext(ctx, ev)
	// A request that changes state records its event inside the change's
	// transaction, before the commit (see store.WithCommitHook): a change
	// whose event cannot be made durable does not happen.
	var recorded *audit.Event
	ctx = store.WithCommitHook(ctx, func(ctx context.Context) error {
		status := successStatus(ev.OperationName)
		ev.HTTPStatusCode, ev.ResultSignature, ev.ResultType = status, http.StatusText(status), audit.ResultSuccess
		ev.DurationMs = s.cfg.Now().Sub(start).Milliseconds()
		if err := s.cfg.Audit.Append(ctx, ev); err != nil && !errors.Is(err, audit.ErrTokenInEvent) {
			s.log.Error("audit append failed; the change is not made", slog.String("requestId", reqID), slog.Any("err", err))
			return fmt.Errorf("%w: %w", errAuditUnavailable, err)
		}
		e := *ev
		recorded = &e
		return nil
	})
	r = r.WithContext(ctx)

	bw := &bufferedWriter{header: make(http.Header)}
	bw.header.Set("x-ms-request-id", reqID)
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		bw.header.Set("x-ms-client-request-id", truncate(id, 64))
	}
	bw.header.Set("Cache-Control", "no-cache")
	bw.header.Set("X-Content-Type-Options", "nosniff")
	bw.header.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

	s.dispatch(bw, r, ev)

	if bw.status == 0 {
		bw.status = http.StatusOK
	}
	ev.HTTPStatusCode = bw.status
	ev.ResultSignature = http.StatusText(bw.status)
	ev.ResultType = audit.ResultSuccess
	if bw.status >= 400 {
		ev.ResultType = audit.ResultFailure
	}
	elapsed := s.cfg.Now().Sub(start)
	ev.DurationMs = elapsed.Milliseconds()
	if ev.OperationName == "" {
		ev.OperationName = "Unknown"
	}
	var err error
	switch {
	case recorded == nil:
		err = s.cfg.Audit.Append(ctx, ev)
	case recorded.HTTPStatusCode != ev.HTTPStatusCode:
		// The change was recorded as succeeding but the request ended
		// otherwise (its commit failed after the event was written): say so
		// in a second event naming the first.
		ev.Detail = truncate(fmt.Sprintf("the change recorded as seq %d did not complete: %s", recorded.Seq, ev.ErrorCode), 256)
		ev.Seq, ev.PrevHash, ev.Hash = 0, "", ""
		err = s.cfg.Audit.Append(ctx, ev)
	default:
		*ev = *recorded
		ev.DurationMs = elapsed.Milliseconds()
	}
	if errors.Is(err, audit.ErrTokenInEvent) {
		// The event is on record with the token-like text redacted; the
		// request itself is answered as usual.
		s.log.Warn("audit event carried token-like text, recorded redacted", slog.String("requestId", reqID))
		err = nil
	}
	if s.cfg.Observer != nil {
		if err != nil {
			ev.HTTPStatusCode, ev.ResultType = http.StatusServiceUnavailable, audit.ResultFailure
		}
		s.cfg.Observer.ObserveRequest(ev, elapsed)
	}
	if err != nil {
		// Fail closed: a request whose event is not on record gets no answer
		// but this one.
		s.log.Error("audit append failed; refusing request", slog.String("requestId", reqID), slog.Any("err", err))
		h := w.Header()
		h.Set("x-ms-request-id", reqID)
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
			"code": "AuditUnavailable", "message": "The request could not be recorded in the audit log and was not answered. Retry later. Request id: " + reqID,
		}})
		return
	}
	// A request refused before its body was read (a 401 or a 403) may
	// still be uploading it: read what is left, within the body limit,
	// so an HTTP/2 client is not reset mid-upload before it reads the
	// answer.
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, s.cfg.MaxBodyBytes))
	}
	h := w.Header()
	for k, v := range bw.header {
		h[k] = v
	}
	h.Set("x-ms-server-latency", strconv.FormatInt(elapsed.Milliseconds(), 10))
	if bw.body.Len() > 0 || bw.status != http.StatusNoContent {
		h.Set("Content-Length", strconv.Itoa(bw.body.Len()))
	}
	w.WriteHeader(bw.status)
	w.Write(bw.body.Bytes())
}

// requestURI is the URI for the audit log: scheme, host and path with the
// query string, which carries no secrets on this API.
func requestURI(r *http.Request) string {
	u := "https://" + r.Host + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) dispatch(w *bufferedWriter, r *http.Request, ev *audit.Event) {
	n := normalizePath(r.URL.Path)
	switch {
	case n.path == "/ca.pem" && r.Method == http.MethodGet && len(s.cfg.CAPEM) > 0:
		ev.OperationName = "CACertificateGet"
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.cfg.CAPEM)
		return
	case !n.dataPlane:
		s.serveOther(w, r, n, ev)
		return
	}

	// The data plane. Authentication comes first, before the body, the
	// api-version or the route are looked at: every SDK first sends a
	// bodiless probe and expects the challenge.
	pr, ok := s.authenticate(w, r, ev)
	if !ok {
		return
	}
	caller := &hsm.Caller{TenantID: pr.TenantID, ObjectID: pr.ObjectID, AppID: pr.AppID, UPN: pr.UPN, GlobalAdmin: pr.GlobalAdmin,
		Identities: append([]string{pr.ObjectID}, pr.Groups...)}
	pool, ok := s.cfg.Pools.PoolForHost(r.Host)
	if !ok {
		ev.OperationName = "PoolLookup"
		s.writeError(w, r, &httpError{status: http.StatusNotFound, code: "NotFound",
			message: fmt.Sprintf("No managed HSM pool answers on host %s.", truncate(r.Host, 255))})
		return
	}
	ev.Pool = pool.Name()
	ver, err := checkAPIVersion(r)
	ev.OperationVersion = ver
	if err != nil {
		ev.OperationName = s.routeOperation(r, n)
		s.writeError(w, r, err)
		return
	}
	ctx := context.WithValue(r.Context(), keyCaller, caller)
	ctx = context.WithValue(ctx, keyPool, pool)
	if n.rbac {
		ctx = withScope(ctx, n.scope)
	}
	r2 := r.WithContext(ctx)
	r2.URL.Path = n.path
	r2.URL.RawPath = ""
	r2.Body = http.MaxBytesReader(nil, r.Body, s.cfg.MaxBodyBytes)
	// ServeMux fills in path values only when it dispatches itself, so the
	// lookup just decides between our error shape and the mux.
	if h, pattern := s.mux.Handler(r2); pattern == "" {
		s.routeError(w, r2, h, ev)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.cfg.Audit.Writable(pool.Name()) {
		// The event could not be recorded, so the request would be refused
		// after acting; refuse it before, so nothing changes unrecorded.
		ev.OperationName = s.routeOperation(r, n)
		w.Header().Set("Retry-After", "5")
		s.writeError(w, r, errAuditUnavailable)
		return
	}
	s.mux.ServeHTTP(w, r2)
}

// successStatus is the status a state-changing operation answers with on
// success, which its event records before the answer is written.
func successStatus(op string) int {
	switch op {
	case "RoleDefinitionSet", "RoleAssignmentCreate", "DirectoryTenantCreate", "DirectoryUserCreate", "DirectoryGroupCreate",
		"DirectoryServicePrincipalCreate", "DirectoryCredentialAdd", "DirectoryResourceCreate", "DirectoryManagedIdentityCreate":
		return http.StatusCreated
	case "KeyPurge", "DirectoryPrincipalDelete", "DirectoryUserPasswordSet", "DirectoryGroupMemberAdd", "DirectoryGroupMemberRemove",
		"DirectoryCredentialRemove", "DirectoryResourceDelete":
		return http.StatusNoContent
	case "FullBackup", "FullRestore", "SelectiveKeyRestore", "PreFullBackup", "PreFullRestore", "SecurityDomainBackup", "SecurityDomainRestore":
		return http.StatusAccepted
	}
	return http.StatusOK
}

var errAuditUnavailable = &httpError{status: http.StatusServiceUnavailable, code: "AuditUnavailable",
	message: "The audit log cannot record requests right now, so this request was not carried out. Retry later."}

// isOpsPath reports the operational endpoints, matched exactly.
func isOpsPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// routeError renders the mux's own 404 or 405 in the Key Vault shape.
func (s *Server) routeError(w *bufferedWriter, r *http.Request, h http.Handler, ev *audit.Event) {
	probe := &bufferedWriter{header: make(http.Header)}
	h.ServeHTTP(probe, r)
	ev.OperationName = "Unknown"
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, &httpError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed",
			message: fmt.Sprintf("The method %s is not allowed on %s.", r.Method, truncate(r.URL.Path, 512))})
		return
	}
	s.writeError(w, r, &httpError{status: http.StatusNotFound, code: "NotFound",
		message: fmt.Sprintf("The resource %s was not found.", truncate(r.URL.Path, 512))})
}

func (s *Server) routeOperation(r *http.Request, n normalized) string {
	r2 := r.Clone(r.Context())
	r2.URL.Path = n.path
	if _, pattern := s.mux.Handler(r2); pattern != "" {
		if op, ok := s.ops[pattern]; ok {
			return op
		}
	}
	return "Unknown"
}

// authenticate verifies the bearer token, or answers 401 with the challenge.
func (s *Server) authenticate(w *bufferedWriter, r *http.Request, ev *audit.Event) (*Principal, bool) {
	raw, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var pr *Principal
	var err error
	if found && raw != "" {
		pr, err = s.cfg.Auth.Authenticate(r.Context(), strings.TrimSpace(raw))
	} else {
		err = errors.New("no bearer token")
	}
	if err != nil {
		ev.OperationName = "Authentication"
		ev.Detail = truncate(err.Error(), 256)
		host := s.cfg.Challenge.AuthorityHost
		if host == "" {
			host = "https://" + r.Host
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`,
			strings.TrimRight(host, "/"), s.cfg.Challenge.Tenant, s.cfg.Challenge.Resource))
		w.WriteHeader(http.StatusUnauthorized)
		return nil, false
	}
	ev.Identity = &audit.Identity{TenantID: pr.TenantID, ObjectID: pr.ObjectID, AppID: pr.AppID, UPN: pr.UPN, Type: pr.Type, Issuer: pr.Issuer}
	return pr, true
}

// serveOther handles everything outside the data plane: the identity
// endpoints and operational endpoints.
func (s *Server) serveOther(w *bufferedWriter, r *http.Request, n normalized, ev *audit.Event) {
	first := ""
	if len(n.segments) > 0 {
		first = strings.ToLower(n.segments[0])
	}
	switch {
	case first == "directory" && s.dirMux != nil:
		ev.OperationName = "DirectoryRequest"
		s.serveDirectory(w, r, ev)
	case s.cfg.Identity != nil:
		ev.OperationName = identityOperation(n.segments)
		s.cfg.Identity.ServeHTTP(w, r)
	default:
		ev.OperationName = "Unknown"
		s.writeError(w, r, &httpError{status: http.StatusNotFound, code: "NotFound", message: "The resource was not found."})
	}
}

// identityOperation names identity-endpoint requests for the audit log.
func identityOperation(segs []string) string {
	joined := strings.ToLower(strings.Join(segs, "/"))
	switch {
	case strings.HasSuffix(joined, "oauth2/v2.0/token"), strings.HasSuffix(joined, "oauth2/token"):
		return "TokenIssue"
	case strings.HasPrefix(joined, "msi/token"), strings.HasPrefix(joined, "metadata/identity/oauth2/token"):
		return "ManagedIdentityTokenIssue"
	case strings.Contains(joined, "openid-configuration"):
		return "OpenIDConfigurationGet"
	case strings.Contains(joined, "discovery/") && strings.HasSuffix(joined, "keys"):
		return "JWKSGet"
	case strings.HasPrefix(joined, "subscriptions"), strings.HasPrefix(joined, "tenants"), strings.HasPrefix(joined, "metadata/endpoints"):
		return "CloudMetadataGet"
	}
	return "IdentityRequest"
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
	return nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := s.render(r, err)
	ev := audit.FromContext(r.Context())
	ev.ErrorCode = body.Error.Code
	writeJSON(w, status, body)
}
