package jwa

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// The Project Wycheproof vectors in testdata/wycheproof (Apache-2.0, see
// the LICENSE there) run through the package's public API. Every "valid"
// vector must pass and every "invalid" one must be rejected; "acceptable"
// vectors (legacy encodings Wycheproof tolerates) may go either way and are
// counted. Vectors whose parameters the Managed HSM API does not accept at
// all (other GCM IV or tag sizes, OAEP labels) are not skipped: the test
// asserts the API refuses them.

type wpFile struct {
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

type counts struct{ valid, invalid, acceptable int }

func (c *counts) add(result string) {
	switch result {
	case "valid":
		c.valid++
	case "invalid":
		c.invalid++
	default:
		c.acceptable++
	}
}

func loadVectors(t *testing.T, name string) wpFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	var f wpFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func files(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", "wycheproof", pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no vector files match %s", pattern)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func report(t *testing.T, name string, c counts) {
	t.Helper()
	if c.valid+c.invalid+c.acceptable == 0 {
		t.Fatalf("%s: no vectors checked", name)
	}
	t.Logf("%s: %d valid, %d invalid, %d acceptable vectors checked", name, c.valid, c.invalid, c.acceptable)
}

func octKey(t testing.TB, k []byte) *keymat.Key {
	t.Helper()
	key, err := keymat.FromOct(k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func gcmAlg(keyLen int) EncryptionAlgorithm {
	return map[int]EncryptionAlgorithm{16: A128GCM, 24: A192GCM, 32: A256GCM}[keyLen]
}

func TestWycheproofAESGCM(t *testing.T) {
	f := loadVectors(t, "aes_gcm_test.json")
	var c, refused counts
	for _, raw := range f.TestGroups {
		var g struct {
			IVSize, KeySize, TagSize int
			Tests                    []wpTest
		}
		json.Unmarshal(raw, &g)
		for _, tc := range g.Tests {
			alg := gcmAlg(len(tc.Key))
			if alg == 0 {
				t.Fatalf("tcId %d: unexpected key size %d", tc.TcID, len(tc.Key))
			}
			k := octKey(t, tc.Key)
			pt, err := Decrypt(alg, k, tc.CT, tc.IV, tc.AAD, tc.Tag)
			if g.IVSize != 96 || g.TagSize != 128 {
				// Managed HSM's GCM has 12-byte IVs and 16-byte tags only.
				if err == nil {
					t.Errorf("tcId %d: Decrypt with a %d-bit IV and %d-bit tag succeeded, want refusal", tc.TcID, g.IVSize, g.TagSize)
				}
				refused.add(tc.Result)
				continue
			}
			c.add(tc.Result)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tcId %d (%s): Decrypt = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
				}
			case "invalid":
				if err == nil {
					t.Errorf("tcId %d (%s): Decrypt succeeded, want failure", tc.TcID, tc.Comment)
				}
			}
		}
	}
	report(t, "aes_gcm (96-bit IV, 128-bit tag)", c)
	report(t, "aes_gcm (other sizes, asserted refused)", refused)
}

func TestWycheproofAESCBCPad(t *testing.T) {
	f := loadVectors(t, "aes_cbc_pkcs5_test.json")
	var c counts
	for _, raw := range f.TestGroups {
		var g struct{ Tests []wpTest }
		json.Unmarshal(raw, &g)
		for _, tc := range g.Tests {
			alg := map[int]EncryptionAlgorithm{16: A128CBCPAD, 24: A192CBCPAD, 32: A256CBCPAD}[len(tc.Key)]
			k := octKey(t, tc.Key)
			c.add(tc.Result)
			pt, err := Decrypt(alg, k, tc.CT, tc.IV, nil, nil)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tcId %d (%s): Decrypt = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
				}
				s, err := Encrypt(alg, k, tc.Msg, tc.IV, nil)
				if err != nil || !bytes.Equal(s.Ciphertext, tc.CT) {
					t.Errorf("tcId %d: Encrypt = %x, %v; want %x", tc.TcID, s.Ciphertext, err, tc.CT)
				}
			case "invalid":
				if err == nil {
					t.Errorf("tcId %d (%s): Decrypt succeeded, want failure", tc.TcID, tc.Comment)
				} else if !errors.Is(err, ErrDecrypt) && len(tc.IV) == 16 {
					t.Errorf("tcId %d: error %v is not the uniform ErrDecrypt", tc.TcID, err)
				}
			}
		}
	}
	report(t, "aes_cbc_pkcs5", c)
}

