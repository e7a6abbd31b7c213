package limits_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
)

// BenchmarkRedisBudgetReserveSettle measures one LLM call's ledger round trip, a Reserve and a
// Settle, from parallel goroutines on one tenant's month in Redis: two script calls.
func BenchmarkRedisBudgetReserveSettle(b *testing.B) {
	c, prefix := redistest.Client(b)
	benchmarkReserveSettle(b, limits.NewRedisBudget(c, prefix))
}

// BenchmarkMemoryBudgetReserveSettle is the same on the in-process ledger.
func BenchmarkMemoryBudgetReserveSettle(b *testing.B) {
	benchmarkReserveSettle(b, limits.NewMemoryBudget(nil))
}

func benchmarkReserveSettle(b *testing.B, l limits.Budget) {
	ctx := b.Context()
	month := limits.BudgetMonth(time.Now())
	var goroutine atomic.Int64
	// A budget every call fits (spend grows by 600 a call), so each Reserve takes the full
	// path: purge, compare, hold.
	const worst, actual, budget = 1_000, 600, limits.MaxBudgetMicros
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := goroutine.Add(1)
		for i := 0; pb.Next(); i++ {
			id := fmt.Sprintf("tsk_%d-%d:1", g, i)
			ok, _, err := l.Reserve(ctx, "ten_bench", month, id, worst, budget, time.Minute)
			if err != nil || !ok {
				b.Errorf("reserve: %v %v", ok, err)
				return
			}
			if _, err := l.Settle(ctx, "ten_bench", month, id, actual); err != nil {
				b.Errorf("settle: %v", err)
				return
			}
		}
	})
}
