package pkcs11seal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/miekg/pkcs11"
)

// module is one PKCS#11 module loaded and initialized in this process.
type module struct {
	path   string // as configured, for messages
	key    string // key in loaded.m
	ctx    *pkcs11.Ctx
	refs   int
	logins map[string]*login // by token ID (see Seal.tokenID)
}

// login is the login this process holds on one token.
type login struct {
	refs int // Seals using it
	pin  keymat.Secret
}

// loaded holds the modules initialized in this process. It is package
// state because what it tracks is process state: C_Initialize may succeed
// only once per process until C_Finalize, and a token's login belongs to
// the process, not to a session. Every field of every module is guarded
// by its mutex.
var loaded = struct {
	sync.Mutex
	m map[string]*module
}{m: make(map[string]*module)}

// loadModule loads and initializes the module at path, or takes another
// reference to it if this process already has.
func loadModule(path string) (*module, error) {
	key := path
	if strings.ContainsRune(path, filepath.Separator) {
		// Without a separator dlopen searches the library path, and
		// the name is all there is to check.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pkcs11seal: PKCS#11 library %s does not exist", path)
		} else if err != nil {
			return nil, fmt.Errorf("pkcs11seal: PKCS#11 library %s: %w", path, errors.Unwrap(err))
		}
		// One module reached by two names is still one module.
		if real, err := filepath.EvalSymlinks(path); err == nil {
			key = real
		}
	}
	loaded.Lock()
	defer loaded.Unlock()
	if m := loaded.m[key]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11seal: %s is not a PKCS#11 module: it could not be loaded or has no C_GetFunctionList", path)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		if isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			// Someone else in this process initialized it and may
			// finalize it at any time.
			return nil, fmt.Errorf("pkcs11seal: PKCS#11 module %s is already initialized in this process by other code", path)
		}
		return nil, fmt.Errorf("pkcs11seal: initializing PKCS#11 module %s: %w", path, err)
	}
	m := &module{path: path, key: key, ctx: ctx, refs: 1, logins: make(map[string]*login)}
	loaded.m[key] = m
	return m, nil
}

// release drops a reference taken by loadModule, finalizing and unloading
// the module with the last one.
func (m *module) release() error {
	loaded.Lock()
	defer loaded.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(loaded.m, m.key)
	err := m.ctx.Finalize()
	m.ctx.Destroy()
	if err != nil {
		return fmt.Errorf("pkcs11seal: finalizing PKCS#11 module %s: %w", m.path, err)
	}
	return nil
}

// errPINDiffers is returned when a token is already logged in for another
// Seal with a PIN other than the one given: the token will not check it.
var errPINDiffers = errors.New("already logged in for another seal in this process with a different PIN")

// login logs the user in on session sh of token, for a Seal that does not
// yet hold a login there.
func (m *module) login(sh pkcs11.SessionHandle, token string, pin keymat.Secret) error {
	loaded.Lock()
	defer loaded.Unlock()
	l := m.logins[token]
	if l != nil && !l.pin.Equal(pin) {
		return errPINDiffers
	}
	if err := m.ctx.Login(sh, pkcs11.CKU_USER, string(pin.Expose())); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return err
	}
	if l == nil {
		l = &login{pin: keymat.NewSecret(pin.Expose())}
		m.logins[token] = l
	}
	l.refs++
	return nil
}

// relogin logs in again on session sh of a token this Seal already holds
// a login on, after the token dropped it.
func (m *module) relogin(sh pkcs11.SessionHandle, pin keymat.Secret) error {
	loaded.Lock()
	defer loaded.Unlock()
	if err := m.ctx.Login(sh, pkcs11.CKU_USER, string(pin.Expose())); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return err
	}
	return nil
}

// logout gives up a Seal's login on token, logging out on session sh if
// no other Seal holds it.
func (m *module) logout(sh pkcs11.SessionHandle, token string) error {
	loaded.Lock()
	defer loaded.Unlock()
	l := m.logins[token]
	if l == nil {
		return nil
	}
	l.refs--
	if l.refs > 0 {
		return nil
	}
	delete(m.logins, token)
	l.pin.Wipe()
	err := m.ctx.Logout(sh)
	if isCode(err, pkcs11.CKR_USER_NOT_LOGGED_IN) || isCode(err, pkcs11.CKR_SESSION_HANDLE_INVALID) ||
		isCode(err, pkcs11.CKR_SESSION_CLOSED) || isCode(err, pkcs11.CKR_DEVICE_REMOVED) || isCode(err, pkcs11.CKR_TOKEN_NOT_PRESENT) {
		return nil // nothing left to log out of
	}
	return err
}

// isCode reports whether err is the PKCS#11 return value code.
func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}