func testKeyWrapFile(t *testing.T, file string, wrap func(k, p []byte) ([]byte, error), unwrap func(k, c []byte) ([]byte, error), alg func(keyLen int) EncryptionAlgorithm) {
	f := loadVectors(t, file)
	var c counts
	for _, raw := range f.TestGroups {
		var g struct{ Tests []wpTest }
		json.Unmarshal(raw, &g)
		for _, tc := range g.Tests {
			c.add(tc.Result)
			got, err := unwrap(tc.Key, tc.CT)
			// The same vector through the API entry point with a keymat key.
			apiGot, apiErr := Unwrap(alg(len(tc.Key)), octKey(t, tc.Key), tc.CT)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(got, tc.Msg) || apiErr != nil || !bytes.Equal(apiGot, tc.Msg) {
					t.Errorf("tcId %d (%s): unwrap = %x, %v (API: %v); want %x", tc.TcID, tc.Comment, got, err, apiErr, tc.Msg)
				}
				ct, err := wrap(tc.Key, tc.Msg)
				if err != nil || !bytes.Equal(ct, tc.CT) {
					t.Errorf("tcId %d: wrap = %x, %v; want %x", tc.TcID, ct, err, tc.CT)
				}
			case "invalid":
				if err == nil || apiErr == nil {
					t.Errorf("tcId %d (%s): unwrap succeeded, want failure", tc.TcID, tc.Comment)
				}
				if err != nil && !errors.Is(err, ErrDecrypt) {
					t.Errorf("tcId %d: unwrap error %v is not the uniform ErrDecrypt", tc.TcID, err)
				}
			}
		}
	}
	report(t, file, c)
}

func TestWycheproofAESKeyWrap(t *testing.T) {
	testKeyWrapFile(t, "aes_wrap_test.json", KeyWrap, KeyUnwrap, func(n int) EncryptionAlgorithm {
		return map[int]EncryptionAlgorithm{16: A128KW, 24: A192KW, 32: A256KW}[n]
	})
}

func TestWycheproofAESKeyWrapCKM(t *testing.T) {
	testKeyWrapFile(t, "aes_wrap_test.json", KeyWrap, KeyUnwrap, func(int) EncryptionAlgorithm { return CKMAESKeyWrap })
}

func TestWycheproofAESKeyWrapPad(t *testing.T) {
	testKeyWrapFile(t, "aes_kwp_test.json", KeyWrapPad, KeyUnwrapPad, func(int) EncryptionAlgorithm { return CKMAESKeyWrapPad })
}

func shaOf(name string) func() hash.Hash {
	switch strings.ToUpper(name) {
	case "SHA-384":
		return sha512.New384
	case "SHA-512":
		return sha512.New
	}
	return sha256.New
}

func digestOf(name string, msg []byte) []byte {
	h := shaOf(name)()
	h.Write(msg)
	return h.Sum(nil)
}

func TestWycheproofECDSA(t *testing.T) {
	for _, file := range files(t, "ecdsa_*_p1363_test.json") {
		t.Run(file, func(t *testing.T) {
			f := loadVectors(t, file)
			var c counts
			for _, raw := range f.TestGroups {
				var g struct {
					SHA       string `json:"sha"`
					PublicKey struct {
						Curve string   `json:"curve"`
						WX    hexBytes `json:"wx"`
						WY    hexBytes `json:"wy"`
					} `json:"publicKey"`
					Tests []wpTest
				}
				json.Unmarshal(raw, &g)
				crv, alg := map[string]keymat.Curve{"secp256r1": keymat.CurveP256, "secp256k1": keymat.CurveP256K, "secp384r1": keymat.CurveP384, "secp521r1": keymat.CurveP521}[g.PublicKey.Curve],
					map[string]SignatureAlgorithm{"secp256r1": ES256, "secp256k1": ES256K, "secp384r1": ES384, "secp521r1": ES512}[g.PublicKey.Curve]
				pub, err := keymat.NewECPublicKey(crv, bytes.TrimLeft(g.PublicKey.WX, "\x00"), bytes.TrimLeft(g.PublicKey.WY, "\x00"))
				if err != nil {
					t.Fatalf("public key of %s: %v", g.PublicKey.Curve, err)
				}
				for _, tc := range g.Tests {
					c.add(tc.Result)
					ok, err := VerifyPublic(alg, pub, digestOf(g.SHA, tc.Msg), tc.Sig)
					if err != nil {
						t.Fatalf("tcId %d: VerifyPublic error = %v", tc.TcID, err)
					}
					if tc.Result == "valid" && !ok {
						t.Errorf("tcId %d (%s): valid signature rejected", tc.TcID, tc.Comment)
					}
					if tc.Result == "invalid" && ok {
						t.Errorf("tcId %d (%s): invalid signature accepted", tc.TcID, tc.Comment)
					}
				}
			}
			report(t, file, c)
		})
	}
}

