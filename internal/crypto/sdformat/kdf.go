package sdformat

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"math"
)

// KDF is the key derivation function of NIST SP 800-108r1 §4.1 (counter
// mode) with HMAC-SHA-512 as the PRF and a 32-bit counter: block i is
//
//	HMAC-SHA-512(key, [i]₃₂ ‖ label ‖ 0x00 ‖ context ‖ [bits]₃₂), i = 1, 2, …
//
// and the result is the first bits/8 bytes of the blocks. The security
// domain derives each payload's A256CBC-HS512 key as KDF(master, tag, nil,
// 512). The Azure CLI's implementation agrees with this one up to 512 bits,
// the most it is ever asked for (beyond one block it is broken).
//
// bits must be a positive multiple of 8 that fits the 32-bit length field;
// KDF panics otherwise, as that is a bug in the caller.
func KDF(key, label, context []byte, bits int) []byte {
	if bits <= 0 || bits%8 != 0 || uint64(bits) > math.MaxUint32 {
		panic("sdformat: KDF output length must be a positive multiple of 8 bits")
	}
	n := bits / 8
	out := make([]byte, 0, n+sha512.Size)
	mac := hmac.New(sha512.New, key)
	var buf [4]byte
	for i := uint32(1); len(out) < n; i++ {
		mac.Reset()
		binary.BigEndian.PutUint32(buf[:], i)
		mac.Write(buf[:])
		mac.Write(label)
		mac.Write([]byte{0})
		mac.Write(context)
		binary.BigEndian.PutUint32(buf[:], uint32(bits))
		mac.Write(buf[:])
		out = mac.Sum(out)
	}
	clear(out[n:])
	return out[:n]
}

// payloadKey is the content-encryption key of the payload tagged tag.
func payloadKey(master []byte, tag string) []byte {
	return KDF(master, []byte(tag), nil, 8*cekSize)
}
