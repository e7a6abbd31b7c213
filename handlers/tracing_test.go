package handlers_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/spantest"
	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/telemetry"
)

// One task's spans share one trace, from the publish to the webhook, each the child of the
// one before: publish tasks → process tasks → run task → chat sim, publish events →
// process events → POST webhook; the receiver gets the trace in traceparent, and the
// task's log lines carry trace_id and span_id.
func TestTaskIsOneTrace(t *testing.T) {
	t.Parallel()
	rec, tp := spantest.New()
	h := newHarness(t, 5*time.Second)
	h.pub = events.NewPublisher(h.js, h.names, events.WithTracerProvider(tp))
	recv := newReceiver(t, 0)
	var logs syncbuf.Buffer
	log := slog.New(telemetry.TraceContext(slog.NewJSONHandler(&logs, nil)))

	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	cfg.Tracer, cfg.Logger = tp, log
	m := llm.Model{ID: "sim", Provider: "sim", ContextWindow: 128_000, Quality: 100}
	reg, err := llm.NewRegistry([]llm.Model{m})
	require.NoError(t, err)
	caller, err := llm.NewCaller(llm.CallerConfig{Providers: map[string]llm.Provider{"sim": llm.NewSim(llm.SimConfig{})},
		MaxAttempts: 1, Tracer: tp.Tracer("llm")})
	require.NoError(t, err)
	cfg.Router, cfg.Caller = &llm.Router{Registry: reg, Available: caller.Available}, caller
	tasks, err := handlers.NewTasks(cfg)
	require.NoError(t, err)
	h.start(events.RunnerConfig{Tracer: tp, Fair: &events.FairConfig{Names: h.names, AckWait: h.ack, Poll: 50 * time.Millisecond}},
		time.Second, tasks.Handle)
	hooks, err := handlers.NewWebhooks(handlers.WebhooksConfig{Store: h.store, Sender: localSender(t), Tracer: tp, Logger: log})
	require.NoError(t, err)
	h.start(events.RunnerConfig{Stream: h.names.EventsStream(), Consumer: events.ConsumerWebhooks, Tracer: tp}, time.Second, hooks.Handle)

	ctx, root := tp.Tracer("test").Start(context.Background(), "POST /v1/tasks", trace.WithSpanKind(trace.SpanKindServer))
	task := h.insert("summarizer", `{"text":"Agentic runs AI agents as durable tasks."}`, func(t *store.Task) {
		t.WebhookURL = recv.srv.URL + "/hook"
		t.TraceID = root.SpanContext().TraceID().String()
	})
	require.NoError(t, h.pub.PublishTask(ctx, task))
	root.End()

	require.Eventually(t, func() bool { return len(recv.calls()) == 1 }, 10*time.Second, 10*time.Millisecond)
	byName := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		var found sdktrace.ReadOnlySpan
		require.Eventually(t, func() bool {
			if s := spantest.Named(rec, name); len(s) > 0 {
				found = s[0]
				return true
			}
			return false
		}, 5*time.Second, 10*time.Millisecond, "no span %q", name)
		return found
	}
	chain := []string{"POST /v1/tasks", "publish tasks", "process tasks", "run task"}
	var spans []sdktrace.ReadOnlySpan
	for _, name := range chain {
		spans = append(spans, byName(name))
	}
	for i := 1; i < len(spans); i++ {
		require.Equal(t, spans[i-1].SpanContext().SpanID(), spans[i].Parent().SpanID(), "%s's parent", chain[i])
	}
	run := spans[3]
	chat, pubEvent := byName("chat sim"), byName("publish events")
	require.Equal(t, run.SpanContext().SpanID(), chat.Parent().SpanID())
	require.Equal(t, run.SpanContext().SpanID(), pubEvent.Parent().SpanID())
	process, post := byName("process events"), byName("POST webhook")
	require.Equal(t, pubEvent.SpanContext().SpanID(), process.Parent().SpanID())
	require.Equal(t, process.SpanContext().SpanID(), post.Parent().SpanID())
	for _, s := range []sdktrace.ReadOnlySpan{chat, pubEvent, process, post} {
		require.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID(), s.Name())
	}

	a := spantest.Attrs(run)
	require.Equal(t, task.ID, a["agentic.task.id"].AsString())
	require.Equal(t, "summarizer", a["agentic.agent"].AsString())
	require.Equal(t, h.tenant.ID, a["agentic.tenant.id"].AsString())
	require.Equal(t, "succeeded", a["agentic.task.status"].AsString())
	a = spantest.Attrs(chat)
	require.Equal(t, "chat", a["gen_ai.operation.name"].AsString())
	require.Equal(t, "sim", a["gen_ai.provider.name"].AsString())
	require.Equal(t, "sim", a["gen_ai.request.model"].AsString())
	require.Positive(t, a["gen_ai.usage.input_tokens"].AsInt64())
	require.Positive(t, a["gen_ai.usage.output_tokens"].AsInt64())
	a = spantest.Attrs(post)
	require.Equal(t, trace.SpanKindClient, post.SpanKind())
	require.Equal(t, "POST", a["http.request.method"].AsString())
	require.Equal(t, "127.0.0.1", a["server.address"].AsString())
	require.Equal(t, int64(204), a["http.response.status_code"].AsInt64())
	require.Equal(t, "evt_"+task.ID, a["agentic.webhook.id"].AsString())

	// The receiver is told the delivery's span.
	tp0 := recv.calls()[0].header.Get("traceparent")
	require.Equal(t, "00-"+task.TraceID+"-"+post.SpanContext().SpanID().String()+"-01", tp0)

	// The task's log line is in its trace, under the run's span.
	var finished string
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, `"task finished"`) {
			finished = line
		}
	}
	require.Contains(t, finished, `"trace_id":"`+task.TraceID+`"`)
	require.Contains(t, finished, `"span_id":"`+run.SpanContext().SpanID().String()+`"`)
	require.Contains(t, finished, `"task_id":"`+task.ID+`"`)
}
