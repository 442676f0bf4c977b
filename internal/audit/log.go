package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// File layout inside a log's directory:
//
//	events-<first seq, 20 digits>.jsonl   events, one JSON object per line
//	checkpoints.jsonl                      signed checkpoints, one per line
//
// Each event line is the event's JSON with "hash" as its last member:
//
//	hash = hex(SHA-256(prev hash bytes ‖ the line's JSON object without the hash member))
//
// where prev is the previous event's hash (for seq 1, the genesis hash of
// the log). The hashed bytes are recovered from the file by removing the
// trailing `,"hash":"<64 hex>"` textually, so verification never
// re-marshals anything.

// ErrUnavailable means events cannot be recorded: the log is failing
// closed. It wraps the underlying cause.
var ErrUnavailable = errors.New("audit: log unavailable")

// Config configures a Manager.
type Config struct {
	// Dir holds one directory per log: <pool>, or _system for events
	// without a pool.
	Dir string
	// Signer returns a log's checkpoint signing key.
	Signer func(pool string) (ed25519.PrivateKey, error)
	// FailOpen answers requests even when their events cannot be written
	// (counted and reported by Health). The default, fail-closed, refuses.
	FailOpen bool
	// MaxBatch bounds one group commit (default 1024 events).
	MaxBatch int
	// RotateBytes starts a new events file past this size (default 64 MiB).
	RotateBytes int64
	// RetainFiles keeps at most this many events files per log (0 keeps all).
	RetainFiles int
	// CheckpointEvery signs a checkpoint this often (default 1 minute).
	CheckpointEvery time.Duration
	// Sinks receive every durable event (stdout, webhooks). They must not
	// block; each owns a bounded buffer.
	Sinks []Sink
	// Observer receives batch statistics (for metrics); optional.
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Sink receives durable events.
type Sink interface {
	Send(line []byte)
	Close() error
}

// Observer receives statistics of the write path.
type Observer interface {
	Batch(pool string, events int, fsync time.Duration, err error)
}

// Manager routes events to per-pool logs. It is safe for concurrent use.
type Manager struct {
	cfg  Config
	mu   sync.Mutex
	logs map[string]*Log
	// lost counts events that could not be written in fail-open mode.
	lost   uint64
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Open opens the audit logs under cfg.Dir.
func Open(cfg Config) (*Manager, error) {
	if cfg.Dir == "" || cfg.Signer == nil {
		return nil, errors.New("audit: Config.Dir and Config.Signer are required")
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.RotateBytes == 0 {
		cfg.RotateBytes = 64 << 20
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: creating %s: %w", cfg.Dir, err)
	}
	m := &Manager{cfg: cfg, logs: make(map[string]*Log), stop: make(chan struct{})}
	m.wg.Add(1)
	go m.checkpointLoop()
	return m, nil
}

// LogDirName is the directory of a pool's log ("" → "_system").
func LogDirName(pool string) string {
	if pool == "" {
		return "_system"
	}
	return pool
}

func (m *Manager) log(pool string) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("%w: closed", ErrUnavailable)
	}
	if l := m.logs[pool]; l != nil {
		return l, nil
	}
	key, err := m.cfg.Signer(pool)
	if err != nil {
		return nil, fmt.Errorf("%w: signing key of %s: %v", ErrUnavailable, LogDirName(pool), err)
	}
	l, err := openLog(m, pool, filepath.Join(m.cfg.Dir, LogDirName(pool)), key)
	if err != nil {
		return nil, err
	}
	m.logs[pool] = l
	return l, nil
}

// Append records ev durably and returns once it is on disk. ev gets its
// Seq, PrevHash and Hash. An error means the event is not recorded; with
// FailOpen the error is swallowed (and counted) instead.
func (m *Manager) Append(ctx context.Context, ev *Event) error {
	if err := guard(ev); err != nil {
		return err
	}
	l, err := m.log(ev.Pool)
	if err == nil {
		err = l.append(ctx, ev)
	}
	if err != nil && m.cfg.FailOpen {
		m.mu.Lock()
		m.lost++
		m.mu.Unlock()
		m.cfg.Logger.Error("audit event lost (fail-open mode)", slog.String("pool", ev.Pool), slog.String("requestId", ev.RequestID), slog.Any("err", err))
		return nil
	}
	return err
}

// Health reports why any log cannot write, or nil.
func (m *Manager) Health() error {
	m.mu.Lock()
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	lost := m.lost
	m.mu.Unlock()
	var errs []error
	for _, l := range logs {
		if err := l.health(); err != nil {
			errs = append(errs, err)
		}
	}
	if lost > 0 {
		errs = append(errs, fmt.Errorf("audit: %d events lost in fail-open mode", lost))
	}
	return errors.Join(errs...)
}

// PublicKey returns a log's checkpoint verification key.
func (m *Manager) PublicKey(pool string) (ed25519.PublicKey, error) {
	k, err := m.cfg.Signer(pool)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

// Close flushes every log and signs a final checkpoint.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	logs := m.logs
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	var errs []error
	for _, l := range logs {
		errs = append(errs, l.close())
	}
	for _, s := range m.cfg.Sinks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func (m *Manager) checkpointLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			logs := make([]*Log, 0, len(m.logs))
			for _, l := range m.logs {
				logs = append(logs, l)
			}
			m.mu.Unlock()
			for _, l := range logs {
				if err := l.checkpoint(); err != nil {
					m.cfg.Logger.Error("audit checkpoint failed", slog.String("log", l.dir), slog.Any("err", err))
				}
			}
		}
	}
}

