package jwa

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// The Project Wycheproof vectors in testdata/wycheproof (Apache-2.0, see
// the LICENSE there) run through the package's public API. Every file in
// that directory must have an entry in wycheproofFiles, which names the
// runner and says what this package does with the file's "acceptable"
// vectors (legacy or borderline inputs Wycheproof lets implementations
// decide on). "valid" vectors must pass and "invalid" ones must fail, with
// ErrDecrypt itself where the failure is a decryption. Vectors whose
// parameters the Managed HSM API does not take at all (GCM IVs other than
// 96 bits, OAEP labels) are not skipped: the runners assert the API
// refuses them.

// acceptable documents, per Wycheproof flag, whether the package accepts
// vectors marked "acceptable" with that flag, and why.
type acceptable map[string]struct {
	accept bool
	why    string
}

type wpFile struct {
	run        func(t *testing.T, f wpVectors, name string, policy acceptable) counts
	acceptable acceptable // nil: the file must hold no acceptable vectors
}

var (
	shortKeyRejected = acceptable{"ShortKey": {false,
		"RFC 3394 §2 wraps n ≥ 2 64-bit blocks; an 8-byte key is one block, so KeyWrap refuses it and KeyUnwrap refuses its 16-byte ciphertext (CKM_AES_KEY_WRAP_PAD wraps short keys)"}}
	missingNullRejected = acceptable{"MissingNull": {false,
		"RFC 8017 §9.2 DigestInfo carries NULL parameters; crypto/rsa compares the exact encoding, and every signature Sign makes carries the NULL"}}
)

var wycheproofFiles = map[string]wpFile{
	"aes_gcm_test.json":                         {run: runAESGCM},
	"aes_cbc_pkcs5_test.json":                   {run: runAESCBCPad},
	"aes_wrap_test.json":                        {run: runAESWrap, acceptable: shortKeyRejected},
	"aes_kwp_test.json":                         {run: runAESKWP},
	"ecdsa_secp256r1_sha256_p1363_test.json":    {run: runECDSA},
	"ecdsa_secp256k1_sha256_p1363_test.json":    {run: runECDSA},
	"ecdsa_secp384r1_sha384_p1363_test.json":    {run: runECDSA},
	"ecdsa_secp521r1_sha512_p1363_test.json":    {run: runECDSA},
	"rsa_oaep_2048_sha1_mgf1sha1_test.json":     {run: runRSADecrypt},
	"rsa_oaep_2048_sha256_mgf1sha256_test.json": {run: runRSADecrypt},
	"rsa_oaep_3072_sha256_mgf1sha256_test.json": {run: runRSADecrypt},
	"rsa_oaep_4096_sha256_mgf1sha256_test.json": {run: runRSADecrypt},
	"rsa_pkcs1_2048_test.json":                  {run: runRSADecrypt},
	"rsa_pkcs1_3072_test.json":                  {run: runRSADecrypt},
	"rsa_pkcs1_4096_test.json":                  {run: runRSADecrypt},
	"rsa_pss_2048_sha256_mgf1_32_test.json":     {run: runRSAVerify},
	"rsa_pss_2048_sha384_mgf1_48_test.json":     {run: runRSAVerify},
	"rsa_pss_3072_sha256_mgf1_32_test.json":     {run: runRSAVerify},
	"rsa_pss_4096_sha256_mgf1_32_test.json":     {run: runRSAVerify},
	"rsa_pss_4096_sha384_mgf1_48_test.json":     {run: runRSAVerify},
	"rsa_pss_4096_sha512_mgf1_64_test.json":     {run: runRSAVerify},
	"rsa_signature_2048_sha256_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_2048_sha384_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_2048_sha512_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_3072_sha256_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_3072_sha384_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_3072_sha512_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_4096_sha256_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_4096_sha384_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
	"rsa_signature_4096_sha512_test.json":       {run: runRSAVerify, acceptable: missingNullRejected},
}

type wpVectors struct {
	Algorithm  string            `json:"algorithm"`
	TestGroups []json.RawMessage `json:"testGroups"`
}

type wpTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Key     hexBytes `json:"key"`
	IV      hexBytes `json:"iv"`
	AAD     hexBytes `json:"aad"`
	Msg     hexBytes `json:"msg"`
	CT      hexBytes `json:"ct"`
	Tag     hexBytes `json:"tag"`
	Sig     hexBytes `json:"sig"`
	Label   hexBytes `json:"label"`
	Result  string   `json:"result"`
}

type counts struct{ valid, invalid, acceptable, refused int }

// want returns whether tc must succeed, consulting policy for acceptable
// vectors; it fails the test for an acceptable vector whose flags the
// policy does not cover.
func (c *counts) want(t *testing.T, tc wpTest, policy acceptable) bool {
	t.Helper()
	switch tc.Result {
	case "valid":
		c.valid++
		return true
	case "invalid":
		c.invalid++
		return false
	}
	c.acceptable++
	if len(tc.Flags) == 0 {
		t.Fatalf("tcId %d: acceptable vector without flags", tc.TcID)
	}
	accept := true
	for _, f := range tc.Flags {
		p, ok := policy[f]
		if !ok {
			t.Fatalf("tcId %d: acceptable vector with flag %q, which wycheproofFiles does not decide", tc.TcID, f)
		}
		accept = accept && p.accept
	}
	return accept
}

func (c counts) total() int { return c.valid + c.invalid + c.acceptable + c.refused }

func TestWycheproof(t *testing.T) {
	dir := filepath.Join("testdata", "wycheproof")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			onDisk = append(onDisk, e.Name())
		}
	}
	for _, name := range []string{"LICENSE", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("testdata/wycheproof/%s is missing: %v", name, err)
		}
	}
	var listed []string
	for name := range wycheproofFiles {
		listed = append(listed, name)
	}
	slices.Sort(onDisk)
	slices.Sort(listed)
	if !slices.Equal(onDisk, listed) {
		t.Fatalf("vector files on disk %v differ from those wycheproofFiles runs %v", onDisk, listed)
	}
	var all counts
	for _, name := range onDisk {
		t.Run(name, func(t *testing.T) {
			spec := wycheproofFiles[name]
			var f wpVectors
			readJSON(t, &f, "wycheproof", name)
			c := spec.run(t, f, name, spec.acceptable)
			if c.total() == 0 {
				t.Fatal("no vectors checked")
			}
			if c.acceptable > 0 && spec.acceptable == nil {
				t.Fatalf("%d acceptable vectors, but wycheproofFiles decides none for this file", c.acceptable)
			}
			for flag, p := range spec.acceptable {
				t.Logf("acceptable %s vectors: accept=%v (%s)", flag, p.accept, p.why)
			}
			t.Logf("%s: %d valid, %d invalid, %d acceptable checked; %d more asserted refused (parameters the API does not take)",
				f.Algorithm, c.valid, c.invalid, c.acceptable, c.refused)
			all.valid, all.invalid, all.acceptable, all.refused = all.valid+c.valid, all.invalid+c.invalid, all.acceptable+c.acceptable, all.refused+c.refused
		})
	}
	t.Logf("all files: %d valid, %d invalid, %d acceptable, %d refused", all.valid, all.invalid, all.acceptable, all.refused)
}

// groups decodes f's test groups into g, one at a time.
func groups[G any](t *testing.T, f wpVectors) []G {
	t.Helper()
	out := make([]G, len(f.TestGroups))
	for i, raw := range f.TestGroups {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("test group %d: %v", i, err)
		}
	}
	return out
}

