package jwa

import (
	"testing"

	"github.com/cofferkms/coffer/internal/crypto/keymat"
)

// The benchmarks below are the raw cryptographic limit of one process on
// this machine: the full-stack benchmark (coffer bench) reports its
// throughput next to these. They run in parallel (b.RunParallel, one
// goroutine per GOMAXPROCS) because the server serves requests in
// parallel.

func benchSign(b *testing.B, alg SignatureAlgorithm, k *keymat.Key) {
	d := digestFor(alg, []byte("bench"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Sign(alg, k, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	b.Run("ES256", func(b *testing.B) { benchSign(b, ES256, ecKey(b, keymat.CurveP256)) })
	b.Run("ES256K", func(b *testing.B) { benchSign(b, ES256K, ecKey(b, keymat.CurveP256K)) })
	b.Run("ES384", func(b *testing.B) { benchSign(b, ES384, ecKey(b, keymat.CurveP384)) })
	b.Run("RS256", func(b *testing.B) { benchSign(b, RS256, rsaKey(b, 2048)) })
	b.Run("PS256", func(b *testing.B) { benchSign(b, PS256, rsaKey(b, 2048)) })
	b.Run("RS256-3072", func(b *testing.B) { benchSign(b, RS256, rsaKey(b, 3072)) })
	b.Run("HS256", func(b *testing.B) { benchSign(b, HS256, aesKey(b, 256)) })
}

func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		alg  SignatureAlgorithm
		k    *keymat.Key
	}{
		{"ES256", ES256, ecKey(b, keymat.CurveP256)},
		{"RS256", RS256, rsaKey(b, 2048)},
	} {
		d := digestFor(tc.alg, []byte("bench"))
		sig, err := Sign(tc.alg, tc.k, d)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if ok, err := Verify(tc.alg, tc.k, d, sig); !ok || err != nil {
						b.Errorf("Verify = %v, %v", ok, err)
						return
					}
				}
			})
		})
	}
}

type wrapBench struct {
	name string
	alg  EncryptionAlgorithm
	k    *keymat.Key
}

func wrapBenches(b *testing.B) []wrapBench {
	return []wrapBench{
		{"A256KW", A256KW, aesKey(b, 256)},
		{"RSA-OAEP-256", RSAOAEP256, rsaKey(b, 2048)},
	}
}

// cek is the key being wrapped: a 256-bit content key.
var cek = []byte("0123456789abcdef0123456789abcdef")

func BenchmarkWrap(b *testing.B) {
	for _, tc := range wrapBenches(b) {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := Wrap(tc.alg, tc.k, cek); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkUnwrap(b *testing.B) {
	for _, tc := range wrapBenches(b) {
		w, err := Wrap(tc.alg, tc.k, cek)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := Unwrap(tc.alg, tc.k, w); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkEncrypt(b *testing.B) {
	pt := make([]byte, 4096) // the packet size of Managed HSM's published limits
	k := aesKey(b, 256)
	b.Run("A256GCM-4KiB", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := Encrypt(A256GCM, k, pt, nil, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
