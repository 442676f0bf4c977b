package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/crypto/jwa"
)

// MaxRandomBytes is the largest count GET random bytes accepts.
const MaxRandomBytes = 128

// RandomBytes returns n random bytes from the pool's generator.
func (p *Pool) RandomBytes(ctx context.Context, c *Caller, n int) ([]byte, error) {
	if err := p.authorize(ctx, c, authz.RNG, authz.RootScope); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxRandomBytes {
		return nil, badParameter("count must be between 1 and %d.", MaxRandomBytes)
	}
	b := make([]byte, n)
	rand.Read(b)
	return b, nil
}

// usable checks that version v may serve op now: enabled, op listed in its
// key_ops, and inside its nbf/exp window unless op is one that Key Vault
// allows outside it (decrypt, unwrap and verify, so data protected before
// expiry stays recoverable).
func (p *Pool) usable(v *versionEntry, op KeyOp) error {
	if !v.attrs.Enabled {
		return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "KeyDisabled",
			Message: fmt.Sprintf("Operation %s is not allowed on a disabled key.", op)}
	}
	if !containsOp(v.ops, op) {
		return keyOperationForbidden(op.String())
	}
	if op == OpDecrypt || op == OpUnwrapKey || op == OpVerify {
		return nil
	}
	now := p.now()
	if v.attrs.NotBefore != nil && now.Before(*v.attrs.NotBefore) {
		return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "KeyNotYetValid",
			Message: fmt.Sprintf("Operation %s is not allowed before the key's activation time (nbf).", op)}
	}
	if v.attrs.Expires != nil && !now.Before(*v.attrs.Expires) {
		return &Error{Kind: KindForbidden, Code: "Forbidden", Inner: "KeyExpired",
			Message: fmt.Sprintf("Operation %s is not allowed on an expired key.", op)}
	}
	return nil
}

// cryptoError translates the algorithm layer's errors. Decryption failures
// stay uniform so they cannot serve as a padding or tag oracle.
func cryptoError(err error, alg fmt.Stringer, v *versionEntry) error {
	switch {
	case errors.Is(err, jwa.ErrAlgorithmMismatch):
		return badParameter("Algorithm %s is not supported for key type %s of size %d.", alg, v.key.Type(), v.key.Bits())
	case errors.Is(err, jwa.ErrInvalidInput):
		return badParameter("%s", strings.TrimPrefix(err.Error(), "jwa: invalid input: "))
	case errors.Is(err, jwa.ErrDecrypt):
		return badParameter("Decryption failed.")
	}
	return fmt.Errorf("hsm: %s with key %s: %w", alg, v.id, err)
}

// prepare resolves the key version for a cryptographic operation and checks
// authorization and usability. It touches no storage.
func (p *Pool) prepare(ctx context.Context, c *Caller, ref KeyRef, action authz.Action, op KeyOp, alg fmt.Stringer) (*keyEntry, *versionEntry, error) {
	ev := audit.FromContext(ctx)
	ev.KeyName, ev.KeyVersion, ev.Algorithm = ref.Name.String(), ref.Version, alg.String()
	if err := p.authorize(ctx, c, action, authz.KeyScope(ref.Name.String())); err != nil {
		return nil, nil, err
	}
	e, v, err := p.resolve(ref)
	if err != nil {
		return nil, nil, err
	}
	ev.KeyName, ev.KeyVersion, ev.KeyType = e.name, v.id, v.key.Type().String()
	if err := p.usable(v, op); err != nil {
		return nil, nil, err
	}
	return e, v, nil
}

// Encrypt encrypts in.Value with a key version.
func (p *Pool) Encrypt(ctx context.Context, c *Caller, ref KeyRef, alg EncryptionAlgorithm, in EncryptInput) (*CryptoResult, error) {
	e, v, err := p.prepare(ctx, c, ref, authz.KeysEncrypt, OpEncrypt, alg)
	if err != nil {
		return nil, err
	}
	if err := jwa.CheckEncryption(alg, v.key, false); err != nil {
		return nil, cryptoError(err, alg, v)
	}
	s, err := jwa.Encrypt(alg, v.key, in.Value, in.IV, in.AAD)
	if err != nil {
		return nil, cryptoError(err, alg, v)
	}
	return &CryptoResult{Name: e.name, Version: v.id, Value: s.Ciphertext, IV: s.IV, Tag: s.Tag, AAD: s.AAD}, nil
}