func runAESGCM(t *testing.T, f wpVectors, _ string, policy acceptable) counts {
	var c counts
	for _, g := range groups[struct {
		IVSize, KeySize, TagSize int
		Tests                    []wpTest
	}](t, f) {
		for _, tc := range g.Tests {
			alg := gcmFor[8*len(tc.Key)]
			k := octKey(t, tc.Key)
			pt, err := Decrypt(alg, k, tc.CT, tc.IV, tc.AAD, tc.Tag)
			if g.IVSize != 96 || g.TagSize != 128 {
				// Managed HSM's GCM takes 96-bit IVs and 128-bit tags only.
				c.refused++
				if !errors.Is(err, ErrInvalidInput) {
					t.Errorf("tcId %d: Decrypt with a %d-bit IV and %d-bit tag = %x, %v; want ErrInvalidInput", tc.TcID, g.IVSize, g.TagSize, pt, err)
				}
				continue
			}
			if c.want(t, tc, policy) {
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tcId %d (%s): Decrypt = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
				}
			} else if err != ErrDecrypt {
				t.Errorf("tcId %d (%s): Decrypt = %x, %v; want ErrDecrypt", tc.TcID, tc.Comment, pt, err)
			}
		}
	}
	return c
}

func runAESCBCPad(t *testing.T, f wpVectors, _ string, policy acceptable) counts {
	var c counts
	for _, g := range groups[struct{ Tests []wpTest }](t, f) {
		for _, tc := range g.Tests {
			alg := cbcPadFor[8*len(tc.Key)]
			k := octKey(t, tc.Key)
			pt, err := Decrypt(alg, k, tc.CT, tc.IV, nil, nil)
			if c.want(t, tc, policy) {
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tcId %d (%s): Decrypt = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
				}
				if s, err := Encrypt(alg, k, tc.Msg, tc.IV, nil); err != nil || !bytes.Equal(s.Ciphertext, tc.CT) {
					t.Errorf("tcId %d: Encrypt = %x, %v; want %x", tc.TcID, s.Ciphertext, err, tc.CT)
				}
				continue
			}
			// A ciphertext whose length is not a positive multiple of the
			// block is refused by name (its length is public); every other
			// failure is the uniform ErrDecrypt.
			want := ErrDecrypt
			if len(tc.CT) == 0 || len(tc.CT)%16 != 0 {
				want = ErrInvalidInput
			}
			if !errors.Is(err, want) || (want == ErrDecrypt && err != ErrDecrypt) {
				t.Errorf("tcId %d (%s): Decrypt = %x, %v; want %v", tc.TcID, tc.Comment, pt, err, want)
			}
		}
	}
	return c
}

// runKeyWrapFile runs a key wrap file through the bare functions and
// through Unwrap with each algorithm named.
func runKeyWrapFile(t *testing.T, f wpVectors, policy acceptable, wrap, unwrap func(k, p []byte) ([]byte, error), algs func(keyBits int) []EncryptionAlgorithm) counts {
	var c counts
	for _, g := range groups[struct{ Tests []wpTest }](t, f) {
		for _, tc := range g.Tests {
			k := octKey(t, tc.Key)
			ok := c.want(t, tc, policy)
			got, err := unwrap(tc.Key, tc.CT)
			results := []struct {
				via string
				pt  []byte
				err error
			}{{"bare", got, err}}
			for _, alg := range algs(k.Bits()) {
				pt, err := Unwrap(alg, k, tc.CT)
				results = append(results, struct {
					via string
					pt  []byte
					err error
				}{alg.String(), pt, err})
			}
			for _, r := range results {
				if ok && (r.err != nil || !bytes.Equal(r.pt, tc.Msg)) {
					t.Errorf("tcId %d (%s): unwrap via %s = %x, %v; want %x", tc.TcID, tc.Comment, r.via, r.pt, r.err, tc.Msg)
				}
				if !ok && r.err != ErrDecrypt {
					t.Errorf("tcId %d (%s): unwrap via %s = %x, %v; want ErrDecrypt", tc.TcID, tc.Comment, r.via, r.pt, r.err)
				}
			}
			ct, err := wrap(tc.Key, tc.Msg)
			switch {
			case ok && (err != nil || !bytes.Equal(ct, tc.CT)):
				t.Errorf("tcId %d: wrap = %x, %v; want %x", tc.TcID, ct, err, tc.CT)
			case !ok && tc.Result != "invalid" && !errors.Is(err, ErrInvalidInput):
				// A rejected acceptable vector is a key we refuse to wrap.
				t.Errorf("tcId %d (%v): wrap(%d-byte key) = %x, %v; want ErrInvalidInput", tc.TcID, tc.Flags, len(tc.Msg), ct, err)
			}
		}
	}
	return c
}

