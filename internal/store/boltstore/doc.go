// Package boltstore is the embedded default [store.Store]: one bbolt file
// in the data directory, holding every record as a key in a single bucket.
//
// # Durability
//
// Update runs bbolt's read-write transaction, which writes the changed
// pages, fsyncs them, then writes and fsyncs the meta page that makes them
// current. A nil return from Update therefore means the change is on disk,
// and a crash at any moment (process kill or power loss on a disk that
// honours fsync) leaves the file at the last committed transaction, never
// part of one. Options.NoSync drops that promise and exists for tests.
//
// # Caveats inherited from bbolt
//
//   - One process at a time: Open takes an exclusive flock on the file and
//     waits at most Options.Timeout for another holder to let go. The file
//     must be on a local filesystem; flock and mmap over NFS are unreliable.
//   - One writer at a time: Updates run one after another, each paying for
//     its fsyncs. Callers that need many small writes per second batch
//     them into fewer transactions.
//   - Readers use MVCC snapshots and never block the writer, but a long
//     View pins the pages it can see: space freed meanwhile is not reused,
//     and when the file must grow, bbolt remaps it only after every open
//     View ends, stalling the writer until then. Keep Views short.
//   - Transactions must not nest: starting an Update inside a View (or
//     another Update) on the same Store can deadlock.
//   - The file never shrinks; space from deleted records is reused by
//     later writes. Compacting needs the server stopped (bbolt compact).
//   - Values handed out by bbolt point into the memory map and are valid
//     only inside their transaction, so every value is copied out before
//     it is returned; values passed to Put are copied too, because bbolt
//     keeps references to them until commit.
//
// # Security
//
// The file is created with mode 0600 and Open refuses one that group or
// others can access. It holds whatever the caller puts there: in Coffer
// only records already sealed by package seal.
package boltstore
