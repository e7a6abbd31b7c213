package limits_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/limits/limitstest"
)

var (
	_ limits.Semaphore = (*limits.RedisSemaphore)(nil)
	_ limits.Semaphore = (*limits.MemorySemaphore)(nil)
)

func TestRedisSemaphore(t *testing.T) {
	t.Parallel()
	limitstest.RunSemaphore(t, func(t *testing.T) limits.Semaphore {
		return redisReplicas(t, 3)
	})
}

func TestMemorySemaphore(t *testing.T) {
	t.Parallel()
	limitstest.RunSemaphore(t, func(*testing.T) limits.Semaphore {
		return limits.NewMemorySemaphore(nil)
	})
}

// redisReplicas returns a semaphore standing for n worker replicas: n RedisSemaphores on
// their own clients sharing the test's key prefix. Calls go to the replicas in turn, so one
// holder's acquire, renew and release land on different replicas.
func redisReplicas(t *testing.T, n int) limits.Semaphore {
	clients, prefix := replicaClients(t, n)
	r := &replicas{}
	for _, c := range clients {
		r.items = append(r.items, limits.NewRedisSemaphore(c, prefix))
	}
	return r
}

// replicas spreads calls over several semaphores sharing one store.
type replicas struct{ roundRobin[limits.Semaphore] }

func (r *replicas) Acquire(ctx context.Context, key, holder string, limit int, lease time.Duration) (bool, error) {
	return r.pick().Acquire(ctx, key, holder, limit, lease)
}

func (r *replicas) AcquireN(ctx context.Context, key string, holders []string, limit int, lease time.Duration) (int, error) {
	return r.pick().AcquireN(ctx, key, holders, limit, lease)
}

func (r *replicas) Renew(ctx context.Context, key, holder string, lease time.Duration) (bool, error) {
	return r.pick().Renew(ctx, key, holder, lease)
}

func (r *replicas) Release(ctx context.Context, key, holder string) error {
	return r.pick().Release(ctx, key, holder)
}

func (r *replicas) Count(ctx context.Context, key string) (int, error) {
	return r.pick().Count(ctx, key)
}

