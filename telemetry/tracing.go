package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// Propagator is the W3C Trace Context propagator: what every process injects into and
// extracts from HTTP requests and NATS messages. NewTracing also sets it globally.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// NewTracing returns the process's tracer provider: an SDK TracerProvider whose resource
// names the service (OTEL_SERVICE_NAME, else service: "agentic-ingest", "agentic-worker", …),
// sampled as OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG say (parent-based always-on by
// default), and exporting its spans over OTLP/HTTP in batches when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (OTEL_EXPORTER_OTLP_HEADERS and the other
// standard variables apply). Without an endpoint spans are still made, so every task has
// a trace id and log lines carry it, but nothing leaves the process. It sets the W3C Trace
// Context propagator globally. shutdown flushes what is left to export; call it on exit.
// The variables are read with os.Getenv.
func NewTracing(ctx context.Context, service string) (trace.TracerProvider, func(context.Context) error, error) {
	return NewTracingEnv(ctx, service, os.Getenv)
}

// NewTracingEnv is NewTracing reading the variables with getenv.
func NewTracingEnv(ctx context.Context, service string, getenv func(string) string) (trace.TracerProvider, func(context.Context) error, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	otel.SetTextMapPropagator(Propagator)
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME (os environment)
	)
	if err != nil && res == nil {
		return nil, nil, fmt.Errorf("telemetry: tracing resource: %w", err)
	}
	if name := getenv("OTEL_SERVICE_NAME"); name != "" {
		if res, err = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", name))); err != nil {
			return nil, nil, fmt.Errorf("telemetry: tracing resource: %w", err)
		}
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	sampler, err := samplerFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	exp, err := exporterFromEnv(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
	} else if sampler == nil {
		// Nowhere to export: spans still get ids, so the task's trace_id and the traceparent
		// on messages and webhooks stay one trace, but none is recorded (recording them for
		// nobody cost a fifth of the pipeline's throughput).
		sampler = sdktrace.NeverSample()
	}
	if sampler != nil {
		opts = append(opts, sdktrace.WithSampler(sampler))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// exporterFromEnv returns the OTLP/HTTP exporter when an endpoint is configured, else nil.
// otlptracehttp reads the standard variables itself from the process environment; those
// getenv gives are passed explicitly, so that they win.
func exporterFromEnv(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	traces, base := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	if traces == "" && base == "" {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	endpoint, variable := traces, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if endpoint == "" {
		endpoint, variable = strings.TrimRight(base, "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	if u, err := url.Parse(endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s: not an http(s) URL", variable)
	}
	opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	headers := getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
	if headers == "" {
		headers = getenv("OTEL_EXPORTER_OTLP_HEADERS")
	}
	if headers != "" {
		h, err := parseHeaders(headers)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %w", err)
		}
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
	}
	return exp, nil
}

// parseHeaders reads the W3C baggage-like list of OTEL_EXPORTER_OTLP_HEADERS: key=value
// pairs, comma-separated, values URL-encoded.
func parseHeaders(s string) (map[string]string, error) {
	h := map[string]string{}
	for pair := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New("expected key=value pairs separated by commas")
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("value of %s is not URL-encoded", k)
		}
		h[k] = dv
	}
	return h, nil
}

// samplerFromEnv is the sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name (the
// standard values), nil when none is set: the SDK's default, parent-based always-on.
func samplerFromEnv(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	if name == "" {
		return nil, nil
	}
	ratio := func() (float64, error) {
		arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, errors.New("OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1")
		}
		return r, nil
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(r), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not one of always_on, always_off, traceidratio, "+
		"parentbased_always_on, parentbased_always_off, parentbased_traceidratio", name)
}

// ChildSpansOnly returns a TracerProvider whose tracers start a span only under a span
// already in the context (local or remote), and otherwise return the context unchanged
// with a non-recording span. Database and Redis instrumentation go through it, so the
// background work of a process (heartbeats, polls, group commits) makes no root traces
// of its own while every statement a traced task or request runs is in its trace.
func ChildSpansOnly(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return nil
	}
	return childOnlyProvider{tp: tp}
}

type childOnlyProvider struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p childOnlyProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: p.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.t.Start(ctx, name, opts...)
}
