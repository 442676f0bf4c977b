package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// layout says where each seq of a log lives.
type layout struct {
	files []string          // in seq order
	first map[string]uint64 // file → first seq
	at    map[uint64]lineAt
	last  uint64
	ckpts []uint64 // checkpoint seqs in order
}

type lineAt struct {
	file string
	idx  int
}

func readLayout(t *testing.T, dir string) layout {
	t.Helper()
	lay := layout{first: map[string]uint64{}, at: map[uint64]lineAt{}}
	for _, name := range eventFileNames(t, dir) {
		lay.files = append(lay.files, name)
		for i, l := range fileLines(t, filepath.Join(dir, name)) {
			rec, err := parseLine(l)
			if err != nil {
				t.Fatalf("parseLine(%s:%d) error = %v", name, i+1, err)
			}
			if i == 0 {
				lay.first[name] = rec.Seq
			}
			lay.at[rec.Seq] = lineAt{name, i}
			lay.last = rec.Seq
		}
	}
	for _, cp := range readCheckpointsFile(t, dir) {
		lay.ckpts = append(lay.ckpts, cp.Seq)
	}
	return lay
}

// buildTamperLog writes 23 events to pool p1 in several files, with a
// checkpoint every 5 events and one at Close.
func buildTamperLog(t *testing.T) (string, layout) {
	t.Helper()
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, RotateBytes: 3200, CheckpointEvents: 5, CheckpointEvery: time.Hour})
	appendN(t, m, "p1", 1, 23)
	if err := m.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	dir := LogDir(root, "p1")
	lay := readLayout(t, dir)
	if len(lay.files) < 4 || lay.last != 23 {
		t.Fatalf("log layout = %d files up to seq %d, want at least 4 files up to seq 23", len(lay.files), lay.last)
	}
	return dir, lay
}

// editLine applies fn to the line of seq.
func editLine(t *testing.T, dir string, lay layout, seq uint64, fn func([]byte) []byte) {
	t.Helper()
	at := lay.at[seq]
	path := filepath.Join(dir, at.file)
	lines := fileLines(t, path)
	lines[at.idx] = fn(slices.Clone(lines[at.idx]))
	writeLines(t, path, lines)
}

// forge rewrites every event from seq on with fn applied to event seq,
// recomputing a consistent chain: what an attacker without the checkpoint
// key can do.
func forge(t *testing.T, dir string, lay layout, seq uint64, fn func(*Event)) map[uint64][32]byte {
	t.Helper()
	heads := map[uint64][32]byte{}
	var prev [32]byte
	started := false
	for _, name := range lay.files {
		path := filepath.Join(dir, name)
		lines := fileLines(t, path)
		changed := false
		for i, l := range lines {
			ev, err := ParseEvent(l)
			if err != nil {
				t.Fatal(err)
			}
			s := ev.Seq
			if s < seq {
				copy(prev[:], mustHex(t, ev.Hash))
				heads[s] = prev
				continue
			}
			if s == seq {
				fn(ev)
				started = true
			}
			ev.Seq, ev.PrevHash, ev.Hash = 0, "", ""
			rest, err := eventRest(ev)
			if err != nil {
				t.Fatal(err)
			}
			var line []byte
			line, prev = appendLine(nil, s, &prev, rest)
			lines[i] = bytes.TrimSuffix(line, []byte("\n"))
			heads[s] = prev
			changed = true
		}
		if changed {
			writeLines(t, path, lines)
		}
	}
	if !started {
		t.Fatalf("forge: seq %d not found", seq)
	}
	return heads
}

func mustHex(t *testing.T, s string) []byte {
	var b [32]byte
	if !decodeHex(b[:], []byte(s)) {
		t.Fatalf("bad hex %q", s)
	}
	return b[:]
}

// resign rewrites every checkpoint with the given heads and key.
func resign(t *testing.T, dir string, heads map[uint64][32]byte, key ed25519.PrivateKey) {
	t.Helper()
	cps := readCheckpointsFile(t, dir)
	var out [][]byte
	for _, cp := range cps {
		cp.Head = heads[cp.Seq]
		cp.Signature = ed25519.Sign(key, cp.Text())
		out = append(out, bytes.TrimSuffix(cp.marshalLine(), []byte("\n")))
	}
	writeLines(t, filepath.Join(dir, checkpointsFile), out)
}

