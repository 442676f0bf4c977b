// Package audit records every request as one structured event in a
// durable, tamper-evident log, and verifies such logs offline.
//
// # Use
//
// The HTTP layer builds one [Event] per request (allowed, denied or
// unauthenticated), the domain annotates it through [FromContext], and the
// HTTP layer calls [Manager.Append] before it answers. Append returns once
// the event is on disk; if it returns an error the request is refused
// (fail-closed). Each pool has its own log, read by that pool's auditors
// only; events without a pool (the token endpoint, unknown hosts, server
// maintenance) go to the system log, [SystemLog].
//
// # Durability: group commit
//
// An fsync per request caps a server at a few thousand requests a second,
// so each log has one writer goroutine: Append encodes the event on the
// caller's goroutine, queues it and waits; the writer takes everything
// queued (up to Config.MaxBatch), writes it with one write and one fsync,
// and wakes every waiter with its result. Batches form by themselves while
// the previous fsync runs. An event is acknowledged only after the fsync
// of its batch returned success; a batch that failed is cut off the file
// before the next is written, so the chain always continues from the last
// durable event.
//
// # Failure modes
//
// The log never drops an event silently and never blocks a request
// without bound:
//
//   - Disk full, read-only file system, I/O errors: every waiter of the
//     batch gets an error wrapping [ErrUnavailable] (the request is
//     refused), [Manager.Health] says why, and the server log gets one loud
//     error (then at most one every 10 seconds). The log probes the disk
//     every Config.ProbeEvery and resumes on its own when it can write,
//     with or without traffic.
//   - A hung disk: Append gives up after Config.AppendTimeout (and when
//     the request's context ends); Health reports the stalled write.
//     Config.MaxQueue bounds what waits.
//   - The events file deleted or replaced under the running server: the
//     writer compares the open file with the path before every batch and
//     every probe. The open handle still holds every acknowledged event, so
//     the file is restored from it (a replacement is kept beside it as
//     evidence), the batch in flight fails, a system event
//     AuditLogFileRestored records the incident in the log itself, a
//     checkpoint is signed at once, and Health reports [ErrDisturbed] for
//     Config.HealthWindow.
//   - A broken file handle (EBADF): the file is reopened by its path if it
//     still ends with the last durable event; otherwise as above.
//   - A crash: a torn last line is an event whose fsync never returned, so
//     no request was told it was recorded; on restart it is cut off and a
//     system event AuditLogRecovered says so. If the newest signed
//     checkpoint is ahead of the files (events removed while the server was
//     down), the chain continues after the checkpoint, so no seq is ever
//     reused and the gap stays visible to [Verify].
//   - Config.FailOpen trades this for availability: Append returns nil
//     when the disk fails, and the loss is counted ([LogStatus].Lost),
//     logged loudly and reported by Health as [ErrEventsLost].
//
// # File format
//
// A log's directory holds events-<first seq, 20 digits>.jsonl files and
// checkpoints.jsonl. Each events line is one Event as JSON, with "seq"
// first, "prev" second and "hash" last:
//
//	{"seq":7,"prev":"<64 hex>","time":"…",…,"hash":"<64 hex>"}
//
//	hash = SHA-256(prev as 32 raw bytes ‖ the line without its
//	               `,"hash":"<64 hex>"` member)
//
// The hashed bytes are cut out of the file textually, so verification
// never re-encodes JSON. Seq starts at 1 per log and continues across
// rotation and restarts; the prev of seq 1 is [GenesisHash] of the log's
// name.
//
// Every Config.CheckpointEvery or Config.CheckpointEvents events, at
// rotation, before retention removes files and at Close, the writer
// appends a checkpoint line to checkpoints.jsonl: an Ed25519 signature,
// by the log's key from Config.Signer, over the text of [Checkpoint.Text]
// (origin line "coffer.audit/v1 <log>", size, head hash, the oldest
// retained seq, time). The public keys are published with
// [Manager.PublicKey]; each signed head is also written to the server log.
//
// # Verification
//
// [Verify] walks a copied log directory with nothing but the public key:
// each hash, each link, seq continuity across files, every checkpoint's
// signature, and every signed head against the chain. It reports the
// first untrustworthy seq: an edited, deleted, inserted or swapped event,
// a deleted file, a tail cut off below a checkpoint, or a file rewritten
// consistently from scratch (its heads no longer match the signatures).
// Events after the last checkpoint are protected by the chain only;
// Report.Unsigned says how many.
//
// # Reading
//
// [Query] filters a log's events; [Tail] follows new ones, checking the
// chain as it goes.
//
// # Sinks and alerts
//
// Sinks ([WriterSink] for standard output, [WebhookSink]) receive a copy
// of every durable event through a bounded buffer: a slow sink drops
// copies (counted, logged, and reported by Health as [ErrSinkDropped]),
// it never slows a request. Sinks and alert rules are set in the server's
// configuration only; no API can add one, because a sink chooses where
// every pool's events go.
//
// [Alerts] watches the event stream with rules written as data: bursts of
// failed requests per IP or principal, named operations (KeyPurge,
// SecurityDomainBackup, …) and break-glass access. A rule fires at most
// once per window per key, so a burst is one alert, delivered to the
// server log and the configured [AlertSink]s.
//
// # Security
//
// Events carry names, identifiers and outcomes only: plaintext,
// ciphertext, key material, tokens and secrets never enter an Event. As
// defence in depth, Append looks for compact JWTs (three or more base64url
// segments starting with "eyJ") in every string field. Such an event is
// still recorded, so a request cannot escape the log by carrying one, but
// with the token replaced by [REDACTED-TOKEN], and Append returns
// [ErrTokenInEvent] so the request is refused and the bug gets noticed.
//
// The log detects tampering; it does not prevent it. Someone who can write
// the directory can remove events after the last checkpoint without a
// trace, or remove the checkpoint file; copy checkpoints (or the server
// log's "audit checkpoint" lines) somewhere else to make that visible.
// Checkpoint keys belong in the server's protected store: whoever holds
// one can sign a forged history.
package audit
