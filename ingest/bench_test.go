package ingest_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/agentic-run/agentic/ingest"
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
