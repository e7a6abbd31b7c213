package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/cache/cachetest"
	"github.com/agentic-run/agentic/internal/redistest"
)

type record struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
}

func newCache(t *testing.T) (*cache.Redis, *redis.Client, string) {
	t.Helper()
	c, prefix := redistest.Client(t)
	return cache.NewRedis(c, prefix), c, prefix
}

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		r, _, _ := newCache(t)
		return r
	})
}

// cmdLog records the commands a client sends.
type cmdLog struct {
	mu   sync.Mutex
	args [][]any
}

func (l *cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.args = append(l.args, cmd.Args())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (l *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.mu.Lock()
		for _, cmd := range cmds {
			l.args = append(l.args, cmd.Args())
		}
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the commands recorded so far, by name, and forgets them.
func (l *cmdLog) take() map[string][][]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	byName := make(map[string][][]any)
	for _, a := range l.args {
		name := strings.ToLower(fmt.Sprint(a[0]))
		byName[name] = append(byName[name], a)
	}
	l.args = nil
	return byName
}

func TestDeletePrefixScansNeverKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r, c, prefix := newCache(t)
	for i := range 1200 {
		require.NoError(t, r.Set(ctx, cache.TenantKey("ten_*", fmt.Sprintf("a[%d]", i)), i, time.Minute))
	}
	log := &cmdLog{}
	c.AddHook(log)

	n, err := r.DeletePrefix(ctx, "ten_*", "a[")
	require.NoError(t, err)
	require.Equal(t, 1200, n)

	cmds := log.take()
	require.Empty(t, cmds["keys"], "KEYS blocks Redis")
	require.Empty(t, cmds["del"], "DEL frees memory on Redis's main thread; UNLINK does not")
	require.GreaterOrEqual(t, len(cmds["scan"]), 3, "1,200 keys in pages of about 500")
	for _, a := range cmds["scan"] {
		// SCAN cursor MATCH pattern COUNT 500, the owner's and prefix's glob characters escaped.
		require.Len(t, a, 6)
		require.Equal(t, prefix+`:ten_\*:a\[*`, a[3])
		require.EqualValues(t, 500, a[5])
	}
	require.NotEmpty(t, cmds["unlink"])
	for _, a := range cmds["unlink"] {
		require.LessOrEqual(t, len(a)-1, 2000, "an UNLINK batch far beyond a SCAN page")
	}
}

func TestDeletePrefixEscapesTheCachePrefix(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, prefix := redistest.Client(t)
	globby := cache.NewRedis(c, prefix+"-[x]")
	plain := cache.NewRedis(c, prefix+"-x")
	require.NoError(t, globby.Set(ctx, cache.TenantKey("ten_a", "k"), 1, time.Minute))
	require.NoError(t, plain.Set(ctx, cache.TenantKey("ten_a", "k"), 2, time.Minute))

	n, err := globby.DeletePrefix(ctx, "ten_a", "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var v int
	ok, err := plain.Get(ctx, cache.TenantKey("ten_a", "k"), &v)
	require.NoError(t, err)
	require.True(t, ok, "another cache's entry was deleted")
	require.Equal(t, 2, v)
}

func TestDeletePrefixAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, prefix := redistest.Client(t)
	other := redis.NewClient(c.Options())
	t.Cleanup(func() { _ = other.Close() })
	one, two := cache.NewRedis(c, prefix), cache.NewRedis(other, prefix)

	require.NoError(t, one.Set(ctx, cache.TenantKey("ten_a", "agent:x"), 1, time.Minute))
	n, err := two.DeletePrefix(ctx, "ten_a", "agent:")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var v int
	ok, err := one.Get(ctx, cache.TenantKey("ten_a", "agent:x"), &v)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, cache.Stats{Misses: 1}, one.Stats())
	require.Equal(t, cache.Stats{}, two.Stats(), "stats are per replica")
}

func TestGetMissLeavesDst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, _ := newCache(t)

	dst := record{ID: "untouched"}
	ok, err := r.Get(ctx, cache.GlobalKey("absent"), &dst)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, "untouched", dst.ID)
}

func TestSetGetRoundTripUnderPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, c, prefix := newCache(t)

	require.NoError(t, r.Set(ctx, cache.TenantKey("ten_1", "rec"), record{ID: "a", Count: 3}, time.Minute))

	var got record
	ok, err := r.Get(ctx, cache.TenantKey("ten_1", "rec"), &got)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, record{ID: "a", Count: 3}, got)

	// Stored as JSON under PREFIX:key, with the TTL asked for.
	raw, err := c.Get(ctx, prefix+":ten_1:rec").Result()
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"a","count":3}`, raw)
	require.Equal(t, prefix+":ten_1:rec", r.Key(cache.TenantKey("ten_1", "rec")))
	ttl, err := c.PTTL(ctx, prefix+":ten_1:rec").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 50*time.Second)
	require.LessOrEqual(t, ttl, time.Minute)

	// Set replaces.
	require.NoError(t, r.Set(ctx, cache.TenantKey("ten_1", "rec"), record{ID: "b"}, time.Minute))
	ok, err = r.Get(ctx, cache.TenantKey("ten_1", "rec"), &got)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "b", got.ID)
}

func TestTenantsDoNotCollide(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, _ := newCache(t)

	require.NoError(t, r.Set(ctx, cache.TenantKey("ten_a", "agent:x"), record{ID: "a"}, time.Minute))
	require.NoError(t, r.Set(ctx, cache.TenantKey("ten_b", "agent:x"), record{ID: "b"}, time.Minute))
	var a, b record
	_, err := r.Get(ctx, cache.TenantKey("ten_a", "agent:x"), &a)
	require.NoError(t, err)
	_, err = r.Get(ctx, cache.TenantKey("ten_b", "agent:x"), &b)
	require.NoError(t, err)
	require.Equal(t, "a", a.ID)
	require.Equal(t, "b", b.ID)
	require.NotEqual(t, r.Key(cache.TenantKey("ten_a", "x")), r.Key(cache.GlobalKey("x")))

	// A key must say whose it is: an empty tenant is refused, never shared.
	require.Error(t, r.Set(ctx, cache.TenantKey("", "agent:x"), record{}, time.Minute))
	_, err = r.Get(ctx, cache.TenantKey("", "agent:x"), &a)
	require.Error(t, err)
	_, err = r.Add(ctx, cache.TenantKey("", "agent:x"), record{}, time.Minute)
	require.Error(t, err)
	require.Error(t, r.Delete(ctx, cache.TenantKey("", "agent:x")))
}

func TestTwoPrefixesAreSeparate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, prefix := redistest.Client(t)
	one := cache.NewRedis(c, prefix+"-one")
	two := cache.NewRedis(c, prefix+"-two")

	require.NoError(t, one.Set(ctx, cache.GlobalKey("k"), record{ID: "one"}, time.Minute))
	var got record
	ok, err := two.Get(ctx, cache.GlobalKey("k"), &got)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestEntryExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, _ := newCache(t)

	require.NoError(t, r.Set(ctx, cache.GlobalKey("short"), record{ID: "x"}, 50*time.Millisecond))
	require.Eventually(t, func() bool {
		var got record
		ok, err := r.Get(ctx, cache.GlobalKey("short"), &got)
		return err == nil && !ok
	}, 5*time.Second, 10*time.Millisecond)
}

func TestAddNeverOverwrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, _ := newCache(t)

	added, err := r.Add(ctx, cache.GlobalKey("k"), record{ID: "first"}, time.Minute)
	require.NoError(t, err)
	require.True(t, added)
	added, err = r.Add(ctx, cache.GlobalKey("k"), record{ID: "second"}, time.Minute)
	require.NoError(t, err)
	require.False(t, added)

	var got record
	ok, err := r.Get(ctx, cache.GlobalKey("k"), &got)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "first", got.ID)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, _ := newCache(t)

	require.NoError(t, r.Set(ctx, cache.GlobalKey("a"), record{ID: "a"}, time.Minute))
	require.NoError(t, r.Set(ctx, cache.GlobalKey("b"), record{ID: "b"}, time.Minute))
	require.NoError(t, r.Set(ctx, cache.GlobalKey("c"), record{ID: "c"}, time.Minute))
	require.NoError(t, r.Delete(ctx, cache.GlobalKey("a"), cache.GlobalKey("b"), cache.GlobalKey("never-there")))
	require.NoError(t, r.Delete(ctx))

	for key, want := range map[cache.Key]bool{cache.GlobalKey("a"): false, cache.GlobalKey("b"): false, cache.GlobalKey("c"): true} {
		var got record
		ok, err := r.Get(ctx, key, &got)
		require.NoError(t, err)
		require.Equal(t, want, ok, r.Key(key))
	}
}

func TestCorruptEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, c, prefix := newCache(t)

	require.NoError(t, c.Set(ctx, prefix+":global:bad", "{not json", time.Minute).Err())
	var got record
	ok, err := r.Get(ctx, cache.GlobalKey("bad"), &got)
	require.False(t, ok)
	require.ErrorIs(t, err, cache.ErrCorrupt)
}

func TestSetRejectsUnencodable(t *testing.T) {
	t.Parallel()
	r, _, _ := newCache(t)
	err := r.Set(context.Background(), cache.GlobalKey("ch"), make(chan int), time.Minute)
	require.Error(t, err)
	require.NotErrorIs(t, err, cache.ErrUnavailable)
}

func TestPing(t *testing.T) {
	t.Parallel()
	r, _, _ := newCache(t)
	require.NoError(t, r.Ping(context.Background()))
}

func TestUnreachableRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there, the connection is refused at once.
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	r := cache.NewRedis(c, "unused")

	var got record
	_, err := r.Get(ctx, cache.GlobalKey("k"), &got)
	require.ErrorIs(t, err, cache.ErrUnavailable)
	require.ErrorIs(t, r.Set(ctx, cache.GlobalKey("k"), record{}, time.Minute), cache.ErrUnavailable)
	_, err = r.Add(ctx, cache.GlobalKey("k"), record{}, time.Minute)
	require.ErrorIs(t, err, cache.ErrUnavailable)
	require.ErrorIs(t, r.Delete(ctx, cache.GlobalKey("k")), cache.ErrUnavailable)
	n, err := r.DeletePrefix(ctx, "ten_a", "")
	require.ErrorIs(t, err, cache.ErrUnavailable)
	require.Zero(t, n)
	require.ErrorIs(t, r.Ping(ctx), cache.ErrUnavailable)
	require.Equal(t, cache.Stats{}, r.Stats(), "failed gets were counted")
	var re redis.Error
	require.False(t, errors.As(err, &re), "a redis error type leaked")
}

func TestClosedClientIsUnavailable(t *testing.T) {
	t.Parallel()
	c, prefix := redistest.Client(t)
	other := redis.NewClient(c.Options())
	require.NoError(t, other.Close())
	r := cache.NewRedis(other, prefix)
	require.ErrorIs(t, r.Ping(context.Background()), cache.ErrUnavailable)
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	r, _, _ := newCache(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var got record
	_, err := r.Get(ctx, cache.GlobalKey("k"), &got)
	require.ErrorIs(t, err, context.Canceled)
}
