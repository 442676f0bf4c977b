package sdformat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var bytesEqual = cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })

// Holders recover a file and build a restore blob; the recovering HSM
// opens it and finds the payloads.
func TestRestoreRoundTrip(t *testing.T) {
	keys := holders(t)
	exchange := keys[4]
	file := buildFile(t, keys[:3], 2, testMaster(), testData)
	master, data, err := Recover(file, wrappingKeys(keys[2], keys[0]))
	if err != nil {
		t.Fatalf("Recover() = %v", err)
	}
	blob, err := BuildRestoreBlob(nil, data, exchange.CertDER)
	if err != nil {
		t.Fatalf("BuildRestoreBlob() = %v", err)
	}
	if bytes.Contains(blob, []byte(b64.EncodeToString(master))) {
		t.Error("BuildRestoreBlob() reuses the file's master key")
	}
	for name, in := range map[string][]byte{
		"JSON":              blob,
		"JSON with spaces":  append(append([]byte("\n "), blob...), '\n'),
		"base64":            []byte(base64.StdEncoding.EncodeToString(blob)),
		"base64url":         []byte(base64.RawURLEncoding.EncodeToString(blob)),
		"base64 of base64":  []byte(base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(blob)))),
		"compact JSON form": mustCompact(t, blob),
	} {
		got, err := OpenRestoreBlob(in, exchange.Key, exchange.CertDER)
		if err != nil {
			t.Errorf("OpenRestoreBlob(%s) = %v", name, err)
			continue
		}
		if diff := cmp.Diff(testData, got, bytesEqual); diff != "" {
			t.Errorf("OpenRestoreBlob(%s) payloads (-want +got):\n%s", name, diff)
		}
	}
}

