// Package seal protects everything Coffer stores. It keeps the key
// hierarchy of each protected key space (a [Domain]) and the barrier that
// encrypts every record before it reaches a [store.Store]:
//
//	node seal ──wraps──▶ domain key ──seals──▶ keyring of data keys ──seal──▶ records
//
// A [NodeSeal] (a key file by default; a PKCS#11 token for real HSMs) lets
// a restarted node open its domains without people. The domain key (256
// bits, one per pool, and one for the server's own records) is what a
// pool's security domain protects: it is generated when the pool is
// created, handed out at security-domain download, and adopted by a
// recovering pool at upload ([Domain.ReplaceDomainKey]). Data keys encrypt
// the records and can be rotated ([Domain.RotateDataKey]) without touching
// the domain key; old data keys stay in the keyring to read old records.
//
// A domain rooted at root keeps three kinds of record in the store:
//
//	root+"seal/domainkey"  the domain key wrapped by the node seal (AAD: this path)
//	root+"seal/keyring"    the keyring, sealed under the domain key (AAD: this path)
//	root+"data/"+rel       record rel, sealed under a data key (AAD: this full path)
//
// # Security
//
// The backing store is untrusted: it may be read, and records may be
// dropped, swapped or replayed. Against that the barrier gives:
//
//   - Confidentiality: a reader of the store learns record paths, sizes
//     and the data key id of each record, and nothing of their contents.
//   - Binding to the path: every record is AES-256-GCM sealed with its
//     full store path as associated data, so a record copied or moved to
//     another path, or into another domain (whose paths and keys differ),
//     fails to open.
//   - Integrity: a record altered in any byte fails to open. Every such
//     failure is the same error (wrapping envelope.ErrOpen), whatever the
//     cause.
//
// It does not give:
//
//   - Freshness: putting back an older sealed value of the same record
//     (rollback), or deleting a record, is not detected here. The audit
//     log's hash chain records every change and is where that shows.
//   - Hiding which paths exist: paths are stored in the clear, so record
//     names (key names, for instance) must not be secret.
//
// Key material lives in memory: the domain key as a keymat.Secret, data
// keys as prepared AES-GCM keys, for as long as the Domain is referenced.
// The node seal's key file must be kept apart from backups of the store:
// whoever holds both holds every domain key.
package seal
