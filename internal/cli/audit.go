package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/client"
	"github.com/spf13/cobra"
)

// auditFilterFlags are the filters query and tail share.
type auditFilterFlags struct {
	from, to, since                       string
	principal, operation, result, key, ip string
}

func (f *auditFilterFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "events at or after this time (RFC 3339)")
	fl.StringVar(&f.to, "to", "", "events before this time (RFC 3339)")
	fl.StringVar(&f.since, "since", "", "events in this last duration (e.g. 15m, 24h); instead of --from")
	fl.StringVar(&f.principal, "principal", "", "caller object id, application id or user principal name")
	fl.StringVar(&f.operation, "operation", "", "operation name, e.g. KeySign, RoleAssignmentCreate, Authentication")
	fl.StringVar(&f.result, "result", "", "Success or Failure")
	fl.StringVar(&f.key, "key", "", "key name")
	fl.StringVar(&f.ip, "ip", "", "caller IP address")
}

func (f *auditFilterFlags) filter() (audit.Filter, error) {
	out := audit.Filter{Principal: f.principal, Operation: f.operation, Result: f.result, Key: f.key, IP: f.ip}
	var err error
	if f.from != "" {
		if out.From, err = time.Parse(time.RFC3339Nano, f.from); err != nil {
			return out, usageErr("--from: %v", err)
		}
	}
	if f.since != "" {
		d, err := time.ParseDuration(f.since)
		if err != nil || d <= 0 {
			return out, usageErr("--since must be a positive duration like 15m")
		}
		out.From = time.Now().Add(-d)
	}
	if f.to != "" {
		if out.To, err = time.Parse(time.RFC3339Nano, f.to); err != nil {
			return out, usageErr("--to: %v", err)
		}
	}
	return out, nil
}

// query renders a filter as the audit API's query parameters.
func (f *auditFilterFlags) query(flt audit.Filter) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !flt.From.IsZero() {
		q.Set("from", flt.From.UTC().Format(time.RFC3339Nano))
	}
	if !flt.To.IsZero() {
		q.Set("to", flt.To.UTC().Format(time.RFC3339Nano))
	}
	set("principal", flt.Principal)
	set("operation", flt.Operation)
	set("result", flt.Result)
	set("key", flt.Key)
	set("ip", flt.IP)
	return q
}

var auditColumns = []string{"seq", "time", "operationName", "httpStatusCode", "keyName", "callerIpAddress", "requestId"}

// logDir resolves --dir, or --data-dir with --pool, to one log directory.
func logDir(dir, dataDir, pool string) string {
	if dir != "" {
		return dir
	}
	return audit.LogDir(filepath.Join(dataDir, "audit"), pool)
}

func newAuditCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the audit log",
		Long: `Read and verify a pool's audit log. Every request to the server, allowed, denied or
unauthenticated, is one event; events are hash-chained and their heads signed.

With --dir (one log's directory, e.g. coffer-data/audit/dev) or --data-dir and --pool,
the commands read the files directly, offline. Without them they use the server's
audit API, which needs the audit/read/action permission (Managed HSM Administrator and
Crypto Auditor hold it).`,
	}
	o.register(cmd)

	var dir, dataDir, pool string
	local := func(c *cobra.Command) {
		c.Flags().StringVar(&dir, "dir", "", "a log directory to read offline (e.g. coffer-data/audit/dev)")
		c.Flags().StringVar(&dataDir, "data-dir", "", "a server data directory to read offline, with --pool")
		c.Flags().StringVar(&pool, "pool", "dev", "the pool whose log to read with --data-dir")
	}
	offline := func() bool { return dir != "" || dataDir != "" }

	// query
	var qf auditFilterFlags
	var limit int
	query := &cobra.Command{Use: "query", Short: "List audit events matching filters", Args: cobra.NoArgs,
		Example: `  coffer audit query --since 1h --result Failure -o table
  coffer audit query --operation KeySign --key payroll --from 2026-11-01T00:00:00Z
  coffer audit query --data-dir coffer-data --pool dev --principal alice@contoso.test`,
		RunE: func(cc *cobra.Command, args []string) error {
			flt, err := qf.filter()
			if err != nil {
				return err
			}
			if offline() {
				out := []audit.Event{}
				for ev, err := range audit.Query(logDir(dir, dataDir, pool), flt) {
					if err != nil {
						return err
					}
					out = append(out, *ev)
					if limit > 0 && len(out) == limit {
						break
					}
				}
				return o.out.print(s.out, columns{out, auditColumns})
			}
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				out := []audit.Event{}
				q := qf.query(flt)
				for {
					q.Set("maxresults", "1000")
					var page struct {
						Value    []audit.Event `json:"value"`
						NextLink *string       `json:"nextLink"`
					}
					if err := c.Data(ctx, "GET", "/audit/events", q, nil, &page); err != nil {
						return nil, err
					}
					out = append(out, page.Value...)
					if limit > 0 && len(out) >= limit {
						return columns{out[:limit], auditColumns}, nil
					}
					if page.NextLink == nil || len(page.Value) == 0 {
						return columns{out, auditColumns}, nil
					}
					q.Set("after", strconv.FormatUint(page.Value[len(page.Value)-1].Seq, 10))
				}
			})(cc, args)
		}}
	qf.register(query)
	query.Flags().IntVar(&limit, "limit", 0, "at most this many events (0: all)")
	local(query)

	// tail
	var tf auditFilterFlags
	var fromStart bool
	tail := &cobra.Command{Use: "tail", Short: "Print new audit events as they are written (JSON lines)", Args: cobra.NoArgs,
		Long: `Print audit events as they are written, one JSON object per line, until interrupted.
Reading the files (--dir or --data-dir), tail also checks the hash chain as it goes and
stops with an error at a broken link.`,
		RunE: func(cc *cobra.Command, args []string) error {
			flt, err := tf.filter()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cc.Context(), os.Interrupt)
			defer stop()
			enc := json.NewEncoder(s.out)
			if offline() {
				for ev, err := range audit.Tail(ctx, logDir(dir, dataDir, pool), audit.TailOptions{Filter: flt, FromEnd: !fromStart}) {
					if err != nil {
						if ctx.Err() != nil {
							return nil
						}
						return err
					}
					enc.Encode(ev)
				}
				return nil
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return tailAPI(ctx, c, tf.query(flt), fromStart, enc)
		}}
	tf.register(tail)
	tail.Flags().BoolVar(&fromStart, "from-start", false, "print the events already written first")
	local(tail)

	// checkpoint
	checkpoint := &cobra.Command{Use: "checkpoint", Short: "Sign the log's head now and print it with the verifying public key", Args: cobra.NoArgs,
		Long: `Ask the server to sign a checkpoint of the pool's audit log now, and print it with the
Ed25519 public key that verifies it. Keep the key somewhere the server cannot write, and
pass it to "coffer audit verify --public-key"; store checkpoints elsewhere too: a later log
that does not extend them has been rewritten.`,
		RunE: o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
			var cp map[string]any
			return cp, c.Data(ctx, "GET", "/audit/checkpoint", nil, nil, &cp)
		})}

	// verify
	var pubFlag string
	verify := &cobra.Command{Use: "verify", Short: "Check a log offline: report the first modified, missing, reordered or truncated event", Args: cobra.NoArgs,
		Example: `  coffer audit checkpoint --query publicKey -o tsv > dev.audit.pub   # once, kept safe
  coffer audit verify --data-dir coffer-data --pool dev --public-key @dev.audit.pub`,
		RunE: func(cc *cobra.Command, args []string) error {
			if !offline() {
				return usageErr("verify reads the files: pass --dir, or --data-dir and --pool")
			}
			pub, source, err := verifyKey(cc.Context(), o, pubFlag)
			if err != nil {
				return err
			}
			d := logDir(dir, dataDir, pool)
			rep, err := audit.Verify(d, pub)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "log %s (%s), key from %s\n", rep.Log, d, source)
			fmt.Fprintf(s.out, "  %d events in %d files, seq %d to %d\n", rep.Events, rep.Files, rep.FirstSeq, rep.LastSeq)
			if rep.LastCheckpoint != nil {
				fmt.Fprintf(s.out, "  %d signed checkpoints, the last at seq %d (%s)\n", rep.Checkpoints, rep.LastCheckpoint.Seq, rep.LastCheckpoint.Time.UTC().Format(time.RFC3339))
			}
			if rep.Unsigned > 0 {
				fmt.Fprintf(s.out, "  %d events after the last checkpoint are chained but not yet signed\n", rep.Unsigned)
			}
			if rep.TornTail {
				fmt.Fprintln(s.out, "  the newest file ends in a partial line (a crash mid-write; that event was never acknowledged)")
			}
			if rep.OK() {
				fmt.Fprintln(s.out, "OK: the log verifies")
				return nil
			}
			p := rep.FirstBad
			where := p.File
			if p.Line > 0 {
				where += ":" + strconv.Itoa(p.Line)
			}
			fmt.Fprintf(s.out, "TAMPERED: first bad event seq %d at %s: %s\n", p.Seq, where, p.Reason)
			return &exitError{code: exitUnhealthy, err: fmt.Errorf("the audit log does not verify from seq %d", p.Seq)}
		}}
	verify.Flags().StringVar(&pubFlag, "public-key", "", "the log's Ed25519 public key: base64url, or @file holding it (default: fetch from the server)")
	local(verify)

	cmd.AddCommand(query, tail, checkpoint, verify)
	return cmd
}

