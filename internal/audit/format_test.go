package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The event line format, as a known answer derived by hand from the
// package doc: prev bytes ‖ the line without its hash member.
func TestLineKnownAnswer(t *testing.T) {
	ev := &Event{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.UTC), Pool: "p1", OperationName: "KeyCreate",
		ResultType: ResultSuccess, ResultSignature: "OK", HTTPStatusCode: 200, DurationMs: 3, RequestID: "r1",
	}
	rest, err := eventRest(ev)
	if err != nil {
		t.Fatalf("eventRest() error = %v", err)
	}
	genesis := GenesisHash("p1")
	wantGenesis := sha256.Sum256([]byte("coffer.audit/v1 genesis p1\n"))
	if genesis != wantGenesis {
		t.Fatalf("GenesisHash(p1) = %x, want %x", genesis, wantGenesis)
	}
	const gen = "GENESIS"
	body := `{"seq":1,"prev":"` + gen + `","time":"2026-01-02T03:04:05.006Z","pool":"p1","operationName":"KeyCreate",` +
		`"resultType":"Success","resultSignature":"OK","httpStatusCode":200,"durationMs":3,"requestId":"r1"}`
	body = strings.Replace(body, gen, hex.EncodeToString(genesis[:]), 1)
	h := sha256.New()
	h.Write(genesis[:])
	h.Write([]byte(body))
	wantHash := h.Sum(nil)
	wantLine := strings.TrimSuffix(body, "}") + `,"hash":"` + hex.EncodeToString(wantHash) + "\"}\n"

	got, hash := appendLine(nil, 1, &genesis, rest)
	if string(got) != wantLine {
		t.Errorf("appendLine() =\n%s\nwant\n%s", got, wantLine)
	}
	if hex.EncodeToString(hash[:]) != hex.EncodeToString(wantHash) {
		t.Errorf("appendLine() hash = %x, want %x", hash, wantHash)
	}
	// Pinned, so an accidental change of the format cannot pass unseen.
	const pinned = "da20ee4f68de1dab4339f8dbc1b45c0929986c0028b846b776ea500180e0ca48"
	if hex.EncodeToString(hash[:]) != pinned {
		t.Errorf("appendLine() hash = %x, want pinned %s", hash, pinned)
	}

	rec, err := parseLine([]byte(strings.TrimSuffix(wantLine, "\n")))
	if err != nil {
		t.Fatalf("parseLine(line) error = %v", err)
	}
	if rec.Seq != 1 || rec.Prev != genesis || rec.computeHash() != hash || rec.Hash != hash {
		t.Errorf("parseLine(line) = seq %d prev %x hash %x, want 1, %x, %x", rec.Seq, rec.Prev, rec.Hash, genesis, hash)
	}
}

// The line format depends on Event's field order.
func TestEventFieldOrder(t *testing.T) {
	b, err := json.Marshal(&Event{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), zeroPrefix) {
		t.Errorf("json.Marshal(Event{}) = %s, want prefix %s", b, zeroPrefix)
	}
	b, _ = json.Marshal(&Event{Hash: "x", Detail: "d"})
	if !strings.HasSuffix(string(b), `"hash":"x"}`) {
		t.Errorf("json.Marshal(Event{Hash}) = %s, want hash as the last member", b)
	}
}

