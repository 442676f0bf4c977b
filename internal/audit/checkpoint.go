package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// checkpoint signs and appends a checkpoint of the current head (if the
// log grew since the last one, or always when forced).
func (l *log) checkpoint(force bool) error {
	if !l.ready || l.seq == 0 || (!force && !l.ckptRetry && l.seq == l.ckptSeq) {
		return nil
	}
	cp := &Checkpoint{Log: l.name, Seq: l.seq, Head: l.head, First: l.first, Time: l.m.cfg.Now().UTC()}
	cp.Signature = ed25519.Sign(l.key, cp.Text())
	err := appendSync(l.m.cfg.hooks, l.dir, filepath.Join(l.dir, checkpointsFile), cp.marshalLine())
	if o := l.m.cfg.Observer; o != nil {
		o.Checkpoint(l.name, cp.Seq, err)
	}
	l.smu.Lock()
	l.st.ckptErr = err
	if err == nil {
		l.st.ckptSeq, l.st.ckptTime = cp.Seq, cp.Time
	}
	l.smu.Unlock()
	l.ckptRetry = err != nil // a failed forced checkpoint is retried by the timer
	if err != nil {
		l.m.cfg.Logger.Error("audit checkpoint failed", slog.String("log", l.name), slog.Uint64("seq", cp.Seq), slog.Any("err", err))
		return fmt.Errorf("%w: log %s: %w", ErrCheckpoint, l.name, err)
	}
	l.ckptSeq, l.lastCkpt = cp.Seq, cp
	// The server log is a second place the signed heads are seen.
	l.m.cfg.Logger.Info("audit checkpoint", slog.String("log", l.name), slog.Uint64("seq", cp.Seq),
		slog.String("head", hexString(cp.Head)), slog.Uint64("first", cp.First))
	return nil
}

// appendSync appends data to path durably, cutting it back on failure.
func appendSync(h fsHooks, dir, path string, data []byte) error {
	_, statErr := os.Stat(path)
	f, err := h.open(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Truncate(fi.Size())
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		return syncDir(dir)
	}
	return nil
}

// rotate closes the current file behind a checkpoint; the next batch
// starts a new one. Then old files past retention are removed.
func (l *log) rotate() {
	if err := l.checkpoint(false); err != nil {
		return // retried after the next batch; the file just grows meanwhile
	}
	if err := l.f.Close(); err != nil {
		l.m.cfg.Logger.Error("closing a rotated audit file", slog.String("file", l.path), slog.Any("err", err))
	}
	l.f, l.path, l.size = nil, "", 0
	l.retain()
}

// retain removes rotated files beyond Retain or older than RetainFor.
// A checkpoint that moves First past them is written first, so Verify
// can tell retention from deletion.
func (l *log) retain() {
	cfg := &l.m.cfg
	if cfg.Retain <= 0 && cfg.RetainFor <= 0 {
		return
	}
	files, err := listEventFiles(os.DirFS(l.dir))
	if err != nil {
		l.m.cfg.Logger.Error("listing audit files for retention", slog.String("log", l.name), slog.Any("err", err))
		return
	}
	if l.f != nil && len(files) > 0 {
		files = files[:len(files)-1] // never the open file
	}
	drop := 0
	for drop < len(files) {
		tooMany := cfg.Retain > 0 && len(files)-drop > cfg.Retain
		tooOld := false
		if cfg.RetainFor > 0 {
			if fi, err := os.Stat(filepath.Join(l.dir, files[drop].name)); err == nil {
				tooOld = cfg.Now().Sub(fi.ModTime()) > cfg.RetainFor
			}
		}
		if !tooMany && !tooOld {
			break
		}
		drop++
	}
	if drop == 0 {
		return
	}
	newFirst := l.seq + 1
	if drop < len(files) {
		newFirst = files[drop].first
	}
	if newFirst <= l.first {
		newFirst = l.first
	}
	old := l.first
	l.first = newFirst
	if err := l.checkpoint(true); err != nil {
		l.first = old
		return
	}
	for _, ef := range files[:drop] {
		if err := os.Remove(filepath.Join(l.dir, ef.name)); err != nil {
			l.m.cfg.Logger.Error("removing an audit file past retention", slog.String("file", ef.name), slog.Any("err", err))
		}
	}
	syncDir(l.dir)
}

// shutdown runs when the log is closed and its queue drained.
func (l *log) shutdown() {
	if !l.ready {
		return
	}
	if len(l.notes) > 0 {
		l.commit(nil)
	}
	l.closeErr = l.checkpoint(false)
	if l.f != nil {
		if err := l.f.Close(); err != nil && l.closeErr == nil {
			l.closeErr = fmt.Errorf("audit: closing %s: %w", l.path, err)
		}
		l.f = nil
	}
}
