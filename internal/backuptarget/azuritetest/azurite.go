// Package azuritetest runs Azurite, Microsoft's local Azure Blob Storage
// emulator, for tests that need real blob storage. Azurite is installed
// from npm on first use into the user's cache directory.
package azuritetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// The emulator's well-known development account.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azurite is a running emulator.
type Azurite struct {
	// BlobEndpoint is the account's URL: http://127.0.0.1:PORT/devstoreaccount1.
	BlobEndpoint string
}

var installMu sync.Mutex

// install puts azurite in the cache once and returns its blob binary.
func install(t testing.TB) string {
	installMu.Lock()
	defer installMu.Unlock()
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
	out, err := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "azurite@3").CombinedOutput()
	if err != nil {
		unavailable(t, fmt.Sprintf("npm install azurite: %v\n%s", err, out))
	}
	return bin
}

// unavailable skips the test, or fails it when COFFER_TEST_REQUIRE=all.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("COFFER_TEST_REQUIRE") == "all" {
		t.Fatalf("Azurite is needed and unavailable: %s", why)
	}
	t.Skipf("Azurite unavailable: %s", why)
}

// Start runs Azurite's blob service on a free loopback port until the
// test ends.
func Start(t testing.TB) *Azurite {
	t.Helper()
	bin := install(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", t.TempDir(),
		"--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		unavailable(t, err.Error())
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	a := &Azurite{BlobEndpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", port, Account)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
			return a
		}
		select {
		case <-done:
			t.Fatalf("Azurite exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Azurite did not start in 30s: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Container creates a container and returns its URL.
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
		t.Fatalf("creating container %s: %v", name, err)
	}
	return u
}

// SAS returns a container SAS token valid for an hour with the given
// permissions ("racwdl" letters).
func (a *Azurite) SAS(t testing.TB, containerURL, perms string) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(Account, Key)
	if err != nil {
		t.Fatal(err)
	}
	p := sas.ContainerPermissions{}
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
		}
	}
	name := containerURL[strings.LastIndex(containerURL, "/")+1:]
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().UTC().Add(time.Hour),
		Permissions: p.String(), ContainerName: name}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}
