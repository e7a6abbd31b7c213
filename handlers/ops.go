package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/outbox"
)

// OpsConfig configures Ops.
type OpsConfig struct {
	Store     outbox.Store
	Publisher *events.Publisher
	// Grace is how old an unpublished task must be before the reconciler republishes it,
	// so that it does not race the ingest's own publish (10s).
	Grace time.Duration
	// Backups, when set, handles ops.backup.requested; a worker without it leaves backups to
	// the workers that have one (the event waits in the stream for them).
	Backups *Backups
	// Cache is the process's shared cache (cache.Redis, or agentic dev's one cache.Memory),
	// which ops.cache.invalidate invalidates and sweeps; nil handles the events with nothing
	// to do.
	Cache  cache.Cache
	Logger *slog.Logger
	Now    func() time.Time
}

// Ops runs the scheduler's jobs: Handlers are the ops handlers of the worker's Watermill
// router (events.OpsRouter), one per type of ops event.
type Ops struct {
	cfg OpsConfig
	log *slog.Logger
}

// NewOps checks cfg and fills its defaults.
func NewOps(cfg OpsConfig) (*Ops, error) {
	if cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("handlers: OpsConfig.Store and Publisher are required")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ops{cfg: cfg, log: log}, nil
}

// Handlers returns the handler of each ops event type this worker handles.
func (h *Ops) Handlers() map[string]message.NoPublishHandlerFunc {
	hs := map[string]message.NoPublishHandlerFunc{
		events.OpsReconcile:       h.handler(h.reconcile),
		events.OpsCacheInvalidate: h.handler(h.invalidate),
	}
	if h.cfg.Backups != nil {
		hs[events.OpsBackupRequested] = h.handler(h.backup)
	}
	return hs
}

// handler decodes the event for fn. An event that does not decode is dropped (logged): it
// would fail every retry the same way.
func (h *Ops) handler(fn func(ctx context.Context, ev events.OpsEvent) error) message.NoPublishHandlerFunc {
	return func(m *message.Message) error {
		ev, err := events.DecodeOpsEvent(m)
		if err != nil {
			h.log.ErrorContext(m.Context(), "undecodable ops event dropped", "id", m.UUID, "error", err)
			return nil
		}
		return fn(m.Context(), ev)
	}
}

// reconcile republishes the tasks whose publish was never recorded.
func (h *Ops) reconcile(ctx context.Context, ev events.OpsEvent) error {
	n, err := outbox.Sweep(ctx, h.cfg.Store, h.cfg.Publisher, h.cfg.Now().Add(-h.cfg.Grace), 1000)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if n > 0 {
		h.log.InfoContext(ctx, "reconciler republished tasks", "count", n, "tick", ev.Tick)
	}
	return nil
}

// backup takes a scheduled backup. A failure is already recorded, logged and counted by
// Backups.Run; the error makes the router retry it.
func (h *Ops) backup(ctx context.Context, _ events.OpsEvent) error {
	_, err := h.cfg.Backups.Run(ctx, TriggerSchedule)
	return err
}

// invalidate removes one owner's entries under a prefix (an event naming a tenant, or
// cache.GlobalOwner), or, for the scheduler's sweep (no tenant), drops the expired entries of
// a cache that keeps them (cache.Sweeper); Redis expires its own.
func (h *Ops) invalidate(ctx context.Context, ev events.OpsEvent) error {
	c := h.cfg.Cache
	if ev.Tenant != "" {
		if c == nil {
			return nil
		}
		n, err := c.DeletePrefix(ctx, ev.Tenant, ev.Prefix)
		if errors.Is(err, cache.ErrBadKey) {
			h.log.ErrorContext(ctx, "cache invalidation of a bad owner dropped", "tenant", ev.Tenant, "error", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("cache invalidate %s:%s*: %w", ev.Tenant, ev.Prefix, err)
		}
		h.log.InfoContext(ctx, "cache invalidated", "tenant", ev.Tenant, "prefix", ev.Prefix, "removed", n)
		return nil
	}
	sw, ok := c.(cache.Sweeper)
	if !ok {
		h.log.DebugContext(ctx, "cache sweep: nothing to sweep (entries expire on their own)", "tick", ev.Tick)
		return nil
	}
	n, err := sw.Sweep(ctx)
	if err != nil {
		return fmt.Errorf("cache sweep: %w", err)
	}
	h.log.InfoContext(ctx, "cache swept", "expired", n, "tick", ev.Tick)
	return nil
}
