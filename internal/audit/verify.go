package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Problem is the first inconsistency Verify found.
type Problem struct {
	File string // file name inside the log directory
	Line int    // 1-based line, or 0 when the problem is a whole file
	// Seq is the first event that can no longer be trusted: the modified,
	// missing or misplaced event, or for a checkpoint that does not match,
	// the first event after the last checkpoint that did.
	Seq    uint64
	Reason string
}

func (p *Problem) Error() string {
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s: seq %d: %s", where, p.Seq, p.Reason)
}

// Report is the result of verifying one log.
type Report struct {
	Log            string // the log's name, from its checkpoints or first event
	Files          int    // events files
	Events         uint64 // events whose chain verified, FirstSeq to LastSeq
	FirstSeq       uint64
	LastSeq        uint64
	Checkpoints    int         // checkpoints with a valid signature
	LastCheckpoint *Checkpoint // newest checkpoint that signs a verified head
	// Unsigned counts verified events after LastCheckpoint: their chain is
	// intact but no signature covers them yet, so cutting them off would
	// go unnoticed until the next checkpoint.
	Unsigned uint64
	// TornTail means the newest file ends in a partial line, as a crash
	// mid-write leaves it; that event was never acknowledged. The server
	// cuts it off when it next opens the log.
	TornTail bool
	FirstBad *Problem // nil when the log verified clean
}

// OK reports whether the log verified clean.
func (r *Report) OK() bool { return r.FirstBad == nil }

// Verify checks one log directory (Config.Dir/<pool>) offline with the
// log's published checkpoint key: every event's hash and link to its
// predecessor, seq continuity within and across files, every checkpoint's
// signature, and that each signed head matches the events. It finds an
// edited, deleted, inserted or reordered event, a deleted file, a tail cut
// off below the last checkpoint, and a self-consistent rewrite of a file.
// It reads files in a streaming way and never re-encodes an event.
//
// The error is for a directory that cannot be read; anything wrong with
// its content is Report.FirstBad.
func Verify(dir string, pub ed25519.PublicKey) (*Report, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return VerifyFS(os.DirFS(dir), pub)
}

// VerifyFS is Verify on a file system holding one log's files at its
// root (for example a copy in an archive).
func VerifyFS(fsys fs.FS, pub ed25519.PublicKey) (*Report, error) {
	files, err := listEventFiles(fsys)
	if err != nil {
		return nil, fmt.Errorf("audit: listing events files: %w", err)
	}
	v := &verifier{fsys: fsys, pub: pub, rep: &Report{Files: len(files)}}
	v.readCheckpoints()
	v.walk(files)
	v.matchCheckpoints()
	rep := v.rep
	rep.FirstBad = v.firstBad()
	if rep.LastCheckpoint != nil && rep.LastSeq >= rep.LastCheckpoint.Seq {
		rep.Unsigned = rep.LastSeq - rep.LastCheckpoint.Seq
	} else {
		rep.Unsigned = rep.Events
	}
	return rep, nil
}

type verifier struct {
	fsys fs.FS
	pub  ed25519.PublicKey
	rep  *Report

	cps      []*Checkpoint // signature-valid checkpoints, in file order
	cpLines  []int
	cpBad    *Problem
	first    uint64 // oldest event the checkpoints say is kept
	chainBad *Problem
	heads    map[uint64][32]byte // computed heads at checkpointed seqs
	anchor   [32]byte            // prev of the first verified event
}

// firstBad returns the problem with the lowest seq (the chain's on a tie).
func (v *verifier) firstBad() *Problem {
	switch {
	case v.chainBad == nil:
		return v.cpBad
	case v.cpBad == nil || v.chainBad.Seq <= v.cpBad.Seq:
		return v.chainBad
	default:
		return v.cpBad
	}
}

func (v *verifier) badCheckpoint(line int, seq uint64, format string, args ...any) {
	if v.cpBad == nil || seq < v.cpBad.Seq {
		v.cpBad = &Problem{File: checkpointsFile, Line: line, Seq: seq, Reason: fmt.Sprintf(format, args...)}
	}
}

