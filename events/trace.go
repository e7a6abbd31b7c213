package events

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/textproto"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentationScope names the tracer of this package.
const instrumentationScope = "github.com/agentic-run/agentic/events"

// noopTracer records nothing; a span started with it carries its parent's span context, so
// the trace context still propagates.
var noopTracer = noop.NewTracerProvider().Tracer(instrumentationScope)

// propagator is the W3C Trace Context propagator the messages' headers carry, whatever is
// set globally.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// The attributes of the messaging spans (OpenTelemetry messaging semantic conventions).
const (
	attrSystem        = attribute.Key("messaging.system")
	attrDestination   = attribute.Key("messaging.destination.name")
	attrMessageID     = attribute.Key("messaging.message.id")
	attrOperationType = attribute.Key("messaging.operation.type")
	attrOperationName = attribute.Key("messaging.operation.name")
	attrConsumerGroup = attribute.Key("messaging.consumer.group.name")
	attrBodySize      = attribute.Key("messaging.message.body.size")
	attrDeliveryCount = attribute.Key("messaging.nats.message.delivery_count")
	attrOutcome       = attribute.Key("agentic.message.outcome")
)

// HeaderCarrier adapts a message's headers to propagation.TextMapCarrier. NATS headers are
// case-sensitive: Set writes the key as given (traceparent, lower case as W3C spells it),
// Get also finds the canonical MIME form.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	if v := c[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the keys.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// ContextFromHeaders returns ctx with the remote span context of the message's traceparent,
// when it has a valid one.
func ContextFromHeaders(ctx context.Context, h nats.Header) context.Context {
	return propagator.Extract(ctx, HeaderCarrier(h))
}

// startPublish starts the producer span "publish KIND" of m and puts its context in m's
// headers. A message of a task (traceID, the task's stored trace id) belongs to the task's
// trace: when ctx's span is in another trace or there is none (the outbox relay, the
// reconciler), the span's parent is made from the trace id, linked to ctx's span if any.
func (p *Publisher) startPublish(ctx context.Context, kind string, m *nats.Msg, msgID, traceID string) (context.Context, trace.Span) {
	parent := trace.SpanContextFromContext(ctx)
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attrSystem.String("nats"),
			attrDestination.String(m.Subject),
			attrMessageID.String(msgID),
			attrOperationType.String("send"),
			attrOperationName.String("publish"),
			attrBodySize.Int(len(m.Data)),
		),
	}
	if tid, ok := parseTraceID(traceID); ok && parent.TraceID() != tid {
		if parent.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: parent}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: randomSpanID(), TraceFlags: trace.FlagsSampled, Remote: true,
		}))
	}
	ctx, span := p.tracer.Start(ctx, "publish "+kind, opts...)
	propagator.Inject(ctx, HeaderCarrier(m.Header))
	return ctx, span
}

// startProcess starts the consumer span "process KIND" of a delivery, the child of the
// context its headers carry.
func (r *Runner) startProcess(m *Msg, consumer string) (context.Context, trace.Span) {
	ctx := ContextFromHeaders(r.hctx, m.Header)
	return r.tracer.Start(ctx, "process "+r.kind,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attrSystem.String("nats"),
			attrDestination.String(m.Subject),
			attrMessageID.String(m.Header.Get(jetstream.MsgIDHeader)),
			attrOperationType.String("process"),
			attrOperationName.String("process"),
			attrConsumerGroup.String(consumer),
			attrBodySize.Int(len(m.Data)),
			attrDeliveryCount.Int64(int64(m.NumDelivered)), //nolint:gosec // a count
		))
}

// streamKind is what a stream holds, for span names: "tasks" of AGENTIC_TASKS.
func streamKind(stream string) string {
	if i := strings.LastIndexByte(stream, '_'); i >= 0 {
		stream = stream[i+1:]
	}
	return strings.ToLower(stream)
}

// spanError marks span failed with err.
func spanError(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

func parseTraceID(s string) (trace.TraceID, bool) {
	if !validTraceID(s) {
		return trace.TraceID{}, false
	}
	var id trace.TraceID
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return trace.TraceID{}, false
	}
	return id, true
}

func randomSpanID() trace.SpanID {
	var id trace.SpanID
	for {
		u := rand.Uint64()
		if u == 0 {
			continue
		}
		for i := range id {
			id[i] = byte(u >> (8 * i))
		}
		return id
	}
}
