package limits_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/agentic-run/agentic/limits"
)

// BenchmarkFairNext measures one dispatch decision with every tenant backlogged, weights
// of the default tiers, and one free slot at a time.
func BenchmarkFairNext(b *testing.B) {
	for _, tenants := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("tenants=%d", tenants), func(b *testing.B) {
			f := backloggedFair(tenants, math.MaxInt32)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := f.Next(1); !ok {
					b.Fatal("no grant")
				}
			}
		})
	}
}

// BenchmarkFairNextDone measures a dispatch and the task's completion when every tenant is
// at its concurrency limit after each grant: Next takes the tenant out of the running and
// Done puts it back, the scheduler's most expensive path.
func BenchmarkFairNextDone(b *testing.B) {
	for _, tenants := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("tenants=%d", tenants), func(b *testing.B) {
			f := backloggedFair(tenants, 1)
			b.ReportAllocs()
			for b.Loop() {
				tenant, n, ok := f.Next(1)
				if !ok {
					b.Fatal("no grant")
				}
				f.Done(tenant, n)
			}
		})
	}
}

func backloggedFair(tenants, room int) *limits.Fair {
	weights := []int{1, 3, 10, 50}
	f := limits.NewFair(1)
	for i := range tenants {
		f.Update(fmt.Sprintf("ten_%d", i), weights[i%len(weights)], math.MaxInt32, room)
	}
	return f
}
