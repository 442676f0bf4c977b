package backuptarget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/cofferkms/coffer/internal/hsm"
)

// blobTarget is an Azure Blob Storage container reached with a SAS token.
type blobTarget struct {
	url    string // the container's URL, without the token
	client *container.Client
}

func (o *Opener) openBlob(_ context.Context, u *url.URL, sasToken string) (hsm.BackupTarget, error) {
	switch {
	case strings.EqualFold(u.Scheme, "http") && !(o.cfg.AllowHTTP && isLoopback(u.Hostname())):
		return nil, badRequest("storageResourceUri must be https (http is allowed only to a local storage emulator on a loopback address, when the server allows it).")
	case u.RawQuery != "":
		return nil, badRequest("storageResourceUri must not have a query: pass the SAS token in token.")
	case strings.Trim(u.Path, "/") == "":
		return nil, badRequest("storageResourceUri names no container: https://<account>.blob.core.windows.net/<container>.")
	}
	sasToken = strings.TrimPrefix(strings.TrimSpace(sasToken), "?")
	if sasToken == "" {
		return nil, badRequest("token is required: a SAS token for the container (read, write, create, list and delete for a backup; read and list for a restore).")
	}
	if _, err := url.ParseQuery(sasToken); err != nil {
		return nil, badRequest("token is not a SAS token (a URL query string).")
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     policy.RetryOptions{MaxRetries: 2, TryTimeout: time.Minute},
		Telemetry: policy.TelemetryOptions{ApplicationID: "coffer"},
	}}
	if o.cfg.HTTPClient != nil {
		opts.Transport = o.cfg.HTTPClient
	}
	c, err := container.NewClientWithNoCredential(base+"?"+sasToken, opts)
	if err != nil {
		return nil, badRequest("storageResourceUri and token do not make a container URL.")
	}
	return &blobTarget{url: base, client: c}, nil
}

func (b *blobTarget) URL() string { return b.url }

func (b *blobTarget) Put(ctx context.Context, name string, data []byte) error {
	if err := checkObjectName(name); err != nil {
		return err
	}
	_, err := b.client.NewBlockBlobClient(name).UploadBuffer(ctx, data, &blockblob.UploadBufferOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)}},
	})
	return b.storageError("writing "+name, err)
}

func (b *blobTarget) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	resp, err := b.client.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, b.storageError("reading "+name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxObject+1))
	if err != nil {
		return nil, &hsm.Error{Kind: hsm.KindUnavailable, Code: "StorageUnavailable", Message: fmt.Sprintf("Reading %s from the storage container failed before the end.", name)}
	}
	if len(data) > maxObject {
		return nil, badRequest("%s in the storage container is larger than a backup object can be.", name)
	}
	return data, nil
}

// Check proves the token grants what a backup (write) or a restore needs:
// a backup writes and deletes a probe blob; a restore reads a blob that
// is not there, which storage answers 404 only to a token that may read.
func (b *blobTarget) Check(ctx context.Context, write bool) error {
	var suffix [8]byte
	rand.Read(suffix[:])
	probe := ".coffer-probe-" + hex.EncodeToString(suffix[:])
	if !write {
		_, err := b.client.NewBlobClient(probe).GetProperties(ctx, nil)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 && re.ErrorCode != "ContainerNotFound" {
			return nil
		}
		if err == nil {
			return nil
		}
		return b.storageError("checking read access", err)
	}
	bc := b.client.NewBlockBlobClient(probe)
	if _, err := bc.UploadBuffer(ctx, []byte("coffer backup probe"), nil); err != nil {
		return b.storageError("checking write access", err)
	}
	if _, err := bc.Delete(ctx, nil); err != nil {
		return b.storageError("checking delete access", err)
	}
	return nil
}

// storageError turns a storage failure into an Azure-shaped error naming
// the storage status and error code only: the SDK's own text holds the
// request URL, and with it the token.
func (b *blobTarget) storageError(what string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return &hsm.Error{Kind: hsm.KindUnavailable, Code: "StorageUnavailable", Message: fmt.Sprintf("%s in the storage container %s: timed out or cancelled.", capitalize(what), b.url)}
		}
		return &hsm.Error{Kind: hsm.KindBadRequest, Code: "StorageUnreachable",
			Message: fmt.Sprintf("%s: the storage container %s could not be reached.", capitalize(what), b.url)}
	}
	code := re.ErrorCode
	switch {
	case re.StatusCode == 403 || re.StatusCode == 401:
		return &hsm.Error{Kind: hsm.KindForbidden, Code: "Forbidden", Inner: "StorageAccessDenied",
			Message: fmt.Sprintf("%s: the storage account refused the SAS token (%d %s). Check its signature, expiry and permissions.", capitalize(what), re.StatusCode, code)}
	case code == "ContainerNotFound":
		return badRequest("%s: the container %s does not exist.", capitalize(what), b.url)
	case re.StatusCode == 404:
		return &hsm.Error{Kind: hsm.KindNotFound, Code: "NotFound", Message: fmt.Sprintf("%s: no such object in the storage container %s.", capitalize(what), b.url)}
	case re.StatusCode == 409 || re.StatusCode == 412:
		return &hsm.Error{Kind: hsm.KindConflict, Code: "Conflict", Message: fmt.Sprintf("%s: the object already exists in the storage container; backups never overwrite.", capitalize(what))}
	case re.StatusCode >= 500:
		return &hsm.Error{Kind: hsm.KindUnavailable, Code: "StorageUnavailable", Message: fmt.Sprintf("%s: the storage service failed (%d %s).", capitalize(what), re.StatusCode, code)}
	}
	return badRequest("%s: the storage service refused the request (%d %s).", capitalize(what), re.StatusCode, code)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func to[T any](v T) *T { return &v }
