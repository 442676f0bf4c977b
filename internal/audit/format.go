package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scheme names the log format and the checkpoint text. It changes only
// with an incompatible change of either (for example a move from a hash
// chain to a Merkle tree), so old logs keep verifying under their own
// scheme.
const Scheme = "coffer.audit/v1"

// SystemLog is the name of the log for events that belong to no pool
// (the token endpoint, unknown hosts, server maintenance).
const SystemLog = "_system"

// maxLineBytes bounds one event line. Append shrinks oversized events to
// fit (see fitEvent), and readers refuse longer lines instead of buffering
// whatever an attacker wrote into a file.
const maxLineBytes = 1 << 20

// LogDirName is the name of a pool's log and of its directory under
// Config.Dir: the pool name, or SystemLog for pool "".
func LogDirName(pool string) string {
	if pool == "" {
		return SystemLog
	}
	return pool
}

// checkPool accepts the pool names Managed HSM allows (letters, digits and
// hyphens), which keeps a log name a single, harmless path element and a
// single line of checkpoint text.
func checkPool(pool string) error {
	if pool == "" {
		return nil
	}
	if len(pool) > 64 {
		return fmt.Errorf("%w: pool name longer than 64 characters", ErrInvalidEvent)
	}
	for i := 0; i < len(pool); i++ {
		c := pool[i]
		if c != '-' && !('0' <= c && c <= '9') && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return fmt.Errorf("%w: pool name %q is not letters, digits and hyphens", ErrInvalidEvent, pool)
		}
	}
	return nil
}

// validLogName reports whether name is a log name LogDirName can produce.
func validLogName(name string) bool {
	return name == SystemLog || (name != "" && checkPool(name) == nil)
}

// poolOfLog is the inverse of LogDirName.
func poolOfLog(name string) string {
	if name == SystemLog {
		return ""
	}
	return name
}

// GenesisHash is the prev hash of a log's first event:
//
//	SHA-256("coffer.audit/v1 genesis " ‖ log name ‖ "\n")
//
// Binding the log name means the first event of one pool's log cannot
// stand as the first event of another's.
func GenesisHash(log string) [32]byte {
	return sha256.Sum256([]byte(Scheme + " genesis " + log + "\n"))
}

// Event lines.
//
// A line is the JSON object of an Event with "seq" and "prev" as its first
// two members and "hash" as its last:
//
//	{"seq":7,"prev":"<64 hex>",…,"hash":"<64 hex>"}
//
// and hash = SHA-256(prev as 32 raw bytes ‖ body), where body is the line
// with its trailing `,"hash":"<64 hex>"` removed, so it ends in "}". Both
// sides of the hash are taken from the file's bytes, never re-encoded.
const (
	seqPrefix    = `{"seq":`
	prevMember   = `,"prev":"`
	hashMember   = `,"hash":"`
	hashTailLen  = len(hashMember) + 64 + len(`"}`)
	zeroPrefix   = `{"seq":0,"prev":"",` // what json.Marshal gives before Append fills the chain fields
	minRestBytes = len(`"a":0`)
)

var errMarshalShape = errors.New("audit: encoded event does not start with seq and prev")

// eventRest encodes ev, which must have zero Seq, PrevHash and Hash, and
// returns the bytes after the seq and prev members: the rest of the
// object, ending in "}". The writer adds the chain fields in front.
func eventRest(ev *Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding event: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(zeroPrefix)) || len(b)-len(zeroPrefix) < minRestBytes+1 {
		return nil, errMarshalShape
	}
	return b[len(zeroPrefix):], nil
}

// appendLine appends the line for an event at seq after prev, with rest as
// returned by eventRest, and a newline. It returns the grown slice and the
// event's hash.
func appendLine(dst []byte, seq uint64, prev *[32]byte, rest []byte) ([]byte, [32]byte) {
	start := len(dst)
	dst = append(dst, seqPrefix...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, prevMember...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, `",`...)
	dst = append(dst, rest...)
	h := sha256.New()
	h.Write(prev[:])
	h.Write(dst[start:])
	var sum [32]byte
	h.Sum(sum[:0])
	dst = dst[:len(dst)-1] // the closing brace; the hash member goes before it
	dst = append(dst, hashMember...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, "\"}\n"...)
	return dst, sum
}

// record is an event line split into the parts the chain needs.
type record struct {
	Seq  uint64
	Prev [32]byte
	Hash [32]byte
	// head is the line up to the hash member; the hashed body is head
	// followed by "}". It aliases the parsed line.
	head []byte
}

