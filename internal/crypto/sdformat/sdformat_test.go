package sdformat

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKDFKnownAnswer(t *testing.T) {
	tests := []struct {
		name                string
		key, label, context string
		bits                int
		want                string
	}{
		// The Azure CLI's own self-test vector.
		{"cli self-test", strings.Repeat("41", 32), "label", "context", 256, "f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575"},
		// A payload key as the security domain derives it (from the CLI's code).
		{"payload key", "00ff", "hsm_backup", "", 512, "a60ffdfb672c8267c4c60a0d69d6b8bf96c2f9916936d6dd4fd10437c68ba367652865519b32da95b1146d0feaef3424a1cf3be85c4ac3a66cafba777bc4886c"},
	}
	for _, tc := range tests {
		key, _ := hex.DecodeString(tc.key)
		got := hex.EncodeToString(KDF(key, []byte(tc.label), []byte(tc.context), tc.bits))
		if got != tc.want {
			t.Errorf("%s: KDF() = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestShamir(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	for _, tc := range []struct{ n, m int }{{3, 2}, {3, 3}, {5, 3}, {10, 10}, {10, 2}} {
		shares, err := Split(rand.Reader, secret, tc.n, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		// Every window of m consecutive holders (wrapping) rebuilds it.
		for start := range tc.n {
			var sub [][]byte
			for k := range tc.m {
				sub = append(sub, shares[(start+k)%tc.n])
			}
			got, err := Combine(sub)
			if err != nil || !bytes.Equal(got, secret) {
				t.Errorf("Combine(%d of %d from holder %d) = %x, %v, want the secret", tc.m, tc.n, start+1, got, err)
			}
		}
		if tc.m > 2 {
			if got, err := Combine(shares[:tc.m-1]); err == nil && bytes.Equal(got, secret) {
				t.Errorf("Combine(%d shares of a quorum of %d) rebuilt the secret", tc.m-1, tc.m)
			}
		}
	}
	for _, tc := range []struct{ n, m int }{{3, 1}, {2, 3}, {127, 2}} {
		if _, err := Split(rand.Reader, secret, tc.n, tc.m); err == nil {
			t.Errorf("Split(n=%d, m=%d) succeeded", tc.n, tc.m)
		}
	}
	s, _ := Split(rand.Reader, secret, 3, 2)
	for name, bad := range map[string][][]byte{
		"one share":      {s[0]},
		"same holder":    {s[0], s[0]},
		"odd length":     {s[0][:3], s[1][:3]},
		"unequal length": {s[0], s[1][:4]},
		"holder zero":    {make([]byte, 64), s[1]},
	} {
		if _, err := Combine(bad); err == nil {
			t.Errorf("Combine(%s) succeeded", name)
		}
	}
}

// A vector built by hand with the element encoding (x << 9) | v and
// checked against the Azure CLI's decoder (testdata/oracle.py combine).
func TestShamirVector(t *testing.T) {
	// Secret bytes 0x00, 0x7f, 0xff; p(x) = s + c·x with c = 256, 1, 200.
	// Holder 2: 0+512=512 mod 257 = 255; 127+2=129; 255+400=655 mod 257 = 141.
	// Holder 3: 768 mod 257 = 254; 130; 855 mod 257 = 84.
	share := func(x uint16, vs ...uint16) []byte {
		var b []byte
		for _, v := range vs {
			w := x<<9 | v
			b = append(b, byte(w), byte(w>>8))
		}
		return b
	}
	shares := [][]byte{share(2, 255, 129, 141), share(3, 254, 130, 84)}
	got, err := Combine(shares)
	if err != nil || !bytes.Equal(got, []byte{0x00, 0x7f, 0xff}) {
		t.Errorf("Combine(vector) = %x, %v, want 007fff", got, err)
	}
	if out, ok := oracle(t, "combine", "2", hex.EncodeToString(shares[0]), hex.EncodeToString(shares[1])); ok && strings.TrimSpace(out) != "007fff" {
		t.Errorf("the Azure CLI decodes the vector to %s, want 007fff", out)
	}
}

var (
	holdersOnce sync.Once
	holderKeys  []WrappingKey
	holderPEM   [][2][]byte
)

// testHolders are four holders' keys, made once for every test.
func testHolders(t testing.TB) []WrappingKey {
	holdersOnce.Do(func() {
		for i := range 4 {
			c, k, err := GenerateWrappingKey(rand.Reader, 2048, fmt.Sprintf("holder %d", i), time.Now())
			if err != nil {
				panic(err)
			}
			wk, err := LoadWrappingKey(c, k)
			if err != nil {
				panic(err)
			}
			holderKeys = append(holderKeys, wk)
			holderPEM = append(holderPEM, [2][]byte{c, k})
		}
	})
	return holderKeys
}

func downloadRequest(t testing.TB, keys []WrappingKey, quorum int) []byte {
	t.Helper()
	var jwks []json.RawMessage
	for _, k := range keys {
		j, err := CertificateJWK(k.CertDER)
		if err != nil {
			t.Fatal(err)
		}
		jwks = append(jwks, j)
	}
	b, _ := json.Marshal(map[string]any{"certificates": jwks, "required": quorum})
	return b
}

func TestRoundTrip(t *testing.T) {
	keys := testHolders(t)
	certs, quorum, err := ParseDownloadRequest(downloadRequest(t, keys[:3], 2))
	if err != nil || quorum != 2 || len(certs) != 3 {
		t.Fatalf("ParseDownloadRequest() = %d certs, quorum %d, %v", len(certs), quorum, err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	data := []Datum{{Tag: "coffer_domain_v1", Plaintext: []byte("the domain key")}, {Tag: "second", Plaintext: bytes.Repeat([]byte{9}, 100)}}
	file, err := Build(rand.Reader, master, data, certs, quorum)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(file, []byte(`{"EncData":{"data":[{"compact_jwe":"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiY29mZmVyX2RvbWFpbl92MSJ9..`)) ||
		!bytes.HasSuffix(file, []byte(`"key_algorithm":"shamir_share","required":2},"version":2}`)) {
		t.Errorf("Build() = %.300s..., not the Managed HSM layout", file)
	}
	gotMaster, gotData, err := Recover(file, []WrappingKey{keys[3], keys[2], keys[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotMaster, master) {
		t.Error("Recover() rebuilt another master key")
	}
	if diff := cmp.Diff(data, gotData); diff != "" {
		t.Errorf("Recover() data (-want +got):\n%s", diff)
	}

	// Too few holders, or holders of another file.
	for name, ks := range map[string][]WrappingKey{
		"one key":          keys[:1],
		"same key twice":   {keys[1], keys[1]},
		"keys of no share": {keys[3]},
	} {
		_, _, err := Recover(file, ks)
		var ie InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "needs 2 of its key holders") {
			t.Errorf("Recover(%s) = %v, want the quorum error", name, err)
		}
	}

	exchange := keys[3]
	blob, err := BuildRestoreBlob(rand.Reader, gotData, exchange.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenRestoreBlob(blob, exchange.Key, exchange.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(data, opened); diff != "" {
		t.Errorf("OpenRestoreBlob() (-want +got):\n%s", diff)
	}
	// Accepted base64-encoded too (the API's example upload).
	if _, err := OpenRestoreBlob([]byte(base64Std(blob)), exchange.Key, exchange.CertDER); err != nil {
		t.Errorf("OpenRestoreBlob(base64) = %v", err)
	}
	// Another transfer key: refused by thumbprint, and by key.
	if _, err := OpenRestoreBlob(blob, keys[0].Key, keys[0].CertDER); err == nil || !strings.Contains(err.Error(), "another transfer key") {
		t.Errorf("OpenRestoreBlob(other cert) = %v", err)
	}
	if _, err := OpenRestoreBlob(blob, keys[0].Key, exchange.CertDER); !errors.Is(err, ErrDecrypt) {
		t.Errorf("OpenRestoreBlob(other key) = %v, want ErrDecrypt", err)
	}
}

func base64Std(b []byte) string { return strings.TrimSpace(stdEnc(b)) }

// Every single-character change to a JWE of a file or blob is refused.
func TestTampering(t *testing.T) {
	keys := testHolders(t)
	certs, _, _ := ParseDownloadRequest(downloadRequest(t, keys[:3], 3))
	master := bytes.Repeat([]byte{1}, 32)
	file, err := Build(rand.Reader, master, []Datum{{Tag: "t", Plaintext: []byte("payload")}}, certs, 3)
	if err != nil {
		t.Fatal(err)
	}
	var f File
	json.Unmarshal(file, &f)
	blob, _ := BuildRestoreBlob(rand.Reader, []Datum{{Tag: "t", Plaintext: []byte("payload")}}, keys[3].CertDER)
	var rb restoreBlob
	json.Unmarshal(blob, &rb)

	mutate := func(jwe string, part int) string {
		p := strings.Split(jwe, ".")
		c := []byte(p[part])
		i := len(c) / 2
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		p[part] = string(c)
		return strings.Join(p, ".")
	}
	for part := range 5 {
		if part == 1 {
			continue // dir has no encrypted key
		}
		g := f
		g.EncData.Data = []EncDatum{{CompactJWE: mutate(f.EncData.Data[0].CompactJWE, part), Tag: "t"}}
		b, _ := json.Marshal(g)
		if _, _, err := Recover(b, keys[:3]); err == nil {
			t.Errorf("Recover with payload part %d altered succeeded", part)
		}
		r := rb
		r.EncData.Data = []EncDatum{{CompactJWE: mutate(rb.EncData.Data[0].CompactJWE, part), Tag: "t"}}
		b, _ = json.Marshal(r)
		if _, err := OpenRestoreBlob(b, keys[3].Key, keys[3].CertDER); err == nil {
			t.Errorf("OpenRestoreBlob with payload part %d altered succeeded", part)
		}
	}
	for part := range 5 {
		g := f
		g.SharedKeys.EncShares = append([]EncShare(nil), f.SharedKeys.EncShares...)
		g.SharedKeys.EncShares[1].EncKey = mutate(f.SharedKeys.EncShares[1].EncKey, part)
		b, _ := json.Marshal(g)
		if _, _, err := Recover(b, keys[:3]); err == nil {
			t.Errorf("Recover with share part %d altered succeeded", part)
		}
		r := rb
		r.WrappedKey.EncKey = mutate(rb.WrappedKey.EncKey, part)
		b, _ = json.Marshal(r)
		if _, err := OpenRestoreBlob(b, keys[3].Key, keys[3].CertDER); err == nil {
			t.Errorf("OpenRestoreBlob with wrapped key part %d altered succeeded", part)
		}
	}
	// Another tag (the KDF label) gives another key.
	r := rb
	r.EncData.Data = []EncDatum{{CompactJWE: rb.EncData.Data[0].CompactJWE, Tag: "u"}}
	b, _ := json.Marshal(r)
	if _, err := OpenRestoreBlob(b, keys[3].Key, keys[3].CertDER); !errors.Is(err, ErrDecrypt) {
		t.Errorf("OpenRestoreBlob with the tag changed = %v, want ErrDecrypt", err)
	}
	for name, in := range map[string]string{
		"truncated": string(blob[:len(blob)/2]), "empty": "", "array": "[]", "no wrapped key": `{"EncData":{"data":[{"compact_jwe":"a.b.c.d.e","tag":"t"}],"kdf":"sp108_kdf"}}`,
		"other kdf": strings.Replace(string(blob), "sp108_kdf", "hkdf", 1),
	} {
		if _, err := OpenRestoreBlob([]byte(in), keys[3].Key, keys[3].CertDER); err == nil {
			t.Errorf("OpenRestoreBlob(%s) succeeded", name)
		}
	}
}

func TestParseDownloadRequest(t *testing.T) {
	keys := testHolders(t)
	small, _, err := generateSmallCert()
	if err != nil {
		t.Fatal(err)
	}
	jwk := func(k WrappingKey) json.RawMessage { b, _ := CertificateJWK(k.CertDER); return b }
	req := func(quorum any, certs ...json.RawMessage) string {
		b, _ := json.Marshal(map[string]any{"certificates": certs, "required": quorum})
		return string(b)
	}
	mismatch := strings.Replace(string(jwk(keys[0])), `"n":"`, `"n":"AQAB`, 1)
	wrapped, _ := json.Marshal(map[string]any{"value": jwk(keys[2])})
	tests := []struct {
		name, body string
		want       string // part of the error, "" for success
	}{
		{"ok", req(2, jwk(keys[0]), jwk(keys[1]), jwk(keys[2])), ""},
		{"7.2 wrapping", req(3, jwk(keys[0]), jwk(keys[1]), wrapped), ""},
		{"two certificates", req(2, jwk(keys[0]), jwk(keys[1])), "should be in range [3, 10]"},
		{"eleven certificates", req(2, jwk(keys[0]), jwk(keys[1]), jwk(keys[2]), jwk(keys[3]), jwk(keys[0]), jwk(keys[1]), jwk(keys[2]), jwk(keys[3]), jwk(keys[0]), jwk(keys[1]), jwk(keys[2])), "should be in range [3, 10]"},
		{"quorum 1", req(1, jwk(keys[0]), jwk(keys[1]), jwk(keys[2])), "should be in range [2, 10]"},
		{"quorum 11", req(11, jwk(keys[0]), jwk(keys[1]), jwk(keys[2])), "should be in range [2, 10]"},
		{"quorum above n", req(4, jwk(keys[0]), jwk(keys[1]), jwk(keys[2])), "cannot exceed"},
		{"quorum not a number", req("two", jwk(keys[0]), jwk(keys[1]), jwk(keys[2])), "not a CertificateInfoObject"},
		{"duplicate", req(2, jwk(keys[0]), jwk(keys[1]), jwk(keys[0])), "same key"},
		{"small key", req(2, jwk(keys[0]), jwk(keys[1]), small), "at least 2048"},
		{"n not the certificate's", req(2, jwk(keys[0]), jwk(keys[1]), json.RawMessage(mismatch)), "not the key of the certificate"},
		{"no x5c", req(2, jwk(keys[0]), jwk(keys[1]), json.RawMessage(`{"kty":"RSA"}`)), "x5c is required"},
		{"bad x5c", req(2, jwk(keys[0]), jwk(keys[1]), json.RawMessage(`{"kty":"RSA","x5c":["!!"]}`)), "not base64"},
		{"not a certificate", req(2, jwk(keys[0]), jwk(keys[1]), json.RawMessage(`{"kty":"RSA","x5c":["AAAA"]}`)), "not a valid X.509"},
		{"EC", req(2, jwk(keys[0]), jwk(keys[1]), json.RawMessage(`{"kty":"EC"}`)), "needs RSA"},
		{"not json", `{"certificates":`, "not a CertificateInfoObject"},
	}
	for _, tc := range tests {
		_, _, err := ParseDownloadRequest([]byte(tc.body))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: ParseDownloadRequest() = %v, want success", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: ParseDownloadRequest() = %v, want an error containing %q", tc.name, err, tc.want)
		}
		var ie InputError
		if err != nil && !errors.As(err, &ie) {
			t.Errorf("%s: error %v is not an InputError", tc.name, err)
		}
	}
}

func TestLoadWrappingKey(t *testing.T) {
	testHolders(t)
	if _, err := LoadWrappingKey(holderPEM[0][0], holderPEM[1][1]); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("LoadWrappingKey(mismatched pair) = %v", err)
	}
	blk, _ := pem.Decode(holderPEM[0][0])
	if _, err := LoadWrappingKey(blk.Bytes, holderPEM[0][1]); err != nil {
		t.Errorf("LoadWrappingKey(DER certificate) = %v", err)
	}
	if _, err := LoadWrappingKey(holderPEM[0][0], []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("LoadWrappingKey(encrypted key) = %v", err)
	}
	if _, _, err := GenerateWrappingKey(rand.Reader, 1024, "x", time.Now()); err == nil {
		t.Error("GenerateWrappingKey(1024 bits) succeeded")
	}
}

func TestTransferKeyJWK(t *testing.T) {
	k := testHolders(t)[0]
	b, err := TransferKeyJWK(&k.Key.PublicKey, k.CertDER, "https://p/transfer_key")
	if err != nil {
		t.Fatal(err)
	}
	var j jwk
	json.Unmarshal(b, &j)
	if j.Kid != "https://p/transfer_key" || j.Kty != "RSA" || j.Alg != "RSA-OAEP-256" || len(j.X5c) != 1 || j.X5tS256 != thumbprint256(k.CertDER) || !cmp.Equal(j.KeyOps, []string{"encrypt"}) {
		t.Errorf("TransferKeyJWK() = %s", b)
	}
}
