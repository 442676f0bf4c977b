package backuptarget

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode"

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
	host   string
	client *container.Client
}

const sasHelp = "a SAS token for the container, without the leading '?' (a backup needs the create, write and delete permissions, a restore the read permission)"

func (o *Opener) openBlob(u *url.URL, sasToken string) (hsm.BackupTarget, error) {
	scheme := strings.ToLower(u.Scheme)
	switch {
	case u.Host == "":
		return nil, badParameter("", "storageResourceUri names no host: https://<account>.blob.core.windows.net/<container>.")
	case scheme == "http" && !(o.cfg.AllowHTTP && isLoopback(u.Hostname())):
		return nil, badParameter("", "storageResourceUri must be an https URL (this server allows http only to a storage emulator on a loopback address, if at all).")
	case strings.Trim(u.Path, "/") == "":
		return nil, badParameter("", "storageResourceUri names no container: https://<account>.blob.core.windows.net/<container>.")
	}
	token := strings.TrimPrefix(strings.TrimSpace(sasToken), "?")
	if token == "" {
		return nil, badParameter("", "token is required: %s.", sasHelp)
	}
	q, err := url.ParseQuery(token)
	if err != nil || q.Get("sig") == "" || strings.ContainsFunc(token, func(r rune) bool { return r == '#' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, badParameter("", "token is not a SAS token: it must be %s, like sv=...&sp=...&sig=....", sasHelp)
	}
	base := scheme + "://" + u.Host + "/" + strings.Trim(u.EscapedPath(), "/")
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     policy.RetryOptions{MaxRetries: 3, TryTimeout: 2 * time.Minute},
		Telemetry: policy.TelemetryOptions{ApplicationID: "coffer"},
	}}
	if o.cfg.HTTPClient != nil {
		opts.Transport = o.cfg.HTTPClient
	}
	c, err := container.NewClientWithNoCredential(base+"?"+token, opts)
	if err != nil {
		return nil, badParameter("", "storageResourceUri and token do not make a blob container URL.")
	}
	return &blobTarget{url: base, host: u.Host, client: c}, nil
}

func (b *blobTarget) URL() string { return b.url }

func ifNoneMatchAny() *blob.AccessConditions {
	star := azcore.ETagAny
	return &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &star}}
}

// Put uploads an object unless a blob of that name exists.
func (b *blobTarget) Put(ctx context.Context, name string, data []byte) error {
	if err := checkObjectName(name); err != nil {
		return err
	}
	_, err := b.client.NewBlockBlobClient(name).UploadBuffer(ctx, data, &blockblob.UploadBufferOptions{AccessConditions: ifNoneMatchAny()})
	if isExists(err) {
		// The storage client retries failed attempts; one whose response
		// was lost may have stored the blob it then finds in its way.
		if got, gerr := b.Get(ctx, name); gerr == nil && bytes.Equal(got, data) {
			return nil
		}
		return &hsm.Error{Kind: hsm.KindConflict, Code: "Conflict", Inner: "BlobAlreadyExists",
			Message: fmt.Sprintf("%s already exists in the container %s; a backup never overwrites an object.", name, b.url)}
	}
	return b.storageError("writing "+name+" to the container "+b.url, name, err)
}

func isExists(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && (re.StatusCode == http.StatusPreconditionFailed ||
		re.StatusCode == http.StatusConflict && re.ErrorCode == "BlobAlreadyExists")
}

// Get downloads an object of at most MaxObjectSize bytes.
func (b *blobTarget) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	resp, err := b.client.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, b.storageError("reading "+name+" from the container "+b.url, name, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != nil && *resp.ContentLength > MaxObjectSize {
		return nil, tooLarge(name, b.url)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxObjectSize+1))
	if err != nil {
		return nil, &hsm.Error{Kind: hsm.KindUnavailable, Code: "ServiceUnavailable", Inner: "StorageUnavailable",
			Message: fmt.Sprintf("Reading %s from the container %s broke off before the end; try again.", name, b.url)}
	}
	if len(data) > MaxObjectSize {
		return nil, tooLarge(name, b.url)
	}
	return data, nil
}

func tooLarge(name, where string) *hsm.Error {
	return badParameter("", "%s in %s is larger than a backup object can be (%d MiB).", name, where, MaxObjectSize>>20)
}