// Log is one pool's hash-chained log.
type Log struct {
	m    *Manager
	pool string
	dir  string
	key  ed25519.PrivateKey

	reqs chan *appendReq
	done chan struct{}

	mu       sync.Mutex // guards the fields below; held by the writer while writing
	f        *os.File
	path     string
	size     int64
	seq      uint64
	head     [32]byte
	ckptSeq  uint64
	lastErr  error
	writtenN uint64
}

type appendReq struct {
	ev   *Event
	done chan error
}

// GenesisHash is the prev hash of a log's first event.
func GenesisHash(pool string) [32]byte {
	return sha256.Sum256([]byte("coffer-audit-v1|" + LogDirName(pool)))
}

func openLog(m *Manager, pool, dir string, key ed25519.PrivateKey) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: creating %s: %v", ErrUnavailable, dir, err)
	}
	l := &Log{m: m, pool: pool, dir: dir, key: key, reqs: make(chan *appendReq, 4096), done: make(chan struct{}), head: GenesisHash(pool)}
	if err := l.recover(); err != nil {
		return nil, err
	}
	go l.writer()
	return l, nil
}

func eventFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "events-") && strings.HasSuffix(e.Name(), ".jsonl") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// recover continues the chain from the last event on disk. A torn last
// line (a crash mid-write) was never acknowledged, so it is cut off.
func (l *Log) recover() error {
	files, err := eventFiles(l.dir)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrUnavailable, l.dir, err)
	}
	if len(files) == 0 {
		return nil
	}
	last := filepath.Join(l.dir, files[len(files)-1])
	data, err := os.ReadFile(last)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrUnavailable, last, err)
	}
	good := len(data)
	if good > 0 && data[good-1] != '\n' {
		good = bytes.LastIndexByte(data, '\n') + 1
		l.m.cfg.Logger.Warn("audit log ends with a torn line from a crash; cutting it off (it was never acknowledged)", slog.String("file", last))
		if err := os.Truncate(last, int64(good)); err != nil {
			return fmt.Errorf("%w: repairing %s: %v", ErrUnavailable, last, err)
		}
	}
	lines := bytes.Split(data[:good], []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if len(lines[i]) == 0 {
			continue
		}
		rec, err := parseLine(lines[i])
		if err != nil {
			return fmt.Errorf("%w: last event of %s is unreadable: %v", ErrUnavailable, last, err)
		}
		l.seq, l.head = rec.Seq, rec.hash
		break
	}
	if l.seq == 0 && len(files) > 1 {
		return fmt.Errorf("%w: %s is empty but older event files exist", ErrUnavailable, last)
	}
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%w: opening %s: %v", ErrUnavailable, last, err)
	}
	l.f, l.path, l.size = f, last, int64(good)
	cps, _ := readCheckpoints(l.dir)
	if len(cps) > 0 {
		l.ckptSeq = cps[len(cps)-1].Seq
	}
	return nil
}

