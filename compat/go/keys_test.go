// Package compat drives a live Coffer server with the official Azure SDK
// for Go (azkeys, azidentity), unmodified. The server is described by the
// bootstrap file named in COFFER_BOOTSTRAP (written by `coffer serve --dev`).
//
// COFFER_SETUP=A (default) reaches the pool by host name under the token
// audience's domain, so challenge-resource verification passes unchanged;
// COFFER_SETUP=C reaches it by IP address with
// DisableChallengeResourceVerification, the SDK's switch for that case.
package compat

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

type bootstrap struct {
	TenantID, ClientID, ClientSecret, AuthorityHost, HSMURL, HSMURLByAddress, CAFile string
}

func load(t *testing.T) (bootstrap, *http.Client) {
	t.Helper()
	path := os.Getenv("COFFER_BOOTSTRAP")
	if path == "" {
		t.Fatal("COFFER_BOOTSTRAP is not set: run this suite through compat/run.sh")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrap
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(b.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return b, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func newClient(t *testing.T) *azkeys.Client {
	t.Helper()
	b, hc := load(t)
	cred, err := azidentity.NewClientSecretCredential(b.TenantID, b.ClientID, b.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Transport: hc, Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: b.AuthorityHost}},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	url, disable := b.HSMURL, false
	if os.Getenv("COFFER_SETUP") == "C" {
		url, disable = b.HSMURLByAddress, true
	}
	c, err := azkeys.NewClient(url, cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}, DisableChallengeResourceVerification: disable})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func name(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	setup := strings.ToLower(os.Getenv("COFFER_SETUP"))
	if setup == "" {
		setup = "a"
	}
	return fmt.Sprintf("go%s-%s-%x", setup, prefix, b)
}

func digest(bits int, msg string) []byte {
	switch bits {
	case 384:
		h := sha512.Sum384([]byte(msg))
		return h[:]
	case 512:
		h := sha512.Sum512([]byte(msg))
		return h[:]
	}
	h := sha256.Sum256([]byte(msg))
	return h[:]
}

func hashOf(bits int) crypto.Hash {
	return map[int]crypto.Hash{256: crypto.SHA256, 384: crypto.SHA384, 512: crypto.SHA512}[bits]
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestRSA(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, size := range []int32{2048, 3072, 4096} {
		n := name(fmt.Sprintf("rsa%d", size))
		created, err := c.CreateKey(ctx, n, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr(size)}, nil)
		if err != nil {
			t.Fatalf("CreateKey(%s) error = %v", n, err)
		}
		k := created.Key
		if *k.Kty != azkeys.KeyTypeRSAHSM || len(k.N)*8 != int(size) {
			t.Fatalf("CreateKey(%s) kty = %s, modulus bits %d", n, *k.Kty, len(k.N)*8)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(new(big.Int).SetBytes(k.E).Int64())}
		ver := k.KID.Version()
		for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmRSAOAEP, azkeys.EncryptionAlgorithmRSAOAEP256, azkeys.EncryptionAlgorithmRSA15} {
			pt := []byte("a 32-byte secret for the server!")
			enc, err := c.Encrypt(ctx, n, ver, azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: pt}, nil)
			if err != nil {
				t.Fatalf("Encrypt(%s) error = %v", alg, err)
			}
			dec, err := c.Decrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: enc.Result}, nil)
			if err != nil || !bytes.Equal(dec.Result, pt) {
				t.Fatalf("Decrypt(%s) = %x, %v", alg, dec.Result, err)
			}
			w, err := c.WrapKey(ctx, n, ver, azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: pt}, nil)
			if err != nil {
				t.Fatalf("WrapKey(%s) error = %v", alg, err)
			}
			u, err := c.UnwrapKey(ctx, n, ver, azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: w.Result}, nil)
			if err != nil || !bytes.Equal(u.Result, pt) {
				t.Fatalf("UnwrapKey(%s) = %x, %v", alg, u.Result, err)
			}
		}
		// Data encrypted locally with the public key decrypts in the pool.
		local, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, []byte("local"), nil)
		dec, err := c.Decrypt(ctx, n, ver, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: local}, nil)
		if err != nil || string(dec.Result) != "local" {
			t.Fatalf("Decrypt(local ciphertext) = %q, %v", dec.Result, err)
		}
		for _, bits := range []int{256, 384, 512} {
			for _, fam := range []string{"RS", "PS"} {
				alg := azkeys.SignatureAlgorithm(fmt.Sprintf("%s%d", fam, bits))
				d := digest(bits, "coffer")
				sig, err := c.Sign(ctx, n, ver, azkeys.SignParameters{Algorithm: to.Ptr(alg), Value: d}, nil)
				if err != nil {
					t.Fatalf("Sign(%s) error = %v", alg, err)
				}
				// Independent check with the standard library.
				if fam == "RS" {
					err = rsa.VerifyPKCS1v15(pub, hashOf(bits), d, sig.Result)
				} else {
					err = rsa.VerifyPSS(pub, hashOf(bits), d, sig.Result, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
				}
				if err != nil {
					t.Fatalf("stdlib verify of %s signature: %v", alg, err)
				}
				v, err := c.Verify(ctx, n, ver, azkeys.VerifyParameters{Algorithm: to.Ptr(alg), Digest: d, Signature: sig.Result}, nil)
				if err != nil || !*v.Value {
					t.Fatalf("Verify(%s) = %v, %v", alg, v.Value, err)
				}
				v, err = c.Verify(ctx, n, ver, azkeys.VerifyParameters{Algorithm: to.Ptr(alg), Digest: digest(bits, "other"), Signature: sig.Result}, nil)
				if err != nil || *v.Value {
					t.Fatalf("Verify(%s, wrong digest) = %v, %v; want false", alg, v.Value, err)
				}
			}
		}
	}
}