func runAESWrap(t *testing.T, f wpVectors, _ string, policy acceptable) counts {
	return runKeyWrapFile(t, f, policy, KeyWrap, KeyUnwrap, func(bits int) []EncryptionAlgorithm {
		return []EncryptionAlgorithm{kwFor[bits], CKMAESKeyWrap}
	})
}

func runAESKWP(t *testing.T, f wpVectors, _ string, policy acceptable) counts {
	return runKeyWrapFile(t, f, policy, KeyWrapPad, KeyUnwrapPad, func(int) []EncryptionAlgorithm {
		return []EncryptionAlgorithm{CKMAESKeyWrapPad}
	})
}

// runECDSA verifies P1363 signatures over the digest of msg. In the
// secp256k1 file (the generic one, not the Bitcoin variant) signatures with
// s > n/2 are valid, and VerifyPublic must accept them: see its doc.
func runECDSA(t *testing.T, f wpVectors, _ string, policy acceptable) counts {
	var c counts
	highS := 0
	for _, g := range groups[struct {
		SHA       string `json:"sha"`
		PublicKey struct {
			Curve string   `json:"curve"`
			WX    hexBytes `json:"wx"`
			WY    hexBytes `json:"wy"`
		} `json:"publicKey"`
		Tests []wpTest
	}](t, f) {
		crv, alg, n := ecdsaParams(t, g.PublicKey.Curve)
		if want := map[SignatureAlgorithm]string{ES256: "SHA-256", ES256K: "SHA-256", ES384: "SHA-384", ES512: "SHA-512"}[alg]; g.SHA != want {
			t.Fatalf("%s group uses %s, but %s signs %s digests", g.PublicKey.Curve, g.SHA, alg, want)
		}
		pub, err := ecPublicFromGroup(crv, g.PublicKey.WX, g.PublicKey.WY)
		if err != nil {
			t.Fatalf("public key on %s: %v", g.PublicKey.Curve, err)
		}
		for _, tc := range g.Tests {
			ok, err := VerifyPublic(alg, pub, digestFor(alg, tc.Msg), tc.Sig)
			if err != nil {
				t.Fatalf("tcId %d: VerifyPublic error = %v; a bad signature must be false, not an error", tc.TcID, err)
			}
			want := c.want(t, tc, policy)
			if ok != want {
				t.Errorf("tcId %d (%s): VerifyPublic = %v, want %v", tc.TcID, tc.Comment, ok, want)
			}
			if l := crv.ByteLen(); want && len(tc.Sig) == 2*l && new(big.Int).SetBytes(tc.Sig[l:]).Cmp(new(big.Int).Rsh(n, 1)) > 0 {
				highS++
			}
		}
	}
	if highS == 0 {
		t.Errorf("no valid high-s signatures in the file; the high-s check above checked nothing")
	}
	t.Logf("%d of the valid signatures have s > n/2 and were accepted", highS)
	return c
}

func ecdsaParams(t *testing.T, curve string) (keymat.Curve, SignatureAlgorithm, *big.Int) {
	t.Helper()
	switch curve {
	case "secp256r1":
		return keymat.CurveP256, ES256, elliptic.P256().Params().N
	case "secp256k1":
		return keymat.CurveP256K, ES256K, k1N
	case "secp384r1":
		return keymat.CurveP384, ES384, elliptic.P384().Params().N
	case "secp521r1":
		return keymat.CurveP521, ES512, elliptic.P521().Params().N
	}
	t.Fatalf("unexpected curve %q", curve)
	return 0, 0, nil
}

// ecPublicFromGroup builds the group's key; Wycheproof writes coordinates
// as ASN.1 integers, sometimes with a leading zero byte.
func ecPublicFromGroup(c keymat.Curve, x, y []byte) (keymat.PublicKey, error) {
	return keymat.NewECPublicKey(c, bytes.TrimLeft(x, "\x00"), bytes.TrimLeft(y, "\x00"))
}

