//go:build !linux

package audit

import (
	"os"
	"testing"
)

// makeReadOnly makes paths unwritable through permission bits and returns
// the undo. Root ignores permission bits, so there the test is skipped.
func makeReadOnly(t *testing.T, paths ...string) (undo func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("permission bits do not stop root, and this platform has no immutable attribute here")
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o400)
		if fi.IsDir() {
			mode = 0o500
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	undo = func() {
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				mode := os.FileMode(0o600)
				if fi.IsDir() {
					mode = 0o700
				}
				os.Chmod(p, mode)
			}
		}
	}
	t.Cleanup(undo)
	return undo
}