func TestVerifyClean(t *testing.T) {
	dir, lay := buildTamperLog(t)
	rep := verifyClean(t, dir, "p1")
	want := Report{Log: "p1", Files: len(lay.files), Events: 23, FirstSeq: 1, LastSeq: 23, Checkpoints: len(lay.ckpts), Unsigned: 0}
	got := *rep
	got.LastCheckpoint = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify() mismatch (-want +got):\n%s", diff)
	}
	if rep.LastCheckpoint == nil || rep.LastCheckpoint.Seq != 23 {
		t.Errorf("Verify().LastCheckpoint = %+v, want seq 23", rep.LastCheckpoint)
	}
	if !slices.Contains(lay.ckpts, 5) || !slices.Contains(lay.ckpts, 23) {
		t.Errorf("checkpoints at %v, want one after 5 events and one at Close", lay.ckpts)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	base, lay := buildTamperLog(t)
	// The last checkpoint below seq 22, for the forgery of the last file.
	var below22 uint64
	for _, s := range lay.ckpts {
		if s < 22 {
			below22 = max(below22, s)
		}
	}
	second := lay.files[1]
	lastFile := lay.files[len(lay.files)-1]
	tests := []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		wantSeq  uint64
		wantFile string
		wantWhy  string
	}{
		{
			name: "edit a byte inside an event",
			tamper: func(t *testing.T, dir string) {
				editLine(t, dir, lay, 7, func(l []byte) []byte { return bytes.Replace(l, []byte("10.0.0.1"), []byte("10.0.0.9"), 1) })
			},
			wantSeq: 7, wantFile: lay.at[7].file, wantWhy: "modified",
		},
		{
			name: "edit the hash member",
			tamper: func(t *testing.T, dir string) {
				editLine(t, dir, lay, 8, func(l []byte) []byte {
					i := len(l) - 3
					l[i] = map[bool]byte{true: '0', false: '1'}[l[i] != '0']
					return l
				})
			},
			wantSeq: 8, wantFile: lay.at[8].file, wantWhy: "modified",
		},
		{
			name: "edit the seq",
			tamper: func(t *testing.T, dir string) {
				editLine(t, dir, lay, 12, func(l []byte) []byte { return bytes.Replace(l, []byte(`"seq":12,`), []byte(`"seq":13,`), 1) })
			},
			wantSeq: 12, wantFile: lay.at[12].file, wantWhy: "reordered",
		},
		{
			name: "delete an event",
			tamper: func(t *testing.T, dir string) {
				at := lay.at[9]
				path := filepath.Join(dir, at.file)
				lines := fileLines(t, path)
				writeLines(t, path, slices.Delete(lines, at.idx, at.idx+1))
			},
			wantSeq: 9, wantFile: lay.at[9].file,
		},
		{
			name: "insert a copy of an event",
			tamper: func(t *testing.T, dir string) {
				at := lay.at[9]
				path := filepath.Join(dir, at.file)
				lines := fileLines(t, path)
				writeLines(t, path, slices.Insert(lines, at.idx+1, lines[at.idx]))
			},
			wantSeq: 10, wantFile: lay.at[9].file,
		},
		{
			name: "swap two events",
			tamper: func(t *testing.T, dir string) {
				a, b := lay.at[16], lay.at[17]
				if a.file != b.file {
					t.Fatalf("seq 16 and 17 are in different files")
				}
				path := filepath.Join(dir, a.file)
				lines := fileLines(t, path)
				lines[a.idx], lines[b.idx] = lines[b.idx], lines[a.idx]
				writeLines(t, path, lines)
			},
			wantSeq: 16, wantFile: lay.at[16].file, wantWhy: "reordered",
		},
		{
			name: "truncate the tail below the last checkpoint",
			tamper: func(t *testing.T, dir string) {
				path := filepath.Join(dir, lastFile)
				lines := fileLines(t, path)
				writeLines(t, path, lines[:1])
			},
			wantSeq: lay.first[lastFile] + 1, wantFile: checkpointsFile, wantWhy: "cut off",
		},
		{
			name:     "delete the newest file",
			tamper:   func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, lastFile)) },
			wantSeq:  lay.first[lastFile],
			wantFile: checkpointsFile, wantWhy: "cut off",
		},
		{
			name:     "delete a rotated file",
			tamper:   func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, second)) },
			wantSeq:  lay.first[second],
			wantFile: lay.files[2], wantWhy: "missing",
		},
		{
			name:     "delete the oldest file",
			tamper:   func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, lay.files[0])) },
			wantSeq:  1,
			wantFile: lay.files[1], wantWhy: "missing",
		},
		{
			name: "replace the newest file with a self-consistent forgery",
			tamper: func(t *testing.T, dir string) {
				forge(t, dir, lay, 22, func(ev *Event) { ev.OperationName = "KeyGet" })
			},
			wantSeq: below22 + 1, wantFile: checkpointsFile, wantWhy: "rewritten",
		},
		{
			name: "forge the whole log and re-sign checkpoints with another key",
			tamper: func(t *testing.T, dir string) {
				heads := forge(t, dir, lay, 3, func(ev *Event) { ev.KeyName = "other" })
				seed := sha256.Sum256([]byte("attacker"))
				resign(t, dir, heads, ed25519.NewKeyFromSeed(seed[:]))
			},
			wantSeq: 1, wantFile: checkpointsFile, wantWhy: "signature",
		},
		{
			name: "edit a checkpoint",
			tamper: func(t *testing.T, dir string) {
				path := filepath.Join(dir, checkpointsFile)
				lines := fileLines(t, path)
				lines[1] = bytes.Replace(lines[1], []byte(`"first":1`), []byte(`"first":2`), 1)
				writeLines(t, path, lines)
			},
			wantSeq: lay.ckpts[0] + 1, wantFile: checkpointsFile, wantWhy: "signature",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tc.tamper(t, dir)
			rep, err := Verify(dir, testPub("p1"))
			if err != nil {
				t.Fatalf("Verify() error = %v", err)
			}
			if rep.FirstBad == nil {
				t.Fatalf("Verify().FirstBad = nil, want seq %d", tc.wantSeq)
			}
			if rep.FirstBad.Seq != tc.wantSeq || rep.FirstBad.File != tc.wantFile || !strings.Contains(rep.FirstBad.Reason, tc.wantWhy) {
				t.Errorf("Verify().FirstBad = %v, want seq %d in %s (%q)", rep.FirstBad, tc.wantSeq, tc.wantFile, tc.wantWhy)
			}
		})
	}
}

