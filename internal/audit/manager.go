package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

var (
	// ErrUnavailable means an event could not be made durable: the log is
	// failing closed. The error wraps the cause (disk full, read-only file
	// system, a stalled disk, the log being closed).
	ErrUnavailable = errors.New("audit: log unavailable")
	// ErrClosed is returned (wrapped in ErrUnavailable) after Close.
	ErrClosed = errors.New("audit: closed")
	// ErrInvalidEvent rejects an event the log cannot hold (a pool name that
	// is not a path element, an event too large even when shortened).
	ErrInvalidEvent = errors.New("audit: invalid event")
	// ErrTokenInEvent means an event held what looks like a bearer token.
	// The event was recorded with the token replaced by [REDACTED-TOKEN]
	// and Append still reports the error, so the request is refused.
	ErrTokenInEvent = errors.New("audit: event held what looks like a bearer token; recorded redacted, request refused")
	// ErrEventsLost is reported by Health when, in fail-open mode, requests
	// were answered although their events were not known to be durable.
	ErrEventsLost = errors.New("audit: events lost in fail-open mode")
	// ErrSinkDropped is reported by Health when a sink dropped events.
	ErrSinkDropped = errors.New("audit: sink dropped events")
	// ErrCheckpoint is reported by Health when a log's last checkpoint
	// could not be signed or written.
	ErrCheckpoint = errors.New("audit: checkpoint failed")
	// ErrDisturbed is reported by Health when an events file was deleted or
	// replaced under the running server (the file is restored from the
	// open handle and the incident is recorded in the log itself).
	ErrDisturbed = errors.New("audit: events file deleted or replaced while in use")
)

// Config configures a Manager. Dir and Signer are required; every other
// field has a working default.
type Config struct {
	// Dir holds one directory per log: Dir/<pool>, and Dir/_system for
	// events without a pool.
	Dir string
	// Signer returns the Ed25519 key that signs a log's checkpoints (pool
	// "" is the system log). The server keeps these keys in its protected
	// store and publishes their public halves (see Manager.PublicKey).
	Signer func(pool string) (ed25519.PrivateKey, error)

	// FailOpen answers requests even when their events cannot be written.
	// Such events are counted, logged and reported by Health. The default,
	// fail-closed, makes Append return an error so the request is refused.
	FailOpen bool

	// MaxBatch bounds the events written by one fsync (default 1024).
	MaxBatch int
	// MaxDelay lets the writer wait this long for more events before a
	// write that is not full (default 0: write at once; batches form
	// naturally while the previous fsync runs).
	MaxDelay time.Duration
	// MaxQueue bounds the events waiting for the disk per log (default
	// 65536); beyond it Append fails at once instead of piling up.
	MaxQueue int
	// AppendTimeout bounds how long Append waits for the disk (default 5s),
	// so a hung disk refuses requests instead of holding them forever.
	AppendTimeout time.Duration

	// RotateBytes starts a new events file past this size (default 64 MiB).
	RotateBytes int64
	// RotateEvery starts a new events file at this age (default 0: never
	// by age).
	RotateEvery time.Duration
	// Retain keeps at most this many rotated events files per log (0:
	// keep all). RetainFor removes rotated files older than this (0: keep
	// forever). Removal is announced in a signed checkpoint first, so a
	// verifier can tell retention from deletion.
	Retain    int
	RetainFor time.Duration

	// CheckpointEvery signs a checkpoint this often when the log has grown
	// (default 1 minute); CheckpointEvents also signs one after this many
	// events (default 10000). A checkpoint is also signed at rotation and
	// at Close.
	CheckpointEvery  time.Duration
	CheckpointEvents int

	// ProbeEvery is how often a failing log retries on its own, so it
	// recovers without traffic when space returns (default 1s).
	ProbeEvery time.Duration
	// HealthWindow is how long Health keeps reporting a past problem
	// (sink drops, lost events, a disturbed file) after it happened
	// (default 5 minutes). Counters in Status never reset.
	HealthWindow time.Duration

	// Sinks receive a copy of every durable event. They come from the
	// server's configuration only, never from an API. The Manager closes
	// them.
	Sinks []Sink
	// Alerts, if set, sees every event Append is given. The Manager
	// closes it.
	Alerts *Alerts
	// Observer receives write-path statistics (for metrics); optional.
	Observer Observer

	Logger *slog.Logger
	// Now stamps events without a time, checkpoints, rotation and
	// retention (default time.Now).
	Now func() time.Time

	hooks fsHooks
}

