package limits_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/limits/limitstest"
)

func TestMemoryWindow(t *testing.T) {
	t.Parallel()
	// One process: its replicas are one instance.
	w := limits.NewMemoryWindow(nil)
	limitstest.RunWindow(t, func(*testing.T) limits.Window { return w })
}

func TestRedisWindow(t *testing.T) {
	t.Parallel()
	// One prefix, and a client of its own per window, as replicas have.
	_, prefix := redistest.Client(t)
	limitstest.RunWindow(t, func(t *testing.T) limits.Window {
		c, _ := redistest.Client(t)
		return limits.NewRedisWindow(c, prefix)
	})
}

func TestMemoryWindowRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newFakeClock()
	w := limits.NewMemoryWindow(clock.Now)
	allow := func() limits.Decision {
		t.Helper()
		d, err := w.Allow(ctx, "ten_1:rpm", 2, time.Minute)
		require.NoError(t, err)
		return d
	}

	require.Equal(t, limits.Decision{Allowed: true, Limit: 2, Remaining: 1, ResetAfter: time.Minute}, allow())
	clock.Advance(10 * time.Second)
	require.Equal(t, limits.Decision{Allowed: true, Limit: 2, Remaining: 0, ResetAfter: 50 * time.Second}, allow())
	clock.Advance(10 * time.Second)
	require.Equal(t, limits.Decision{Limit: 2, ResetAfter: 40 * time.Second, RetryAfter: 40 * time.Second}, allow())
	require.Equal(t, 40, allow().RetryAfterSeconds())

	// One nanosecond early is still denied, and counts for nothing...
	clock.Advance(40*time.Second - time.Nanosecond)
	require.Equal(t, limits.Decision{Limit: 2, ResetAfter: time.Nanosecond, RetryAfter: time.Nanosecond}, allow())
	require.Equal(t, 1, allow().RetryAfterSeconds(), "Retry-After rounds up, never to 0")
	// ...and on time is admitted: the first event counted in (now-window, now] no more.
	clock.Advance(time.Nanosecond)
	require.Equal(t, limits.Decision{Allowed: true, Limit: 2, Remaining: 0, ResetAfter: 10 * time.Second}, allow())
}

func TestMemoryWindowDropsIdleKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newFakeClock()
	w := limits.NewMemoryWindow(clock.Now)
	const tenants = 1000
	for i := range tenants {
		_, err := w.Allow(ctx, fmt.Sprintf("ten_%d:rpm", i), 10, time.Minute)
		require.NoError(t, err)
	}
	require.Equal(t, tenants, w.WindowKeys())

	// A minute on, every event has left; calls on one key sweep the others away.
	clock.Advance(time.Minute)
	for range tenants {
		_, err := w.Allow(ctx, "ten_busy:rpm", 10_000, time.Minute)
		require.NoError(t, err)
	}
	require.Equal(t, 1, w.WindowKeys())
}

// windowModel is the specification by brute force: a key's admitted events, and a decision
// worked out from the definition, not from the implementation's shortcuts.
type windowModel struct{ events []time.Time }

func (m *windowModel) allow(now time.Time, limit int, window time.Duration) limits.Decision {
	// counted returns the events counted at time at: those in (at-window, at].
	counted := func(at time.Time) []time.Time {
		var in []time.Time
		for _, e := range m.events {
			if e.After(at.Add(-window)) && !e.After(at) {
				in = append(in, e)
			}
		}
		return in
	}
	in := counted(now)
	if len(in) < limit {
		m.events = append(m.events, now)
		oldest := now
		for _, e := range in {
			if e.Before(oldest) {
				oldest = e
			}
		}
		return limits.Decision{Allowed: true, Limit: limit, Remaining: limit - len(in) - 1, ResetAfter: oldest.Add(window).Sub(now)}
	}
	// The wait is the soonest moment an event leaves after which fewer than limit count.
	var wait time.Duration
	for _, e := range in {
		d := e.Add(window).Sub(now)
		if len(counted(now.Add(d))) < limit && (wait == 0 || d < wait) {
			wait = d
		}
	}
	return limits.Decision{Limit: limit, ResetAfter: wait, RetryAfter: wait}
}

