package sdformat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testData = []Datum{
	{Tag: "coffer_domain", Plaintext: []byte("the domain key, and more")},
	{Tag: "second", Plaintext: bytes.Repeat([]byte{9}, 100)},
	{Tag: "empty"},
}

func testMaster() []byte {
	m := make([]byte, masterSize)
	rand.Read(m)
	return m
}

// buildFile is a file for keys' certificates.
func buildFile(t testing.TB, keys []testKey, quorum int, master []byte, data []Datum) []byte {
	t.Helper()
	file, err := Build(nil, master, data, certsFor(t, keys), quorum)
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	return file
}

// Build writes what Managed HSM writes: compact JSON in wire order, JWEs
// with the CLI's headers and a 32-byte master key split into 64-byte
// shares (80 bytes of ciphertext each, as in files Managed HSM makes).
func TestBuildLayout(t *testing.T) {
	keys := holders(t)
	file := buildFile(t, keys[:3], 2, testMaster(), testData[:1])
	prefix := `{"EncData":{"data":[{"compact_jwe":"` + protectedHeader(algDir, "coffer_domain") + `..`
	suffix := `"}],"key_algorithm":"shamir_share","required":2},"version":2}`
	if !bytes.HasPrefix(file, []byte(prefix)) || !bytes.HasSuffix(file, []byte(suffix)) || !bytes.Contains(file, []byte(`","tag":"coffer_domain"}],"kdf":"sp108_kdf"},"SharedKeys":{"enc_shares":[{"enc_key":"`+protectedHeader(algRSAOAEP256, kidNotUsed)+`.`)) {
		t.Errorf("Build() = %s, not in the Managed HSM layout", file)
	}
	var f File
	if err := json.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	for i, s := range f.SharedKeys.EncShares {
		p := strings.Split(s.EncKey, ".")
		ek, _ := b64.DecodeString(p[1])
		ct, _ := b64.DecodeString(p[3])
		if len(ek) != 256 || len(ct) != 80 || s.X5tS256 != thumbprintSHA256(keys[i].CertDER) {
			t.Errorf("Build() share %d: encrypted key %d bytes, ciphertext %d bytes, x5t_256 %s; want 256, 80, %s", i, len(ek), len(ct), s.X5tS256, thumbprintSHA256(keys[i].CertDER))
		}
	}
	again, err := f.Marshal()
	if err != nil || !bytes.Equal(again, file) {
		t.Errorf("File.Marshal() = %s, %v, want Build's bytes", again, err)
	}
}

func TestRecover(t *testing.T) {
	keys := holders(t)
	master := testMaster()
	file := buildFile(t, keys[:4], 3, master, testData)
	tests := []struct {
		name string
		keys []WrappingKey
		want string
	}{
		{name: "first three", keys: wrappingKeys(keys[0], keys[1], keys[2])},
		{name: "last three, reversed", keys: wrappingKeys(keys[3], keys[2], keys[1])},
		{name: "all four", keys: wrappingKeys(keys[:4]...)},
		{name: "with a stranger", keys: wrappingKeys(keys[4], keys[0], keys[3], keys[2])},
		{name: "a key twice", keys: wrappingKeys(keys[0], keys[0], keys[1], keys[2])},
		{name: "two", keys: wrappingKeys(keys[0], keys[1]), want: "Insufficient shares: 2 of the 2 wrapping keys given hold a share of this security domain, and it takes 3."},
		{name: "two and a stranger", keys: wrappingKeys(keys[0], keys[4], keys[1]), want: "2 of the 3 wrapping keys given hold a share"},
		{name: "two, one twice", keys: wrappingKeys(keys[0], keys[1], keys[1]), want: "2 of the 3 wrapping keys given hold a share"},
		{name: "none", want: "0 of the 0 wrapping keys"},
		{name: "a certificate with another key", keys: []WrappingKey{keys[0].WrappingKey, {CertDER: keys[1].CertDER, Key: keys[2].Key}}, want: "Wrapping key 2: the private key does not belong to the certificate."},
		{name: "no private key", keys: []WrappingKey{{CertDER: keys[1].CertDER}}, want: "Wrapping key 1: the private key does not belong"},
		{name: "an EC certificate", keys: []WrappingKey{{CertDER: ecCertificate(t), Key: keys[0].Key}}, want: "Wrapping key 1: the certificate cannot wrap a security domain: its key is not an RSA key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotMaster, data, err := Recover(file, tc.keys)
			if msg := errorText(err, tc.want); msg != "" {
				t.Fatalf("Recover(%s) = %s", tc.name, msg)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(gotMaster, master) {
				t.Errorf("Recover(%s) master = %x, want %x", tc.name, gotMaster, master)
			}
			if diff := cmp.Diff(testData, data, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
				t.Errorf("Recover(%s) payloads (-want +got):\n%s", tc.name, diff)
			}
		})
	}
	// A file in base64, as the API's example upload has it.
	if _, _, err := Recover([]byte(base64.StdEncoding.EncodeToString(file)), wrappingKeys(keys[:3]...)); err != nil {
		t.Errorf("Recover(base64 file) = %v", err)
	}
}

