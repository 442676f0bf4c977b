package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileSealCreateAndReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seal.key")
	if _, err := OpenFileSeal(p, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenFileSeal(missing, create=false) error = %v, want os.ErrNotExist", err)
	}
	s, err := OpenFileSeal(p, true)
	if err != nil {
		t.Fatalf("OpenFileSeal(missing, create=true) error = %v", err)
	}
	defer s.Close()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of a new seal key file = %v, want 0600", got)
	}
	if got := fi.Size(); got != int64(len(fileSealMagic)+32) {
		t.Errorf("size of a new seal key file = %d, want %d", got, len(fileSealMagic)+32)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after creating the key file, want 1 (no temporary file left)", len(entries))
	}
	if got, want := s.Describe(), "file "+p; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}

	blob, err := s.Wrap(t.Context(), []byte("domain key"), []byte("aad"))
	if err != nil {
		t.Fatalf("Wrap() error = %v", err)
	}
	// Opening again, with or without create, reads the same key.
	for _, create := range []bool{false, true} {
		s2, err := OpenFileSeal(p, create)
		if err != nil {
			t.Fatalf("OpenFileSeal(existing, create=%v) error = %v", create, err)
		}
		if pt, err := s2.Unwrap(t.Context(), blob, []byte("aad")); err != nil || string(pt) != "domain key" {
			t.Errorf("reopened seal (create=%v): Unwrap() = %q, %v, want \"domain key\", nil", create, pt, err)
		}
		s2.Close()
	}
}

func TestFileSealUnwrapFailures(t *testing.T) {
	s, other := newFileSeal(t), newFileSeal(t)
	blob, err := s.Wrap(t.Context(), []byte("k"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name string
		seal *FileSeal
		blob []byte
		aad  string
	}{
		{name: "another seal", seal: other, blob: blob, aad: "aad"},
		{name: "other aad", seal: s, blob: blob, aad: "aae"},
		{name: "tampered", seal: s, blob: tampered, aad: "aad"},
		{name: "empty", seal: s, blob: nil, aad: "aad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if pt, err := tc.seal.Unwrap(t.Context(), tc.blob, []byte(tc.aad)); !errors.Is(err, ErrSealed) {
				t.Errorf("Unwrap() = %q, %v, want ErrSealed", pt, err)
			}
		})
	}
}

func TestFileSealClosed(t *testing.T) {
	s := newFileSeal(t)
	blob, err := s.Wrap(t.Context(), []byte("k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if b, err := s.Wrap(t.Context(), []byte("k"), nil); !errors.Is(err, errSealClosed) {
		t.Errorf("Wrap() after Close = %x, %v, want %v", b, err, errSealClosed)
	}
	if b, err := s.Unwrap(t.Context(), blob, nil); !errors.Is(err, errSealClosed) {
		t.Errorf("Unwrap() after Close = %q, %v, want %v", b, err, errSealClosed)
	}
}

func TestFileSealRefusesAccessibleFile(t *testing.T) {
	tests := []struct {
		mode    os.FileMode
		wantErr bool
	}{
		{mode: 0o600},
		{mode: 0o400},
		{mode: 0o640, wantErr: true},
		{mode: 0o604, wantErr: true},
		{mode: 0o644, wantErr: true},
		{mode: 0o620, wantErr: true},
		{mode: 0o601, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "seal.key")
			s, err := OpenFileSeal(p, true)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			s, err = OpenFileSeal(p, false)
			if (err != nil) != tc.wantErr {
				t.Fatalf("OpenFileSeal(file with mode %v) error = %v, wantErr %v", tc.mode, err, tc.wantErr)
			}
			if err != nil {
				if msg := err.Error(); !strings.Contains(msg, "group or others") || !strings.Contains(msg, "chmod 600") {
					t.Errorf("OpenFileSeal(file with mode %v) error = %q, want it to name the problem and the fix", tc.mode, msg)
				}
				return
			}
			s.Close()
		})
	}
}

func TestFileSealRefusesMalformedFile(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name    string
		content []byte
	}{
		{name: "empty", content: nil},
		{name: "raw key without header", content: key},
		{name: "short key", content: append(bytes.Clone(fileSealMagic), key[:31]...)},
		{name: "long key", content: append(append(bytes.Clone(fileSealMagic), key...), 0)},
		{name: "other version", content: append([]byte("COFFER-FILE-SEAL-2\n"), key...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "seal.key")
			if err := os.WriteFile(p, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, create := range []bool{false, true} {
				if s, err := OpenFileSeal(p, create); err == nil {
					s.Close()
					t.Errorf("OpenFileSeal(%s, create=%v) error = nil, want an error", tc.name, create)
				}
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, tc.content) {
				t.Errorf("OpenFileSeal changed a malformed key file")
			}
		})
	}
}

func TestFileSealRefusesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "seal.key")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenFileSeal(dir, true); err == nil {
		s.Close()
		t.Errorf("OpenFileSeal(a directory) error = nil, want an error")
	}
}

func TestParseSealFile(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	got, err := parseSealFile(append(bytes.Clone(fileSealMagic), key...))
	if err != nil {
		t.Fatalf("parseSealFile(valid) error = %v", err)
	}
	if !bytes.Equal(got.Expose(), key) {
		t.Errorf("parseSealFile(valid) returned another key")
	}
}

// FuzzParseSealFile: the key file is read from disk, where anything may
// have been written. Parsing must not panic, and whatever it accepts is
// the one valid layout.
func FuzzParseSealFile(f *testing.F) {
	f.Add(append(bytes.Clone(fileSealMagic), make([]byte, 32)...))
	f.Add([]byte("COFFER-FILE-SEAL-1\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSealFile(b)
		if err != nil {
			return
		}
		if len(b) != len(fileSealMagic)+32 || !bytes.HasPrefix(b, fileSealMagic) || !bytes.Equal(s.Expose(), b[len(fileSealMagic):]) {
			t.Fatalf("parseSealFile(%x) accepted a file that is not header + 32 key bytes", b)
		}
	})
}
