package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/cache/cachetest"
)

var (
	_ cache.Cache = (*cache.Redis)(nil)
	_ cache.Cache = (*cache.Memory)(nil)
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(*testing.T) cache.Cache {
		return cache.NewMemory(10_000, nil)
	})
}

// clock is a fake time source tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// present reports whether key has a live entry in m.
func present(t *testing.T, m *cache.Memory, key cache.Key) bool {
	t.Helper()
	var r record
	ok, err := m.Get(t.Context(), key, &r)
	require.NoError(t, err)
	return ok
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := cache.NewMemory(3, newClock().Now)
	k := func(name string) cache.Key { return cache.TenantKey("ten_a", name) }

	for _, name := range []string{"a", "b", "c"} {
		require.NoError(t, m.Set(ctx, k(name), record{ID: name}, time.Minute))
	}
	require.True(t, present(t, m, k("a"))) // a is now the most recently used: b is the least
	require.NoError(t, m.Set(ctx, k("d"), record{ID: "d"}, time.Minute))
	require.Equal(t, 3, m.Len())
	require.False(t, present(t, m, k("b")), "b, the least recently used, was not evicted")

	// Replacing an entry evicts nothing and counts as use: after these two Sets the order is
	// c, a, d (newest first), so e evicts d.
	require.NoError(t, m.Set(ctx, k("a"), record{ID: "a2"}, time.Minute))
	require.NoError(t, m.Set(ctx, k("c"), record{ID: "c2"}, time.Minute))
	require.Equal(t, 3, m.Len())
	require.NoError(t, m.Set(ctx, k("e"), record{ID: "e"}, time.Minute)) // evicts d
	require.False(t, present(t, m, k("d")))
	require.True(t, present(t, m, k("a")))
	require.True(t, present(t, m, k("c")))
	require.True(t, present(t, m, k("e")))

	// A refused Add evicts nothing; a successful one evicts like Set.
	added, err := m.Add(ctx, k("a"), record{}, time.Minute)
	require.NoError(t, err)
	require.False(t, added)
	require.Equal(t, 3, m.Len())
	added, err = m.Add(ctx, k("f"), record{ID: "f"}, time.Minute) // evicts c, the least recent
	require.NoError(t, err)
	require.True(t, added)
	require.False(t, present(t, m, k("c")))
	require.Equal(t, 3, m.Len())
}

func TestMemoryStaysBounded(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, nil)
	for i := range 1000 {
		require.NoError(t, m.Set(t.Context(), cache.GlobalKey(fmt.Sprint(i)), record{Count: i}, time.Minute))
		require.LessOrEqual(t, m.Len(), 10)
	}
	for i := 990; i < 1000; i++ {
		require.True(t, present(t, m, cache.GlobalKey(fmt.Sprint(i))), "entry %d", i)
	}
}

func TestMemoryExpiresByClock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	m := cache.NewMemory(100, clk.Now)

	require.NoError(t, m.Set(ctx, cache.GlobalKey("tier"), record{ID: "x"}, cache.TTLShort))
	require.NoError(t, m.Set(ctx, cache.GlobalKey("forever"), record{ID: "f"}, 0))
	added, err := m.Add(ctx, cache.GlobalKey("added"), record{ID: "a"}, cache.TTLMedium)
	require.NoError(t, err)
	require.True(t, added)

	clk.Advance(cache.TTLShort - time.Nanosecond)
	require.True(t, present(t, m, cache.GlobalKey("tier")))
	clk.Advance(time.Nanosecond) // an entry is gone at its TTL exactly
	require.False(t, present(t, m, cache.GlobalKey("tier")))
	require.Equal(t, 2, m.Len(), "an expired entry was not dropped when read")

	// An expired slot takes an Add.
	added, err = m.Add(ctx, cache.GlobalKey("tier"), record{ID: "y"}, cache.TTLShort)
	require.NoError(t, err)
	require.True(t, added)

	// Set restarts the TTL.
	clk.Advance(cache.TTLShort / 2)
	require.NoError(t, m.Set(ctx, cache.GlobalKey("tier"), record{ID: "z"}, cache.TTLShort))
	clk.Advance(cache.TTLShort / 2)
	require.True(t, present(t, m, cache.GlobalKey("tier")))

	require.True(t, present(t, m, cache.GlobalKey("added")))
	clk.Advance(cache.TTLMedium)
	require.False(t, present(t, m, cache.GlobalKey("added")))
	require.False(t, present(t, m, cache.GlobalKey("tier")))

	clk.Advance(100 * cache.TTLDay)
	require.True(t, present(t, m, cache.GlobalKey("forever")))
}

func TestMemoryDeletePrefixCountsOnlyLiveEntries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	m := cache.NewMemory(100, clk.Now)
	require.NoError(t, m.Set(ctx, cache.TenantKey("ten_a", "p:1"), record{}, time.Second))
	require.NoError(t, m.Set(ctx, cache.TenantKey("ten_a", "p:2"), record{}, time.Minute))
	require.NoError(t, m.Set(ctx, cache.TenantKey("ten_a", "q:1"), record{}, time.Second))
	clk.Advance(time.Second)

	n, err := m.DeletePrefix(ctx, "ten_a", "p:")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 1, m.Len(), "only the expired entry outside the prefix stays")
}

func TestMemoryStatsByClock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	m := cache.NewMemory(100, clk.Now)
	require.NoError(t, m.Set(ctx, cache.GlobalKey("k"), record{}, time.Second))
	require.True(t, present(t, m, cache.GlobalKey("k")))
	clk.Advance(time.Second)
	require.False(t, present(t, m, cache.GlobalKey("k")))
	require.Equal(t, cache.Stats{Hits: 1, Misses: 1}, m.Stats())
}

func TestMemoryConcurrentUseStaysBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := cache.NewMemory(50, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := cache.TenantKey(fmt.Sprintf("ten_%d", g%3), fmt.Sprintf("k:%d", i%97))
				var err error
				switch i % 5 {
				case 0:
					err = m.Set(ctx, k, record{Count: i}, time.Minute)
				case 1:
					_, err = m.Add(ctx, k, record{Count: i}, time.Millisecond)
				case 2:
					var r record
					_, err = m.Get(ctx, k, &r)
				case 3:
					err = m.Delete(ctx, k)
				case 4:
					if i%50 == 4 {
						_, err = m.DeletePrefix(ctx, fmt.Sprintf("ten_%d", g%3), "k:1")
					}
				}
				if err != nil {
					t.Errorf("op %d: %v", i%5, err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, m.Len(), 50)
	st := m.Stats()
	require.Equal(t, uint64(8*100), st.Hits+st.Misses)
}

func TestNewMemoryWithoutASizeTakesTheDefault(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1} {
		m := cache.NewMemory(n, nil)
		for i := range cache.DefaultMemoryEntries + 10 {
			require.NoError(t, m.Set(t.Context(), cache.GlobalKey(fmt.Sprint("k", i)), i, 0))
		}
		require.Equal(t, cache.DefaultMemoryEntries, m.Len())
	}
}
