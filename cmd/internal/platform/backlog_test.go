package platform

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/telemetry"
)

// The backlog gauges read JetStream at each collection: the tasks stream's messages (every
// task not yet finished), and each durable consumer's undelivered plus unacknowledged ones.
// Unregistered, they are gone.
func TestBacklogGauges(t *testing.T) {
	t.Parallel()
	js, names := natstest.Setup(t, nil)
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	reg, err := observeBacklog(m.Meter("github.com/agentic-run/agentic/events"), js, names, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	text := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, err := io.ReadAll(rec.Body)
		require.NoError(t, err)
		return string(b)
	}
	require.Contains(t, text(), "\nagentic_tasks_pending 0\n")
	require.Contains(t, text(), "\n"+`agentic_consumer_pending{consumer="webhooks"} 0`+"\n")
	require.Contains(t, text(), "\n"+`agentic_consumer_pending{consumer="ops"} 0`+"\n")

	ctx := context.Background()
	pub := events.NewPublisher(js, names)
	now := time.Now()
	for range 3 {
		task := &store.Task{ID: store.NewID("tsk"), TenantID: "ten_backlog", Agent: "echo", Status: store.StatusSucceeded,
			Input: json.RawMessage(`{}`), CreatedAt: now, FinishedAt: &now}
		require.NoError(t, pub.PublishTask(ctx, task))
		require.NoError(t, pub.PublishEvent(ctx, events.TerminalEvent(task)))
	}
	require.NoError(t, pub.PublishOps(ctx, events.OpsEvent{Type: events.OpsReconcile, Job: "reconcile", Tick: now}))
	body := text()
	require.Contains(t, body, "\nagentic_tasks_pending 3\n")
	require.Contains(t, body, "\n"+`agentic_consumer_pending{consumer="webhooks"} 3`+"\n")
	require.Contains(t, body, "\n"+`agentic_consumer_pending{consumer="ops"} 1`+"\n")
	require.NotContains(t, body, "ten_backlog")

	require.NoError(t, reg.Unregister())
	require.NotContains(t, text(), "agentic_tasks_pending")
}
