package oidc

import (
	"sync"
	"time"
)

// failureLimiter counts failed authentications per key (a client id or a
// source address) in token buckets: each failure takes a token, tokens come
// back at a steady rate, and a key with an empty bucket is refused until
// one returns. Successes take nothing, so a legitimate caller is never
// slowed by its own traffic.
type failureLimiter struct {
	burst  float64
	refill time.Duration // time for one token to come back
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newFailureLimiter(burst int, refill time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{burst: float64(burst), refill: refill, now: now, buckets: make(map[string]*bucket)}
}

func (l *failureLimiter) level(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		return &bucket{tokens: l.burst, last: now}
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.refill))
	b.last = now
	return b
}

// Blocked reports whether key is out of tokens, and when to retry.
func (l *failureLimiter) Blocked(key string) (bool, time.Duration) {
	if l == nil || l.burst <= 0 {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.level(key, now)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) * float64(l.refill))
}

// Fail records a failure for key.
func (l *failureLimiter) Fail(key string) {
	if l == nil || l.burst <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.level(key, now)
	b.tokens = max(0, b.tokens-1)
	l.buckets[key] = b
	if len(l.buckets) > 100_000 {
		// Forget keys whose buckets have refilled; they carry no state.
		for k, v := range l.buckets {
			if l.level(k, now).tokens >= l.burst || v == nil {
				delete(l.buckets, k)
			}
		}
	}
}
