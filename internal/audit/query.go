package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ParseEvent decodes one event line (without its newline). The chain
// fields (Seq, PrevHash, Hash) come from the same strict parse Verify
// uses. ParseEvent checks the line's shape, not its place in a chain.
func ParseEvent(line []byte) (*Event, error) {
	rec, err := parseLine(line)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return decodeRecord(line, &rec)
}

func decodeRecord(line []byte, rec *record) (*Event, error) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return nil, fmt.Errorf("audit: event does not decode: %w", err)
	}
	ev.Seq, ev.PrevHash, ev.Hash = rec.Seq, hexString(rec.Prev), hexString(rec.Hash)
	return &ev, nil
}

// Filter selects events. Zero fields match everything; set fields must
// all match.
type Filter struct {
	From, To  time.Time // event time in [From, To)
	Principal string    // the caller's object id, app id or UPN
	Operation string    // operationName, any case
	Result    string    // resultType, "Success" or "Failure", any case
	Key       string    // keyName
	IP        string    // callerIpAddress
	RequestID string    // requestId
}

// Match reports whether ev passes the filter.
func (f *Filter) Match(ev *Event) bool {
	switch {
	case !f.From.IsZero() && ev.Time.Before(f.From),
		!f.To.IsZero() && !ev.Time.Before(f.To),
		f.Operation != "" && !strings.EqualFold(f.Operation, ev.OperationName),
		f.Result != "" && !strings.EqualFold(f.Result, ev.ResultType),
		f.Key != "" && f.Key != ev.KeyName,
		f.IP != "" && f.IP != ev.CallerIPAddress,
		f.RequestID != "" && f.RequestID != ev.RequestID:
		return false
	}
	if f.Principal != "" {
		id := ev.Identity
		if id == nil || (f.Principal != id.ObjectID && f.Principal != id.AppID && !strings.EqualFold(f.Principal, id.UPN)) {
			return false
		}
	}
	return true
}

// Query yields the events of one log directory that match f, oldest
// first. It reads the files as they are (a running server may be
// appending; a partial last line is skipped) and does not verify the
// chain: use Verify for that. A malformed line is yielded as an error and
// reading goes on if the caller continues.
func Query(dir string, f Filter) iter.Seq2[*Event, error] {
	return queryFS(os.DirFS(dir), f)
}

func queryFS(fsys fs.FS, f Filter) iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		files, err := listEventFiles(fsys)
		if err != nil {
			yield(nil, fmt.Errorf("audit: listing events files: %w", err))
			return
		}
		for i, ef := range files {
			// A file last written before From holds only older events: an
			// event's time is taken before it is written.
			if !f.From.IsZero() && i < len(files)-1 {
				if fi, err := fs.Stat(fsys, ef.name); err == nil && fi.ModTime().Before(f.From) {
					continue
				}
			}
			if !queryFile(fsys, ef.name, &f, yield) {
				return
			}
		}
	}
}

// queryFile yields one file's matching events; false means stop.
func queryFile(fsys fs.FS, name string, f *Filter, yield func(*Event, error) bool) bool {
	file, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return true // removed by retention since the listing
	}
	if err != nil {
		return yield(nil, fmt.Errorf("audit: %w", err))
	}
	defer file.Close()
	lr := newLineReader(file, maxLineBytes)
	for n := 1; ; n++ {
		line, complete, err := lr.next()
		if err == io.EOF || (err == nil && !complete) {
			return true
		}
		if err != nil {
			return yield(nil, fmt.Errorf("audit: %s:%d: %w", name, n, err))
		}
		ev, err := ParseEvent(line)
		if err != nil {
			if !yield(nil, fmt.Errorf("%s:%d: %w", name, n, err)) {
				return false
			}
			continue
		}
		if f.Match(ev) && !yield(ev, nil) {
			return false
		}
	}
}

// TailOptions configures Tail.
type TailOptions struct {
	Filter Filter
	// After starts after this seq (0: from the oldest event kept).
	After uint64
	// FromEnd starts after the newest event on disk now; After is ignored.
	FromEnd bool
	// Poll is how often to look for new events (default 200ms).
	Poll time.Duration
}

