package audit

import (
	"bytes"
	"reflect"
	"strings"
)

// redactedToken replaces what looked like a bearer token.
const redactedToken = "[REDACTED-TOKEN]"

// maxEventBytes is the size above which Append shortens an event's long
// strings (maxFieldBytes each) before writing it.
const (
	maxEventBytes = 64 << 10
	maxFieldBytes = 2 << 10
)

// mayHoldToken is the cheap test run on every encoded event: every JWS or
// JWE in compact form begins with the base64url of `{"`, "eyJ", and JSON
// encoding leaves base64url text as it is.
func mayHoldToken(b []byte) bool {
	return bytes.Contains(b, []byte("eyJ"))
}

// findToken returns the byte range of the first substring of s that looks
// like a compact JWT: "eyJ" at a word start, then at least three base64url
// segments separated by dots (a JWS has three, a JWE five; all are
// covered). The header segment is at least as long as the shortest JSON
// header, `{"a":1}`, and the payload at least as long as `{}`.
func findToken(s string) (start, end int, ok bool) {
	for off := 0; ; {
		i := strings.Index(s[off:], "eyJ")
		if i < 0 {
			return 0, 0, false
		}
		i += off
		off = i + 3
		if i > 0 && isAlnum(s[i-1]) {
			continue
		}
		p := i
		var lens []int
		for n := 0; n < 5; n++ {
			q := p
			for q < len(s) && isB64URL(s[q]) {
				q++
			}
			lens = append(lens, q-p)
			p = q
			if n == 4 || p >= len(s) || s[p] != '.' {
				break
			}
			p++
		}
		if len(lens) >= 3 && lens[0] >= 10 && lens[1] >= 2 {
			return i, p, true
		}
	}
}

func isAlnum(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// redactTokens replaces every token-like substring of s.
func redactTokens(s string) (string, bool) {
	found := false
	for {
		i, j, ok := findToken(s)
		if !ok {
			return s, found
		}
		found = true
		s = s[:i] + redactedToken + s[j:]
	}
}

// eachString calls fn on every string field of ev and of its Identity,
// including fields added later, and stores what fn returns.
func eachString(ev *Event, fn func(string) string) {
	walk := func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.Kind() == reflect.String && f.CanSet() {
				f.SetString(fn(f.String()))
			}
		}
	}
	walk(reflect.ValueOf(ev).Elem())
	if ev.Identity != nil {
		walk(reflect.ValueOf(ev.Identity).Elem())
	}
}

// redactEvent replaces token-like substrings in every string field of ev
// (a private copy) and reports whether it found any.
func redactEvent(ev *Event) bool {
	found := false
	eachString(ev, func(s string) string {
		r, ok := redactTokens(s)
		found = found || ok
		return r
	})
	return found
}

// shortenEvent cuts every string field of ev (a private copy) longer than
// maxFieldBytes, keeping valid UTF-8, and marks the event in Detail.
func shortenEvent(ev *Event) {
	eachString(ev, func(s string) string {
		if len(s) <= maxFieldBytes {
			return s
		}
		return strings.ToValidUTF8(s[:maxFieldBytes], "") + "…"
	})
	ev.Detail = strings.TrimSpace(ev.Detail + " [fields shortened to fit the audit log]")
}