func TestEC(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		crv  azkeys.CurveName
		alg  azkeys.SignatureAlgorithm
		bits int
	}{
		{azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256, 256},
		{azkeys.CurveNameP256K, azkeys.SignatureAlgorithmES256K, 256},
		{azkeys.CurveNameP384, azkeys.SignatureAlgorithmES384, 384},
		{azkeys.CurveNameP521, azkeys.SignatureAlgorithmES512, 512},
	} {
		n := name("ec")
		created, err := c.CreateKey(ctx, n, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(tc.crv)}, nil)
		if err != nil {
			t.Fatalf("CreateKey(%s) error = %v", tc.crv, err)
		}
		d := digest(tc.bits, "coffer ec")
		sig, err := c.Sign(ctx, n, "", azkeys.SignParameters{Algorithm: to.Ptr(tc.alg), Value: d}, nil)
		if err != nil {
			t.Fatalf("Sign(%s) error = %v", tc.alg, err)
		}
		if curve := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521()}[tc.crv]; curve != nil {
			k := created.Key
			pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(k.X), Y: new(big.Int).SetBytes(k.Y)}
			half := len(sig.Result) / 2
			if !ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig.Result[:half]), new(big.Int).SetBytes(sig.Result[half:])) {
				t.Fatalf("stdlib ecdsa.Verify rejects the %s signature", tc.alg)
			}
		}
		v, err := c.Verify(ctx, n, "", azkeys.VerifyParameters{Algorithm: to.Ptr(tc.alg), Digest: d, Signature: sig.Result}, nil)
		if err != nil || !*v.Value {
			t.Fatalf("Verify(%s) = %v, %v", tc.alg, v.Value, err)
		}
		// An EC key cannot encrypt.
		_, err = c.Encrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
		if s := status(err); s != http.StatusBadRequest && s != http.StatusForbidden {
			t.Fatalf("Encrypt with an EC key: status %d (%v), want 400 or 403", s, err)
		}
	}
}

