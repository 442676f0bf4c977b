package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// log is one pool's hash-chained log and its single writer goroutine.
//
// Append enqueues and waits; the writer takes everything queued (up to
// MaxBatch), writes it with one write and one fsync, then wakes every
// waiter with its result. Only the writer touches the file and the chain
// state, so there is no lock on the write path besides the queue's.
type log struct {
	m    *Manager
	pool string
	name string
	dir  string

	qmu      sync.Mutex
	queue    []*request
	closing  bool
	wake     chan struct{} // capacity 1: "the queue is not empty"
	stop     chan struct{} // closed by beginClose
	ctl      chan func()   // work run on the writer goroutine
	done     chan struct{} // closed when the writer has exited
	closeErr error

	// Writer-owned state.
	ready     bool // recovered from disk
	key       ed25519.PrivateKey
	f         logFile
	path      string
	size      int64 // bytes of f known durable; anything past it is a failed write
	dirty     bool  // a failed write may have left bytes past size
	opened    time.Time
	seq       uint64
	head      [32]byte
	first     uint64 // oldest event kept (retention)
	ckptSeq   uint64
	ckptRetry bool
	lastCkpt  *Checkpoint
	notes     [][]byte // system events to write before the next batch
	buf       []byte

	writing atomic.Int64 // start of the write in progress (UnixNano), 0 when idle
	broken  atomic.Bool  // mirrors st.err != nil, for Writable's lock-free read

	smu sync.Mutex
	st  logState
}

// logState is what Health and Status read; guarded by log.smu.
type logState struct {
	seq, ckptSeq      uint64
	head              [32]byte
	ckptTime          time.Time
	batches, events   uint64
	refused, lost     uint64
	lastLoss          time.Time
	err               error
	failingSince      time.Time
	ckptErr           error
	disturbances      uint64
	lastDisturb       time.Time
	lastDisturbReason string
	failLim, lostLim  limiter
}

type request struct {
	rest []byte // eventRest of the event
	done chan result
}

type result struct {
	seq        uint64
	prev, hash [32]byte
	err        error
}

func newLog(m *Manager, pool string) *log {
	name := LogDirName(pool)
	return &log{
		m: m, pool: pool, name: name, dir: filepath.Join(m.cfg.Dir, name),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), ctl: make(chan func()), done: make(chan struct{}),
	}
}

