package otlptest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/internal/otlptest"
)

// provider is an SDK TracerProvider exporting to the receiver with a real otlptracehttp
// exporter, batching as processes do.
func provider(t *testing.T, r *otlptest.Receiver, service string, opts ...otlptracehttp.Option) *sdktrace.TracerProvider {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, append([]otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(r.Endpoint() + "/v1/traces")}, opts...)...)
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(50*time.Millisecond)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func TestReceivesSpansWithAttributesAndParents(t *testing.T) {
	r := otlptest.Start(t)
	require.True(t, strings.HasPrefix(r.Endpoint(), "http://127.0.0.1:"), r.Endpoint())
	tr := provider(t, r, "otlptest-unit").Tracer("otlptest/unit")

	ctx, root := tr.Start(context.Background(), "POST /v1/things", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tr.Start(ctx, "chat tiny", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.Int64("gen_ai.usage.input_tokens", 12),
		attribute.Float64("gen_ai.request.temperature", 0.5),
		attribute.Bool("cached", true),
		attribute.StringSlice("tags", []string{"a", "b"}),
	))
	child.SetStatus(codes.Error, "boom")
	child.End()
	_, prod := tr.Start(ctx, "publish things", trace.WithSpanKind(trace.SpanKindProducer))
	prod.End()
	root.SetStatus(codes.Ok, "")
	root.End()
	traceID := root.SpanContext().TraceID().String()

	spans := r.Wait(t, traceID, func(s []otlptest.Span) bool { return len(s) == 3 }, 10*time.Second)
	byName := map[string]otlptest.Span{}
	for _, s := range spans {
		require.Equal(t, traceID, s.TraceID)
		require.Equal(t, "otlptest-unit", s.Service)
		require.Equal(t, "otlptest/unit", s.Scope)
		require.Len(t, s.SpanID, 16)
		require.False(t, s.Start.IsZero())
		require.False(t, s.End.Before(s.Start))
		byName[s.Name] = s
	}

	p := byName["POST /v1/things"]
	require.Equal(t, "server", p.Kind)
	require.Empty(t, p.ParentSpanID)
	require.Equal(t, "ok", p.Status)
	require.Equal(t, root.SpanContext().SpanID().String(), p.SpanID)

	c := byName["chat tiny"]
	require.Equal(t, "client", c.Kind)
	require.Equal(t, p.SpanID, c.ParentSpanID)
	require.Equal(t, "error", c.Status)
	require.Equal(t, "chat", c.Attributes["gen_ai.operation.name"])
	require.Equal(t, int64(12), c.Attributes["gen_ai.usage.input_tokens"])
	require.Equal(t, 0.5, c.Attributes["gen_ai.request.temperature"])
	require.Equal(t, true, c.Attributes["cached"])
	require.Equal(t, []any{"a", "b"}, c.Attributes["tags"])
	require.Equal(t, "12", c.Attr("gen_ai.usage.input_tokens"))
	require.Empty(t, c.Attr("absent"))

	pr := byName["publish things"]
	require.Equal(t, "producer", pr.Kind)
	require.Equal(t, p.SpanID, pr.ParentSpanID)
	require.Equal(t, "unset", pr.Status)

	require.Len(t, r.Spans(), 3)
	require.Len(t, r.Trace(strings.ToUpper(traceID)), 3)
	require.Empty(t, r.Trace("0123456789abcdef0123456789abcdef"))

	tree := otlptest.Format(spans)
	require.Contains(t, tree, "\n    \"chat tiny\" client", "children are indented under their parent:\n%s", tree)
}

func TestGzipAndSeveralServices(t *testing.T) {
	r := otlptest.Start(t)
	plain := provider(t, r, "svc-plain").Tracer("t")
	zipped := provider(t, r, "svc-gzip", otlptracehttp.WithCompression(otlptracehttp.GzipCompression)).Tracer("t")

	ctx, a := plain.Start(context.Background(), "process things", trace.WithSpanKind(trace.SpanKindConsumer))
	_, b := zipped.Start(ctx, "internal step")
	b.End()
	a.End()
	traceID := a.SpanContext().TraceID().String()

	spans := r.Wait(t, traceID, func(s []otlptest.Span) bool { return len(s) == 2 }, 10*time.Second)
	services := map[string]otlptest.Span{}
	for _, s := range spans {
		services[s.Service] = s
	}
	require.Equal(t, "consumer", services["svc-plain"].Kind)
	require.Equal(t, "internal", services["svc-gzip"].Kind)
	require.Equal(t, services["svc-plain"].SpanID, services["svc-gzip"].ParentSpanID)
}

func TestRejectsWhatIsNotOTLPProtobuf(t *testing.T) {
	r := otlptest.Start(t)
	post := func(path, contentType, body string) int {
		resp, err := http.Post(r.Endpoint()+path, contentType, bytes.NewBufferString(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnsupportedMediaType, post("/v1/traces", "application/json", "{}"))
	require.Equal(t, http.StatusBadRequest, post("/v1/traces", "application/x-protobuf", "\xff\xff\xff"))
	require.Equal(t, http.StatusNotFound, post("/v2/traces", "application/x-protobuf", ""))
	require.Equal(t, http.StatusOK, post("/v1/metrics", "application/x-protobuf", ""))
	require.Equal(t, http.StatusOK, post("/v1/traces", "application/x-protobuf", ""), "an empty export is valid")
	require.Empty(t, r.Spans())

	// Wait's failure lists the rejections; check the message through a recording TB.
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Wait(rec, "", func(s []otlptest.Span) bool { return len(s) > 0 }, 50*time.Millisecond)
	}()
	<-done
	require.True(t, rec.failed)
	require.Contains(t, rec.msg, "0 span(s) received in all traces")
	require.Contains(t, rec.msg, "3 export request(s) rejected")
	require.Contains(t, rec.msg, "POST /v1/traces: 415")
}

// recorder is a testing.TB whose Fatalf records the message and ends the goroutine.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
