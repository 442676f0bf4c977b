package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/cofferkms/coffer/internal/crypto/jwa"
	"github.com/cofferkms/coffer/internal/crypto/keymat"
	"github.com/spf13/cobra"
)

// benchOp is one operation the load benchmark drives: a request to a key
// of kind kty, and the same cryptography done in this process.
type benchOp struct {
	name, kty, create, path, alg string
	// value is the request's "value": a digest to sign or a key to wrap.
	value []byte
	raw   func(k *keymat.Key) error
	gen   func() (*keymat.Key, error)
}

func benchOps() []benchOp {
	digest := sha256.Sum256([]byte("coffer bench"))
	cek := make([]byte, 32)
	rand.Read(cek)
	ec := func() (*keymat.Key, error) { return keymat.GenerateEC(keymat.CurveP256) }
	rsa := func() (*keymat.Key, error) { return keymat.GenerateRSA(2048, 0) }
	aes := func() (*keymat.Key, error) { return keymat.GenerateOct(256) }
	return []benchOp{
		{name: "ES256", kty: "ec", create: `{"kty":"EC-HSM","crv":"P-256"}`, path: "sign", alg: "ES256", value: digest[:], gen: ec,
			raw: func(k *keymat.Key) error { _, err := jwa.Sign(jwa.ES256, k, digest[:]); return err }},
		{name: "RS256", kty: "rsa", create: `{"kty":"RSA-HSM","key_size":2048}`, path: "sign", alg: "RS256", value: digest[:], gen: rsa,
			raw: func(k *keymat.Key) error { _, err := jwa.Sign(jwa.RS256, k, digest[:]); return err }},
		{name: "A256KW", kty: "aes", create: `{"kty":"oct-HSM","key_size":256}`, path: "wrapkey", alg: "A256KW", value: cek, gen: aes,
			raw: func(k *keymat.Key) error { _, err := jwa.Wrap(jwa.A256KW, k, cek); return err }},
		{name: "RSA-OAEP-256", kty: "rsa", create: `{"kty":"RSA-HSM","key_size":2048}`, path: "wrapkey", alg: "RSA-OAEP-256", value: cek, gen: rsa,
			raw: func(k *keymat.Key) error { _, err := jwa.Wrap(jwa.RSAOAEP256, k, cek); return err }},
	}
}

