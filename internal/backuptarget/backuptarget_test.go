package backuptarget

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferkms/coffer/internal/hsm"
)

// shape is what a caller learns from an error besides its text.
type shape struct {
	Kind  hsm.Kind
	Code  string
	Inner string
}

func shapeOf(err error) shape {
	var e *hsm.Error
	switch {
	case err == nil:
		return shape{}
	case errors.As(err, &e):
		return shape{e.Kind, e.Code, e.Inner}
	}
	return shape{Code: "not an *hsm.Error: " + err.Error()}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var badRequest = shape{hsm.KindBadRequest, "BadParameter", ""}

func TestOpenRefuses(t *testing.T) {
	root := t.TempDir()
	withRoot := New(Config{LocalRoots: []string{root}, AllowHTTP: true})
	tests := []struct {
		name   string
		o      *Opener
		url    string
		sas    string
		mi     bool
		want   shape
		inText string
	}{
		{"not a url", withRoot, "::", "sig=x", false, badRequest, "must be a URL"},
		{"no scheme", withRoot, "acct.blob.core.windows.net/c", "sig=x", false, badRequest, "must be a URL"},
		{"empty", withRoot, "", "sig=x", false, badRequest, "must be a URL"},
		{"opaque", withRoot, "https:acct.blob.core.windows.net/c", "sig=x", false, badRequest, "must be a URL"},
		{"ftp", withRoot, "ftp://host/c", "sig=x", false, badRequest, `scheme "ftp"`},
		{"http remote", withRoot, "http://acct.blob.core.windows.net/c", "sig=x", false, badRequest, "must be an https URL"},
		{"http loopback not allowed", New(Config{}), "http://127.0.0.1:10000/devstoreaccount1/c", "sig=x", false, badRequest, "must be an https URL"},
		{"http lookalike host", withRoot, "http://127.0.0.1.example.com/c", "sig=x", false, badRequest, "must be an https URL"},
		{"no host", withRoot, "https:///c", "sig=x", false, badRequest, "names no host"},
		{"no container", withRoot, "https://acct.blob.core.windows.net/", "sig=x", false, badRequest, "names no container"},
		{"query in url", withRoot, "https://acct.blob.core.windows.net/c?sv=1&sig=x", "", false, badRequest, "must not carry a query string"},
		{"query in url and token", withRoot, "https://acct.blob.core.windows.net/c?sv=1&sig=x", "sv=1&sig=x", false, badRequest, "must not carry a query string"},
		{"empty query", withRoot, "https://acct.blob.core.windows.net/c?", "sig=x", false, badRequest, "must not carry a query string"},
		{"fragment", withRoot, "https://acct.blob.core.windows.net/c#f", "sig=x", false, badRequest, "fragment"},
		{"credentials", withRoot, "https://u:p@acct.blob.core.windows.net/c", "sig=x", false, badRequest, "user name or password"},
		{"no token", withRoot, "https://acct.blob.core.windows.net/c", "", false, badRequest, "token is required"},
		{"only a question mark", withRoot, "https://acct.blob.core.windows.net/c", "?", false, badRequest, "token is required"},
		{"token without signature", withRoot, "https://acct.blob.core.windows.net/c", "sv=2024-01-01&sp=r", false, badRequest, "not a SAS token"},
		{"token not a query", withRoot, "https://acct.blob.core.windows.net/c", "sig=%zz", false, badRequest, "not a SAS token"},
		{"token with space", withRoot, "https://acct.blob.core.windows.net/c", "sv=1 &sig=x", false, badRequest, "not a SAS token"},
		{"managed identity", withRoot, "https://acct.blob.core.windows.net/c", "", true, badRequest, "useManagedIdentity is not supported"},
		{"managed identity with token", withRoot, "https://acct.blob.core.windows.net/c", "sig=x", true, badRequest, "useManagedIdentity is not supported"},
		{"file not enabled", New(Config{}), "file://" + root, "", false, badRequest, "not enabled"},
		{"file remote host", withRoot, "file://host" + root, "", false, badRequest, "on this server"},
		{"file query", withRoot, "file://" + root + "?x=1", "", false, badRequest, "query string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := tc.o.Open(context.Background(), tc.url, tc.sas, tc.mi)
			if diff := cmp.Diff(tc.want, shapeOf(err)); diff != "" || !strings.Contains(errText(err), tc.inText) {
				t.Errorf("Open(%q, %q, %v) = %v, %v, want an error containing %q (-want +got):\n%s", tc.url, tc.sas, tc.mi, tg, err, tc.inText, diff)
			}
		})
	}
}

