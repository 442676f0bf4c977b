// Package audit records every request as one structured event and keeps
// the record tamper-evident.
//
// # Security
//
// Events carry names, identifiers and outcomes only; plaintext, ciphertext,
// key material, tokens and secrets never enter an Event.
package audit
