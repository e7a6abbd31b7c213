package cache_test

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/cache/cachetest"
	"github.com/agentic-run/agentic/internal/promtest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/telemetry"
)

var _ cache.Cache = (*cache.Instrumented)(nil)

// An instrumented cache is still a cache: it passes the conformance suite (its Stats are its
// own Gets, which are all of them here).
func TestInstrumentedConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		c, err := cache.Instrument(cache.NewMemory(0, nil), "conformance", nil)
		require.NoError(t, err)
		return c
	})
}

// Every Get is counted once, as a hit, a miss or an error, under the cache's name and the
// layer its implementation is, in agentic_cache_lookups_total and in the registry's totals.
func TestInstrumentCounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		layer string
		new   func(t *testing.T) cache.Cache
		// corrupt stores a value under key that does not decode into an int.
		corrupt func(t *testing.T, c cache.Cache, key cache.Key)
	}{
		{"memory", "memory",
			func(*testing.T) cache.Cache { return cache.NewMemory(0, nil) },
			func(t *testing.T, c cache.Cache, key cache.Key) {
				require.NoError(t, c.Set(t.Context(), key, "not a number", time.Minute))
			}},
		{"redis", "redis",
			func(t *testing.T) cache.Cache {
				c, prefix := redistest.Client(t)
				return cache.NewRedis(c, prefix)
			},
			func(t *testing.T, c cache.Cache, key cache.Key) {
				require.NoError(t, c.Set(t.Context(), key, map[string]int{"a": 1}, time.Minute))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			m, err := telemetry.NewMetrics()
			require.NoError(t, err)
			reg := cache.NewRegistry(m.Meter("test"))
			inner := tc.new(t)
			c, err := reg.Instrument(inner, "tasks")
			require.NoError(t, err)
			key := cache.TenantKey("ten_a", "task:1")

			var v int
			found, err := c.Get(ctx, key, &v)
			require.NoError(t, err)
			require.False(t, found)
			require.NoError(t, c.Set(ctx, key, 42, time.Minute))
			for range 3 {
				found, err = c.Get(ctx, key, &v)
				require.NoError(t, err)
				require.True(t, found)
				require.Equal(t, 42, v)
			}
			bad := cache.TenantKey("ten_a", "task:bad")
			tc.corrupt(t, c, bad)
			_, err = c.Get(ctx, bad, &v)
			require.ErrorIs(t, err, cache.ErrCorrupt)
			_, err = c.Get(ctx, cache.TenantKey("", "x"), &v)
			require.ErrorIs(t, err, cache.ErrBadKey)

			require.Equal(t, cache.Stats{Hits: 3, Misses: 1}, c.Stats())
			got := reg.Lookups()
			require.Equal(t, map[string]cache.Lookups{"tasks": {Hits: 3, Misses: 1, Errors: 2}}, got)
			require.Equal(t, uint64(6), got["tasks"].Total())
			for result, want := range map[string]float64{"hit": 3, "miss": 1, "error": 2} {
				require.Equal(t, want, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
					`cache="tasks"`, `layer="`+tc.layer+`"`, `result="`+result+`"`), result)
			}
			// The writes went through to the wrapped cache.
			found, err = inner.Get(ctx, key, &v)
			require.NoError(t, err)
			require.True(t, found)
		})
	}
}

// A Redis that does not answer: every Get is an error, counted as one, never a hit or miss.
func TestInstrumentUnreachableRedis(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	reg := cache.NewRegistry(nil)
	ic, err := reg.Instrument(cache.NewRedis(c, "unused"), "api_keys")
	require.NoError(t, err)
	var v int
	for range 2 {
		_, err := ic.Get(t.Context(), cache.GlobalKey("k"), &v)
		require.ErrorIs(t, err, cache.ErrUnavailable)
	}
	require.Equal(t, cache.Stats{}, ic.Stats())
	l := reg.Lookups()["api_keys"]
	require.Equal(t, cache.Lookups{Errors: 2}, l)
}

// One shared cache, instrumented once per use: each use counts its own Gets under its name;
// a use's front layer counts in the same name through its Counter.
func TestRegistryNamesUses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	reg := cache.NewRegistry(m.Meter("test"))
	shared := cache.NewMemory(0, nil)
	keys, err := reg.Instrument(shared, "api_keys")
	require.NoError(t, err)
	tasks, err := reg.Instrument(shared, "tasks")
	require.NoError(t, err)
	require.NoError(t, shared.Set(ctx, cache.GlobalKey("apikey:1"), 1, time.Minute))

	var v int
	_, err = keys.Get(ctx, cache.GlobalKey("apikey:1"), &v)
	require.NoError(t, err)
	_, err = tasks.Get(ctx, cache.TenantKey("ten_a", "task:1"), &v)
	require.NoError(t, err)
	front, err := reg.Counter("api_keys")
	require.NoError(t, err)
	front.Count(ctx, cache.LayerLocal, cache.Miss)

	require.Equal(t, cache.Stats{Hits: 1}, keys.Stats())
	require.Equal(t, cache.Stats{Misses: 1}, tasks.Stats())
	require.Equal(t, map[string]cache.Lookups{
		"api_keys": {Hits: 1, Misses: 1},
		"tasks":    {Misses: 1},
	}, reg.Lookups())
	require.Equal(t, 1.0, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
		`cache="api_keys"`, `layer="local"`, `result="miss"`))
	require.Equal(t, 1.0, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
		`cache="api_keys"`, `layer="memory"`, `result="hit"`))
	require.Equal(t, 1.0, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
		`cache="tasks"`, `layer="memory"`, `result="miss"`))
}

func TestRegistryEdges(t *testing.T) {
	t.Parallel()
	reg := cache.NewRegistry(nil)

	c, err := reg.Instrument(nil, "tasks")
	require.NoError(t, err)
	require.Nil(t, c, "no cache stays no cache")
	require.Empty(t, reg.Lookups(), "a cache that is not configured is not listed")

	_, err = reg.Counter("")
	require.Error(t, err)
	_, err = cache.Instrument(cache.NewMemory(0, nil), "", nil)
	require.Error(t, err)

	one, err := reg.Counter("x")
	require.NoError(t, err)
	two, err := reg.Counter("x")
	require.NoError(t, err)
	require.Same(t, one, two)
	require.Equal(t, "x", one.Name())

}

// Counting is safe from many goroutines.
func TestInstrumentConcurrent(t *testing.T) {
	t.Parallel()
	reg := cache.NewRegistry(nil)
	c, err := reg.Instrument(cache.NewMemory(0, nil), "tasks")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var v int
			for range 100 {
				_, _ = c.Get(t.Context(), cache.TenantKey("ten_a", string(rune('a'+i))), &v)
			}
		})
	}
	wg.Wait()
	require.Equal(t, cache.Lookups{Misses: 800}, reg.Lookups()["tasks"])
}