// computeHash recomputes the event's hash from its prev and body.
func (r *record) computeHash() [32]byte {
	h := sha256.New()
	h.Write(r.Prev[:])
	h.Write(r.head)
	h.Write([]byte{'}'})
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// parseLine splits an event line (without its newline). It is strict: the
// exact shape appendLine writes (canonical decimal seq, lowercase hex, at
// least one member between prev and hash) and valid JSON, so a line it
// accepts re-encodes to the same bytes.
func parseLine(line []byte) (record, error) {
	var r record
	if len(line) > maxLineBytes {
		return r, errors.New("line is longer than 1 MiB")
	}
	if !bytes.HasPrefix(line, []byte(seqPrefix)) {
		return r, errors.New(`line does not start with the seq member`)
	}
	i := len(seqPrefix)
	j := i
	for j < len(line) && j-i <= 20 && '0' <= line[j] && line[j] <= '9' {
		j++
	}
	if j == i || (line[i] == '0') || j-i > 20 {
		return r, errors.New("seq is not a positive decimal number")
	}
	seq, err := strconv.ParseUint(string(line[i:j]), 10, 64)
	if err != nil {
		return r, errors.New("seq is out of range")
	}
	r.Seq = seq
	if !bytes.HasPrefix(line[j:], []byte(prevMember)) {
		return r, errors.New("prev does not follow seq")
	}
	j += len(prevMember)
	if len(line) < j+64+2 || !decodeHex(r.Prev[:], line[j:j+64]) || line[j+64] != '"' || line[j+65] != ',' {
		return r, errors.New("prev is not 64 lowercase hex digits")
	}
	restStart := j + 66
	tail := len(line) - hashTailLen
	if tail-restStart < minRestBytes || !bytes.Equal(line[tail:tail+len(hashMember)], []byte(hashMember)) ||
		!bytes.HasSuffix(line, []byte(`"}`)) {
		return r, errors.New("line does not end with its hash member")
	}
	if !decodeHex(r.Hash[:], line[tail+len(hashMember):len(line)-2]) {
		return r, errors.New("hash is not 64 lowercase hex digits")
	}
	if !json.Valid(line) {
		return r, errors.New("line is not valid JSON")
	}
	r.head = line[:tail]
	return r, nil
}

// decodeHex decodes exactly len(dst)*2 lowercase hex digits.
func decodeHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for _, c := range src {
		if !('0' <= c && c <= '9') && !('a' <= c && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, src)
	return err == nil
}

// Checkpoint is a signed statement that a log held Seq events ending in
// Head, and that its events before First were removed by retention.
type Checkpoint struct {
	Log       string    // log name, see LogDirName
	Seq       uint64    // the log's size: the seq of its last event
	Head      [32]byte  // hash of event Seq
	First     uint64    // oldest event the log still keeps
	Time      time.Time // when it was signed, UTC, nanosecond precision
	Signature []byte    // Ed25519 over Text()
}

// checkpointTimeLayout is fixed-width so a time has exactly one spelling.
const checkpointTimeLayout = "2006-01-02T15:04:05.000000000Z"

// Text is the signed text of a checkpoint, in the style of transparency
// log checkpoints: an origin line naming the scheme and the log, the size,
// the head hash, then one line per extension.
//
//	coffer.audit/v1 <log>
//	<seq>
//	<head, 64 lowercase hex>
//	first <first>
//	time <YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ>
//
// Every line ends in "\n". The log name cannot hold a newline or a space
// (see LogDirName), so the text has one reading.
func (c *Checkpoint) Text() []byte {
	var b []byte
	b = append(b, Scheme+" "...)
	b = append(b, c.Log...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, c.Seq, 10)
	b = append(b, '\n')
	b = hex.AppendEncode(b, c.Head[:])
	b = append(b, "\nfirst "...)
	b = strconv.AppendUint(b, c.First, 10)
	b = append(b, "\ntime "...)
	b = c.Time.UTC().AppendFormat(b, checkpointTimeLayout)
	b = append(b, '\n')
	return b
}

// Verify reports whether the checkpoint's signature is pub's.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, c.Text(), c.Signature)
}

// checkpointJSON is one line of checkpoints.jsonl. The members repeat the
// signed text's fields; the text is rebuilt from them for verification.
type checkpointJSON struct {
	Log   string `json:"log"`
	Seq   uint64 `json:"seq"`
	Head  string `json:"head"`
	First uint64 `json:"first"`
	Time  string `json:"time"`
	Sig   string `json:"sig"`
}

func (c *Checkpoint) marshalLine() []byte {
	b, _ := json.Marshal(checkpointJSON{
		Log: c.Log, Seq: c.Seq, Head: hex.EncodeToString(c.Head[:]), First: c.First,
		Time: c.Time.UTC().Format(checkpointTimeLayout), Sig: base64.StdEncoding.EncodeToString(c.Signature),
	})
	return append(b, '\n')
}

// parseCheckpoint reads one line of checkpoints.jsonl strictly: known
// members only, a canonical time, a 64-byte signature and a valid log
// name. It does not check the signature.
func parseCheckpoint(line []byte) (*Checkpoint, error) {
	if len(line) > 4096 {
		return nil, errors.New("checkpoint line is too long")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var j checkpointJSON
	if err := dec.Decode(&j); err != nil {
		return nil, errors.New("checkpoint is not valid JSON")
	}
	if dec.More() {
		return nil, errors.New("checkpoint line has trailing data")
	}
	c := &Checkpoint{Log: j.Log, Seq: j.Seq, First: j.First}
	if !validLogName(j.Log) {
		return nil, errors.New("checkpoint names no valid log")
	}
	if !decodeHex(c.Head[:], []byte(j.Head)) {
		return nil, errors.New("checkpoint head is not 64 lowercase hex digits")
	}
	t, err := time.Parse(checkpointTimeLayout, j.Time)
	if err != nil || t.Format(checkpointTimeLayout) != j.Time {
		return nil, errors.New("checkpoint time is not in canonical form")
	}
	c.Time = t
	sig, err := base64.StdEncoding.Strict().DecodeString(j.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("checkpoint signature is malformed")
	}
	c.Signature = sig
	if c.Seq == 0 || c.First == 0 || c.First > c.Seq+1 {
		return nil, errors.New("checkpoint seq and first are inconsistent")
	}
	return c, nil
}

// File names inside a log's directory.
const (
	eventsPrefix    = "events-"
	eventsSuffix    = ".jsonl"
	checkpointsFile = "checkpoints.jsonl"
)

// eventsFileName names the events file whose first event is seq. The
// number is zero-padded so names sort in seq order.
func eventsFileName(first uint64) string {
	return fmt.Sprintf("%s%020d%s", eventsPrefix, first, eventsSuffix)
}

// parseEventsFileName returns the first seq an events file name declares.
func parseEventsFileName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, eventsPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, eventsSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}
