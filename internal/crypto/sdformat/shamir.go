package sdformat

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Shamir's secret sharing as the Azure CLI does it: every byte of the
// secret is shared on its own, with a random polynomial over GF(257) whose
// constant term is the byte; holder x (1..n) gets p(x). A share is one
// little-endian uint16 per secret byte, (x << 9) | p(x).

const field = 257

// maxShares is the most holders the encoding allows (x has 7 bits).
const maxShares = 126

func mulMod(a, b uint32) uint32 { return a * b % field }

// invMod is a⁻¹ mod 257 by Fermat: a^255.
func invMod(a uint32) uint32 {
	r, base := uint32(1), a%field
	for e := field - 2; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = mulMod(r, base)
		}
		base = mulMod(base, base)
	}
	return r
}

// randomCoefficient draws uniformly from [0, 256] by rejection.
func randomCoefficient(rnd io.Reader) (uint32, error) {
	var b [2]byte
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return 0, fmt.Errorf("sdformat: reading randomness: %w", err)
		}
		// 65535 = 255 × 257: values below it are uniform mod 257.
		if v := uint32(binary.LittleEndian.Uint16(b[:])); v < 65535 {
			return v % field, nil
		}
	}
}

// Split shares secret among n holders so that any quorum of them can
// rebuild it and fewer learn nothing about it.
func Split(rnd io.Reader, secret []byte, n, quorum int) ([][]byte, error) {
	if quorum < 2 || n < quorum || n > maxShares {
		return nil, fmt.Errorf("sdformat: cannot split among %d holders with a quorum of %d", n, quorum)
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, 2*len(secret))
	}
	coef := make([]uint32, quorum)
	defer clear(coef)
	for pos, b := range secret {
		coef[0] = uint32(b)
		for k := 1; k < quorum; k++ {
			c, err := randomCoefficient(rnd)
			if err != nil {
				return nil, err
			}
			coef[k] = c
		}
		for i := range n {
			x := uint32(i + 1)
			// Horner's rule from the highest coefficient down.
			v := coef[quorum-1]
			for k := quorum - 2; k >= 0; k-- {
				v = (mulMod(v, x) + coef[k]) % field
			}
			binary.LittleEndian.PutUint16(shares[i][2*pos:], uint16(x<<9|v))
		}
	}
	return shares, nil
}

// Combine rebuilds a secret from shares by Lagrange interpolation at 0.
// Every share must be as long as the others, and the holders distinct.
// Too few shares give a wrong secret, not an error: nothing in a share
// says how many it takes.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, InputError("at least two shares are needed to rebuild a secret")
	}
	size := len(shares[0])
	if size == 0 || size%2 != 0 {
		return nil, InputError("a share is malformed: its length is not a whole number of elements")
	}
	for _, s := range shares {
		if len(s) != size {
			return nil, InputError("the shares are of different lengths")
		}
	}
	secret := make([]byte, size/2)
	xs := make([]uint32, len(shares))
	for pos := range secret {
		for i, s := range shares {
			w := uint32(binary.LittleEndian.Uint16(s[2*pos:]))
			xs[i] = w >> 9
			if xs[i] == 0 {
				return nil, InputError("a share is malformed: holder number 0")
			}
		}
		var acc uint32
		for i, s := range shares {
			v := uint32(binary.LittleEndian.Uint16(s[2*pos:])) & 0x1ff
			num, den := uint32(1), uint32(1)
			for j := range shares {
				if i == j {
					continue
				}
				if xs[i] == xs[j] {
					return nil, InputError("two shares come from the same holder")
				}
				num = mulMod(num, xs[j])
				den = mulMod(den, (xs[j]+field-xs[i])%field)
			}
			acc = (acc + mulMod(mulMod(num, invMod(den)), v%field)) % field
		}
		if acc > 255 {
			clear(secret)
			return nil, ErrDecrypt
		}
		secret[pos] = byte(acc)
	}
	return secret, nil
}
