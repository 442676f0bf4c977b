package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendSetsChainFields(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	evs := appendN(t, m, "p1", 1, 3)
	prev := hexString(GenesisHash("p1"))
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.PrevHash != prev || len(ev.Hash) != 64 {
			t.Errorf("Append(event %d) = seq %d prev %s hash %q, want seq %d prev %s", i, ev.Seq, ev.PrevHash, ev.Hash, i+1, prev)
		}
		prev = ev.Hash
	}
	got := readLog(t, LogDir(root, "p1"))
	if diff := cmp.Diff(evs, got); diff != "" {
		t.Errorf("events read back differ from those appended (-appended +read):\n%s", diff)
	}
}

func TestAppendRoutesByPool(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	appendN(t, m, "p1", 1, 2)
	appendN(t, m, "", 3, 1)
	appendN(t, m, "p2", 4, 3)
	m.Close()
	for pool, n := range map[string]uint64{"p1": 2, "": 1, "p2": 3} {
		rep := verifyClean(t, LogDir(root, pool), pool)
		if rep.Events != n || rep.Log != LogDirName(pool) {
			t.Errorf("Verify(%s) = %d events of log %q, want %d of %q", LogDirName(pool), rep.Events, rep.Log, n, LogDirName(pool))
		}
	}
	logs, err := Logs(root)
	if err != nil || len(logs) != 3 {
		t.Errorf("Logs(root) = %v, %v, want three logs", logs, err)
	}
}

func TestAppendRejects(t *testing.T) {
	m, _ := openTest(t, Config{})
	tests := []struct {
		name string
		ev   *Event
		want error
	}{
		{name: "nil event", ev: nil, want: ErrInvalidEvent},
		{name: "path in pool", ev: &Event{Pool: "../etc"}, want: ErrInvalidEvent},
		{name: "newline in pool", ev: &Event{Pool: "a\nb"}, want: ErrInvalidEvent},
		{name: "pool named like the system log", ev: &Event{Pool: SystemLog}, want: ErrInvalidEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.Append(t.Context(), tc.ev); !errors.Is(err, tc.want) {
				t.Errorf("Append(%+v) error = %v, want %v", tc.ev, err, tc.want)
			}
		})
	}
}

func TestGroupCommit(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{syncDelay: 2 * time.Millisecond}
	m, _ := openTest(t, Config{Dir: root, hooks: ffs.hooks()})
	const workers, each = 32, 40
	type ack struct {
		seq  uint64
		hash string
		req  string
	}
	acks := make(chan ack, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ev := testEvent("p1", w*each+i)
				if err := m.Append(context.Background(), ev); err != nil {
					t.Errorf("Append() error = %v", err)
					return
				}
				acks <- ack{ev.Seq, ev.Hash, ev.RequestID}
			}
		})
	}
	wg.Wait()
	close(acks)
	const total = workers * each
	syncs := ffs.eventSyncs.Load()
	if syncs*4 > total {
		t.Errorf("%d events took %d fsyncs, want at most a quarter as many", total, syncs)
	}
	t.Logf("%d events, %d fsyncs (%.1f events per fsync)", total, syncs, float64(total)/float64(syncs))
	// Every acknowledged event is on disk, where it said it was.
	onDisk := map[uint64]*Event{}
	for _, ev := range readLog(t, LogDir(root, "p1")) {
		onDisk[ev.Seq] = ev
	}
	n := 0
	for a := range acks {
		n++
		ev := onDisk[a.seq]
		if ev == nil || ev.Hash != a.hash || ev.RequestID != a.req {
			t.Errorf("acknowledged seq %d (%s) is on disk as %+v", a.seq, a.req, ev)
		}
	}
	if n != total || len(onDisk) != total {
		t.Errorf("acknowledged %d, on disk %d, want %d", n, len(onDisk), total)
	}
	st := m.Status()
	if len(st) != 1 || st[0].Events != total || st[0].Batches != uint64(syncs) {
		t.Errorf("Status() = %+v, want %d events in %d batches", st, total, syncs)
	}
	verifyClean(t, LogDir(root, "p1"), "p1")
}

func TestRestartContinuesChain(t *testing.T) {
	root := t.TempDir()
	m1, _ := openTest(t, Config{Dir: root})
	first := appendN(t, m1, "p1", 1, 5)
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	m2, _ := openTest(t, Config{Dir: root})
	ev := testEvent("p1", 6)
	if err := m2.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 6 || ev.PrevHash != first[4].Hash {
		t.Errorf("Append after restart = seq %d prev %s, want seq 6 prev %s", ev.Seq, ev.PrevHash, first[4].Hash)
	}
	m2.Close()
	rep := verifyClean(t, LogDir(root, "p1"), "p1")
	if rep.Events != 6 || rep.Unsigned != 0 {
		t.Errorf("Verify() = %d events, %d unsigned, want 6 and 0", rep.Events, rep.Unsigned)
	}
}

