package ingest_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/spantest"
	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/telemetry"
)

func TestSubmitIsTraced(t *testing.T) {
	t.Parallel()
	rec, tp := spantest.New()
	var logs syncbuf.Buffer
	var pub *events.Publisher
	e := newEnv(t, func(c *ingest.Config) {
		c.Tracer = tp
		c.Logger = slog.New(telemetry.TraceContext(slog.NewJSONHandler(&logs, nil)))
		c.EnqueueContext = func(ctx context.Context, task *store.Task) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := pub.PublishTask(ctx, task); err != nil {
				t.Errorf("enqueue %s: %v", task.ID, err)
			}
		}
	})
	pub = events.NewPublisher(e.js, e.names, events.WithTracerProvider(tp))
	_, key := e.tenant(t)

	// No traceparent: the server span starts the trace, and the task's trace_id is its.
	r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key,
		body: map[string]any{"agent": "echo", "input": map[string]any{"a": 1}}})
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	task := r.task(t)
	require.Eventually(t, func() bool { return len(spantest.Named(rec, "POST /v1/tasks")) == 1 }, 5*time.Second, 10*time.Millisecond)
	server := spantest.Named(rec, "POST /v1/tasks")[0]
	require.Equal(t, trace.SpanKindServer, server.SpanKind())
	require.Equal(t, task.TraceID, server.SpanContext().TraceID().String())
	require.False(t, server.Parent().IsValid())
	route, ok := spantest.Attrs(server)["http.route"]
	require.True(t, ok)
	require.Equal(t, "/v1/tasks", route.AsString())

	// The task's publish is the server span's child.
	publish := spantest.Named(rec, "publish tasks")
	require.Len(t, publish, 1)
	require.Equal(t, server.SpanContext().SpanID(), publish[0].Parent().SpanID())
	require.Equal(t, server.SpanContext().TraceID(), publish[0].SpanContext().TraceID())
	require.Equal(t, trace.SpanKindProducer, publish[0].SpanKind())

	// The request's log line carries the trace.
	require.Contains(t, logs.String(), `"trace_id":"`+task.TraceID+`"`)
	require.Contains(t, logs.String(), `"span_id":"`+server.SpanContext().SpanID().String()+`"`)

	// An incoming traceparent is continued: same trace, the caller's span the parent.
	r = e.do(t, req{method: "POST", path: "/v1/tasks", token: key,
		header: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		body:   map[string]any{"agent": "echo", "input": map[string]any{"a": 2}}})
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	task = r.task(t)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", task.TraceID)
	require.Eventually(t, func() bool { return len(spantest.Named(rec, "POST /v1/tasks")) == 2 }, 5*time.Second, 10*time.Millisecond)
	var continued sdktrace.ReadOnlySpan
	for _, s := range spantest.Named(rec, "POST /v1/tasks") {
		if s.SpanContext().TraceID().String() == task.TraceID {
			continued = s
		}
	}
	require.NotNil(t, continued)
	require.Equal(t, "00f067aa0ba902b7", continued.Parent().SpanID().String())
	require.True(t, continued.Parent().IsRemote())

	// Other routes are named by their pattern too; health checks are not traced.
	e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key})
	e.do(t, req{method: "GET", path: "/health/live"})
	require.Eventually(t, func() bool { return len(spantest.Named(rec, "GET /v1/tasks/{id}")) == 1 }, 5*time.Second, 10*time.Millisecond)
	for _, s := range rec.Ended() {
		require.False(t, strings.Contains(s.Name(), "/health"), s.Name())
	}
}
