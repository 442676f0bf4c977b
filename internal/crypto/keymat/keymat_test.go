package keymat

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testKeys are generated once per test binary: one key of every type and
// curve (RSA 3072 and 4096 come from the interop set, which avoids slow
// generation).
var testKeys = sync.OnceValues(func() ([]*Key, error) {
	var keys []*Key
	k, err := GenerateRSA(2048, 0)
	if err != nil {
		return nil, err
	}
	keys = append(keys, k)
	for _, c := range []Curve{CurveP256, CurveP256K, CurveP384, CurveP521} {
		k, err := GenerateEC(c)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	for _, bits := range []int{128, 192, 256} {
		k, err := GenerateOct(bits)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
})

func generated(t testing.TB) []*Key {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatalf("generating test keys: %v", err)
	}
	return keys
}

// keyOf returns the generated key of type typ (and curve c for EC).
func keyOf(t testing.TB, typ KeyType, c Curve, bits int) *Key {
	t.Helper()
	for _, k := range generated(t) {
		if k.Type() == typ && k.Curve() == c && (bits == 0 || k.Bits() == bits) {
			return k
		}
	}
	t.Fatalf("no generated %v %v %d key", typ, c, bits)
	return nil
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// interopKey is one key of testdata/interop/keys.json, made by
// pyca/cryptography (see gen.py there).
type interopKey struct {
	Name  string   `json:"name"`
	Kty   string   `json:"kty"`
	Crv   string   `json:"crv"`
	PKCS8 hexBytes `json:"pkcs8"`
	JWK   struct {
		Kty, Crv                           string
		N, E, D, DP, DQ, QI, P, Q, X, Y, K hexBytes
	} `json:"jwk"`
}

func (k interopKey) jwk() JWK {
	j := k.JWK
	return JWK{Kty: j.Kty, Crv: j.Crv, N: j.N, E: j.E, D: j.D, DP: j.DP, DQ: j.DQ, QI: j.QI, P: j.P, Q: j.Q, X: j.X, Y: j.Y, K: j.K}
}

func interopKeys(t testing.TB) []interopKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "interop", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Keys []interopKey }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("keys.json: %v", err)
	}
	if len(f.Keys) == 0 {
		t.Fatal("keys.json holds no keys")
	}
	return f.Keys
}

