// Package backuptarget opens the storage a pool's full backups are written
// to and restored from (hsm.BackupTarget): an Azure Blob Storage container
// named by its URL and reached with a SAS token, which is Managed HSM's own
// API contract, or a local directory (file:///dir) inside a root the
// server's configuration allows.
//
// Open does no I/O beyond creating a local target's directory; what the
// storage grants is learned by Check, which a backup and a restore run
// first. Storage failures become *hsm.Error values in the Managed HSM
// vocabulary: the storage service's status and error code (as the inner
// error code) and the container's URL, nothing else of the storage SDK's
// text.
//
// Managed identity access to storage (useManagedIdentity) is refused as a
// bad request: a self-hosted server has no Azure managed identity to
// present to a storage account, and failing at the request is clearer
// than a job that fails later.
//
// # Security
//
// A SAS token is a bearer credential for the container. It is used only to
// build the storage client: no error, log line or URL this package returns
// contains it, or any other part of a query string, and a container URL
// that carries a query is refused rather than stored. The storage SDK's
// own error text is never passed on because it quotes the request URL.
//
// Blobs are written with If-None-Match: *, local files by linking a synced
// temporary file into place: a backup never overwrites an object. Local
// targets are confined to the configured roots twice over: the path is
// judged after cleaning and resolving symbolic links when the target is
// opened, and every file operation then goes through an os.Root, so a
// symbolic link created later cannot lead out either.
//
// A caller allowed to start a backup chooses the URL the server connects
// to. Plain http is allowed only to loopback addresses and only when the
// configuration says so; an operator who must keep the server from
// reaching other https hosts sets Config.HTTPClient to one that can.
package backuptarget
