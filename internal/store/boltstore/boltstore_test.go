package boltstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestDurable(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T, dir string) store.Store {
		s, err := Open(filepath.Join(dir, "c.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestRefusesOpenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Chmod(p, 0o644)
	s.Close()
	if _, err := Open(p, Options{Timeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("Open of a world-readable database succeeded")
	}
}

// TestCrash runs a child that commits two-record transactions in a loop and
// reports each acknowledged one; the parent kills it with SIGKILL, reopens
// the file, and checks every acknowledged transaction is whole and no
// transaction is half there.
func TestCrash(t *testing.T) {
	if os.Getenv("BOLTSTORE_CRASH_CHILD") != "" {
		crashChild(os.Getenv("BOLTSTORE_CRASH_CHILD"))
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			acked = n
			if n >= 40 {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	cmd.Wait()
	if acked < 40 {
		t.Fatalf("child acknowledged only %d transactions", acked)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer s.Close()
	err = s.View(context.Background(), func(tx store.Tx) error {
		as, _ := tx.List("k/", "", 0)
		have := map[string]bool{}
		for _, a := range as {
			have[a] = true
		}
		for i := 0; ; i++ {
			a, b := have[fmt.Sprintf("k/%06d/a", i)], have[fmt.Sprintf("k/%06d/b", i)]
			if a != b {
				return fmt.Errorf("transaction %d is half-written", i)
			}
			if !a {
				if i <= acked {
					return fmt.Errorf("acknowledged transaction %d is missing", i)
				}
				return nil
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func crashChild(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		err := s.Update(context.Background(), func(tx store.Tx) error {
			if err := tx.Put(fmt.Sprintf("k/%06d/a", i), make([]byte, 512)); err != nil {
				return err
			}
			return tx.Put(fmt.Sprintf("k/%06d/b", i), make([]byte, 512))
		})
		if err != nil {
			fmt.Println("update:", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}
