package compat

// TestEnvApp is an unmodified application: it reads nothing but the
// environment and uses DefaultAzureCredential, as production code does.
// compat/identity.sh runs it once with the App Service managed-identity
// variables (IDENTITY_ENDPOINT, IDENTITY_HEADER) and once with
// AZURE_TENANT_ID=adfs, AZURE_AUTHORITY_HOST and a client secret.

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func TestEnvApp(t *testing.T) {
	url := os.Getenv("COFFER_HSM_URL")
	if url == "" {
		t.Fatal("COFFER_HSM_URL is not set: run this through compat/identity.sh")
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azkeys.NewClient(url, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name := os.Getenv("COFFER_KEY_NAME")
	key, err := c.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256)}, nil)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	d := sha256.Sum256([]byte("env app"))
	sig, err := c.Sign(ctx, name, key.Key.KID.Version(), azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: d[:]}, nil)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	v, err := c.Verify(ctx, name, "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Digest: d[:], Signature: sig.Result}, nil)
	if err != nil || !*v.Value {
		t.Fatalf("Verify = %v, %v", v.Value, err)
	}
}
