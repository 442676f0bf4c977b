package keymat

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// secretMarkers are renderings of a key's secret bytes that must never
// show up in output: hex, base64, the decimal form fmt gives a []byte, and
// the decimal form of a big.Int (how an *rsa.PrivateKey's D prints).
func secretMarkers(t *testing.T, k *Key) []string {
	t.Helper()
	var secret []byte
	var decimal string
	switch k.Type() {
	case KeyTypeOct:
		secret = k.Symmetric().Expose()
	case KeyTypeEC:
		secret = must(k.MarshalBinary())[3:]
		if k1 := k.Secp256k1(); k1 != nil {
			// decred keeps the scalar as 32-bit limbs, which fmt shows
			// when it meets the key as an unexported field.
			raw := fmt.Sprint(struct{ k secp256k1.PrivateKey }{*k1})
			limbs := strings.Fields(strings.Trim(raw, "{}[]"))
			if len(limbs) != 8 {
				t.Fatalf("unexpected secp256k1 key layout %q", raw)
			}
			decimal = strings.Join(limbs[:3], " ")
		}
	case KeyTypeRSA:
		secret = k.RSA().D.Bytes()
		decimal = k.RSA().D.String()[:24]
	}
	m := []string{
		hex.EncodeToString(secret[:8]),
		strings.ToUpper(hex.EncodeToString(secret[:8])),
		base64.StdEncoding.EncodeToString(secret[:9]),
		base64.RawURLEncoding.EncodeToString(secret[:9]),
		strings.Trim(fmt.Sprint(secret[:6]), "[]"),
		string(secret[:8]),
	}
	if decimal != "" {
		m = append(m, decimal)
	}
	return m
}

// TestNoLeaks formats keys and secrets every way a careless caller might,
// and checks that no rendering of the secret bytes appears.
func TestNoLeaks(t *testing.T) {
	type holder struct {
		Exported   *Key
		Secret     Secret
		unexported *Key
		secret     Secret
		value      Key
	}
	for _, k := range allKeys(t) {
		t.Run(k.String(), func(t *testing.T) {
			s := k.Symmetric()
			if k.Type() != KeyTypeOct {
				s = NewSecret(must(k.MarshalBinary()))
			}
			h := holder{Exported: k, Secret: s, unexported: k, secret: s, value: *k}
			var outputs []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b"} {
				outputs = append(outputs,
					fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k), fmt.Sprintf(verb, s),
					fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h), fmt.Sprintf(verb, []*Key{k}), fmt.Sprintf(verb, []Secret{s}))
			}
			outputs = append(outputs, fmt.Sprint(k, s, h), fmt.Sprintln(k, s, h), k.String(), k.GoString(), s.String(), s.GoString())
			for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			} {
				var buf bytes.Buffer
				slog.New(newHandler(&buf)).Info("msg", "key", k, "secret", s, "holder", h, slog.Any("ptr", &h))
				outputs = append(outputs, buf.String())
			}
			// A Key value (not pointer) has no exported fields and no
			// value-receiver MarshalJSON, so it encodes as {}.
			for _, v := range []any{k, s, h, &h, *k} {
				b, err := json.Marshal(v)
				if _, isValue := v.(Key); err == nil && !isValue {
					t.Errorf("json.Marshal(%T) succeeded: %s", v, b)
				}
				outputs = append(outputs, string(b))
				if err != nil {
					outputs = append(outputs, err.Error())
				}
			}
			if b, err := s.MarshalText(); err == nil {
				t.Errorf("Secret.MarshalText() = %q, want an error", b)
			}
			if b, err := k.MarshalText(); err == nil {
				t.Errorf("Key.MarshalText() = %q, want an error", b)
			}
			markers := secretMarkers(t, k)
			for _, out := range outputs {
				for _, m := range markers {
					if strings.Contains(out, m) {
						t.Fatalf("output %q contains the secret (as %q)", out, m)
					}
				}
			}
		})
	}
}

func TestKeyString(t *testing.T) {
	tests := []struct {
		k    *Key
		want string
	}{
		{keyOf(t, KeyTypeRSA, 0, 2048), "RSA-HSM 2048 (private)"},
		{keyOf(t, KeyTypeEC, CurveP256K, 0), "EC-HSM P-256K (private)"},
		{keyOf(t, KeyTypeEC, CurveP521, 0), "EC-HSM P-521 (private)"},
		{keyOf(t, KeyTypeOct, 0, 192), "oct-HSM 192 (private)"},
		{nil, "keymat.Key(nil)"},
	}
	for _, tc := range tests {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if got := fmt.Sprintf("%v|%#v", tc.k, tc.k); got != tc.want+"|"+tc.want {
			t.Errorf("Sprintf(%%v|%%#v) = %q, want the description twice", got)
		}
	}
}

func TestSecret(t *testing.T) {
	var zero Secret
	if !zero.IsZero() || zero.Len() != 0 || zero.Expose() != nil || !zero.Equal(Secret{}) {
		t.Errorf("zero Secret: IsZero %v, Len %d, Expose %v", zero.IsZero(), zero.Len(), zero.Expose())
	}
	zero.Wipe() // must not panic
	in := []byte{1, 2, 3, 4}
	s := NewSecret(in)
	in[0] = 9
	if s.Len() != 4 || s.IsZero() || !bytes.Equal(s.Expose(), []byte{1, 2, 3, 4}) {
		t.Fatalf("NewSecret kept the caller's slice or lost bytes: %v", s.Expose())
	}
	if !s.Equal(NewSecret([]byte{1, 2, 3, 4})) || s.Equal(NewSecret([]byte{1, 2, 3, 5})) || s.Equal(NewSecret([]byte{1, 2, 3})) {
		t.Error("Secret.Equal compares wrongly")
	}
	s.Wipe()
	if !bytes.Equal(s.Expose(), make([]byte, 4)) {
		t.Errorf("after Wipe, Expose() = %v, want zeros", s.Expose())
	}
}
