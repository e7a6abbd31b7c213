package limits_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
)

// BenchmarkRedisSemaphoreAcquireRelease measures one slot's round trip, an Acquire and a
// Release, from parallel goroutines on one tenant's semaphore in Redis.
func BenchmarkRedisSemaphoreAcquireRelease(b *testing.B) {
	c, prefix := redistest.Client(b)
	benchmarkAcquireRelease(b, limits.NewRedisSemaphore(c, prefix))
}

// BenchmarkMemorySemaphoreAcquireRelease is the same on the in-process semaphore.
func BenchmarkMemorySemaphoreAcquireRelease(b *testing.B) {
	benchmarkAcquireRelease(b, limits.NewMemorySemaphore(nil))
}

func benchmarkAcquireRelease(b *testing.B, s limits.Semaphore) {
	ctx := b.Context()
	var goroutine atomic.Int64
	// Every goroutine holds at most one slot at a time, so all are always admitted.
	limit := 1 << 20
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := goroutine.Add(1)
		for i := 0; pb.Next(); i++ {
			holder := fmt.Sprintf("task%d-%d", g, i)
			ok, err := s.Acquire(ctx, "ten_bench:running", holder, limit, time.Minute)
			if err != nil || !ok {
				b.Errorf("acquire: %v %v", ok, err)
				return
			}
			if err := s.Release(ctx, "ten_bench:running", holder); err != nil {
				b.Errorf("release: %v", err)
				return
			}
		}
	})
}
