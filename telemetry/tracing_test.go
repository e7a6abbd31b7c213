package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/telemetry"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func serviceName(t *testing.T, tp trace.TracerProvider) string {
	t.Helper()
	_, span := tp.Tracer("test").Start(context.Background(), "x")
	defer span.End()
	ro, ok := span.(sdktrace.ReadOnlySpan)
	require.True(t, ok)
	for _, a := range ro.Resource().Attributes() {
		if a.Key == "service.name" {
			return a.Value.AsString()
		}
	}
	return ""
}

// Without an endpoint spans still get trace ids, for the task's trace_id and the
// traceparent it carries, but none is recorded: there is nobody to export them to.
func TestTracingWithoutEndpointStillMakesTraceIDs(t *testing.T) {
	tp, shutdown, err := telemetry.NewTracingEnv(t.Context(), "agentic-worker", env(nil))
	require.NoError(t, err)
	defer func() { require.NoError(t, shutdown(context.Background())) }()
	ctx, span := tp.Tracer("test").Start(context.Background(), "run task")
	require.True(t, span.SpanContext().IsValid())
	require.False(t, span.IsRecording(), "recorded for nobody")
	_, child := tp.Tracer("test").Start(ctx, "chat m")
	require.Equal(t, span.SpanContext().TraceID(), child.SpanContext().TraceID(), "one trace all the same")
	child.End()
	span.End()
	_, ok := otel.GetTextMapPropagator().(propagation.TraceContext)
	require.True(t, ok, "the W3C propagator is set globally")

	// An explicit sampler records them (to export elsewhere, or to read, as here).
	on := map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}
	tp1, shutdown1, err := telemetry.NewTracingEnv(t.Context(), "agentic-worker", env(on))
	require.NoError(t, err)
	defer func() { _ = shutdown1(context.Background()) }()
	require.Equal(t, "agentic-worker", serviceName(t, tp1))
	on["OTEL_SERVICE_NAME"] = "billing-worker"
	tp2, shutdown2, err := telemetry.NewTracingEnv(t.Context(), "agentic-worker", env(on))
	require.NoError(t, err)
	defer func() { _ = shutdown2(context.Background()) }()
	require.Equal(t, "billing-worker", serviceName(t, tp2))
}

func TestTracingSampler(t *testing.T) {
	tp, shutdown, err := telemetry.NewTracingEnv(t.Context(), "agentic-ingest", env(map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}))
	require.NoError(t, err)
	defer func() { _ = shutdown(context.Background()) }()
	_, span := tp.Tracer("test").Start(context.Background(), "x")
	require.True(t, span.SpanContext().IsValid(), "a trace id even when not sampled")
	require.False(t, span.SpanContext().IsSampled())

	_, _, err = telemetry.NewTracingEnv(t.Context(), "x", env(map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}))
	require.ErrorContains(t, err, "OTEL_TRACES_SAMPLER")
	_, _, err = telemetry.NewTracingEnv(t.Context(), "x", env(map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}))
	require.ErrorContains(t, err, "OTEL_TRACES_SAMPLER_ARG")
	_, _, err = telemetry.NewTracingEnv(t.Context(), "x", env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "not a url"}))
	require.ErrorContains(t, err, "OTEL_EXPORTER_OTLP_ENDPOINT")
}

func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		auth = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tp, shutdown, err := telemetry.NewTracingEnv(t.Context(), "agentic-ingest", env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20abc",
	}))
	require.NoError(t, err)
	_, span := tp.Tracer("test").Start(context.Background(), "x")
	span.End()
	require.NoError(t, shutdown(context.Background()), "shutdown flushes")
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, paths, "/v1/traces")
	require.Equal(t, "Bearer abc", auth)
}

func TestChildSpansOnly(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	child := telemetry.ChildSpansOnly(tp).Tracer("db")
	_, s := child.Start(context.Background(), "SELECT")
	require.False(t, s.SpanContext().IsValid(), "no root span")
	ctx, parent := tp.Tracer("test").Start(context.Background(), "run task")
	_, s = child.Start(ctx, "SELECT")
	require.True(t, s.IsRecording())
	require.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID())
}

func TestLoggerCarriesTheTrace(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, slog.LevelInfo).With("task_id", "tsk_1")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "run task")
	log.InfoContext(ctx, "task finished", "api_key", "ak_secret")
	log.Info("no context")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &rec))
	require.Equal(t, span.SpanContext().TraceID().String(), rec["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), rec["span_id"])
	require.Equal(t, "tsk_1", rec["task_id"])
	require.Equal(t, telemetry.Redacted, rec["api_key"], "still redacted")
	rec = nil
	require.NoError(t, json.Unmarshal(lines[1], &rec))
	require.NotContains(t, rec, "trace_id")
}
