package oidc

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestTokenEndpointRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FailureBurst, c.FailureRefill = 3, time.Minute })
	path := "/" + e.tenant.ID + "/oauth2/v2.0/token"
	form := func(clientID, secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {testAudience + "/.default"}}
	}
	const attacker, honest, other = "198.51.100.1:4000", "198.51.100.2:4000", "198.51.100.3:4000"
	steps := []struct {
		name           string
		form           url.Values
		addr           string
		advance        time.Duration
		wantStatus     int
		wantRetryAfter string
	}{
		{name: "failure 1", form: form(e.sp.AppID, "guess-1"), addr: attacker, wantStatus: 401},
		{name: "failure 2", form: form(e.sp.AppID, "guess-2"), addr: attacker, wantStatus: 401},
		{name: "failure 3", form: form(e.sp.AppID, "guess-3"), addr: attacker, wantStatus: 401},
		{name: "the attacked client is blocked, even with its secret", form: form(e.sp.AppID, e.secret), addr: honest, wantStatus: 429, wantRetryAfter: "60"},
		{name: "the attacking address is blocked for other clients", form: form(e.admin.AppID, e.adminSecret), addr: attacker, wantStatus: 429, wantRetryAfter: "60"},
		{name: "others are served", form: form(e.admin.AppID, e.adminSecret), addr: honest, wantStatus: 200},
		{name: "unknown clients count too", form: form("00000000-0000-0000-0000-000000000000", "x"), addr: other, wantStatus: 400},
		{name: "after one refill interval the client may try again", advance: time.Minute, form: form(e.sp.AppID, e.secret), addr: honest, wantStatus: 200},
		{name: "one failure empties the refilled bucket", form: form(e.sp.AppID, "guess-4"), addr: other, wantStatus: 401},
		{name: "blocked again, retry in a minute", form: form(e.sp.AppID, e.secret), addr: honest, wantStatus: 429, wantRetryAfter: "60"},
		{name: "half a minute later", advance: 30 * time.Second, form: form(e.sp.AppID, e.secret), addr: honest, wantStatus: 429, wantRetryAfter: "30"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e.clk.Advance(s.advance)
			resp := e.post(path, s.form, fromAddr(s.addr))
			if resp.status != s.wantStatus {
				t.Fatalf("POST token = %d %s, want %d", resp.status, resp.raw, s.wantStatus)
			}
			if got := resp.header.Get("Retry-After"); got != s.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, s.wantRetryAfter)
			}
		})
	}
	// Successes never count: a busy, honest client is not slowed.
	for i := range 20 {
		if resp := e.post(path, form(e.admin.AppID, e.adminSecret), fromAddr(honest)); resp.status != 200 {
			t.Fatalf("successful request %d = %d, want 200", i, resp.status)
		}
	}
	// Failed sign-ins are limited per user name too.
	ropc := func(pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {"alice@contoso.test"}, "password": {pass}, "scope": {testAudience + "/.default"}}
	}
	for i, addr := range []string{"203.0.113.1:1", "203.0.113.2:1", "203.0.113.3:1"} {
		if resp := e.post(path, ropc("wrong password"), fromAddr(addr)); resp.status != 400 {
			t.Fatalf("ROPC failure %d = %d, want 400", i, resp.status)
		}
	}
	if resp := e.post(path, ropc(e.password), fromAddr("203.0.113.4:1")); resp.status != 429 {
		t.Errorf("ROPC after 3 failures from 3 addresses = %d, want 429", resp.status)
	}
}

func TestManagedIdentityRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FailureBurst, c.FailureRefill = 2, time.Minute })
	target := "/msi/token?api-version=2019-08-01&resource=" + testAudience
	for range 2 {
		if resp := e.do("GET", target, "", withHeader("X-IDENTITY-HEADER", "guess"), fromAddr("198.51.100.1:1")); resp.status != 401 {
			t.Fatalf("wrong identity header = %d, want 401", resp.status)
		}
	}
	resp := e.do("GET", target, "", withHeader("X-IDENTITY-HEADER", e.vmSecret), fromAddr("198.51.100.1:1"))
	if resp.status != 429 || resp.header.Get("Retry-After") == "" {
		t.Errorf("after 2 failures = %d (Retry-After %q), want 429 with Retry-After", resp.status, resp.header.Get("Retry-After"))
	}
	if resp := e.do("GET", target, "", withHeader("X-IDENTITY-HEADER", e.vmSecret), fromAddr("198.51.100.2:1")); resp.status != 200 {
		t.Errorf("another address = %d, want 200", resp.status)
	}
}

func TestFailureLimiterForgetsRefilledKeys(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newFailureLimiter(1, time.Second, clk.Now)
	for i := range maxLimiterKeys + 1 {
		l.fail(strconv.Itoa(i))
	}
	clk.Advance(2 * time.Second)
	l.fail("trigger")
	if got := len(l.buckets); got > 2 {
		t.Errorf("after refilling, the limiter keeps %d keys, want at most 2", got)
	}
	if _, blocked := l.blocked("trigger"); !blocked {
		t.Errorf("blocked(trigger) = false after its only token was spent")
	}
	if _, blocked := newFailureLimiter(-1, time.Second, clk.Now).blocked("x"); blocked {
		t.Errorf("a disabled limiter blocked")
	}
}
