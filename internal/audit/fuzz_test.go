package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// seedLog writes a small real log for fuzz seeds.
func seedLog(f *testing.F) (events, checkpoints []byte) {
	root := f.TempDir()
	m, _ := openTest(f, Config{Dir: root, CheckpointEvents: 2})
	appendN(f, m, "p1", 1, 3)
	m.Close()
	dir := LogDir(root, "p1")
	for _, n := range eventFileNames(f, dir) {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			f.Fatal(err)
		}
		events = append(events, b...)
	}
	checkpoints, err := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if err != nil {
		f.Fatal(err)
	}
	return events, checkpoints
}

// A line parseLine accepts re-encodes to the same bytes, and when its
// hash is right, appendLine rebuilds it exactly.
func FuzzParseLine(f *testing.F) {
	events, _ := seedLog(f)
	for _, l := range bytes.Split(events, []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"seq":1,"prev":"` + strings.Repeat("0", 64) + `","a":0,"hash":"` + strings.Repeat("f", 64) + `"}`))
	f.Add([]byte(`{"seq":01}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := parseLine(line)
		if err != nil {
			return
		}
		prefix := fmt.Sprintf(`{"seq":%d,"prev":"%x",`, rec.Seq, rec.Prev)
		suffix := fmt.Sprintf(`,"hash":"%x"}`, rec.Hash)
		if !bytes.HasPrefix(line, []byte(prefix)) || !bytes.HasSuffix(line, []byte(suffix)) {
			t.Fatalf("parseLine(%q) = seq %d prev %x hash %x, which does not re-encode to the line", line, rec.Seq, rec.Prev, rec.Hash)
		}
		rest := append(bytes.Clone(rec.head[len(prefix):]), '}')
		if rec.computeHash() == rec.Hash {
			again, h := appendLine(nil, rec.Seq, &rec.Prev, rest)
			if !bytes.Equal(again, append(bytes.Clone(line), '\n')) || h != rec.Hash {
				t.Fatalf("appendLine(parseLine(%q)) = %q, want the line back", line, again)
			}
		}
		ParseEvent(line)
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	_, cps := seedLog(f)
	for _, l := range bytes.Split(cps, []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"log":"p1","seq":1,"head":"","first":1,"time":"","sig":""}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		cp, err := parseCheckpoint(line)
		if err != nil {
			return
		}
		again := cp.marshalLine()
		cp2, err := parseCheckpoint(again[:len(again)-1])
		if err != nil {
			t.Fatalf("parseCheckpoint(marshalLine(%q)) error = %v", line, err)
		}
		if diff := cmp.Diff(cp, cp2); diff != "" {
			t.Fatalf("checkpoint changed in a round trip (-first +second):\n%s", diff)
		}
		if !bytes.Equal(cp.Text(), cp2.Text()) {
			t.Fatalf("checkpoint text changed in a round trip")
		}
	})
}

// Verify and Query never panic on arbitrary files, and what Verify calls
// clean is consistent.
func FuzzVerify(f *testing.F) {
	events, cps := seedLog(f)
	f.Add(events, cps, uint8(0))
	f.Add(events, cps, uint8(3))
	f.Add(events[:len(events)/2], cps, uint8(0))
	f.Add([]byte("{}\n\n\x00"), []byte("{\n"), uint8(1))
	pub := testPub("p1")
	f.Fuzz(func(t *testing.T, events, cps []byte, split uint8) {
		fsys := fstest.MapFS{checkpointsFile: {Data: cps}}
		// Optionally split the events into two files at a line boundary,
		// naming the second after the seq its first line claims.
		lines := bytes.SplitAfter(events, []byte("\n"))
		if k := int(split); k > 0 && k < len(lines) {
			first := bytes.Join(lines[:k], nil)
			second := bytes.Join(lines[k:], nil)
			fsys[eventsFileName(1)] = &fstest.MapFile{Data: first}
			name := eventsFileName(uint64(k) + 1)
			if rec, err := parseLine(bytes.TrimSuffix(lines[k], []byte("\n"))); err == nil {
				name = eventsFileName(rec.Seq)
			}
			fsys[name] = &fstest.MapFile{Data: second}
		} else {
			fsys[eventsFileName(1)] = &fstest.MapFile{Data: events}
		}
		rep, err := VerifyFS(fsys, pub)
		if err != nil {
			t.Fatalf("VerifyFS() error = %v", err)
		}
		if rep.Events > uint64(len(lines)) {
			t.Fatalf("VerifyFS() = %d events from %d lines", rep.Events, len(lines))
		}
		if rep.Events > 0 && rep.LastSeq-rep.FirstSeq+1 != rep.Events {
			t.Fatalf("VerifyFS() = events %d..%d but count %d", rep.FirstSeq, rep.LastSeq, rep.Events)
		}
		if rep.OK() && rep.LastCheckpoint != nil && rep.LastCheckpoint.Seq > rep.LastSeq {
			t.Fatalf("VerifyFS() clean with a checkpoint at %d beyond the last event %d", rep.LastCheckpoint.Seq, rep.LastSeq)
		}
		for range queryFS(fsys, Filter{}) {
		}
	})
}

// Redaction leaves nothing that looks like a token, and is idempotent.
func FuzzRedactTokens(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
	f.Add("eyJeyJeyJ.eyJ.eyJ")
	f.Add("x eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		got, _ := redactTokens(s)
		if _, _, ok := findToken(got); ok {
			t.Fatalf("redactTokens(%q) = %q, which still holds a token", s, got)
		}
		if again, changed := redactTokens(got); changed || again != got {
			t.Fatalf("redactTokens is not idempotent on %q", got)
		}
	})
}
