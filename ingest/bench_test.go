package ingest_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// BenchmarkSubmit measures POST /v1/tasks end to end on local engines (HTTP, key cache,
// schema, one INSERT, an async publish).
func BenchmarkSubmit(b *testing.B) {
	var e *env
	e = newEnv(b, func(c *ingest.Config) {
		c.Enqueue = func(t *store.Task) { _, _ = e.pub.PublishTaskAsync(t) }
	})
	_, key := e.tenant(b)
	benchmarkSubmit(b, e, key)
}

// benchmarkSubmit posts tasks from 16 goroutines and requires 202s.
func benchmarkSubmit(b *testing.B, e *env, key string) {
	body := []byte(`{"agent":"summarizer","input":{"text":"The quick brown fox jumps over the lazy dog."},"metadata":{"order":"42"}}`)
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}

	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest("POST", e.http.URL+"/v1/tasks", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+key)
			resp, err := hc.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkSubmitRateLimited is BenchmarkSubmit with the tier's rate limits checked on Redis
// (requests per minute and executions per hour: two script calls a submission).
func BenchmarkSubmitRateLimited(b *testing.B) {
	rc, prefix := redistest.Client(b)
	tiers := limits.DefaultTiers()
	tiers["pro"] = limits.Tier{RequestsPerMinute: 1 << 30, ExecutionsPerHour: 1 << 30, Concurrent: 10, Weight: 10}
	var e *env
	e = newEnv(b, func(c *ingest.Config) {
		c.Enqueue = func(t *store.Task) { _, _ = e.pub.PublishTaskAsync(t) }
		c.RateLimits = ingest.RateLimits{Window: limits.NewRedisWindow(rc, prefix), Tiers: tiers}
	})
	_, key := e.tenant(b)
	benchmarkSubmit(b, e, key)
}
