package cli

import (
	"strings"
	"testing"
)

func TestReadSecret(t *testing.T) {
	tests := []struct{ name, flag, stdin, want string }{
		{"flag value", "s3cret", "", "s3cret"},
		{"stdin line", "-", "correct horse battery staple\n", "correct horse battery staple"},
		{"stdin crlf", "-", "pass word\r\n", "pass word"},
		{"stdin without newline", "-", "last line", "last line"},
	}
	for _, tc := range tests {
		got, err := readSecret(&streams{in: strings.NewReader(tc.stdin)}, tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("%s: readSecret() = %q, %v, want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := readSecret(&streams{in: strings.NewReader("")}, "-"); err == nil {
		t.Error("readSecret(empty stdin) succeeded")
	}
}
