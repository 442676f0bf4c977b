package audit

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// Linux inode flags (include/uapi/linux/fs.h).
const (
	fsIocGetFlags = 0x80086601
	fsIocSetFlags = 0x40086602
	fsImmutableFl = 0x00000010
)

// makeReadOnly makes paths unwritable and returns the undo. Permission
// bits do not stop root, so as root it sets the immutable attribute,
// which stops everyone, even writes through files already open.
func makeReadOnly(t *testing.T, paths ...string) (undo func()) {
	t.Helper()
	if os.Geteuid() != 0 {
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
				fi, err := os.Stat(p)
				if err != nil {
					continue
				}
				mode := os.FileMode(0o600)
				if fi.IsDir() {
					mode = 0o700
				}
				os.Chmod(p, mode)
			}
		}
		t.Cleanup(undo)
		return undo
	}
	set := func(p string, on bool) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var flags uint32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetFlags, uintptr(unsafe.Pointer(&flags))); e != 0 {
			return e
		}
		if on {
			flags |= fsImmutableFl
		} else {
			flags &^= fsImmutableFl
		}
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetFlags, uintptr(unsafe.Pointer(&flags))); e != 0 {
			return e
		}
		return nil
	}
	undo = func() {
		for _, p := range paths {
			set(p, false)
		}
	}
	t.Cleanup(undo)
	for _, p := range paths {
		if err := set(p, true); err != nil {
			if errors.Is(err, syscall.ENOTTY) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EPERM) {
				t.Skipf("this file system cannot make %s immutable (%v), and permission bits do not stop root", p, err)
			}
			t.Fatal(err)
		}
	}
	return undo
}
