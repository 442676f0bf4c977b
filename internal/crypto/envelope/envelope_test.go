package envelope

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

var key = keymat.NewSecret(bytes.Repeat([]byte{0x42}, 32))

func TestKnownAnswer(t *testing.T) {
	testingOnlyNonce = bytes.Repeat([]byte{0x01}, 12)
	defer func() { testingOnlyNonce = nil }()
	got, err := Seal(key, 7, []byte("record"), []byte("pools/p/keys/k"))
	if err != nil {
		t.Fatal(err)
	}
	// Computed independently with Python's cryptography package:
	// AESGCM(0x42*32).encrypt(0x01*12, b"record", header + b"pools/p/keys/k").
	const want = "0100000007010101010101010101010101" + "5fccd568e630525195aa6d2c7e2f2930137750a304d0"
	if hex.EncodeToString(got) != want {
		t.Fatalf("Seal() = %x, want %s", got, want)
	}
	pt, err := Open(key, got, []byte("pools/p/keys/k"))
	if err != nil || string(pt) != "record" {
		t.Fatalf("Open() = %q, %v", pt, err)
	}
}

func TestRoundTripAndTamper(t *testing.T) {
	aad := []byte("sys/dir/users/alice")
	blob, err := Seal(key, 3, []byte("hello"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := KeyID(blob); err != nil || id != 3 {
		t.Fatalf("KeyID = %d, %v", id, err)
	}
	pt, err := Open(key, blob, aad)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x80
		if _, err := Open(key, bad, aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open with byte %d flipped: %v", i, err)
		}
	}
	if _, err := Open(key, blob, []byte("sys/dir/users/bob")); !errors.Is(err, ErrOpen) {
		t.Fatal("Open with another path succeeded")
	}
	if _, err := Open(keymat.NewSecret(bytes.Repeat([]byte{1}, 32)), blob, aad); !errors.Is(err, ErrOpen) {
		t.Fatal("Open with another key succeeded")
	}
	if _, err := Open(key, blob[:Overhead-1], aad); !errors.Is(err, ErrOpen) {
		t.Fatal("Open of a short blob succeeded")
	}
}

func FuzzOpen(f *testing.F) {
	// A fixed nonce keeps the seed identical in every fuzzing worker process.
	blob, _ := sealWithNonce(key, 1, []byte("x"), []byte("p"), make([]byte, 12))
	f.Add(blob, []byte("p"))
	f.Fuzz(func(t *testing.T, b, aad []byte) {
		_, err := Open(key, b, aad)
		if err != nil && !errors.Is(err, ErrOpen) {
			t.Fatalf("Open error %v is not ErrOpen", err)
		}
		// Forgery is infeasible: only the one genuine blob with its own
		// associated data may open.
		if err == nil && (!bytes.Equal(aad, []byte("p")) || !bytes.Equal(b, blob)) {
			t.Fatalf("opened a blob that was never sealed: %x", b)
		}
	})
}
