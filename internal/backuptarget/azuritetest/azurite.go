// Package azuritetest runs Azurite, Microsoft's Azure Blob Storage
// emulator, for tests that need real blob storage. Azurite comes from npm:
// the first use installs it into the user's cache directory
// (coffer-test/azurite), later runs reuse that copy.
//
// When node or npm is missing, or the installation fails, Start skips the
// test, unless COFFER_TEST_REQUIRE=all asks that nothing be skipped; then
// it fails the test.
package azuritetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// The emulator's well-known development account (public, documented by
// Microsoft; it guards nothing).
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// version is the Azurite major version installed.
const version = "azurite@3"

// Azurite is a running emulator; it stops when the test that started it
// ends.
type Azurite struct {
	// BlobEndpoint is the account's URL: http://127.0.0.1:PORT/devstoreaccount1.
	BlobEndpoint string
}

var installMu sync.Mutex

// install returns the azurite-blob program, installing it first if the
// cache has none. Installations race safely between processes: each
// installs into a directory of its own and renames it into place.
func install(t testing.TB) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := exec.LookPath("node"); err != nil {
		unavailable(t, "node is not installed")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "coffer-test", "azurite")
	bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, "npm is not installed")
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := dir + ".installing-" + hex.EncodeToString(suffix[:])
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		unavailable(t, fmt.Sprintf("creating %s: %v", tmp, err))
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", version)
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, fmt.Sprintf("npm install %s: %v\n%s", version, err, out))
	}
	// The tree holds no absolute paths (node_modules/.bin has relative
	// symbolic links), so it works after the rename; a lost race leaves
	// the winner's copy in place.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		unavailable(t, fmt.Sprintf("moving the Azurite installation into %s: %v", dir, err))
	}
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, fmt.Sprintf("npm install %s left no %s", version, bin))
	}
	return bin
}

// unavailable skips the test, or fails it when COFFER_TEST_REQUIRE=all.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
		t.Fatalf("Azurite is required (COFFER_TEST_REQUIRE=all) and unavailable: %s", why)
	}
	t.Skipf("Azurite unavailable: %s", why)
}

// Start runs Azurite's blob service on a free loopback port, with its data
// in a temporary directory, until the test ends.
func Start(t testing.TB) *Azurite {
	t.Helper()
	bin := install(t)
	for attempt := 0; ; attempt++ {
		a, err := start(t, bin)
		if err == nil {
			return a
		}
		// Another process may take the free port before Azurite binds it.
		if attempt == 2 {
			t.Fatal(err)
		}
	}
}

func start(t testing.TB, bin string) (*Azurite, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", t.TempDir(),
		"--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		unavailable(t, fmt.Sprintf("starting %s: %v", bin, err))
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Any HTTP answer means the blob service is listening.
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
			return &Azurite{BlobEndpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", port, Account)}, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("Azurite exited on start: %s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("Azurite did not answer within 30s: %s", logs.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Container creates a container (with the account key) and returns its
// URL, without credentials.
func (a *Azurite) Container(t testing.TB, name string) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(Account, Key)
	if err != nil {
		t.Fatal(err)
	}
	u := a.BlobEndpoint + "/" + name
	c, err := container.NewClientWithSharedKeyCredential(u, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatalf("creating the container %s: %v", name, err)
	}
	return u
}

// SAS returns a container SAS token (without a leading '?'), valid for an
// hour, for the container at containerURL; perms are SAS permission
// letters: r read, a add, c create, w write, d delete, l list.
func (a *Azurite) SAS(t testing.TB, containerURL, perms string) string {
	t.Helper()
	return SignSAS(t, containerURL, perms, Key)
}

// SignSAS is SAS with the account key given (base64): a token signed with
// any other key than Key is one the emulator must reject.
func SignSAS(t testing.TB, containerURL, perms, key string) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(Account, key)
	if err != nil {
		t.Fatal(err)
	}
	var p sas.ContainerPermissions
	for _, r := range perms {
		switch r {
		case 'r':
			p.Read = true
		case 'a':
			p.Add = true
		case 'c':
			p.Create = true
		case 'w':
			p.Write = true
		case 'd':
			p.Delete = true
		case 'l':
			p.List = true
		default:
			t.Fatalf("SAS permission %q is not one of racwdl", r)
		}
	}
	name := containerURL[strings.LastIndex(containerURL, "/")+1:]
	q, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().UTC().Add(time.Hour),
		Permissions: p.String(), ContainerName: name,
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}