// Tail yields the events of one log directory as they are appended,
// following rotation, until ctx ends. Unlike Query it checks the chain as
// it goes: a gap, a broken link or a modified event is yielded as an
// error (and following continues if the caller goes on).
func Tail(ctx context.Context, dir string, opt TailOptions) iter.Seq2[*Event, error] {
	if opt.Poll <= 0 {
		opt.Poll = 200 * time.Millisecond
	}
	return func(yield func(*Event, error) bool) {
		t := &tailer{dir: dir, opt: opt, expect: opt.After + 1}
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			more, ok := t.step(yield)
			if !ok {
				return
			}
			if !more {
				timer.Reset(opt.Poll)
			} else {
				timer.Reset(0)
			}
		}
	}
}

type tailer struct {
	dir      string
	opt      TailOptions
	file     string // current file name; "" before the first
	off      int64  // offset of the next unread line
	expect   uint64 // next seq wanted
	prev     [32]byte
	havePrev bool
}

// step reads what is new; more means it should run again at once, ok
// false means the caller stopped.
func (t *tailer) step(yield func(*Event, error) bool) (more, ok bool) {
	if t.file == "" && !t.start() {
		return false, true
	}
	data, err := t.read()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return t.next(), true // the file went away (retention)
		}
		return false, yield(nil, fmt.Errorf("audit: %w", err))
	}
	consumed := 0
	for {
		i := bytes.IndexByte(data[consumed:], '\n')
		if i < 0 {
			break
		}
		line := data[consumed : consumed+i]
		consumed += i + 1
		if !t.deliver(line, yield) {
			return false, false
		}
	}
	t.off += int64(consumed)
	if consumed > 0 {
		return true, true
	}
	return t.next(), true
}

// start picks the file to begin with.
func (t *tailer) start() bool {
	files, err := listEventFiles(os.DirFS(t.dir))
	if err != nil || len(files) == 0 {
		return false
	}
	if t.opt.FromEnd {
		last := files[len(files)-1]
		f, err := os.Open(filepath.Join(t.dir, last.name))
		if err != nil {
			return false
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return false
		}
		line, good, err := readTail(f, fi.Size())
		if err != nil {
			return false
		}
		t.file, t.off, t.expect = last.name, good, last.first
		if rec, err := parseLine(line); err == nil {
			t.expect, t.prev, t.havePrev = rec.Seq+1, rec.Hash, true
		}
		return true
	}
	t.file = files[0].name
	for _, ef := range files {
		if ef.first <= t.expect {
			t.file = ef.name
		}
	}
	return true
}

// next moves to the file holding the next seq, if it exists yet.
func (t *tailer) next() bool {
	files, err := listEventFiles(os.DirFS(t.dir))
	if err != nil {
		return false
	}
	cur, _ := parseEventsFileName(t.file)
	for _, ef := range files {
		if ef.first > cur && ef.first <= t.expect {
			// A newer file exists, so the current one is complete: read
			// what is left of it before switching (the caller runs again).
			if data, err := t.read(); err == nil && bytes.IndexByte(data, '\n') >= 0 {
				return true
			}
			t.file, t.off = ef.name, 0
			return true
		}
	}
	if _, err := os.Stat(filepath.Join(t.dir, t.file)); errors.Is(err, fs.ErrNotExist) {
		// Removed and nothing newer holds the next seq: start over from
		// the oldest file (a gap, if any, is reported by deliver).
		t.file = ""
	}
	return false
}

// read returns the bytes of the current file after off.
func (t *tailer) read() ([]byte, error) {
	f, err := os.Open(filepath.Join(t.dir, t.file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

// deliver checks a line's place in the chain and yields it if it matches.
func (t *tailer) deliver(line []byte, yield func(*Event, error) bool) bool {
	rec, err := parseLine(line)
	if err != nil {
		return yield(nil, fmt.Errorf("audit: %s: %w", t.file, err))
	}
	if rec.Seq < t.expect && !t.havePrev {
		return true // before the start point
	}
	if rec.computeHash() != rec.Hash {
		return yield(nil, fmt.Errorf("audit: %s: seq %d does not match its hash", t.file, rec.Seq))
	}
	if t.havePrev && (rec.Seq != t.expect || rec.Prev != t.prev) {
		if !yield(nil, fmt.Errorf("audit: %s: seq %d does not follow seq %d", t.file, rec.Seq, t.expect-1)) {
			return false
		}
	}
	t.expect, t.prev, t.havePrev = rec.Seq+1, rec.Hash, true
	ev, err := decodeRecord(line, &rec)
	if err != nil {
		return yield(nil, err)
	}
	if !t.opt.Filter.Match(ev) {
		return true
	}
	return yield(ev, nil)
}