type rsaGroup struct {
	SHA       string `json:"sha"`
	SLen      int    `json:"sLen"`
	PublicKey struct {
		Modulus        hexBytes `json:"modulus"`
		PublicExponent hexBytes `json:"publicExponent"`
	} `json:"publicKey"`
	PrivateKeyPkcs8 hexBytes `json:"privateKeyPkcs8"`
	Tests           []wpTest
}

func TestWycheproofRSASignatures(t *testing.T) {
	for _, pattern := range []string{"rsa_signature_*_test.json", "rsa_pss_*_test.json"} {
		for _, file := range files(t, pattern) {
			t.Run(file, func(t *testing.T) {
				f := loadVectors(t, file)
				pss := strings.HasPrefix(file, "rsa_pss")
				var c counts
				for _, raw := range f.TestGroups {
					var g rsaGroup
					json.Unmarshal(raw, &g)
					pub, err := keymat.NewRSAPublicKey(g.PublicKey.Modulus, g.PublicKey.PublicExponent)
					if err != nil {
						t.Fatal(err)
					}
					fam := map[bool]string{true: "PS", false: "RS"}[pss]
					alg, err := ParseSignatureAlgorithm(fam + strings.TrimPrefix(strings.ToUpper(g.SHA), "SHA-"))
					if err != nil {
						t.Fatal(err)
					}
					for _, tc := range g.Tests {
						c.add(tc.Result)
						ok, err := VerifyPublic(alg, pub, digestOf(g.SHA, tc.Msg), tc.Sig)
						if err != nil {
							t.Fatalf("tcId %d: VerifyPublic error = %v", tc.TcID, err)
						}
						if tc.Result == "valid" && !ok {
							t.Errorf("tcId %d (%s): valid signature rejected", tc.TcID, tc.Comment)
						}
						if tc.Result == "invalid" && ok {
							t.Errorf("tcId %d (%s): invalid signature accepted", tc.TcID, tc.Comment)
						}
					}
				}
				report(t, file, c)
			})
		}
	}
}

func TestWycheproofRSADecryption(t *testing.T) {
	for _, pattern := range []string{"rsa_oaep_*_test.json", "rsa_pkcs1_*_test.json"} {
		for _, file := range files(t, pattern) {
			t.Run(file, func(t *testing.T) {
				f := loadVectors(t, file)
				var c, refused counts
				for _, raw := range f.TestGroups {
					var g rsaGroup
					json.Unmarshal(raw, &g)
					k, err := keymat.FromPKCS8(keymat.KeyTypeRSA, 0, g.PrivateKeyPkcs8)
					if err != nil {
						t.Fatalf("private key: %v", err)
					}
					alg := RSA15
					if strings.HasPrefix(file, "rsa_oaep") {
						alg = map[string]EncryptionAlgorithm{"SHA-1": RSAOAEP, "SHA-256": RSAOAEP256}[g.SHA]
					}
					for _, tc := range g.Tests {
						pt, err := Decrypt(alg, k, tc.CT, nil, nil, nil)
						if len(tc.Label) > 0 {
							// The API has no OAEP label; labelled ciphertexts
							// must not decrypt.
							refused.add(tc.Result)
							if err == nil {
								t.Errorf("tcId %d: labelled ciphertext decrypted without the label", tc.TcID)
							}
							continue
						}
						c.add(tc.Result)
						switch tc.Result {
						case "valid":
							if err != nil || !bytes.Equal(pt, tc.Msg) {
								t.Errorf("tcId %d (%s): Decrypt = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
							}
						case "invalid":
							if err == nil {
								t.Errorf("tcId %d (%s): Decrypt succeeded, want failure", tc.TcID, tc.Comment)
							} else if !errors.Is(err, ErrDecrypt) {
								t.Errorf("tcId %d: error %v is not the uniform ErrDecrypt", tc.TcID, err)
							}
						}
					}
				}
				report(t, file, c)
				if refused.valid+refused.invalid+refused.acceptable > 0 {
					report(t, file+" (labelled, asserted refused)", refused)
				}
			})
		}
	}
}