// Check proves the token grants what a backup (write) or a restore needs.
// For a backup it writes and deletes a probe blob. For a restore it asks
// for the properties of a blob that is not there: storage answers 404
// BlobNotFound only to a token that may read, and 403 to one that may not.
func (b *blobTarget) Check(ctx context.Context, write bool) error {
	probe := probeName()
	if !write {
		_, err := b.client.NewBlobClient(probe).GetProperties(ctx, nil)
		var re *azcore.ResponseError
		if err == nil || errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "BlobNotFound" {
			return nil
		}
		return b.storageError("reading from the container "+b.url, "", err)
	}
	bc := b.client.NewBlockBlobClient(probe)
	if _, err := bc.UploadBuffer(ctx, []byte("coffer backup probe\n"), &blockblob.UploadBufferOptions{AccessConditions: ifNoneMatchAny()}); err != nil {
		return b.storageError("writing a probe blob to the container "+b.url, "", err)
	}
	if _, err := bc.Delete(ctx, nil); err != nil {
		return b.storageError("deleting the probe blob "+probe+" from the container "+b.url, "", err)
	}
	return nil
}

// storageError turns a storage failure into an Azure-shaped error that
// names the storage status and error code only: the SDK's own text quotes
// the request URL, and with it the token. object, if set, is the blob the
// operation was about, for a clearer 404.
func (b *blobTarget) storageError(what, object string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := storageCode(re.ErrorCode)
		status := strings.TrimSpace(fmt.Sprintf("%d %s", re.StatusCode, code))
		switch {
		case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
			return &hsm.Error{Kind: hsm.KindForbidden, Code: "Forbidden", Inner: code,
				Message: fmt.Sprintf("The storage account rejected the SAS token while %s (%s): check the token's signature, expiry, permissions and allowed IP addresses.", what, status)}
		case code == "ContainerNotFound":
			return badParameter(code, "The container %s does not exist (%s).", b.url, status)
		case re.StatusCode == http.StatusNotFound && object != "":
			return &hsm.Error{Kind: hsm.KindNotFound, Code: "NotFound", Inner: code,
				Message: fmt.Sprintf("%s does not exist in the container %s (%s).", object, b.url, status)}
		case re.StatusCode == http.StatusNotFound:
			return badParameter(code, "The storage service found nothing at %s while %s (%s): check storageResourceUri.", b.url, what, status)
		case re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed:
			return &hsm.Error{Kind: hsm.KindConflict, Code: "Conflict", Inner: code,
				Message: fmt.Sprintf("The storage service refused %s (%s).", what, status)}
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
			return &hsm.Error{Kind: hsm.KindUnavailable, Code: "ServiceUnavailable", Inner: code,
				Message: fmt.Sprintf("The storage service failed while %s (%s); try again later.", what, status)}
		}
		return badParameter(code, "The storage service refused %s (%s).", what, status)
	}
	unreachable := func(kind hsm.Kind, why string) *hsm.Error {
		code := "BadParameter"
		if kind == hsm.KindUnavailable {
			code = "ServiceUnavailable"
		}
		return &hsm.Error{Kind: kind, Code: code, Inner: "StorageUnreachable",
			Message: fmt.Sprintf("The storage service at %s could not be reached while %s: %s.", b.host, what, why)}
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return unreachable(hsm.KindUnavailable, "timed out or cancelled")
	case errors.As(err, &dnsErr):
		return unreachable(hsm.KindBadRequest, "the host name was not found")
	case errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) || errors.As(err, &invErr):
		return unreachable(hsm.KindBadRequest, "its TLS certificate is not trusted by this server")
	case errors.As(err, &recErr):
		return unreachable(hsm.KindBadRequest, "it does not speak TLS")
	case errors.Is(err, syscall.ECONNREFUSED):
		return unreachable(hsm.KindUnavailable, "the connection was refused")
	}
	return unreachable(hsm.KindUnavailable, "the connection failed")
}

// storageCode keeps a storage error code only if it looks like one: the
// code is the storage server's text, and the server is the caller's choice.
func storageCode(code string) string {
	if len(code) > 64 || strings.ContainsFunc(code, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		return ""
	}
	return code
}
