// Package seal protects everything Coffer stores. It keeps the key
// hierarchy of each protected key space (a Domain) and the barrier that
// encrypts every record before it reaches a store.Store:
//
//	node seal ─wraps→ domain key ─seals→ keyring of data keys ─seal→ records
//
// The node seal (a key file by default, a PKCS#11 token for real HSMs)
// lets a restarted node open its domains without people. The domain key is
// what a pool's security domain protects: it is generated when the pool is
// created, split among the key holders at security-domain download, and
// adopted by a recovering pool at upload. Data keys encrypt the records
// and can be rotated without touching the domain key.
//
// # Security
//
// The backing store is untrusted. A reader of the store learns nothing but
// record paths and sizes. Each record is AES-256-GCM sealed with its full
// store path as associated data, so a record moved to another path, or
// copied from another domain, fails to open. The barrier does not detect
// rollback of a single record to an older sealed value of the same path;
// the audit log's hash chain records every change for that.
//
// The domain key and data keys live in memory as keymat.Secret values from
// OpenDomain until the process exits.
package seal
