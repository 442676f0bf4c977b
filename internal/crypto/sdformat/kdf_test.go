package sdformat

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestKDF(t *testing.T) {
	tests := []struct {
		name                string
		key, label, context string
		bits                int
		want                string
	}{
		{
			// The Azure CLI's own self-test (sp800_108.py).
			name: "cli self-test", key: strings.Repeat("41", 32), label: "label", context: "context", bits: 256,
			want: "f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575",
		},
		{
			// A payload key as the security domain derives it, computed
			// with the CLI's KDF.sp800_108 (testdata/oracle.py kdf).
			name: "payload key", key: "00ff", label: "hsm_backup", bits: 512,
			want: "a60ffdfb672c8267c4c60a0d69d6b8bf96c2f9916936d6dd4fd10437c68ba367652865519b32da95b1146d0feaef3424a1cf3be85c4ac3a66cafba777bc4886c",
		},
		{
			// Two blocks, computed with Python's hmac module from the
			// SP 800-108 definition (the CLI stops at one block).
			name: "two blocks", key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", label: "coffer", context: "ctx", bits: 1024,
			want: "d004cd1429c808fbaef97e7def835c69d0e758c0fce736676fd3ef8dbb00388288dd568bf5fcc6811c752ae3272884db46488271cf5aef73703a7403d53df3cd5d60d2a252a01bf2c6b3102b70dc401262252db279e3c61f703bb7fa1b372ee83183af67cb549ab3e8f7d6e11e04075cacfe84c89e7104dc0e20e79b6fca8cb6",
		},
		{
			name: "partial second block", key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", label: "coffer", context: "ctx", bits: 520,
			want: "aa24c4693101fdbfc216979dce8596f660a029ed2f52f6c636298bbc693dead8376dcae490bd365ea60a616b986eb86b1c411d71d82403dbc61d6ac00ed63a9a7e",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hex.EncodeToString(KDF(mustHex(t, tc.key), []byte(tc.label), []byte(tc.context), tc.bits))
			if got != tc.want {
				t.Errorf("KDF(%s, %q, %q, %d) = %s, want %s", tc.key, tc.label, tc.context, tc.bits, got, tc.want)
			}
		})
	}
}

func TestKDFPanicsOnBadLength(t *testing.T) {
	for _, bits := range []int{0, -8, 7, 1<<32 + 8} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("KDF(bits=%d) did not panic", bits)
				}
			}()
			KDF([]byte("k"), nil, nil, bits)
		}()
	}
}
