package seal

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

func TestKeyringRoundTrip(t *testing.T) {
	kr, err := newKeyring()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if kr, err = kr.withNewKey(); err != nil {
			t.Fatal(err)
		}
	}
	if want := []uint32{1, 2, 3, 4}; !slices.Equal(kr.ids, want) || kr.current != 4 {
		t.Fatalf("after three rotations ids = %v, current = %d, want %v, 4", kr.ids, kr.current, want)
	}
	enc := kr.encode()
	got, err := decodeKeyring(enc)
	if err != nil {
		t.Fatalf("decodeKeyring(encode()) error = %v", err)
	}
	if got.current != kr.current || !slices.Equal(got.ids, kr.ids) {
		t.Errorf("decodeKeyring(encode()) = ids %v current %d, want ids %v current %d", got.ids, got.current, kr.ids, kr.current)
	}
	for _, id := range kr.ids {
		if !got.secrets[id].Equal(kr.secrets[id]) || got.keys[id].ID() != id {
			t.Errorf("decodeKeyring(encode()) changed key %d", id)
		}
	}
	if !bytes.Equal(got.encode(), enc) {
		t.Error("encode(decodeKeyring(b)) != b: the encoding is not canonical")
	}
	// Keys are distinct.
	for i, a := range kr.ids {
		for _, b := range kr.ids[i+1:] {
			if kr.secrets[a].Equal(kr.secrets[b]) {
				t.Errorf("keys %d and %d are equal", a, b)
			}
		}
	}
}

// TestKeyringImmutable checks that rotating returns a new keyring and leaves
// the old one (which concurrent readers may hold) unchanged.
func TestKeyringImmutable(t *testing.T) {
	kr, err := newKeyring()
	if err != nil {
		t.Fatal(err)
	}
	before := kr.encode()
	if _, err := kr.withNewKey(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kr.encode(), before) || len(kr.keys) != 1 {
		t.Error("withNewKey changed the keyring it was called on")
	}
}

func TestDecodeKeyringRejects(t *testing.T) {
	entry := func(id uint32, fill byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, id), bytes.Repeat([]byte{fill}, 32)...)
	}
	ring := func(version byte, current, count uint32, entries ...[]byte) []byte {
		b := []byte{version}
		b = binary.BigEndian.AppendUint32(b, current)
		b = binary.BigEndian.AppendUint32(b, count)
		for _, e := range entries {
			b = append(b, e...)
		}
		return b
	}
	valid := ring(1, 2, 2, entry(1, 1), entry(2, 2))
	if _, err := decodeKeyring(valid); err != nil {
		t.Fatalf("decodeKeyring(valid) error = %v", err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "header only", b: valid[:keyringHeaderSize]},
		{name: "version 0", b: ring(0, 2, 2, entry(1, 1), entry(2, 2))},
		{name: "version 2", b: ring(2, 2, 2, entry(1, 1), entry(2, 2))},
		{name: "no keys", b: ring(1, 0, 0)},
		{name: "count too high", b: ring(1, 2, 3, entry(1, 1), entry(2, 2))},
		{name: "count too low", b: ring(1, 1, 1, entry(1, 1), entry(2, 2))},
		{name: "count past limit", b: ring(1, 1, maxKeyringKeys+1, entry(1, 1))},
		{name: "huge count", b: ring(1, 1, 0xffffffff, entry(1, 1))},
		{name: "truncated entry", b: valid[:len(valid)-1]},
		{name: "trailing byte", b: append(bytes.Clone(valid), 0)},
		{name: "id zero", b: ring(1, 1, 2, entry(0, 1), entry(1, 2))},
		{name: "ids descending", b: ring(1, 2, 2, entry(2, 1), entry(1, 2))},
		{name: "duplicate id", b: ring(1, 1, 2, entry(1, 1), entry(1, 2))},
		{name: "current missing", b: ring(1, 3, 2, entry(1, 1), entry(2, 2))},
		{name: "current zero", b: ring(1, 0, 2, entry(1, 1), entry(2, 2))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if kr, err := decodeKeyring(tc.b); err != errKeyring {
				t.Errorf("decodeKeyring(%s) = %v, %v, want %v", tc.name, kr, err, errKeyring)
			}
		})
	}
}

// FuzzDecodeKeyring: the keyring is authenticated before it is decoded, so
// only a bug or a forged domain key feeds it bad bytes; it must still never
// panic, and what it accepts must re-encode to the same bytes.
func FuzzDecodeKeyring(f *testing.F) {
	kr, err := newKeyring()
	if err != nil {
		f.Fatal(err)
	}
	kr, _ = kr.withNewKey()
	f.Add(kr.encode())
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		kr, err := decodeKeyring(b)
		if err != nil {
			if err != errKeyring {
				t.Fatalf("decodeKeyring() error = %v, want %v", err, errKeyring)
			}
			return
		}
		if !bytes.Equal(kr.encode(), b) {
			t.Fatalf("decodeKeyring(%x) accepted a non-canonical encoding", b)
		}
		if kr.keys[kr.current] == nil {
			t.Fatalf("decodeKeyring(%x) accepted a keyring without its current key", b)
		}
	})
}
