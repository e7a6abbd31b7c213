package limits_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
)

// windowBenchTenants spreads the load over tenants, each at the pro tier's requests per minute: the
// keys fill, and from then on the mix is of admissions and denials, as under a flood.
const windowBenchTenants = 100

var windowBenchKeys = func() []string {
	keys := make([]string, windowBenchTenants)
	for i := range keys {
		keys[i] = fmt.Sprintf("ten_%d:rpm", i)
	}
	return keys
}()

func benchmarkWindow(b *testing.B, w limits.Window) {
	ctx := b.Context()
	var n atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := windowBenchKeys[n.Add(1)%windowBenchTenants]
			if _, err := w.Allow(ctx, key, 1_000, time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRedisWindowAllow measures one decision on Redis: one script round trip, with many
// calls in flight (8 per CPU), as from an ingest replica's concurrent requests.
func BenchmarkRedisWindowAllow(b *testing.B) {
	c, prefix := redistest.Client(b)
	b.SetParallelism(8)
	benchmarkWindow(b, limits.NewRedisWindow(c, prefix))
}

// BenchmarkMemoryWindowAllow measures one decision of the in-process window.
func BenchmarkMemoryWindowAllow(b *testing.B) {
	benchmarkWindow(b, limits.NewMemoryWindow(nil))
}
