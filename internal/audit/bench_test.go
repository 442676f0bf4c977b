package audit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends on the real disk. The parallel
// runs show group commit: many requests share each fsync (fsyncs/event
// well below 1), so throughput is not capped at one fsync per request as
// the serial run is.
func BenchmarkAppend(b *testing.B) {
	benches := []struct {
		name     string
		parallel bool
		sinks    func(b *testing.B) []Sink
	}{
		{name: "serial", parallel: false},
		{name: "parallel", parallel: true},
		{name: "parallel-with-sinks", parallel: true, sinks: func(b *testing.B) []Sink {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
			b.Cleanup(srv.Close)
			ws, err := NewWriterSink(WriterSinkConfig{W: io.Discard, MaxBuffer: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			hs, err := NewWebhookSink(WebhookConfig{URL: srv.URL, BatchSize: 500, MaxBuffer: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			return []Sink{ws, hs}
		}},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{}
			if bc.sinks != nil {
				cfg.Sinks = bc.sinks(b)
			}
			m, _ := openTest(b, cfg)
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if bc.parallel {
				b.SetParallelism(16) // like 16 or more concurrent requests
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := m.Append(ctx, testEvent("p1", int(n.Add(1)))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for i := range b.N {
					if err := m.Append(ctx, testEvent("p1", i)); err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			st := m.Status()[0]
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(st.Batches)/float64(st.Events), "fsyncs/event")
			for _, s := range cfg.Sinks {
				if d := s.Stats().Dropped; d > 0 {
					b.ReportMetric(float64(d), "sink-drops")
				}
			}
		})
	}
}