// Observer receives statistics of the write path. Calls come from the
// log writers and Append, concurrently; they must be quick.
type Observer interface {
	// Batch reports one group commit of a log: the events written, the
	// events still queued behind it, and how long write plus fsync took.
	Batch(log string, events, queued int, took time.Duration, err error)
	// Checkpoint reports a checkpoint attempt.
	Checkpoint(log string, seq uint64, err error)
	// Lost reports events answered without being known durable
	// (fail-open): the write failed, or the disk did not confirm in time.
	Lost(log string, n int)
	// Refused reports events Append refused (fail-closed).
	Refused(log string, n int)
	// SinkDropped reports events a sink could not take.
	SinkDropped(sink string, n int)
}

// Manager routes events to per-pool logs. It is safe for concurrent use.
type Manager struct {
	cfg Config

	mu     sync.RWMutex
	logs   map[string]*log // by log name
	keys   map[string]ed25519.PrivateKey
	closed bool

	sinkMu    sync.Mutex // guards the fields below
	sinkDrops []uint64
	sinkLimit []limiter
	tokenLim  limiter
}

// Open starts the logs under cfg.Dir: it creates the directory, and
// recovers every log already there (continuing its chain, cutting off a
// torn last line). A log that cannot be recovered is not fatal: it fails
// its Appends and Health says why, and it is retried.
func Open(cfg Config) (*Manager, error) {
	if cfg.Dir == "" || cfg.Signer == nil {
		return nil, errors.New("audit: Config.Dir and Config.Signer are required")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1 << 16
	}
	if cfg.AppendTimeout <= 0 {
		cfg.AppendTimeout = 5 * time.Second
	}
	if cfg.RotateBytes <= 0 {
		cfg.RotateBytes = 64 << 20
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = time.Minute
	}
	if cfg.CheckpointEvents <= 0 {
		cfg.CheckpointEvents = 10000
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = time.Second
	}
	if cfg.HealthWindow <= 0 {
		cfg.HealthWindow = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.hooks.open == nil {
		cfg.hooks.open = openOSFile
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: creating %s: %w", cfg.Dir, err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit: reading %s: %w", cfg.Dir, err)
	}
	m := &Manager{
		cfg: cfg, logs: make(map[string]*log), keys: make(map[string]ed25519.PrivateKey),
		sinkDrops: make([]uint64, len(cfg.Sinks)), sinkLimit: make([]limiter, len(cfg.Sinks)),
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if !validLogName(e.Name()) {
			cfg.Logger.Warn("ignoring a directory that names no audit log", slog.String("dir", filepath.Join(cfg.Dir, e.Name())))
			continue
		}
		if _, err := m.logFor(poolOfLog(e.Name())); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// logFor returns the pool's log, starting it on first use.
func (m *Manager) logFor(pool string) (*log, error) {
	name := LogDirName(pool)
	m.mu.RLock()
	l, closed := m.logs[name], m.closed
	m.mu.RUnlock()
	if closed {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	if l != nil {
		return l, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	if l := m.logs[name]; l != nil {
		return l, nil
	}
	l = newLog(m, pool)
	m.logs[name] = l
	go l.run()
	return l, nil
}

// signingKey returns (and caches) a log's checkpoint key.
func (m *Manager) signingKey(pool string) (ed25519.PrivateKey, error) {
	name := LogDirName(pool)
	m.mu.RLock()
	k := m.keys[name]
	m.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	k, err := m.cfg.Signer(pool)
	if err != nil {
		return nil, fmt.Errorf("getting the checkpoint key of log %s: %w", name, err)
	}
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("the checkpoint key of log %s is not an Ed25519 private key", name)
	}
	m.mu.Lock()
	m.keys[name] = k
	m.mu.Unlock()
	return k, nil
}

// Append records ev in its pool's log and returns once it is durable:
// written and fsynced together with the other events of its batch. It
// sets ev.Seq, ev.PrevHash and ev.Hash (and ev.Time, if zero). Append is
// safe for concurrent use and is meant to be called once per request,
// after the response is decided and before it is sent.
//
// An error means the event is not known to be on disk, and the caller
// must refuse the request (fail-closed); it wraps ErrUnavailable for disk
// problems, a stalled disk or ctx ending. With Config.FailOpen, disk
// problems are counted and reported instead, and Append returns nil.
// Whatever the mode, an event holding what looks like a bearer token is
// written with the token redacted and Append returns ErrTokenInEvent.
//
// If Append returns an error the event may still reach the disk later
// (for example when ctx ended while its batch was being written): a
// refused request can appear in the log, an acknowledged one is always
// there.
func (m *Manager) Append(ctx context.Context, ev *Event) error {
	if ev == nil {
		return fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	if err := checkPool(ev.Pool); err != nil {
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = m.cfg.Now()
	}
	rest, guardErr, err := m.encode(ev)
	if err != nil {
		return err
	}
	if m.cfg.Alerts != nil {
		m.cfg.Alerts.Observe(ev)
	}
	l, err := m.logFor(ev.Pool)
	if err != nil {
		return err
	}
	res, err := l.append(ctx, rest)
	if err != nil {
		if m.cfg.FailOpen && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			l.lost(1, err)
			return guardErr
		}
		l.refused(1)
		return err
	}
	ev.Seq, ev.PrevHash, ev.Hash = res.seq, hexString(res.prev), hexString(res.hash)
	return guardErr
}

// encode turns ev into the bytes the writer chains, on the caller's
// goroutine so encoding runs in parallel. It works on a copy: the caller's
// event is not changed.
func (m *Manager) encode(ev *Event) (rest []byte, guardErr, err error) {
	e := *ev
	if ev.Identity != nil {
		id := *ev.Identity
		e.Identity = &id
	}
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	e.Time = e.Time.UTC()
	if rest, err = eventRest(&e); err != nil {
		return nil, nil, err
	}
	if mayHoldToken(rest) && redactEvent(&e) {
		guardErr = ErrTokenInEvent
		e.Detail = joinDetail(e.Detail, "[a value that looked like a bearer token was redacted]")
		m.sinkMu.Lock()
		ok, suppressed := m.tokenLim.allow(time.Now())
		m.sinkMu.Unlock()
		if ok {
			m.cfg.Logger.Error("audit event held what looks like a bearer token; recorded it redacted and refused the request",
				slog.String("log", LogDirName(e.Pool)), slog.String("operation", e.OperationName),
				slog.String("requestId", e.RequestID), slog.Int("suppressed", suppressed))
		}
		if rest, err = eventRest(&e); err != nil {
			return nil, nil, err
		}
	}
	if len(rest) > maxEventBytes {
		shortenEvent(&e)
		if rest, err = eventRest(&e); err != nil {
			return nil, nil, err
		}
		if len(rest) > maxEventBytes {
			return nil, nil, fmt.Errorf("%w: event of %d bytes does not fit the log", ErrInvalidEvent, len(rest))
		}
	}
	return rest, guardErr, nil
}

func joinDetail(detail, note string) string {
	if detail == "" {
		return note
	}
	return detail + " " + note
}

// offerSinks hands a durable line to every sink; a sink that cannot take
// it is counted and reported loudly.
func (m *Manager) offerSinks(line []byte) {
	for i, s := range m.cfg.Sinks {
		if s.Offer(line) {
			continue
		}
		m.sinkMu.Lock()
		m.sinkDrops[i]++
		total := m.sinkDrops[i]
		ok, suppressed := m.sinkLimit[i].allow(time.Now())
		m.sinkMu.Unlock()
		if m.cfg.Observer != nil {
			m.cfg.Observer.SinkDropped(s.Stats().Name, 1)
		}
		if ok {
			m.cfg.Logger.Error("audit sink is full and dropped events (the durable log still has them)",
				slog.String("sink", s.Stats().Name), slog.Uint64("droppedTotal", total), slog.Int("suppressed", suppressed))
		}
	}
}

// Health returns nil when every log can write and nothing was lost or
// dropped within Config.HealthWindow; otherwise an error joining one error
// per problem, each wrapping one of ErrUnavailable, ErrEventsLost,
// ErrCheckpoint, ErrDisturbed or ErrSinkDropped, so a caller can tell a
// log that cannot write (not ready) from a degraded copy (alert).
func (m *Manager) Health() error {
	now := time.Now()
	m.mu.RLock()
	logs := m.sortedLogs()
	closed := m.closed
	m.mu.RUnlock()
	var errs []error
	if closed {
		errs = append(errs, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed))
	}
	for _, l := range logs {
		errs = append(errs, l.health(now)...)
	}
	for _, s := range m.cfg.Sinks {
		st := s.Stats()
		if st.Dropped > 0 && now.Sub(st.LastDrop) < m.cfg.HealthWindow {
			errs = append(errs, fmt.Errorf("%w: sink %s dropped %d events, the last at %s", ErrSinkDropped, st.Name, st.Dropped, st.LastDrop.UTC().Format(time.RFC3339)))
		}
	}
	return errors.Join(errs...)
}

// Writable reports whether pool's log is currently accepting events: it is
// open and its last write or probe succeeded. It is cheap (no locks on the
// common path), so a server can refuse a state-changing request before
// acting when the event could not be recorded anyway. In fail-open mode it
// is always true.
func (m *Manager) Writable(pool string) bool {
	if m.cfg.FailOpen {
		return true
	}
	m.mu.RLock()
	l, closed := m.logs[LogDirName(pool)], m.closed
	m.mu.RUnlock()
	if closed {
		return false
	}
	return l == nil || !l.broken.Load()
}

// sortedLogs returns the logs by name; m.mu must be held.
func (m *Manager) sortedLogs() []*log {
	logs := make([]*log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i].name < logs[j].name })
	return logs
}

