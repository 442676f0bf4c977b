package sdformat

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The field arithmetic agrees with plain modular arithmetic everywhere.
func TestGF257(t *testing.T) {
	for a := uint32(0); a < fieldOrder; a++ {
		for b := uint32(0); b < fieldOrder; b++ {
			if got, want := gfMul(a, b), a*b%fieldOrder; got != want {
				t.Fatalf("gfMul(%d, %d) = %d, want %d", a, b, got, want)
			}
			if got, want := gfAdd(a, b), (a+b)%fieldOrder; got != want {
				t.Fatalf("gfAdd(%d, %d) = %d, want %d", a, b, got, want)
			}
			if got, want := gfSub(a, b), (a+fieldOrder-b)%fieldOrder; got != want {
				t.Fatalf("gfSub(%d, %d) = %d, want %d", a, b, got, want)
			}
		}
		if a != 0 && gfMul(a, gfInv(a)) != 1 {
			t.Fatalf("gfInv(%d) = %d, not an inverse", a, gfInv(a))
		}
	}
}

// permutations calls f with every ordered choice of k of the indexes 0..n-1.
func permutations(n, k int, f func([]int)) {
	var rec func(prefix []int, used uint64)
	rec = func(prefix []int, used uint64) {
		if len(prefix) == k {
			f(prefix)
			return
		}
		for i := range n {
			if used&(1<<i) == 0 {
				rec(append(prefix, i), used|1<<i)
			}
		}
	}
	rec(nil, 0)
}

func pick(shares [][]byte, idx []int) [][]byte {
	var out [][]byte
	for _, i := range idx {
		out = append(out, shares[i])
	}
	return out
}

func TestSplitCombine(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	tests := []struct{ n, quorum int }{{3, 2}, {3, 3}, {4, 3}, {5, 3}, {10, 2}, {10, 10}, {maxHolders, 2}}
	for _, tc := range tests {
		shares, err := Split(rand.Reader, secret, tc.n, tc.quorum)
		if err != nil {
			t.Fatalf("Split(n=%d, quorum=%d) = %v", tc.n, tc.quorum, err)
		}
		if len(shares) != tc.n {
			t.Fatalf("Split(n=%d) made %d shares", tc.n, len(shares))
		}
		for i, s := range shares {
			if x := binary.LittleEndian.Uint16(s) >> 9; len(s) != 64 || int(x) != i+1 {
				t.Fatalf("Split(n=%d) share %d: %d bytes, holder %d; want 64 bytes, holder %d", tc.n, i, len(s), x, i+1)
			}
		}
		check := func(idx []int) {
			got, err := Combine(pick(shares, idx))
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("Combine(holders %v of n=%d, quorum=%d) = %x, %v, want %x", idx, tc.n, tc.quorum, got, err, secret)
			}
		}
		if tc.n <= 5 {
			permutations(tc.n, tc.quorum, check)
		} else {
			for start := range tc.n { // every window of quorum holders, wrapping
				var idx []int
				for k := range tc.quorum {
					idx = append(idx, (start+k)%tc.n)
				}
				check(idx)
			}
		}
		// One share short of the quorum gives something else.
		if got, err := Combine(shares[:tc.quorum-1]); tc.quorum > 2 && err == nil && bytes.Equal(got, secret) {
			t.Errorf("Combine(%d shares of n=%d, quorum=%d) rebuilt the secret", tc.quorum-1, tc.n, tc.quorum)
		}
	}
}

// shamirVector is testdata/shamir_vector.json, made by
// testdata/shamir_vector.py with the Azure CLI's own Shamir code.
type shamirVector struct {
	N            int        `json:"n"`
	Quorum       int        `json:"quorum"`
	Secret       string     `json:"secret"`
	Coefficients [][]uint16 `json:"coefficients"`
	Shares       []string   `json:"shares"`
	Fewer        struct {
		Holders []int   `json:"holders"`
		Result  *string `json:"result"`
	} `json:"fewer"`
}