func TestVerifyOtherPoolsLog(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	appendN(t, m, "p2", 1, 3)
	m.Close()
	rep, err := Verify(LogDir(root, "p2"), testPub("p1"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.FirstBad == nil || rep.FirstBad.Seq != 1 || !strings.Contains(rep.FirstBad.Reason, "signature") {
		t.Errorf("Verify(p2's log, p1's key).FirstBad = %v, want a signature problem at seq 1", rep.FirstBad)
	}
}

func TestVerifyTornTail(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	appendN(t, m, "", 1, 4)
	m.Close()
	dir := LogDir(root, "")
	files := eventFileNames(t, dir)
	f, err := os.OpenFile(filepath.Join(dir, files[len(files)-1]), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":5,"prev":"00`)
	f.Close()
	rep := verifyClean(t, dir, "")
	if !rep.TornTail || rep.Events != 4 || rep.Log != SystemLog {
		t.Errorf("Verify(torn) = torn %v, %d events, log %q, want torn, 4 events, log %q", rep.TornTail, rep.Events, rep.Log, SystemLog)
	}
}

func TestVerifyUnsigned(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, CheckpointEvents: 4, CheckpointEvery: time.Hour})
	appendN(t, m, "p1", 1, 6)
	// Not closed: no final checkpoint yet.
	rep := verifyClean(t, LogDir(root, "p1"), "p1")
	if rep.Unsigned != 2 || rep.LastCheckpoint == nil || rep.LastCheckpoint.Seq != 4 {
		t.Errorf("Verify() = %d unsigned after checkpoint %+v, want 2 after seq 4", rep.Unsigned, rep.LastCheckpoint)
	}
}

func TestVerifyEmptyAndMissing(t *testing.T) {
	rep := verifyClean(t, t.TempDir(), "p1")
	if rep.Events != 0 || rep.Files != 0 {
		t.Errorf("Verify(empty dir) = %+v, want no events", rep)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "absent"), testPub("p1")); err == nil {
		t.Errorf("Verify(absent dir) error = nil, want an error")
	}
}
