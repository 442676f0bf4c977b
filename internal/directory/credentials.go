package directory

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

const (
	argonSaltLen = 16
	argonTagLen  = 32
	minPassword  = 12
	maxPassword  = 256
)

// newSecret returns a 256-bit random secret in base64url (43 characters)
// and its SHA-256. A plain hash is enough for a secret this long: there is
// nothing to guess.
func newSecret() (string, []byte) {
	var b [32]byte
	rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return s, hashSecret(s)
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func (d *Directory) passwordCredential(password string) (Credential, error) {
	if len(password) < minPassword || len(password) > maxPassword {
		return Credential{}, fmt.Errorf("%w: passwords must have %d to %d characters", ErrInvalid, minPassword, maxPassword)
	}
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	params := d.cfg.Argon2
	return Credential{ID: NewGUID(), Kind: CredPassword, Created: d.now(), Salt: salt, Argon2: &params,
		Hash: d.argon2(password, salt, params, argonTagLen)}, nil
}

// argon2 computes a password tag, at most GOMAXPROCS at a time: each
// computation holds MemoryKiB of memory, so concurrent sign-ins must not
// multiply it without bound.
func (d *Directory) argon2(password string, salt []byte, p Argon2Params, tagLen int) []byte {
	d.argonSlots <- struct{}{}
	defer func() { <-d.argonSlots }()
	return argon2Tag(password, salt, p, tagLen)
}

func argon2Tag(password string, salt []byte, p Argon2Params, tagLen int) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(tagLen))
}

// SetPassword replaces a user's password, which revokes the tokens issued
// against the old one.
func (d *Directory) SetPassword(ctx context.Context, oid, password string) error {
	cred, err := d.passwordCredential(password)
	if err != nil {
		return err
	}
	_, err = d.update(ctx, oid, func(_ *snapshot, p *Principal) error {
		if p.Kind != KindUser {
			return fmt.Errorf("%w: only users have passwords", ErrInvalid)
		}
		p.Credentials = []Credential{cred}
		return nil
	})
	return err
}

// AddSecret adds a client secret to a service principal and returns it; it
// is never shown again. expires may be nil (no expiry).
func (d *Directory) AddSecret(ctx context.Context, oid string, expires *time.Time) (string, Credential, error) {
	secret, hash := newSecret()
	cred := Credential{ID: NewGUID(), Kind: CredSecret, Hint: secret[:3], Created: d.now(), Hash: hash}
	if expires != nil {
		if !expires.After(d.now()) {
			return "", Credential{}, fmt.Errorf("%w: the secret would already have expired", ErrInvalid)
		}
		e := expires.UTC()
		cred.Expires = &e
	}
	_, err := d.update(ctx, oid, func(_ *snapshot, p *Principal) error {
		if p.Kind != KindServicePrincipal {
			return fmt.Errorf("%w: only service principals have client secrets", ErrInvalid)
		}
		p.Credentials = append(p.Credentials, cred)
		return nil
	})
	if err != nil {
		return "", Credential{}, err
	}
	cred.Hash = nil
	return secret, cred, nil
}

// parseCertificate reads one X.509 certificate, PEM or DER, whose key is
// RSA (client assertions are RS256 or PS256).
func parseCertificate(data []byte) (*x509.Certificate, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: PEM block is %q, not CERTIFICATE", ErrInvalid, b.Type)
		}
		der = b.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: not an X.509 certificate: %v", ErrInvalid, err)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: the certificate's key must be RSA", ErrInvalid)
	}
	return cert, nil
}

// AddCertificate registers a certificate (PEM or DER) a service principal
// may sign client assertions with. The credential expires with the
// certificate.
func (d *Directory) AddCertificate(ctx context.Context, oid string, data []byte) (Credential, error) {
	cert, err := parseCertificate(data)
	if err != nil {
		return Credential{}, err
	}
	na := cert.NotAfter.UTC()
	if !na.After(d.now()) {
		return Credential{}, fmt.Errorf("%w: the certificate has expired", ErrInvalid)
	}
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	cred := Credential{ID: NewGUID(), Kind: CredCertificate, Created: d.now(), Expires: &na,
		CertDER: cert.Raw, SHA1: s1[:], SHA256: s256[:], Subject: cert.Subject.String()}
	_, err = d.update(ctx, oid, func(_ *snapshot, p *Principal) error {
		if p.Kind != KindServicePrincipal {
			return fmt.Errorf("%w: only service principals have certificates", ErrInvalid)
		}
		for _, c := range p.Credentials {
			if c.Kind == CredCertificate && subtle.ConstantTimeCompare(c.SHA256, cred.SHA256) == 1 {
				return fmt.Errorf("%w: this certificate is already registered", ErrExists)
			}
		}
		p.Credentials = append(p.Credentials, cred)
		return nil
	})
	if err != nil {
		return Credential{}, err
	}
	return cred, nil
}

// RemoveCredential removes one credential; tokens issued with it stop
// working on their next use.
func (d *Directory) RemoveCredential(ctx context.Context, oid, credID string) error {
	_, err := d.update(ctx, oid, func(_ *snapshot, p *Principal) error {
		i := slices.IndexFunc(p.Credentials, func(c Credential) bool { return c.ID == credID })
		if i < 0 {
			return fmt.Errorf("%w: credential %s", ErrNotFound, credID)
		}
		p.Credentials = slices.Delete(p.Credentials, i, i+1)
		return nil
	})
	return err
}