// TestMemoryWindowMatchesModel drives the in-process window and the model with random
// arrivals, limits and windows on a fake clock, and requires every decision to be equal.
// Arrivals are whole units of time and often land exactly on an event's exit or a denial's
// retry-after (or a nanosecond before), where an off-by-one would show.
func TestMemoryWindowMatchesModel(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	ctx := t.Context()

	for trial := range 300 {
		clock := newFakeClock()
		w := limits.NewMemoryWindow(clock.Now)
		unit := []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second}[rng.IntN(4)]
		type key struct {
			name    string
			limit   int
			vary    bool // the limit changes from call to call, as on a tier change
			window  time.Duration
			model   windowModel
			lastRet time.Duration // the latest denial's retry-after, or 0
		}
		keys := make([]*key, 1+rng.IntN(3))
		for i := range keys {
			keys[i] = &key{
				name:   fmt.Sprintf("ten_%d:rpm", i),
				limit:  1 + rng.IntN(8),
				vary:   rng.IntN(4) == 0,
				window: unit * time.Duration(1+rng.IntN(20)),
			}
		}
		for step := range 1 + rng.IntN(200) {
			k := keys[rng.IntN(len(keys))]
			switch r := rng.IntN(10); {
			case r < 2: // at the same instant
			case r < 4 && k.lastRet > 0: // exactly when a retry is due
				clock.Advance(k.lastRet)
			case r < 5 && k.lastRet > 1: // a nanosecond before
				clock.Advance(k.lastRet - 1)
			case r < 8:
				clock.Advance(unit * time.Duration(rng.IntN(4)))
			default:
				clock.Advance(time.Duration(rng.Int64N(int64(2 * k.window))))
			}
			limit := k.limit
			if k.vary {
				limit = 1 + rng.IntN(8)
			}
			now := clock.Now()
			want := k.model.allow(now, limit, k.window)
			got, err := w.Allow(ctx, k.name, limit, k.window)
			require.NoError(t, err)
			require.Equal(t, want, got, "seed %d trial %d step %d: %s limit %d window %v at +%v",
				seed, trial, step, k.name, limit, k.window, now.Sub(newFakeClock().now))
			k.lastRet = got.RetryAfter
		}
	}
}

func TestRedisWindowKeyLayoutAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, prefix := redistest.Client(t)
	w := limits.NewRedisWindow(c, prefix)
	require.Equal(t, prefix+":window:ten_1:rpm", w.Key("ten_1:rpm"))

	d, err := w.Allow(ctx, "ten_1:rpm", 1, time.Minute)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = w.Allow(ctx, "ten_1:rpm", 1, time.Minute)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	// One member (the denial added none), kept for the window and no longer.
	require.Equal(t, "zset", c.Type(ctx, w.Key("ten_1:rpm")).Val())
	require.Equal(t, int64(1), c.ZCard(ctx, w.Key("ten_1:rpm")).Val())
	ttl := c.PTTL(ctx, w.Key("ten_1:rpm")).Val()
	require.Greater(t, ttl, 55*time.Second)
	require.LessOrEqual(t, ttl, time.Minute)

	// An idle key leaves nothing behind once its events have left.
	_, err = w.Allow(ctx, "ten_1:short", 5, 100*time.Millisecond)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return c.Exists(ctx, w.Key("ten_1:short")).Val() == 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestRedisWindowUnavailable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = down.Close() })
	_, prefix := redistest.Client(t)
	_, err := limits.NewRedisWindow(down, prefix).Allow(t.Context(), "ten_1:rpm", 10, time.Minute)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	require.ErrorContains(t, err, "window allow")

	live, _ := redistest.Client(t)
	closed := redis.NewClient(live.Options())
	w := limits.NewRedisWindow(closed, prefix)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = w.Allow(ctx, "ten_1:rpm", 10, time.Minute)
	require.ErrorIs(t, err, context.Canceled, "the caller's cancellation stays matchable")
	require.False(t, errors.Is(err, limits.ErrUnavailable), "a cancelled call is not an outage")

	require.NoError(t, closed.Close())
	_, err = w.Allow(t.Context(), "ten_1:rpm", 10, time.Minute)
	require.ErrorIs(t, err, limits.ErrUnavailable)
}

func TestDecisionSeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{59*time.Second + 999*time.Millisecond, 60},
		{time.Hour, 3600},
	} {
		d := limits.Decision{ResetAfter: tc.d, RetryAfter: tc.d}
		require.Equal(t, tc.want, d.RetryAfterSeconds(), "%v", tc.d)
		require.Equal(t, tc.want, d.ResetSeconds(), "%v", tc.d)
	}
}
