package jwa

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/google/go-cmp/cmp"
)

func TestParseEncryptionAlgorithm(t *testing.T) {
	want := []string{"RSA-OAEP", "RSA-OAEP-256", "RSA1_5", "A128GCM", "A192GCM", "A256GCM", "A128KW", "A192KW", "A256KW",
		"A128CBC", "A192CBC", "A256CBC", "A128CBCPAD", "A192CBCPAD", "A256CBCPAD", "CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"}
	var got []string
	for a := EncryptionAlgorithm(1); a < EncryptionAlgorithm(len(encNames)); a++ {
		got = append(got, a.String())
		back, err := ParseEncryptionAlgorithm(a.String())
		if err != nil || back != a {
			t.Errorf("ParseEncryptionAlgorithm(%q) = %v, %v; want %v", a, back, err, a)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("encryption algorithm names (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "rsa-oaep", "RSA-OAEP-384", "A256GCMKW", "dir", "CKM_RSA_AES_KEY_WRAP", "A256CBC-HS512", "RSA-OAEP "} {
		if a, err := ParseEncryptionAlgorithm(bad); !errors.Is(err, ErrInvalidInput) || a != 0 {
			t.Errorf("ParseEncryptionAlgorithm(%q) = %v, %v; want ErrInvalidInput", bad, a, err)
		}
	}
	if s := EncryptionAlgorithm(0).String(); s != "EncryptionAlgorithm(0)" {
		t.Errorf("EncryptionAlgorithm(0).String() = %q", s)
	}
}

func TestParseSignatureAlgorithm(t *testing.T) {
	want := []string{"PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "ES256", "ES256K", "ES384", "ES512", "HS256", "HS384", "HS512"}
	var got []string
	for a := SignatureAlgorithm(1); a < SignatureAlgorithm(len(sigNames)); a++ {
		got = append(got, a.String())
		back, err := ParseSignatureAlgorithm(a.String())
		if err != nil || back != a {
			t.Errorf("ParseSignatureAlgorithm(%q) = %v, %v; want %v", a, back, err, a)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("signature algorithm names (-want +got):\n%s", diff)
	}
	// RSNULL is in Key Vault's enum but reserved; EdDSA appears in one SDK
	// and no specification.
	for _, bad := range []string{"", "RSNULL", "rs256", "EdDSA", "ES256k", "none", "HS1"} {
		if a, err := ParseSignatureAlgorithm(bad); !errors.Is(err, ErrInvalidInput) || a != 0 {
			t.Errorf("ParseSignatureAlgorithm(%q) = %v, %v; want ErrInvalidInput", bad, a, err)
		}
	}
}

// TestCheckEncryption is the full matrix of algorithm × key × operation:
// which pairs Managed HSM serves.
func TestCheckEncryption(t *testing.T) {
	type use struct{ encrypt, wrap bool }
	served := func(alg EncryptionAlgorithm, k *keymat.Key) use {
		switch alg {
		case RSAOAEP, RSAOAEP256, RSA15:
			return use{k.Type() == keymat.KeyTypeRSA, k.Type() == keymat.KeyTypeRSA}
		case CKMAESKeyWrap, CKMAESKeyWrapPad:
			return use{false, k.Type() == keymat.KeyTypeOct}
		}
		sized := k.Type() == keymat.KeyTypeOct && fmt.Sprint(k.Bits()) == alg.String()[1:4]
		switch alg {
		case A128KW, A192KW, A256KW:
			return use{false, sized}
		}
		return use{sized, false} // GCM, CBC, CBCPAD
	}
	n := 0
	for a := EncryptionAlgorithm(1); a < EncryptionAlgorithm(len(encNames)); a++ {
		for _, k := range allTestKeys(t) {
			want := served(a, k)
			for _, wrap := range []bool{false, true} {
				err := CheckEncryption(a, k, wrap)
				ok := want.encrypt
				if wrap {
					ok = want.wrap
				}
				if (err == nil) != ok || (err != nil && !errors.Is(err, ErrAlgorithmMismatch)) {
					t.Errorf("CheckEncryption(%s, %v, wrap=%v) = %v, want allowed %v", a, k, wrap, err, ok)
				}
				if ok {
					n++
				}
			}
		}
		for _, wrap := range []bool{false, true} {
			if err := CheckEncryption(a, nil, wrap); !errors.Is(err, ErrAlgorithmMismatch) {
				t.Errorf("CheckEncryption(%s, nil) = %v, want ErrAlgorithmMismatch", a, err)
			}
		}
	}
	// 3 RSA algorithms × 3 RSA keys × 2 uses, 9 AES modes × 1 size, 3 AES KW
	// × 1 size, 2 CKM wraps × 3 sizes.
	if want := 18 + 9 + 3 + 6; n != want {
		t.Errorf("CheckEncryption allowed %d pairs, want %d", n, want)
	}
	if err := CheckEncryption(0, aesKey(t, 256), false); !errors.Is(err, ErrAlgorithmMismatch) {
		t.Errorf("CheckEncryption(0) = %v, want ErrAlgorithmMismatch", err)
	}
}

func TestCheckSignature(t *testing.T) {
	curves := []keymat.Curve{0, keymat.CurveP256, keymat.CurveP256K, keymat.CurveP384, keymat.CurveP521}
	types := []keymat.KeyType{keymat.KeyTypeRSA, keymat.KeyTypeEC, keymat.KeyTypeOct}
	want := map[SignatureAlgorithm]struct {
		t keymat.KeyType
		c keymat.Curve
	}{
		PS256: {keymat.KeyTypeRSA, 0}, PS384: {keymat.KeyTypeRSA, 0}, PS512: {keymat.KeyTypeRSA, 0},
		RS256: {keymat.KeyTypeRSA, 0}, RS384: {keymat.KeyTypeRSA, 0}, RS512: {keymat.KeyTypeRSA, 0},
		ES256: {keymat.KeyTypeEC, keymat.CurveP256}, ES256K: {keymat.KeyTypeEC, keymat.CurveP256K},
		ES384: {keymat.KeyTypeEC, keymat.CurveP384}, ES512: {keymat.KeyTypeEC, keymat.CurveP521},
		HS256: {keymat.KeyTypeOct, 0}, HS384: {keymat.KeyTypeOct, 0}, HS512: {keymat.KeyTypeOct, 0},
	}
	if len(want) != len(sigNames)-1 {
		t.Fatalf("table covers %d algorithms, want %d", len(want), len(sigNames)-1)
	}
	for alg, w := range want {
		for _, typ := range types {
			for _, c := range curves {
				if (typ == keymat.KeyTypeEC) != (c != 0) {
					continue // keys have a curve exactly when they are EC
				}
				err := CheckSignature(alg, typ, c)
				ok := typ == w.t && c == w.c
				if (err == nil) != ok || (err != nil && !errors.Is(err, ErrAlgorithmMismatch)) {
					t.Errorf("CheckSignature(%s, %v, %v) = %v, want allowed %v", alg, typ, c, err, ok)
				}
			}
		}
	}
	if err := CheckSignature(0, keymat.KeyTypeRSA, 0); !errors.Is(err, ErrAlgorithmMismatch) {
		t.Errorf("CheckSignature(0) = %v, want ErrAlgorithmMismatch", err)
	}
}