// allKeys is every generated key plus every interop key (so RSA 3072 and
// 4096 are covered).
func allKeys(t testing.TB) []*Key {
	t.Helper()
	keys := append([]*Key(nil), generated(t)...)
	for _, ik := range interopKeys(t) {
		k, err := FromJWK(ik.jwk())
		if err != nil {
			t.Fatalf("FromJWK(%s) error = %v", ik.Name, err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		in      string
		want    KeyType
		wantErr bool
	}{
		{in: "EC", want: KeyTypeEC},
		{in: "EC-HSM", want: KeyTypeEC},
		{in: "RSA", want: KeyTypeRSA},
		{in: "RSA-HSM", want: KeyTypeRSA},
		{in: "oct", want: KeyTypeOct},
		{in: "oct-HSM", want: KeyTypeOct},
		{in: "ec-hsm", want: KeyTypeEC},
		{in: "OCT", want: KeyTypeOct},
		{in: "Rsa-Hsm", want: KeyTypeRSA},
		{in: "", wantErr: true},
		{in: "OKP", wantErr: true},
		{in: "RSA-HSM ", wantErr: true},
		{in: "oct-HSM2", wantErr: true},
		{in: "EC-SOFTWARE", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseKeyType(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseKeyType(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseKeyType(%q) error %v does not match ErrInvalidKey", tc.in, err)
		}
	}
}

func TestKeyTypeString(t *testing.T) {
	tests := []struct {
		in   KeyType
		want string
	}{
		{KeyTypeEC, "EC-HSM"},
		{KeyTypeRSA, "RSA-HSM"},
		{KeyTypeOct, "oct-HSM"},
		{0, "KeyType(0)"},
		{9, "KeyType(9)"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("KeyType(%d).String() = %q, want %q", uint8(tc.in), got, tc.want)
		}
		if back, err := ParseKeyType(tc.want); tc.in != 0 && tc.in != 9 && (err != nil || back != tc.in) {
			t.Errorf("ParseKeyType(%q) = %v, %v; want %v", tc.want, back, err, tc.in)
		}
	}
}

func TestParseCurve(t *testing.T) {
	tests := []struct {
		in       string
		want     Curve
		wantBits int
		wantErr  bool
	}{
		{in: "P-256", want: CurveP256, wantBits: 256},
		{in: "P-256K", want: CurveP256K, wantBits: 256},
		{in: "P-384", want: CurveP384, wantBits: 384},
		{in: "P-521", want: CurveP521, wantBits: 521},
		{in: "p-256k", want: CurveP256K, wantBits: 256},
		{in: "", wantErr: true},
		{in: "P-192", wantErr: true},
		{in: "P256", wantErr: true},
		{in: "secp256k1", wantErr: true},
		{in: "Ed25519", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseCurve(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseCurve(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseCurve(%q) error %v does not match ErrInvalidKey", tc.in, err)
		}
		if got.Bits() != tc.wantBits {
			t.Errorf("%v.Bits() = %d, want %d", got, got.Bits(), tc.wantBits)
		}
		if want := strings.ToUpper(tc.in); err == nil && got.String() != want {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), want)
		}
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name      string
		gen       func() (*Key, error)
		wantType  KeyType
		wantCurve Curve
		wantBits  int
		wantErr   bool
	}{
		{name: "RSA 2048 default exponent", gen: func() (*Key, error) { return GenerateRSA(2048, 0) }, wantType: KeyTypeRSA, wantBits: 2048},
		{name: "RSA 3072", gen: func() (*Key, error) { return GenerateRSA(3072, 65537) }, wantType: KeyTypeRSA, wantBits: 3072},
		{name: "RSA 1024", gen: func() (*Key, error) { return GenerateRSA(1024, 0) }, wantErr: true},
		{name: "RSA 2047", gen: func() (*Key, error) { return GenerateRSA(2047, 0) }, wantErr: true},
		{name: "RSA 8192", gen: func() (*Key, error) { return GenerateRSA(8192, 0) }, wantErr: true},
		{name: "RSA e=3", gen: func() (*Key, error) { return GenerateRSA(2048, 3) }, wantErr: true},
		{name: "RSA e=65539", gen: func() (*Key, error) { return GenerateRSA(2048, 65539) }, wantErr: true},
		{name: "P-256", gen: func() (*Key, error) { return GenerateEC(CurveP256) }, wantType: KeyTypeEC, wantCurve: CurveP256, wantBits: 256},
		{name: "P-256K", gen: func() (*Key, error) { return GenerateEC(CurveP256K) }, wantType: KeyTypeEC, wantCurve: CurveP256K, wantBits: 256},
		{name: "P-384", gen: func() (*Key, error) { return GenerateEC(CurveP384) }, wantType: KeyTypeEC, wantCurve: CurveP384, wantBits: 384},
		{name: "P-521", gen: func() (*Key, error) { return GenerateEC(CurveP521) }, wantType: KeyTypeEC, wantCurve: CurveP521, wantBits: 521},
		{name: "curve 0", gen: func() (*Key, error) { return GenerateEC(0) }, wantErr: true},
		{name: "curve 9", gen: func() (*Key, error) { return GenerateEC(9) }, wantErr: true},
		{name: "AES-128", gen: func() (*Key, error) { return GenerateOct(128) }, wantType: KeyTypeOct, wantBits: 128},
		{name: "AES-192", gen: func() (*Key, error) { return GenerateOct(192) }, wantType: KeyTypeOct, wantBits: 192},
		{name: "AES-256", gen: func() (*Key, error) { return GenerateOct(256) }, wantType: KeyTypeOct, wantBits: 256},
		{name: "oct 0", gen: func() (*Key, error) { return GenerateOct(0) }, wantErr: true},
		{name: "oct 64", gen: func() (*Key, error) { return GenerateOct(64) }, wantErr: true},
		{name: "oct 512", gen: func() (*Key, error) { return GenerateOct(512) }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.gen()
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("Generate = %v, %v; want an ErrInvalidKey error", k, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Generate error = %v", err)
			}
			if k.Type() != tc.wantType || k.Curve() != tc.wantCurve || k.Bits() != tc.wantBits {
				t.Errorf("Generate = %v with curve %v, %d bits; want %v %v %d", k.Type(), k.Curve(), k.Bits(), tc.wantType, tc.wantCurve, tc.wantBits)
			}
			again, err := tc.gen()
			if err != nil || again.Equal(k) {
				t.Errorf("two generated keys are Equal (err %v)", err)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	for _, k := range allKeys(t) {
		t.Run(k.String(), func(t *testing.T) {
			isRSA, isOct := k.Type() == KeyTypeRSA, k.Type() == KeyTypeOct
			isK1 := k.Curve() == CurveP256K
			isStdEC := k.Type() == KeyTypeEC && !isK1
			if (k.RSA() != nil) != isRSA || (k.ECDSA() != nil) != isStdEC || (k.Secp256k1() != nil) != isK1 || k.Symmetric().IsZero() == isOct {
				t.Fatalf("accessors of %v: RSA %v, ECDSA %v, Secp256k1 %v, Symmetric zero %v", k, k.RSA() != nil, k.ECDSA() != nil, k.Secp256k1() != nil, k.Symmetric().IsZero())
			}
			if (k.Curve() != 0) != (k.Type() == KeyTypeEC) {
				t.Errorf("%v.Curve() = %v", k, k.Curve())
			}
			p := k.Public()
			if p.Type != k.Type() || p.Curve != k.Curve() {
				t.Errorf("Public() type/curve = %v/%v, want %v/%v", p.Type, p.Curve, k.Type(), k.Curve())
			}
			switch k.Type() {
			case KeyTypeRSA:
				if !bytes.Equal(p.E, []byte{1, 0, 1}) || len(p.N) != k.Bits()/8 || p.N[0] == 0 {
					t.Errorf("Public() = e %x, n of %d bytes; want e 010001 and a minimal %d-byte n", p.E, len(p.N), k.Bits()/8)
				}
				if p.X != nil || p.Y != nil {
					t.Error("RSA Public() carries EC coordinates")
				}
			case KeyTypeEC:
				n := k.Curve().ByteLen()
				if len(p.X) != n || len(p.Y) != n || p.N != nil || p.E != nil {
					t.Errorf("Public() coordinates are %d/%d bytes, want %d", len(p.X), len(p.Y), n)
				}
			case KeyTypeOct:
				if p.N != nil || p.E != nil || p.X != nil || p.Y != nil {
					t.Error("oct Public() carries material")
				}
				if k.Symmetric().Len()*8 != k.Bits() {
					t.Errorf("Symmetric().Len() = %d, want %d", k.Symmetric().Len(), k.Bits()/8)
				}
			}
		})
	}
}

func TestEqual(t *testing.T) {
	keys := allKeys(t)
	for i, a := range keys {
		for j, b := range keys {
			if got := a.Equal(b); got != (i == j) {
				t.Errorf("(%v).Equal(%v) = %v, want %v", a, b, got, i == j)
			}
		}
		if a.Equal(nil) || (*Key)(nil).Equal(a) {
			t.Errorf("%v compares Equal to nil", a)
		}
	}
	// Equal compares the material, not the pointer.
	k1, _ := FromOct(bytes.Repeat([]byte{7}, 32))
	k2, _ := FromOct(bytes.Repeat([]byte{7}, 32))
	k3, _ := FromOct(append(bytes.Repeat([]byte{7}, 31), 8))
	if !k1.Equal(k2) || k1.Equal(k3) {
		t.Errorf("FromOct keys: Equal(same bytes) = %v, Equal(other bytes) = %v; want true, false", k1.Equal(k2), k1.Equal(k3))
	}
}

func TestFromOct(t *testing.T) {
	tests := []struct {
		n       int
		wantErr string
	}{
		{n: 16}, {n: 24}, {n: 32},
		{n: 0, wantErr: "keymat: k property of oct key is required"},
		{n: 8, wantErr: "keymat: oct key of 8 bytes is not supported (16, 24 or 32 bytes: AES-128, AES-192 or AES-256)"},
		{n: 64, wantErr: "keymat: oct key of 64 bytes is not supported (16, 24 or 32 bytes: AES-128, AES-192 or AES-256)"},
		// Key Vault's own words, which the HTTP layer passes through.
		{n: 65, wantErr: "keymat: k property of oct key is too large, maximum size is 64"},
	}
	for _, tc := range tests {
		b := bytes.Repeat([]byte{0x5a}, tc.n)
		k, err := FromOct(b)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrInvalidKey) {
				t.Errorf("FromOct(%d bytes) = %v, %v; want error %q", tc.n, k, err, tc.wantErr)
			}
			continue
		}
		if err != nil || k.Bits() != tc.n*8 || !bytes.Equal(k.Symmetric().Expose(), b) {
			t.Errorf("FromOct(%d bytes) = %v, %v; want an AES-%d key", tc.n, k, err, tc.n*8)
			continue
		}
		b[0] ^= 1 // the key holds a copy
		if bytes.Equal(k.Symmetric().Expose(), b) {
			t.Errorf("FromOct(%d bytes) kept the caller's slice", tc.n)
		}
	}
}
