package httpapi

import (
	"net/http"

	"github.com/cofferkms/coffer/internal/api"
	"github.com/cofferkms/coffer/internal/hsm"
)

// cryptoHandler serves one cryptographic operation: encrypt, decrypt,
// wrapkey, unwrapkey, sign or verify.
func (s *Server) cryptoHandler(op string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ref, err := keyRef(r)
		if err != nil {
			return err
		}
		ctx, c, pool := r.Context(), callerFrom(r.Context()), poolFrom(r.Context())
		switch op {
		case "sign":
			var body api.KeySignParameters
			if err := decodeBody(r, &body); err != nil {
				return err
			}
			alg, err := hsm.ParseSignatureAlgorithm(body.Algorithm)
			if err != nil {
				return badRequest("The signature algorithm (alg) %q is not supported.", truncate(body.Algorithm, 32))
			}
			if body.Value == nil {
				return badRequest("The digest to sign (value) is required.")
			}
			res, err := pool.Sign(ctx, c, ref, alg, body.Value)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, api.KeyOperationResult{KeyID: keyID(r, res.Name, res.Version), Algorithm: alg.String(), Value: res.Value})
		case "verify":
			var body api.KeyVerifyParameters
			if err := decodeBody(r, &body); err != nil {
				return err
			}
			alg, err := hsm.ParseSignatureAlgorithm(body.Algorithm)
			if err != nil {
				return badRequest("The signature algorithm (alg) %q is not supported.", truncate(body.Algorithm, 32))
			}
			if body.Digest == nil || body.Signature == nil {
				return badRequest("Both the digest (digest) and the signature (value) are required.")
			}
			ok, err := pool.Verify(ctx, c, ref, alg, body.Digest, body.Signature)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, api.KeyVerifyResult{Value: ok})
		}
		var body api.KeyOperationsParameters
		if err := decodeBody(r, &body); err != nil {
			return err
		}
		alg, err := hsm.ParseEncryptionAlgorithm(body.Algorithm)
		if err != nil {
			return badRequest("The encryption algorithm (alg) %q is not supported.", truncate(body.Algorithm, 32))
		}
		if body.Value == nil {
			return badRequest("The value to process (value) is required.")
		}
		in := hsm.EncryptInput{Value: body.Value, IV: body.IV, AAD: body.AAD, Tag: body.Tag}
		var res *hsm.CryptoResult
		switch op {
		case "encrypt":
			res, err = pool.Encrypt(ctx, c, ref, alg, in)
		case "decrypt":
			res, err = pool.Decrypt(ctx, c, ref, alg, in)
		case "wrapkey":
			res, err = pool.WrapKey(ctx, c, ref, alg, body.Value)
		case "unwrapkey":
			res, err = pool.UnwrapKey(ctx, c, ref, alg, body.Value)
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, api.KeyOperationResult{
			KeyID: keyID(r, res.Name, res.Version), Algorithm: alg.String(),
			Value: res.Value, IV: res.IV, Tag: res.Tag, AAD: res.AAD,
		})
	}
}
