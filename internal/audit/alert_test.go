package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// captureAlerts is an AlertSink that keeps what it gets.
type captureAlerts struct {
	mu     sync.Mutex
	alerts []Alert
}

func (c *captureAlerts) Alert(a Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts = append(c.alerts, a)
}

func (c *captureAlerts) get() []Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Alert(nil), c.alerts...)
}

var alertT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// failedAuth is an unauthenticated request answered 401.
func failedAuth(pool, ip string, at time.Duration, n int) *Event {
	return &Event{
		Time: alertT0.Add(at), Pool: pool, OperationName: "Authentication", ResultType: ResultFailure,
		ResultSignature: "Unauthorized", HTTPStatusCode: 401, CallerIPAddress: ip, RequestID: fmt.Sprintf("%s-%d", ip, n),
	}
}

func newTestAlerts(t *testing.T, rules ...Rule) (*Alerts, *captureAlerts, *syncBuffer) {
	t.Helper()
	sink := &captureAlerts{}
	logs := &syncBuffer{}
	a, err := NewAlerts(AlertsConfig{Rules: rules, Sinks: []AlertSink{sink}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("NewAlerts() error = %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a, sink, logs
}

// flush waits for delivery of everything observed so far.
func flush(t *testing.T, a *Alerts) {
	t.Helper()
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// key is what tests compare alerts on.
type alertSummary struct {
	Rule, IP, Principal, Operation string
	Count                          int
	Start                          time.Duration
}

func summarize(as []Alert) []alertSummary {
	var out []alertSummary
	for _, a := range as {
		out = append(out, alertSummary{a.Rule, a.IP, a.Principal, a.Operation, a.Count, a.WindowStart.Sub(alertT0)})
	}
	return out
}

func TestAlertsFailureBurst(t *testing.T) {
	a, sink, logs := newTestAlerts(t, Rule{Name: "spray", Kind: RuleFailures, Threshold: 10, Window: time.Minute, By: ByIP})
	// 50 failures from one IP within the window: one alert.
	for i := range 50 {
		a.Observe(failedAuth("p1", "192.0.2.1", time.Duration(i)*100*time.Millisecond, i))
	}
	// Another IP: its own alert.
	for i := range 50 {
		a.Observe(failedAuth("p1", "192.0.2.2", 10*time.Second+time.Duration(i)*100*time.Millisecond, i))
	}
	// Below the threshold: nothing.
	for i := range 9 {
		a.Observe(failedAuth("p1", "192.0.2.3", 20*time.Second, i))
	}
	// Successes and other statuses do not count.
	for i := range 20 {
		ok := failedAuth("p1", "192.0.2.4", 20*time.Second, i)
		ok.ResultType, ok.HTTPStatusCode = ResultSuccess, 200
		a.Observe(ok)
		nf := failedAuth("p1", "192.0.2.4", 20*time.Second, i)
		nf.HTTPStatusCode = 404
		a.Observe(nf)
	}
	// After the window, a new burst from the first IP fires again.
	for i := range 50 {
		a.Observe(failedAuth("p1", "192.0.2.1", 2*time.Minute+time.Duration(i)*100*time.Millisecond, 100+i))
	}
	// The same IP against another pool is another key.
	for i := range 10 {
		a.Observe(failedAuth("p2", "192.0.2.1", 2*time.Minute, 200+i))
	}
	flush(t, a)
	got := sink.get()
	want := []alertSummary{
		{Rule: "spray", IP: "192.0.2.1", Count: 10, Start: 0},
		{Rule: "spray", IP: "192.0.2.2", Count: 10, Start: 10 * time.Second},
		{Rule: "spray", IP: "192.0.2.1", Count: 10, Start: 2 * time.Minute},
		{Rule: "spray", IP: "192.0.2.1", Count: 10, Start: 2 * time.Minute},
	}
	if diff := cmp.Diff(want, summarize(got)); diff != "" {
		t.Errorf("alerts mismatch (-want +got):\n%s", diff)
	}
	if len(got) == 4 && (got[0].Pool != "p1" || got[3].Pool != "p2") {
		t.Errorf("alert pools = %q, %q, want p1, p2", got[0].Pool, got[3].Pool)
	}
	if len(got) > 0 && len(got[0].SampleRequestIDs) != maxSamples {
		t.Errorf("SampleRequestIDs = %v, want %d samples", got[0].SampleRequestIDs, maxSamples)
	}
	if a.Fired() != 4 {
		t.Errorf("Fired() = %d, want 4", a.Fired())
	}
	if n := strings.Count(logs.String(), "audit alert"); n != 4 {
		t.Errorf("server log has %d alerts, want 4", n)
	}
}

func TestAlertsByPrincipal(t *testing.T) {
	a, sink, _ := newTestAlerts(t, Rule{Name: "denied", Kind: RuleFailures, Threshold: 3, By: ByPrincipal})
	for i := range 5 {
		ev := failedAuth("p1", fmt.Sprintf("198.51.100.%d", i), time.Duration(i)*time.Second, i)
		ev.HTTPStatusCode, ev.Identity = 403, &Identity{ObjectID: "oid-mallory"}
		a.Observe(ev)
	}
	for i := range 5 {
		a.Observe(failedAuth("p1", "198.51.100.9", 0, i)) // unauthenticated: no principal to count
	}
	flush(t, a)
	want := []alertSummary{{Rule: "denied", Principal: "oid-mallory", Count: 3}}
	if diff := cmp.Diff(want, summarize(sink.get())); diff != "" {
		t.Errorf("alerts mismatch (-want +got):\n%s", diff)
	}
}

func TestAlertsOperationAndBreakGlass(t *testing.T) {
	a, sink, _ := newTestAlerts(t,
		Rule{Name: "destructive", Kind: RuleOperation, Operations: []string{"KeyPurge", "SecurityDomainBackup"}, Window: time.Hour},
		Rule{Name: "break-glass", Kind: RuleBreakGlass, Window: time.Hour},
	)
	ev := func(op, oid string, at time.Duration, bg bool) *Event {
		return &Event{Time: alertT0.Add(at), Pool: "p1", OperationName: op, ResultType: ResultSuccess, HTTPStatusCode: 200,
			Identity: &Identity{ObjectID: oid}, CallerIPAddress: "10.1.1.1", BreakGlass: bg, RequestID: op + oid}
	}
	for i := range 5 {
		a.Observe(ev("KeyPurge", "oid-a", time.Duration(i)*time.Second, false)) // one alert for the burst
	}
	a.Observe(ev("KeyPurge", "oid-b", 0, false))
	a.Observe(ev("SecurityDomainBackup", "oid-a", 0, false))
	a.Observe(ev("KeyGet", "oid-a", 0, false))
	a.Observe(ev("RoleAssignmentList", "oid-ga", 0, true))
	a.Observe(ev("RoleAssignmentList", "oid-ga", time.Minute, true))
	a.Observe(ev("KeyPurge", "oid-a", 2*time.Hour, false)) // the next window
	flush(t, a)
	want := []alertSummary{
		{Rule: "destructive", Principal: "oid-a", IP: "10.1.1.1", Operation: "KeyPurge", Count: 1},
		{Rule: "destructive", Principal: "oid-b", IP: "10.1.1.1", Operation: "KeyPurge", Count: 1},
		{Rule: "destructive", Principal: "oid-a", IP: "10.1.1.1", Operation: "SecurityDomainBackup", Count: 1},
		{Rule: "break-glass", Principal: "oid-ga", IP: "10.1.1.1", Operation: "RoleAssignmentList", Count: 1},
		{Rule: "destructive", Principal: "oid-a", IP: "10.1.1.1", Operation: "KeyPurge", Count: 1, Start: 2 * time.Hour},
	}
	if diff := cmp.Diff(want, summarize(sink.get())); diff != "" {
		t.Errorf("alerts mismatch (-want +got):\n%s", diff)
	}
}

func TestAlertsKeyBound(t *testing.T) {
	sink := &captureAlerts{}
	logs := &syncBuffer{}
	a, err := NewAlerts(AlertsConfig{
		Rules: []Rule{{Name: "spray", Kind: RuleFailures, Threshold: 2}}, Sinks: []AlertSink{sink},
		Logger: slog.New(slog.NewTextHandler(logs, nil)), MaxKeys: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	for ip := range 3 {
		for i := range 2 {
			a.Observe(failedAuth("p1", fmt.Sprintf("203.0.113.%d", ip), 0, i))
		}
	}
	flush(t, a)
	if n := len(sink.get()); n != 2 {
		t.Errorf("alerts with MaxKeys 2 = %d, want 2", n)
	}
	if !strings.Contains(logs.String(), "counters full") {
		t.Errorf("server log does not report full counters:\n%s", logs)
	}
}

func TestAlertsThroughManager(t *testing.T) {
	a, sink, _ := newTestAlerts(t, Rule{Name: "spray", Kind: RuleFailures, Threshold: 5, By: ByIP})
	m, _ := openTest(t, Config{Alerts: a})
	for i := range 8 {
		if err := m.Append(t.Context(), failedAuth("", "192.0.2.7", time.Duration(i)*time.Millisecond, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil { // closes the alerts too, delivering them
		t.Fatal(err)
	}
	want := []alertSummary{{Rule: "spray", IP: "192.0.2.7", Count: 5}}
	if diff := cmp.Diff(want, summarize(sink.get())); diff != "" {
		t.Errorf("alerts mismatch (-want +got):\n%s", diff)
	}
}

func TestRuleJSON(t *testing.T) {
	const config = `[
		{"name":"auth-spray","kind":"failures","threshold":50,"window":"5m","by":"ip"},
		{"name":"denied","kind":"failures","threshold":20,"window":"1m","by":"principal","statuses":[403]},
		{"name":"destructive","kind":"operation","operations":["KeyPurge","SecurityDomainBackup"]},
		{"name":"break-glass","kind":"breakGlass"}
	]`
	var got []Rule
	if err := json.Unmarshal([]byte(config), &got); err != nil {
		t.Fatalf("json.Unmarshal(rules) error = %v", err)
	}
	want := []Rule{
		{Name: "auth-spray", Kind: RuleFailures, Threshold: 50, Window: 5 * time.Minute, By: ByIP},
		{Name: "denied", Kind: RuleFailures, Threshold: 20, Window: time.Minute, By: ByPrincipal, Statuses: []int{403}},
		{Name: "destructive", Kind: RuleOperation, Operations: []string{"KeyPurge", "SecurityDomainBackup"}},
		{Name: "break-glass", Kind: RuleBreakGlass},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules mismatch (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var again []Rule
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("rules changed in a round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"name":"x","kind":"nope"}`, `{"name":"x","kind":"failures","by":"moon"}`, `{"name":"x","kind":"failures","window":"soon"}`} {
		var r Rule
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("json.Unmarshal(%s) error = nil, want an error", bad)
		}
	}
}

func TestNewAlertsRejects(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
	}{
		{name: "no name", rules: []Rule{{Kind: RuleBreakGlass}}},
		{name: "duplicate name", rules: []Rule{{Name: "a", Kind: RuleBreakGlass}, {Name: "a", Kind: RuleBreakGlass}}},
		{name: "no kind", rules: []Rule{{Name: "a"}}},
		{name: "operation without operations", rules: []Rule{{Name: "a", Kind: RuleOperation}}},
		{name: "negative window", rules: []Rule{{Name: "a", Kind: RuleBreakGlass, Window: -time.Second}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := NewAlerts(AlertsConfig{Rules: tc.rules}); err == nil {
				a.Close(t.Context())
				t.Errorf("NewAlerts(%+v) error = nil, want an error", tc.rules)
			}
		})
	}
}

// blockingAlerts is an AlertSink stuck until released.
type blockingAlerts struct{ release chan struct{} }

func (b blockingAlerts) Alert(Alert) { <-b.release }

func TestAlertsQueueOverflow(t *testing.T) {
	sink := blockingAlerts{make(chan struct{})}
	logs := &syncBuffer{}
	a, err := NewAlerts(AlertsConfig{
		Rules: []Rule{{Name: "destructive", Kind: RuleOperation, Operations: []string{"KeyPurge"}}},
		Sinks: []AlertSink{sink}, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1200
	start := time.Now()
	for i := range n {
		a.Observe(&Event{Time: alertT0, Pool: "p1", OperationName: "KeyPurge", Identity: &Identity{ObjectID: fmt.Sprint("oid-", i)}})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Observe took %v behind a stuck alert sink, want it not to block", d)
	}
	if a.Fired() != n || a.Dropped() == 0 {
		t.Errorf("Fired() = %d, Dropped() = %d, want %d fired and some dropped", a.Fired(), a.Dropped(), n)
	}
	if !strings.Contains(logs.String(), "alert queue full") {
		t.Errorf("server log does not report dropped alerts")
	}
	close(sink.release)
	a.Close(t.Context())
}
