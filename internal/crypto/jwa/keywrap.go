package jwa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// defaultIV is RFC 3394 §2.2.3.1's initial value.
var defaultIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// kwpPrefix is RFC 5649 §3's alternative initial value prefix.
var kwpPrefix = [4]byte{0xA6, 0x59, 0x59, 0xA6}

func newBlock(kek []byte) (cipher.Block, error) {
	switch len(kek) {
	case 16, 24, 32:
		return aes.NewCipher(kek)
	}
	return nil, invalidInput("key-encryption key must be 16, 24 or 32 bytes")
}

// wrapBlocks is the wrapping process W of RFC 3394 §2.2.1 with initial value
// iv over the 64-bit blocks of p (len(p) a multiple of 8, at least 16).
func wrapBlocks(b cipher.Block, iv [8]byte, p []byte) []byte {
	n := len(p) / 8
	out := make([]byte, 8+len(p))
	copy(out[8:], p)
	a := iv
	var buf [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], a[:])
			copy(buf[8:], out[i*8:i*8+8])
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[i*8:], buf[8:])
		}
	}
	copy(out[:8], a[:])
	return out
}

// unwrapBlocks is the unwrapping process W⁻¹; it returns the recovered
// initial value and the plaintext blocks.
func unwrapBlocks(b cipher.Block, c []byte) ([8]byte, []byte) {
	n := len(c)/8 - 1
	p := make([]byte, n*8)
	copy(p, c[8:])
	var a [8]byte
	copy(a[:], c[:8])
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(buf[8:], p[(i-1)*8:i*8])
			b.Decrypt(buf[:], buf[:])
			copy(a[:], buf[:8])
			copy(p[(i-1)*8:], buf[8:])
		}
	}
	return a, p
}

// KeyWrap is AES key wrap, RFC 3394: the plaintext must be a multiple of 8
// bytes and at least 16.
func KeyWrap(kek, plaintext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext) < 16 || len(plaintext)%8 != 0 {
		return nil, invalidInput("AES key wrap needs a key of at least 16 bytes in multiples of 8")
	}
	return wrapBlocks(b, defaultIV, plaintext), nil
}

// KeyUnwrap reverses KeyWrap. Every failure is ErrDecrypt.
func KeyUnwrap(kek, ciphertext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil || len(ciphertext) < 24 || len(ciphertext)%8 != 0 {
		return nil, ErrDecrypt
	}
	a, p := unwrapBlocks(b, ciphertext)
	if subtle.ConstantTimeCompare(a[:], defaultIV[:]) != 1 {
		clear(p)
		return nil, ErrDecrypt
	}
	return p, nil
}

// KeyWrapPad is AES key wrap with padding, RFC 5649: any plaintext of 1 to
// 2³²-1 bytes.
func KeyWrapPad(kek, plaintext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || uint64(len(plaintext)) > 0xFFFFFFFF {
		return nil, invalidInput("AES key wrap with padding needs 1 to 2^32-1 bytes")
	}
	var aiv [8]byte
	copy(aiv[:4], kwpPrefix[:])
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(plaintext)))
	padded := make([]byte, (len(plaintext)+7)/8*8)
	copy(padded, plaintext)
	if len(padded) == 8 {
		// §4.1: a single block is encrypted once in ECB mode with the AIV.
		out := make([]byte, 16)
		copy(out, aiv[:])
		copy(out[8:], padded)
		b.Encrypt(out, out)
		return out, nil
	}
	return wrapBlocks(b, aiv, padded), nil
}

// KeyUnwrapPad reverses KeyWrapPad. Every failure is ErrDecrypt.
func KeyUnwrapPad(kek, ciphertext []byte) ([]byte, error) {
	b, err := newBlock(kek)
	if err != nil || len(ciphertext) < 16 || len(ciphertext)%8 != 0 {
		return nil, ErrDecrypt
	}
	var a [8]byte
	var p []byte
	if len(ciphertext) == 16 {
		buf := make([]byte, 16)
		b.Decrypt(buf, ciphertext)
		copy(a[:], buf[:8])
		p = buf[8:]
	} else {
		a, p = unwrapBlocks(b, ciphertext)
	}
	// §3: the prefix must match, the message length indicator must satisfy
	// 8(n-1) < MLI ≤ 8n, and the padding bytes after MLI must be zero. All
	// three are computed without branching on the decrypted values, then
	// fail uniformly.
	n := uint64(len(p))
	mli := uint64(binary.BigEndian.Uint32(a[4:]))
	ok := subtle.ConstantTimeCompare(a[:4], kwpPrefix[:])
	ok &= ctLessOrEq(n-7, mli) & ctLessOrEq(mli, n)
	var pad byte
	for i := n - 8; i < n; i++ {
		pad |= p[i] & -byte(ctLessOrEq(mli, i)) // byte i is padding iff MLI ≤ i
	}
	ok &= subtle.ConstantTimeByteEq(pad, 0)
	if ok != 1 {
		clear(p)
		return nil, ErrDecrypt
	}
	return p[:mli], nil
}

// ctLessOrEq returns 1 if x ≤ y and 0 otherwise, in constant time, for
// x, y < 2⁶³.
func ctLessOrEq(x, y uint64) int {
	return int((y-x)>>63) ^ 1
}
