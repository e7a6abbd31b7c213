// Package limitstest holds the conformance suites every limiter implementation must pass, so
// the Redis limiters of production and the in-process ones of `agentic dev` cannot drift apart.
package limitstest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/limits"
)

// Timing of the suite's lease tests. Leases are real time: the suite runs against Redis's
// clock as well as the process's.
const (
	// semLease is the lease of the expiry tests: long enough that a loaded test machine does
	// not let it run out between two calls that must see it live.
	semLease = 500 * time.Millisecond
	// semMargin is how late after its lease an abandoned slot may come back.
	semMargin = 300 * time.Millisecond
	// semPoll is how often a waiting acquirer retries.
	semPoll = 5 * time.Millisecond
)

// RunSemaphore runs the Semaphore conformance suite. newSem returns a new, empty semaphore for
// one subtest, cleaned up with t; it may be a view over several replicas sharing one store
// (several Redis clients), which the contention test then exercises.
func RunSemaphore(t *testing.T, newSem func(t *testing.T) limits.Semaphore) {
	t.Helper()

	t.Run("RejectsBadArguments", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		for _, tc := range []struct {
			name        string
			key, holder string
			limit       int
			lease       time.Duration
		}{
			{"zero limit", "k", "h", 0, time.Second},
			{"negative limit", "k", "h", -1, time.Second},
			{"zero lease", "k", "h", 1, 0},
			{"negative lease", "k", "h", 1, -time.Second},
			{"lease over the cap", "k", "h", 1, limits.MaxSemaphoreLease + time.Second},
			{"empty key", "", "h", 1, time.Second},
			{"empty holder", "k", "", 1, time.Second},
		} {
			ok, err := s.Acquire(ctx, tc.key, tc.holder, tc.limit, tc.lease)
			require.Error(t, err, "acquire: %s", tc.name)
			require.False(t, ok, "acquire: %s", tc.name)
		}
		n, err := s.Count(ctx, "k")
		require.NoError(t, err)
		require.Zero(t, n, "a rejected acquire took a slot")

		mustAcquire(t, s, "k", "h", 1, time.Minute)
		for _, lease := range []time.Duration{0, -time.Second, limits.MaxSemaphoreLease + 1} {
			ok, err := s.Renew(ctx, "k", "h", lease)
			require.Error(t, err, "renew with lease %v", lease)
			require.False(t, ok)
		}
		_, err = s.Renew(ctx, "", "h", time.Second)
		require.Error(t, err, "renew with empty key")
		_, err = s.Renew(ctx, "k", "", time.Second)
		require.Error(t, err, "renew with empty holder")
		require.Error(t, s.Release(ctx, "", "h"), "release with empty key")
		require.Error(t, s.Release(ctx, "k", ""), "release with empty holder")
		_, err = s.Count(ctx, "")
		require.Error(t, err, "count with empty key")
		requireCount(t, s, "k", 1)
	})

	t.Run("AdmitsUpToLimit", func(t *testing.T) {
		t.Parallel()
		s := newSem(t)
		for i := range 3 {
			mustAcquire(t, s, "ten_a:running", fmt.Sprint("h", i), 3, time.Minute)
			requireCount(t, s, "ten_a:running", i+1)
		}
		mustRefuse(t, s, "ten_a:running", "h3", 3, time.Minute)
		requireCount(t, s, "ten_a:running", 3)
	})

	t.Run("AcquireIsIdempotentPerHolder", func(t *testing.T) {
		t.Parallel()
		s := newSem(t)
		mustAcquire(t, s, "k", "h1", 2, time.Minute)
		mustAcquire(t, s, "k", "h1", 2, time.Minute)
		requireCount(t, s, "k", 1)
		mustAcquire(t, s, "k", "h2", 2, time.Minute)
		mustRefuse(t, s, "k", "h3", 2, time.Minute)
		// A holder keeps its slot when the semaphore is full.
		mustAcquire(t, s, "k", "h1", 2, time.Minute)
		requireCount(t, s, "k", 2)
	})

	t.Run("AcquireRenewsTheLease", func(t *testing.T) {
		t.Parallel()
		s := newSem(t)
		mustAcquire(t, s, "k", "h1", 1, semLease)
		mustAcquire(t, s, "k", "h1", 1, time.Minute)
		<-time.After(2 * semLease) // past the first lease: the leases under test are real time
		requireCount(t, s, "k", 1)
		mustRefuse(t, s, "k", "h2", 1, time.Minute)
		ok, err := s.Renew(t.Context(), "k", "h1", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "the re-acquired lease ran out at the first lease's end")
	})

	t.Run("ReleaseFreesAtOnce", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		mustAcquire(t, s, "k", "h1", 1, time.Minute)
		mustRefuse(t, s, "k", "h2", 1, time.Minute)
		require.NoError(t, s.Release(ctx, "k", "h1"))
		requireCount(t, s, "k", 0)
		mustAcquire(t, s, "k", "h2", 1, time.Minute)

		require.NoError(t, s.Release(ctx, "k", "h1"), "release twice")
		require.NoError(t, s.Release(ctx, "k", "nobody"), "release of an unknown holder")
		require.NoError(t, s.Release(ctx, "no-such-key", "h1"), "release of an unknown key")
		requireCount(t, s, "k", 1)
		ok, err := s.Renew(ctx, "k", "h1", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "a released slot renewed")
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		mustAcquire(t, s, "ten_a:running", "task1", 1, time.Minute)
		mustRefuse(t, s, "ten_a:running", "task2", 1, time.Minute)
		// Tenant b is not held back by a's full semaphore, even under the same holder names.
		mustAcquire(t, s, "ten_b:running", "task1", 1, time.Minute)
		mustRefuse(t, s, "ten_b:running", "task2", 1, time.Minute)
		require.NoError(t, s.Release(ctx, "ten_a:running", "task1"))
		requireCount(t, s, "ten_a:running", 0)
		requireCount(t, s, "ten_b:running", 1)
		ok, err := s.Renew(ctx, "ten_b:running", "task1", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "releasing a's slot released b's")
	})

	t.Run("LoweredLimitAdmitsNoneUntilBelowIt", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		for _, h := range []string{"h1", "h2", "h3"} {
			mustAcquire(t, s, "k", h, 3, time.Minute)
		}
		// Downgrade to 2: the live holders keep their slots, a newcomer waits.
		mustRefuse(t, s, "k", "h4", 2, time.Minute)
		mustAcquire(t, s, "k", "h1", 2, time.Minute)
		require.NoError(t, s.Release(ctx, "k", "h1"))
		requireCount(t, s, "k", 2)
		mustRefuse(t, s, "k", "h4", 2, time.Minute)
		require.NoError(t, s.Release(ctx, "k", "h2"))
		mustAcquire(t, s, "k", "h4", 2, time.Minute)
		mustRefuse(t, s, "k", "h5", 2, time.Minute)
		requireCount(t, s, "k", 2)
		// An upgrade admits at once.
		mustAcquire(t, s, "k", "h5", 3, time.Minute)
		requireCount(t, s, "k", 3)
	})

	t.Run("AbandonedSlotComesBackWithinTheLease", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		start := time.Now()
		// h1's worker is killed right after taking the slot: it never renews or releases.
		mustAcquire(t, s, "k", "h1", 1, semLease)
		mustRefuse(t, s, "k", "h2", 1, semLease)
		var got time.Time
		require.Eventually(t, func() bool {
			ok, err := s.Acquire(ctx, "k", "h2", 1, time.Minute)
			if err != nil || !ok {
				return false
			}
			got = time.Now()
			return true
		}, semLease+semMargin, semPoll, "the abandoned slot did not come back within lease + %v", semMargin)
		// Not before the lease ran out (a millisecond of slack for Redis's ms clock).
		require.GreaterOrEqual(t, got.Sub(start), semLease-time.Millisecond, "the slot came back before its lease ran out")
		requireCount(t, s, "k", 1)
		ok, err := s.Renew(ctx, "k", "h1", semLease)
		require.NoError(t, err)
		require.False(t, ok, "the expired holder renewed a slot now held by another")
	})

	t.Run("ExpiredLeaseDoesNotRenew", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		mustAcquire(t, s, "k", "h1", 2, semLease/5)
		require.Eventually(t, func() bool {
			n, err := s.Count(ctx, "k")
			return err == nil && n == 0
		}, semLease/5+semMargin, semPoll, "the lease did not run out")
		// Nobody took the slot, yet it is lost: the holder's work is no longer guarded.
		ok, err := s.Renew(ctx, "k", "h1", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "an expired lease renewed")
		requireCount(t, s, "k", 0)
		mustAcquire(t, s, "k", "h1", 2, time.Minute)
	})

	t.Run("RenewKeepsTheSlotPastManyLeases", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		mustAcquire(t, s, "k", "h1", 1, semLease)
		renewEvery := semLease / 10
		tick := time.NewTicker(renewEvery)
		defer tick.Stop()
		deadline := time.Now().Add(4 * semLease)
		var renewed time.Time
		for time.Now().Before(deadline) {
			<-tick.C
			renewed = time.Now()
			ok, err := s.Renew(ctx, "k", "h1", semLease)
			require.NoError(t, err)
			require.True(t, ok, "a renewed slot was lost")
			mustRefuse(t, s, "k", "h2", 1, semLease)
		}
		// The holder stops renewing: the slot comes back one lease after the last renewal.
		var got time.Time
		require.Eventually(t, func() bool {
			ok, err := s.Acquire(ctx, "k", "h2", 1, time.Minute)
			if err != nil || !ok {
				return false
			}
			got = time.Now()
			return true
		}, semLease+semMargin, semPoll, "the slot did not come back within lease + %v of the last renewal", semMargin)
		require.GreaterOrEqual(t, got.Sub(renewed), semLease-time.Millisecond, "the slot came back before the renewed lease ran out")
	})

	t.Run("NeverOverAdmitsUnderContention", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		const (
			limit      = 3
			acquirers  = 64
			perWorker  = 4
			workFor    = time.Millisecond
			refusedFor = time.Millisecond
		)
		var (
			held, maxHeld, admitted atomic.Int64
			wg                      sync.WaitGroup
		)
		errs := make(chan error, acquirers)
		for g := range acquirers {
			wg.Go(func() {
				for i := 0; i < perWorker; {
					holder := fmt.Sprintf("task%d-%d", g, i)
					ok, err := s.Acquire(ctx, "ten_x:running", holder, limit, time.Minute)
					if err != nil {
						errs <- err
						return
					}
					if !ok {
						time.Sleep(refusedFor) // as a worker's NakWithDelay would
						continue
					}
					n := held.Add(1)
					raiseTo(&maxHeld, n)
					admitted.Add(1)
					time.Sleep(workFor)
					held.Add(-1)
					if err := s.Release(ctx, "ten_x:running", holder); err != nil {
						errs <- err
						return
					}
					i++
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, int64(acquirers*perWorker), admitted.Load())
		require.LessOrEqual(t, maxHeld.Load(), int64(limit), "more holders than the limit at once")
		require.Equal(t, int64(limit), maxHeld.Load(), "the semaphore never filled up: it under-admits")
		requireCount(t, s, "ten_x:running", 0)
	})

	t.Run("AcquireNTakesWhatTheLimitAllowsInOrder", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		mustAcquire(t, s, "k", "a", 4, time.Minute)
		n, err := s.AcquireN(ctx, "k", []string{"b", "a", "c", "d", "e"}, 4, time.Minute)
		require.NoError(t, err)
		// b takes a slot, a renews its own, c and d take the last two, e is refused.
		require.Equal(t, 4, n)
		requireCount(t, s, "k", 4)
		mustRefuse(t, s, "k", "e", 4, time.Minute)
		n, err = s.AcquireN(ctx, "k", []string{"x"}, 4, time.Minute)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.AcquireN(ctx, "k", nil, 4, time.Minute)
		require.NoError(t, err)
		require.Zero(t, n)
		for _, h := range []string{"a", "b", "c", "d"} {
			require.NoError(t, s.Release(ctx, "k", h))
		}
		requireCount(t, s, "k", 0)

		for _, tc := range []struct {
			name    string
			key     string
			holders []string
			limit   int
			lease   time.Duration
		}{
			{"empty key", "", []string{"h"}, 1, time.Minute},
			{"empty holder", "k", []string{"h", ""}, 1, time.Minute},
			{"zero limit", "k", []string{"h"}, 0, time.Minute},
			{"zero lease", "k", []string{"h"}, 1, 0},
		} {
			n, err := s.AcquireN(ctx, tc.key, tc.holders, tc.limit, tc.lease)
			require.Error(t, err, tc.name)
			require.Zero(t, n, tc.name)
		}
		requireCount(t, s, "k", 0)
	})

	t.Run("AcquireNNeverOverAdmitsUnderContention", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newSem(t)
		const limit, acquirers = 5, 32
		var wg sync.WaitGroup
		got := make([]int, acquirers)
		errs := make([]error, acquirers)
		for g := range acquirers {
			wg.Go(func() {
				got[g], errs[g] = s.AcquireN(ctx, "k", []string{fmt.Sprint(g, "a"), fmt.Sprint(g, "b")}, limit, time.Minute)
			})
		}
		wg.Wait()
		total := 0
		for g := range acquirers {
			require.NoError(t, errs[g])
			total += got[g]
		}
		require.Equal(t, limit, total, "slots taken by 32 racing AcquireN of 2 under a limit of 5")
		requireCount(t, s, "k", limit)
	})

	t.Run("HonoursCanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newSem(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		ok, err := s.Acquire(ctx, "k", "h1", 1, time.Minute)
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, ok)
		requireCount(t, s, "k", 0)
	})
}

// mustAcquire requires holder to take a slot of key.
func mustAcquire(t *testing.T, s limits.Semaphore, key, holder string, limit int, lease time.Duration) {
	t.Helper()
	ok, err := s.Acquire(t.Context(), key, holder, limit, lease)
	require.NoError(t, err)
	require.True(t, ok, "%s was refused a slot of %s (limit %d)", holder, key, limit)
}

// mustRefuse requires holder to be refused a slot of key.
func mustRefuse(t *testing.T, s limits.Semaphore, key, holder string, limit int, lease time.Duration) {
	t.Helper()
	ok, err := s.Acquire(t.Context(), key, holder, limit, lease)
	require.NoError(t, err)
	require.False(t, ok, "%s was given a slot of %s over the limit %d", holder, key, limit)
}

// requireCount requires key to have n live holders.
func requireCount(t *testing.T, s limits.Semaphore, key string, n int) {
	t.Helper()
	got, err := s.Count(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, n, got, "live holders of %s", key)
}

// raiseTo sets hi to n if n is larger.
func raiseTo(hi *atomic.Int64, n int64) {
	for {
		m := hi.Load()
		if n <= m || hi.CompareAndSwap(m, n) {
			return
		}
	}
}
