package pkcs11seal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/cofferkms/coffer/internal/seal"
	"github.com/miekg/pkcs11"
)

// Config names the token and key of a seal.
type Config struct {
	// Library is the path of the token's PKCS#11 module.
	Library string
	// Slot or TokenLabel picks the token: exactly one is set.
	Slot       *uint
	TokenLabel string
	// PIN is the token's user PIN.
	PIN string
	// KeyLabel is the CKA_LABEL of the AES-256 secret key.
	KeyLabel string
	// Create makes the key when the token has none with that label.
	Create bool
}

// Seal is a seal.NodeSeal backed by a PKCS#11 token. It is safe for
// concurrent use: calls share one logged-in session under a mutex (token
// operations on a 32-byte key are fast, and many tokens serialize a
// session anyway).
type Seal struct {
	cfg   Config
	label string // the token's label, for messages

	mu      sync.Mutex
	ctx     *pkcs11.Ctx // nil once closed
	slot    uint
	session pkcs11.SessionHandle
	key     pkcs11.ObjectHandle
}

var _ seal.NodeSeal = (*Seal)(nil)

var errClosed = errors.New("pkcs11seal: the seal is closed")

// Open loads the module, finds the token, logs in and finds (or, with
// Create, makes) the key. Every failure says what to fix.
func Open(cfg Config) (*Seal, error) {
	if cfg.Library == "" {
		return nil, errors.New("pkcs11seal: no PKCS#11 library configured")
	}
	if (cfg.Slot == nil) == (cfg.TokenLabel == "") {
		return nil, errors.New("pkcs11seal: set exactly one of the slot and the token label")
	}
	if cfg.KeyLabel == "" {
		return nil, errors.New("pkcs11seal: no key label configured")
	}
	if _, err := os.Stat(cfg.Library); err != nil {
		return nil, fmt.Errorf("pkcs11seal: PKCS#11 library %s: %w", cfg.Library, errors.Unwrap(err))
	}
	ctx := pkcs11.New(cfg.Library)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11seal: %s is not a PKCS#11 module (it could not be loaded or has no C_GetFunctionList)", cfg.Library)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("pkcs11seal: initializing %s: %w", cfg.Library, err)
	}
	s := &Seal{cfg: cfg, ctx: ctx}
	if err := s.open(); err != nil {
		ctx.Finalize()
		ctx.Destroy()
		return nil, err
	}
	return s, nil
}

// open finds the token, logs in and finds the key.
func (s *Seal) open() error {
	slot, label, err := s.findToken()
	if err != nil {
		return err
	}
	s.slot, s.label = slot, label
	if err := s.login(); err != nil {
		return err
	}
	key, err := s.findKey()
	if err != nil {
		s.ctx.Logout(s.session)
		s.ctx.CloseSession(s.session)
		return err
	}
	s.key = key
	return nil
}

func (s *Seal) findToken() (uint, string, error) {
	slots, err := s.ctx.GetSlotList(true)
	if err != nil {
		return 0, "", fmt.Errorf("pkcs11seal: listing the slots of %s: %w", s.cfg.Library, err)
	}
	var labels []string
	for _, sl := range slots {
		ti, err := s.ctx.GetTokenInfo(sl)
		if err != nil {
			continue
		}
		label := strings.TrimRight(ti.Label, " \x00")
		labels = append(labels, fmt.Sprintf("%q (slot %d)", label, sl))
		if s.cfg.Slot != nil && sl == *s.cfg.Slot {
			return sl, label, nil
		}
		if s.cfg.Slot == nil && label == s.cfg.TokenLabel {
			return sl, label, nil
		}
	}
	want := fmt.Sprintf("labelled %q", s.cfg.TokenLabel)
	if s.cfg.Slot != nil {
		want = fmt.Sprintf("in slot %d", *s.cfg.Slot)
	}
	if len(labels) == 0 {
		return 0, "", fmt.Errorf("pkcs11seal: no token %s: %s has no initialized tokens", want, s.cfg.Library)
	}
	slices.Sort(labels)
	return 0, "", fmt.Errorf("pkcs11seal: no token %s; the tokens are %s", want, strings.Join(labels, ", "))
}

// login opens a read-write session and logs the user in.
func (s *Seal) login() error {
	sh, err := s.ctx.OpenSession(s.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11seal: opening a session on token %q: %w", s.label, err)
	}
	if err := s.ctx.Login(sh, pkcs11.CKU_USER, s.cfg.PIN); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		s.ctx.CloseSession(sh)
		switch {
		case isCode(err, pkcs11.CKR_PIN_INCORRECT):
			return fmt.Errorf("pkcs11seal: PKCS#11 login failed: incorrect PIN for token %q", s.label)
		case isCode(err, pkcs11.CKR_PIN_LOCKED):
			return fmt.Errorf("pkcs11seal: PKCS#11 login failed: the user PIN of token %q is locked", s.label)
		case isCode(err, pkcs11.CKR_USER_PIN_NOT_INITIALIZED):
			return fmt.Errorf("pkcs11seal: PKCS#11 login failed: token %q has no user PIN set", s.label)
		}
		return fmt.Errorf("pkcs11seal: PKCS#11 login to token %q failed: %w", s.label, err)
	}
	s.session = sh
	return nil
}

func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

func (s *Seal) keyTemplate() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, s.cfg.KeyLabel),
	}
}

