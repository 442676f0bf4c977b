package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func FuzzParseTokenRequest(f *testing.F) {
	f.Add("grant_type=client_credentials&client_id=a&client_secret=s&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default+openid", "", "", false)
	f.Add("grant_type=client_credentials&scope=https%3A%2F%2Fx%2F.default", "id", "p%20w", true)
	f.Add("grant_type=password&username=u%40x&password=p&resource=https%3A%2F%2Fvault.azure.net%2F&scope=openid+profile", "", "", false)
	f.Add("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&scope=api%3A%2F%2Fx%2Fread", "", "", false)
	f.Add("grant_type=client_credentials&client_id=a&client_secret=s&scope=a%2F.default+b%2F.default", "", "", false)
	f.Fuzz(func(t *testing.T, body, user, pass string, basic bool) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		req, err := parseTokenRequest(form, user, pass, basic)
		if req == nil {
			t.Fatalf("parseTokenRequest() returned no request")
		}
		if err != nil {
			oe, ok := errors.AsType[*oauthError](err)
			if !ok || (oe.status != http.StatusBadRequest && oe.status != http.StatusUnauthorized) || oe.code == "" {
				t.Fatalf("parseTokenRequest() error = %v, want a 400 or 401 OAuth error", err)
			}
			return
		}
		switch {
		case req.audience == "" || strings.HasSuffix(req.audience, "/") || strings.HasSuffix(req.audience, "/.default"):
			t.Fatalf("audience %q is empty or not normalised", req.audience)
		case !strings.HasPrefix(req.resource, req.audience) || len(req.resource) > maxResourceLen:
			t.Fatalf("resource %q does not begin with audience %q", req.resource, req.audience)
		case req.grant == grantClientCredentials && (req.clientID == "" || req.secret.IsZero() == (req.assertion == nil)):
			t.Fatalf("client credentials request without exactly one client credential: %+v", req)
		case req.grant == grantPassword && (req.username == "" || req.password.IsZero()):
			t.Fatalf("password request without username or password")
		case req.grant == grantInvalid:
			t.Fatalf("request without a grant accepted")
		case req.assertion != nil && req.assertion.claims.Issuer != req.clientID:
			t.Fatalf("assertion issuer %q accepted for client %q", req.assertion.claims.Issuer, req.clientID)
		}
	})
}

func FuzzParseAssertion(f *testing.F) {
	e := newEnv(f)
	v2 := "https://" + testHost + "/" + e.tenant.ID + "/oauth2/v2.0/token"
	f.Add(e.cliAssertion(f, v2, nil))
	f.Add(e.cliAssertion(f, v2, func(h, c map[string]any) { delete(h, "x5t"); h["x5t#S256"] = "AAAA" }))
	f.Add(e.cliAssertion(f, v2, func(_, c map[string]any) { c["exp"] = "tomorrow" }))
	f.Add(e.cliAssertion(f, v2, func(_, c map[string]any) { c["aud"] = []any{v2, 7} }))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		pa, err := parseAssertion(raw)
		if err != nil {
			if !errors.Is(err, errBadAssertion) {
				t.Fatalf("parseAssertion() error = %v, want errBadAssertion", err)
			}
			return
		}
		c := pa.claims
		switch {
		case len(pa.thumbprint) != 20 && len(pa.thumbprint) != 32:
			t.Fatalf("thumbprint of %d bytes accepted", len(pa.thumbprint))
		case c.Issuer == "" || c.Issuer != c.Subject || c.JTI == "" || c.Expiry == nil:
			t.Fatalf("claims accepted without iss = sub, jti and exp: %+v", c)
		case !slices.Contains(assertionAlgorithms, jose.SignatureAlgorithm(pa.sig.Signatures[0].Header.Algorithm)):
			t.Fatalf("algorithm %q accepted", pa.sig.Signatures[0].Header.Algorithm)
		}
		c.audiences() // must not panic on any aud shape
		// Nothing parsed verifies without the certificate's key.
		if err := pa.verify(nil, func(string) bool { return true }, e.clk.Now(), &jtiCache{}); err == nil {
			t.Fatalf("verify() with no key succeeded")
		}
	})
}

func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	good := e.token(e.sp.AppID, e.secret, testAudience)
	goodID := claimsOf(f, good)["uti"]
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".e30." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := e.ver.Verify(t.Context(), raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify() error = %v, want ErrInvalidToken", err)
			}
			return
		}
		// The only token that verifies is the one we issued (base64 lets
		// its signature be spelled more than one way, with the same bytes).
		if id.TokenID != goodID || id.ObjectID != e.sp.ObjectID || !strings.HasPrefix(raw, parts[0]+"."+parts[1]+".") {
			t.Fatalf("Verify() accepted a token we did not issue: %+v", id)
		}
	})
}