func TestAES(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, size := range []int32{128, 192, 256} {
		n := name(fmt.Sprintf("aes%d", size))
		_, err := c.CreateKey(ctx, n, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr(size),
			KeyOps: to.SliceOfPtrs(azkeys.KeyOperationEncrypt, azkeys.KeyOperationDecrypt, azkeys.KeyOperationWrapKey, azkeys.KeyOperationUnwrapKey, azkeys.KeyOperationSign, azkeys.KeyOperationVerify)}, nil)
		if err != nil {
			t.Fatalf("CreateKey(oct %d) error = %v", size, err)
		}
		pt := []byte("sixteen byte blk-sixteen byte blk")[:32]
		gcm := azkeys.EncryptionAlgorithm(fmt.Sprintf("A%dGCM", size))
		enc, err := c.Encrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(gcm), Value: pt, AdditionalAuthenticatedData: []byte("aad")}, nil)
		if err != nil || len(enc.IV) != 12 || len(enc.AuthenticationTag) != 16 {
			t.Fatalf("Encrypt(%s) = iv %x tag %x, %v", gcm, enc.IV, enc.AuthenticationTag, err)
		}
		dec, err := c.Decrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(gcm), Value: enc.Result, IV: enc.IV, AuthenticationTag: enc.AuthenticationTag, AdditionalAuthenticatedData: []byte("aad")}, nil)
		if err != nil || !bytes.Equal(dec.Result, pt) {
			t.Fatalf("Decrypt(%s) = %q, %v", gcm, dec.Result, err)
		}
		_, err = c.Decrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(gcm), Value: enc.Result, IV: enc.IV, AuthenticationTag: enc.AuthenticationTag, AdditionalAuthenticatedData: []byte("AAD")}, nil)
		if status(err) != http.StatusBadRequest {
			t.Fatalf("Decrypt(%s, wrong aad) error = %v, want 400", gcm, err)
		}
		iv := make([]byte, 16)
		rand.Read(iv)
		for _, alg := range []string{"A%dCBC", "A%dCBCPAD"} {
			a := azkeys.EncryptionAlgorithm(fmt.Sprintf(alg, size))
			enc, err := c.Encrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(a), Value: pt, IV: iv}, nil)
			if err != nil {
				t.Fatalf("Encrypt(%s) error = %v", a, err)
			}
			dec, err := c.Decrypt(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(a), Value: enc.Result, IV: iv}, nil)
			if err != nil || !bytes.Equal(dec.Result, pt) {
				t.Fatalf("Decrypt(%s) = %q, %v", a, dec.Result, err)
			}
		}
		for _, a := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithm(fmt.Sprintf("A%dKW", size)), azkeys.EncryptionAlgorithmCKMAESKEYWRAP, azkeys.EncryptionAlgorithmCKMAESKEYWRAPPAD} {
			cek := pt[:24]
			w, err := c.WrapKey(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(a), Value: cek}, nil)
			if err != nil {
				t.Fatalf("WrapKey(%s) error = %v", a, err)
			}
			u, err := c.UnwrapKey(ctx, n, "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(a), Value: w.Result}, nil)
			if err != nil || !bytes.Equal(u.Result, cek) {
				t.Fatalf("UnwrapKey(%s) = %x, %v", a, u.Result, err)
			}
		}
		for _, bits := range []int{256, 384, 512} {
			a := azkeys.SignatureAlgorithm(fmt.Sprintf("HS%d", bits))
			mac, err := c.Sign(ctx, n, "", azkeys.SignParameters{Algorithm: to.Ptr(a), Value: []byte("message")}, nil)
			if err != nil {
				t.Fatalf("Sign(%s) error = %v", a, err)
			}
			v, err := c.Verify(ctx, n, "", azkeys.VerifyParameters{Algorithm: to.Ptr(a), Digest: []byte("message"), Signature: mac.Result}, nil)
			if err != nil || !*v.Value {
				t.Fatalf("Verify(%s) = %v, %v", a, v.Value, err)
			}
		}
	}
}