// A share or payload altered in the file is ErrDecrypt.
func TestRecoverAltered(t *testing.T) {
	keys := holders(t)
	file := buildFile(t, keys[:3], 2, testMaster(), testData[:1])
	var f File
	json.Unmarshal(file, &f)
	alter := func(edit func(*File)) []byte {
		var g File
		json.Unmarshal(file, &g)
		edit(&g)
		b, _ := g.Marshal()
		return b
	}
	tests := []struct {
		name string
		file []byte
	}{
		{name: "share ciphertext", file: alter(func(g *File) { g.SharedKeys.EncShares[0].EncKey = flipPart(g.SharedKeys.EncShares[0].EncKey, 3) })},
		{name: "share encrypted key", file: alter(func(g *File) { g.SharedKeys.EncShares[0].EncKey = flipPart(g.SharedKeys.EncShares[0].EncKey, 1) })},
		{name: "payload ciphertext", file: alter(func(g *File) { g.EncData.Data[0].CompactJWE = flipPart(g.EncData.Data[0].CompactJWE, 3) })},
		{name: "payload tag", file: alter(func(g *File) { g.EncData.Data[0].CompactJWE = flipPart(g.EncData.Data[0].CompactJWE, 4) })},
		{name: "payload renamed", file: alter(func(g *File) { g.EncData.Data[0].Tag = "renamed" })},
		// Shares swapped between certificates: each holder's key opens
		// nothing of the other's.
		{name: "shares swapped", file: alter(func(g *File) {
			s := g.SharedKeys.EncShares
			s[0].EncKey, s[1].EncKey = s[1].EncKey, s[0].EncKey
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Recover(tc.file, wrappingKeys(keys[:2]...))
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("Recover(%s) = %v, want ErrDecrypt", tc.name, err)
			}
		})
	}
}

// flipPart changes one character in the middle of part i of a compact JWE.
func flipPart(s string, i int) string {
	p := strings.Split(s, ".")
	c := []byte(p[i])
	m := len(c) / 2
	if c[m] == 'A' {
		c[m] = 'B'
	} else {
		c[m] = 'A'
	}
	p[i] = string(c)
	return strings.Join(p, ".")
}

