package server

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/metrics"
)

// defaultAlertRules apply when the configuration names none: the signs of
// an attack or of a dangerous operation that a security team wants to hear
// about at once.
var defaultAlertRules = []string{
	`{"name":"authentication-failures","kind":"failures","threshold":20,"window":"5m","by":"ip","statuses":[401]}`,
	`{"name":"access-denied","kind":"failures","threshold":20,"window":"5m","by":"principal","statuses":[403]}`,
	`{"name":"break-glass","kind":"breakGlass"}`,
	`{"name":"destructive-or-domain","kind":"operation","operations":["KeyPurge","SecurityDomainBackup","SecurityDomainRestore","FullRestore","SelectiveKeyRestore"]}`,
}

// openAudit opens the audit log with the configured sinks and alerts,
// reporting its write path to m.
func (s *Server) openAudit(cfg config.Config, m *metrics.Metrics) error {
	logger := s.log.With("component", "audit")
	var sinks []audit.Sink
	var alertSinks []audit.AlertSink
	if cfg.Audit.Stdout {
		w, err := audit.NewWriterSink(audit.WriterSinkConfig{W: os.Stdout, Logger: logger})
		if err != nil {
			return err
		}
		sinks = append(sinks, w)
	}
	for i, wc := range cfg.Audit.Webhooks {
		client := &http.Client{Timeout: 10 * time.Second}
		if wc.CAFile != "" {
			pem, err := os.ReadFile(wc.CAFile)
			if err != nil {
				return fmt.Errorf("audit.webhooks[%d].caFile: %w", i, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("audit.webhooks[%d].caFile %s holds no PEM certificate", i, wc.CAFile)
			}
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		}
		header := http.Header{}
		for k, v := range wc.Headers {
			header.Set(k, v)
		}
		w, err := audit.NewWebhookSink(audit.WebhookConfig{URL: wc.URL, Header: header, Client: client, Logger: logger})
		if err != nil {
			return fmt.Errorf("audit.webhooks[%d]: %w", i, err)
		}
		if wc.Events == nil || *wc.Events {
			sinks = append(sinks, w)
		}
		if wc.Alerts == nil || *wc.Alerts {
			alertSinks = append(alertSinks, w)
		}
	}
	raw := cfg.Audit.Alerts
	if raw == nil {
		for _, r := range defaultAlertRules {
			raw = append(raw, json.RawMessage(r))
		}
	}
	var alerts *audit.Alerts
	if len(raw) > 0 {
		rules := make([]audit.Rule, len(raw))
		for i, r := range raw {
			if err := json.Unmarshal(r, &rules[i]); err != nil {
				return fmt.Errorf("audit.alerts[%d]: %w", i, err)
			}
		}
		var err error
		if alerts, err = audit.NewAlerts(audit.AlertsConfig{Rules: rules, Sinks: alertSinks, Logger: logger}); err != nil {
			return fmt.Errorf("audit.alerts: %w", err)
		}
	}
	var err error
	s.audit, err = audit.Open(audit.Config{
		Dir: filepath.Join(cfg.DataDir, "audit"), Signer: s.auditKey, Logger: logger,
		FailOpen: cfg.Audit.FailOpen, RotateBytes: cfg.Audit.RotateBytes, RotateEvery: cfg.Audit.RotateEvery.Duration,
		Retain: cfg.Audit.Retain, RetainFor: cfg.Audit.RetainFor.Duration, CheckpointEvery: cfg.Audit.CheckpointEvery.Duration,
		Sinks: sinks, Alerts: alerts, Observer: m.Observer(),
	})
	return err
}

// opsHandler serves /healthz (the process is up), /readyz (it can answer
// requests: the audit log writes) and /metrics (guarded, see
// config.Metrics).
func (s *Server) opsHandler(m *metrics.Metrics, guard func(*http.Request) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// Only a log that cannot write makes the server unready: requests
		// would be refused. Past troubles (a dropped sink batch, a restored
		// file) are warnings, reported but not fatal.
		err := s.audit.Health()
		var fatal, warn []string
		for _, e := range unjoin(err) {
			if errors.Is(e, audit.ErrUnavailable) {
				fatal = append(fatal, e.Error())
			} else {
				warn = append(warn, e.Error())
			}
		}
		if len(fatal) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready:\n  %s\n", strings.Join(fatal, "\n  "))
		} else {
			w.Write([]byte("ready\n"))
		}
		if len(warn) > 0 {
			fmt.Fprintf(w, "warnings:\n  %s\n", strings.Join(warn, "\n  "))
		}
	})
	metricsHandler := m.Handler()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if err := guard(r); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, err)
			return
		}
		metricsHandler.ServeHTTP(w, r)
	})
	return mux
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// metricsGuard builds the /metrics access check from the configuration.
func metricsGuard(cfg config.Config) (func(*http.Request) error, error) {
	switch {
	case cfg.Metrics.Public || cfg.Dev:
		return func(*http.Request) error { return nil }, nil
	case cfg.Metrics.BearerTokenFile != "":
		b, err := os.ReadFile(cfg.Metrics.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("metrics.bearerTokenFile: %w", err)
		}
		want := []byte(strings.TrimSpace(string(b)))
		if len(want) < 16 {
			return nil, errors.New("metrics.bearerTokenFile: the token must be at least 16 characters")
		}
		return func(r *http.Request) error {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				return errors.New("metrics need the configured bearer token")
			}
			return nil
		}, nil
	}
	return func(*http.Request) error {
		return errors.New("metrics are not enabled: set metrics.public or metrics.bearerTokenFile in the configuration")
	}, nil
}

// auditReader serves the audit API from the log files. It reads the
// manager at call time: pools open before the audit log does.
type auditReader struct{ s *Server }

func (a auditReader) Events(ctx context.Context, pool string, f audit.Filter, after uint64, limit int) ([]audit.Event, bool, error) {
	var out []audit.Event
	for ev, err := range audit.Query(audit.LogDir(filepath.Join(a.s.cfg.DataDir, "audit"), pool), f) {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return out, false, nil
			}
			return nil, false, err
		}
		if ev.Seq <= after {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, *ev)
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
	}
	return out, false, nil
}

func (a auditReader) Checkpoint(ctx context.Context, pool string) (*audit.Checkpoint, ed25519.PublicKey, error) {
	cp, err := a.s.audit.Checkpoint(ctx, pool)
	if err != nil {
		return nil, nil, err
	}
	pub, err := a.s.audit.PublicKey(pool)
	if err != nil {
		return nil, nil, err
	}
	return cp, pub, nil
}
