package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/spantest"
)

// A task published inside a span is processed in a consumer span, the child of the producer
// span "publish tasks", itself the child of the publisher's span; what the handler
// publishes is the child of its context.
func TestPublishConsumeKeepsTheTrace(t *testing.T) {
	t.Parallel()
	rec, tp := spantest.New()
	js, n := setupTasks(t, 0)
	pub := events.NewPublisher(js, n, events.WithTracerProvider(tp))

	handled := make(chan trace.SpanContext, 1)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 1, Tracer: tp}, func(ctx context.Context, m *events.Msg) error {
		ev := events.TaskEvent{ID: "evt_tsk_traced", Type: "task.succeeded", TenantID: newTask("").TenantID}
		ev.Task.ID, ev.Task.TraceID = "tsk_traced", trace.SpanContextFromContext(ctx).TraceID().String()
		require.NoError(t, pub.PublishEvent(ctx, ev))
		handled <- trace.SpanContextFromContext(ctx)
		return nil
	})

	ctx, root := tp.Tracer("test").Start(context.Background(), "request")
	task := newTask("tsk_traced")
	task.TraceID = root.SpanContext().TraceID().String()
	require.NoError(t, pub.PublishTask(ctx, task))
	root.End()

	var inHandler trace.SpanContext
	select {
	case inHandler = <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("not handled")
	}
	require.Eventually(t, func() bool { return len(spantest.Named(rec, "process tasks")) == 1 }, 5*time.Second, 10*time.Millisecond)

	publish := spantest.Named(rec, "publish tasks")
	require.Len(t, publish, 1)
	require.Equal(t, trace.SpanKindProducer, publish[0].SpanKind())
	require.Equal(t, root.SpanContext().SpanID(), publish[0].Parent().SpanID())
	a := spantest.Attrs(publish[0])
	require.Equal(t, "nats", a["messaging.system"].AsString())
	require.Equal(t, n.TaskSubject(task.TenantID), a["messaging.destination.name"].AsString())
	require.Equal(t, task.ID, a["messaging.message.id"].AsString())

	process := spantest.Named(rec, "process tasks")[0]
	require.Equal(t, trace.SpanKindConsumer, process.SpanKind())
	require.Equal(t, root.SpanContext().TraceID(), process.SpanContext().TraceID())
	require.Equal(t, publish[0].SpanContext().SpanID(), process.Parent().SpanID())
	require.True(t, process.Parent().IsRemote())
	require.Equal(t, process.SpanContext(), inHandler)
	a = spantest.Attrs(process)
	require.Equal(t, "nats", a["messaging.system"].AsString())
	require.Equal(t, task.ID, a["messaging.message.id"].AsString())
	require.Equal(t, int64(1), a["messaging.nats.message.delivery_count"].AsInt64())
	require.Equal(t, "ack", a["agentic.message.outcome"].AsString())

	// The handler's publish is the consumer span's child, in the same trace.
	pubEvent := spantest.Named(rec, "publish events")
	require.Len(t, pubEvent, 1)
	require.Equal(t, process.SpanContext().SpanID(), pubEvent[0].Parent().SpanID())
	require.Equal(t, root.SpanContext().TraceID(), pubEvent[0].SpanContext().TraceID())
}

// Published without a context (the outbox relay, the reconciler), or from another trace, a
// task's message is still in the task's trace: its stored trace id.
func TestPublishWithoutContextJoinsTheTasksTrace(t *testing.T) {
	t.Parallel()
	rec, tp := spantest.New()
	js, n := setupTasks(t, 0)
	pub := events.NewPublisher(js, n, events.WithTracerProvider(tp))

	f, err := pub.PublishTaskAsync(newTask("tsk_async"))
	require.NoError(t, err)
	select {
	case <-f.Ok():
	case err := <-f.Err():
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ack")
	}
	m := f.Msg()
	require.Regexp(t, traceParentRE, m.Header.Get(events.HeaderTraceParent))
	span := spantest.Named(rec, "publish tasks")[0]
	require.Equal(t, traceID, span.SpanContext().TraceID().String())
	require.Contains(t, m.Header.Get(events.HeaderTraceParent), span.SpanContext().SpanID().String())

	// Inside another trace (the reconciler's ops message): the task's trace, linked to it.
	ctx, other := tp.Tracer("test").Start(context.Background(), "reconcile")
	require.NoError(t, pub.PublishTask(ctx, newTask("tsk_other")))
	other.End()
	spans := spantest.Named(rec, "publish tasks")
	require.Len(t, spans, 2)
	require.Equal(t, traceID, spans[1].SpanContext().TraceID().String())
	require.Len(t, spans[1].Links(), 1)
	require.Equal(t, other.SpanContext().SpanID(), spans[1].Links()[0].SpanContext.SpanID())

	// WithParent gives a context-free publish its parent.
	ctx, req := tp.Tracer("test").Start(context.Background(), "request")
	task := newTask("tsk_parented")
	task.TraceID = req.SpanContext().TraceID().String()
	pub.WithParent(ctx, task.ID, func() {
		_, err = pub.PublishTaskAsync(task)
	})
	require.NoError(t, err)
	req.End()
	spans = spantest.Named(rec, "publish tasks")
	require.Len(t, spans, 3)
	require.Equal(t, req.SpanContext().SpanID(), spans[2].Parent().SpanID())
}