// benchRow is one operation's result.
type benchRow struct {
	Operation   string  `json:"operation"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	PerSecond   float64 `json:"requestsPerSecond"`
	P50Ms       float64 `json:"p50Ms"`
	P99Ms       float64 `json:"p99Ms"`
	RawPerSec   float64 `json:"rawCryptoPerSecond"`
	PercentRaw  float64 `json:"percentOfRaw"`
	Concurrency int     `json:"concurrency"`
}

func newBenchCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	var ops []string
	var duration time.Duration
	var concurrency int
	cmd := &cobra.Command{Use: "bench", Short: "Load-test a pool and compare it with this machine's raw cryptography", Args: cobra.NoArgs,
		Long: `Drive a pool with concurrent signing and wrapping requests over keep-alive HTTPS, as
the signed-in principal (it needs Crypto Officer to make and remove its keys, and Crypto
User), and report requests per second and latency. The same cryptography is then run in
this process, on every core, for as long: the raw limit of the machine, measured in the
same run. Run it on the server's machine to see what the service costs over the raw
cryptography; the load generator then shares the cores with the server.

The benchmark makes one key per key type, named coffer-bench-*, and deletes and purges
them at the end.`,
		Example: `  coffer bench
  coffer bench --op ES256 --op A256KW --duration 30s --concurrency 32 -o table`,
		RunE: func(cc *cobra.Command, args []string) error {
			all := benchOps()
			var chosen []benchOp
			for _, op := range all {
				if len(ops) == 0 || slices.ContainsFunc(ops, func(n string) bool { return strings.EqualFold(n, op.name) }) {
					chosen = append(chosen, op)
				}
			}
			if len(chosen) == 0 {
				return usageErr("--op must name some of ES256, RS256, A256KW, RSA-OAEP-256")
			}
			if concurrency < 1 || concurrency > 1024 || duration < time.Second {
				return usageErr("--concurrency must be 1 to 1024 and --duration at least 1s")
			}
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				if tr, ok := c.HTTP.Transport.(*http.Transport); ok {
					tr.MaxIdleConnsPerHost = concurrency
				}
				return runBench(ctx, c, s, chosen, duration, concurrency)
			})(cc, args)
		}}
	o.register(cmd)
	cmd.Flags().StringSliceVar(&ops, "op", nil, "operations: ES256, RS256, A256KW, RSA-OAEP-256 (default: all)")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long each operation runs, over HTTPS and then in process")
	cmd.Flags().IntVar(&concurrency, "concurrency", 16, "concurrent requests")
	return cmd
}

func runBench(ctx context.Context, c *client.Client, s *streams, ops []benchOp, d time.Duration, conc int) ([]benchRow, error) {
	var suffix [4]byte
	rand.Read(suffix[:])
	keys := map[string]string{}
	defer func() {
		// Remove the keys whatever happened; a purge refused by purge
		// protection is reported, not fatal.
		for _, name := range keys {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := c.Data(cctx, "DELETE", "/keys/"+name, nil, nil, nil); err == nil {
				if err := c.Data(cctx, "DELETE", "/deletedkeys/"+name, nil, nil, nil); err != nil {
					fmt.Fprintf(s.err, "bench: key %s deleted but not purged: %v\n", name, err)
				}
			} else {
				fmt.Fprintf(s.err, "bench: removing key %s: %v\n", name, err)
			}
			cancel()
		}
	}()
	var rows []benchRow
	for _, op := range ops {
		name, ok := keys[op.kty]
		if !ok {
			name = "coffer-bench-" + hex.EncodeToString(suffix[:]) + "-" + op.kty
			if err := c.Data(ctx, "POST", "/keys/"+name+"/create", nil, rawJSON(op.create), nil); err != nil {
				return nil, fmt.Errorf("creating the benchmark key: %w", err)
			}
			keys[op.kty] = name
		}
		fmt.Fprintf(s.err, "bench: %s over HTTPS for %s at concurrency %d\n", op.name, d, conc)
		row, err := benchHTTP(ctx, c, name, op, d, conc)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(s.err, "bench: %s in process for %s on %d cores\n", op.name, d, runtime.GOMAXPROCS(0))
		if row.RawPerSec, err = benchRaw(ctx, op, d); err != nil {
			return nil, err
		}
		if row.RawPerSec > 0 {
			row.PercentRaw = round(100*row.PerSecond/row.RawPerSec, 2)
		}
		row.RawPerSec = round(row.RawPerSec, 0)
		rows = append(rows, row)
	}
	return rows, nil
}

type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// benchHTTP runs conc workers sending op for d and measures each request.
func benchHTTP(ctx context.Context, c *client.Client, key string, op benchOp, d time.Duration, conc int) (benchRow, error) {
	body := map[string]string{"alg": op.alg, "value": base64.RawURLEncoding.EncodeToString(op.value)}
	path := "/keys/" + key + "/" + op.path
	// A warm-up request: the token, the connection and the key's first use.
	if err := c.Data(ctx, "POST", path, nil, body, nil); err != nil {
		return benchRow{}, fmt.Errorf("%s: %w", op.name, err)
	}
	deadline := time.Now().Add(d)
	lat := make([][]time.Duration, conc)
	var errCount atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := c.Data(ctx, "POST", path, nil, body, nil); err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		msg, _ := firstErr.Load().(string)
		return benchRow{}, fmt.Errorf("%s: no request succeeded: %s", op.name, msg)
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	return benchRow{Operation: op.name, Requests: int64(len(all)), Errors: errCount.Load(), Concurrency: conc,
		PerSecond: round(float64(len(all))/elapsed.Seconds(), 1), P50Ms: round(pct(0.50), 2), P99Ms: round(pct(0.99), 2)}, nil
}

// round keeps places decimals: more would be noise.
func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// benchRaw runs op's cryptography in this process on every core for d.
func benchRaw(ctx context.Context, op benchOp, d time.Duration) (float64, error) {
	k, err := op.gen()
	if err != nil {
		return 0, err
	}
	var n atomic.Int64
	var failed atomic.Bool
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := op.raw(k); err != nil {
					failed.Store(true)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return 0, errors.New(op.name + ": the in-process cryptography failed")
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}
