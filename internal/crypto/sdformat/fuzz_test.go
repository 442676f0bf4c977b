package sdformat

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseDownloadRequest(f *testing.F) {
	keys := holders(f)
	f.Add(requestFor(f, keys[:3], 2))
	f.Add(requestFor(f, keys[:4], nil))
	f.Add([]byte(`{"certificates":[{"value":{"kty":"RSA","x5c":["AAAA"],"n":"AQAB","e":"AQAB"}}],"required":2}`))
	f.Add([]byte(`{"certificates":null,"required":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		certs, quorum, err := ParseDownloadRequest(body)
		if err != nil {
			return
		}
		if len(certs) < MinCertificates || len(certs) > MaxCertificates || quorum < MinQuorum || quorum > MaxQuorum || quorum > len(certs) {
			t.Fatalf("ParseDownloadRequest() = %d certificates, quorum %d: out of bounds", len(certs), quorum)
		}
		// What was accepted, sent again as the CLI would, reads the same.
		var again []testKey
		for i, c := range certs {
			if c.Key.N.BitLen() < minRSABits || c.X5tS256 != b64.EncodeToString(sha256Sum(c.DER)) {
				t.Fatalf("ParseDownloadRequest() certificate %d: %d bits, x5t_256 %s", i, c.Key.N.BitLen(), c.X5tS256)
			}
			again = append(again, testKey{WrappingKey: WrappingKey{CertDER: c.DER}})
		}
		certs2, quorum2, err := ParseDownloadRequest(requestFor(t, again, quorum))
		if err != nil {
			t.Fatalf("ParseDownloadRequest(re-encoded) = %v", err)
		}
		if diff := cmp.Diff(certs, certs2); diff != "" || quorum2 != quorum {
			t.Fatalf("ParseDownloadRequest(re-encoded) = quorum %d, want %d; (-first +again):\n%s", quorum2, quorum, diff)
		}
	})
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func FuzzParseFile(f *testing.F) {
	keys := holders(f)
	f.Add(buildFile(f, keys[:3], 2, testMaster(), testData))
	f.Add(buildFile(f, keys[:4], 4, testMaster(), oracleData))
	f.Add([]byte(`{"EncData":{"data":[],"kdf":"sp108_kdf"},"SharedKeys":{"enc_shares":[],"key_algorithm":"shamir_share","required":2}}`))
	f.Fuzz(func(t *testing.T, file []byte) {
		parsed, err := ParseFile(file)
		if err != nil {
			return
		}
		// A file that parses encodes canonically and parses back the same.
		b, err := parsed.Marshal()
		if err != nil {
			t.Fatalf("File.Marshal() after ParseFile = %v", err)
		}
		again, err := ParseFile(b)
		if err != nil {
			t.Fatalf("ParseFile(Marshal(ParseFile(x))) = %v", err)
		}
		if diff := cmp.Diff(parsed, again); diff != "" {
			t.Fatalf("the file changed in a round trip (-first +again):\n%s", diff)
		}
		b2, _ := again.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("File.Marshal() is not stable:\n%s\n%s", b, b2)
		}
	})
}

func FuzzOpenRestoreBlob(f *testing.F) {
	keys := holders(f)
	exchange := keys[4]
	for _, data := range [][]Datum{testData, oracleData} {
		blob, err := BuildRestoreBlob(nil, data, exchange.CertDER)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(blob)
	}
	f.Add(buildFile(f, keys[:3], 2, testMaster(), testData))
	f.Add([]byte(`{"EncData":{"data":[{"compact_jwe":"a.b.c.d.e","tag":"t"}],"kdf":"sp108_kdf"},"WrappedKey":{"enc_key":"a.b.c.d.e","x5t_256":"x"}}`))
	f.Fuzz(func(t *testing.T, blob []byte) {
		data, err := OpenRestoreBlob(blob, exchange.Key, exchange.CertDER)
		if err != nil {
			var fe *FormatError
			if err != ErrDecrypt && !errors.As(err, &fe) {
				t.Fatalf("OpenRestoreBlob() = %v (%T), want ErrDecrypt or a *FormatError", err, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, d := range data {
			if d.Tag == "" || seen[d.Tag] {
				t.Fatalf("OpenRestoreBlob() returned tag %q twice or empty", d.Tag)
			}
			seen[d.Tag] = true
		}
	})
}

func FuzzCombine(f *testing.F) {
	s, err := Split(nil, []byte("secret"), 3, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s[0], s[1])
	f.Add(s[2], s[0])
	f.Fuzz(func(t *testing.T, a, b []byte) {
		secret, err := Combine([][]byte{a, b})
		if err == nil && len(secret) != len(a)/2 {
			t.Fatalf("Combine() = %d bytes from %d-byte shares", len(secret), len(a))
		}
	})
}
