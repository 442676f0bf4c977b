package pkcs11seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/cofferkms/coffer/internal/seal"
	"github.com/miekg/pkcs11"
)

// keySize is the size of the token's AES key: AES-256.
const keySize = 32

// Config names the token and key of a seal.
type Config struct {
	// Library is the path of the token's PKCS#11 module.
	Library string
	// Slot or TokenLabel picks the token: exactly one is set. A label
	// survives the slot renumbering some tokens do on reconnect.
	Slot       *uint
	TokenLabel string
	// PIN is the token's user PIN. Config prints without it.
	PIN string
	// KeyLabel is the CKA_LABEL of the AES-256 secret key.
	KeyLabel string
	// Create generates the key when the token has none with KeyLabel.
	Create bool
}

// Format prints c without the PIN, so a Config in a message or a log line
// cannot leak it, whatever the verb.
func (c Config) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "{Library:%s Slot:%s TokenLabel:%q PIN:%s KeyLabel:%q Create:%t}",
		c.Library, c.slotString(), c.TokenLabel, c.pinString(), c.KeyLabel, c.Create)
}

// LogValue logs c without the PIN; without it, a JSON log handler would
// marshal the field.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("library", c.Library),
		slog.String("slot", c.slotString()),
		slog.String("tokenLabel", c.TokenLabel),
		slog.String("pin", c.pinString()),
		slog.String("keyLabel", c.KeyLabel),
		slog.Bool("create", c.Create))
}

func (c Config) slotString() string {
	if c.Slot == nil {
		return "none"
	}
	return strconv.FormatUint(uint64(*c.Slot), 10)
}

func (c Config) pinString() string {
	if c.PIN == "" {
		return "unset"
	}
	return "redacted"
}

// Seal is a seal.NodeSeal backed by a PKCS#11 token. It is safe for
// concurrent use.
type Seal struct {
	mod      *module
	pin      keymat.Secret
	slotSel  *uint  // the configured slot, or nil
	tokenSel string // the configured token label, or ""
	keyLabel string
	label    string // the token's label
	tokenID  string // the token's label and serial number, to know it again

	mu      sync.Mutex
	closed  bool
	slot    uint
	session pkcs11.SessionHandle
	key     pkcs11.ObjectHandle
}

var _ seal.NodeSeal = (*Seal)(nil)

var errClosed = errors.New("pkcs11seal: the seal is closed")

// Open loads the module, finds the token, logs in and finds the key, or
// with cfg.Create generates it if the token has none. Every failure says
// what to fix, and none is seal.ErrSealed.
func Open(cfg Config) (*Seal, error) {
	switch {
	case cfg.Library == "":
		return nil, errors.New("pkcs11seal: no PKCS#11 library configured")
	case (cfg.Slot == nil) == (cfg.TokenLabel == ""):
		return nil, errors.New("pkcs11seal: set exactly one of the slot and the token label")
	case cfg.KeyLabel == "":
		return nil, errors.New("pkcs11seal: no key label configured")
	case cfg.PIN == "":
		return nil, errors.New("pkcs11seal: no user PIN configured")
	}
	mod, err := loadModule(cfg.Library)
	if err != nil {
		return nil, err
	}
	s := &Seal{
		mod:      mod,
		pin:      keymat.NewSecret([]byte(cfg.PIN)),
		slotSel:  cfg.Slot,
		tokenSel: cfg.TokenLabel,
		keyLabel: cfg.KeyLabel,
	}
	if err := s.open(cfg.Create); err != nil {
		s.pin.Wipe()
		mod.release() // the error that matters is err
		return nil, err
	}
	return s, nil
}

