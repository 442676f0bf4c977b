package oidc

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/cofferkms/coffer/internal/directory"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are the claims of a Coffer access token.
type Claims struct {
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
	ClaimNames   map[string]string         `json:"_claim_names,omitempty"`
	ClaimSources map[string]map[string]any `json:"_claim_sources,omitempty"`
	// CredentialID binds the token to the credential it was issued for.
	CredentialID string `json:"xms_crid,omitempty"`
	// Kind is "app", "user" or "managedIdentity" (finer than idtyp).
	Kind string `json:"xms_kind,omitempty"`
}

// mintRequest describes a token to issue.
type mintRequest struct {
	host, tenantID string
	v1             bool
	audience       string
	principal      *directory.Principal
	credID         string
	groups         []string
}

func (i *Issuer) issuerURL(host, tenantID string, v1 bool) string {
	if v1 {
		return "https://" + host + "/" + tenantID + "/"
	}
	return "https://" + host + "/" + tenantID + "/v2.0"
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// mint signs an access token.
func (i *Issuer) mint(r mintRequest) (string, time.Time, error) {
	now := i.cfg.Now().UTC().Truncate(time.Second)
	exp := now.Add(i.cfg.TokenLifetime)
	p := r.principal
	c := Claims{
		Issuer: i.issuerURL(r.host, r.tenantID, r.v1), Subject: p.ObjectID, Audience: r.audience,
		Expiry: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		TenantID: r.tenantID, ObjectID: p.ObjectID, IDType: "app", Version: "2.0", UTI: randomID(),
		CredentialID: r.credID, Kind: p.Kind.String(),
	}
	if r.v1 {
		c.Version, c.AppID = "1.0", p.AppID
	} else {
		c.AZP = p.AppID
	}
	if p.Kind == directory.KindUser {
		c.IDType, c.UPN, c.Name = "user", p.UPN, p.DisplayName
	}
	if p.IsGlobalAdmin() {
		c.WIDs = []string{directory.GlobalAdministratorTemplateID}
		c.Roles = []string{directory.RoleGlobalAdministrator}
	}
	if len(r.groups) > i.cfg.GroupOverageLimit {
		c.ClaimNames = map[string]string{"groups": "src1"}
		c.ClaimSources = map[string]map[string]any{"src1": {
			"endpoint": fmt.Sprintf("https://%s/%s/users/%s/getMemberObjects", r.host, r.tenantID, p.ObjectID),
		}}
	} else {
		c.Groups = r.groups
	}
	key := i.keys.Current()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key.Key, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oidc: signer: %w", err)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oidc: signing: %w", err)
	}
	return tok, exp, nil
}