func TestLifecycle(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	n := name("life")
	first, err := c.CreateKey(ctx, n, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256), Tags: map[string]*string{"team": to.Ptr("payments")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *first.Key.Kty != azkeys.KeyTypeECHSM {
		t.Errorf("CreateKey(kty EC).Kty = %s, want EC-HSM", *first.Key.Kty)
	}
	got, err := c.GetKey(ctx, n, "", nil)
	if err != nil || got.Key.KID.Version() != first.Key.KID.Version() || *got.Tags["team"] != "payments" {
		t.Fatalf("GetKey(latest) = %v, %v", got.Key.KID, err)
	}
	upd, err := c.UpdateKey(ctx, n, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Expires: to.Ptr(time.Now().Add(48 * time.Hour).Truncate(time.Second))},
		Tags: map[string]*string{"team": to.Ptr("platform")}}, nil)
	if err != nil || *upd.Tags["team"] != "platform" || upd.Attributes.Expires == nil {
		t.Fatalf("UpdateKey = %v, %v", upd.Tags, err)
	}
	_, err = c.UpdateKeyRotationPolicy(ctx, n, azkeys.KeyRotationPolicy{
		LifetimeActions: []*azkeys.LifetimeAction{{Action: &azkeys.LifetimeActionType{Type: to.Ptr(azkeys.KeyRotationPolicyActionRotate)}, Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: to.Ptr("P30D")}}},
		Attributes:      &azkeys.KeyRotationPolicyAttributes{ExpiryTime: to.Ptr("P90D")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := c.GetKeyRotationPolicy(ctx, n, nil)
	if err != nil || *pol.Attributes.ExpiryTime != "P90D" || len(pol.LifetimeActions) != 1 {
		t.Fatalf("GetKeyRotationPolicy = %+v, %v", pol.KeyRotationPolicy, err)
	}
	rot, err := c.RotateKey(ctx, n, nil)
	if err != nil || rot.Key.KID.Version() == first.Key.KID.Version() {
		t.Fatalf("RotateKey = %v, %v", rot.Key.KID, err)
	}
	var versions []string
	for pager := c.NewListKeyPropertiesVersionsPager(n, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			versions = append(versions, p.KID.Version())
		}
	}
	if !slices.Contains(versions, first.Key.KID.Version()) || !slices.Contains(versions, rot.Key.KID.Version()) {
		t.Fatalf("versions %v lack %s or %s", versions, first.Key.KID.Version(), rot.Key.KID.Version())
	}
	backup, err := c.BackupKey(ctx, n, nil)
	if err != nil || len(backup.Value) == 0 {
		t.Fatalf("BackupKey = %d bytes, %v", len(backup.Value), err)
	}
	del, err := c.DeleteKey(ctx, n, nil)
	if err != nil || del.RecoveryID == nil || del.DeletedDate == nil || del.ScheduledPurgeDate == nil {
		t.Fatalf("DeleteKey = %+v, %v", del, err)
	}
	if _, err := c.GetKey(ctx, n, "", nil); status(err) != http.StatusNotFound {
		t.Fatalf("GetKey after delete: %v, want 404", err)
	}
	if _, err := c.GetDeletedKey(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	found := false
	for pager := c.NewListDeletedKeyPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			found = found || p.KID.Name() == n
		}
	}
	if !found {
		t.Fatalf("deleted key %s not listed", n)
	}
	if _, err := c.RecoverDeletedKey(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKey(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedKey(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	restored, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
	if err != nil || restored.Key.KID.Version() != rot.Key.KID.Version() {
		t.Fatalf("RestoreKey = %v, %v; want latest version %s", restored.Key.KID, err, rot.Key.KID.Version())
	}
	rnd, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: to.Ptr(int32(24))}, nil)
	if err != nil || len(rnd.Value) != 24 {
		t.Fatalf("GetRandomBytes = %d bytes, %v", len(rnd.Value), err)
	}
}

func TestImportAndBYOK(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	// Plain JWK import.
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	priv.Precompute()
	jwk := &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeRSA), N: priv.N.Bytes(), E: big.NewInt(int64(priv.E)).Bytes(), D: priv.D.Bytes(),
		P: priv.Primes[0].Bytes(), Q: priv.Primes[1].Bytes(), DP: priv.Precomputed.Dp.Bytes(), DQ: priv.Precomputed.Dq.Bytes(), QI: priv.Precomputed.Qinv.Bytes()}
	n := name("imp")
	imp, err := c.ImportKey(ctx, n, azkeys.ImportKeyParameters{Key: jwk}, nil)
	if err != nil || *imp.Key.Kty != azkeys.KeyTypeRSAHSM || imp.Key.D != nil {
		t.Fatalf("ImportKey = %v, %v", imp.Key, err)
	}
	d := digest(256, "imported")
	sig, err := c.Sign(ctx, n, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: d}, nil)
	if err != nil || rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d, sig.Result) != nil {
		t.Fatalf("signature with imported key does not verify: %v", err)
	}

	// BYOK: a key-exchange key in the pool, a transfer blob built locally
	// exactly as the BYOK specification describes, imported as key_hsm.
	kek := name("kek")
	kk, err := c.CreateKey(ctx, kek, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr(int32(3072)), KeyOps: to.SliceOfPtrs(azkeys.KeyOperationImport)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kekPub := &rsa.PublicKey{N: new(big.Int).SetBytes(kk.Key.N), E: int(new(big.Int).SetBytes(kk.Key.E).Int64())}
	target, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(target)
	blob := byokBlob(t, string(*kk.Key.KID), kekPub, pkcs8)
	byok := name("byok")
	res, err := c.ImportKey(ctx, byok, azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeECHSM), Crv: to.Ptr(azkeys.CurveNameP384), T: blob,
		KeyOps: to.SliceOfPtrs(azkeys.KeyOperationSign, azkeys.KeyOperationVerify)}}, nil)
	if err != nil {
		t.Fatalf("ImportKey(BYOK) error = %v", err)
	}
	if new(big.Int).SetBytes(res.Key.X).Cmp(target.X) != 0 {
		t.Fatal("BYOK import produced a different public key")
	}
	d = digest(384, "byok")
	sig, err = c.Sign(ctx, byok, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES384), Value: d}, nil)
	if err != nil || !ecdsa.Verify(&target.PublicKey, d, new(big.Int).SetBytes(sig.Result[:48]), new(big.Int).SetBytes(sig.Result[48:])) {
		t.Fatalf("signature with BYOK key does not verify: %v", err)
	}
}

