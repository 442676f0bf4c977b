package pkcs11seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cofferkms/coffer/internal/seal"
	"github.com/google/go-cmp/cmp"
)

func TestParseBlob(t *testing.T) {
	iv := bytes.Repeat([]byte{0xAA}, ivSize)
	tag := bytes.Repeat([]byte{0xBB}, tagSize)
	valid := appendBlob(nil, iv, append([]byte("ct"), tag...))
	tests := []struct {
		name   string
		blob   []byte
		wantIV []byte
		wantCT []byte
		ok     bool
	}{
		{name: "valid", blob: valid, wantIV: iv, wantCT: append([]byte("ct"), tag...), ok: true},
		{name: "empty plaintext", blob: appendBlob(nil, iv, tag), wantIV: iv, wantCT: tag, ok: true},
		{name: "largest", blob: appendBlob(nil, iv, make([]byte, maxPlaintext+tagSize)), wantIV: iv, wantCT: make([]byte, maxPlaintext+tagSize), ok: true},
		{name: "nil", blob: nil},
		{name: "header only", blob: valid[:headerSize]},
		{name: "one byte short of a tag", blob: valid[:headerSize+tagSize-1]},
		{name: "too large", blob: appendBlob(nil, iv, make([]byte, maxPlaintext+tagSize+1))},
		{name: "other magic", blob: append([]byte{'Q'}, valid[1:]...)},
		{name: "other version", blob: append([]byte{blobMagic, 2}, valid[2:]...)},
		{name: "version 0", blob: append([]byte{blobMagic, 0}, valid[2:]...)},
		{name: "envelope record", blob: append([]byte{1, 0, 0, 0, 0}, valid[2:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotIV, gotCT, err := parseBlob(tt.blob)
			if !tt.ok {
				if !errors.Is(err, seal.ErrSealed) || gotIV != nil || gotCT != nil {
					t.Errorf("parseBlob(%x) = %x, %x, %v, want an error wrapping seal.ErrSealed", tt.blob, gotIV, gotCT, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBlob(%x) = %v, want no error", tt.blob, err)
			}
			if diff := cmp.Diff(tt.wantIV, gotIV); diff != "" {
				t.Errorf("parseBlob(%x) IV mismatch (-want +got):\n%s", tt.blob, diff)
			}
			if diff := cmp.Diff(tt.wantCT, gotCT); diff != "" {
				t.Errorf("parseBlob(%x) ciphertext mismatch (-want +got):\n%s", tt.blob, diff)
			}
		})
	}
}

// FuzzParseBlob checks that the parser of stored blobs accepts exactly the
// documented layout, splits it without losing a byte, and rejects
// everything else with ErrSealed.
func FuzzParseBlob(f *testing.F) {
	iv := make([]byte, ivSize)
	f.Add(appendBlob(nil, iv, make([]byte, tagSize)))
	f.Add(appendBlob(nil, iv, make([]byte, 32+tagSize)))
	f.Add([]byte{blobMagic, blobVersion})
	f.Add([]byte{blobMagic, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("sealed:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		iv, ct, err := parseBlob(b)
		wellFormed := len(b) >= headerSize+tagSize && len(b) <= headerSize+maxPlaintext+tagSize &&
			b[0] == blobMagic && b[1] == blobVersion
		if !wellFormed {
			if !errors.Is(err, seal.ErrSealed) {
				t.Fatalf("parseBlob(%x) = %v, want an error wrapping seal.ErrSealed", b, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseBlob(%x) = %v, want no error", b, err)
		}
		if len(iv) != ivSize || len(ct) < tagSize {
			t.Fatalf("parseBlob(%x) = %d-byte IV, %d-byte ciphertext, want %d and at least %d", b, len(iv), len(ct), ivSize, tagSize)
		}
		if got := appendBlob(nil, iv, ct); !bytes.Equal(got, b) {
			t.Fatalf("appendBlob(parseBlob(%x)) = %x, want the input", b, got)
		}
	})
}
