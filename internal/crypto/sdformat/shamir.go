package sdformat

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Shamir's secret sharing as Managed HSM and the Azure CLI do it: every
// byte of the secret is shared on its own, with a random polynomial over
// GF(257) whose constant term is the byte, and holder x (1..n) gets p(x).
// A share is one little-endian uint16 per secret byte, (x << 9) | p(x): 7
// bits of holder number over 9 bits of field element. That is the layout
// the CLI's decoder reads (its encoder, which nothing calls, shifts by 8).

const (
	fieldOrder = 257
	// maxHolders is the most holders the encoding allows, as the CLI
	// has it (x must fit in 7 bits).
	maxHolders = 126
)

// gfReduce is a mod 257 for 0 ≤ a < 66048 (which covers any product or
// sum of two reduced elements), with neither a branch nor a division:
// a = 256h + l is l − h mod 257, because 256 ≡ −1.
func gfReduce(a uint32) uint32 {
	t := int32(a&0xff) - int32(a>>8)
	t += (t >> 31) & fieldOrder
	return uint32(t)
}

func gfAdd(a, b uint32) uint32 { return gfReduce(a + b) }
func gfSub(a, b uint32) uint32 { return gfReduce(a + fieldOrder - b) }
func gfMul(a, b uint32) uint32 { return gfReduce(a * b) }

// gfInv is a⁻¹ = a²⁵⁵ (Fermat), by a fixed chain of squarings and
// multiplications. gfInv(0) is 0.
func gfInv(a uint32) uint32 {
	r := a
	for range 7 {
		r = gfMul(gfMul(r, r), a)
	}
	return r
}

// readElements fills dst with elements drawn uniformly from GF(257): each
// is a little-endian uint16 from rnd, drawn again when it is 65535 or more
// (65535 = 255 × 257, so the values below it are uniform mod 257).
func readElements(rnd io.Reader, dst []uint32, buf []byte) error {
	buf = buf[:2*len(dst)]
	if _, err := io.ReadFull(rnd, buf); err != nil {
		return fmt.Errorf("sdformat: reading random bytes: %w", err)
	}
	for i := range dst {
		w := uint32(binary.LittleEndian.Uint16(buf[2*i:]))
		for w >= 255*fieldOrder {
			var b [2]byte
			if _, err := io.ReadFull(rnd, b[:]); err != nil {
				return fmt.Errorf("sdformat: reading random bytes: %w", err)
			}
			w = uint32(binary.LittleEndian.Uint16(b[:]))
		}
		dst[i] = gfReduce(w)
	}
	return nil
}

// Split shares secret among n holders (2 ≤ quorum ≤ n ≤ 126) so that any
// quorum of them rebuild it with Combine and fewer learn nothing about it.
// Share i belongs to holder x = i+1. rnd nil means crypto/rand.Reader.
//
// For each secret byte in turn, Split reads the polynomial's quorum−1
// random coefficients from rnd, highest degree first.
func Split(rnd io.Reader, secret []byte, n, quorum int) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("sdformat: nothing to split")
	case quorum < 2 || n < quorum || n > maxHolders:
		return nil, fmt.Errorf("sdformat: cannot split among %d holders with a quorum of %d (want 2 ≤ quorum ≤ holders ≤ %d)", n, quorum, maxHolders)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, 2*len(secret))
	}
	// coef[0] is the highest degree's, coef[quorum-1] the secret byte.
	coef := make([]uint32, quorum)
	buf := make([]byte, 2*(quorum-1))
	defer clear(coef)
	defer clear(buf)
	for pos, b := range secret {
		if err := readElements(rnd, coef[:quorum-1], buf); err != nil {
			for _, s := range shares {
				clear(s)
			}
			return nil, err
		}
		coef[quorum-1] = uint32(b)
		for i := range n {
			x := uint32(i + 1)
			v := coef[0]
			for _, c := range coef[1:] {
				v = gfAdd(gfMul(v, x), c)
			}
			binary.LittleEndian.PutUint16(shares[i][2*pos:], uint16(x<<9|v))
		}
	}
	return shares, nil
}

// Combine rebuilds a secret from shares by Lagrange interpolation at 0,
// using every share given: pass exactly a quorum. The shares must be of
// one length and from distinct holders. Too few shares give a wrong
// secret, or an error when the result cannot be bytes: nothing in a share
// says how many it takes.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 || len(shares) > maxHolders+1 {
		return nil, formatErrorf("Rebuilding a secret takes 2 to %d shares, not %d.", maxHolders+1, len(shares))
	}
	size := len(shares[0])
	if size == 0 || size%2 != 0 {
		return nil, formatErrorf("A share is malformed: its length (%d bytes) is not a positive even number.", size)
	}
	xs := make([]uint32, len(shares))
	for i, s := range shares {
		if len(s) != size {
			return nil, formatErrorf("The shares are of different lengths (%d and %d bytes).", size, len(s))
		}
		x := uint32(binary.LittleEndian.Uint16(s)) >> 9
		if x == 0 {
			return nil, formatErrorf("Share %d is malformed: its holder number is 0.", i+1)
		}
		for pos := 0; pos < size; pos += 2 {
			w := uint32(binary.LittleEndian.Uint16(s[pos:]))
			if w>>9 != x || w&0x1ff >= fieldOrder {
				return nil, formatErrorf("Share %d is malformed: element %d is not an element of holder %d.", i+1, pos/2, x)
			}
		}
		for j := range i {
			if xs[j] == x {
				return nil, formatErrorf("Shares %d and %d are both holder %d's.", j+1, i+1, x)
			}
		}
		xs[i] = x
	}
	// The Lagrange basis at 0, lᵢ = Πⱼ≠ᵢ xⱼ / (xⱼ − xᵢ), depends only on
	// the public holder numbers.
	basis := make([]uint32, len(shares))
	for i := range shares {
		num, den := uint32(1), uint32(1)
		for j := range shares {
			if j != i {
				num = gfMul(num, xs[j])
				den = gfMul(den, gfSub(xs[j], xs[i]))
			}
		}
		basis[i] = gfMul(num, gfInv(den))
	}
	secret := make([]byte, size/2)
	var out uint32 // 1 once some result is 256, which no byte is
	for pos := range secret {
		var acc uint32
		for i, s := range shares {
			acc = gfAdd(acc, gfMul(basis[i], uint32(binary.LittleEndian.Uint16(s[2*pos:]))&0x1ff))
		}
		out |= (255 - acc) >> 31
		secret[pos] = byte(acc)
	}
	if out != 0 {
		clear(secret)
		return nil, formatErrorf("The shares do not fit together: they are not from one split, or there are fewer than its quorum.")
	}
	return secret, nil
}
