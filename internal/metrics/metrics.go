package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures the metrics.
type Config struct {
	// PoolStates reports each pool's lifecycle state (e.g. "Active"); it is
	// called at scrape time.
	PoolStates func() map[string]string
	// AuditStatus reports the audit logs' state at scrape time.
	AuditStatus func() []audit.LogStatus
	// Received counts requests as they arrive, before the pipeline, as an
	// independent check on the audit log.
	Received func() uint64
}

// Metrics is the set of Coffer's collectors, registered on a registry of
// its own (so tests can build several).
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	crypto       *prometheus.CounterVec
	denials      *prometheus.CounterVec
	authFailures prometheus.Counter

	auditBatch      *prometheus.HistogramVec
	auditFsync      *prometheus.HistogramVec
	auditQueue      *prometheus.GaugeVec
	auditErrors     *prometheus.CounterVec
	auditRefused    *prometheus.CounterVec
	auditLost       *prometheus.CounterVec
	auditSinkDrops  *prometheus.CounterVec
	auditCheckpoint *prometheus.CounterVec
}

// cryptoOperations are the operations counted by algorithm.
var cryptoOperations = map[string]bool{
	"KeySign": true, "KeyVerify": true, "KeyEncrypt": true, "KeyDecrypt": true, "KeyWrap": true, "KeyUnwrap": true,
}