func mustCompact(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The blob is laid out as the Azure CLI's json.dumps writes it.
func TestBuildRestoreBlobLayout(t *testing.T) {
	keys := holders(t)
	blob, err := BuildRestoreBlob(nil, []Datum{{Tag: "a", Plaintext: []byte("1")}, {Tag: `b"é`, Plaintext: []byte("2")}}, keys[4].CertDER)
	if err != nil {
		t.Fatalf("BuildRestoreBlob() = %v", err)
	}
	var rb struct {
		EncData    EncData
		WrappedKey EncShare
	}
	if err := json.Unmarshal(blob, &rb); err != nil {
		t.Fatal(err)
	}
	d := rb.EncData.Data
	want := `{"EncData": {"data": [{"compact_jwe": "` + d[0].CompactJWE + `", "tag": "a"}, {"compact_jwe": "` + d[1].CompactJWE +
		`", "tag": "b\"\u00e9"}], "kdf": "sp108_kdf"}, "WrappedKey": {"enc_key": "` + rb.WrappedKey.EncKey + `", "x5t_256": "` +
		thumbprintSHA256(keys[4].CertDER) + `"}}`
	if string(blob) != want {
		t.Errorf("BuildRestoreBlob() = %s, want %s", blob, want)
	}
	if !strings.HasPrefix(d[1].CompactJWE, protectedHeader(algDir, `b"é`)+"..") || !strings.HasPrefix(rb.WrappedKey.EncKey, protectedHeader(algRSAOAEP256, kidNotUsed)+".") {
		t.Errorf("BuildRestoreBlob() JWE headers are not the CLI's: %s", blob)
	}
	for name, der := range map[string][]byte{"EC": ecCertificate(t), "garbage": []byte("x")} {
		if _, err := BuildRestoreBlob(nil, testData, der); errorText(err, "exchange key's certificate cannot wrap") != "" {
			t.Errorf("BuildRestoreBlob(%s exchange certificate) = %v, want a *FormatError", name, err)
		}
	}
	if _, err := BuildRestoreBlob(nil, nil, keys[4].CertDER); errorText(err, "holds 0 payloads") != "" {
		t.Errorf("BuildRestoreBlob(no payloads) = %v, want a *FormatError", err)
	}
}

func TestOpenRestoreBlobErrors(t *testing.T) {
	keys := holders(t)
	exchange := keys[4]
	blob, err := BuildRestoreBlob(nil, testData, exchange.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	file := buildFile(t, keys[:3], 2, testMaster(), testData)
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal(blob, &m)
		f(m)
		return mustJSON(m)
	}
	enc := func(m map[string]any) map[string]any { return m["EncData"].(map[string]any) }
	wrapped := func(m map[string]any) map[string]any { return m["WrappedKey"].(map[string]any) }
	datum := func(m map[string]any, i int) map[string]any { return enc(m)["data"].([]any)[i].(map[string]any) }
	// A master key of the wrong size, validly encrypted to the transfer key.
	short, err := sealRSA(rand.Reader, &exchange.Key.PublicKey, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	// A blob for another HSM's transfer key.
	other, err := BuildRestoreBlob(nil, testData, keys[3].CertDER)
	if err != nil {
		t.Fatal(err)
	}
	oaep1 := protectedHeader(algRSAOAEP, kidNotUsed)

	tests := []struct {
		name, in string
		want     string
	}{
		{name: "not JSON", in: "not a blob", want: "not JSON with EncData and WrappedKey"},
		{name: "truncated", in: string(blob[:len(blob)/2]), want: "not JSON with EncData and WrappedKey"},
		{name: "an array", in: "[]", want: "not JSON with EncData and WrappedKey"},
		{name: "a security-domain file", in: string(file), want: "This is a security-domain file, not a restore blob"},
		{name: "no WrappedKey", in: edit(func(m map[string]any) { delete(m, "WrappedKey") }), want: "has no WrappedKey"},
		{name: "no EncData", in: edit(func(m map[string]any) { delete(m, "EncData") }), want: "EncData is missing"},
		{name: "other kdf", in: edit(func(m map[string]any) { enc(m)["kdf"] = "hkdf" }), want: `EncData.kdf is "hkdf"`},
		{name: "no payloads", in: edit(func(m map[string]any) { enc(m)["data"] = []any{} }), want: "EncData.data holds 0 payloads"},
		{name: "same tag twice", in: edit(func(m map[string]any) { datum(m, 1)["tag"] = datum(m, 0)["tag"] }), want: "have the same tag"},
		{name: "payload not a JWE", in: edit(func(m map[string]any) { datum(m, 0)["compact_jwe"] = "a.b.c.d.e" }), want: "EncData.data[0].compact_jwe"},
		{name: "wrapped key not a JWE", in: edit(func(m map[string]any) { wrapped(m)["enc_key"] = "" }), want: "WrappedKey.enc_key is not a JWE"},
		{name: "wrapped key RSA-OAEP", in: edit(func(m map[string]any) {
			s := wrapped(m)["enc_key"].(string)
			wrapped(m)["enc_key"] = oaep1 + s[strings.Index(s, "."):]
		}), want: `WrappedKey.enc_key uses key management "RSA-OAEP"; want RSA-OAEP-256`},
		{name: "thumbprint malformed", in: edit(func(m map[string]any) { wrapped(m)["x5t_256"] = "x" }), want: "WrappedKey.x5t_256 is not a SHA-256 thumbprint"},
		{name: "for another transfer key", in: string(other), want: "The restore blob was made for another exchange key"},

		{name: "wrapped key altered", in: edit(func(m map[string]any) { wrapped(m)["enc_key"] = flipPart(wrapped(m)["enc_key"].(string), 1) }), want: "ErrDecrypt"},
		{name: "wrapped key ciphertext altered", in: edit(func(m map[string]any) { wrapped(m)["enc_key"] = flipPart(wrapped(m)["enc_key"].(string), 3) }), want: "ErrDecrypt"},
		{name: "master key of 16 bytes", in: edit(func(m map[string]any) { wrapped(m)["enc_key"] = short }), want: "ErrDecrypt"},
		{name: "payload IV altered", in: edit(func(m map[string]any) { datum(m, 0)["compact_jwe"] = flipPart(datum(m, 0)["compact_jwe"].(string), 2) }), want: "ErrDecrypt"},
		{name: "payload altered", in: edit(func(m map[string]any) { datum(m, 1)["compact_jwe"] = flipPart(datum(m, 1)["compact_jwe"].(string), 3) }), want: "ErrDecrypt"},
		{name: "payload tag altered", in: edit(func(m map[string]any) { datum(m, 2)["compact_jwe"] = flipPart(datum(m, 2)["compact_jwe"].(string), 4) }), want: "ErrDecrypt"},
		{name: "payload renamed", in: edit(func(m map[string]any) { datum(m, 0)["tag"] = "renamed" }), want: "ErrDecrypt"},
		{name: "payloads swapped", in: edit(func(m map[string]any) {
			a, b := datum(m, 0), datum(m, 1)
			a["compact_jwe"], b["compact_jwe"] = b["compact_jwe"], a["compact_jwe"]
		}), want: "ErrDecrypt"},
		{name: "too large", in: strings.Repeat(" ", maxFileBytes+1), want: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OpenRestoreBlob([]byte(tc.in), exchange.Key, exchange.CertDER)
			if msg := errorText(err, tc.want); msg != "" {
				t.Errorf("OpenRestoreBlob(%s) = %d payloads, %s", tc.name, len(got), msg)
			}
		})
	}
	// The right certificate with another private key: the wrapped key
	// does not open, and that is all the caller learns.
	if _, err := OpenRestoreBlob(blob, keys[0].Key, exchange.CertDER); err != ErrDecrypt {
		t.Errorf("OpenRestoreBlob(another private key) = %v, want ErrDecrypt", err)
	}
	if _, err := OpenRestoreBlob(blob, nil, exchange.CertDER); err == nil {
		t.Error("OpenRestoreBlob(nil key) succeeded, want an error")
	}
}
