package oidc

import (
	"crypto/sha256"
	"testing"
)

// BenchmarkVerify compares a cached token (liveness check only) with a
// token seen for the first time (parse, RSA signature, claims).
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	tok := e.token(e.sp.AppID, e.secret, testAudience)
	key := sha256.Sum256([]byte(tok))
	b.Run("hit", func(b *testing.B) {
		if _, err := e.ver.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.ver.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.ver.cache.drop(key)
			if _, err := e.ver.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
