package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RuleKind is what an alert rule watches.
type RuleKind uint8

const (
	ruleKindInvalid RuleKind = iota
	// RuleFailures counts failed requests (by HTTP status) per principal
	// or per caller IP and fires when Threshold of them fall in Window.
	RuleFailures
	// RuleOperation fires when one of Operations is performed.
	RuleOperation
	// RuleBreakGlass fires when a request was allowed only through the
	// Global Administrator recovery path (Event.BreakGlass).
	RuleBreakGlass
)

var ruleKindNames = [...]string{RuleFailures: "failures", RuleOperation: "operation", RuleBreakGlass: "breakGlass"}

// String returns the kind's configuration name.
func (k RuleKind) String() string {
	if int(k) < len(ruleKindNames) && ruleKindNames[k] != "" {
		return ruleKindNames[k]
	}
	return fmt.Sprintf("RuleKind(%d)", uint8(k))
}

// MarshalText writes the configuration name; the zero kind is an error.
func (k RuleKind) MarshalText() ([]byte, error) {
	if k == ruleKindInvalid || int(k) >= len(ruleKindNames) {
		return nil, fmt.Errorf("audit: cannot marshal %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a configuration name ("failures", "operation",
// "breakGlass").
func (k *RuleKind) UnmarshalText(b []byte) error {
	if i := slices.Index(ruleKindNames[:], string(b)); i > 0 {
		*k = RuleKind(i)
		return nil
	}
	return fmt.Errorf("audit: unknown alert rule kind %q", b)
}

// AlertBy is what a failures rule counts per.
type AlertBy uint8

const (
	alertByInvalid AlertBy = iota
	ByIP                   // the caller's IP address
	ByPrincipal            // the authenticated principal (unauthenticated failures are not counted)
)

var alertByNames = [...]string{ByIP: "ip", ByPrincipal: "principal"}

// String returns the grouping's configuration name.
func (b AlertBy) String() string {
	if int(b) < len(alertByNames) && alertByNames[b] != "" {
		return alertByNames[b]
	}
	return fmt.Sprintf("AlertBy(%d)", uint8(b))
}

// MarshalText writes the configuration name; the zero value is an error.
func (b AlertBy) MarshalText() ([]byte, error) {
	if b == alertByInvalid || int(b) >= len(alertByNames) {
		return nil, fmt.Errorf("audit: cannot marshal %v", b)
	}
	return []byte(b.String()), nil
}

// UnmarshalText reads a configuration name ("ip", "principal").
func (b *AlertBy) UnmarshalText(t []byte) error {
	if i := slices.Index(alertByNames[:], string(t)); i > 0 {
		*b = AlertBy(i)
		return nil
	}
	return fmt.Errorf("audit: unknown alert grouping %q", t)
}

// Rule is one alert rule, written as data in the server configuration:
//
//	{"name":"auth-spray","kind":"failures","threshold":50,"window":"5m","by":"ip"}
//	{"name":"destructive","kind":"operation","operations":["KeyPurge","SecurityDomainBackup"]}
//	{"name":"break-glass","kind":"breakGlass"}
//
// Whatever the kind, a rule fires at most once per Window for one key
// (pool plus IP, principal or operation): a burst is one alert, not a
// storm.
type Rule struct {
	Name string
	Kind RuleKind
	// Threshold is how many matching events in Window fire the rule
	// (failures: default 10; other kinds: 1).
	Threshold int
	// Window is the counting window and the quiet period after a firing
	// (default 5 minutes).
	Window time.Duration
	// By groups failures (default ByIP).
	By AlertBy
	// Statuses are the HTTP statuses that count as failures (default 401
	// and 403).
	Statuses []int
	// Operations are the operation names an operation rule watches.
	Operations []string
}

type ruleJSON struct {
	Name       string   `json:"name"`
	Kind       RuleKind `json:"kind"`
	Threshold  int      `json:"threshold,omitempty"`
	Window     string   `json:"window,omitempty"`
	By         AlertBy  `json:"by,omitempty"`
	Statuses   []int    `json:"statuses,omitempty"`
	Operations []string `json:"operations,omitempty"`
}

// MarshalJSON writes the window as a Go duration ("5m0s").
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{Name: r.Name, Kind: r.Kind, Threshold: r.Threshold, Statuses: r.Statuses, Operations: r.Operations}
	if r.Window != 0 {
		j.Window = r.Window.String()
	}
	if r.By != alertByInvalid {
		j.By = r.By
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a rule, the window as a Go duration ("5m").
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j ruleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Rule{Name: j.Name, Kind: j.Kind, Threshold: j.Threshold, By: j.By, Statuses: j.Statuses, Operations: j.Operations}
	if j.Window != "" {
		d, err := time.ParseDuration(j.Window)
		if err != nil {
			return fmt.Errorf("audit: alert rule %q: window: %w", j.Name, err)
		}
		r.Window = d
	}
	return nil
}

// Alert is one firing of a rule.
type Alert struct {
	Rule             string    `json:"rule"`
	Kind             RuleKind  `json:"kind"`
	Time             time.Time `json:"time"`        // the event that fired it
	WindowStart      time.Time `json:"windowStart"` // the first event counted
	Pool             string    `json:"pool,omitempty"`
	Principal        string    `json:"principal,omitempty"`
	IP               string    `json:"ip,omitempty"`
	Operation        string    `json:"operation,omitempty"`
	Count            int       `json:"count"`
	SampleRequestIDs []string  `json:"sampleRequestIds,omitempty"`
}

// AlertSink receives alerts. Alert must not block for long: alerts are
// delivered from one goroutine, in order.
type AlertSink interface {
	Alert(Alert)
}

// AlertsConfig configures an Alerts engine.
type AlertsConfig struct {
	Rules []Rule
	// Sinks receive every alert (a WebhookSink is one); every alert is
	// also written to Logger.
	Sinks  []AlertSink
	Logger *slog.Logger
	// MaxKeys bounds the (rule, pool, key) counters kept at once (default
	// 100000), so a spray from many addresses cannot exhaust memory.
	MaxKeys int
}

// Alerts evaluates rules over the stream of events. Observe is cheap and
// safe for concurrent use; alerts are delivered on a goroutine of their
// own, so a slow sink never slows a request.
type Alerts struct {
	cfg   AlertsConfig
	rules []Rule

	mu        sync.Mutex
	state     map[alertKey]*alertWindow
	lastSweep time.Time
	overflow  limiter

	out     chan Alert
	closed  atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	fired   atomic.Uint64
	dropped atomic.Uint64
	dropLim limiter // guarded by mu
}

type alertKey struct {
	rule      int
	pool, key string
}

type alertWindow struct {
	start   time.Time
	count   int
	fired   bool
	samples []string
}

const maxSamples = 5

// NewAlerts checks the rules, fills in defaults and starts delivery.
func NewAlerts(cfg AlertsConfig) (*Alerts, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100000
	}
	rules := make([]Rule, len(cfg.Rules))
	names := map[string]bool{}
	for i, r := range cfg.Rules {
		if r.Name == "" || names[r.Name] {
			return nil, fmt.Errorf("audit: alert rule %d needs a unique name", i+1)
		}
		names[r.Name] = true
		if r.Window == 0 {
			r.Window = 5 * time.Minute
		}
		if r.Window < 0 || r.Threshold < 0 {
			return nil, fmt.Errorf("audit: alert rule %q: negative window or threshold", r.Name)
		}
		switch r.Kind {
		case RuleFailures:
			if r.Threshold == 0 {
				r.Threshold = 10
			}
			if r.By == alertByInvalid {
				r.By = ByIP
			}
			if len(r.Statuses) == 0 {
				r.Statuses = []int{401, 403}
			}
		case RuleOperation:
			if len(r.Operations) == 0 {
				return nil, fmt.Errorf("audit: alert rule %q: operations are required", r.Name)
			}
		case RuleBreakGlass:
		default:
			return nil, fmt.Errorf("audit: alert rule %q: unknown kind", r.Name)
		}
		if r.Kind != RuleFailures {
			r.Threshold = max(r.Threshold, 1)
		}
		rules[i] = r
	}
	a := &Alerts{
		cfg: cfg, rules: rules, state: make(map[alertKey]*alertWindow),
		out: make(chan Alert, 1024), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go a.deliver()
	return a, nil
}

// Observe feeds one event to the rules. Windows run on event time.
func (a *Alerts) Observe(ev *Event) {
	if a == nil || a.closed.Load() {
		return
	}
	var fire []Alert
	a.mu.Lock()
	a.sweep(ev.Time)
	for i := range a.rules {
		r := &a.rules[i]
		key, ok := r.key(ev)
		if !ok {
			continue
		}
		if al, ok := a.count(i, r, ev, key); ok {
			fire = append(fire, al)
		}
	}
	a.mu.Unlock()
	for _, al := range fire {
		a.fired.Add(1)
		select {
		case a.out <- al:
		default:
			a.dropped.Add(1)
			a.mu.Lock()
			ok, suppressed := a.dropLim.allow(time.Now())
			a.mu.Unlock()
			if ok {
				a.cfg.Logger.Error("audit alert queue full; alert dropped", slog.String("rule", al.Rule), slog.Int("suppressed", suppressed))
			}
		}
	}
}

// key returns the counter key of ev under r, or false when r ignores ev.
func (r *Rule) key(ev *Event) (string, bool) {
	switch r.Kind {
	case RuleFailures:
		if ev.ResultType != ResultFailure || !slices.Contains(r.Statuses, ev.HTTPStatusCode) {
			return "", false
		}
		if r.By == ByPrincipal {
			p := principalOf(ev)
			return p, p != ""
		}
		return ev.CallerIPAddress, ev.CallerIPAddress != ""
	case RuleOperation:
		if !slices.Contains(r.Operations, ev.OperationName) {
			return "", false
		}
		return ev.OperationName + "\x00" + principalOf(ev), true
	case RuleBreakGlass:
		return principalOf(ev), ev.BreakGlass
	}
	return "", false
}

func principalOf(ev *Event) string {
	if ev.Identity == nil {
		return ""
	}
	for _, s := range []string{ev.Identity.ObjectID, ev.Identity.AppID, ev.Identity.UPN} {
		if s != "" {
			return s
		}
	}
	return ""
}

// count adds ev to its window and returns an alert on the event that
// reaches the threshold, once per window.
func (a *Alerts) count(i int, r *Rule, ev *Event, key string) (Alert, bool) {
	k := alertKey{i, ev.Pool, key}
	w := a.state[k]
	if w == nil {
		if len(a.state) >= a.cfg.MaxKeys {
			if ok, suppressed := a.overflow.allow(time.Now()); ok {
				a.cfg.Logger.Error("audit alert counters full; new keys are not counted until old windows end",
					slog.Int("maxKeys", a.cfg.MaxKeys), slog.Int("suppressed", suppressed))
			}
			return Alert{}, false
		}
		w = &alertWindow{start: ev.Time}
		a.state[k] = w
	} else if ev.Time.Sub(w.start) >= r.Window {
		*w = alertWindow{start: ev.Time, samples: w.samples[:0]}
	}
	w.count++
	if len(w.samples) < maxSamples && ev.RequestID != "" {
		w.samples = append(w.samples, ev.RequestID)
	}
	if w.fired || w.count < r.Threshold {
		return Alert{}, false
	}
	w.fired = true
	al := Alert{
		Rule: r.Name, Kind: r.Kind, Time: ev.Time, WindowStart: w.start, Pool: ev.Pool, Count: w.count,
		SampleRequestIDs: slices.Clone(w.samples),
	}
	switch r.Kind {
	case RuleFailures:
		if r.By == ByPrincipal {
			al.Principal = key
		} else {
			al.IP = key
		}
	default:
		al.Principal, al.IP, al.Operation = principalOf(ev), ev.CallerIPAddress, ev.OperationName
	}
	return al, true
}

// sweep forgets windows that ended, at most once a second of event time.
func (a *Alerts) sweep(now time.Time) {
	if now.Sub(a.lastSweep) < time.Second && len(a.state) < a.cfg.MaxKeys {
		return
	}
	a.lastSweep = now
	for k, w := range a.state {
		if now.Sub(w.start) >= a.rules[k.rule].Window {
			delete(a.state, k)
		}
	}
}

func (a *Alerts) deliver() {
	defer close(a.done)
	for {
		select {
		case al := <-a.out:
			a.send(al)
		case <-a.stop:
			for {
				select {
				case al := <-a.out:
					a.send(al)
				default:
					return
				}
			}
		}
	}
}

func (a *Alerts) send(al Alert) {
	a.cfg.Logger.Warn("audit alert", slog.String("rule", al.Rule), slog.String("kind", al.Kind.String()),
		slog.String("pool", LogDirName(al.Pool)), slog.String("principal", al.Principal), slog.String("ip", al.IP),
		slog.String("operation", al.Operation), slog.Int("count", al.Count), slog.Time("windowStart", al.WindowStart),
		slog.Any("sampleRequestIds", al.SampleRequestIDs))
	for _, s := range a.cfg.Sinks {
		s.Alert(al)
	}
}

// Fired counts alerts fired; Dropped counts alerts lost to a full queue.
func (a *Alerts) Fired() uint64   { return a.fired.Load() }
func (a *Alerts) Dropped() uint64 { return a.dropped.Load() }

// Close delivers queued alerts and stops. It does not close the sinks.
func (a *Alerts) Close(ctx context.Context) error {
	if a.closed.Swap(true) {
		return nil
	}
	close(a.stop)
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("audit: closing alerts"), ctx.Err())
	}
}
