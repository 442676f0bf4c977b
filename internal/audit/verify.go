package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
)

// errLooksLikeToken rejects events that would carry a bearer token.
var errLooksLikeToken = errors.New("audit: refusing an event that contains what looks like a token")

// guard is defence in depth: Events are built from names and ids only, but
// if a code path ever put a JWT into one, it is refused rather than written.
func guard(ev *Event) error {
	v := reflect.ValueOf(ev).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.String && looksLikeJWT(f.String()) {
			return errLooksLikeToken
		}
	}
	if ev.Identity != nil {
		id := reflect.ValueOf(ev.Identity).Elem()
		for i := 0; i < id.NumField(); i++ {
			if looksLikeJWT(id.Field(i).String()) {
				return errLooksLikeToken
			}
		}
	}
	return nil
}

func looksLikeJWT(s string) bool {
	i := strings.Index(s, "eyJ")
	return i >= 0 && strings.Count(s[i:], ".") >= 2 && len(s)-i > 40
}

// Problem is the first inconsistency Verify found.
type Problem struct {
	File   string
	Line   int
	Seq    uint64
	Reason string
}

func (p *Problem) String() string {
	if p.File == "" {
		return p.Reason
	}
	return fmt.Sprintf("%s line %d (seq %d): %s", p.File, p.Line, p.Seq, p.Reason)
}

// Report is the result of verifying a log.
type Report struct {
	Events         uint64
	Files          int
	Checkpoints    int
	LastCheckpoint *Checkpoint
	FirstBad       *Problem
}

// OK reports whether the log verified clean.
func (r *Report) OK() bool { return r.FirstBad == nil }

// Verify walks one log directory offline: every event's hash and link to
// its predecessor, sequence continuity across files, and every checkpoint's
// signature and head. It reports the first modified, deleted, reordered or
// truncated event. pub is the log's published checkpoint key; pool names
// the log (it is in the genesis hash and the checkpoint text).
func Verify(dir, pool string, pub ed25519.PublicKey) (*Report, error) {
	files, err := eventFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: reading %s: %w", dir, err)
	}
	rep := &Report{Files: len(files)}
	cps, cpErr := readCheckpoints(dir)
	rep.Checkpoints = len(cps)
	// heads records the computed head at each checkpointed seq.
	want := map[uint64]bool{}
	for _, cp := range cps {
		want[cp.Seq] = true
	}
	heads := map[uint64]string{}
	prev := GenesisHash(pool)
	var seq uint64
	bad := func(file string, n int, s uint64, format string, args ...any) (*Report, error) {
		rep.FirstBad = &Problem{File: file, Line: n, Seq: s, Reason: fmt.Sprintf(format, args...)}
		return rep, nil
	}
	for fi, name := range files {
		var first uint64
		if _, err := fmt.Sscanf(name, "events-%020d.jsonl", &first); err != nil {
			return bad(name, 0, 0, "unexpected file name")
		}
		if first != seq+1 {
			return bad(name, 0, seq+1, "file starts at seq %d but seq %d was expected: events are missing", first, seq+1)
		}
		lines, err := readLines(filepath.Join(dir, name))
		if err != nil {
			if fi != len(files)-1 || len(lines) == 0 {
				return bad(name, len(lines)+1, seq+1, "%v", err)
			}
			return bad(name, len(lines)+1, seq+1, "the file ends with a torn line")
		}
		for n, raw := range lines {
			rec, err := parseLine(raw)
			if err != nil {
				return bad(name, n+1, seq+1, "%v", err)
			}
			if rec.Seq != seq+1 {
				return bad(name, n+1, seq+1, "found seq %d where %d was expected: events were deleted, reordered or inserted", rec.Seq, seq+1)
			}
			if rec.Prev != hex.EncodeToString(prev[:]) {
				return bad(name, n+1, rec.Seq, "prev does not match the previous event's hash: an event before it changed or the order changed")
			}
			h := sha256.New()
			h.Write(prev[:])
			h.Write(rec.body)
			var got [32]byte
			copy(got[:], h.Sum(nil))
			if got != rec.hash {
				return bad(name, n+1, rec.Seq, "the event's content does not match its hash: it was modified")
			}
			prev, seq = got, rec.Seq
			if want[seq] {
				heads[seq] = hex.EncodeToString(got[:])
			}
		}
	}
	rep.Events = seq
	if cpErr != nil {
		return bad("checkpoints.jsonl", 0, 0, "%v", cpErr)
	}
	for i, cp := range cps {
		cp := cp
		if !ed25519.Verify(pub, CheckpointText(pool, cp.Seq, cp.Head, cp.Time), cp.Signature) {
			return bad("checkpoints.jsonl", i+1, cp.Seq, "the checkpoint's signature does not verify")
		}
		if cp.Seq > seq {
			return bad("checkpoints.jsonl", i+1, cp.Seq, "the checkpoint covers %d events but the log holds %d: the log was truncated", cp.Seq, seq)
		}
		if heads[cp.Seq] != cp.Head {
			return bad("checkpoints.jsonl", i+1, cp.Seq, "the log's head at seq %d differs from the signed checkpoint: the log was rewritten", cp.Seq)
		}
		rep.LastCheckpoint = &cps[i]
	}
	return rep, nil
}
