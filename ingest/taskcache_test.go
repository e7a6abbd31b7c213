package ingest_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/store"
)

// readCounter is the store, counting GetTask calls.
type readCounter struct {
	store.Store
	reads atomic.Int64
}

func (s *readCounter) GetTask(ctx context.Context, tenantID, id string) (*store.Task, error) {
	s.reads.Add(1)
	return s.Store.GetTask(ctx, tenantID, id)
}

// taskCacheEnv is an env whose GET /v1/tasks/{id} reads through the shared Redis cache, with
// the store's task reads counted and the server's caches listed in reg.
func taskCacheEnv(t *testing.T) (*env, *readCounter, *cache.Registry) {
	t.Helper()
	counter := &readCounter{}
	reg := cache.NewRegistry(nil)
	e := newEnv(t, func(c *ingest.Config) {
		counter.Store = c.Store
		c.Store, c.TaskCache, c.Caches = counter, c.KeyCache, reg
	})
	return e, counter, reg
}

// cached reports whether the tenant's task is in the shared cache, and returns it.
func (e *env) cached(t *testing.T, tenantID, id string) (client.Task, bool) {
	t.Helper()
	var got client.Task
	found, err := e.cache.Get(t.Context(), cache.TenantKey(tenantID, "task:"+id), &got)
	require.NoError(t, err)
	return got, found
}

// A terminal task, once read from the store, is served from the cache: the same body, no
// store read, with or without ?wait. Each terminal status is.
func TestTerminalTaskReadThrough(t *testing.T) {
	t.Parallel()
	for _, status := range []store.Status{store.StatusSucceeded, store.StatusFailed, store.StatusCanceled} {
		t.Run(string(status), func(t *testing.T) {
			t.Parallel()
			e, reads, reg := taskCacheEnv(t)
			tenantID, key := e.tenant(t)
			task := e.submit(t, key, echoTask)
			if status == store.StatusCanceled {
				r := e.do(t, req{method: "POST", path: "/v1/tasks/" + task.ID + "/cancel", token: key})
				require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			} else {
				e.finish(t, task.ID, status)
			}
			get := req{method: "GET", path: "/v1/tasks/" + task.ID, token: key}

			first := e.do(t, get)
			require.Equal(t, http.StatusOK, first.status, "body: %s", first.body)
			require.Equal(t, string(status), first.task(t).Status)
			require.EqualValues(t, 1, reads.reads.Load())
			entry, ok := e.cached(t, tenantID, task.ID)
			require.True(t, ok, "the terminal task fills the cache")
			require.Equal(t, first.task(t), entry)

			for _, path := range []string{get.path, get.path + "?wait=30s"} {
				start := time.Now()
				again := e.do(t, req{method: "GET", path: path, token: key})
				require.Equal(t, http.StatusOK, again.status)
				require.Equal(t, string(first.body), string(again.body), "the cached reply differs from the store's")
				require.Less(t, time.Since(start), 10*time.Second, "a cached terminal task does not wait")
			}
			require.EqualValues(t, 1, reads.reads.Load(), "served from the cache, not the store")
			require.Equal(t, cache.Lookups{Hits: 2, Misses: 1}, reg.Lookups()["tasks"])
		})
	}
}

// A task still queued or running is never cached: each GET reads the store.
func TestRunningTaskNotCached(t *testing.T) {
	t.Parallel()
	e, reads, _ := taskCacheEnv(t)
	tenantID, key := e.tenant(t)
	task := e.submit(t, key, echoTask)
	get := req{method: "GET", path: "/v1/tasks/" + task.ID, token: key}

	require.Equal(t, "queued", e.do(t, get).task(t).Status)
	now := time.Now()
	_, err := e.store.StartTask(t.Context(), task.ID, now, now.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, "running", e.do(t, get).task(t).Status)
	r := e.do(t, req{method: "GET", path: get.path + "?wait=100ms", token: key})
	require.Equal(t, "running", r.task(t).Status)
	// Two plain GETs, and the long-poll's read before and after its wait.
	require.EqualValues(t, 4, reads.reads.Load(), "every read of an unfinished task goes to the store")
	_, ok := e.cached(t, tenantID, task.ID)
	require.False(t, ok, "an unfinished task was cached")

	// It ends: the next read sees it ended, and only then is it cached.
	e.finish2(t, task.ID, store.StatusSucceeded)
	require.Equal(t, "succeeded", e.do(t, get).task(t).Status)
	_, ok = e.cached(t, tenantID, task.ID)
	require.True(t, ok)
}

// A long-poll that sees the task end fills the cache with it.
func TestWaitFillsCache(t *testing.T) {
	t.Parallel()
	e, reads, _ := taskCacheEnv(t)
	tenantID, key := e.tenant(t)
	task := e.submit(t, key, echoTask)
	done := make(chan *reply, 1)
	go func() { done <- e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=30s", token: key}) }()
	e.awaitWatch(t, task.ID)
	e.finish(t, task.ID, store.StatusSucceeded)
	var r *reply
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the long-poll did not return when the task ended")
	}
	require.Equal(t, "succeeded", r.task(t).Status)
	entry, ok := e.cached(t, tenantID, task.ID)
	require.True(t, ok)
	require.Equal(t, r.task(t), entry)

	n := reads.reads.Load()
	require.Equal(t, string(r.body), string(e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key}).body))
	require.Equal(t, n, reads.reads.Load(), "served from the cache")
}

// The key carries the tenant: after tenant A's GET filled the cache, tenant B asking for the
// same id still gets 404, and A's entry is untouched.
func TestTaskCacheTenantIsolation(t *testing.T) {
	t.Parallel()
	e, _, _ := taskCacheEnv(t)
	tenantA, keyA := e.tenant(t)
	tenantB, keyB := e.tenant(t)
	task := e.submit(t, keyA, echoTask)
	e.finish(t, task.ID, store.StatusSucceeded)
	require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: keyA}).status)
	_, ok := e.cached(t, tenantA, task.ID)
	require.True(t, ok)

	for _, path := range []string{"/v1/tasks/" + task.ID, "/v1/tasks/" + task.ID + "?wait=1s"} {
		p := e.do(t, req{method: "GET", path: path, token: keyB}).problem(t, http.StatusNotFound, "not_found")
		require.NotContains(t, p.Detail, task.ID)
	}
	_, ok = e.cached(t, tenantB, task.ID)
	require.False(t, ok, "B's miss filled an entry")
	require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: keyA}).status)
}

// A cache that does not answer is a miss: every GET is served from the store, the failure is
// logged and counted as an error.
func TestTaskCacheDownServesFromStore(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens there, the connection is refused at once.
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	t.Cleanup(func() { _ = rc.Close() })
	counter := &readCounter{}
	reg := cache.NewRegistry(nil)
	e := newEnv(t, func(c *ingest.Config) {
		counter.Store = c.Store
		c.Store, c.TaskCache, c.Caches = counter, cache.NewRedis(rc, "down"), reg
	})
	_, key := e.tenant(t)
	task := e.submit(t, key, echoTask)
	e.finish(t, task.ID, store.StatusFailed)

	for i := range 3 {
		r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.Equal(t, "failed", r.task(t).Status)
		require.EqualValues(t, i+1, counter.reads.Load())
	}
	r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=1s", token: key})
	require.Equal(t, "failed", r.task(t).Status)
	require.Equal(t, cache.Lookups{Errors: 4}, reg.Lookups()["tasks"])
	logs := e.logs.String()
	require.True(t, strings.Contains(logs, "task cache read failed") && strings.Contains(logs, "task cache fill failed"), "logs: %s", logs)
}
