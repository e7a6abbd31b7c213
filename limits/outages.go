package limits

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limit names, as outages are counted and logged under them.
const (
	LimitRequests    = "requests"    // requests per minute (ingest)
	LimitExecutions  = "executions"  // executions per hour, the tenant's and the agent's (ingest)
	LimitConcurrency = "concurrency" // tasks at once (workers)
	LimitBudgets     = "budgets"     // monthly budgets (ingest and workers)
)

// Outages counts the decisions a limit could not make because its store was unavailable
// (ErrUnavailable), by limit and by how the caller failed — open (let the request or task
// through) or closed (refused it, or left it queued) — and logs them: one warning per limit
// per LogEvery, not one per request. A process shares one Outages among its limits; its
// counts are exported as the metric agentic.limits.unavailable. The zero value is ready and
// logs nothing; it is safe for concurrent use.
type Outages struct {
	Logger *slog.Logger
	// LogEvery is the least time between two log lines about one limit (10s).
	LogEvery time.Duration

	mu     sync.Mutex
	counts map[outageKey]int64
	logged map[string]time.Time
}

type outageKey struct{ limit, failing string }

// Record counts an undecided decision of limit and logs it unless that limit's outage was
// logged less than LogEvery ago.
func (o *Outages) Record(ctx context.Context, limit string, failOpen bool, err error) {
	failing := "closed"
	if failOpen {
		failing = "open"
	}
	now := time.Now()
	every := o.LogEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	o.mu.Lock()
	if o.counts == nil {
		o.counts, o.logged = make(map[outageKey]int64), make(map[string]time.Time)
	}
	o.counts[outageKey{limit, failing}]++
	log := o.Logger != nil && now.Sub(o.logged[limit]) >= every
	if log {
		o.logged[limit] = now
	}
	o.mu.Unlock()
	if log {
		o.Logger.LogAttrs(ctx, slog.LevelWarn, "limits unavailable", slog.String("limit", limit),
			slog.String("failing", failing), slog.String("error", err.Error()))
	}
}

// Count returns how many decisions of limit went undecided, failing either way.
func (o *Outages) Count(limit string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[outageKey{limit, "open"}] + o.counts[outageKey{limit, "closed"}]
}

// Each calls fn with every limit and failing mode counted so far, in a stable order.
func (o *Outages) Each(fn func(limit, failing string, n int64)) {
	o.mu.Lock()
	keys := make([]outageKey, 0, len(o.counts))
	for k := range o.counts {
		keys = append(keys, k)
	}
	counts := make(map[outageKey]int64, len(o.counts))
	for k, n := range o.counts {
		counts[k] = n
	}
	o.mu.Unlock()
	slices.SortFunc(keys, func(a, b outageKey) int {
		if c := strings.Compare(a.limit, b.limit); c != 0 {
			return c
		}
		return strings.Compare(a.failing, b.failing)
	})
	for _, k := range keys {
		fn(k.limit, k.failing, counts[k])
	}
}
