package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserveRequest(t *testing.T) {
	m := New(Config{})
	events := []audit.Event{
		{Pool: "p", OperationName: "KeySign", HTTPStatusCode: 200, Algorithm: "ES256"},
		{Pool: "p", OperationName: "KeySign", HTTPStatusCode: 200, Algorithm: "ES256"},
		{Pool: "p", OperationName: "KeySign", HTTPStatusCode: 400, Algorithm: "ES256"},
		{Pool: "p", OperationName: "KeyCreate", HTTPStatusCode: 403, ErrorCode: "AccessDenied"},
		{Pool: "p", OperationName: "KeyCreate", HTTPStatusCode: 403, ErrorCode: "Forbidden"},
		{Pool: "p", OperationName: "Authentication", HTTPStatusCode: 401},
	}
	for i := range events {
		m.ObserveRequest(&events[i], time.Millisecond)
	}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"requests KeySign 200", testutil.ToFloat64(m.requests.WithLabelValues("p", "KeySign", "200")), 2},
		{"requests KeySign 400", testutil.ToFloat64(m.requests.WithLabelValues("p", "KeySign", "400")), 1},
		{"crypto KeySign ES256 (successes only)", testutil.ToFloat64(m.crypto.WithLabelValues("KeySign", "ES256")), 2},
		{"denials KeyCreate (AccessDenied only)", testutil.ToFloat64(m.denials.WithLabelValues("p", "KeyCreate")), 1},
		{"authentication failures", testutil.ToFloat64(m.authFailures), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.latency); n != 3 {
		t.Errorf("latency series = %d, want 3 (one per operation)", n)
	}
}

func TestAuditObserverAndScrape(t *testing.T) {
	m := New(Config{
		PoolStates: func() map[string]string { return map[string]string{"p": "Active", "q": "ActivationPending"} },
		AuditStatus: func() []audit.LogStatus {
			return []audit.LogStatus{{Log: "p", Seq: 42, CheckpointSeq: 40}, {Log: "q", Err: errors.New("disk full")}}
		},
	})
	o := m.Observer()
	o.Batch("p", 16, 3, 2*time.Millisecond, nil)
	o.Batch("p", 0, 0, 0, errors.New("ENOSPC"))
	o.Refused("p", 2)
	o.Lost("p", 1)
	o.SinkDropped("webhook", 5)
	o.Checkpoint("p", 42, nil)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`coffer_audit_batch_events_sum{log="p"} 16`,
		`coffer_audit_queue_depth{log="p"} 3`,
		`coffer_audit_write_errors_total{log="p"} 1`,
		`coffer_audit_refused_total{log="p"} 2`,
		`coffer_audit_lost_total{log="p"} 1`,
		`coffer_audit_sink_dropped_total{sink="webhook"} 5`,
		`coffer_audit_checkpoints_total{log="p",result="ok"} 1`,
		`coffer_pool_state{pool="q",state="ActivationPending"} 1`,
		`coffer_audit_sequence{log="p"} 42`,
		`coffer_audit_writable{log="q"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
