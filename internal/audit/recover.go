package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// prepare makes the log ready to write: recovered from disk, any failed
// write cut off, the current file still the one at its path (restoring it
// if not), and a file open.
func (l *log) prepare() error {
	if !l.ready {
		if err := l.recover(); err != nil {
			return fmt.Errorf("opening the log: %w", err)
		}
	}
	if l.dirty {
		if err := l.f.Truncate(l.size); err != nil {
			if rerr := l.reopen(); rerr != nil {
				return fmt.Errorf("cutting a failed write off %s: %w", l.path, err)
			}
		}
		l.dirty = false
	}
	if l.f != nil {
		if err := l.checkFile(); err != nil {
			return err
		}
	}
	if l.f == nil {
		if err := l.openNext(); err != nil {
			return err
		}
	}
	return nil
}

// checkFile notices an events file deleted or replaced under the running
// server: the open handle still holds every acknowledged event, so the
// file is restored from it and the incident recorded. The current batch
// still fails, so nobody is told "durable" about a file in doubt.
func (l *log) checkFile() error {
	fi, ferr := l.f.Stat()
	pi, perr := os.Stat(l.path)
	if ferr == nil && perr == nil && os.SameFile(fi, pi) {
		return nil
	}
	if ferr != nil && perr == nil {
		// The handle broke (EBADF), not the file: use the file again if it
		// still holds every durable event.
		return l.reopen()
	}
	how := "deleted"
	if perr == nil {
		how = "replaced"
	}
	err := fmt.Errorf("%w: %s was %s", ErrDisturbed, l.path, how)
	l.m.cfg.Logger.Error("audit events file was "+how+" while in use; restoring it from the open file",
		slog.String("log", l.name), slog.String("file", l.path))
	if rerr := l.restore(how); rerr != nil {
		return fmt.Errorf("%w; restoring it: %w", err, rerr)
	}
	return err
}