func TestRestartCutsTornLine(t *testing.T) {
	root := t.TempDir()
	m1, _ := openTest(t, Config{Dir: root})
	appendN(t, m1, "p1", 1, 5)
	m1.Close()
	dir := LogDir(root, "p1")
	files := eventFileNames(t, dir)
	path := filepath.Join(dir, files[len(files)-1])
	before, _ := os.ReadFile(path)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":6,"prev":"0123`)
	f.Close()

	m2, logs := openTest(t, Config{Dir: root})
	ev := testEvent("p1", 6)
	if err := m2.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	after, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(after), string(before)) {
		t.Errorf("recovery changed acknowledged events")
	}
	evs := readLog(t, dir)
	if len(evs) != 7 || evs[5].OperationName != "AuditLogRecovered" || !strings.Contains(evs[5].Detail, "torn") || ev.Seq != 7 {
		t.Errorf("after a torn line: %d events, seq 6 = %q %q, new event seq %d; want 7 events, seq 6 AuditLogRecovered, new seq 7",
			len(evs), evs[5].OperationName, evs[5].Detail, ev.Seq)
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Errorf("server log does not mention the torn line:\n%s", logs)
	}
	rep := verifyClean(t, dir, "p1")
	if rep.TornTail {
		t.Errorf("Verify().TornTail = true after recovery, want false")
	}
}

func TestRestartAfterEventsRemoved(t *testing.T) {
	root := t.TempDir()
	m1, _ := openTest(t, Config{Dir: root})
	appendN(t, m1, "p1", 1, 10)
	m1.Close() // final checkpoint at seq 10
	dir := LogDir(root, "p1")
	files := eventFileNames(t, dir)
	path := filepath.Join(dir, files[0])
	writeLines(t, path, fileLines(t, path)[:7])

	m2, logs := openTest(t, Config{Dir: root})
	ev := testEvent("p1", 11)
	if err := m2.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	// seq 11 is the recovery note; no seq is reused.
	if ev.Seq != 12 {
		t.Errorf("Append after removal = seq %d, want 12 (after the checkpoint and the note)", ev.Seq)
	}
	if !strings.Contains(logs.String(), "fewer events than its last checkpoint") {
		t.Errorf("server log does not report the removal:\n%s", logs)
	}
	rep, err := Verify(dir, testPub("p1"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.FirstBad == nil || rep.FirstBad.Seq != 8 {
		t.Errorf("Verify().FirstBad = %v, want events from seq 8 missing", rep.FirstBad)
	}
}

func TestOpenRecoversExistingLogs(t *testing.T) {
	root := t.TempDir()
	m1, _ := openTest(t, Config{Dir: root})
	appendN(t, m1, "p1", 1, 2)
	m1.Close()
	os.Mkdir(filepath.Join(root, "not a log"), 0o700)
	m2, logs := openTest(t, Config{Dir: root})
	waitFor(t, "p1 to be recovered", func() bool {
		st := m2.Status()
		return len(st) == 1 && st[0].Seq == 2
	})
	if !strings.Contains(logs.String(), "names no audit log") {
		t.Errorf("server log does not mention the stray directory:\n%s", logs)
	}
}

func TestCheckpoints(t *testing.T) {
	root := t.TempDir()
	clock := newTestClock()
	m, _ := openTest(t, Config{Dir: root, CheckpointEvents: 5, CheckpointEvery: time.Hour, Now: clock.Now})
	appendN(t, m, "p1", 1, 12)
	cp, err := m.Checkpoint(t.Context(), "p1")
	if err != nil {
		t.Fatalf("Checkpoint(p1) error = %v", err)
	}
	if cp.Seq != 12 || cp.Log != "p1" || cp.First != 1 || !cp.Time.Equal(clock.Now()) || !cp.Verify(testPub("p1")) {
		t.Errorf("Checkpoint(p1) = %+v, want a valid checkpoint at seq 12", cp)
	}
	var seqs []uint64
	for _, c := range readCheckpointsFile(t, LogDir(root, "p1")) {
		seqs = append(seqs, c.Seq)
		if !c.Verify(testPub("p1")) {
			t.Errorf("checkpoint %d does not verify", c.Seq)
		}
	}
	if diff := cmp.Diff([]uint64{5, 10, 12}, seqs); diff != "" {
		t.Errorf("checkpoint seqs mismatch (-want +got):\n%s", diff)
	}
	if _, err := m.Checkpoint(t.Context(), "p9"); err == nil {
		t.Errorf("Checkpoint(empty log) error = nil, want an error")
	}
	pub, err := m.PublicKey("p1")
	if err != nil || !pub.Equal(testPub("p1")) {
		t.Errorf("PublicKey(p1) = %x, %v, want the signer's public key", pub, err)
	}
}

func TestCheckpointEveryInterval(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, CheckpointEvery: 20 * time.Millisecond})
	appendN(t, m, "p1", 1, 3)
	waitFor(t, "a timed checkpoint", func() bool { return m.Status()[0].CheckpointSeq == 3 })
}

func TestRotationAndRetention(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, RotateBytes: 1500, Retain: 2, CheckpointEvery: time.Hour})
	appendN(t, m, "p1", 1, 30)
	m.Close()
	dir := LogDir(root, "p1")
	files := eventFileNames(t, dir)
	if len(files) > 3 {
		t.Errorf("%d events files after retention, want at most 3 (2 rotated + the current)", len(files))
	}
	rep := verifyClean(t, dir, "p1")
	if rep.FirstSeq == 1 || rep.LastSeq != 30 || rep.LastCheckpoint.First != rep.FirstSeq {
		t.Errorf("Verify() = seqs %d..%d, checkpoint first %d; want retention to have moved first past 1 and to the oldest kept", rep.FirstSeq, rep.LastSeq, rep.LastCheckpoint.First)
	}
	// Deleting what retention kept is still caught.
	os.Remove(filepath.Join(dir, files[0]))
	rep, _ = Verify(dir, testPub("p1"))
	if rep.FirstBad == nil || rep.FirstBad.Seq != rep.FirstSeq && rep.FirstBad.Seq == 0 {
		t.Errorf("Verify(oldest kept file deleted).FirstBad = %v, want missing events", rep.FirstBad)
	}
	if f, _ := parseEventsFileName(files[0]); rep.FirstBad == nil || rep.FirstBad.Seq != f {
		t.Errorf("Verify(oldest kept file deleted).FirstBad = %v, want seq %d", rep.FirstBad, f)
	}
}

func TestRotateEveryAndRetainFor(t *testing.T) {
	root := t.TempDir()
	clock := newTestClock()
	// No probes: rotation here follows the batches only (see
	// TestIdleRotation for the probe's part).
	m, _ := openTest(t, Config{Dir: root, RotateEvery: time.Hour, RetainFor: 24 * time.Hour, Now: clock.Now, ProbeEvery: time.Hour})
	appendN(t, m, "p1", 1, 2)
	settle(t, m, "p1")
	clock.Advance(2 * time.Hour)
	appendN(t, m, "p1", 3, 1) // lands in the old file, then rotates
	appendN(t, m, "p1", 4, 1)
	dir := LogDir(root, "p1")
	if files := eventFileNames(t, dir); len(files) != 2 {
		t.Fatalf("files after RotateEvery = %v, want 2", files)
	}
	// Age the rotated file past RetainFor (by modification time).
	old := eventFileNames(t, dir)[0]
	past := clock.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(dir, old), past, past)
	settle(t, m, "p1")
	clock.Advance(2 * time.Hour)
	appendN(t, m, "p1", 5, 1) // rotates again; retention removes the aged file
	m.Close()
	if files := eventFileNames(t, dir); len(files) != 1 || files[0] == old {
		t.Errorf("files after RetainFor = %v, want only the newer one", files)
	}
	rep := verifyClean(t, dir, "p1")
	if rep.FirstSeq != 4 || rep.LastSeq != 5 {
		t.Errorf("Verify() = seqs %d..%d, want 4..5", rep.FirstSeq, rep.LastSeq)
	}
}

// settle waits until the pool's writer has finished what it does after
// acknowledging a batch (checkpoints, rotation).
func settle(t *testing.T, m *Manager, pool string) {
	t.Helper()
	l, err := m.logFor(pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.do(t.Context(), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestIdleRotation(t *testing.T) {
	root := t.TempDir()
	clock := newTestClock()
	m, _ := openTest(t, Config{Dir: root, RotateEvery: time.Hour, Now: clock.Now, ProbeEvery: 5 * time.Millisecond})
	appendN(t, m, "p1", 1, 2)
	settle(t, m, "p1")
	clock.Advance(2 * time.Hour)
	dir := LogDir(root, "p1")
	waitFor(t, "an idle file to rotate", func() bool { return len(eventFileNames(t, dir)) == 2 })
	if st := m.Status()[0]; st.CheckpointSeq != 2 {
		t.Errorf("checkpoint after idle rotation = seq %d, want 2", st.CheckpointSeq)
	}
	ev := testEvent("p1", 3)
	if err := m.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if got := eventFileNames(t, dir); got[1] != eventsFileName(3) {
		t.Errorf("files = %v, want the new event in %s", got, eventsFileName(3))
	}
}

func TestDiskFullFailsClosedAndRecovers(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{}
	m, logs := openTest(t, Config{Dir: root, hooks: ffs.hooks(), ProbeEvery: 10 * time.Millisecond})
	appendN(t, m, "p1", 1, 3)
	dir := LogDir(root, "p1")
	path := filepath.Join(dir, eventFileNames(t, dir)[0])
	sizeBefore := fileSize(t, path)

	ffs.set(func(f *faultFS) { f.writeErr = syscall.ENOSPC })
	ev := testEvent("p1", 4)
	err := m.Append(t.Context(), ev)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append(disk full) error = %v, want ErrUnavailable wrapping ENOSPC", err)
	}
	if ev.Seq != 0 {
		t.Errorf("Append(disk full) set seq %d, want 0", ev.Seq)
	}
	if h := m.Health(); !errors.Is(h, ErrUnavailable) || !errContains(h, "no space") {
		t.Errorf("Health(disk full) = %v, want ErrUnavailable naming the cause", h)
	}
	if m.Writable("p1") {
		t.Errorf("Writable(p1) = true while the disk is full, want false")
	}
	if !m.Writable("p2") {
		t.Errorf("Writable(p2) = false for a log not yet opened, want true")
	}
	if got := fileSize(t, path); got != sizeBefore {
		t.Errorf("events file is %d bytes after a failed partial write, want %d (cut back)", got, sizeBefore)
	}
	if !strings.Contains(logs.String(), "cannot write") {
		t.Errorf("server log is not loud about the failure:\n%s", logs)
	}
	// Space returns: the probe heals the log without traffic.
	ffs.set(func(f *faultFS) { f.writeErr = nil })
	waitFor(t, "Health to clear", func() bool { return m.Health() == nil })
	if !m.Writable("p1") {
		t.Errorf("Writable(p1) = false after recovery, want true")
	}
	ev = testEvent("p1", 5)
	if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 4 {
		t.Fatalf("Append(after recovery) = seq %d, %v, want seq 4", ev.Seq, err)
	}
	if st := m.Status()[0]; st.Refused != 1 {
		t.Errorf("Status().Refused = %d, want 1", st.Refused)
	}
	m.Close()
	verifyClean(t, dir, "p1")
}

func TestFailedWriteThatCannotBeCutBack(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{}
	m, _ := openTest(t, Config{Dir: root, hooks: ffs.hooks(), ProbeEvery: time.Hour})
	appendN(t, m, "p1", 1, 2)
	ffs.set(func(f *faultFS) { f.writeErr, f.truncErr = syscall.EIO, syscall.EIO })
	if err := m.Append(t.Context(), testEvent("p1", 3)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append(EIO) error = %v, want EIO", err)
	}
	// Writes work again but the cut has not happened yet: the next batch
	// must cut the partial bytes first.
	ffs.set(func(f *faultFS) { f.writeErr = nil })
	if err := m.Append(t.Context(), testEvent("p1", 4)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append(truncate still failing) error = %v, want EIO", err)
	}
	ffs.set(func(f *faultFS) { f.truncErr = nil })
	ev := testEvent("p1", 5)
	if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 3 {
		t.Fatalf("Append(recovered) = seq %d, %v, want seq 3", ev.Seq, err)
	}
	m.Close()
	verifyClean(t, LogDir(root, "p1"), "p1")
}

func TestSyncFailureFailsClosed(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{}
	m, _ := openTest(t, Config{Dir: root, hooks: ffs.hooks(), ProbeEvery: time.Hour})
	appendN(t, m, "p1", 1, 2)
	ffs.set(func(f *faultFS) { f.syncErr = syscall.EIO })
	if err := m.Append(t.Context(), testEvent("p1", 3)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append(fsync fails) error = %v, want EIO", err)
	}
	ffs.set(func(f *faultFS) { f.syncErr = nil })
	ev := testEvent("p1", 4)
	if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 3 {
		t.Fatalf("Append(recovered) = seq %d, %v, want seq 3 (the unsynced event was cut)", ev.Seq, err)
	}
	m.Close()
	rep := verifyClean(t, LogDir(root, "p1"), "p1")
	if rep.Events != 3 {
		t.Errorf("Verify() = %d events, want 3", rep.Events)
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	root := t.TempDir()
	m1, _ := openTest(t, Config{Dir: root})
	appendN(t, m1, "p1", 1, 2)
	m1.Close()
	dir := LogDir(root, "p1")
	paths := []string{dir}
	for _, n := range eventFileNames(t, dir) {
		paths = append(paths, filepath.Join(dir, n))
	}
	paths = append(paths, filepath.Join(dir, checkpointsFile))
	undo := makeReadOnly(t, paths...)

	m, logs := openTest(t, Config{Dir: root, ProbeEvery: 10 * time.Millisecond})
	err := m.Append(t.Context(), testEvent("p1", 3))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append(read-only) error = %v, want ErrUnavailable", err)
	}
	if h := m.Health(); !errors.Is(h, ErrUnavailable) {
		t.Errorf("Health(read-only) = %v, want ErrUnavailable", h)
	}
	if !strings.Contains(logs.String(), "cannot write") {
		t.Errorf("server log is not loud about the failure:\n%s", logs)
	}
	undo()
	waitFor(t, "Health to clear", func() bool { return m.Health() == nil })
	ev := testEvent("p1", 4)
	if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 3 {
		t.Fatalf("Append(writable again) = seq %d, %v, want seq 3", ev.Seq, err)
	}
	m.Close()
	verifyClean(t, dir, "p1")
}

func TestFileBecomesReadOnlyWhileRunning(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making an open file unwritable needs the immutable attribute, which needs root; the injected-fault tests cover the same path")
	}
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, ProbeEvery: 10 * time.Millisecond})
	appendN(t, m, "p1", 1, 2)
	dir := LogDir(root, "p1")
	undo := makeReadOnly(t, dir, filepath.Join(dir, eventFileNames(t, dir)[0]))
	if err := m.Append(t.Context(), testEvent("p1", 3)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append(immutable file) error = %v, want ErrUnavailable", err)
	}
	waitFor(t, "Health to report it", func() bool { return errors.Is(m.Health(), ErrUnavailable) })
	undo()
	waitFor(t, "Health to clear", func() bool { return m.Health() == nil })
	ev := testEvent("p1", 4)
	if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 3 {
		t.Fatalf("Append(writable again) = seq %d, %v, want seq 3", ev.Seq, err)
	}
	m.Close()
	verifyClean(t, dir, "p1")
}

func TestFailOpen(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{}
	m, logs := openTest(t, Config{Dir: root, FailOpen: true, hooks: ffs.hooks(), ProbeEvery: time.Hour})
	appendN(t, m, "p1", 1, 2)
	ffs.set(func(f *faultFS) { f.writeErr = syscall.ENOSPC })
	for i := range 3 {
		if err := m.Append(t.Context(), testEvent("p1", 10+i)); err != nil {
			t.Fatalf("Append(fail-open, disk full) error = %v, want nil", err)
		}
	}
	h := m.Health()
	if !errors.Is(h, ErrEventsLost) || !errors.Is(h, ErrUnavailable) {
		t.Errorf("Health(fail-open, disk full) = %v, want ErrEventsLost and ErrUnavailable", h)
	}
	if st := m.Status()[0]; st.Lost != 3 || st.Refused != 0 {
		t.Errorf("Status() lost %d refused %d, want 3 and 0", st.Lost, st.Refused)
	}
	if !strings.Contains(logs.String(), "LOST") {
		t.Errorf("server log is not loud about lost events:\n%s", logs)
	}
	ffs.set(func(f *faultFS) { f.writeErr = nil })
	ev := testEvent("p1", 20)
	if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 3 {
		t.Fatalf("Append(recovered) = seq %d, %v, want seq 3", ev.Seq, err)
	}
	// The loss stays reported for the health window even after recovery.
	if h := m.Health(); !errors.Is(h, ErrEventsLost) || errors.Is(h, ErrUnavailable) {
		t.Errorf("Health(recovered) = %v, want only ErrEventsLost", h)
	}
}

func TestStalledDiskTimesOut(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{}
	m, _ := openTest(t, Config{Dir: root, hooks: ffs.hooks(), AppendTimeout: 100 * time.Millisecond, ProbeEvery: time.Hour})
	appendN(t, m, "p1", 1, 1)
	stall := make(chan struct{})
	ffs.set(func(f *faultFS) { f.stall = stall })
	start := time.Now()
	err := m.Append(t.Context(), testEvent("p1", 2))
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Fatalf("Append(stalled disk) error = %v after %v, want ErrUnavailable after about 100ms", err, time.Since(start))
	}
	waitFor(t, "Health to report the stall", func() bool { return errContains(m.Health(), "waited for the disk") })
	ffs.set(func(f *faultFS) { f.stall = nil })
	close(stall)
	ev := testEvent("p1", 3)
	if err := m.Append(t.Context(), ev); err != nil {
		t.Fatalf("Append(after the stall) error = %v", err)
	}
	// The refused event may have reached the disk; the acknowledged one
	// certainly did, after it.
	if ev.Seq != 3 {
		t.Errorf("Append(after the stall) seq = %d, want 3", ev.Seq)
	}
	m.Close()
	verifyClean(t, LogDir(root, "p1"), "p1")
}

func TestContextCancelled(t *testing.T) {
	m, _ := openTest(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// A cancelled request may or may not be written; it is never
	// acknowledged, and fail-open does not swallow it.
	err := m.Append(ctx, testEvent("p1", 1))
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Append(cancelled) error = %v, want nil or context.Canceled", err)
	}
}

func TestQueueBound(t *testing.T) {
	root := t.TempDir()
	ffs := &faultFS{}
	m, _ := openTest(t, Config{Dir: root, hooks: ffs.hooks(), MaxQueue: 2, MaxBatch: 1, AppendTimeout: time.Minute})
	appendN(t, m, "p1", 1, 1)
	stall := make(chan struct{})
	ffs.set(func(f *faultFS) { f.stall = stall })
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() { errs <- m.Append(t.Context(), testEvent("p1", 10+i)) })
		time.Sleep(20 * time.Millisecond)
	}
	// One in the stalled write, two queued: the fourth is refused at once.
	select {
	case err := <-errs:
		if !errContains(err, "already wait for the disk") {
			t.Errorf("Append(queue full) error = %v, want a full queue", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Append(queue full) blocked, want an immediate error")
	}
	ffs.set(func(f *faultFS) { f.stall = nil })
	close(stall)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Append(after the stall) error = %v", err)
		}
	}
}

func TestDeletedFileIsRestored(t *testing.T) {
	for _, how := range []string{"deleted", "replaced", "directory deleted"} {
		t.Run(how, func(t *testing.T) {
			root := t.TempDir()
			m, logs := openTest(t, Config{Dir: root, ProbeEvery: time.Hour})
			appendN(t, m, "p1", 1, 3)
			dir := LogDir(root, "p1")
			path := filepath.Join(dir, eventFileNames(t, dir)[0])
			switch how {
			case "deleted":
				os.Remove(path)
			case "replaced":
				os.Remove(path)
				os.WriteFile(path, []byte("forged\n"), 0o600)
			case "directory deleted":
				os.RemoveAll(dir)
			}
			err := m.Append(t.Context(), testEvent("p1", 4))
			if !errors.Is(err, ErrDisturbed) {
				t.Fatalf("Append(file %s) error = %v, want ErrDisturbed", how, err)
			}
			if !strings.Contains(logs.String(), strings.TrimPrefix(how, "directory ")+" while in use") {
				t.Errorf("server log is not loud about the %s file:\n%s", how, logs)
			}
			ev := testEvent("p1", 5)
			if err := m.Append(t.Context(), ev); err != nil {
				t.Fatalf("Append(after restore) error = %v", err)
			}
			if h := m.Health(); !errors.Is(h, ErrDisturbed) || errors.Is(h, ErrUnavailable) {
				t.Errorf("Health(after restore) = %v, want ErrDisturbed only", h)
			}
			m.Close()
			evs := readLog(t, dir)
			if len(evs) != 5 || evs[3].OperationName != "AuditLogFileRestored" || ev.Seq != 5 {
				t.Fatalf("log after restore = %d events (seq 4 %q), new seq %d; want the 3 events, the restore note and the new event", len(evs), evs[3].OperationName, ev.Seq)
			}
			verifyClean(t, dir, "p1")
			kept, _ := filepath.Glob(path + ".replaced-*")
			if (how == "replaced") != (len(kept) == 1) {
				t.Errorf("replacement kept as %v, want one file only when replaced", kept)
			}
		})
	}
}

func TestDeletedFileRestoredWithoutTraffic(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, ProbeEvery: 10 * time.Millisecond})
	appendN(t, m, "p1", 1, 2)
	dir := LogDir(root, "p1")
	path := filepath.Join(dir, eventFileNames(t, dir)[0])
	os.Remove(path)
	waitFor(t, "the file to be restored", func() bool {
		_, err := os.Stat(path)
		return err == nil && errors.Is(m.Health(), ErrDisturbed)
	})
	m.Close()
	rep := verifyClean(t, dir, "p1")
	if rep.Events != 3 {
		t.Errorf("Verify() = %d events, want 2 and the restore note", rep.Events)
	}
}

func TestTokenGuard(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	root := t.TempDir()
	m, logs := openTest(t, Config{Dir: root})
	tests := []struct {
		name string
		set  func(*Event)
	}{
		{name: "client info", set: func(ev *Event) { ev.ClientInfo = "curl " + jwt }},
		{name: "request uri", set: func(ev *Event) { ev.RequestURI = "https://p/keys?access_token=" + jwt }},
		{name: "identity", set: func(ev *Event) { ev.Identity.UPN = jwt }},
		{name: "detail", set: func(ev *Event) { ev.Detail = "Bearer " + jwt }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := testEvent("p1", i)
			tc.set(ev)
			err := m.Append(t.Context(), ev)
			if !errors.Is(err, ErrTokenInEvent) {
				t.Fatalf("Append(token in %s) error = %v, want ErrTokenInEvent", tc.name, err)
			}
			if ev.Seq == 0 {
				t.Errorf("Append(token in %s) did not record the event", tc.name)
			}
		})
	}
	m.Close()
	dir := LogDir(root, "p1")
	for _, n := range eventFileNames(t, dir) {
		data, _ := os.ReadFile(filepath.Join(dir, n))
		if strings.Contains(string(data), "eyJ") {
			t.Errorf("log file holds a token:\n%s", data)
		}
		if strings.Count(string(data), redactedToken) != len(tests) {
			t.Errorf("log file has %d redactions, want %d", strings.Count(string(data), redactedToken), len(tests))
		}
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Errorf("server log holds a token:\n%s", logs)
	}
	verifyClean(t, dir, "p1")
}

func TestOversizedEventIsShortened(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root})
	ev := testEvent("p1", 1)
	ev.Detail = strings.Repeat("x", 200<<10)
	if err := m.Append(t.Context(), ev); err != nil {
		t.Fatalf("Append(huge detail) error = %v", err)
	}
	got := readLog(t, LogDir(root, "p1"))
	if len(got) != 1 || len(got[0].Detail) > 4<<10 || !strings.Contains(got[0].Detail, "shortened") {
		t.Errorf("huge event recorded as %d events, detail %d bytes; want one shortened event", len(got), len(got[0].Detail))
	}
	if len(ev.Detail) != 200<<10 {
		t.Errorf("Append changed the caller's event")
	}
}

func TestAppendAfterClose(t *testing.T) {
	m, _ := openTest(t, Config{})
	appendN(t, m, "p1", 1, 1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Append(t.Context(), testEvent("p1", 2)); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Append(after Close) error = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if h := m.Health(); !errors.Is(h, ErrClosed) {
		t.Errorf("Health(after Close) = %v, want ErrClosed", h)
	}
}

func TestSignerFailure(t *testing.T) {
	m, _ := openTest(t, Config{Signer: func(pool string) (ed25519.PrivateKey, error) { return nil, errors.New("store sealed") }, ProbeEvery: time.Hour})
	err := m.Append(t.Context(), testEvent("p1", 1))
	if !errors.Is(err, ErrUnavailable) || !errContains(err, "store sealed") {
		t.Errorf("Append(no signing key) error = %v, want ErrUnavailable naming the cause", err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// recordingObserver counts what the write path reports.
type recordingObserver struct {
	mu                                               sync.Mutex
	batches, batchEvents, failedBatches, checkpoints int
	lost, refused, sinkDrops                         int
}

func (o *recordingObserver) Batch(log string, events, queued int, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failedBatches++
		return
	}
	o.batches++
	o.batchEvents += events
}

func (o *recordingObserver) Checkpoint(log string, seq uint64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.checkpoints++
	}
}

func (o *recordingObserver) Lost(log string, n int)    { o.mu.Lock(); o.lost += n; o.mu.Unlock() }
func (o *recordingObserver) Refused(log string, n int) { o.mu.Lock(); o.refused += n; o.mu.Unlock() }
func (o *recordingObserver) SinkDropped(sink string, n int) {
	o.mu.Lock()
	o.sinkDrops += n
	o.mu.Unlock()
}

func TestObserver(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("failOpen=%v", failOpen), func(t *testing.T) {
			obs := &recordingObserver{}
			ffs := &faultFS{}
			sw := stuckWriter{make(chan struct{})}
			defer close(sw.release)
			ws, err := NewWriterSink(WriterSinkConfig{W: sw, MaxBuffer: 1})
			if err != nil {
				t.Fatal(err)
			}
			m, _ := openTest(t, Config{Observer: obs, Sinks: []Sink{ws}, FailOpen: failOpen, hooks: ffs.hooks(), ProbeEvery: time.Hour})
			appendN(t, m, "p1", 1, 4)
			if _, err := m.Checkpoint(t.Context(), "p1"); err != nil {
				t.Fatal(err)
			}
			ffs.set(func(f *faultFS) { f.writeErr = syscall.ENOSPC })
			m.Append(t.Context(), testEvent("p1", 5))
			obs.mu.Lock()
			defer obs.mu.Unlock()
			wantLost, wantRefused := 0, 1
			if failOpen {
				wantLost, wantRefused = 1, 0
			}
			// The sink takes one line into its buffer and one into the stuck
			// write at most; the rest are dropped.
			if obs.batches != 4 || obs.batchEvents != 4 || obs.failedBatches != 1 || obs.checkpoints != 1 ||
				obs.lost != wantLost || obs.refused != wantRefused || obs.sinkDrops < 2 {
				t.Errorf("observed batches %d (%d events), failed %d, checkpoints %d, lost %d, refused %d, sink drops %d; "+
					"want 4 batches of 1, 1 failed, 1 checkpoint, lost %d, refused %d, at least 2 sink drops",
					obs.batches, obs.batchEvents, obs.failedBatches, obs.checkpoints, obs.lost, obs.refused, obs.sinkDrops, wantLost, wantRefused)
			}
		})
	}
}

func TestUnusableHandleIsReopened(t *testing.T) {
	for _, afterFailedWrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("afterFailedWrite=%v", afterFailedWrite), func(t *testing.T) {
			root := t.TempDir()
			ffs := &faultFS{}
			m, logs := openTest(t, Config{Dir: root, hooks: ffs.hooks(), ProbeEvery: time.Hour})
			appendN(t, m, "p1", 1, 2)
			if afterFailedWrite {
				// A partial write that cannot be cut back through the handle.
				ffs.set(func(f *faultFS) { f.writeErr, f.truncErr = syscall.EIO, syscall.EIO })
				if err := m.Append(t.Context(), testEvent("p1", 3)); !errors.Is(err, syscall.EIO) {
					t.Fatalf("Append(EIO) error = %v, want EIO", err)
				}
				ffs.set(func(f *faultFS) { f.writeErr, f.truncErr = nil, nil })
			}
			l, err := m.logFor("p1")
			if err != nil {
				t.Fatal(err)
			}
			// Close the descriptor under the writer, on its own goroutine.
			if err := l.do(t.Context(), func() error { return l.f.(*faultFile).File.Close() }); err != nil {
				t.Fatal(err)
			}
			ev := testEvent("p1", 4)
			if err := m.Append(t.Context(), ev); err != nil || ev.Seq != 3 {
				t.Fatalf("Append(closed descriptor) = seq %d, %v, want seq 3 through the reopened file", ev.Seq, err)
			}
			if !strings.Contains(logs.String(), "reopened") {
				t.Errorf("server log does not mention the reopen:\n%s", logs)
			}
			m.Close()
			rep := verifyClean(t, LogDir(root, "p1"), "p1")
			if rep.Events != 3 {
				t.Errorf("Verify() = %d events, want 3", rep.Events)
			}
		})
	}
}

func TestMaxDelayGathersABatch(t *testing.T) {
	root := t.TempDir()
	m, _ := openTest(t, Config{Dir: root, MaxDelay: 300 * time.Millisecond, MaxBatch: 8})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := m.Append(context.Background(), testEvent("p1", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := m.Status()[0]; st.Batches > 2 || st.Events != 8 {
		t.Errorf("8 concurrent events with MaxDelay = %d batches, want at most 2", st.Batches)
	}
	// A full batch does not wait for the delay.
	start := time.Now()
	for range 2 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() { m.Append(context.Background(), testEvent("p1", 100+i)) })
		}
		wg.Wait()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("two full batches took %v", d)
	}
}

func TestRecoverLongLines(t *testing.T) {
	root := t.TempDir()
	m1, _ := openTest(t, Config{Dir: root})
	var last *Event
	for i := range 3 {
		ev := testEvent("p1", i)
		ev.Detail = strings.Repeat("d", 60<<10) // lines longer than the first tail window
		if err := m1.Append(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	m1.Close()
	m2, _ := openTest(t, Config{Dir: root})
	ev := testEvent("p1", 4)
	if err := m2.Append(t.Context(), ev); err != nil || ev.Seq != 4 || ev.PrevHash != last.Hash {
		t.Fatalf("Append after restart = seq %d prev %s, %v; want seq 4 after %s", ev.Seq, ev.PrevHash, err, last.Hash)
	}
	m2.Close()
	verifyClean(t, LogDir(root, "p1"), "p1")
}

func TestEventContext(t *testing.T) {
	ev := &Event{OperationName: "KeyGet"}
	ctx := NewContext(t.Context(), ev)
	if got := FromContext(ctx); got != ev {
		t.Errorf("FromContext(NewContext(ev)) = %p, want %p", got, ev)
	}
	if got := FromContext(t.Context()); got == nil || got == ev {
		t.Errorf("FromContext(no event) = %v, want a fresh throwaway event", got)
	}
}
