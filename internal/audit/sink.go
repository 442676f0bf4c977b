package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Sink is an extra destination for durable events: a log collector, a
// SIEM. The durable log stays the record; a sink is a copy that must never
// slow or stop requests. Sinks are configured in the server's
// configuration only, never through an API, because a sink decides where
// the events of every pool go.
type Sink interface {
	// Offer hands over one durable event line (JSON, no newline), in seq
	// order per log. It must not block: a sink that cannot take the line
	// drops it, counts the drop and returns false. The sink may keep line.
	// Offer is called from several goroutines.
	Offer(line []byte) bool
	// Stats describes the sink for Health, Status and metrics.
	Stats() SinkStats
	// Close delivers what it still holds, within ctx, and stops.
	Close(ctx context.Context) error
}

// SinkStats describes a sink.
type SinkStats struct {
	Name      string
	Delivered uint64    // items delivered
	Dropped   uint64    // items dropped: buffer full, delivery given up, or closed
	LastDrop  time.Time // when the last item was dropped
	Buffered  int       // items waiting
	LastErr   string    // the last delivery error, if any
}

// spool is the bounded buffer and delivery goroutine the sinks share.
type spool struct {
	max        int
	batch      int
	wakeAt     int // items buffered before the goroutine is woken early
	flushEvery time.Duration
	deliver    func(ctx context.Context, items [][]byte) error
	logger     *slog.Logger

	mu       sync.Mutex
	items    [][]byte
	closed   bool
	closeCtx context.Context
	stats    SinkStats
	dropLim  limiter
	errLim   limiter

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newSpool(name string, max, batch, wakeAt int, flushEvery time.Duration, logger *slog.Logger, deliver func(context.Context, [][]byte) error) *spool {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &spool{
		max: max, batch: batch, wakeAt: wakeAt, flushEvery: flushEvery, deliver: deliver, logger: logger,
		stats: SinkStats{Name: name}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.run()
	return s
}

func (s *spool) offer(item []byte) bool {
	s.mu.Lock()
	if s.closed || len(s.items) >= s.max {
		why := "buffer full"
		if s.closed {
			why = "closed"
		}
		s.dropLocked(1, why)
		s.mu.Unlock()
		return false
	}
	s.items = append(s.items, item)
	n := len(s.items)
	s.mu.Unlock()
	if n >= s.wakeAt {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// dropLocked counts dropped items and says so loudly (rate-limited).
func (s *spool) dropLocked(n int, why string) {
	now := time.Now()
	s.stats.Dropped += uint64(n)
	s.stats.LastDrop = now
	if ok, suppressed := s.dropLim.allow(now); ok {
		s.logger.Error("audit sink dropped events (the durable log still has them)", slog.String("sink", s.stats.Name),
			slog.String("why", why), slog.Uint64("droppedTotal", s.stats.Dropped), slog.Int("suppressed", suppressed))
	}
}

func (s *spool) statsNow() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Buffered = len(s.items)
	return st
}

func (s *spool) run() {
	defer close(s.done)
	t := time.NewTicker(s.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.wake:
		case <-t.C:
		case <-s.stop:
			s.mu.Lock()
			ctx := s.closeCtx
			s.mu.Unlock()
			s.flush(ctx)
			s.mu.Lock()
			if n := len(s.items); n > 0 {
				s.items = nil
				s.dropLocked(n, "closed before delivery")
			}
			s.mu.Unlock()
			return
		}
		s.flush(context.Background())
	}
}

// flush delivers everything buffered, a batch at a time.
func (s *spool) flush(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		n := min(len(s.items), s.batch)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		items := make([][]byte, n)
		copy(items, s.items)
		rest := copy(s.items, s.items[n:])
		clear(s.items[rest:])
		s.items = s.items[:rest]
		s.mu.Unlock()
		err := s.deliver(ctx, items)
		s.mu.Lock()
		if err != nil {
			s.stats.LastErr = err.Error()
			s.dropLocked(n, err.Error())
		} else {
			s.stats.Delivered += uint64(n)
		}
		s.mu.Unlock()
	}
}

func (s *spool) close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.closeCtx = ctx
		close(s.stop)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: closing sink %s: %w", s.stats.Name, ctx.Err())
	}
}

// WriterSinkConfig configures a WriterSink.
type WriterSinkConfig struct {
	Name      string    // default "stdout"
	W         io.Writer // required, e.g. os.Stdout
	MaxBuffer int       // events held while W is slow (default 10000)
	Logger    *slog.Logger
}

// WriterSink writes events as JSON lines to an io.Writer (standard
// output for a container's log collector). A slow or broken writer costs
// dropped copies, never a blocked request.
type WriterSink struct{ s *spool }

var _ Sink = (*WriterSink)(nil)

