package sdformat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"strings"
	"testing"
)

// Expected values are Python's json.dumps (ensure_ascii, the default).
func TestPyString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hsm_backup", `"hsm_backup"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"tab\there\n\r\b\f", `"tab\there\n\r\b\f"`},
		{"\x00\x1f\x7f", `"\u0000\u001f\u007f"`},
		{"é✓", `"\u00e9\u2713"`},
		{"😀", `"\ud83d\ude00"`},
		{"<&>", `"<&>"`},
	}
	for _, tc := range tests {
		if got := pyString(tc.in); got != tc.want {
			t.Errorf("pyString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// The first two are the headers of a security-domain file downloaded from
// Managed HSM (the Azure CLI's test data, sdtest/sdfile.json); the others
// are the CLI's JWEHeader encoding of those values.
func TestProtectedHeader(t *testing.T) {
	tests := []struct{ alg, kid, want string }{
		{algDir, "hsm_backup", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiaHNtX2JhY2t1cCJ9"},
		{algRSAOAEP256, kidNotUsed, "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoibm90IHVzZWQifQ"},
		// The CLI's space removal reaches into the kid: `\", ` loses its space.
		{algDir, `weird ", tag`, "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoid2VpcmQgXCIsdGFnIn0"},
		{algDir, "ünï ✓", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiXHUwMGZjblx1MDBlZiBcdTI3MTMifQ"},
	}
	for _, tc := range tests {
		if got := protectedHeader(tc.alg, tc.kid); got != tc.want {
			t.Errorf("protectedHeader(%q, %q) = %s, want %s", tc.alg, tc.kid, got, tc.want)
		}
	}
}

// RFC 7518 Appendix B.3, AEAD_AES_256_CBC_HMAC_SHA_512, with the test
// case's A standing in for the protected header.
func TestA256CBCHS512KnownAnswer(t *testing.T) {
	var (
		k  = mustHex(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
		p  = []byte("A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience")
		iv = mustHex(t, "1af38c2dc2b96ffdd86694092341bc04")
		a  = "The second principle of Auguste Kerckhoffs"
		e  = mustHex(t, "4affaaadb78c31c5da4b1b590d10ffbd3dd8d5d302423526912da037ecbcc7bd822c301dd67c373bccb584ad3e9279c2e6d12a1374b77f077553df829410446b36ebd97066296ae6427ea75c2e0846a11a09ccf5370dc80bfecbad28c73f09b3a3b75e662a2594410ae496b2e2e6609e31e6e02cc837f053d21f37ff4f51950bbe2638d09dd7a4930930806d0703b1f6")
		tg = mustHex(t, "4dd3b4c088a7f45c216839645b2012bf2e6269a8c56a816dbc1b267761955bc5")
	)
	got, err := seal(bytes.NewReader(iv), a, nil, k, p)
	if err != nil {
		t.Fatalf("seal() = %v", err)
	}
	want := a + ".." + b64.EncodeToString(iv) + "." + b64.EncodeToString(e) + "." + b64.EncodeToString(tg)
	if got != want {
		t.Errorf("seal(RFC 7518 B.3) = %s, want %s", got, want)
	}
	j := &jwe{protected: a, iv: iv, ct: e, tag: tg}
	pt, err := j.open(k)
	if err != nil || !bytes.Equal(pt, p) {
		t.Errorf("open(RFC 7518 B.3) = %q, %v, want %q", pt, err, p)
	}
}

func TestParseJWE(t *testing.T) {
	key := make([]byte, cekSize)
	valid, err := sealDir(rand.Reader, "t", key, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	with := func(i int, s string) string {
		p := append([]string(nil), parts...)
		p[i] = s
		return strings.Join(p, ".")
	}
	header := func(json string) string { return with(0, b64.EncodeToString([]byte(json))) }
	tests := []struct {
		name, in string
		algs     []string
		want     string
	}{
		{name: "valid", in: valid, algs: []string{algDir}},
		{name: "four parts", in: strings.Join(parts[:4], "."), algs: []string{algDir}, want: "five parts"},
		{name: "six parts", in: valid + ".x", algs: []string{algDir}, want: "five parts"},
		{name: "header not base64url", in: with(0, "!!"), algs: []string{algDir}, want: "not base64url"},
		{name: "header not JSON", in: header("[1]"), algs: []string{algDir}, want: "not a JSON object"},
		{name: "header without enc", in: header(`{"alg":"dir"}`), algs: []string{algDir}, want: "needs alg and enc"},
		{name: "header names in capitals", in: header(`{"ALG":"dir","ENC":"A256CBC-HS512"}`), algs: []string{algDir}, want: "needs alg and enc"},
		{name: "other enc", in: header(`{"alg":"dir","enc":"A256GCM"}`), algs: []string{algDir}, want: `content encryption "A256GCM"`},
		{name: "alg not allowed", in: valid, algs: []string{algRSAOAEP256}, want: `key management "dir"`},
		{name: "zip", in: header(`{"alg":"dir","enc":"A256CBC-HS512","zip":"DEF"}`), algs: []string{algDir}, want: `"zip"`},
		{name: "crit", in: header(`{"alg":"dir","enc":"A256CBC-HS512","crit":["x"]}`), algs: []string{algDir}, want: `"crit"`},
		{name: "dir with an encrypted key", in: with(1, "AAAA"), algs: []string{algDir}, want: "encrypted key must be empty"},
		{name: "RSA without an encrypted key", in: header(`{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"}`), algs: []string{algRSAOAEP256}, want: "encrypted key must be empty"},
		{name: "part not base64url", in: with(3, "a+b/"), algs: []string{algDir}, want: "part 4 is not base64url"},
		{name: "short IV", in: with(2, b64.EncodeToString(make([]byte, 12))), algs: []string{algDir}, want: "IV is 12 bytes"},
		{name: "ciphertext not blocks", in: with(3, b64.EncodeToString(make([]byte, 20))), algs: []string{algDir}, want: "not whole AES blocks"},
		{name: "empty ciphertext", in: with(3, ""), algs: []string{algDir}, want: "not whole AES blocks"},
		{name: "short tag", in: with(4, b64.EncodeToString(make([]byte, 16))), algs: []string{algDir}, want: "tag is 16 bytes"},
		{name: "too large", in: strings.Repeat("a", maxJWE+1), algs: []string{algDir}, want: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseJWE(tc.in, "the JWE", tc.algs...)
			if msg := errorText(err, tc.want); msg != "" {
				t.Errorf("parseJWE(%.60s) = %s", tc.in, msg)
			}
		})
	}
}

// Any change to a JWE, or the wrong key, gives ErrDecrypt and nothing else.
func TestOpenFailsUniformly(t *testing.T) {
	keys := holders(t)
	key := KDF([]byte("master"), []byte("t"), nil, 512)
	dir, err := sealDir(rand.Reader, "t", key, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	rsaJWE, err := sealRSA(rand.Reader, &keys[0].Key.PublicKey, []byte("share"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(s string, rsaKey bool) ([]byte, error) {
		algs := []string{algDir}
		if rsaKey {
			algs = []string{algRSAOAEP256}
		}
		j, err := parseJWE(s, "the JWE", algs...)
		if err != nil {
			return nil, err
		}
		if rsaKey {
			return j.openRSA(keys[0].Key)
		}
		return j.open(key)
	}
	if pt, err := open(dir, false); err != nil || string(pt) != "payload" {
		t.Fatalf("open(dir JWE) = %q, %v", pt, err)
	}
	if pt, err := open(rsaJWE, true); err != nil || string(pt) != "share" {
		t.Fatalf("open(RSA JWE) = %q, %v", pt, err)
	}
	flip := func(s string, part int) string {
		p := strings.Split(s, ".")
		c := []byte(p[part])
		i := len(c) / 2
		c[i] = map[bool]byte{true: 'B', false: 'A'}[c[i] == 'A']
		p[part] = string(c)
		return strings.Join(p, ".")
	}
	// A header that still parses, but is not the one the tag covers.
	otherHeader := strings.Replace(dir, protectedHeader(algDir, "t"), protectedHeader(algDir, "u"), 1)
	tests := []struct {
		name   string
		in     string
		rsaKey bool
	}{
		{name: "header", in: otherHeader},
		{name: "IV", in: flip(dir, 2)},
		{name: "ciphertext", in: flip(dir, 3)},
		{name: "tag", in: flip(dir, 4)},
		{name: "RSA encrypted key", in: flip(rsaJWE, 1), rsaKey: true},
		{name: "RSA ciphertext", in: flip(rsaJWE, 3), rsaKey: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := open(tc.in, tc.rsaKey)
			if err != ErrDecrypt {
				t.Errorf("open(%s altered) = %q, %v, want ErrDecrypt", tc.name, pt, err)
			}
		})
	}
	// Bad padding under a good tag (a broken sender) fails the same way.
	for _, last := range []byte{0, 17, 2} {
		pt := bytes.Repeat([]byte{3}, 16)
		pt[15] = last // 2: the byte before it is not 2
		block, _ := aes.NewCipher(key[32:])
		iv := make([]byte, 16)
		ct := make([]byte, 16)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, pt)
		prot := protectedHeader(algDir, "t")
		bad := &jwe{protected: prot, alg: algDir, iv: iv, ct: ct, tag: cbcHMACTag(key[:32], prot, iv, ct)}
		if got, err := bad.open(key); err != ErrDecrypt {
			t.Errorf("open(padding ending %d) = %q, %v, want ErrDecrypt", last, got, err)
		}
	}
	j, _ := parseJWE(rsaJWE, "the JWE", algRSAOAEP256)
	if pt, err := j.openRSA(keys[1].Key); err != ErrDecrypt {
		t.Errorf("openRSA(another key) = %q, %v, want ErrDecrypt", pt, err)
	}
	if pt, err := j.open(make([]byte, 32)); err != ErrDecrypt {
		t.Errorf("open(32-byte key) = %q, %v, want ErrDecrypt", pt, err)
	}
}
