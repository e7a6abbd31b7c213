package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/spantest"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// A group-committed statement is traced in the trace of the call that queued it, so a task's
// trace shows the database work done for it, though a flush serves many calls.
func TestGroupCommitJoinsTheCallersTrace(t *testing.T) {
	t.Parallel()
	rec, tp := spantest.New()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(t), postgres.WithQueryTracer(otelpgx.NewTracer(otelpgx.WithTracerProvider(tp))))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := postgres.New(pool)

	ten := &store.Tenant{ID: store.NewID("ten"), Name: "acme", Tier: "pro", WebhookSecret: "whsec_x", CreatedAt: time.Now()}
	require.NoError(t, s.CreateTenant(ctx, ten))
	sctx, span := tp.Tracer("test").Start(ctx, "run task")
	_, _, err = s.CreateTask(sctx, &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo",
		Status: store.StatusQueued, Input: []byte(`{}`), Quality: "standard", MaxAttempts: 3, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", CreatedAt: time.Now()})
	require.NoError(t, err)
	span.End()

	var children int
	for _, sp := range rec.Ended() {
		if sp.Parent().SpanID() == span.SpanContext().SpanID() {
			children++
		}
	}
	require.Positive(t, children, "no database span under the caller's span")
}
