// Package backuptarget opens the storage full backups go to: an Azure Blob
// Storage container named by its URL and a SAS token (Managed HSM's API
// contract), or a local directory (file://) the server's configuration
// allows.
//
// # Security
//
// A SAS token is a bearer credential for the container: it is used only
// to build the storage client, and no error, log line or URL this package
// returns contains it (storage errors are reduced to their status and
// storage error code). Local targets are confined to configured roots,
// symbolic links included, and objects are never overwritten.
package backuptarget