func (s *Seal) findKey() (pkcs11.ObjectHandle, error) {
	if err := s.ctx.FindObjectsInit(s.session, s.keyTemplate()); err != nil {
		return 0, fmt.Errorf("pkcs11seal: searching token %q: %w", s.label, err)
	}
	found, _, err := s.ctx.FindObjects(s.session, 2)
	s.ctx.FindObjectsFinal(s.session)
	if err != nil {
		return 0, fmt.Errorf("pkcs11seal: searching token %q: %w", s.label, err)
	}
	switch {
	case len(found) > 1:
		return 0, fmt.Errorf("pkcs11seal: token %q holds more than one AES key labelled %q; refusing to guess", s.label, s.cfg.KeyLabel)
	case len(found) == 1:
		return found[0], nil
	case !s.cfg.Create:
		return 0, fmt.Errorf("pkcs11seal: no AES key labelled %q on token %q; start once with key creation enabled (--pkcs11-create-key) or create it with pkcs11-tool", s.cfg.KeyLabel, s.label)
	}
	tmpl := append(s.keyTemplate(),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	)
	key, err := s.ctx.GenerateKey(s.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tmpl)
	if err != nil {
		return 0, fmt.Errorf("pkcs11seal: creating AES key %q on token %q: %w", s.cfg.KeyLabel, s.label, err)
	}
	return key, nil
}

// Blob layout (see the package doc).
const (
	blobMagic   = 'P'
	blobVersion = 1
	nonceSize   = 12
	tagSize     = 16
	headerSize  = 2 + nonceSize
)

var errBlob = fmt.Errorf("%w: not a PKCS#11 seal blob", seal.ErrSealed)

// parseBlob splits a blob into nonce and ciphertext.
func parseBlob(b []byte) (nonce, ct []byte, err error) {
	if len(b) < headerSize+tagSize || b[0] != blobMagic || b[1] != blobVersion {
		return nil, nil, errBlob
	}
	return b[2:headerSize], b[headerSize:], nil
}

// Wrap encrypts plaintext under the token's key, binding aad.
func (s *Seal) Wrap(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, nonceSize)
	rand.Read(nonce) // never fails (Go 1.24+)
	ct, err := s.crypt(true, nonce, aad, plaintext)
	if err != nil {
		return nil, fmt.Errorf("pkcs11seal: wrapping on token %q: %w", s.label, err)
	}
	out := make([]byte, 0, headerSize+len(ct))
	out = append(out, blobMagic, blobVersion)
	out = append(out, nonce...)
	return append(out, ct...), nil
}

// Unwrap decrypts a blob Wrap made with the same aad.
func (s *Seal) Unwrap(_ context.Context, blob, aad []byte) ([]byte, error) {
	nonce, ct, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}
	pt, err := s.crypt(false, nonce, aad, ct)
	if err == nil {
		return pt, nil
	}
	for _, code := range []uint{pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		pkcs11.CKR_DATA_LEN_RANGE, pkcs11.CKR_FUNCTION_FAILED, pkcs11.CKR_GENERAL_ERROR} {
		if isCode(err, code) {
			return nil, seal.ErrSealed
		}
	}
	return nil, fmt.Errorf("pkcs11seal: unwrapping on token %q: %w", s.label, err)
}

// crypt runs one GCM operation, logging in again once if the token lost
// the session (a token reset or a network HSM reconnect).
func (s *Seal) crypt(encrypt bool, nonce, aad, in []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return nil, errClosed
	}
	out, err := s.cryptLocked(encrypt, nonce, aad, in)
	if isCode(err, pkcs11.CKR_SESSION_HANDLE_INVALID) || isCode(err, pkcs11.CKR_SESSION_CLOSED) ||
		isCode(err, pkcs11.CKR_USER_NOT_LOGGED_IN) || isCode(err, pkcs11.CKR_OBJECT_HANDLE_INVALID) || isCode(err, pkcs11.CKR_KEY_HANDLE_INVALID) {
		s.ctx.CloseSession(s.session)
		if rerr := s.open(); rerr != nil {
			return nil, rerr
		}
		out, err = s.cryptLocked(encrypt, nonce, aad, in)
	}
	return out, err
}

func (s *Seal) cryptLocked(encrypt bool, nonce, aad, in []byte) ([]byte, error) {
	params := pkcs11.NewGCMParams(nonce, aad, tagSize*8)
	defer params.Free()
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
	if encrypt {
		if err := s.ctx.EncryptInit(s.session, mech, s.key); err != nil {
			return nil, err
		}
		return s.ctx.Encrypt(s.session, in)
	}
	if err := s.ctx.DecryptInit(s.session, mech, s.key); err != nil {
		return nil, err
	}
	return s.ctx.Decrypt(s.session, in)
}

// Describe names the token and key; never the PIN.
func (s *Seal) Describe() string {
	return fmt.Sprintf("pkcs11 token %q key %q (%s)", s.label, s.cfg.KeyLabel, s.cfg.Library)
}

// Close logs out, closes the session and unloads the module.
func (s *Seal) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return nil
	}
	s.ctx.Logout(s.session)
	s.ctx.CloseSession(s.session)
	err := s.ctx.Finalize()
	s.ctx.Destroy()
	s.ctx = nil
	s.cfg.PIN = ""
	if err != nil {
		return fmt.Errorf("pkcs11seal: finalizing %s: %w", s.cfg.Library, err)
	}
	return nil
}