// NewWriterSink starts a WriterSink.
func NewWriterSink(cfg WriterSinkConfig) (*WriterSink, error) {
	if cfg.W == nil {
		return nil, errors.New("audit: WriterSinkConfig.W is required")
	}
	if cfg.Name == "" {
		cfg.Name = "stdout"
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = 10000
	}
	var buf []byte
	deliver := func(_ context.Context, items [][]byte) error {
		buf = buf[:0]
		for _, it := range items {
			buf = append(append(buf, it...), '\n')
		}
		_, err := cfg.W.Write(buf)
		return err
	}
	return &WriterSink{newSpool(cfg.Name, cfg.MaxBuffer, 512, 1, time.Second, cfg.Logger, deliver)}, nil
}

// Offer queues a line; false means the buffer was full and it was dropped.
func (w *WriterSink) Offer(line []byte) bool { return w.s.offer(line) }

// Stats describes the sink.
func (w *WriterSink) Stats() SinkStats { return w.s.statsNow() }

// Close writes what is buffered, within ctx, and stops.
func (w *WriterSink) Close(ctx context.Context) error { return w.s.close(ctx) }

// WebhookConfig configures a WebhookSink.
type WebhookConfig struct {
	Name string // default the URL's host
	URL  string // required; https in production
	// Header is added to every request (for example the receiver's
	// Authorization). It is configuration, never logged.
	Header     http.Header
	Client     *http.Client  // default: a client with a 10s timeout
	BatchSize  int           // items per POST (default 100)
	FlushEvery time.Duration // longest an item waits for a batch (default 1s)
	MaxBuffer  int           // items held while the receiver is slow (default 10000)
	Retries    int           // retries of a failed POST (default 5)
	Backoff    time.Duration // first retry delay, doubling to 30s (default 500ms)
	Logger     *slog.Logger
}

// WebhookSink POSTs batches of events (or alerts) to a URL as a JSON
// array. A POST answered 408, 429 or 5xx, or lost on the network, is
// retried with jittered exponential backoff (honouring Retry-After); any
// other answer, or running out of retries, drops the batch. Items arriving
// while the buffer is full are dropped. Every drop is counted, logged and
// reported by Stats (and so by Manager.Health).
type WebhookSink struct {
	s   *spool
	cfg WebhookConfig
	// where names the receiver in errors and logs without credentials:
	// scheme, host and path only.
	where string
}

var (
	_ Sink      = (*WebhookSink)(nil)
	_ AlertSink = (*WebhookSink)(nil)
)

// NewWebhookSink starts a WebhookSink.
func NewWebhookSink(cfg WebhookConfig) (*WebhookSink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("audit: WebhookConfig.URL must be an http or https URL")
	}
	if cfg.Name == "" {
		cfg.Name = u.Host
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = time.Second
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = 10000
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	w := &WebhookSink{cfg: cfg, where: u.Scheme + "://" + u.Host + u.EscapedPath()}
	w.s = newSpool(cfg.Name, cfg.MaxBuffer, cfg.BatchSize, cfg.BatchSize, cfg.FlushEvery, cfg.Logger, w.post)
	return w, nil
}

// Offer queues a line; false means the buffer was full and it was dropped.
func (w *WebhookSink) Offer(line []byte) bool { return w.s.offer(line) }

// Stats describes the sink.
func (w *WebhookSink) Stats() SinkStats { return w.s.statsNow() }

// Close posts what is buffered, within ctx, and stops.
func (w *WebhookSink) Close(ctx context.Context) error { return w.s.close(ctx) }

// Alert queues an alert for the webhook (WebhookSink is an AlertSink).
func (w *WebhookSink) Alert(a Alert) {
	b, err := json.Marshal(a)
	if err != nil {
		return
	}
	w.s.offer(b)
}

const maxBackoff = 30 * time.Second

// post delivers one batch, retrying what may succeed later.
func (w *WebhookSink) post(ctx context.Context, items [][]byte) error {
	body := make([]byte, 0, 2+len(items)*256)
	body = append(body, '[')
	body = append(body, bytes.Join(items, []byte{','})...)
	body = append(body, ']')
	backoff := w.cfg.Backoff
	for attempt := 0; ; attempt++ {
		retryAfter, err := w.once(ctx, body)
		if err == nil {
			return nil
		}
		if retryAfter < 0 || attempt >= w.cfg.Retries {
			return err
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		wait = max(wait, retryAfter)
		w.s.mu.Lock()
		w.s.stats.LastErr = err.Error()
		ok, suppressed := w.s.errLim.allow(time.Now())
		w.s.mu.Unlock()
		if ok {
			w.s.logger.Warn("audit webhook failed; retrying", slog.String("sink", w.cfg.Name), slog.String("err", err.Error()),
				slog.Duration("in", wait), slog.Int("suppressed", suppressed))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// once makes one POST. retryAfter is negative when retrying is pointless,
// otherwise the least wait the receiver asked for.
func (w *WebhookSink) once(ctx context.Context, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("posting to %s: bad request", w.where)
	}
	for k, v := range w.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may carry a credential.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, fmt.Errorf("posting to %s: %w", w.where, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = min(time.Duration(s)*time.Second, maxBackoff)
		}
		return after, fmt.Errorf("posting to %s: %s", w.where, resp.Status)
	default:
		return -1, fmt.Errorf("posting to %s: %s", w.where, resp.Status)
	}
}
