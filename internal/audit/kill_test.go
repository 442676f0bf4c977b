package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// killChildEnv makes the test binary a child that appends until killed.
const killChildEnv = "COFFER_AUDIT_TEST_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		runKillChild(dir)
		return
	}
	os.Exit(m.Run())
}

// runKillChild appends from several goroutines forever, printing each
// acknowledged event as "ack <seq> <requestId>" with one write.
func runKillChild(dir string) {
	m, err := Open(Config{Dir: dir, Signer: testSigner, CheckpointEvents: 40})
	if err != nil {
		fmt.Fprintf(os.Stdout, "err %v\n", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	pid := os.Getpid()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				ev := testEvent("p1", i)
				ev.RequestID = fmt.Sprintf("%d-%d-%d", pid, w, i)
				if err := m.Append(context.Background(), ev); err != nil {
					mu.Lock()
					fmt.Fprintf(os.Stdout, "err %v\n", err)
					mu.Unlock()
					continue
				}
				line := fmt.Sprintf("ack %d %s\n", ev.Seq, ev.RequestID)
				mu.Lock()
				os.Stdout.WriteString(line)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestKillDurability(t *testing.T) {
	root := t.TempDir()
	acked := map[uint64]string{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+root)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		killed := false
		deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			if f[0] != "ack" || len(f) != 3 {
				t.Errorf("child said %q", sc.Text())
				continue
			}
			var seq uint64
			fmt.Sscan(f[1], &seq)
			if prev, dup := acked[seq]; dup {
				t.Errorf("seq %d acknowledged twice: %s and %s", seq, prev, f[2])
			}
			acked[seq] = f[2]
			n++
			if n == 300 && !killed {
				killed = true
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child stopped after %d acks: %v", round, n, err)
		}
		t.Logf("round %d: %d events acknowledged before SIGKILL took effect", round, n)
	}
	// Reopen as the server would: the chain continues, every acknowledged
	// event is there, and the log verifies.
	m, _ := openTest(t, Config{Dir: root})
	ev := testEvent("p1", 0)
	if err := m.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	dir := LogDir(root, "p1")
	rep := verifyClean(t, dir, "p1")
	if rep.LastSeq != ev.Seq {
		t.Errorf("Verify().LastSeq = %d, want the last append's seq %d", rep.LastSeq, ev.Seq)
	}
	onDisk := map[uint64]string{}
	for _, e := range readLog(t, dir) {
		onDisk[e.Seq] = e.RequestID
	}
	missing := 0
	for seq, id := range acked {
		if onDisk[seq] != id {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged seq %d (%s) is on disk as %q", seq, id, onDisk[seq])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events are missing", missing, len(acked))
	}
}
