package jwa

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
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

func readJSON(t testing.TB, v any, path ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", filepath.Join(path...), err)
	}
}

// testKeys holds one key of every kind, made once per test binary. The
// RSA keys are the private keys of Wycheproof's RSA1_5 vector files (read
// through keymat.FromPKCS8, so they are also keys another implementation
// encoded), which spares slow 3072- and 4096-bit generation.
type testKeySet struct {
	rsa map[int]*keymat.Key
	ec  map[keymat.Curve]*keymat.Key
	oct map[int]*keymat.Key
}

var testKeys = sync.OnceValues(func() (*testKeySet, error) {
	s := &testKeySet{rsa: map[int]*keymat.Key{}, ec: map[keymat.Curve]*keymat.Key{}, oct: map[int]*keymat.Key{}}
	for _, bits := range []int{2048, 3072, 4096} {
		b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", fmt.Sprintf("rsa_pkcs1_%d_test.json", bits)))
		if err != nil {
			return nil, err
		}
		var f struct {
			TestGroups []struct {
				PrivateKeyPkcs8 hexBytes `json:"privateKeyPkcs8"`
			} `json:"testGroups"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, err
		}
		k, err := keymat.FromPKCS8(keymat.KeyTypeRSA, 0, f.TestGroups[0].PrivateKeyPkcs8)
		if err != nil {
			return nil, fmt.Errorf("RSA %d key: %w", bits, err)
		}
		s.rsa[bits] = k
	}
	for _, c := range []keymat.Curve{keymat.CurveP256, keymat.CurveP256K, keymat.CurveP384, keymat.CurveP521} {
		k, err := keymat.GenerateEC(c)
		if err != nil {
			return nil, err
		}
		s.ec[c] = k
	}
	for _, bits := range []int{128, 192, 256} {
		k, err := keymat.GenerateOct(bits)
		if err != nil {
			return nil, err
		}
		s.oct[bits] = k
	}
	return s, nil
})

func keys(t testing.TB) *testKeySet {
	t.Helper()
	s, err := testKeys()
	if err != nil {
		t.Fatalf("test keys: %v", err)
	}
	return s
}

func rsaKey(t testing.TB, bits int) *keymat.Key { t.Helper(); return keys(t).rsa[bits] }

func ecKey(t testing.TB, c keymat.Curve) *keymat.Key { t.Helper(); return keys(t).ec[c] }

func aesKey(t testing.TB, bits int) *keymat.Key { t.Helper(); return keys(t).oct[bits] }

// allTestKeys lists every test key, RSA first.
func allTestKeys(t testing.TB) []*keymat.Key {
	t.Helper()
	s := keys(t)
	return []*keymat.Key{
		s.rsa[2048], s.rsa[3072], s.rsa[4096],
		s.ec[keymat.CurveP256], s.ec[keymat.CurveP256K], s.ec[keymat.CurveP384], s.ec[keymat.CurveP521],
		s.oct[128], s.oct[192], s.oct[256],
	}
}

func octKey(t testing.TB, k []byte) *keymat.Key {
	t.Helper()
	key, err := keymat.FromOct(k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// interopVectors is testdata/interop/vectors.json: outputs of
// pyca/cryptography (see gen.py there).
type interopVectors struct {
	Generator string   `json:"generator"`
	KEKPKCS8  hexBytes `json:"kekPkcs8"`
	BYOK      []struct {
		Kty, Crv, Hash string
		EphemeralBits  int      `json:"ephemeralBits"`
		Blob           hexBytes `json:"blob"`
		Plaintext      hexBytes `json:"plaintext"`
	} `json:"byok"`
	HMAC []struct {
		Alg           string
		Key, Msg, MAC hexBytes
	} `json:"hmac"`
	ES256K struct {
		X, Y  hexBytes
		Tests []struct {
			Digest hexBytes `json:"digest"`
			HighS  bool     `json:"highS"`
			Sig    hexBytes `json:"sig"`
		} `json:"tests"`
	} `json:"es256k"`
}

func interop(t testing.TB) interopVectors {
	t.Helper()
	var v interopVectors
	readJSON(t, &v, "interop", "vectors.json")
	if v.Generator == "" {
		t.Fatal("interop/vectors.json names no generator")
	}
	return v
}