func TestRedisSemaphoreKeyExpiresAfterItsLastLease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, prefix := redistest.Client(t)
	s := limits.NewRedisSemaphore(c, prefix)
	key := s.Key("ten_a:running")
	require.Equal(t, prefix+":sem:ten_a:running", key)

	ok, err := s.Acquire(ctx, "ten_a:running", "h1", 2, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	ttl := c.PTTL(ctx, key).Val()
	require.Greater(t, ttl, 10*time.Second, "the key may expire before its lease")
	require.LessOrEqual(t, ttl, 11*time.Second, "the key outlives its lease by more than the grace")

	ok, err = s.Acquire(ctx, "ten_a:running", "h2", 2, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Greater(t, c.PTTL(ctx, key).Val(), time.Minute, "the key's expiry does not follow its longest lease")

	// Renewing the longest lease shorter brings the key's expiry in to the next longest.
	ok, err = s.Renew(ctx, "ten_a:running", "h2", time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	ttl = c.PTTL(ctx, key).Val()
	require.Greater(t, ttl, 10*time.Second-time.Second, "the key may expire before h1's lease")
	require.LessOrEqual(t, ttl, 11*time.Second)

	// A holder that never comes back leaves nothing behind.
	ok, err = s.Acquire(ctx, "ten_b:running", "h1", 1, 50*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		return c.Exists(ctx, s.Key("ten_b:running")).Val() == 0
	}, 3*time.Second, 20*time.Millisecond, "an abandoned semaphore's key stays in Redis")
}

func TestRedisSemaphoreUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// A port nothing listens on: Redis is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	s := limits.NewRedisSemaphore(c, "agentic-test:down")

	ok, err := s.Acquire(ctx, "k", "h", 1, time.Minute)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	require.False(t, ok)
	ok, err = s.Renew(ctx, "k", "h", time.Minute)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	require.False(t, ok)
	require.ErrorIs(t, s.Release(ctx, "k", "h"), limits.ErrUnavailable)
	_, err = s.Count(ctx, "k")
	require.ErrorIs(t, err, limits.ErrUnavailable)
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemorySemaphoreLeaseEndsExactly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newFakeClock()
	s := limits.NewMemorySemaphore(clock.Now)

	ok, err := s.Acquire(ctx, "k", "h1", 1, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	clock.Advance(10*time.Second - time.Nanosecond)
	n, err := s.Count(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, 1, n, "the lease ended early")
	ok, err = s.Acquire(ctx, "k", "h2", 1, 10*time.Second)
	require.NoError(t, err)
	require.False(t, ok)

	clock.Advance(time.Nanosecond)
	n, err = s.Count(ctx, "k")
	require.NoError(t, err)
	require.Zero(t, n, "the lease outlived itself")
	ok, err = s.Renew(ctx, "k", "h1", 10*time.Second)
	require.NoError(t, err)
	require.False(t, ok, "an expired lease renewed")
	ok, err = s.Acquire(ctx, "k", "h2", 1, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestMemorySemaphoreMemoryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newFakeClock()
	s := limits.NewMemorySemaphore(clock.Now)

	const keys = 1000
	for i := range keys {
		for _, h := range []string{"h1", "h2"} {
			ok, err := s.Acquire(ctx, fmt.Sprint("ten_", i, ":running"), h, 2, time.Second)
			require.NoError(t, err)
			require.True(t, ok)
		}
	}
	nk, nh := limits.MemorySemaphoreSize(s)
	require.Equal(t, keys, nk)
	require.Equal(t, 2*keys, nh)

	// Released and expired holders go with their key's next use.
	require.NoError(t, s.Release(ctx, "ten_0:running", "h1"))
	require.NoError(t, s.Release(ctx, "ten_0:running", "h2"))
	clock.Advance(2 * time.Second)
	n, err := s.Count(ctx, "ten_1:running")
	require.NoError(t, err)
	require.Zero(t, n)
	nk, nh = limits.MemorySemaphoreSize(s)
	require.Equal(t, keys-2, nk)
	require.Equal(t, 2*(keys-2), nh)

	// Keys nobody uses again go at the next sweep, whatever key is used.
	clock.Advance(time.Minute)
	ok, err := s.Acquire(ctx, "ten_other:running", "h1", 1, time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	nk, nh = limits.MemorySemaphoreSize(s)
	require.Equal(t, 1, nk, "expired keys stay in memory")
	require.Equal(t, 1, nh)
}

// semModel is the brute-force reference for the property test: every lease ever granted, and
// the clock. A holder is live while now < its expiry.
type semModel struct {
	now time.Time
	exp map[string]map[string]time.Time // key -> holder -> expiry, never purged
}

func (m *semModel) live(key, holder string) bool {
	e, ok := m.exp[key][holder]
	return ok && m.now.Before(e)
}

func (m *semModel) count(key string) int {
	n := 0
	for h := range m.exp[key] {
		if m.live(key, h) {
			n++
		}
	}
	return n
}

func (m *semModel) acquire(key, holder string, limit int, lease time.Duration) bool {
	if !m.live(key, holder) && m.count(key) >= limit {
		return false
	}
	if m.exp[key] == nil {
		m.exp[key] = map[string]time.Time{}
	}
	m.exp[key][holder] = m.now.Add(lease)
	return true
}

func (m *semModel) renew(key, holder string, lease time.Duration) bool {
	if !m.live(key, holder) {
		return false
	}
	m.exp[key][holder] = m.now.Add(lease)
	return true
}

func (m *semModel) release(key, holder string) { delete(m.exp[key], holder) }

// TestMemorySemaphoreMatchesModel runs random sequences of acquire, renew, release, limit
// changes and clock moves over several holders and keys, and checks after every step that the
// semaphore answers as the brute-force model does, that its live holders are exactly the
// model's, and that no new holder is ever admitted at or over the limit. Leases and clock
// moves are whole seconds, so leases often end exactly at a step.
func TestMemorySemaphoreMatchesModel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	keys := []string{"ten_a:running", "ten_b:running"}
	holders := []string{"h0", "h1", "h2", "h3", "h4", "h5"}
	const seeds, steps = 300, 300

	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 0x5e4a))
		clock := newFakeClock()
		s := limits.NewMemorySemaphore(clock.Now)
		m := &semModel{now: clock.Now(), exp: map[string]map[string]time.Time{}}
		limit := map[string]int{}
		maxLimit := map[string]int{}
		for _, k := range keys {
			limit[k] = 1 + r.IntN(3)
			maxLimit[k] = limit[k]
		}
		var trace []string

		for step := range steps {
			key := keys[r.IntN(len(keys))]
			holder := holders[r.IntN(len(holders))]
			lease := time.Duration(1+r.IntN(5)) * time.Second
			admitted := false
			var op string
			switch p := r.IntN(100); {
			case p < 40:
				op = fmt.Sprintf("acquire(%s, %s, limit %d, %v)", key, holder, limit[key], lease)
				wasLive := m.live(key, holder)
				want := m.acquire(key, holder, limit[key], lease)
				got, err := s.Acquire(ctx, key, holder, limit[key], lease)
				require.NoError(t, err)
				require.Equal(t, want, got, "seed %d step %d: %s\n%v", seed, step, op, trace)
				admitted = got && !wasLive
			case p < 60:
				op = fmt.Sprintf("renew(%s, %s, %v)", key, holder, lease)
				want := m.renew(key, holder, lease)
				got, err := s.Renew(ctx, key, holder, lease)
				require.NoError(t, err)
				require.Equal(t, want, got, "seed %d step %d: %s\n%v", seed, step, op, trace)
			case p < 75:
				op = fmt.Sprintf("release(%s, %s)", key, holder)
				m.release(key, holder)
				require.NoError(t, s.Release(ctx, key, holder))
			case p < 80:
				limit[key] = 1 + r.IntN(4)
				maxLimit[key] = max(maxLimit[key], limit[key])
				op = fmt.Sprintf("limit(%s) = %d", key, limit[key])
			case p < 81:
				op = "advance(2m)" // past a sweep
				clock.Advance(2 * time.Minute)
				m.now = clock.Now()
			default:
				d := time.Duration(r.IntN(4)) * time.Second
				op = fmt.Sprintf("advance(%v)", d)
				clock.Advance(d)
				m.now = clock.Now()
			}
			trace = append(trace, op)

			for _, k := range keys {
				got, err := s.Count(ctx, k)
				require.NoError(t, err)
				require.Equal(t, m.count(k), got, "seed %d step %d: count(%s) after %s\n%v", seed, step, k, op, trace)
				require.LessOrEqual(t, got, maxLimit[k], "seed %d step %d: over every limit of %s", seed, step, k)
			}
			if admitted {
				require.LessOrEqual(t, m.count(key), limit[key], "seed %d step %d: admitted over the limit: %s", seed, step, op)
			}
		}
	}
}
