package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// runOps starts a worker's ops router with ops's handlers; it is stopped at cleanup.
func (h *harness) runOps(ops *handlers.Ops) {
	h.t.Helper()
	r, err := events.NewOpsRouter(h.js, h.pub, events.OpsRouterConfig{Names: h.names, Handlers: ops.Handlers(),
		RetryInterval: 10 * time.Millisecond})
	require.NoError(h.t, err)
	require.NoError(h.t, r.Start(context.Background()))
	h.t.Cleanup(func() { _ = r.Stop(context.Background()) })
}

// The crash between commit and publish: the row exists, the message never went out. The
// reconciler job publishes it and the task runs once.
func TestReconcilerPublishesTaskLostBetweenCommitAndPublish(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub, Grace: time.Second})
	require.NoError(t, err)
	h.runOps(ops)
	h.runTasks(h.tasksConfig(llm.SimConfig{}, 5*time.Second), time.Second)

	lost := h.insert("echo", `{"lost":true}`, func(t *store.Task) { t.CreatedAt = time.Now().Add(-time.Minute) })
	fresh := h.insert("echo", `{"fresh":true}`) // inside the grace period: ingest may still publish it

	require.NoError(t, h.pub.PublishOps(context.Background(), events.OpsEvent{Type: events.OpsReconcile, Job: "reconcile", Tick: time.Now()}))
	got := h.waitStatus(lost.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 1, got.Attempts)
	require.NotNil(t, got.PublishedAt)

	f, err := h.store.LoadTask(context.Background(), fresh.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, f.Status, "the grace period keeps the sweep off a task ingest is publishing")
}

// ops.cache.invalidate naming a tenant and a prefix removes exactly that tenant's entries
// under the prefix, on Redis and in the in-process cache alike; the hourly sweep (no tenant)
// drops the in-process cache's expired entries and leaves the live ones.
func TestCacheInvalidationRemovesExactlyThePrefix(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for name, c := range map[string]cache.Cache{
		"redis":  cache.NewRedis(rc, prefix+":"),
		"memory": cache.NewMemory(100, clock),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 5*time.Second)
			ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub, Cache: c})
			require.NoError(t, err)
			h.runOps(ops)

			ctx := context.Background()
			keys := map[cache.Key]bool{ // key → still there after the invalidation
				cache.TenantKey("ten_a", "llm:summarizer:1"): false,
				cache.TenantKey("ten_a", "llm:sentiment:2"):  false,
				cache.TenantKey("ten_a", "task:tsk_1"):       true,
				cache.TenantKey("ten_a", "llm"):              true,
				cache.TenantKey("ten_b", "llm:summarizer:1"): true,
				cache.GlobalKey("llm:summarizer:1"):          true,
			}
			for k := range keys {
				require.NoError(t, c.Set(ctx, k, "v", time.Hour))
			}
			require.NoError(t, h.pub.PublishOps(ctx, events.OpsEvent{Type: events.OpsCacheInvalidate, Tenant: "ten_a", Prefix: "llm:"}))
			// Handled and acknowledged: the work queue holds it no more.
			require.Eventually(t, func() bool { return streamCount(t, h, h.names.OpsStream()) == 0 },
				10*time.Second, 10*time.Millisecond)
			for k, kept := range keys {
				var v string
				found, err := c.Get(ctx, k, &v)
				require.NoError(t, err)
				require.Equal(t, kept, found, k.String())
			}
		})
	}

	t.Run("sweep", func(t *testing.T) {
		h := newHarness(t, 5*time.Second)
		at := now
		mem := cache.NewMemory(100, func() time.Time { return at })
		ctx := context.Background()
		require.NoError(t, mem.Set(ctx, cache.TenantKey("ten_a", "short"), 1, time.Minute))
		require.NoError(t, mem.Set(ctx, cache.TenantKey("ten_a", "long"), 1, time.Hour))
		require.NoError(t, mem.Set(ctx, cache.GlobalKey("forever"), 1, 0))
		at = now.Add(10 * time.Minute)
		ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub, Cache: mem})
		require.NoError(t, err)
		h.runOps(ops)
		require.NoError(t, h.pub.PublishOps(ctx, events.OpsEvent{Type: events.OpsCacheInvalidate, Job: "cache-sweep", Tick: now}))
		require.Eventually(t, func() bool { return mem.Len() == 2 }, 10*time.Second, 10*time.Millisecond,
			"the expired entry is gone without being read")
	})
}

// A worker without backups does not take ops.backup.requested: the event waits for one that
// does.
func TestWorkerWithoutBackupsLeavesThemToOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub})
	require.NoError(t, err)
	hs := ops.Handlers()
	require.Contains(t, hs, events.OpsReconcile)
	require.Contains(t, hs, events.OpsCacheInvalidate)
	require.NotContains(t, hs, events.OpsBackupRequested)
}
