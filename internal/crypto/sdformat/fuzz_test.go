package sdformat

import (
	"crypto/rand"
	"testing"
)

func FuzzParseDownloadRequest(f *testing.F) {
	f.Add(downloadRequest(f, testHolders(f)[:3], 2))
	f.Add([]byte(`{"certificates":[{"value":{"kty":"RSA","x5c":["AAAA"]}}],"required":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, quorum, err := ParseDownloadRequest(b)
		if err == nil && (len(certs) < 3 || len(certs) > 10 || quorum < 2 || quorum > len(certs)) {
			t.Fatalf("ParseDownloadRequest accepted %d certificates with quorum %d", len(certs), quorum)
		}
	})
}

func FuzzRecover(f *testing.F) {
	keys := testHolders(f)
	certs, _, _ := ParseDownloadRequest(downloadRequest(f, keys[:3], 2))
	file, _ := Build(rand.Reader, make([]byte, 32), []Datum{{Tag: "t", Plaintext: []byte("p")}}, certs, 2)
	f.Add(file)
	f.Add([]byte(`{"EncData":{"data":[],"kdf":"sp108_kdf"},"SharedKeys":{"enc_shares":[],"key_algorithm":"shamir_share","required":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseFile(b); err != nil {
			return
		}
		Recover(b, keys[:2])
	})
}

func FuzzOpenRestoreBlob(f *testing.F) {
	keys := testHolders(f)
	blob, _ := BuildRestoreBlob(rand.Reader, []Datum{{Tag: "t", Plaintext: []byte("p")}}, keys[3].CertDER)
	f.Add(blob)
	f.Add([]byte(`{"EncData":{"data":[{"compact_jwe":"a.b.c.d.e","tag":"t"}],"kdf":"sp108_kdf"},"WrappedKey":{"enc_key":"a.b.c.d.e","x5t_256":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		OpenRestoreBlob(b, keys[3].Key, keys[3].CertDER)
	})
}

func FuzzCombine(f *testing.F) {
	s, _ := Split(rand.Reader, []byte("secret"), 3, 2)
	f.Add(s[0], s[1])
	f.Fuzz(func(t *testing.T, a, b []byte) {
		Combine([][]byte{a, b})
	})
}