// Decrypt decrypts in.Value with a key version.
func (p *Pool) Decrypt(ctx context.Context, c *Caller, ref KeyRef, alg EncryptionAlgorithm, in EncryptInput) (*CryptoResult, error) {
	e, v, err := p.prepare(ctx, c, ref, authz.KeysDecrypt, OpDecrypt, alg)
	if err != nil {
		return nil, err
	}
	if err := jwa.CheckEncryption(alg, v.key, false); err != nil {
		return nil, cryptoError(err, alg, v)
	}
	pt, err := jwa.Decrypt(alg, v.key, in.Value, in.IV, in.AAD, in.Tag)
	if err != nil {
		return nil, cryptoError(err, alg, v)
	}
	return &CryptoResult{Name: e.name, Version: v.id, Value: pt}, nil
}

// WrapKey wraps a key with a key version.
func (p *Pool) WrapKey(ctx context.Context, c *Caller, ref KeyRef, alg EncryptionAlgorithm, key []byte) (*CryptoResult, error) {
	e, v, err := p.prepare(ctx, c, ref, authz.KeysWrap, OpWrapKey, alg)
	if err != nil {
		return nil, err
	}
	if err := jwa.CheckEncryption(alg, v.key, true); err != nil {
		return nil, cryptoError(err, alg, v)
	}
	out, err := jwa.Wrap(alg, v.key, key)
	if err != nil {
		return nil, cryptoError(err, alg, v)
	}
	return &CryptoResult{Name: e.name, Version: v.id, Value: out}, nil
}

// UnwrapKey unwraps a key with a key version.
func (p *Pool) UnwrapKey(ctx context.Context, c *Caller, ref KeyRef, alg EncryptionAlgorithm, wrapped []byte) (*CryptoResult, error) {
	e, v, err := p.prepare(ctx, c, ref, authz.KeysUnwrap, OpUnwrapKey, alg)
	if err != nil {
		return nil, err
	}
	if err := jwa.CheckEncryption(alg, v.key, true); err != nil {
		return nil, cryptoError(err, alg, v)
	}
	out, err := jwa.Unwrap(alg, v.key, wrapped)
	if err != nil {
		return nil, cryptoError(err, alg, v)
	}
	return &CryptoResult{Name: e.name, Version: v.id, Value: out}, nil
}

// Sign signs a digest with a key version.
func (p *Pool) Sign(ctx context.Context, c *Caller, ref KeyRef, alg SignatureAlgorithm, digest []byte) (*CryptoResult, error) {
	e, v, err := p.prepare(ctx, c, ref, authz.KeysSign, OpSign, alg)
	if err != nil {
		return nil, err
	}
	if err := jwa.CheckSignature(alg, v.key.Type(), v.key.Curve()); err != nil {
		return nil, cryptoError(err, alg, v)
	}
	sig, err := jwa.Sign(alg, v.key, digest)
	if err != nil {
		return nil, cryptoError(err, alg, v)
	}
	return &CryptoResult{Name: e.name, Version: v.id, Value: sig}, nil
}

// Verify checks a signature over a digest with a key version.
func (p *Pool) Verify(ctx context.Context, c *Caller, ref KeyRef, alg SignatureAlgorithm, digest, sig []byte) (bool, error) {
	_, v, err := p.prepare(ctx, c, ref, authz.KeysVerify, OpVerify, alg)
	if err != nil {
		return false, err
	}
	if err := jwa.CheckSignature(alg, v.key.Type(), v.key.Curve()); err != nil {
		return false, cryptoError(err, alg, v)
	}
	ok, err := jwa.Verify(alg, v.key, digest, sig)
	if err != nil {
		return false, cryptoError(err, alg, v)
	}
	return ok, nil
}
