package oidc

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferkms/coffer/internal/store"
)

func jwksKids(ks *KeySet) []string {
	var out []string
	for _, k := range ks.JWKS().Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	old := e.token(e.sp.AppID, e.secret, testAudience)
	oldKid := headerOf(t, old)["kid"].(string)
	if err := e.iss.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := e.token(e.sp.AppID, e.secret, testAudience)
	newKid := headerOf(t, fresh)["kid"].(string)
	if newKid == oldKid {
		t.Fatalf("after Rotate the token's kid is still %s", oldKid)
	}
	if got := jwksKids(e.iss.keys); len(got) != 2 || got[0] != oldKid || got[1] != newKid {
		t.Errorf("JWKS kids after Rotate = %v, want [%s %s]", got, oldKid, newKid)
	}
	// Tokens signed by the retired key keep verifying until they expire;
	// a fresh verifier proves it checks the signature, not a cache.
	e.clk.Advance(59 * time.Minute)
	for name, tok := range map[string]string{"old key": old, "new key": fresh} {
		if _, err := e.newVerifier(t).Verify(ctx, tok); err != nil {
			t.Errorf("Verify(token signed by the %s, 59 minutes old) = %v, want nil", name, err)
		}
	}
	// Once every token the retired key signed has expired, it leaves the
	// JWKS, stops verifying, and Prune deletes it from the store.
	e.clk.Advance(time.Minute + retireMargin + time.Second)
	if got := jwksKids(e.iss.keys); len(got) != 1 || got[0] != newKid {
		t.Errorf("JWKS kids after the old key's tokens expired = %v, want [%s]", got, newKid)
	}
	resigned := e.resign(t, old, func(c map[string]any) { c["exp"] = e.clk.Now().Add(time.Hour).Unix() })
	if headerOf(t, resigned)["kid"] != newKid {
		t.Fatalf("resign used kid %v, want the current key", headerOf(t, resigned)["kid"])
	}
	if _, ok := e.iss.keys.publicKey(ctx, oldKid); ok {
		t.Errorf("publicKey(retired and expired kid) found the key")
	}
	if err := e.iss.keys.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	err := e.st.View(ctx, func(tx store.Tx) error { _, err := tx.Get(pathKeys + oldKid); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after Prune, the retired key's record: %v, want store.ErrNotFound", err)
	}

	// The keys outlive a restart.
	again := must(NewIssuer(ctx, Config{Directory: e.dir, Store: e.st, Now: e.clk.Now}))
	if got := jwksKids(again.keys); len(got) != 1 || got[0] != newKid {
		t.Errorf("JWKS kids after restart = %v, want [%s]", got, newKid)
	}
}

func TestAutomaticKeyRotation(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KeyRotationInterval = 24 * time.Hour })
	first := headerOf(t, e.token(e.sp.AppID, e.secret, testAudience))["kid"]
	e.clk.Advance(23 * time.Hour)
	if kid := headerOf(t, e.token(e.sp.AppID, e.secret, testAudience))["kid"]; kid != first {
		t.Errorf("before the interval, kid = %v, want %v", kid, first)
	}
	e.clk.Advance(2 * time.Hour)
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	if kid := headerOf(t, tok)["kid"]; kid == first {
		t.Errorf("after the interval, kid is still %v", kid)
	}
	if got := len(e.iss.keys.JWKS().Keys); got != 2 {
		t.Errorf("JWKS after automatic rotation has %d keys, want 2", got)
	}
	if _, err := e.ver.Verify(t.Context(), tok); err != nil {
		t.Errorf("Verify(token after automatic rotation) = %v", err)
	}
}

// TestKeysSharedThroughTheStore covers servers sharing one store: a key
// another node created verifies here once the set re-reads the store.
func TestKeysSharedThroughTheStore(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	peer := must(NewIssuer(ctx, Config{Directory: e.dir, Store: e.st, Now: e.clk.Now}))
	if err := peer.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	sp, _ := e.dir.Get(e.sp.ObjectID)
	tok := must(peer.mint(ctx, mintRequest{host: testHost, tenantID: e.tenant.ID, audience: testAudience, principal: sp,
		credID: sp.Credentials[0].ID, appID: sp.AppID}))
	if _, err := e.ver.Verify(ctx, tok.raw); err != nil {
		t.Errorf("Verify(token signed by a peer's new key) = %v, want nil", err)
	}
}