// readCheckpoints keeps the checkpoints whose signature verifies and
// notes the first one that does not, or that goes backwards.
func (v *verifier) readCheckpoints() {
	v.first = 1
	f, err := v.fsys.Open(checkpointsFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			v.badCheckpoint(0, 1, "cannot read: %v", err)
		}
		return
	}
	defer f.Close()
	lr := newLineReader(f, 4096)
	var lastGood uint64 // seq of the last valid checkpoint
	for n := 1; ; n++ {
		line, complete, err := lr.next()
		if err == io.EOF {
			return
		}
		if err != nil {
			v.badCheckpoint(n, lastGood+1, "%v", err)
			return
		}
		if !complete {
			v.rep.TornTail = true
			return
		}
		cp, err := parseCheckpoint(line)
		if err != nil {
			v.badCheckpoint(n, lastGood+1, "%v", err)
			continue
		}
		if v.rep.Log == "" {
			v.rep.Log = cp.Log
		}
		switch {
		case cp.Log != v.rep.Log:
			v.badCheckpoint(n, lastGood+1, "checkpoint is for log %q, not %q", cp.Log, v.rep.Log)
		case !cp.Verify(v.pub):
			v.badCheckpoint(n, lastGood+1, "checkpoint signature does not verify with the log's public key: the checkpoints were forged or the key is wrong")
		case len(v.cps) > 0 && (cp.Seq < v.cps[len(v.cps)-1].Seq || cp.First < v.cps[len(v.cps)-1].First):
			v.badCheckpoint(n, lastGood+1, "checkpoint goes backwards (seq %d, first %d after seq %d, first %d)", cp.Seq, cp.First, v.cps[len(v.cps)-1].Seq, v.cps[len(v.cps)-1].First)
		default:
			v.cps = append(v.cps, cp)
			v.cpLines = append(v.cpLines, n)
			v.first = max(v.first, cp.First)
			lastGood = cp.Seq
		}
	}
}

// walk verifies the chain across files until the first break.
func (v *verifier) walk(files []eventsFile) {
	v.heads = make(map[uint64][32]byte, len(v.cps))
	want := make(map[uint64]bool, len(v.cps))
	for _, cp := range v.cps {
		want[cp.Seq] = true
	}
	bad := func(file string, line int, seq uint64, format string, args ...any) {
		v.chainBad = &Problem{File: file, Line: line, Seq: seq, Reason: fmt.Sprintf(format, args...)}
	}
	var prev [32]byte
	expect := uint64(0) // next seq; 0 before the first event
	for i, ef := range files {
		if expect == 0 {
			if ef.first > v.first {
				bad(ef.name, 0, v.first, "the log starts at seq %d but its checkpoints keep events from seq %d: events %d to %d are missing (a file was deleted)", ef.first, v.first, v.first, ef.first-1)
				return
			}
		} else if ef.first != expect {
			if ef.first > expect {
				bad(ef.name, 0, expect, "file starts at seq %d after seq %d: events %d to %d are missing (a file was deleted)", ef.first, expect-1, expect, ef.first-1)
			} else {
				bad(ef.name, 0, expect, "file starts at seq %d but seq %d was already seen", ef.first, ef.first)
			}
			return
		}
		f, err := v.fsys.Open(ef.name)
		if err != nil {
			bad(ef.name, 0, max(expect, ef.first), "cannot read: %v", err)
			return
		}
		lr := newLineReader(f, maxLineBytes)
		for n := 1; ; n++ {
			line, complete, err := lr.next()
			if err == io.EOF {
				break
			}
			seq := max(expect, ef.first)
			if err != nil {
				f.Close()
				bad(ef.name, n, seq, "%v", err)
				return
			}
			if !complete {
				if i == len(files)-1 {
					v.rep.TornTail = true
					break
				}
				f.Close()
				bad(ef.name, n, seq, "a file that is not the newest ends in a partial line")
				return
			}
			rec, err := parseLine(line)
			if err != nil {
				f.Close()
				bad(ef.name, n, seq, "event is malformed: %v", err)
				return
			}
			if expect == 0 {
				// The first event: its prev is the genesis, or for a log
				// trimmed by retention, whatever the trimmed event hashed to
				// (checked against a checkpoint below, if one signed it).
				if rec.Seq != ef.first {
					f.Close()
					bad(ef.name, n, ef.first, "file name says seq %d but its first event is seq %d", ef.first, rec.Seq)
					return
				}
				if rec.Seq == 1 {
					if v.rep.Log == "" {
						v.rep.Log = logOfLine(line)
					}
					prev = GenesisHash(v.rep.Log)
				} else {
					prev = rec.Prev
				}
				expect, v.anchor = rec.Seq, prev
				v.rep.FirstSeq = rec.Seq
			}
			switch {
			case rec.Seq != expect:
				f.Close()
				bad(ef.name, n, expect, "found seq %d where seq %d belongs: events were deleted, inserted or reordered", rec.Seq, expect)
				return
			case rec.Prev != prev:
				f.Close()
				bad(ef.name, n, expect, "prev does not match the hash of the event before it: an event was removed, reordered or changed")
				return
			case rec.computeHash() != rec.Hash:
				f.Close()
				bad(ef.name, n, expect, "the event's content does not match its hash: it was modified")
				return
			}
			prev = rec.Hash
			if want[rec.Seq] {
				v.heads[rec.Seq] = rec.Hash
			}
			v.rep.Events++
			v.rep.LastSeq = rec.Seq
			expect++
		}
		f.Close()
	}
}

