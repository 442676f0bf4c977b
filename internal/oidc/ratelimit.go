package oidc

import (
	"sync"
	"time"
)

// maxLimiterKeys bounds the limiter's memory; beyond it, keys whose
// buckets have refilled (which carry no state) are forgotten.
const maxLimiterKeys = 100_000

// failureLimiter counts failed authentications per key (a client id, a
// user name or a source address) in token buckets: each failure takes a
// token, tokens come back at a steady rate, and a key with an empty bucket
// is refused until one returns. Successes take nothing, so a caller with
// valid credentials is never slowed by its own traffic.
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

func (l *failureLimiter) disabled() bool { return l.burst <= 0 }

// level brings key's bucket up to date; an absent key has a full bucket.
func (l *failureLimiter) level(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		return &bucket{tokens: l.burst, last: now}
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.refill))
	b.last = now
	return b
}

// blocked reports whether any key is out of tokens, and how long until
// all of them have one again.
func (l *failureLimiter) blocked(keys ...string) (time.Duration, bool) {
	if l.disabled() {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		if b := l.level(k, now); b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)*float64(l.refill)))
		}
	}
	return wait, wait > 0
}

// fail records a failure against every key.
func (l *failureLimiter) fail(keys ...string) {
	if l.disabled() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		b := l.level(k, now)
		b.tokens = max(0, b.tokens-1)
		l.buckets[k] = b
	}
	if len(l.buckets) > maxLimiterKeys {
		for k := range l.buckets {
			if l.level(k, now).tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
}