func TestParseLine(t *testing.T) {
	prev := strings.Repeat("ab", 32)
	hash := strings.Repeat("cd", 32)
	line := func(seq, prev, rest, hash string) string {
		return `{"seq":` + seq + `,"prev":"` + prev + `",` + rest + `,"hash":"` + hash + `"}`
	}
	tests := []struct {
		name    string
		in      string
		wantSeq uint64
		wantErr bool
	}{
		{name: "valid", in: line("7", prev, `"time":"x"`, hash), wantSeq: 7},
		{name: "max seq", in: line("18446744073709551615", prev, `"a":0`, hash), wantSeq: 1<<64 - 1},
		{name: "seq overflow", in: line("18446744073709551616", prev, `"a":0`, hash), wantErr: true},
		{name: "seq zero", in: line("0", prev, `"a":0`, hash), wantErr: true},
		{name: "leading zero", in: line("07", prev, `"a":0`, hash), wantErr: true},
		{name: "negative", in: line("-7", prev, `"a":0`, hash), wantErr: true},
		{name: "uppercase prev", in: line("7", strings.ToUpper(prev), `"a":0`, hash), wantErr: true},
		{name: "short prev", in: line("7", prev[2:], `"a":0`, hash), wantErr: true},
		{name: "uppercase hash", in: line("7", prev, `"a":0`, strings.ToUpper(hash)), wantErr: true},
		{name: "no members between", in: `{"seq":7,"prev":"` + prev + `","hash":"` + hash + `"}`, wantErr: true},
		{name: "not json", in: line("7", prev, `"a":}`, hash), wantErr: true},
		{name: "hash not last", in: `{"seq":7,"prev":"` + prev + `","hash":"` + hash + `","a":0}`, wantErr: true},
		{name: "prev first", in: `{"prev":"` + prev + `","seq":7,"a":0,"hash":"` + hash + `"}`, wantErr: true},
		{name: "spaces", in: `{"seq": 7,"prev":"` + prev + `","a":0,"hash":"` + hash + `"}`, wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "trailing garbage", in: line("7", prev, `"a":0`, hash) + "x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := parseLine([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseLine(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if err == nil && rec.Seq != tc.wantSeq {
				t.Errorf("parseLine(%q).Seq = %d, want %d", tc.in, rec.Seq, tc.wantSeq)
			}
		})
	}
}

