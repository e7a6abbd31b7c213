package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/outbox"
)

// JobReconcile is the scheduler job that republishes tasks whose publish was never recorded.
const JobReconcile = "reconcile"

// OpsConfig configures Ops.
type OpsConfig struct {
	Store     outbox.Store
	Publisher *events.Publisher
	// Grace is how old an unpublished task must be before the reconciler republishes it,
	// so that it does not race the ingest's own publish (10s).
	Grace  time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Ops runs the scheduler's jobs. Its Handle is the handler of the ops consumer.
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

// Handle runs one job.
func (h *Ops) Handle(ctx context.Context, m *events.Msg) error {
	var ev events.OpsEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return events.Cancel(fmt.Errorf("decode ops event: %w", err))
	}
	switch ev.Job {
	case JobReconcile:
		n, err := outbox.Sweep(ctx, h.cfg.Store, h.cfg.Publisher, h.cfg.Now().Add(-h.cfg.Grace), 1000)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		if n > 0 {
			h.log.InfoContext(ctx, "reconciler republished tasks", "count", n, "tick", ev.Tick)
		}
		return nil
	default:
		h.log.ErrorContext(ctx, "unknown ops job dropped", "job", ev.Job)
		return events.Cancel(fmt.Errorf("unknown job %q", ev.Job))
	}
}
