package ingest

import (
	"context"
	"log/slog"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/store"
)

// Terminal tasks are read through the shared cache: a finished task never changes (exactly
// one terminal state, never overwritten), and clients poll it, often many times after it
// ended. A task still queued or running is never cached, so a cached task is never stale,
// and TTLLong only bounds how long one is kept.
//
// The entry is the task as the API shows it, under the tenant's key: another tenant asking
// for the same id looks under its own key, misses, and gets the store's 404.

// taskCacheTTL is how long a terminal task stays in the cache.
const taskCacheTTL = cache.TTLLong

// taskCacheKey is the cache entry of a tenant's task.
func taskCacheKey(tenantID, id string) cache.Key {
	return cache.TenantKey(tenantID, "task:"+id)
}

// cachedTask returns the tenant's task id from the cache, if it is there; only terminal
// tasks are. A cache error is a miss (logged): the store answers instead.
func (s *Server) cachedTask(ctx context.Context, tenantID, id string) (client.Task, bool) {
	tc := s.cfg.TaskCache
	if tc == nil {
		return client.Task{}, false
	}
	var t client.Task
	found, err := tc.Get(ctx, taskCacheKey(tenantID, id), &t)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "task cache read failed",
			slog.String("task_id", id), slog.String("error", err.Error()))
		return client.Task{}, false
	}
	if !found || !t.Terminal() {
		return client.Task{}, false
	}
	return t, true
}

// storeTask reads the tenant's task id from the store and, when it is terminal, fills the
// cache with it (Add: an entry already there is left alone). A fill that fails is logged and
// otherwise ignored.
func (s *Server) storeTask(ctx context.Context, tenantID, id string) (*store.Task, error) {
	t, err := s.cfg.Store.GetTask(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if tc := s.cfg.TaskCache; tc != nil && t.Status.Terminal() {
		if _, err := tc.Add(ctx, taskCacheKey(tenantID, id), t.API(), taskCacheTTL); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "task cache fill failed",
				slog.String("task_id", id), slog.String("error", err.Error()))
		}
	}
	return t, nil
}