type rsaGroup struct {
	SHA       string `json:"sha"`
	MGFSHA    string `json:"mgfSha"`
	SLen      int    `json:"sLen"`
	KeySize   int    `json:"keySize"`
	PublicKey struct {
		Modulus        hexBytes `json:"modulus"`
		PublicExponent hexBytes `json:"publicExponent"`
	} `json:"publicKey"`
	PrivateKeyPkcs8 hexBytes `json:"privateKeyPkcs8"`
	Tests           []wpTest
}

func runRSAVerify(t *testing.T, f wpVectors, name string, policy acceptable) counts {
	var c counts
	pss := strings.HasPrefix(name, "rsa_pss")
	for _, g := range groups[rsaGroup](t, f) {
		pub, err := keymat.NewRSAPublicKey(g.PublicKey.Modulus, g.PublicKey.PublicExponent)
		if err != nil {
			t.Fatal(err)
		}
		family := "RS"
		if pss {
			family = "PS"
		}
		alg, err := ParseSignatureAlgorithm(family + strings.TrimPrefix(g.SHA, "SHA-"))
		if err != nil {
			t.Fatalf("group hash %s: %v", g.SHA, err)
		}
		if pss && (g.MGFSHA != g.SHA || g.SLen != alg.hash().Size()) {
			t.Fatalf("group has MGF1-%s and a %d-byte salt; %s uses MGF1-%s and a %d-byte salt", g.MGFSHA, g.SLen, alg, g.SHA, alg.hash().Size())
		}
		for _, tc := range g.Tests {
			ok, err := VerifyPublic(alg, pub, digestFor(alg, tc.Msg), tc.Sig)
			if err != nil {
				t.Fatalf("tcId %d: VerifyPublic error = %v; a bad signature must be false, not an error", tc.TcID, err)
			}
			if want := c.want(t, tc, policy); ok != want {
				t.Errorf("tcId %d (%s, %v): VerifyPublic = %v, want %v", tc.TcID, tc.Comment, tc.Flags, ok, want)
			}
		}
	}
	return c
}

func runRSADecrypt(t *testing.T, f wpVectors, name string, policy acceptable) counts {
	var c counts
	for _, g := range groups[rsaGroup](t, f) {
		k, err := keymat.FromPKCS8(keymat.KeyTypeRSA, 0, g.PrivateKeyPkcs8)
		if err != nil {
			t.Fatalf("private key: %v", err)
		}
		alg := RSA15
		if strings.HasPrefix(name, "rsa_oaep") {
			alg = map[string]EncryptionAlgorithm{"SHA-1": RSAOAEP, "SHA-256": RSAOAEP256}[g.SHA]
			if alg == 0 || g.MGFSHA != g.SHA {
				t.Fatalf("OAEP with %s and MGF1-%s is not an algorithm the API offers", g.SHA, g.MGFSHA)
			}
		}
		for _, tc := range g.Tests {
			pt, err := Decrypt(alg, k, tc.CT, nil, nil, nil)
			wpt, werr := Unwrap(alg, k, tc.CT)
			if len(tc.Label) > 0 {
				// The API has no OAEP label, so labelled ciphertexts must
				// not decrypt, whatever their result.
				c.refused++
				if err != ErrDecrypt || werr != ErrDecrypt {
					t.Errorf("tcId %d: labelled ciphertext: Decrypt = %x, %v; Unwrap = %x, %v; want ErrDecrypt", tc.TcID, pt, err, wpt, werr)
				}
				continue
			}
			if c.want(t, tc, policy) {
				if err != nil || !bytes.Equal(pt, tc.Msg) || werr != nil || !bytes.Equal(wpt, tc.Msg) {
					t.Errorf("tcId %d (%s): Decrypt = %x, %v; Unwrap = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, wpt, werr, tc.Msg)
				}
			} else if err != ErrDecrypt || werr != ErrDecrypt {
				t.Errorf("tcId %d (%s): Decrypt = %x, %v; Unwrap = %x, %v; want ErrDecrypt", tc.TcID, tc.Comment, pt, err, wpt, werr)
			}
		}
	}
	return c
}