func TestOpenAccepts(t *testing.T) {
	o := New(Config{AllowHTTP: true})
	tests := []struct {
		name, url, sas, wantURL string
	}{
		{"https", "https://acct.blob.core.windows.net/backups", "sv=2024-01-01&sig=abc", "https://acct.blob.core.windows.net/backups"},
		{"trailing slash", "https://acct.blob.core.windows.net/backups/", "sv=2024-01-01&sig=abc", "https://acct.blob.core.windows.net/backups"},
		{"leading question mark", "https://acct.blob.core.windows.net/backups", "?sv=2024-01-01&sig=abc", "https://acct.blob.core.windows.net/backups"},
		{"upper-case scheme", "HTTPS://acct.blob.core.windows.net/backups", "sig=abc", "https://acct.blob.core.windows.net/backups"},
		{"loopback http", "http://127.0.0.1:10000/devstoreaccount1/backups", "sig=abc", "http://127.0.0.1:10000/devstoreaccount1/backups"},
		{"localhost http", "http://localhost:10000/devstoreaccount1/backups", "sig=abc", "http://localhost:10000/devstoreaccount1/backups"},
		{"ipv6 loopback http", "http://[::1]:10000/devstoreaccount1/backups", "sig=abc", "http://[::1]:10000/devstoreaccount1/backups"},
		{"escaped path", "https://acct.blob.core.windows.net/a%20b", "sig=abc", "https://acct.blob.core.windows.net/a%20b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := o.Open(context.Background(), tc.url, tc.sas, false)
			if err != nil {
				t.Fatalf("Open(%q, %q, false) = %v, want a target", tc.url, tc.sas, err)
			}
			if got := tg.URL(); got != tc.wantURL {
				t.Errorf("Open(%q).URL() = %q, want %q", tc.url, got, tc.wantURL)
			}
		})
	}
}

func TestCheckObjectName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"mhsm-pool-20260101120000123/manifest.json", true},
		{"mhsm-pool-20260101120000123/data-00001.bin", true},
		{"manifest.json", true},
		{"a/b/c", true},
		{"..a/b..", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"a/..", false},
		{"/abs", false},
		{"a\\b", false},
		{"..\\x", false},
		{"a//b", false},
		{"./a", false},
		{"a/", false},
		{"a/./b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\xffb", false},
		{strings.Repeat("a", maxNameLen+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkObjectName(tc.name)
			if (err == nil) != tc.ok {
				t.Errorf("checkObjectName(%q) = %v, want ok %v", tc.name, err, tc.ok)
			}
			if err != nil && shapeOf(err) != badRequest {
				t.Errorf("checkObjectName(%q) = %v, want a BadParameter *hsm.Error", tc.name, err)
			}
		})
	}
}

func FuzzCheckObjectName(f *testing.F) {
	for _, s := range []string{"mhsm-p-1/manifest.json", "../x", "a/../b", "/a", "a\\b", "a//b", ".", "..a"} {
		f.Add(s)
	}
	base := filepath.FromSlash("/base/dir")
	f.Fuzz(func(t *testing.T, name string) {
		if checkObjectName(name) != nil {
			return
		}
		joined := filepath.Join(base, filepath.FromSlash(name))
		if !strings.HasPrefix(joined, base+string(filepath.Separator)) {
			t.Errorf("checkObjectName(%q) = nil, but the name leads to %s, outside %s", name, joined, base)
		}
		if path.Clean(name) != name || strings.Contains(name, "\\") {
			t.Errorf("checkObjectName(%q) = nil, want an error for a name that is not clean", name)
		}
	})
}

// sigValue finds a SAS signature worth looking for in a message.
var sigValue = regexp.MustCompile(`sig=([A-Za-z0-9%+/=]{12,})`)

func FuzzOpen(f *testing.F) {
	f.Add("https://acct.blob.core.windows.net/c", "sv=2024-01-01&sig=c2VjcmV0c2lnbmF0dXJl", false)
	f.Add("https://acct.blob.core.windows.net/c?sv=2024-01-01&sig=c2VjcmV0c2lnbmF0dXJl", "", false)
	f.Add("http://127.0.0.1:1/devstoreaccount1/c", "?sig=c2VjcmV0c2lnbmF0dXJl", true)
	f.Add("file:///tmp/x?sig=c2VjcmV0c2lnbmF0dXJl", "", false)
	f.Add("ftp://u:sig=c2VjcmV0c2lnbmF0dXJl@h/c", "x", false)
	o := New(Config{AllowHTTP: true})
	f.Fuzz(func(t *testing.T, containerURL, token string, mi bool) {
		tg, err := o.Open(context.Background(), containerURL, token, mi)
		// A signature counts as secret unless the URL shows it outside a
		// query (then a message may quote it as part of the URL).
		visible, query, _ := strings.Cut(containerURL, "?")
		var secrets []string
		for _, s := range []string{token, query} {
			for _, m := range sigValue.FindAllStringSubmatch(s, -1) {
				if !strings.Contains(visible, m[1]) {
					secrets = append(secrets, m[1])
				}
			}
		}
		if err != nil {
			if _, ok := errors.AsType[*hsm.Error](err); !ok {
				t.Fatalf("Open(%q, %q, %v) = %v, want an *hsm.Error", containerURL, token, mi, err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("Open(%q, %q, %v) = %v, which shows the signature %s", containerURL, token, mi, err, s)
				}
			}
			return
		}
		u := tg.URL()
		if strings.ContainsAny(u, "?#") {
			t.Errorf("Open(%q, %q, %v).URL() = %q, want no query or fragment", containerURL, token, mi, u)
		}
		for _, s := range secrets {
			if strings.Contains(u, s) {
				t.Errorf("Open(%q, %q, %v).URL() = %q, which shows the signature %s", containerURL, token, mi, u, s)
			}
		}
	})
}
