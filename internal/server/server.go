// Package server assembles a running Coffer server from its parts: the
// store, the node seal and the server's own protected domain, the
// directory and OIDC issuer, the pool registry, the audit log, the TLS
// material and the HTTP front end. It owns start-up, the background
// maintenance loop and graceful shutdown. The coffer command and the
// end-to-end tests both start servers through it.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/backuptarget"
	"github.com/cofferkms/coffer/internal/certs"
	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/directory"
	"github.com/cofferkms/coffer/internal/hsm"
	"github.com/cofferkms/coffer/internal/httpapi"
	"github.com/cofferkms/coffer/internal/metrics"
	"github.com/cofferkms/coffer/internal/mgmt"
	"github.com/cofferkms/coffer/internal/oidc"
	"github.com/cofferkms/coffer/internal/seal"
	"github.com/cofferkms/coffer/internal/seal/pkcs11seal"
	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/boltstore"
)

// Server is an assembled Coffer server.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	seal     seal.NodeSeal
	sys      *seal.Domain
	dir      *directory.Directory
	issuer   *oidc.Issuer
	verifier *oidc.Verifier
	registry *mgmt.Registry
	audit    *audit.Manager
	metrics  *metrics.Metrics
	httpCfg  httpapi.Config // kept so benchmarks can rebuild the stack
	received atomic.Uint64  // requests received, health and metrics excepted
	tls      *certs.Bundle
	handler  *httpapi.Server
	tenant   *directory.Tenant
	boot     *Bootstrap

	auditKeysMu sync.Mutex
	stopMaint   chan struct{}
	maintDone   chan struct{}
}

// testingOnlyWrapStore lets tests observe every store access.
var testingOnlyWrapStore func(store.Store) store.Store

// Verifier returns the token verifier (for its statistics).
func (s *Server) Verifier() *oidc.Verifier { return s.verifier }