// open finds the token, opens a session, logs in and finds the key.
func (s *Seal) open(create bool) error {
	slot, ti, err := s.findToken()
	if err != nil {
		return err
	}
	s.label = ti.Label
	s.tokenID = ti.SerialNumber + "/" + ti.Label
	if err := s.checkMechanism(slot); err != nil {
		return err
	}
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if create {
		// Only a seal that may make its key needs to write: a
		// write-protected token refuses read-write sessions.
		flags |= pkcs11.CKF_RW_SESSION
	}
	sh, err := s.mod.ctx.OpenSession(slot, flags)
	if err != nil {
		return fmt.Errorf("pkcs11seal: opening a session on token %q: %w", s.label, err)
	}
	if err := s.mod.login(sh, s.tokenID, s.pin); err != nil {
		s.mod.ctx.CloseSession(sh)
		return loginError(err, s.label)
	}
	key, err := s.findKey(sh, create)
	if err != nil {
		s.mod.logout(sh, s.tokenID)
		s.mod.ctx.CloseSession(sh)
		return err
	}
	s.slot, s.session, s.key = slot, sh, key
	return nil
}

// reconnect replaces a session the token dropped, logging in again. s.mu
// is held.
func (s *Seal) reconnect() error {
	s.mod.ctx.CloseSession(s.session) // most likely gone already
	slot, ti, err := s.findToken()
	if err != nil {
		return err
	}
	if id := ti.SerialNumber + "/" + ti.Label; id != s.tokenID {
		return fmt.Errorf("pkcs11seal: the token found on reconnecting (%q, serial %q) is not token %q", ti.Label, ti.SerialNumber, s.label)
	}
	sh, err := s.mod.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11seal: opening a session on token %q: %w", s.label, err)
	}
	if err := s.mod.relogin(sh, s.pin); err != nil {
		s.mod.ctx.CloseSession(sh)
		return loginError(err, s.label)
	}
	key, err := s.findKey(sh, false)
	if err != nil {
		s.mod.ctx.CloseSession(sh)
		return err
	}
	s.slot, s.session, s.key = slot, sh, key
	return nil
}

// findToken finds the configured token among the initialized ones.
func (s *Seal) findToken() (uint, pkcs11.TokenInfo, error) {
	ctx := s.mod.ctx
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("pkcs11seal: listing the slots of %s: %w", s.mod.path, err)
	}
	var (
		labels  []string // of every initialized token, for the message
		matches []uint
		match   pkcs11.TokenInfo
	)
	for _, sl := range slots {
		ti, err := ctx.GetTokenInfo(sl)
		if err != nil {
			continue // a token that cannot be asked cannot be the one
		}
		ti.Label = strings.TrimRight(ti.Label, " \x00")
		ti.SerialNumber = strings.TrimRight(ti.SerialNumber, " \x00")
		initialized := ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0
		if s.slotSel != nil && sl == *s.slotSel {
			if !initialized {
				return 0, ti, fmt.Errorf("pkcs11seal: the token in slot %d is not initialized", sl)
			}
			return sl, ti, nil
		}
		if !initialized {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q (slot %d)", ti.Label, sl))
		if s.slotSel == nil && ti.Label == s.tokenSel {
			matches = append(matches, sl)
			match = ti
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], match, nil
	case 0:
	default:
		return 0, match, fmt.Errorf("pkcs11seal: more than one token is labelled %q (slots %v); choose one by slot", s.tokenSel, matches)
	}
	want := fmt.Sprintf("labelled %q", s.tokenSel)
	if s.slotSel != nil {
		want = fmt.Sprintf("in slot %d", *s.slotSel)
	}
	if len(labels) == 0 {
		return 0, match, fmt.Errorf("pkcs11seal: no token %s: %s has no initialized tokens", want, s.mod.path)
	}
	slices.Sort(labels)
	return 0, match, fmt.Errorf("pkcs11seal: no token %s; the tokens are %s", want, strings.Join(labels, ", "))
}

// checkMechanism makes sure the token can do AES-GCM both ways, so a
// token without it fails at Open and not at the first Unwrap, where it
// would look like a broken token.
func (s *Seal) checkMechanism(slot uint) error {
	mi, err := s.mod.ctx.GetMechanismInfo(slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, nil)})
	const both = pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT
	if isCode(err, pkcs11.CKR_MECHANISM_INVALID) || err == nil && mi.Flags&both != both {
		return fmt.Errorf("pkcs11seal: token %q does not offer AES-GCM encryption and decryption (CKM_AES_GCM), which the seal needs", s.label)
	}
	if err != nil {
		return fmt.Errorf("pkcs11seal: asking token %q about AES-GCM: %w", s.label, err)
	}
	return nil
}