// LogStatus describes one log, for operators and metrics.
type LogStatus struct {
	Log            string
	Seq            uint64    // last durable event
	Head           string    // its hash
	CheckpointSeq  uint64    // last signed checkpoint
	CheckpointTime time.Time // when it was signed
	Batches        uint64    // group commits (one fsync each)
	Events         uint64    // events written
	Refused        uint64    // Appends that failed (fail-closed)
	Lost           uint64    // events answered without being known durable (fail-open)
	Disturbances   uint64    // events files found deleted or replaced
	Err            error     // why the log cannot write now, or nil
	FailingSince   time.Time // when Err started
}

// Status describes every open log.
func (m *Manager) Status() []LogStatus {
	m.mu.RLock()
	logs := m.sortedLogs()
	m.mu.RUnlock()
	out := make([]LogStatus, len(logs))
	for i, l := range logs {
		out[i] = l.status()
	}
	return out
}

// PublicKey returns the key that verifies a log's checkpoints, to be
// published so auditors can run Verify.
func (m *Manager) PublicKey(pool string) (ed25519.PublicKey, error) {
	if err := checkPool(pool); err != nil {
		return nil, err
	}
	k, err := m.signingKey(pool)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return k.Public().(ed25519.PublicKey), nil
}

// Checkpoint signs a checkpoint of the pool's log now (if it grew since
// the last one) and returns the latest checkpoint.
func (m *Manager) Checkpoint(ctx context.Context, pool string) (*Checkpoint, error) {
	if err := checkPool(pool); err != nil {
		return nil, err
	}
	l, err := m.logFor(pool)
	if err != nil {
		return nil, err
	}
	var cp *Checkpoint
	err = l.do(ctx, func() error {
		if err := l.prepare(); err != nil {
			return err
		}
		if err := l.checkpoint(false); err != nil {
			return err
		}
		cp = l.lastCkpt
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return nil, fmt.Errorf("audit: log %s is empty", LogDirName(pool))
	}
	c := *cp
	return &c, nil
}

// Close stops accepting events, writes what is queued, signs a final
// checkpoint of every log and closes the sinks and alerts.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	logs := m.sortedLogs()
	m.mu.Unlock()
	for _, l := range logs {
		l.beginClose()
	}
	var errs []error
	for _, l := range logs {
		<-l.done
		errs = append(errs, l.closeErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range m.cfg.Sinks {
		errs = append(errs, s.Close(ctx))
	}
	if m.cfg.Alerts != nil {
		errs = append(errs, m.cfg.Alerts.Close(ctx))
	}
	return errors.Join(errs...)
}

// LogDir is the directory of a pool's log under root.
func LogDir(root, pool string) string { return filepath.Join(root, LogDirName(pool)) }

// Logs lists the log directories under root (for tools that verify or
// read every log).
func Logs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("audit: reading %s: %w", root, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && validLogName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// limiter lets a repeated log message through at most every 10 seconds,
// counting what it held back.
type limiter struct {
	last       time.Time
	suppressed int
}

// allow must be called with the owner's lock held (or on one goroutine).
func (r *limiter) allow(now time.Time) (bool, int) {
	if !r.last.IsZero() && now.Sub(r.last) < 10*time.Second {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return true, n
}

// fsHooks is how the log opens files; tests replace it to inject faults
// and count fsyncs.
type fsHooks struct {
	open func(name string, flag int, perm fs.FileMode) (logFile, error)
}

// logFile is the part of *os.File the log uses.
type logFile interface {
	Write(p []byte) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

func openOSFile(name string, flag int, perm fs.FileMode) (logFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}