// restore writes the open file's durable bytes back at its path, keeping
// whatever replaced it under another name as evidence.
func (l *log) restore(how string) error {
	if _, err := os.Stat(l.dir); err != nil {
		if err := os.MkdirAll(l.dir, 0o700); err != nil {
			return err
		}
		if err := syncDir(l.m.cfg.Dir); err != nil {
			return err
		}
	}
	tmp := l.path + ".restoring"
	out, err := l.m.cfg.hooks.open(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(writerOnly{out}, io.NewSectionReader(l.f, 0, l.size))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	kept := ""
	if _, err := os.Lstat(l.path); err == nil {
		kept = l.path + ".replaced-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if err := os.Rename(l.path, kept); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	nf, err := l.m.cfg.hooks.open(l.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	l.f.Close()
	l.f = nf
	detail := fmt.Sprintf("events file %s was %s while in use; restored events up to seq %d from the open file", filepath.Base(l.path), how, l.seq)
	if kept != "" {
		detail += "; the replacement was kept as " + filepath.Base(kept)
	}
	l.note("AuditLogFileRestored", ResultFailure, detail)
	now := time.Now()
	l.smu.Lock()
	l.st.disturbances++
	l.st.lastDisturb = now
	l.st.lastDisturbReason = detail
	l.smu.Unlock()
	l.checkpoint(true)
	return nil
}

// reopen replaces an unusable handle (EBADF, for example after a forced
// unmount and remount) with the file at its path, provided the file still
// ends, at the durable size, with the last durable event. Bytes past that
// size are a failed write and are cut off.
func (l *log) reopen() error {
	nf, err := l.m.cfg.hooks.open(l.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("reopening %s: %w", l.path, err)
	}
	err = func() error {
		fi, err := nf.Stat()
		if err != nil {
			return err
		}
		if fi.Size() < l.size {
			return errors.New("it is shorter than what was written to it")
		}
		if l.size > 0 {
			last, good, err := readTail(nf, l.size)
			if err != nil {
				return err
			}
			rec, perr := parseLine(last)
			if perr != nil || good != l.size || rec.Seq != l.seq || rec.Hash != l.head {
				return errors.New("it does not end with the last durable event")
			}
		}
		return nf.Truncate(l.size)
	}()
	if err != nil {
		nf.Close()
		return fmt.Errorf("reopening %s: %w", l.path, err)
	}
	l.f.Close()
	l.f, l.dirty = nf, false
	l.m.cfg.Logger.Warn("audit events file handle was unusable; reopened the file", slog.String("file", l.path))
	return nil
}

// writerOnly hides ReadFrom so io.Copy uses plain writes (through hooks).
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// note queues a system event, written before the next batch, so repairs
// of the log are recorded in the log itself.
func (l *log) note(operation, resultType, detail string) {
	ev := &Event{
		Time: l.m.cfg.Now().UTC(), Pool: l.pool, OperationName: operation,
		ResultType: resultType, ResultSignature: "OK", HTTPStatusCode: 200,
		Identity: &Identity{ObjectID: "system"}, Detail: detail,
	}
	if resultType == ResultFailure {
		ev.ResultSignature, ev.HTTPStatusCode = "Error", 500
	}
	rest, err := eventRest(ev)
	if err != nil {
		l.m.cfg.Logger.Error("encoding an audit log note", slog.Any("err", err))
		return
	}
	l.notes = append(l.notes, rest)
}

// openNext starts the events file for the next seq.
func (l *log) openNext() error {
	path := filepath.Join(l.dir, eventsFileName(l.seq+1))
	f, err := l.m.cfg.hooks.open(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Left by an earlier attempt that failed after creating it.
		f, err = l.m.cfg.hooks.open(path, os.O_RDWR|os.O_APPEND, 0)
		if err == nil {
			if fi, serr := f.Stat(); serr != nil || fi.Size() != 0 {
				f.Close()
				return fmt.Errorf("%s exists and is not empty", path)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", l.dir, err)
	}
	l.f, l.path, l.size, l.opened = f, path, 0, l.m.cfg.Now()
	return nil
}

// recover reads the log's state from disk: the last event of the newest
// file (cutting off a torn line a crash left: it was never acknowledged,
// since acknowledgement follows fsync) and the last checkpoint. If the
// checkpoint is ahead of the files, events were removed while the server
// was down; the chain continues from the checkpoint so no seq is reused,
// and the gap stays visible to Verify.
func (l *log) recover() error {
	key, err := l.m.signingKey(l.pool)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return err
	}
	// A new log directory's entry in the root must be durable too, or a
	// power cut could take fsynced events with it.
	if err := syncDir(l.m.cfg.Dir); err != nil {
		return err
	}
	cp, err := l.readLastCheckpoint(key)
	if err != nil {
		return err
	}
	files, err := listEventFiles(os.DirFS(l.dir))
	if err != nil {
		return err
	}
	seq, head, first := uint64(0), GenesisHash(l.name), uint64(1)
	if len(files) > 0 {
		first = files[0].first
	}
	var f logFile
	var path string
	var size int64
	for len(files) > 0 {
		ef := files[len(files)-1]
		path = filepath.Join(l.dir, ef.name)
		if f, err = l.m.cfg.hooks.open(path, os.O_RDWR|os.O_APPEND, 0); err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		last, good, err := readTail(f, fi.Size())
		if err != nil {
			f.Close()
			return fmt.Errorf("reading the end of %s: %w", path, err)
		}
		if good < fi.Size() {
			if err := f.Truncate(good); err != nil {
				f.Close()
				return fmt.Errorf("cutting a torn line off %s: %w", path, err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			detail := fmt.Sprintf("cut %d bytes of a torn last line off %s after an unclean stop; that event was never acknowledged", fi.Size()-good, ef.name)
			l.m.cfg.Logger.Warn("audit log ended in a torn line; cut it off", slog.String("log", l.name), slog.String("file", path), slog.Int64("bytes", fi.Size()-good))
			l.note("AuditLogRecovered", ResultSuccess, detail)
		}
		if good == 0 {
			// Created but never written: nothing to continue from here.
			f.Close()
			f = nil
			if err := os.Remove(path); err != nil {
				return err
			}
			files = files[:len(files)-1]
			continue
		}
		rec, err := parseLine(last)
		if err != nil || rec.computeHash() != rec.Hash || rec.Seq < ef.first {
			f.Close()
			return fmt.Errorf("the last event of %s is damaged; run verify and move the file aside to continue", path)
		}
		seq, head, size = rec.Seq, rec.Hash, good
		break
	}
	if cp != nil {
		first = cp.First
		if cp.Seq > seq {
			l.m.cfg.Logger.Error("audit log holds fewer events than its last checkpoint; events were removed while the server was down. Continuing the chain after the checkpoint; the gap stays visible to verification",
				slog.String("log", l.name), slog.Uint64("onDisk", seq), slog.Uint64("checkpoint", cp.Seq))
			l.note("AuditLogRecovered", ResultFailure, fmt.Sprintf("the log held events up to seq %d but its checkpoint covers seq %d: events were removed; continuing after the checkpoint", seq, cp.Seq))
			if f != nil {
				f.Close()
				f = nil
			}
			seq, head = cp.Seq, cp.Head
		} else if cp.Seq == seq && cp.Head != head {
			l.m.cfg.Logger.Error("audit log's last event differs from its last signed checkpoint; the log was rewritten while the server was down. Continuing; verification will report it",
				slog.String("log", l.name), slog.Uint64("seq", seq))
			l.note("AuditLogRecovered", ResultFailure, fmt.Sprintf("event %d on disk does not match the signed checkpoint at seq %d: the log was rewritten", seq, cp.Seq))
		}
	}
	l.key = key
	l.f, l.path, l.size, l.opened = f, path, size, l.m.cfg.Now()
	l.seq, l.head, l.first = seq, head, first
	if cp != nil {
		l.ckptSeq, l.lastCkpt = cp.Seq, cp
	}
	l.ready = true
	l.smu.Lock()
	l.st.seq, l.st.head = seq, head
	if cp != nil {
		l.st.ckptSeq, l.st.ckptTime = cp.Seq, cp.Time
	}
	l.smu.Unlock()
	return nil
}

// readLastCheckpoint returns the log's last checkpoint, cutting off a torn
// line, or nil when there is none or it does not verify (which Verify
// reports; the writer just does not rely on it).
func (l *log) readLastCheckpoint(key ed25519.PrivateKey) (*Checkpoint, error) {
	path := filepath.Join(l.dir, checkpointsFile)
	f, err := l.m.cfg.hooks.open(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	last, good, err := readTail(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("reading the end of %s: %w", path, err)
	}
	if good < fi.Size() {
		if err := f.Truncate(good); err != nil {
			return nil, fmt.Errorf("cutting a torn line off %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	if last == nil {
		return nil, nil
	}
	cp, err := parseCheckpoint(last)
	if err == nil && (cp.Log != l.name || !cp.Verify(key.Public().(ed25519.PublicKey))) {
		err = errors.New("it is not signed by this log's key")
	}
	if err != nil {
		l.m.cfg.Logger.Error("ignoring the last audit checkpoint", slog.String("log", l.name), slog.Any("err", err))
		return nil, nil
	}
	return cp, nil
}

// readTail returns the last complete line of f (without its newline) and
// the length of f up to and including that line's newline. Bytes after it
// are a torn line.
func readTail(f io.ReaderAt, size int64) (last []byte, good int64, err error) {
	for window := int64(64 << 10); ; window *= 2 {
		off := max(0, size-window)
		buf := make([]byte, size-off)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		nl := bytes.LastIndexByte(buf, '\n')
		if nl < 0 {
			if off == 0 {
				return nil, 0, nil
			}
		} else if pnl := bytes.LastIndexByte(buf[:nl], '\n'); pnl >= 0 || off == 0 {
			return buf[pnl+1 : nl], off + int64(nl) + 1, nil
		}
		if window > 4*maxLineBytes {
			return nil, 0, errors.New("no line boundary near the end")
		}
	}
}

// eventsFile is one events file and the first seq its name declares.
type eventsFile struct {
	name  string
	first uint64
}

// listEventFiles lists a log's events files in seq order.
func listEventFiles(fsys fs.FS) ([]eventsFile, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []eventsFile
	for _, e := range entries {
		if first, ok := parseEventsFileName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, eventsFile{e.Name(), first})
		}
	}
	return out, nil // ReadDir sorts by name, and names sort by seq
}

// syncDir makes a directory's entries (new, renamed or removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
