package sdformat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDownloadRequest(t *testing.T) {
	keys := holders(t)
	jwkOf := func(der []byte) map[string]any {
		b, err := CertificateJWK(der)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	edit := func(i int, f func(map[string]any)) map[string]any {
		m := jwkOf(keys[i].CertDER)
		f(m)
		return m
	}
	req := func(quorum any, certs ...any) string {
		m := map[string]any{"certificates": certs}
		if quorum != nil {
			m["required"] = quorum
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	j0, j1, j2, j3 := jwkOf(keys[0].CertDER), jwkOf(keys[1].CertDER), jwkOf(keys[2].CertDER), jwkOf(keys[3].CertDER)
	// The same key in another certificate.
	sameKey := jwkOf(selfSigned(t, keys[0].Key, &keys[0].Key.PublicKey, "again"))
	small := map[string]any{"kty": "RSA", "x5c": []string{base64.StdEncoding.EncodeToString(smallCertificate(t))}, "n": "AQAB", "e": "AQAB"}
	ec := map[string]any{"kty": "RSA", "x5c": []string{base64.StdEncoding.EncodeToString(ecCertificate(t))}, "n": "AQAB", "e": "AQAB"}

	tests := []struct {
		name       string
		body       string
		wantCerts  []int // indexes into keys
		wantQuorum int
		wantErr    string
	}{
		{name: "three, quorum 2", body: req(2, j0, j1, j2), wantCerts: []int{0, 1, 2}, wantQuorum: 2},
		{name: "four, quorum 4", body: req(4, j3, j2, j1, j0), wantCerts: []int{3, 2, 1, 0}, wantQuorum: 4},
		{name: "no required", body: req(nil, j0, j1, j2), wantCerts: []int{0, 1, 2}, wantQuorum: 2},
		{name: "required null", body: `{"certificates":[` + mustJSON(j0) + `,` + mustJSON(j1) + `,` + mustJSON(j2) + `],"required":null}`, wantCerts: []int{0, 1, 2}, wantQuorum: 2},
		{name: "API 7.2 wrapping", body: req(3, j0, map[string]any{"value": j1}, j2), wantCerts: []int{0, 1, 2}, wantQuorum: 3},
		{name: "kid and RSA-HSM", body: req(2, edit(0, func(m map[string]any) { m["kid"] = "CN=holder 0"; m["kty"] = "RSA-HSM" }), j1, j2), wantCerts: []int{0, 1, 2}, wantQuorum: 2},
		{name: "x5c without padding", body: req(2, edit(0, func(m map[string]any) { m["x5c"] = []string{base64.RawStdEncoding.EncodeToString(keys[0].CertDER)} }), j1, j2), wantCerts: []int{0, 1, 2}, wantQuorum: 2},
		{name: "no thumbprints", body: req(2, edit(0, func(m map[string]any) { delete(m, "x5t"); delete(m, "x5t#S256") }), j1, j2), wantCerts: []int{0, 1, 2}, wantQuorum: 2},

		{name: "two certificates", body: req(2, j0, j1), wantErr: "The number of wrapping keys (N) should be in range [3, 10]. The request has 2."},
		{name: "eleven certificates", body: req(2, j0, j1, j2, j3, j0, j1, j2, j3, j0, j1, j2), wantErr: "The number of wrapping keys (N) should be in range [3, 10]. The request has 11."},
		{name: "no certificates", body: `{"required":2}`, wantErr: "The number of wrapping keys (N) should be in range [3, 10]."},
		{name: "quorum 1", body: req(1, j0, j1, j2), wantErr: "The quorum of security domain (M) should be in range [2, 10]. The request asks for 1."},
		{name: "quorum 11", body: req(11, j0, j1, j2), wantErr: "The quorum of security domain (M) should be in range [2, 10]."},
		{name: "quorum above N", body: req(4, j0, j1, j2), wantErr: "should not exceed the number of wrapping keys (N): M is 4, N is 3"},
		{name: "quorum a string", body: req("2", j0, j1, j2), wantErr: "required must be a whole number"},
		{name: "quorum a fraction", body: req(2.5, j0, j1, j2), wantErr: "required must be a whole number"},
		{name: "same certificate twice", body: req(2, j0, j1, j0), wantErr: "certificates[0] and certificates[2] hold the same key"},
		{name: "same key, another certificate", body: req(2, j0, j1, sameKey), wantErr: "certificates[0] and certificates[2] hold the same key"},
		{name: "1024-bit key", body: req(2, j0, j1, small), wantErr: "certificates[2]: x5c[0]: its RSA key has 1024 bits; 2048 to 8192 are supported"},
		{name: "EC certificate", body: req(2, j0, j1, ec), wantErr: "certificates[2]: x5c[0]: its key is not an RSA key"},
		{name: "kty EC", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["kty"] = "EC" })), wantErr: `certificates[2]: kty is "EC"`},
		{name: "n of another key", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["n"] = j1["n"] })), wantErr: "certificates[2]: n and e are not the key of the certificate"},
		{name: "another e", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["e"] = "Aw" })), wantErr: "n and e are not the key of the certificate"},
		{name: "no n", body: req(2, j0, j1, edit(2, func(m map[string]any) { delete(m, "n") })), wantErr: "n and e are required"},
		{name: "n not base64url", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["n"] = "a+b/" })), wantErr: "n and e must be base64url"},
		{name: "x5t#S256 of another certificate", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["x5t#S256"] = j1["x5t#S256"] })), wantErr: "x5t#S256 is not the SHA-256 thumbprint"},
		{name: "x5t of another certificate", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["x5t"] = j1["x5t"] })), wantErr: "x5t is not the SHA-1 thumbprint"},
		{name: "no x5c", body: req(2, j0, j1, edit(2, func(m map[string]any) { delete(m, "x5c") })), wantErr: "x5c is required"},
		{name: "x5c not base64", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["x5c"] = []string{"!!"} })), wantErr: "x5c[0] is not standard base64"},
		{name: "x5c not a certificate", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["x5c"] = []string{"AAAA"} })), wantErr: "x5c[0]: it is not a valid X.509 certificate"},
		{name: "x5c a string", body: req(2, j0, j1, edit(2, func(m map[string]any) { m["x5c"] = "AAAA" })), wantErr: "certificates[2]: not a JSON Web Key with string fields"},
		{name: "certificate null", body: req(2, j0, j1, nil), wantErr: "certificates[2]: not a JSON Web Key (a JSON object)"},
		{name: "certificate a string", body: req(2, j0, j1, "x"), wantErr: "certificates[2]: not a JSON Web Key (a JSON object)"},
		{name: "not JSON", body: `{"certificates":`, wantErr: "not a CertificateInfoObject"},
		{name: "an array", body: `[]`, wantErr: "not a CertificateInfoObject"},
		{name: "too large", body: `{"x":"` + strings.Repeat("a", maxRequest) + `"}`, wantErr: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certs, quorum, err := ParseDownloadRequest([]byte(tc.body))
			if msg := errorText(err, tc.wantErr); msg != "" {
				t.Fatalf("ParseDownloadRequest(%s) = %s", tc.name, msg)
			}
			if err != nil {
				// Messages name what is wrong, never key material.
				if strings.Contains(err.Error(), j1["n"].(string)[:20]) || strings.Contains(err.Error(), j0["x5c"].([]any)[0].(string)[:40]) {
					t.Errorf("ParseDownloadRequest(%s) error %q contains key material", tc.name, err)
				}
				return
			}
			var want []Certificate
			for _, i := range tc.wantCerts {
				want = append(want, Certificate{DER: keys[i].CertDER, Key: &keys[i].Key.PublicKey, X5tS256: thumbprintSHA256(keys[i].CertDER)})
			}
			if diff := cmp.Diff(want, certs); diff != "" || quorum != tc.wantQuorum {
				t.Errorf("ParseDownloadRequest(%s) = quorum %d, want %d; certificates (-want +got):\n%s", tc.name, quorum, tc.wantQuorum, diff)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestCheckQuorum(t *testing.T) {
	tests := []struct {
		n, quorum int
		want      string
	}{
		{3, 2, ""}, {3, 3, ""}, {10, 2, ""}, {10, 10, ""},
		{2, 2, "(N) should be in range [3, 10]"}, {11, 2, "(N) should be in range [3, 10]"},
		{10, 1, "(M) should be in range [2, 10]"}, {10, 11, "(M) should be in range [2, 10]"},
		{5, 6, "should not exceed"},
	}
	for _, tc := range tests {
		if msg := errorText(checkQuorum(tc.n, tc.quorum), tc.want); msg != "" {
			t.Errorf("checkQuorum(%d, %d) = %s", tc.n, tc.quorum, msg)
		}
	}
}

// CertificateJWK is the JWK the Azure CLI sends, members in its order.
func TestCertificateJWK(t *testing.T) {
	k := holders(t)[0]
	got, err := CertificateJWK(k.CertDER)
	if err != nil {
		t.Fatalf("CertificateJWK() = %v", err)
	}
	want := fmt.Sprintf(`{"kty":"RSA","key_ops":["verify","encrypt","wrapKey"],"n":"%s","e":"AQAB","x5c":["%s"],"x5t":"%s","x5t#S256":"%s","alg":"RSA-OAEP-256"}`,
		b64.EncodeToString(k.Key.N.Bytes()), base64.StdEncoding.EncodeToString(k.CertDER), thumbprintSHA1(k.CertDER), thumbprintSHA256(k.CertDER))
	if string(got) != want {
		t.Errorf("CertificateJWK() = %s, want %s", got, want)
	}
	for name, der := range map[string][]byte{"EC": ecCertificate(t), "1024-bit": smallCertificate(t), "garbage": []byte("x")} {
		if _, err := CertificateJWK(der); errorText(err, "cannot wrap a security domain") != "" {
			t.Errorf("CertificateJWK(%s certificate) = %v, want a *FormatError", name, err)
		}
	}
}

func TestTransferKeyJWK(t *testing.T) {
	keys := holders(t)
	k := keys[4]
	got, err := TransferKeyJWK(&k.Key.PublicKey, k.CertDER, "https://pool.example/transfer_key")
	if err != nil {
		t.Fatalf("TransferKeyJWK() = %v", err)
	}
	want := fmt.Sprintf(`{"kid":"https://pool.example/transfer_key","kty":"RSA","key_ops":["encrypt"],"n":"%s","e":"AQAB","x5c":["%s"],"x5t":"%s","x5t#S256":"%s","alg":"RSA-OAEP-256"}`,
		b64.EncodeToString(k.Key.N.Bytes()), base64.StdEncoding.EncodeToString(k.CertDER), thumbprintSHA1(k.CertDER), thumbprintSHA256(k.CertDER))
	if string(got) != want {
		t.Errorf("TransferKeyJWK() = %s, want %s", got, want)
	}
	if _, err := TransferKeyJWK(&keys[0].Key.PublicKey, k.CertDER, "kid"); err == nil {
		t.Error("TransferKeyJWK(another key's certificate) succeeded, want an error")
	}
	if _, err := TransferKeyJWK(nil, k.CertDER, "kid"); err == nil {
		t.Error("TransferKeyJWK(nil key) succeeded, want an error")
	}
	if _, err := TransferKeyJWK(&k.Key.PublicKey, []byte("x"), "kid"); err == nil {
		t.Error("TransferKeyJWK(garbage certificate) succeeded, want an error")
	}
}

func TestNewCertificate(t *testing.T) {
	k := holders(t)[0]
	c, err := NewCertificate(k.CertDER)
	if err != nil {
		t.Fatalf("NewCertificate() = %v", err)
	}
	want := Certificate{DER: k.CertDER, Key: &k.Key.PublicKey, X5tS256: thumbprintSHA256(k.CertDER)}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("NewCertificate() (-want +got):\n%s", diff)
	}
	if &c.DER[0] == &k.CertDER[0] || !bytes.Equal(c.DER, k.CertDER) {
		t.Error("NewCertificate() shares the caller's DER, want a copy")
	}
}