// New builds the collectors and registers them, with the Go runtime and
// process collectors.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_requests_total", Help: "Requests answered, by pool, operation and HTTP status code.",
	}, []string{"pool", "operation", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "coffer_request_duration_seconds", Help: "Time from receiving a request to its event being durable, by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation"})
	m.crypto = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_crypto_operations_total", Help: "Successful cryptographic operations, by operation and algorithm.",
	}, []string{"operation", "algorithm"})
	m.denials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_authorization_denials_total", Help: "Requests refused by local RBAC (403 AccessDenied), by pool and operation.",
	}, []string{"pool", "operation"})
	m.authFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "coffer_authentication_failures_total", Help: "Data-plane requests refused for a missing, invalid or revoked token (401).",
	})
	m.auditBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "coffer_audit_batch_events", Help: "Events written per group commit (one fsync), by log.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	}, []string{"log"})
	m.auditFsync = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "coffer_audit_write_seconds", Help: "Time of one group commit (write and fsync), by log.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"log"})
	m.auditQueue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "coffer_audit_queue_depth", Help: "Events waiting behind the last group commit, by log.",
	}, []string{"log"})
	m.auditErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_audit_write_errors_total", Help: "Group commits that failed, by log.",
	}, []string{"log"})
	m.auditRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_audit_refused_total", Help: "Requests refused because their event could not be recorded (fail-closed), by log.",
	}, []string{"log"})
	m.auditLost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_audit_lost_total", Help: "Events answered without being known durable (fail-open mode only), by log.",
	}, []string{"log"})
	m.auditSinkDrops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_audit_sink_dropped_total", Help: "Events a forwarding sink (stdout, webhook) could not take, by sink.",
	}, []string{"sink"})
	m.auditCheckpoint = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_audit_checkpoints_total", Help: "Signed checkpoint attempts, by log and result.",
	}, []string{"log", "result"})
	m.reg.MustRegister(m.requests, m.latency, m.crypto, m.denials, m.authFailures,
		m.auditBatch, m.auditFsync, m.auditQueue, m.auditErrors, m.auditRefused, m.auditLost, m.auditSinkDrops, m.auditCheckpoint,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.PoolStates != nil {
		m.reg.MustRegister(&poolStates{fn: cfg.PoolStates, desc: prometheus.NewDesc("coffer_pool_state",
			"1 for each pool's current lifecycle state.", []string{"pool", "state"}, nil)})
	}
	if cfg.Received != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "coffer_http_requests_received_total",
			Help: "Requests received (health and metrics endpoints excepted), counted before any processing; each is one audit event.",
		}, func() float64 { return float64(cfg.Received()) }))
	}
	if cfg.AuditStatus != nil {
		m.reg.MustRegister(&auditStatus{fn: cfg.AuditStatus,
			seq:     prometheus.NewDesc("coffer_audit_sequence", "Sequence number of the last durable event, by log.", []string{"log"}, nil),
			ckpt:    prometheus.NewDesc("coffer_audit_checkpoint_sequence", "Sequence number covered by the last signed checkpoint, by log.", []string{"log"}, nil),
			healthy: prometheus.NewDesc("coffer_audit_writable", "1 when the log accepts events, 0 while it is failing.", []string{"log"}, nil)})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry exposes the registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest implements httpapi.RequestObserver.
func (m *Metrics) ObserveRequest(ev *audit.Event, elapsed time.Duration) {
	op := ev.OperationName
	m.requests.WithLabelValues(ev.Pool, op, strconv.Itoa(ev.HTTPStatusCode)).Inc()
	m.latency.WithLabelValues(op).Observe(elapsed.Seconds())
	switch {
	case ev.HTTPStatusCode == http.StatusUnauthorized:
		m.authFailures.Inc()
	case ev.HTTPStatusCode == http.StatusForbidden && ev.ErrorCode == "AccessDenied":
		m.denials.WithLabelValues(ev.Pool, op).Inc()
	case ev.HTTPStatusCode == http.StatusOK && cryptoOperations[op] && ev.Algorithm != "":
		m.crypto.WithLabelValues(op, ev.Algorithm).Inc()
	}
}

// Observer returns the audit write-path observer.
func (m *Metrics) Observer() audit.Observer { return auditObserver{m} }

type auditObserver struct{ m *Metrics }

func (o auditObserver) Batch(log string, events, queued int, took time.Duration, err error) {
	if err != nil {
		o.m.auditErrors.WithLabelValues(log).Inc()
		return
	}
	o.m.auditBatch.WithLabelValues(log).Observe(float64(events))
	o.m.auditFsync.WithLabelValues(log).Observe(took.Seconds())
	o.m.auditQueue.WithLabelValues(log).Set(float64(queued))
}

func (o auditObserver) Checkpoint(log string, _ uint64, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	o.m.auditCheckpoint.WithLabelValues(log, result).Inc()
}

func (o auditObserver) Lost(log string, n int) { o.m.auditLost.WithLabelValues(log).Add(float64(n)) }
func (o auditObserver) Refused(log string, n int) {
	o.m.auditRefused.WithLabelValues(log).Add(float64(n))
}
func (o auditObserver) SinkDropped(sink string, n int) {
	o.m.auditSinkDrops.WithLabelValues(sink).Add(float64(n))
}

type poolStates struct {
	fn   func() map[string]string
	desc *prometheus.Desc
}

func (p *poolStates) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }
func (p *poolStates) Collect(ch chan<- prometheus.Metric) {
	for pool, state := range p.fn() {
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, 1, pool, state)
	}
}

type auditStatus struct {
	fn                 func() []audit.LogStatus
	seq, ckpt, healthy *prometheus.Desc
}

func (a *auditStatus) Describe(ch chan<- *prometheus.Desc) {
	ch <- a.seq
	ch <- a.ckpt
	ch <- a.healthy
}
func (a *auditStatus) Collect(ch chan<- prometheus.Metric) {
	for _, st := range a.fn() {
		ch <- prometheus.MustNewConstMetric(a.seq, prometheus.GaugeValue, float64(st.Seq), st.Log)
		ch <- prometheus.MustNewConstMetric(a.ckpt, prometheus.GaugeValue, float64(st.CheckpointSeq), st.Log)
		ok := 1.0
		if st.Err != nil {
			ok = 0
		}
		ch <- prometheus.MustNewConstMetric(a.healthy, prometheus.GaugeValue, ok, st.Log)
	}
}
