package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/otlptest"
)

// One summarizer task with a webhook, followed across processes: ingest and the worker
// export their spans over OTLP/HTTP to an in-process receiver, and the whole path — the
// request, the publish and the consume, the run, the model call, the database and Redis,
// the event and the webhook — is one trace whose id is the task's trace_id. A caller's W3C
// traceparent makes its trace the task's.
func TestOneTraceFromRequestToWebhook(t *testing.T) {
	t.Parallel()
	recv := otlptest.Start(t)
	c := newCluster(t,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+recv.Endpoint(),
		"OTEL_BSP_SCHEDULE_DELAY=100", // milliseconds: batches flush fast
	)
	ingest := c.start("ingest")
	c.start("worker")
	ten, tn := tenant(t, ingest)
	hooks := newHooks(t, &ten.WebhookSecret)

	// A caller's traceparent: the task joins the caller's trace.
	callerTrace, callerSpan := randomHex(t, 16), randomHex(t, 8)
	var joined client.Task
	require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "echo", Input: json.RawMessage(`{"traced":true}`)}, &joined,
		"traceparent", "00-"+callerTrace+"-"+callerSpan+"-01"))
	require.Equal(t, callerTrace, joined.TraceID, "the task's trace_id is the traceparent's trace id")

	// The traced task.
	var task client.Task
	require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"Agentic runs agents. Durably. Fairly. Traced."}`),
		WebhookURL: hooks.srv.URL + "/hook"}, &task))
	require.Len(t, task.TraceID, 32, "a task gets a trace id: %q", task.TraceID)
	require.NotEqual(t, callerTrace, task.TraceID)
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+task.ID+"?wait=30s", nil, &task))
	require.Equal(t, "succeeded", task.Status)
	require.NotNil(t, task.Model, "a summary is a model call")
	require.Positive(t, task.Usage.InputTokens)
	require.Positive(t, task.Usage.OutputTokens)
	require.Eventually(t, func() bool { d, _ := hooks.count(); return d == 1 }, 30*time.Second, 20*time.Millisecond,
		"the webhook is delivered")
	_, bad := hooks.count()
	require.Zero(t, bad)

	// The task's trace holds every step. Wait fails listing the spans it got; the deferred
	// log says which expectations they missed.
	want := expectTrace(&task, c.redis())
	var missing []string
	defer func() {
		if t.Failed() && len(missing) > 0 {
			t.Logf("trace %s lacks:\n  %s", task.TraceID, strings.Join(missing, "\n  "))
		}
	}()
	spans := recv.Wait(t, task.TraceID, func(spans []otlptest.Span) bool {
		missing = missing[:0]
		for _, e := range want {
			if !e.found(spans) {
				missing = append(missing, e.what)
			}
		}
		return len(missing) == 0
	}, 15*time.Second)
	t.Logf("trace %s:\n%s", task.TraceID, otlptest.Format(spans))

	// The caller's trace holds ingest's server span, a child of the caller's span.
	recv.Wait(t, callerTrace, func(spans []otlptest.Span) bool {
		for _, s := range spans {
			if s.Name == "POST /v1/tasks" && s.Kind == "server" && s.ParentSpanID == callerSpan {
				return true
			}
		}
		return false
	}, 15*time.Second)
}

// redis reports whether the cluster's processes get a REDIS_URL (the last one set wins).
func (c *cluster) redis() bool {
	url := ""
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "REDIS_URL="); ok {
			url = v
		}
	}
	return url != ""
}

// expectation is a span the task's trace must hold.
type expectation struct {
	what  string
	match func(otlptest.Span) bool
}

func (e expectation) found(trace []otlptest.Span) bool {
	for _, s := range trace {
		if e.match(s) {
			return true
		}
	}
	return false
}

// expectTrace lists what the trace of a finished summarizer task with a webhook holds; a
// Redis span only when the processes use Redis.
func expectTrace(task *client.Task, redis bool) []expectation {
	model := *task.Model
	named := func(name, kind string) func(otlptest.Span) bool {
		return func(s otlptest.Span) bool { return s.Name == name && (kind == "" || s.Kind == kind) }
	}
	want := []expectation{
		{`"POST /v1/tasks" server span of service "agentic-ingest"`, func(s otlptest.Span) bool {
			return named("POST /v1/tasks", "server")(s) && s.Service == "agentic-ingest"
		}},
		{`"publish tasks" producer span`, named("publish tasks", "producer")},
		// Its trace id is the task's (it is in the trace); a parent id means it continued the
		// trace the message carried instead of starting one.
		{`"process tasks" consumer span of service "agentic-worker", with a parent in the trace`, func(s otlptest.Span) bool {
			return named("process tasks", "consumer")(s) && s.Service == "agentic-worker" && s.ParentSpanID != ""
		}},
		{`"run task" span`, named("run task", "")},
		{fmt.Sprintf(`"chat %s" client span with gen_ai.operation.name=chat, gen_ai.provider.name, `+
			`gen_ai.request.model=%s, gen_ai.usage.input_tokens=%d, gen_ai.usage.output_tokens=%d`,
			model, model, task.Usage.InputTokens, task.Usage.OutputTokens), func(s otlptest.Span) bool {
			return named("chat "+model, "client")(s) &&
				s.Attr("gen_ai.operation.name") == "chat" &&
				s.Attr("gen_ai.provider.name") != "" &&
				s.Attr("gen_ai.request.model") == model &&
				s.Attr("gen_ai.usage.input_tokens") == fmt.Sprint(task.Usage.InputTokens) &&
				s.Attr("gen_ai.usage.output_tokens") == fmt.Sprint(task.Usage.OutputTokens)
		}},
		{`"process events" consumer span`, named("process events", "consumer")},
		{`"POST webhook" client span with http.response.status_code=200`, func(s otlptest.Span) bool {
			return named("POST webhook", "client")(s) && s.Attr("http.response.status_code") == "200"
		}},
		{`a PostgreSQL span of service "agentic-worker" (db.system or db.system.name = postgresql)`, func(s otlptest.Span) bool {
			return s.Service == "agentic-worker" && dbSystem(s, "postgres")
		}},
	}
	if redis {
		want = append(want, expectation{`a Redis span (db.system or db.system.name = redis)`, func(s otlptest.Span) bool {
			return dbSystem(s, "redis")
		}})
	}
	return want
}

// dbSystem reports whether the span is a database client span of the system: whichever of
// the old (db.system) and new (db.system.name) semantic-convention keys the instrumentation
// sets, and "postgres" matching "postgresql".
func dbSystem(s otlptest.Span, system string) bool {
	for _, key := range []string{"db.system.name", "db.system"} {
		if strings.HasPrefix(strings.ToLower(s.Attr(key)), system) {
			return true
		}
	}
	return false
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