func TestBuildErrors(t *testing.T) {
	keys := holders(t)
	certs := certsFor(t, keys[:4])
	sameKey, err := NewCertificate(selfSigned(t, keys[0].Key, &keys[0].Key.PublicKey, "again"))
	if err != nil {
		t.Fatal(err)
	}
	mismatched := certs[1]
	mismatched.Key = certs[2].Key
	tests := []struct {
		name   string
		master []byte
		data   []Datum
		certs  []Certificate
		quorum int
		want   string // "" for an error that is not a *FormatError
	}{
		{name: "16-byte master", master: make([]byte, 16), data: testData, certs: certs[:3], quorum: 2},
		{name: "two certificates", master: testMaster(), data: testData, certs: certs[:2], quorum: 2, want: "(N) should be in range [3, 10]"},
		{name: "quorum 1", master: testMaster(), data: testData, certs: certs[:3], quorum: 1, want: "(M) should be in range [2, 10]"},
		{name: "quorum above n", master: testMaster(), data: testData, certs: certs[:3], quorum: 4, want: "should not exceed"},
		{name: "same key twice", master: testMaster(), data: testData, certs: []Certificate{certs[0], certs[1], sameKey}, quorum: 2, want: "certificates[0] and certificates[2] hold the same key"},
		{name: "key not the certificate's", master: testMaster(), data: testData, certs: []Certificate{certs[0], mismatched, certs[2]}, quorum: 2},
		{name: "not a certificate", master: testMaster(), data: testData, certs: []Certificate{certs[0], {DER: []byte("x")}, certs[2]}, quorum: 2, want: "certificates[1]: The certificate cannot wrap"},
		{name: "no payloads", master: testMaster(), certs: certs[:3], quorum: 2, want: "holds 0 payloads"},
		{name: "seventeen payloads", master: testMaster(), data: make([]Datum, 17), certs: certs[:3], quorum: 2, want: "holds 17 payloads"},
		{name: "empty tag", master: testMaster(), data: []Datum{{Tag: ""}}, certs: certs[:3], quorum: 2, want: "a tag must be 1 to 256 bytes of UTF-8"},
		{name: "long tag", master: testMaster(), data: []Datum{{Tag: strings.Repeat("t", 257)}}, certs: certs[:3], quorum: 2, want: "a tag must be"},
		{name: "tag not UTF-8", master: testMaster(), data: []Datum{{Tag: "\xff"}}, certs: certs[:3], quorum: 2, want: "a tag must be"},
		{name: "same tag twice", master: testMaster(), data: []Datum{{Tag: "t"}, {Tag: "t"}}, certs: certs[:3], quorum: 2, want: `data[0] and data[1] have the same tag "t"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file, err := Build(nil, tc.master, tc.data, tc.certs, tc.quorum)
			if err == nil {
				t.Fatalf("Build(%s) = %.80s, want an error", tc.name, file)
			}
			if tc.want != "" {
				if msg := errorText(err, tc.want); msg != "" {
					t.Errorf("Build(%s) = %s", tc.name, msg)
				}
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	keys := holders(t)
	file := buildFile(t, keys[:3], 2, testMaster(), testData)
	var good map[string]any
	if err := json.Unmarshal(file, &good); err != nil {
		t.Fatal(err)
	}
	// edit changes a copy of the file through its JSON tree.
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal(file, &m)
		f(m)
		return mustJSON(m)
	}
	enc := func(m map[string]any) map[string]any { return m["EncData"].(map[string]any) }
	shared := func(m map[string]any) map[string]any { return m["SharedKeys"].(map[string]any) }
	datum := func(m map[string]any, i int) map[string]any { return enc(m)["data"].([]any)[i].(map[string]any) }
	share := func(m map[string]any, i int) map[string]any {
		return shared(m)["enc_shares"].([]any)[i].(map[string]any)
	}
	rsaOAEP := protectedHeader(algRSAOAEP, kidNotUsed)
	rsa15 := protectedHeader("RSA1_5", kidNotUsed)

	tests := []struct {
		name, in string
		want     string
	}{
		{name: "as built", in: string(file)},
		{name: "no version", in: edit(func(m map[string]any) { delete(m, "version") })},
		{name: "RSA-OAEP share", in: edit(func(m map[string]any) {
			s := share(m, 0)
			s["enc_key"] = rsaOAEP + s["enc_key"].(string)[strings.Index(s["enc_key"].(string), "."):]
		})},
		{name: "base64", in: base64.StdEncoding.EncodeToString(file)},
		{name: "base64url, padded", in: base64.URLEncoding.EncodeToString(file)},

		{name: "not JSON", in: "{", want: "Invalid SD file: it is not JSON"},
		{name: "empty", in: "", want: "Invalid SD file: it is not JSON"},
		{name: "no EncData", in: edit(func(m map[string]any) { delete(m, "EncData") }), want: "EncData and SharedKeys are required"},
		{name: "no SharedKeys", in: edit(func(m map[string]any) { delete(m, "SharedKeys") }), want: "EncData and SharedKeys are required"},
		{name: "a restore blob", in: edit(func(m map[string]any) { delete(m, "SharedKeys"); m["WrappedKey"] = map[string]any{} }), want: "this is a restore blob"},
		{name: "version 3", in: edit(func(m map[string]any) { m["version"] = 3 }), want: "version 3 is not supported"},
		{name: "other kdf", in: edit(func(m map[string]any) { enc(m)["kdf"] = "hkdf" }), want: `EncData.kdf is "hkdf"`},
		{name: "no payloads", in: edit(func(m map[string]any) { enc(m)["data"] = []any{} }), want: "EncData.data holds 0 payloads"},
		{name: "same tag twice", in: edit(func(m map[string]any) { datum(m, 1)["tag"] = "coffer_domain" }), want: "EncData.data[0] and EncData.data[1] have the same tag"},
		{name: "empty tag", in: edit(func(m map[string]any) { datum(m, 1)["tag"] = "" }), want: "EncData.data[1]: a tag must be"},
		{name: "payload not a JWE", in: edit(func(m map[string]any) { datum(m, 2)["compact_jwe"] = "x" }), want: "EncData.data[2].compact_jwe is not a JWE"},
		{name: "payload for an RSA key", in: edit(func(m map[string]any) { datum(m, 0)["compact_jwe"] = share(m, 0)["enc_key"] }), want: `EncData.data[0].compact_jwe uses key management "RSA-OAEP-256"`},
		{name: "other key algorithm", in: edit(func(m map[string]any) { shared(m)["key_algorithm"] = "xor" }), want: `Unsupported SharedKeys algorithm: "xor". Supported: shamir_share.`},
		{name: "required 1", in: edit(func(m map[string]any) { shared(m)["required"] = 1 }), want: `Invalid SD file: the value of "required" should be in range [2, 10].`},
		{name: "required 11", in: edit(func(m map[string]any) { shared(m)["required"] = 11 }), want: `the value of "required" should be in range [2, 10]`},
		{name: "required above the shares", in: edit(func(m map[string]any) { shared(m)["required"] = 4 }), want: "it has 3 shares for a quorum of 4"},
		{name: "same certificate twice", in: edit(func(m map[string]any) { share(m, 2)["x5t_256"] = share(m, 0)["x5t_256"] }), want: "shares 0 and 2 are for the same certificate"},
		{name: "thumbprint not SHA-256", in: edit(func(m map[string]any) { share(m, 1)["x5t_256"] = "AAAA" }), want: "SharedKeys.enc_shares[1].x5t_256 is not a SHA-256 thumbprint"},
		{name: "share for dir", in: edit(func(m map[string]any) { share(m, 1)["enc_key"] = datum(m, 0)["compact_jwe"] }), want: `SharedKeys.enc_shares[1].enc_key uses key management "dir"`},
		{name: "share for RSA1_5", in: edit(func(m map[string]any) {
			s := share(m, 0)
			s["enc_key"] = rsa15 + s["enc_key"].(string)[strings.Index(s["enc_key"].(string), "."):]
		}), want: `uses key management "RSA1_5"; want RSA-OAEP-256 or RSA-OAEP`},
		{name: "too large", in: strings.Repeat(" ", maxFileBytes+1), want: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tc.in))
			if msg := errorText(err, tc.want); msg != "" {
				t.Fatalf("ParseFile(%s) = %s", tc.name, msg)
			}
			if err != nil {
				return
			}
			if f.Version != fileVersion || f.SharedKeys.Required != 2 || len(f.EncData.Data) != len(testData) || len(f.SharedKeys.EncShares) != 3 {
				t.Errorf("ParseFile(%s) = %+v, want version 2, quorum 2, %d payloads, 3 shares", tc.name, f, len(testData))
			}
		})
	}
}

// ParseFile reads the structure of a file Managed HSM made; the values
// here are cut down from the Azure CLI's test data (sdtest/sdfile.json),
// which keeps the service's layout and headers.
func TestParseFileServiceLayout(t *testing.T) {
	share := func(x5t string) string {
		return fmt.Sprintf(`{"enc_key":"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoibm90IHVzZWQifQ.%s.1tlj8BTA60mTBQDhk4NkPg.%s.2rj9GAHGAG87DrKKSaI3-CvUBqz4tVTLH3-cQVWey34","x5t_256":"%s"}`,
			b64.EncodeToString(make([]byte, 256)), b64.EncodeToString(make([]byte, 80)), x5t)
	}
	file := `{"EncData":{"data":[{"compact_jwe":"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiaHNtX2JhY2t1cCJ9..i-CGtZaGZI661jVPB1DsMA.` +
		b64.EncodeToString(make([]byte, 64)) + `.vpLsPOklb1pppRs2iJB4AxINJkBNWNrmPxEk-0rxwcs","tag":"hsm_backup"}],"kdf":"sp108_kdf"},` +
		`"SharedKeys":{"enc_shares":[` + share("vODZF4xDVWHyFob2nfI5Li1MPOmEhVJqlnojTK_HuYg") + `,` + share("qBJlg1j1agy88BfSg_iZhAfHSBWxmbzW84zr1tv4QiM") + `,` +
		share("IqNczYeUNDRJ4XnvwsMw6JZW3lk-czwnTZ1HE5r6TIc") + `],"key_algorithm":"shamir_share","required":2},"version":2}`
	f, err := ParseFile([]byte(file))
	if err != nil {
		t.Fatalf("ParseFile(service layout) = %v", err)
	}
	if again, err := f.Marshal(); err != nil || string(again) != file {
		t.Errorf("File.Marshal(service layout) = %s, %v, want the input", again, err)
	}
}