// loginError turns a failed login into a message that names the token and
// what to do, and never the PIN.
func loginError(err error, label string) error {
	switch {
	case errors.Is(err, errPINDiffers):
		return fmt.Errorf("pkcs11seal: PKCS#11 login failed: token %q is %w", label, err)
	case isCode(err, pkcs11.CKR_PIN_INCORRECT):
		return fmt.Errorf("pkcs11seal: PKCS#11 login failed: incorrect PIN for token %q", label)
	case isCode(err, pkcs11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("pkcs11seal: PKCS#11 login failed: incorrect PIN for token %q (its length is out of the token's range)", label)
	case isCode(err, pkcs11.CKR_PIN_LOCKED):
		return fmt.Errorf("pkcs11seal: PKCS#11 login failed: the user PIN of token %q is locked; the token's security officer must reset it", label)
	case isCode(err, pkcs11.CKR_PIN_EXPIRED):
		return fmt.Errorf("pkcs11seal: PKCS#11 login failed: the user PIN of token %q has expired; set a new one", label)
	case isCode(err, pkcs11.CKR_USER_PIN_NOT_INITIALIZED):
		return fmt.Errorf("pkcs11seal: PKCS#11 login failed: token %q has no user PIN set", label)
	}
	return fmt.Errorf("pkcs11seal: PKCS#11 login to token %q failed: %w", label, err)
}

// keyTemplate matches the seal's key.
func (s *Seal) keyTemplate() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, s.keyLabel),
	}
}

// findKey finds the one AES key with the key label on session sh, or with
// create generates it if there is none.
func (s *Seal) findKey(sh pkcs11.SessionHandle, create bool) (pkcs11.ObjectHandle, error) {
	found, err := s.searchKeys(sh)
	if err != nil {
		return 0, err
	}
	switch {
	case len(found) > 1:
		return 0, fmt.Errorf("pkcs11seal: token %q holds more than one AES key labelled %q; refusing to guess which seals the node", s.label, s.keyLabel)
	case len(found) == 1:
		return found[0], s.checkKey(sh, found[0])
	case !create:
		return 0, fmt.Errorf("pkcs11seal: no AES key labelled %q on token %q; start once with key creation enabled or create it with pkcs11-tool", s.keyLabel, s.label)
	}
	tmpl := append(s.keyTemplate(),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		// The key seals the node and does nothing else.
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	)
	key, err := s.mod.ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tmpl)
	if err != nil {
		return 0, fmt.Errorf("pkcs11seal: creating AES key %q on token %q: %w", s.keyLabel, s.label, err)
	}
	// Another node sharing the token may have made one at the same
	// moment. Two keys under one label would refuse every later start,
	// so this one goes again, before anything is wrapped under it.
	found, err = s.searchKeys(sh)
	if err != nil {
		return 0, err
	}
	if len(found) != 1 {
		s.mod.ctx.DestroyObject(sh, key)
		return 0, fmt.Errorf("pkcs11seal: another process created an AES key labelled %q on token %q at the same time; start again to use it", s.keyLabel, s.label)
	}
	return key, s.checkKey(sh, key)
}

// searchKeys returns up to two keys matching keyTemplate: two are enough
// to know the label is ambiguous.
func (s *Seal) searchKeys(sh pkcs11.SessionHandle) ([]pkcs11.ObjectHandle, error) {
	ctx := s.mod.ctx
	if err := ctx.FindObjectsInit(sh, s.keyTemplate()); err != nil {
		return nil, fmt.Errorf("pkcs11seal: searching token %q for key %q: %w", s.label, s.keyLabel, err)
	}
	found, _, err := ctx.FindObjects(sh, 2)
	ctx.FindObjectsFinal(sh)
	if err != nil {
		return nil, fmt.Errorf("pkcs11seal: searching token %q for key %q: %w", s.label, s.keyLabel, err)
	}
	return found, nil
}