// verifyKey loads the checkpoint key from the flag, or from the server
// when none is given (which trusts the server's TLS certificate).
func verifyKey(ctx context.Context, o *clientOptions, flag string) (ed25519.PublicKey, string, error) {
	text, source := flag, "--public-key"
	if strings.HasPrefix(flag, "@") {
		b, err := os.ReadFile(flag[1:])
		if err != nil {
			return nil, "", usageErr("--public-key: %v", err)
		}
		text, source = strings.TrimSpace(string(b)), flag[1:]
	}
	if text == "" {
		c, err := o.client()
		if err != nil {
			return nil, "", fmt.Errorf("no --public-key, and the server cannot be asked: %w", err)
		}
		var cp struct {
			PublicKey string `json:"publicKey"`
		}
		if err := c.Data(ctx, "GET", "/audit/checkpoint", nil, nil, &cp); err != nil {
			return nil, "", fmt.Errorf("no --public-key, and fetching it from the server failed: %w", err)
		}
		text, source = cp.PublicKey, "the server "+c.Profile.HSMURL+" (pin it with --public-key to verify independently)"
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(text, "="))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, "", usageErr("--public-key is not a base64url Ed25519 public key")
	}
	return ed25519.PublicKey(b), source, nil
}

// tailAPI polls the audit API for events after the last one seen.
func tailAPI(ctx context.Context, c *client.Client, q url.Values, fromStart bool, enc *json.Encoder) error {
	var after uint64
	if !fromStart && q.Get("from") == "" {
		q.Set("from", time.Now().UTC().Format(time.RFC3339Nano))
	}
	// The polling reads are events too; leave them out unless asked for.
	own := q.Get("operation") == ""
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		emit := func(ev audit.Event) {
			if own && ev.OperationName == "AuditEventsRead" {
				return
			}
			enc.Encode(ev)
		}
		if err := pageAudit(ctx, c, q, &after, emit); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func pageAudit(ctx context.Context, c *client.Client, q url.Values, after *uint64, emit func(audit.Event)) error {
	for {
		q.Set("maxresults", "1000")
		q.Set("after", strconv.FormatUint(*after, 10))
		var page struct {
			Value    []audit.Event `json:"value"`
			NextLink *string       `json:"nextLink"`
		}
		if err := c.Data(ctx, "GET", "/audit/events", q, nil, &page); err != nil {
			return err
		}
		for _, ev := range page.Value {
			emit(ev)
			*after = ev.Seq
		}
		if page.NextLink == nil || len(page.Value) == 0 {
			return nil
		}
	}
}