// New assembles a server from cfg (already validated).
func New(ctx context.Context, cfg config.Config, logger *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: logger, stopMaint: make(chan struct{}), maintDone: make(chan struct{})}
	defer func() {
		// s, not the result: a failing return sets the result to nil.
		if err != nil {
			if s.audit != nil {
				s.audit.Close()
			}
			s.closeStorage()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", cfg.DataDir, err)
	}
	if s.seal, err = openNodeSeal(cfg); err != nil {
		return nil, err
	}
	logger.Info("node seal open", slog.String("seal", s.seal.Describe()))
	bs, err := boltstore.Open(filepath.Join(cfg.DataDir, "coffer.db"), boltstore.Options{})
	if err != nil {
		return nil, err
	}
	s.store = bs
	if testingOnlyWrapStore != nil {
		s.store = testingOnlyWrapStore(bs)
	}
	if s.sys, err = openOrCreateDomain(ctx, s.store, s.seal, "sys/"); err != nil {
		return nil, err
	}
	if s.dir, err = directory.Open(ctx, directory.Config{Store: s.sys.Store()}); err != nil {
		return nil, err
	}
	if s.tenant, err = s.ensureTenant(ctx); err != nil {
		return nil, err
	}
	if s.issuer, err = oidc.NewIssuer(ctx, oidc.Config{
		Directory: s.dir, Store: s.sys.Store(), TokenLifetime: cfg.TokenLifetime.Duration,
		GroupOverageLimit: cfg.Identity.GroupOverageLimit, FailureBurst: cfg.Identity.FailureBurst,
		FailureRefill: cfg.Identity.FailureRefill.Duration, IMDSResource: cfg.Identity.IMDSResource,
		MHSMSuffix: cfg.DNSSuffix, Logger: logger.With("component", "oidc"),
	}); err != nil {
		return nil, err
	}
	if s.tls, err = certs.Ensure(filepath.Join(cfg.DataDir, "tls"), cfg.CertificateHosts(), time.Now()); err != nil {
		return nil, err
	}
	for _, g := range s.tls.Generated {
		logger.Info("generated TLS material", slog.String("file", g))
	}
	if err := writeFileAtomic(s.CAFile(), s.tls.CAPEM, 0o644); err != nil {
		return nil, err
	}
	external, err := externalIssuers(cfg)
	if err != nil {
		return nil, err
	}
	if s.verifier, err = oidc.NewVerifier(oidc.VerifierConfig{
		Issuer: s.issuer, Directory: s.dir, Audiences: []string{cfg.Audience}, OwnHost: s.ownHost, External: external,
	}); err != nil {
		return nil, err
	}
	// The directory API takes tokens for its own audience (Microsoft
	// Graph's), from this server's issuer only.
	dirVerifier, err := oidc.NewVerifier(oidc.VerifierConfig{
		Issuer: s.issuer, Directory: s.dir, Audiences: []string{httpapi.DirectoryAudience}, OwnHost: s.ownHost,
	})
	if err != nil {
		return nil, err
	}
	targets := backuptarget.New(backuptarget.Config{LocalRoots: cfg.Backup.LocalRoots, AllowHTTP: cfg.Backup.AllowHTTP})
	if s.registry, err = mgmt.Open(ctx, mgmt.Config{
		Store: s.store, System: s.sys.Store(), Seal: s.seal, DNSSuffix: cfg.DNSSuffix, Logger: logger.With("component", "pool"),
		Limits: hsm.Limits(cfg.Limits), AuditLog: auditReader{s},
		BackupTargets: targets.Open, OnJobDone: s.jobDone,
	}); err != nil {
		return nil, err
	}
	s.metrics = metrics.New(metrics.Config{PoolStates: s.poolStates, AuditStatus: func() []audit.LogStatus { return s.audit.Status() },
		Received: func() uint64 { return s.received.Load() }})
	guard, err := metricsGuard(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.openAudit(cfg, s.metrics); err != nil {
		return nil, err
	}
	if cfg.Dev {
		if err := s.bootstrapDev(ctx); err != nil {
			return nil, err
		}
	} else if err := s.bootstrapPools(ctx); err != nil {
		return nil, err
	}
	// Load every log's signing key now: a log first needs it while a
	// request's change is being committed (its event is written inside
	// the store transaction), when the store cannot be read again.
	for _, pool := range append([]string{""}, s.registry.Names()...) {
		if _, err := s.audit.PublicKey(pool); err != nil {
			return nil, fmt.Errorf("loading the audit signing key of %s: %w", audit.LogDirName(pool), err)
		}
	}
	challengeTenant := s.tenant.ID
	if cfg.ChallengeTenant == "adfs" {
		challengeTenant = "adfs"
	}
	s.httpCfg = httpapi.Config{
		Pools: s.registry, Auth: authenticator{s.verifier}, Audit: s.audit,
		Challenge: httpapi.Challenge{Resource: cfg.Audience, Tenant: challengeTenant},
		Identity:  s.issuer, Ops: s.opsHandler(s.metrics, guard), Observer: s.metrics, CAPEM: s.tls.CAPEM,
		Directory:    httpapi.DirectoryConfig{Directory: s.dir, Auth: authenticator{dirVerifier}},
		MaxBodyBytes: cfg.MaxBodyBytes, Logger: logger.With("component", "http"),
	}
	if s.handler, err = httpapi.New(s.httpCfg); err != nil {
		return nil, err
	}
	go s.maintain()
	return s, nil
}

// externalIssuers turns configured issuers into verifier settings, each
// with an HTTP client that trusts its CA file.
func externalIssuers(cfg config.Config) ([]oidc.ExternalIssuer, error) {
	var out []oidc.ExternalIssuer
	for _, e := range cfg.Identity.ExternalIssuers {
		oe := oidc.ExternalIssuer{Issuer: e.Issuer, Audiences: e.Audiences, Algorithms: e.Algorithms, TenantID: e.TenantID,
			ObjectIDClaim: e.ObjectIDClaim, GroupsClaim: e.GroupsClaim, JWKSURL: e.JWKSURL}
		if e.CAFile != "" {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			pem, err := os.ReadFile(e.CAFile)
			if err != nil {
				return nil, fmt.Errorf("external issuer %s: %w", e.Issuer, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("external issuer %s: %s holds no PEM certificate", e.Issuer, e.CAFile)
			}
			oe.HTTPClient = &http.Client{Timeout: 15 * time.Second,
				Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
		out = append(out, oe)
	}
	return out, nil
}

// Reload applies the settings that can change without a restart: the
// trusted external issuers (tokens of issuers no longer trusted stop
// working at once) and new pools (created as at start; existing pools are
// left as they are).
func (s *Server) Reload(cfg config.Config) error {
	external, err := externalIssuers(cfg)
	if err != nil {
		return err
	}
	if err := s.verifier.SetExternalIssuers(external); err != nil {
		return err
	}
	if !s.cfg.Dev {
		if err := s.createPools(context.Background(), cfg.Pools); err != nil {
			return err
		}
		for _, pc := range cfg.Pools {
			if _, err := s.audit.PublicKey(pc.Name); err != nil {
				return fmt.Errorf("loading the audit signing key of %s: %w", pc.Name, err)
			}
		}
	}
	s.log.Info("configuration reloaded", slog.Int("externalIssuers", len(external)), slog.Int("pools", len(s.registry.Names())))
	return nil
}

// openNodeSeal opens the configured node seal. A seal that cannot be
// opened stops the server: it never falls back to another.
func openNodeSeal(cfg config.Config) (seal.NodeSeal, error) {
	if cfg.Seal.Type != "pkcs11" {
		fs, err := seal.OpenFileSeal(filepath.Join(cfg.DataDir, "seal.key"), true)
		if err != nil {
			return nil, err // not a nil *FileSeal in a non-nil interface
		}
		return fs, nil
	}
	k := cfg.Seal.PKCS11
	var pin string
	if k.PINFile != "" {
		b, err := os.ReadFile(k.PINFile)
		if err != nil {
			return nil, fmt.Errorf("seal: reading the PKCS#11 PIN file: %w", err)
		}
		pin = strings.TrimRight(string(b), "\r\n")
		clear(b)
	} else {
		pin = os.Getenv(k.PINEnv)
	}
	if pin == "" {
		return nil, fmt.Errorf("seal: no PKCS#11 PIN: set %s or seal.pkcs11.pinFile", k.PINEnv)
	}
	ns, err := pkcs11seal.Open(pkcs11seal.Config{Library: k.Library, Slot: k.Slot, TokenLabel: k.TokenLabel,
		PIN: pin, KeyLabel: k.KeyLabel, Create: k.CreateKey})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

func openOrCreateDomain(ctx context.Context, st store.Store, ns seal.NodeSeal, root string) (*seal.Domain, error) {
	d, err := seal.OpenDomain(ctx, st, ns, root)
	if errors.Is(err, seal.ErrNoDomain) {
		return seal.CreateDomain(ctx, st, ns, root, keymat.Secret{})
	}
	return d, err
}

func (s *Server) ensureTenant(ctx context.Context) (*directory.Tenant, error) {
	if t, ok := s.dir.DefaultTenant(); ok {
		return t, nil
	}
	return s.dir.CreateTenant(ctx, "coffer")
}

// ownHost reports whether host (from a token's iss) is a name this server
// answers on: loopback names, configured host names, and the DNS suffix
// with its pool hosts.
func (s *Server) ownHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, h := range s.cfg.CertificateHosts() {
		h = strings.ToLower(h)
		if h == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if name, ok := strings.CutSuffix(host, "."+suffix); ok && !strings.Contains(name, ".") {
				return true
			}
		}
	}
	return false
}

// auditKey returns a log's checkpoint signing key, kept in the server's
// protected domain and created on first use.
func (s *Server) auditKey(pool string) (ed25519.PrivateKey, error) {
	s.auditKeysMu.Lock()
	defer s.auditKeysMu.Unlock()
	path := "audit/keys/" + audit.LogDirName(pool)
	var seed []byte
	ctx := context.Background()
	err := s.sys.Store().Update(ctx, func(tx store.Tx) error {
		v, err := tx.Get(path)
		if err == nil {
			seed = v
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		seed = make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		return tx.Put(path, seed)
	})
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit signing key of %s is malformed", audit.LogDirName(pool))
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// CAFile is where the CA certificate clients should trust is written.
func (s *Server) CAFile() string { return filepath.Join(s.cfg.DataDir, certs.CAFile) }

// Handler returns the server's HTTP handler (for in-process tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Bootstrap returns the development bootstrap description (dev mode only).
func (s *Server) Bootstrap() *Bootstrap { return s.boot }

// TLSConfig returns the listener's TLS configuration.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.tls.Certificate}}
}

// Serve listens on the configured address and serves until ctx is done,
// then shuts down gracefully: in-flight requests finish (up to 15 s), the
// audit log is flushed and checkpointed, and the store is closed.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		s.Close()
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln (which it closes).
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           http.HandlerFunc(s.serveCounted),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	s.log.Info("serving", slog.String("address", ln.Addr().String()), slog.String("audience", s.cfg.Audience),
		slog.Any("pools", s.registry.Names()))
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops background work and closes the audit log and the store.
func (s *Server) Close() error {
	select {
	case <-s.stopMaint:
	default:
		close(s.stopMaint)
		<-s.maintDone
	}
	var errs []error
	if s.audit != nil {
		errs = append(errs, s.audit.Close())
	}
	errs = append(errs, s.closeStorage())
	return errors.Join(errs...)
}

func (s *Server) closeStorage() error {
	var errs []error
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.seal != nil {
		errs = append(errs, s.seal.Close())
	}
	return errors.Join(errs...)
}

// jobOperations names a finished backup or restore job in the audit log.
var jobOperations = map[hsm.JobKind]string{
	hsm.JobFullBackup: "FullBackupCompleted", hsm.JobPreBackup: "PreFullBackupCompleted",
	hsm.JobFullRestore: "FullRestoreCompleted", hsm.JobPreRestore: "PreFullRestoreCompleted",
	hsm.JobSelectiveRestore: "SelectiveKeyRestoreCompleted",
}

// jobDone records the end of a backup or restore job: the request that
// started it was audited when it was accepted; its outcome comes later.
func (s *Server) jobDone(pool string, j hsm.Job) {
	ev := &audit.Event{Time: time.Now().UTC(), Pool: pool, OperationName: jobOperations[j.Kind], TargetID: j.ID,
		Identity: &audit.Identity{ObjectID: "system"}, ResultType: audit.ResultSuccess, ResultSignature: "OK", HTTPStatusCode: 200,
		Detail: j.Details}
	if j.Status != "Succeeded" {
		ev.ResultType, ev.ResultSignature, ev.HTTPStatusCode = audit.ResultFailure, "Failed", 500
		if j.Error != nil {
			ev.ErrorCode, ev.Detail = j.Error.Code, j.Error.Message
		}
	}
	if err := s.audit.Append(context.Background(), ev); err != nil {
		s.log.Error("recording a backup or restore job in the audit log", slog.String("pool", pool), slog.Any("err", err))
	}
}

// maintain runs the pools' time-driven work and prunes retired signing
// keys, recording what it did in the audit log.
func (s *Server) maintain() {
	defer close(s.maintDone)
	t := time.NewTicker(s.cfg.MaintenanceInterval.Duration)
	defer t.Stop()
	for {
		select {
		case <-s.stopMaint:
			return
		case <-t.C:
		}
		ctx := context.Background()
		for pool, events := range s.registry.Maintain(ctx) {
			for _, e := range events {
				ev := &audit.Event{Time: time.Now().UTC(), Pool: pool, OperationName: e.Operation, KeyName: e.Key, KeyVersion: e.Version,
					Identity: &audit.Identity{ObjectID: "system"}, ResultType: audit.ResultSuccess, ResultSignature: "OK", HTTPStatusCode: 200,
					Detail: "scheduled by the pool (rotation policy or retention period)"}
				if e.Err != nil {
					ev.ResultType, ev.ResultSignature, ev.HTTPStatusCode, ev.Detail = audit.ResultFailure, "Error", 500, e.Err.Error()
				}
				if err := s.audit.Append(ctx, ev); err != nil {
					s.log.Error("recording maintenance in the audit log", slog.Any("err", err))
				}
			}
		}
		if err := s.issuer.Keys().Prune(ctx); err != nil {
			s.log.Error("pruning signing keys", slog.Any("err", err))
		}
	}
}

// authenticator adapts the OIDC verifier to the HTTP layer.
type authenticator struct{ v *oidc.Verifier }

func (a authenticator) Authenticate(ctx context.Context, bearer string) (*httpapi.Principal, error) {
	id, err := a.v.Verify(ctx, bearer)
	if err != nil {
		return nil, err
	}
	return &httpapi.Principal{TenantID: id.TenantID, ObjectID: id.ObjectID, AppID: id.AppID, UPN: id.UPN, Type: id.Kind,
		Issuer: id.Issuer, Groups: id.Groups, GlobalAdmin: id.GlobalAdmin}, nil
}

// serveCounted counts requests as they arrive, before any of the pipeline
// runs, so the audit log can be checked against an independent count
// (coffer_http_requests_received_total).
func (s *Server) serveCounted(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
	default:
		s.received.Add(1)
	}
	s.handler.ServeHTTP(w, r)
}

// poolStates reports every pool's lifecycle state for metrics.
func (s *Server) poolStates() map[string]string {
	out := map[string]string{}
	for _, name := range s.registry.Names() {
		if p, ok := s.registry.Get(name); ok {
			out[name] = p.State().String()
		}
	}
	return out
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