// logOfLine returns the log an event line names through its pool member.
func logOfLine(line []byte) string {
	var p struct {
		Pool string `json:"pool"`
	}
	if json.Unmarshal(line, &p) != nil || checkPool(p.Pool) != nil {
		return ""
	}
	return LogDirName(p.Pool)
}

// matchCheckpoints checks each signed head against the verified chain.
func (v *verifier) matchCheckpoints() {
	rep := v.rep
	v.rep.Checkpoints = len(v.cps)
	verified := rep.Events > 0
	var lastMatched uint64
	if verified {
		lastMatched = rep.FirstSeq - 1
	}
	for i, cp := range v.cps {
		line := v.cpLines[i]
		switch {
		case !verified || cp.Seq > rep.LastSeq:
			from := max(rep.LastSeq+1, v.first)
			if v.chainBad != nil || from > cp.Seq {
				continue // beyond the break, or every event it signs was retired
			}
			v.badCheckpoint(line, from, "a signed checkpoint covers seq %d but the log holds events only up to seq %d: events %d to %d were cut off", cp.Seq, from-1, from, cp.Seq)
		case cp.Seq+1 < rep.FirstSeq:
			// Signs events removed by retention: nothing left to compare.
		case cp.Seq+1 == rep.FirstSeq:
			if cp.Head != v.anchor {
				v.badCheckpoint(line, rep.FirstSeq, "the oldest kept event does not follow the signed head at seq %d: the log was rewritten", cp.Seq)
				continue
			}
			lastMatched = max(lastMatched, cp.Seq)
			if rep.LastCheckpoint == nil || cp.Seq >= rep.LastCheckpoint.Seq {
				rep.LastCheckpoint = cp
			}
		default:
			if v.heads[cp.Seq] != cp.Head {
				v.badCheckpoint(line, lastMatched+1, "the log's head at seq %d differs from the signed checkpoint: events after seq %d were rewritten", cp.Seq, lastMatched)
				continue
			}
			lastMatched = max(lastMatched, cp.Seq)
			if rep.LastCheckpoint == nil || cp.Seq >= rep.LastCheckpoint.Seq {
				rep.LastCheckpoint = cp
			}
		}
	}
}

// lineReader reads newline-terminated lines up to a maximum length.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its newline, and whether it had one
// (only the last line of a file can lack it). The line is valid until the
// next call. It returns io.EOF after the last line.
func (lr *lineReader) next() ([]byte, bool, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(lr.buf)+len(chunk) > lr.max+1 {
			return nil, false, fmt.Errorf("line is longer than %d bytes", lr.max)
		}
		switch {
		case err == nil:
			if len(lr.buf) == 0 {
				return chunk[:len(chunk)-1], true, nil
			}
			lr.buf = append(lr.buf, chunk[:len(chunk)-1]...)
			return lr.buf, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			lr.buf = append(lr.buf, chunk...)
		case errors.Is(err, io.EOF):
			lr.buf = append(lr.buf, chunk...)
			if len(lr.buf) == 0 {
				return nil, false, io.EOF
			}
			return lr.buf, false, nil
		default:
			return nil, false, err
		}
	}
}