// checkKey refuses a key that is not AES-256 or may not encrypt and
// decrypt: the first would seal under a weaker key than promised, and the
// second would fail at the first Unwrap, looking like a broken token.
func (s *Seal) checkKey(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle) error {
	attrs, err := s.mod.ctx.GetAttributeValue(sh, key, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, nil),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, nil),
	})
	if err != nil {
		return fmt.Errorf("pkcs11seal: reading the attributes of key %q on token %q: %w", s.keyLabel, s.label, err)
	}
	if n, ok := attrULong(attrs[0].Value); !ok || n != keySize {
		return fmt.Errorf("pkcs11seal: key %q on token %q is not an AES-256 key (CKA_VALUE_LEN %x); the seal needs one", s.keyLabel, s.label, attrs[0].Value)
	}
	if !attrBool(attrs[1].Value) || !attrBool(attrs[2].Value) {
		return fmt.Errorf("pkcs11seal: key %q on token %q may not be used to encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT); the seal needs both", s.keyLabel, s.label)
	}
	return nil
}

// attrULong decodes a CK_ULONG attribute value, which is in the host's
// byte order and size.
func attrULong(b []byte) (uint64, bool) {
	switch len(b) {
	case 8:
		return binary.NativeEndian.Uint64(b), true
	case 4:
		return uint64(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

// attrBool decodes a CK_BBOOL attribute value.
func attrBool(b []byte) bool { return len(b) == 1 && b[0] != 0 }

// Wrap encrypts plaintext (at most 4096 bytes) under the token's key,
// binding aad.
func (s *Seal) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(plaintext) > maxPlaintext {
		return nil, fmt.Errorf("pkcs11seal: cannot wrap %d bytes: the seal wraps at most %d", len(plaintext), maxPlaintext)
	}
	iv := make([]byte, ivSize)
	rand.Read(iv) // never fails (Go 1.24+)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var ct, used []byte
	err := s.withSession(func() (err error) {
		ct, used, err = s.gcm(true, iv, aad, plaintext)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11seal: wrapping on token %q: %w", s.label, err)
	}
	if len(used) != ivSize || len(ct) != len(plaintext)+tagSize {
		return nil, fmt.Errorf("pkcs11seal: token %q returned a malformed AES-GCM result (%d-byte IV, %d bytes for %d)", s.label, len(used), len(ct), len(plaintext))
	}
	return appendBlob(make([]byte, 0, headerSize+len(ct)), used, ct), nil
}

// Unwrap decrypts a blob Wrap made with the same aad. Every blob that
// does not open gives an error wrapping seal.ErrSealed; see the package
// doc for how that is told apart from a broken token.
func (s *Seal) Unwrap(ctx context.Context, blob, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	iv, ct, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var pt []byte
	err = s.withSession(func() (err error) {
		pt, _, err = s.gcm(false, iv, aad, ct)
		return err
	})
	if err == nil {
		return pt, nil
	}
	if !isDecryptFailure(err) {
		return nil, fmt.Errorf("pkcs11seal: unwrapping on token %q: %w", s.label, err)
	}
	if terr := s.selfTest(); terr != nil {
		return nil, fmt.Errorf("pkcs11seal: token %q failed to decrypt (%v) and fails a round trip of its own: %w", s.label, err, terr)
	}
	return nil, seal.ErrSealed
}

// decryptError marks an error of C_Decrypt itself: only there can a
// failure mean that the blob does not open.
type decryptError struct{ err error }

func (e decryptError) Error() string { return e.err.Error() }
func (e decryptError) Unwrap() error { return e.err }

// isDecryptFailure reports whether err is C_Decrypt's refusal of the
// data, as opposed to a session, device or usage error. GENERAL_ERROR and
// FUNCTION_FAILED are what some tokens (SoftHSM2) return for a tag that
// does not match; Unwrap checks the token before believing them.
func isDecryptFailure(err error) bool {
	var de decryptError
	if !errors.As(err, &de) {
		return false
	}
	for _, code := range []uint{
		pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		pkcs11.CKR_DATA_INVALID, pkcs11.CKR_DATA_LEN_RANGE,
		pkcs11.CKR_FUNCTION_FAILED, pkcs11.CKR_GENERAL_ERROR,
	} {
		if isCode(err, code) {
			return true
		}
	}
	return false
}

// selfTest wraps and unwraps a random value with the seal's key, to tell
// a blob that does not open from a token that cannot decrypt. s.mu is
// held.
func (s *Seal) selfTest() error {
	probe := make([]byte, keySize)
	iv := make([]byte, ivSize)
	rand.Read(probe)
	rand.Read(iv)
	aad := []byte("pkcs11seal self-test")
	ct, used, err := s.gcm(true, iv, aad, probe)
	if err != nil {
		return err
	}
	if len(used) != ivSize {
		return fmt.Errorf("the token used a %d-byte IV", len(used))
	}
	pt, _, err := s.gcm(false, used, aad, ct)
	if err != nil {
		return err
	}
	if !bytes.Equal(pt, probe) {
		return errors.New("the round trip gave other bytes")
	}
	return nil
}

// withSession runs f, and if the token lost the session, the login or the
// key handle, reconnects and runs f once more. s.mu is held.
func (s *Seal) withSession(f func() error) error {
	err := f()
	if !sessionLost(err) {
		return err
	}
	if rerr := s.reconnect(); rerr != nil {
		return fmt.Errorf("the token dropped the session (%v), and reconnecting failed: %w", err, rerr)
	}
	return f()
}

// sessionLost reports whether err means the session, or what it holds,
// is gone, so that a new session could succeed. OPERATION_ACTIVE is here
// because a new session also clears an operation left unfinished.
func sessionLost(err error) bool {
	if err == nil {
		return false
	}
	for _, code := range []uint{
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_OBJECT_HANDLE_INVALID,
		pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_OPERATION_ACTIVE,
	} {
		if isCode(err, code) {
			return true
		}
	}
	return false
}

// gcm runs one single-part AES-GCM operation with the seal's key and
// returns its output and, when encrypting, the IV the token used. s.mu is
// held.
func (s *Seal) gcm(encrypt bool, iv, aad, in []byte) (out, usedIV []byte, err error) {
	params := pkcs11.NewGCMParams(iv, aad, tagSize*8)
	defer params.Free()
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
	ctx := s.mod.ctx
	if encrypt {
		if err := ctx.EncryptInit(s.session, mech, s.key); err != nil {
			return nil, nil, err
		}
		out, err := ctx.Encrypt(s.session, in)
		if err != nil {
			return nil, nil, err
		}
		return out, params.IV(), nil
	}
	if err := ctx.DecryptInit(s.session, mech, s.key); err != nil {
		return nil, nil, err
	}
	out, err = ctx.Decrypt(s.session, in)
	if err != nil {
		return nil, nil, decryptError{err}
	}
	return out, nil, nil
}

// Describe names the token and the key, never the PIN.
func (s *Seal) Describe() string {
	return fmt.Sprintf("pkcs11 token %q key %q", s.label, s.keyLabel)
}

// Close logs out (unless another Seal in this process still uses the
// token), closes the session and, with the module's last Seal, finalizes
// and unloads the module. Wrap and Unwrap fail afterwards; closing again
// does nothing.
func (s *Seal) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.mod.logout(s.session, s.tokenID); err != nil {
		errs = append(errs, fmt.Errorf("pkcs11seal: logging out of token %q: %w", s.label, err))
	}
	if err := s.mod.ctx.CloseSession(s.session); err != nil && !sessionLost(err) {
		errs = append(errs, fmt.Errorf("pkcs11seal: closing the session on token %q: %w", s.label, err))
	}
	s.pin.Wipe()
	errs = append(errs, s.mod.release())
	return errors.Join(errs...)
}