// byokBlob builds a CKM_RSA_AES_KEY_WRAP transfer blob: RSA-OAEP-SHA1 of an
// ephemeral AES key, then RFC 5649 key wrap of the target's PKCS#8.
func byokBlob(t *testing.T, kid string, kek *rsa.PublicKey, plain []byte) []byte {
	t.Helper()
	eph := make([]byte, 32)
	rand.Read(eph)
	wrappedKey, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, kek, eph, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := append(wrappedKey, kwp(t, eph, plain)...)
	b, _ := json.Marshal(map[string]any{
		"schema_version": "1.0.0",
		"header":         map[string]string{"kid": kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"},
		"ciphertext":     base64.RawURLEncoding.EncodeToString(ct),
		"generator":      "coffer compat test",
	})
	return b
}

// kwp is RFC 5649 AES key wrap with padding, written out here so the test
// does not lean on the server's own implementation.
func kwp(t *testing.T, kek, pt []byte) []byte {
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	aiv := make([]byte, 8)
	copy(aiv, []byte{0xA6, 0x59, 0x59, 0xA6})
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(pt)))
	padded := append(append([]byte{}, pt...), make([]byte, (8-len(pt)%8)%8)...)
	n := len(padded) / 8
	a := aiv
	r := make([][]byte, n)
	for i := range r {
		r[i] = padded[i*8 : i*8+8]
	}
	buf := make([]byte, 16)
	for j := 0; j < 6; j++ {
		for i := 0; i < n; i++ {
			copy(buf, a)
			copy(buf[8:], r[i])
			block.Encrypt(buf, buf)
			tv := uint64(n*j + i + 1)
			a = make([]byte, 8)
			binary.BigEndian.PutUint64(a, binary.BigEndian.Uint64(buf[:8])^tv)
			r[i] = append([]byte{}, buf[8:]...)
		}
	}
	out := append([]byte{}, a...)
	for _, ri := range r {
		out = append(out, ri...)
	}
	return out
}

func TestBadInput(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	n := name("bad")
	if _, err := c.CreateKey(ctx, n, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr(int32(1024))}, nil); status(err) != http.StatusBadRequest {
		t.Fatalf("CreateKey(RSA 1024) error = %v, want 400", err)
	}
	if _, err := c.CreateKey(ctx, n, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256), KeyOps: to.SliceOfPtrs(azkeys.KeyOperationVerify)}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Sign(ctx, n, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest(256, "x")}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "Forbidden" {
		t.Fatalf("Sign with key_ops [verify] error = %v, want 403 Forbidden", err)
	}
	signer := name("bad-signer")
	if _, err := c.CreateKey(ctx, signer, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Sign(ctx, signer, "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES384), Value: digest(384, "x")}, nil)
	if status(err) != http.StatusBadRequest {
		t.Fatalf("Sign with the wrong curve's algorithm: %v, want 400", err)
	}
	if _, err := c.GetKey(ctx, name("missing"), "", nil); !errors.As(err, &re) || re.ErrorCode != "KeyNotFound" {
		t.Fatalf("GetKey(missing) error = %v, want KeyNotFound", err)
	}
}