// ResetCredentials replaces every credential of a service principal with
// one new client secret, or gives a user-assigned identity a new header
// secret of its own (replacing any earlier one), and returns the new
// secret (shown once). Every token issued
// with an old credential stops working.
func (d *Directory) ResetCredentials(ctx context.Context, oid string) (string, Credential, error) {
	secret, hash := newSecret()
	cred := Credential{ID: NewGUID(), Created: d.now(), Hash: hash}
	_, err := d.update(ctx, oid, func(_ *snapshot, p *Principal) error {
		switch {
		case p.Kind == KindServicePrincipal:
			cred.Kind, cred.Hint = CredSecret, secret[:3]
		case p.Kind == KindManagedIdentity && !p.SystemAssigned:
			cred.Kind = CredIdentityHeader
		case p.Kind == KindManagedIdentity:
			return fmt.Errorf("%w: a system-assigned identity's secret is its resource's; rotate the resource secret", ErrInvalid)
		default:
			return fmt.Errorf("%w: only service principals and user-assigned identities have client credentials", ErrInvalid)
		}
		p.Credentials = []Credential{cred}
		return nil
	})
	if err != nil {
		return "", Credential{}, err
	}
	cred.Hash = nil
	return secret, cred, nil
}

// AuthenticateSecret checks a client secret and returns the service
// principal and the id of the credential that matched. Whether the
// principal is disabled or the secret expired is told only to a caller
// that knows the secret.
func (d *Directory) AuthenticateSecret(tenantID, clientID, secret string) (*Principal, string, error) {
	s := d.snap.Load()
	p, ok := s.byApp[tenantID+"|"+strings.ToLower(clientID)]
	if !ok || p.Kind != KindServicePrincipal {
		return nil, "", ErrUnknownClient
	}
	h := hashSecret(secret)
	for _, c := range p.Credentials {
		if c.Kind == CredSecret && subtle.ConstantTimeCompare(c.Hash, h) == 1 {
			switch {
			case !p.Enabled:
				return nil, "", ErrDisabled
			case c.expired(d.cfg.Now()):
				return nil, "", ErrCredExpired
			}
			return p.Public(), c.ID, nil
		}
	}
	return nil, "", ErrAuthFailed
}

// AuthenticatePassword checks a user's password.
func (d *Directory) AuthenticatePassword(tenantID, upn, password string) (*Principal, string, error) {
	s := d.snap.Load()
	p, ok := s.byUPN[tenantID+"|"+strings.ToLower(upn)]
	if len(password) > maxPassword {
		return nil, "", ErrAuthFailed
	}
	if !ok {
		// Spend the work of a real check, so timing does not tell which
		// user names exist.
		d.argon2(password, make([]byte, argonSaltLen), d.cfg.Argon2, argonTagLen)
		return nil, "", ErrAuthFailed
	}
	for _, c := range p.Credentials {
		if c.Kind != CredPassword || c.Argon2 == nil || len(c.Hash) < 16 {
			continue
		}
		if subtle.ConstantTimeCompare(d.argon2(password, c.Salt, *c.Argon2, len(c.Hash)), c.Hash) == 1 {
			if !p.Enabled {
				return nil, "", ErrDisabled
			}
			return p.Public(), c.ID, nil
		}
	}
	return nil, "", ErrAuthFailed
}

// LookupCertificate returns the certificate registered on a service
// principal whose thumbprint matches (SHA-1 for x5t, SHA-256 for
// x5t#S256), with the principal and the credential id, whatever the
// principal's state: a thumbprint is public, so whether the principal is
// enabled and the certificate unexpired is for the caller to ask (with
// Live) only after the assertion's signature has verified.
func (d *Directory) LookupCertificate(tenantID, clientID string, thumbprint []byte) (*x509.Certificate, *Principal, string, error) {
	s := d.snap.Load()
	p, ok := s.byApp[tenantID+"|"+strings.ToLower(clientID)]
	if !ok || p.Kind != KindServicePrincipal {
		return nil, nil, "", ErrUnknownClient
	}
	for _, c := range p.Credentials {
		if c.Kind != CredCertificate {
			continue
		}
		if subtle.ConstantTimeCompare(c.SHA1, thumbprint) == 1 || subtle.ConstantTimeCompare(c.SHA256, thumbprint) == 1 {
			cert, err := x509.ParseCertificate(c.CertDER)
			if err != nil {
				return nil, nil, "", ErrAuthFailed
			}
			return cert, p.Public(), c.ID, nil
		}
	}
	return nil, nil, "", ErrAuthFailed
}

// Live reports whether a token issued to oid for credential credID may
// still be honoured: the principal exists and is enabled, and the
// credential still exists and has not expired (for a managed identity
// reached through a resource: the resource's secret is unchanged and the
// identity still belongs to it). It reads only the in-memory snapshot, and
// costs a map lookup and a scan of the principal's few credentials.
func (d *Directory) Live(oid, credID string) error {
	s := d.snap.Load()
	p, ok := s.principals[oid]
	switch {
	case !ok:
		return fmt.Errorf("%w: principal %s", ErrNotFound, oid)
	case !p.Enabled:
		return ErrDisabled
	case credID == "":
		return ErrRevoked
	}
	for _, c := range p.Credentials {
		if c.ID == credID {
			if c.expired(d.cfg.Now()) {
				return ErrCredExpired
			}
			return nil
		}
	}
	if r, ok := s.resourceByCred[credID]; ok && p.Kind == KindManagedIdentity && p.servedBy(r.Name) {
		return nil
	}
	return ErrRevoked
}