func (l *Log) append(ctx context.Context, ev *Event) error {
	req := &appendReq{ev: ev, done: make(chan error, 1)}
	select {
	case l.reqs <- req:
	case <-l.done:
		return fmt.Errorf("%w: closed", ErrUnavailable)
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The writer still owns the event and will write it; the caller
		// just stops waiting, and answers with an error.
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// writer is the log's single writer: it takes everything queued, writes it
// with one fsync (group commit), and wakes the waiters.
func (l *Log) writer() {
	batch := make([]*appendReq, 0, l.m.cfg.MaxBatch)
	for {
		req, ok := <-l.reqs
		if !ok {
			close(l.done)
			return
		}
		batch = append(batch[:0], req)
	drain:
		for len(batch) < l.m.cfg.MaxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := l.writeBatch(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (l *Log) writeBatch(batch []*appendReq) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	err := l.writeLocked(batch)
	if l.m.cfg.Observer != nil {
		l.m.cfg.Observer.Batch(l.pool, len(batch), time.Since(start), err)
	}
	if err != nil {
		if l.lastErr == nil {
			l.m.cfg.Logger.Error("audit log cannot write; requests are refused until it can", slog.String("log", l.dir), slog.Any("err", err))
		}
		l.lastErr = err
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if l.lastErr != nil {
		l.m.cfg.Logger.Info("audit log writes again", slog.String("log", l.dir))
		l.lastErr = nil
	}
	return nil
}

// writeLocked serialises and writes a batch; on any failure the file is cut
// back to where it was and the chain state is unchanged.
func (l *Log) writeLocked(batch []*appendReq) error {
	if err := l.ensureFile(); err != nil {
		return err
	}
	seq, head := l.seq, l.head
	var buf bytes.Buffer
	lines := make([][]byte, 0, len(batch))
	for _, r := range batch {
		seq++
		r.ev.Seq = seq
		r.ev.PrevHash = hex.EncodeToString(head[:])
		r.ev.Hash = ""
		body, err := json.Marshal(r.ev)
		if err != nil {
			return fmt.Errorf("encoding event: %w", err)
		}
		h := sha256.New()
		h.Write(head[:])
		h.Write(body)
		copy(head[:], h.Sum(nil))
		r.ev.Hash = hex.EncodeToString(head[:])
		start := buf.Len()
		buf.Write(body[:len(body)-1])
		buf.WriteString(`,"hash":"` + r.ev.Hash + "\"}\n")
		lines = append(lines, buf.Bytes()[start:buf.Len()-1])
	}
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		l.f.Truncate(l.size)
		return fmt.Errorf("writing %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		l.f.Truncate(l.size)
		return fmt.Errorf("syncing %s: %w", l.path, err)
	}
	l.size += int64(buf.Len())
	l.seq, l.head = seq, head
	l.writtenN += uint64(len(batch))
	for _, s := range l.m.cfg.Sinks {
		for _, line := range lines {
			s.Send(slices.Clone(line))
		}
	}
	return nil
}

// ensureFile opens the current events file, starting a new one when the
// current one is full or missing, and notices a file deleted or replaced
// under the running server.
func (l *Log) ensureFile() error {
	if l.f != nil {
		fi, err1 := l.f.Stat()
		pi, err2 := os.Stat(l.path)
		if err1 != nil || err2 != nil || !os.SameFile(fi, pi) {
			l.f.Close()
			l.f = nil
			l.m.cfg.Logger.Error("audit events file was deleted or replaced while in use; a new file continues the chain and the gap stays detectable",
				slog.String("file", l.path))
			return fmt.Errorf("events file %s was removed or replaced", l.path)
		}
		if l.size < l.m.cfg.RotateBytes {
			return nil
		}
		l.f.Close()
		l.f = nil
	}
	path := filepath.Join(l.dir, fmt.Sprintf("events-%020d.jsonl", l.seq+1))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if d, err := os.Open(l.dir); err == nil {
		d.Sync()
		d.Close()
	}
	fi, _ := f.Stat()
	l.f, l.path, l.size = f, path, fi.Size()
	l.retain()
	return nil
}

// retain deletes the oldest events files beyond RetainFiles, after a
// checkpoint covers them.
func (l *Log) retain() {
	keep := l.m.cfg.RetainFiles
	if keep <= 0 {
		return
	}
	files, err := eventFiles(l.dir)
	if err != nil || len(files) <= keep {
		return
	}
	for _, f := range files[:len(files)-keep] {
		os.Remove(filepath.Join(l.dir, f))
	}
}

func (l *Log) health() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastErr != nil {
		return fmt.Errorf("audit log %s: %w", LogDirName(l.pool), l.lastErr)
	}
	// Probe the disk: a read-only or full file system shows here before the
	// next request finds out.
	var st syscall.Statfs_t
	if err := syscall.Statfs(l.dir, &st); err == nil && st.Bavail*uint64(st.Bsize) < 1<<20 {
		return fmt.Errorf("audit log %s: less than 1 MiB free", LogDirName(l.pool))
	}
	return nil
}

func (l *Log) close() error {
	close(l.reqs)
	<-l.done
	err := l.checkpoint()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Checkpoint is a signed statement of a log's length and head hash.
type Checkpoint struct {
	Seq       uint64    `json:"seq"`
	Head      string    `json:"head"`
	Time      time.Time `json:"time"`
	Signature []byte    `json:"sig"`
}

// CheckpointText is the signed text of a checkpoint: an origin line naming
// the scheme and the log, then size, head hash and time.
func CheckpointText(pool string, seq uint64, head string, t time.Time) []byte {
	return fmt.Appendf(nil, "coffer-audit/v1 %s\n%d\n%s\n%s\n", LogDirName(pool), seq, head, t.UTC().Format(time.RFC3339))
}

func (l *Log) checkpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seq == 0 || l.seq == l.ckptSeq {
		return nil
	}
	now := l.m.cfg.Now().UTC().Truncate(time.Second)
	head := hex.EncodeToString(l.head[:])
	cp := Checkpoint{Seq: l.seq, Head: head, Time: now, Signature: ed25519.Sign(l.key, CheckpointText(l.pool, l.seq, head, now))}
	b, _ := json.Marshal(cp)
	f, err := os.OpenFile(filepath.Join(l.dir, "checkpoints.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	l.ckptSeq = l.seq
	return nil
}

func readCheckpoints(dir string) ([]Checkpoint, error) {
	f, err := os.Open(filepath.Join(dir, "checkpoints.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Checkpoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var cp Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			return out, fmt.Errorf("checkpoint %d is malformed", len(out)+1)
		}
		out = append(out, cp)
	}
	return out, sc.Err()
}

// line is a parsed event line.
type line struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash"`
	hash [32]byte
	body []byte // the hashed bytes
}

// parseLine splits an event line into its hashed body and its hash.
func parseLine(b []byte) (*line, error) {
	const tailLen = len(`,"hash":"`) + 64 + len(`"}`)
	if len(b) < tailLen+2 || !bytes.HasSuffix(b, []byte(`"}`)) || !bytes.Equal(b[len(b)-tailLen:len(b)-tailLen+9], []byte(`,"hash":"`)) {
		return nil, errors.New("line does not end with its hash")
	}
	var rec line
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("line is not JSON: %v", err)
	}
	h, err := hex.DecodeString(string(b[len(b)-tailLen+9 : len(b)-2]))
	if err != nil || len(h) != 32 || hex.EncodeToString(h) != rec.Hash {
		return nil, errors.New("hash member is malformed")
	}
	copy(rec.hash[:], h)
	rec.body = append(append([]byte{}, b[:len(b)-tailLen]...), '}')
	return &rec, nil
}

// readLines reads a file's lines (for verification and queries).
func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, ln := range bytes.Split(data, []byte("\n")) {
		if len(ln) > 0 {
			out = append(out, ln)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return out, errors.New("file ends with a torn line")
	}
	return out, nil
}
