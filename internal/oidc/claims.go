package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Identity kinds, as Identity.Kind and the xms_kind claim spell them.
const (
	KindApp             = "app"
	KindUser            = "user"
	KindManagedIdentity = "managedIdentity"
	KindExternal        = "external"
)

func kindOf(k directory.Kind) string {
	switch k {
	case directory.KindUser:
		return KindUser
	case directory.KindManagedIdentity:
		return KindManagedIdentity
	}
	return KindApp
}

// claims are the claims of a Coffer access token, Entra's names first.
type claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	TenantID  string           `json:"tid"`
	ObjectID  string           `json:"oid"`
	AppID     string           `json:"appid,omitempty"` // v1
	AZP       string           `json:"azp,omitempty"`   // v2
	IDType    string           `json:"idtyp"`
	Version   string           `json:"ver"`
	UTI       string           `json:"uti"`
	UPN       string           `json:"upn,omitempty"`
	Name      string           `json:"name,omitempty"`
	Roles     []string         `json:"roles,omitempty"`
	WIDs      []string         `json:"wids,omitempty"`
	Groups    []string         `json:"groups,omitempty"`
	// Entra's group overage: with more groups than fit, the token names
	// where to fetch them instead of carrying them.
	ClaimNames   map[string]string            `json:"_claim_names,omitempty"`
	ClaimSources map[string]map[string]string `json:"_claim_sources,omitempty"`
	// CredentialID binds the token to the credential it was issued for.
	CredentialID string `json:"xms_crid"`
	// Kind is app, user or managedIdentity (finer than idtyp).
	Kind string `json:"xms_kind"`
}

// mintRequest describes an access token to issue.
type mintRequest struct {
	host, tenantID string
	v1             bool
	audience       string
	principal      *directory.Principal
	credID         string
	appID          string
}

// minted is a signed access token and its times.
type minted struct {
	raw                string
	notBefore, expires time.Time
	lifetime           int64 // seconds, for expires_in
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// mint signs an access token for r.principal.
func (i *Issuer) mint(ctx context.Context, r mintRequest) (*minted, error) {
	now := i.cfg.Now().UTC().Truncate(time.Second)
	exp := now.Add(i.cfg.TokenLifetime)
	nbf := now.Add(-5 * time.Minute) // as Entra: tolerate clients' clock skew
	p := r.principal
	c := claims{
		Issuer: accessIssuer(r.host, r.tenantID, r.v1), Subject: p.ObjectID, Audience: r.audience,
		Expiry: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(nbf), IssuedAt: jwt.NewNumericDate(now),
		TenantID: r.tenantID, ObjectID: p.ObjectID, IDType: "app", Version: "2.0", UTI: randomID(),
		CredentialID: r.credID, Kind: kindOf(p.Kind),
	}
	if r.v1 {
		c.Version, c.AppID = "1.0", r.appID
	} else {
		c.AZP = r.appID
	}
	if p.Kind == directory.KindUser {
		c.IDType, c.UPN, c.Name = "user", p.UPN, p.DisplayName
	}
	if p.IsGlobalAdmin() {
		c.WIDs = []string{directory.GlobalAdministratorTemplateID}
		c.Roles = []string{directory.RoleGlobalAdministrator}
	}
	if groups := i.cfg.Directory.TransitiveGroups(p.ObjectID); len(groups) > i.cfg.GroupOverageLimit {
		c.ClaimNames = map[string]string{"groups": "src1"}
		c.ClaimSources = map[string]map[string]string{"src1": {"endpoint": memberObjectsURL(r.host, r.tenantID, p.ObjectID)}}
	} else {
		c.Groups = groups
	}
	raw, err := i.sign(ctx, c)
	if err != nil {
		return nil, err
	}
	return &minted{raw: raw, notBefore: nbf, expires: exp, lifetime: int64(exp.Sub(now).Seconds())}, nil
}

// mintIDToken signs an OpenID Connect id_token for a user who signed in
// through clientID. MSAL checks that iss is exactly the issuer of the
// discovery document it read and that aud is its client id.
func (i *Issuer) mintIDToken(ctx context.Context, issuer, clientID string, p *directory.Principal) (string, error) {
	now := i.cfg.Now().UTC().Truncate(time.Second)
	return i.sign(ctx, map[string]any{
		"iss": issuer, "aud": clientID, "sub": p.ObjectID, "oid": p.ObjectID, "tid": p.TenantID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(i.cfg.TokenLifetime).Unix(), "ver": "2.0",
		"name": p.DisplayName, "preferred_username": p.UPN, "upn": p.UPN, "uti": randomID(),
	})
}

func (i *Issuer) sign(ctx context.Context, c any) (string, error) {
	key, err := i.keys.signer(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key.key, KeyID: key.id}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("oidc: signer: %w", err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidc: signing: %w", err)
	}
	return raw, nil
}

// memberObjectsURL is where a token's group overage points: the groups of
// the principal, as Graph's getMemberObjects answers them.
func memberObjectsURL(host, tenantID, oid string) string {
	return "https://" + host + "/" + tenantID + "/users/" + oid + "/getMemberObjects"
}