func TestShamirCLIVector(t *testing.T) {
	b, err := os.ReadFile("testdata/shamir_vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var v shamirVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	secret := mustHex(t, v.Secret)
	var shares [][]byte
	for _, s := range v.Shares {
		shares = append(shares, mustHex(t, s))
	}

	// Split, fed the CLI's coefficients, makes the CLI's shares.
	var coef []byte
	for _, cs := range v.Coefficients {
		for _, c := range cs {
			coef = binary.LittleEndian.AppendUint16(coef, c)
		}
	}
	r := bytes.NewReader(coef)
	got, err := Split(r, secret, v.N, v.Quorum)
	if err != nil {
		t.Fatalf("Split(vector) = %v", err)
	}
	if diff := cmp.Diff(v.Shares, hexAll(got)); diff != "" {
		t.Errorf("Split(vector coefficients) shares (-cli +got):\n%s", diff)
	}
	if r.Len() != 0 {
		t.Errorf("Split(vector) left %d random bytes unread", r.Len())
	}

	// Every quorum of the CLI's shares, in any order, gives the secret.
	permutations(v.N, v.Quorum, func(idx []int) {
		got, err := Combine(pick(shares, idx))
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Combine(vector holders %v) = %x, %v, want %s", idx, got, err, v.Secret)
		}
	})

	// Too few shares give what the CLI's decoder gives, or fail as it does.
	got1, err := Combine([][]byte{shares[v.Fewer.Holders[0]-1], shares[v.Fewer.Holders[1]-1]})
	switch {
	case v.Fewer.Result == nil && err == nil:
		t.Errorf("Combine(vector holders %v) = %x, want an error as in the CLI", v.Fewer.Holders, got1)
	case v.Fewer.Result != nil && (err != nil || hex.EncodeToString(got1) != *v.Fewer.Result):
		t.Errorf("Combine(vector holders %v) = %x, %v, want %s as in the CLI", v.Fewer.Holders, got1, err, *v.Fewer.Result)
	}
}

func hexAll(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, hex.EncodeToString(b))
	}
	return out
}

// A random value of 65535 is drawn again, so coefficients are uniform in
// GF(257): 0..65534 is 255 times round the field.
func TestSplitRedrawsBiasedValues(t *testing.T) {
	// 0xffff is refused twice; 0x0005 gives p(x) = 5x + 7.
	r := bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0x05, 0x00})
	shares, err := Split(r, []byte{7}, 3, 2)
	if err != nil {
		t.Fatalf("Split() = %v", err)
	}
	want := []string{hex.EncodeToString([]byte{12, 1 << 1}), hex.EncodeToString([]byte{17, 2 << 1}), hex.EncodeToString([]byte{22, 3 << 1})}
	if diff := cmp.Diff(want, hexAll(shares)); diff != "" {
		t.Errorf("Split() shares (-want +got):\n%s", diff)
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name      string
		secret    []byte
		n, quorum int
		rnd       *bytes.Reader
	}{
		{name: "quorum 1", secret: []byte{1}, n: 3, quorum: 1},
		{name: "quorum above n", secret: []byte{1}, n: 2, quorum: 3},
		{name: "too many holders", secret: []byte{1}, n: maxHolders + 1, quorum: 2},
		{name: "empty secret", n: 3, quorum: 2},
		{name: "random source runs dry", secret: []byte{1, 2}, n: 3, quorum: 2, rnd: bytes.NewReader([]byte{1, 0})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.rnd != nil {
				_, err = Split(tc.rnd, tc.secret, tc.n, tc.quorum)
			} else {
				_, err = Split(nil, tc.secret, tc.n, tc.quorum)
			}
			if err == nil {
				t.Errorf("Split(%x, n=%d, quorum=%d) succeeded, want an error", tc.secret, tc.n, tc.quorum)
			}
		})
	}
}

func TestCombineErrors(t *testing.T) {
	s, err := Split(nil, []byte("secret"), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	mixed := bytes.Clone(s[1])
	binary.LittleEndian.PutUint16(mixed[2:], 3<<9|5) // one element of holder 3 in holder 2's share
	big := bytes.Clone(s[1])
	binary.LittleEndian.PutUint16(big[2:], 2<<9|257) // not an element of GF(257)
	tests := []struct {
		name   string
		shares [][]byte
		want   string
	}{
		{name: "one share", shares: s[:1], want: "takes 2 to 127 shares"},
		{name: "empty shares", shares: [][]byte{{}, {}}, want: "not a positive even number"},
		{name: "odd length", shares: [][]byte{s[0][:3], s[1][:3]}, want: "not a positive even number"},
		{name: "unequal lengths", shares: [][]byte{s[0], s[1][:4]}, want: "different lengths"},
		{name: "holder zero", shares: [][]byte{make([]byte, 12), s[1]}, want: "holder number is 0"},
		{name: "same holder", shares: [][]byte{s[0], s[0]}, want: "both holder 1's"},
		{name: "mixed holders", shares: [][]byte{s[0], mixed}, want: "not an element of holder 2"},
		{name: "value above 256", shares: [][]byte{s[0], big}, want: "not an element of holder 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Combine(tc.shares)
			if msg := errorText(err, tc.want); msg != "" {
				t.Errorf("Combine(%s) = %x, %s", tc.name, got, msg)
			}
		})
	}
}
