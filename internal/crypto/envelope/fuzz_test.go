package envelope

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary blobs and associated data to Open and KeyID:
// they must never panic, must fail only with ErrOpen, and (forgery being
// infeasible) must open nothing but the genuine seeds.
func FuzzOpen(f *testing.F) {
	k, err := NewKey(testKey, 1)
	if err != nil {
		f.Fatal(err)
	}
	type genuine struct{ blob, aad, plaintext []byte }
	var seeds []genuine
	// A fixed nonce keeps the seeds identical in every fuzzing worker.
	replaceNonceForTesting(f, make([]byte, nonceSize))
	for _, s := range []struct{ pt, aad string }{{"x", "p"}, {"", ""}, {"a longer plaintext of two blocks", "pools/p/data/k"}} {
		blob := k.Seal([]byte(s.pt), []byte(s.aad))
		seeds = append(seeds, genuine{blob, []byte(s.aad), []byte(s.pt)})
		f.Add(blob, []byte(s.aad))
	}
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, Overhead), []byte("p"))
	f.Fuzz(func(t *testing.T, blob, aad []byte) {
		id, idErr := KeyID(blob)
		if idErr != nil && idErr != ErrOpen {
			t.Fatalf("KeyID() error = %v, want ErrOpen", idErr)
		}
		pt, err := Open(testKey, blob, aad)
		if err != nil {
			if err != ErrOpen {
				t.Fatalf("Open() error = %v, want ErrOpen", err)
			}
			return
		}
		if idErr != nil || id != 1 {
			t.Fatalf("Open() succeeded but KeyID() = %d, %v", id, idErr)
		}
		for _, g := range seeds {
			if bytes.Equal(blob, g.blob) && bytes.Equal(aad, g.aad) {
				if !bytes.Equal(pt, g.plaintext) {
					t.Fatalf("Open(seed) = %q, want %q", pt, g.plaintext)
				}
				return
			}
		}
		t.Fatalf("Open() accepted a blob that was never sealed: %x (aad %q)", blob, aad)
	})
}
