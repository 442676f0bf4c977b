// Package client is the Go client of a Coffer server used by the coffer
// command: it gets tokens from the server's issuer (client credentials or
// the password grant), keeps a login profile, and calls the data-plane and
// directory APIs, turning Key Vault error bodies into Go errors.
//
// # Security
//
// A profile may hold a service principal's client secret (as the Azure CLI
// keeps service-principal credentials): it is written with mode 0600 in a
// directory with mode 0700. Tokens are cached in memory only.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cofferkms/coffer/internal/api"
)

// APIVersion is the data-plane api-version the client sends.
const APIVersion = "7.6"

// Error is an error response from the server.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("(%s) %s", e.Code, e.Message)
}

// IsAuth reports whether err is an authentication or authorization failure.
func IsAuth(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// Client talks to one Coffer server as one principal.
type Client struct {
	Profile Profile
	HTTP    *http.Client

	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	token   string
	expires time.Time
}

// New returns a client for a profile.
func New(p Profile) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialLocalhost
	hc := &http.Client{Timeout: 60 * time.Second, Transport: tr}
	if p.CAFile != "" {
		pem, err := os.ReadFile(p.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", p.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{Profile: p, HTTP: hc, tokens: map[string]cachedToken{}}, nil
}

// dialLocalhost resolves "localhost" and every name under ".localhost" to
// the loopback address, as RFC 6761 §6.3 lets applications do, so a
// development pool's URL (https://dev.mhsm.localhost:8443) works without an
// /etc/hosts entry. Other names resolve as usual.
func dialLocalhost(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if h == "localhost" || strings.HasSuffix(h, ".localhost") {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			if err == nil {
				return conn, nil
			}
			if c6, err6 := d.DialContext(ctx, network, net.JoinHostPort("::1", port)); err6 == nil {
				return c6, nil
			}
			return nil, err
		}
	}
	return d.DialContext(ctx, network, addr)
}

// TokenResponse is what the token endpoint returns.
type TokenResponse struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   float64 `json:"expires_in"`
}

// Token returns a token for resource, from the cache or the issuer.
func (c *Client) Token(ctx context.Context, resource string) (string, time.Time, error) {
	resource = strings.TrimRight(resource, "/")
	c.mu.Lock()
	if t, ok := c.tokens[resource]; ok && time.Until(t.expires) > 2*time.Minute {
		c.mu.Unlock()
		return t.token, t.expires, nil
	}
	c.mu.Unlock()
	p := c.Profile
	form := url.Values{"scope": {resource + "/.default"}, "client_id": {p.ClientID}}
	switch {
	case p.ClientSecret != "":
		form.Set("grant_type", "client_credentials")
		form.Set("client_secret", p.ClientSecret)
	case p.CertificateFile != "":
		assertion, err := clientAssertion(p, c.tokenEndpoint())
		if err != nil {
			return "", time.Time{}, err
		}
		form.Set("grant_type", "client_credentials")
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	case p.Username != "" && p.password != "":
		form.Set("grant_type", "password")
		form.Set("username", p.Username)
		form.Set("password", p.password)
		if p.ClientID == "" {
			form.Set("client_id", "coffer-cli")
		}
	case p.AccessToken != "" && time.Until(p.AccessTokenExpires) > time.Minute:
		return p.AccessToken, p.AccessTokenExpires, nil
	default:
		return "", time.Time{}, errors.New("not logged in, or the session expired: run coffer login")
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", c.tokenEndpoint(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reaching the token endpoint: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		json.Unmarshal(raw, &e)
		return "", time.Time{}, &Error{Status: resp.StatusCode, Code: e.Error, Message: e.ErrorDescription}
	}
	var tr TokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" {
		return "", time.Time{}, errors.New("the token endpoint returned no token")
	}
	exp := time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	c.mu.Lock()
	c.tokens[resource] = cachedToken{tr.AccessToken, exp}
	c.mu.Unlock()
	return tr.AccessToken, exp, nil
}

func (c *Client) tokenEndpoint() string {
	tenant := c.Profile.Tenant
	if tenant == "" {
		tenant = "adfs"
	}
	return strings.TrimRight(c.Profile.Server, "/") + "/" + tenant + "/oauth2/v2.0/token"
}

// Do sends a request with a token for resource and decodes the JSON answer
// into out (when not nil).
func (c *Client) Do(ctx context.Context, resource, method, rawURL string, body, out any) error {
	tok, _, err := c.Token(ctx, resource)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e api.ErrorResponse
		if json.Unmarshal(raw, &e) == nil && e.Error != nil {
			return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		msg := strings.TrimSpace(string(raw))
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decoding the response: %w", err)
		}
	}
	return nil
}

// DataURL builds a data-plane URL on the profile's pool.
func (c *Client) DataURL(path string, query url.Values) (string, error) {
	if c.Profile.HSMURL == "" {
		return "", errors.New("no pool URL: pass --hsm-url or log in with --hsm-url")
	}
	if query == nil {
		query = url.Values{}
	}
	query.Set("api-version", APIVersion)
	return strings.TrimRight(c.Profile.HSMURL, "/") + path + "?" + query.Encode(), nil
}

// Data calls the data plane of the profile's pool.
func (c *Client) Data(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u, err := c.DataURL(path, query)
	if err != nil {
		return err
	}
	return c.Do(ctx, c.Profile.Audience, method, u, body, out)
}

// DirectoryAudience is the audience of the directory API.
const DirectoryAudience = "https://graph.microsoft.com"

// Directory calls the directory API.
func (c *Client) Directory(ctx context.Context, method, path string, body, out any) error {
	return c.Do(ctx, DirectoryAudience, method, strings.TrimRight(c.Profile.Server, "/")+"/directory/v1"+path, body, out)
}