// append queues an event and waits for its batch.
func (l *log) append(ctx context.Context, rest []byte) (result, error) {
	r := &request{rest: rest, done: make(chan result, 1)}
	l.qmu.Lock()
	if l.closing {
		l.qmu.Unlock()
		return result{}, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	if len(l.queue) >= l.m.cfg.MaxQueue {
		n := len(l.queue)
		l.qmu.Unlock()
		return result{}, fmt.Errorf("%w: log %s: %d events already wait for the disk", ErrUnavailable, l.name, n)
	}
	l.queue = append(l.queue, r)
	l.qmu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(l.m.cfg.AppendTimeout)
	defer t.Stop()
	select {
	case res := <-r.done:
		return res, res.err
	case <-ctx.Done():
		return result{}, fmt.Errorf("%w: log %s: stopped waiting for the disk: %w", ErrUnavailable, l.name, context.Cause(ctx))
	case <-t.C:
		return result{}, fmt.Errorf("%w: log %s: the disk did not confirm the write within %v", ErrUnavailable, l.name, l.m.cfg.AppendTimeout)
	}
}

// do runs fn on the writer goroutine and returns its error.
func (l *log) do(ctx context.Context, fn func() error) error {
	errc := make(chan error, 1)
	select {
	case l.ctl <- func() { errc <- fn() }:
	case <-l.done:
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (l *log) beginClose() {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if !l.closing {
		l.closing = true
		close(l.stop)
	}
}

// run is the writer goroutine.
func (l *log) run() {
	defer close(l.done)
	cfg := &l.m.cfg
	probe := time.NewTicker(cfg.ProbeEvery)
	defer probe.Stop()
	ckpt := time.NewTicker(cfg.CheckpointEvery)
	defer ckpt.Stop()
	l.probe()
	for {
		select {
		case <-l.wake:
		case <-l.stop:
		case fn := <-l.ctl:
			fn()
			continue
		case <-probe.C:
			l.probe()
			continue
		case <-ckpt.C:
			l.checkpoint(false)
			continue
		}
		for {
			batch, closing := l.take()
			if len(batch) > 0 {
				l.commit(batch)
				continue
			}
			if closing {
				l.shutdown()
				return
			}
			break
		}
	}
}

// take removes up to MaxBatch requests from the queue, waiting up to
// MaxDelay for a fuller batch when one is configured.
func (l *log) take() ([]*request, bool) {
	cfg := &l.m.cfg
	var batch []*request
	grab := func() bool {
		l.qmu.Lock()
		defer l.qmu.Unlock()
		n := min(len(l.queue), cfg.MaxBatch-len(batch))
		batch = append(batch, l.queue[:n]...)
		rest := copy(l.queue, l.queue[n:])
		clear(l.queue[rest:])
		l.queue = l.queue[:rest]
		return l.closing
	}
	closing := grab()
	if cfg.MaxDelay > 0 && len(batch) > 0 && len(batch) < cfg.MaxBatch && !closing {
		t := time.NewTimer(cfg.MaxDelay)
		defer t.Stop()
		for len(batch) < cfg.MaxBatch && !closing {
			select {
			case <-l.wake:
				closing = grab()
				continue
			case <-l.stop:
				closing = grab()
				continue
			case <-t.C:
			}
			break
		}
		closing = grab() || closing
	}
	return batch, closing
}

// commit writes the pending notes and batch as one write and one fsync.
func (l *log) commit(batch []*request) {
	if err := l.prepare(); err != nil {
		l.fail(batch, err)
		return
	}
	buf := l.buf[:0]
	if len(l.m.cfg.Sinks) > 0 {
		buf = nil // the sinks keep the lines
	}
	seq, head := l.seq, l.head
	ends := make([]int, 0, len(l.notes)+len(batch))
	results := make([]result, len(batch))
	for _, rest := range l.notes {
		seq++
		buf, head = appendLine(buf, seq, &head, rest)
		ends = append(ends, len(buf))
	}
	for i, r := range batch {
		prev := head
		seq++
		buf, head = appendLine(buf, seq, &head, r.rest)
		ends = append(ends, len(buf))
		results[i] = result{seq: seq, prev: prev, hash: head}
	}
	start := time.Now()
	l.writing.Store(start.UnixNano())
	_, err := l.f.Write(buf)
	if err == nil {
		err = l.f.Sync()
		if err != nil {
			err = fmt.Errorf("syncing %s: %w", l.path, err)
		}
	} else {
		err = fmt.Errorf("writing %s: %w", l.path, err)
	}
	l.writing.Store(0)
	took := time.Since(start)
	if err != nil {
		// Cut the failed batch off (a partial write, or pages a failed
		// fsync may have left) so the next batch continues the chain from
		// the last durable event; if even that fails, prepare retries it
		// before anything else is written.
		if terr := l.f.Truncate(l.size); terr != nil {
			l.dirty = true
		}
		if o := l.m.cfg.Observer; o != nil {
			o.Batch(l.name, len(batch), l.queued(), took, err)
		}
		l.fail(batch, err)
		return
	}
	l.size += int64(len(buf))
	l.seq, l.head = seq, head
	l.notes = nil
	if len(l.m.cfg.Sinks) == 0 && cap(buf) <= 4<<20 {
		l.buf = buf // reused; an outsized one is left to the collector
	}
	// Status first, so a caller that looks right after Append sees it.
	l.healthy()
	l.smu.Lock()
	l.st.seq, l.st.head = seq, head
	l.st.batches++
	l.st.events += uint64(len(ends))
	l.smu.Unlock()
	for i, r := range batch {
		r.done <- results[i]
	}
	if o := l.m.cfg.Observer; o != nil {
		o.Batch(l.name, len(ends), l.queued(), took, nil)
	}
	if len(l.m.cfg.Sinks) > 0 {
		begin := 0
		for _, end := range ends {
			l.m.offerSinks(buf[begin : end-1])
			begin = end
		}
	}
	if l.seq-l.ckptSeq >= uint64(l.m.cfg.CheckpointEvents) {
		l.checkpoint(false)
	}
	if l.size >= l.m.cfg.RotateBytes || (l.m.cfg.RotateEvery > 0 && l.m.cfg.Now().Sub(l.opened) >= l.m.cfg.RotateEvery) {
		l.rotate()
	}
}

func (l *log) queued() int {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return len(l.queue)
}

// fail answers every request of a batch with err and marks the log failing.
func (l *log) fail(batch []*request, err error) {
	l.failing(err)
	werr := fmt.Errorf("%w: log %s: %w", ErrUnavailable, l.name, err)
	for _, r := range batch {
		r.done <- result{err: werr}
	}
}

// failing records that the log cannot write, loudly.
func (l *log) failing(err error) {
	now := time.Now()
	l.smu.Lock()
	first := l.st.err == nil
	if first {
		l.st.failingSince = now
	}
	l.st.err = err
	l.broken.Store(true)
	ok, suppressed := l.st.failLim.allow(now)
	l.smu.Unlock()
	if first || ok {
		msg := "audit log cannot write; requests are refused until it can"
		if l.m.cfg.FailOpen {
			msg = "audit log cannot write; fail-open mode is answering requests WITHOUT recording them"
		}
		l.m.cfg.Logger.Error(msg, slog.String("log", l.name), slog.Any("err", err), slog.Int("suppressed", suppressed))
	}
}

// healthy records that the log writes again.
func (l *log) healthy() {
	l.smu.Lock()
	was, since := l.st.err, l.st.failingSince
	l.st.err = nil
	l.broken.Store(false)
	l.smu.Unlock()
	if was != nil {
		l.m.cfg.Logger.Warn("audit log writes again", slog.String("log", l.name), slog.Duration("failedFor", time.Since(since)))
	}
}

func (l *log) lost(n int, err error) {
	now := time.Now()
	l.smu.Lock()
	l.st.lost += uint64(n)
	l.st.lastLoss = now
	total := l.st.lost
	ok, suppressed := l.st.lostLim.allow(now)
	l.smu.Unlock()
	if o := l.m.cfg.Observer; o != nil {
		o.Lost(l.name, n)
	}
	if ok {
		l.m.cfg.Logger.Error("audit events LOST: fail-open mode answered requests whose events are not on disk",
			slog.String("log", l.name), slog.Uint64("lostTotal", total), slog.Int("suppressed", suppressed), slog.Any("err", err))
	}
}

func (l *log) refused(n int) {
	l.smu.Lock()
	l.st.refused += uint64(n)
	l.smu.Unlock()
	if o := l.m.cfg.Observer; o != nil {
		o.Refused(l.name, n)
	}
}

// probe runs on the writer's timer: a failing log tries to recover (so it
// heals without traffic once space returns), a healthy one checks that its
// file is still the one on disk, and an idle file past RotateEvery is
// rotated.
func (l *log) probe() {
	l.smu.Lock()
	failing := l.st.err != nil
	l.smu.Unlock()
	err := l.prepare()
	if err == nil && failing {
		err = l.probeWrite()
	}
	if err != nil {
		l.failing(err)
		return
	}
	if len(l.notes) > 0 {
		l.commit(nil)
		return
	}
	if failing {
		l.healthy()
	}
	if l.f != nil && l.size > 0 && l.m.cfg.RotateEvery > 0 && l.m.cfg.Now().Sub(l.opened) >= l.m.cfg.RotateEvery {
		l.rotate()
	}
}

// probeWrite checks that the disk takes a durable write: the events file
// accepts a no-op truncate, and a small file can be written, synced and
// removed beside it.
func (l *log) probeWrite() error {
	if l.f != nil {
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("probing %s: %w", l.path, err)
		}
	}
	path := filepath.Join(l.dir, ".probe")
	f, err := l.m.cfg.hooks.open(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("probing %s: %w", l.dir, err)
	}
	defer os.Remove(path)
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("probing %s: %w", l.dir, err)
	}
	return nil
}

// health lists the log's problems at now.
func (l *log) health(now time.Time) []error {
	window := l.m.cfg.HealthWindow
	l.smu.Lock()
	st := l.st
	l.smu.Unlock()
	var errs []error
	if st.err != nil {
		errs = append(errs, fmt.Errorf("%w: log %s cannot write since %s: %w", ErrUnavailable, l.name, st.failingSince.UTC().Format(time.RFC3339), st.err))
	}
	if start := l.writing.Load(); start != 0 {
		if d := now.Sub(time.Unix(0, start)); d > l.m.cfg.AppendTimeout {
			errs = append(errs, fmt.Errorf("%w: log %s: a write has waited for the disk for %v", ErrUnavailable, l.name, d.Round(time.Millisecond)))
		}
	}
	if st.ckptErr != nil {
		errs = append(errs, fmt.Errorf("%w: log %s: %w", ErrCheckpoint, l.name, st.ckptErr))
	}
	if st.lost > 0 && now.Sub(st.lastLoss) < window {
		errs = append(errs, fmt.Errorf("%w: log %s: %d events answered without being known durable, the last at %s", ErrEventsLost, l.name, st.lost, st.lastLoss.UTC().Format(time.RFC3339)))
	}
	if st.disturbances > 0 && now.Sub(st.lastDisturb) < window {
		errs = append(errs, fmt.Errorf("%w: log %s: %s", ErrDisturbed, l.name, st.lastDisturbReason))
	}
	return errs
}

func (l *log) status() LogStatus {
	l.smu.Lock()
	defer l.smu.Unlock()
	return LogStatus{
		Log: l.name, Seq: l.st.seq, Head: hexString(l.st.head), CheckpointSeq: l.st.ckptSeq, CheckpointTime: l.st.ckptTime,
		Batches: l.st.batches, Events: l.st.events, Refused: l.st.refused, Lost: l.st.lost,
		Disturbances: l.st.disturbances, Err: l.st.err, FailingSince: l.st.failingSince,
	}
}

func hexString(h [32]byte) string { return hex.EncodeToString(h[:]) }