func TestCheckpointText(t *testing.T) {
	var head [32]byte
	for i := range head {
		head[i] = byte(i)
	}
	cp := &Checkpoint{Log: "p1", Seq: 42, Head: head, First: 3, Time: time.Date(2026, 11, 22, 10, 0, 0, 5, time.UTC)}
	want := "coffer.audit/v1 p1\n42\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\nfirst 3\ntime 2026-11-22T10:00:00.000000005Z\n"
	if got := string(cp.Text()); got != want {
		t.Errorf("Checkpoint.Text() =\n%s\nwant\n%s", got, want)
	}
	key := testKey("p1")
	cp.Signature = ed25519.Sign(key, cp.Text())
	if !cp.Verify(testPub("p1")) {
		t.Errorf("Checkpoint.Verify(own key) = false, want true")
	}
	if cp.Verify(testPub("p2")) {
		t.Errorf("Checkpoint.Verify(other key) = true, want false")
	}
	line := cp.marshalLine()
	got, err := parseCheckpoint(line[:len(line)-1])
	if err != nil {
		t.Fatalf("parseCheckpoint(%s) error = %v", line, err)
	}
	if diff := cmp.Diff(cp, got); diff != "" {
		t.Errorf("parseCheckpoint(marshalLine()) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseCheckpoint(t *testing.T) {
	head := strings.Repeat("ab", 32)
	sig := `"` + strings.Repeat("A", 86) + `=="`
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "valid", in: `{"log":"p1","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `}`},
		{name: "system log", in: `{"log":"_system","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `}`},
		{name: "unknown member", in: `{"log":"p1","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `,"x":1}`, wantErr: true},
		{name: "log with newline", in: `{"log":"p1\n2","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `}`, wantErr: true},
		{name: "non-canonical time", in: `{"log":"p1","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00Z","sig":` + sig + `}`, wantErr: true},
		{name: "short sig", in: `{"log":"p1","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":"AAAA"}`, wantErr: true},
		{name: "zero seq", in: `{"log":"p1","seq":0,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `}`, wantErr: true},
		{name: "first past seq", in: `{"log":"p1","seq":5,"head":"` + head + `","first":7,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `}`, wantErr: true},
		{name: "trailing data", in: `{"log":"p1","seq":5,"head":"` + head + `","first":1,"time":"2026-11-22T10:00:00.000000000Z","sig":` + sig + `} {}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCheckpoint([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Errorf("parseCheckpoint(%s) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestEventsFileName(t *testing.T) {
	tests := []struct {
		name   string
		wantN  uint64
		wantOK bool
	}{
		{name: eventsFileName(1), wantN: 1, wantOK: true},
		{name: eventsFileName(1<<64 - 1), wantN: 1<<64 - 1, wantOK: true},
		{name: "events-00000000000000000000.jsonl"},
		{name: "events-1.jsonl"},
		{name: "events-0000000000000000000a.jsonl"},
		{name: "events-00000000000000000001.jsonl.replaced-x"},
		{name: "checkpoints.jsonl"},
	}
	for _, tc := range tests {
		n, ok := parseEventsFileName(tc.name)
		if n != tc.wantN || ok != tc.wantOK {
			t.Errorf("parseEventsFileName(%q) = %d, %v, want %d, %v", tc.name, n, ok, tc.wantN, tc.wantOK)
		}
	}
}

func TestFindToken(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	tests := []struct {
		name string
		in   string
		want string // after redaction
	}{
		{name: "bare", in: jwt, want: redactedToken},
		{name: "bearer header", in: "Bearer " + jwt, want: "Bearer " + redactedToken},
		{name: "query", in: "https://h/keys?access_token=" + jwt + "&x=1", want: "https://h/keys?access_token=" + redactedToken + "&x=1"},
		{name: "unsigned", in: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", want: redactedToken},
		{name: "jwe five parts", in: "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn end", want: redactedToken + " end"},
		{name: "two tokens", in: jwt + " " + jwt, want: redactedToken + " " + redactedToken},
		{name: "inside a word", in: "heyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", want: "heyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
		{name: "two segments", in: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", want: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"},
		{name: "short header", in: "eyJh.eyJz.c2ln", want: "eyJh.eyJz.c2ln"},
		{name: "plain text", in: "KeySign of key eyJ", want: "KeySign of key eyJ"},
		{name: "empty", in: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := redactTokens(tc.in)
			if got != tc.want {
				t.Errorf("redactTokens(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReadTail(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	tests := []struct {
		name     string
		in       string
		wantLast string
		wantGood int64
	}{
		{name: "empty", in: "", wantLast: "", wantGood: 0},
		{name: "one line", in: "a\n", wantLast: "a", wantGood: 2},
		{name: "two lines", in: "a\nbb\n", wantLast: "bb", wantGood: 5},
		{name: "torn", in: "a\nbb\ncc", wantLast: "bb", wantGood: 5},
		{name: "only torn", in: "abc", wantLast: "", wantGood: 0},
		{name: "empty last line", in: "a\n\n", wantLast: "", wantGood: 3},
		{name: "long last line", in: "a\n" + long + "\n", wantLast: long, wantGood: int64(len(long) + 3)},
		{name: "long first line", in: long + "\n", wantLast: long, wantGood: int64(len(long) + 1)},
		{name: "long torn line", in: "a\n" + long, wantLast: "a", wantGood: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			last, good, err := readTail(strings.NewReader(tc.in), int64(len(tc.in)))
			if err != nil || string(last) != tc.wantLast || good != tc.wantGood {
				t.Errorf("readTail(%.20q…) = %.20q…, %d, %v, want %.20q…, %d", tc.in, last, good, err, tc.wantLast, tc.wantGood)
			}
		})
	}
	// Lines are at most 1 MiB: megabytes without a newline before the end
	// are damage, not a torn line.
	big := "a\n" + strings.Repeat("y", 16*maxLineBytes)
	if _, _, err := readTail(strings.NewReader(big), int64(len(big))); err == nil {
		t.Errorf("readTail(16 MiB without a newline) error = nil, want an error")
	}
}
