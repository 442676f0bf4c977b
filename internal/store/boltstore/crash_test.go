//go:build unix

package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/store"
)

// crashChildEnv, set in the environment of a re-executed test binary, makes
// TestCrash act as the child that writes until it is killed. Its value is
// the database path.
const crashChildEnv = "COFFER_BOLTSTORE_CRASH_CHILD"

// crashValue is the content of half h ("a" or "b") of transaction i: large
// enough to span pages, and different for every record so a record holding
// another's bytes is caught.
func crashValue(i int, h string) []byte {
	sum := sha256.Sum256([]byte(h + strconv.Itoa(i)))
	return bytes.Repeat(sum[:], 64) // 2 KiB
}

func crashKey(i int, h string) string { return fmt.Sprintf("k/%08d/%s", i, h) }

// TestCrash kills a writer with SIGKILL in the middle of committing, over
// several rounds on the same file, and checks after each that the file
// opens, every acknowledged transaction is there in full, and no
// transaction is there in part.
//
// A transaction i writes k/i/a, k/i/b and the counter "last" = i together.
// The child prints "ack i" only after Update(i) returned, so after the
// kill the file must hold exactly transactions 0..last, with last equal to
// the final ack or one past it (committed, not yet acknowledged).
//
// SIGKILL tests the commit protocol against a process dying at any
// instruction; the page cache survives it, so it does not test fsync
// against power loss.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary; skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	for round, killAfter := range []time.Duration{150 * time.Millisecond, 70 * time.Millisecond, 300 * time.Millisecond} {
		acked := runAndKill(t, path, killAfter)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL error = %v", round, err)
		}
		last, err := checkCrashFile(s)
		s.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if last != acked && last != acked+1 {
			t.Fatalf("round %d: the file holds transactions up to %d, want %d (the last acknowledged) or %d", round, last, acked, acked+1)
		}
		t.Logf("round %d: killed after ack %d; file holds 0..%d", round, acked, last)
	}
}

// runAndKill starts the child, lets it run for at least d and at least a
// few new acknowledgements, kills it, and returns the last index it
// acknowledged.
func runAndKill(t *testing.T, path string, d time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(d)
	acked, n := -1, 0
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "ack ")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest)
		if err != nil {
			t.Fatalf("child printed %q", line)
		}
		acked, n = i, n+1
		if !killed && n >= 5 && time.Now().After(deadline) {
			// Keep reading after the kill: acknowledgements already in
			// the pipe still count.
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended by itself (error %v) after %d acknowledgements; stderr:\n%s", err, n, stderr.Bytes())
	}
	return acked
}

// checkCrashFile verifies the invariant and returns the last transaction
// the file holds (-1 if none).
func checkCrashFile(s *Store) (int, error) {
	last := -1
	err := s.View(context.Background(), func(tx store.Tx) error {
		v, err := tx.Get("last")
		if errors.Is(err, store.ErrNotFound) {
			if keys, _ := tx.List("k/", "", 1); len(keys) > 0 {
				return fmt.Errorf("records %q exist without a counter", keys)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if last, err = strconv.Atoi(string(v)); err != nil {
			return fmt.Errorf("counter holds %q", v)
		}
		keys, err := tx.List("k/", "", 0)
		if err != nil {
			return err
		}
		if len(keys) != 2*(last+1) {
			return fmt.Errorf("counter says %d transactions, but %d records exist (a transaction is half there)", last+1, len(keys))
		}
		for i := 0; i <= last; i++ {
			for _, h := range []string{"a", "b"} {
				got, err := tx.Get(crashKey(i, h))
				if err != nil {
					return fmt.Errorf("Get(%s) error = %v: a committed transaction is incomplete", crashKey(i, h), err)
				}
				if !bytes.Equal(got, crashValue(i, h)) {
					return fmt.Errorf("Get(%s) returned %d bytes that are not what was written", crashKey(i, h), len(got))
				}
			}
		}
		return nil
	})
	return last, err
}

// crashChild resumes after the last committed transaction and commits new
// ones until killed, acknowledging each on stdout. It stops by itself after
// a minute so an abandoned child cannot run forever.
func crashChild(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	next := 0
	if last, err := checkCrashFile(s); err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	} else {
		next = last + 1
	}
	stop := time.Now().Add(time.Minute)
	for i := next; time.Now().Before(stop); i++ {
		err := s.Update(context.Background(), func(tx store.Tx) error {
			if err := tx.Put(crashKey(i, "a"), crashValue(i, "a")); err != nil {
				return err
			}
			if err := tx.Put(crashKey(i, "b"), crashValue(i, "b")); err != nil {
				return err
			}
			return tx.Put("last", []byte(strconv.Itoa(i)))
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "update:", err)
			os.Exit(2)
		}
		fmt.Printf("ack %d\n", i)
	}
	os.Exit(3)
}
