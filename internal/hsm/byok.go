package hsm

import (
	"context"
	"crypto"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// byokBlob is the BYOK transfer blob (the .byok file) of Key Vault's BYOK
// specification.
type byokBlob struct {
	SchemaVersion string `json:"schema_version"`
	Header        struct {
		KeyID string `json:"kid"`
		Alg   string `json:"alg"`
		Enc   string `json:"enc"`
	} `json:"header"`
	Ciphertext string `json:"ciphertext"`
	Generator  string `json:"generator"`
}

// byokHashes maps the blob's enc to the OAEP hash of its RSA part.
var byokHashes = map[string]crypto.Hash{
	"CKM_RSA_AES_KEY_WRAP": crypto.SHA1,
	"RSA_AES_KEY_WRAP_256": crypto.SHA256,
	"RSA_AES_KEY_WRAP_384": crypto.SHA384,
}

// unwrapBYOK opens a BYOK transfer blob with the key-exchange key (KEK) it
// names, which must be a key in this pool with key_ops ["import"].
func (p *Pool) unwrapBYOK(ctx context.Context, in ImportKeyInput) (*keymat.Key, error) {
	var blob byokBlob
	if err := json.Unmarshal(in.KeyHSM, &blob); err != nil {
		return nil, badParameter("key_hsm is not a valid BYOK transfer blob.")
	}
	hash, ok := byokHashes[blob.Header.Enc]
	if !ok || !strings.EqualFold(blob.Header.Alg, "dir") {
		return nil, badParameter("BYOK transfer blob: unsupported alg %q / enc %q; expected dir with CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384.", safeName(blob.Header.Alg), safeName(blob.Header.Enc))
	}
	ref, err := kekRef(blob.Header.KeyID)
	if err != nil {
		return nil, err
	}
	_, kek, err := p.resolve(ref)
	if err != nil {
		return nil, badParameter("BYOK transfer blob: the key-exchange key %s is not in this pool.", safeName(blob.Header.KeyID))
	}
	if len(kek.ops) != 1 || kek.ops[0] != OpImport || kek.key.Type() != KeyTypeRSA {
		return nil, badParameter("BYOK transfer blob: key %s is not a key-exchange key (an RSA key with key_ops [\"import\"] only).", ref.Name)
	}
	if err := p.usable(kek, OpImport); err != nil {
		return nil, err
	}
	ct, err := decodeLenientBase64(blob.Ciphertext)
	if err != nil {
		return nil, badParameter("BYOK transfer blob: ciphertext is not valid base64url.")
	}
	plain, err := jwa.UnwrapRSAAES(kek.key, hash, ct)
	if err != nil {
		return nil, badParameter("BYOK transfer blob: the key could not be unwrapped with key-exchange key %s.", ref.Name)
	}
	defer clear(plain)
	k, err := keymat.FromPKCS8(in.Type, in.Curve, plain)
	if err != nil {
		return nil, badParameter("BYOK transfer blob: the unwrapped key is not a valid %s key.", in.Type)
	}
	return k, nil
}

// kekRef parses a key identifier URL (https://host/keys/name/version).
func kekRef(kid string) (KeyRef, error) {
	u, err := url.Parse(kid)
	if err != nil {
		return KeyRef{}, badParameter("BYOK transfer blob: kid %q is not a key identifier.", safeName(kid))
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || !strings.EqualFold(parts[0], "keys") {
		return KeyRef{}, badParameter("BYOK transfer blob: kid %q is not a key identifier.", safeName(kid))
	}
	version := ""
	if len(parts) == 3 {
		version = parts[2]
	}
	return ParseKeyRef(parts[1], version)
}
