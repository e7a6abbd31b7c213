package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns the logger the processes use: one JSON object per line on w, records
// below level dropped (a nil level means slog.LevelInfo), every record logged with a context
// that holds a span carrying its trace_id and span_id ([TraceContext]), and every record
// passed through [Redact] before it is encoded.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Redact(TraceContext(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))))
}

// TraceContext wraps h so that a record logged with a context holding a valid span context
// (log.InfoContext(ctx, …) inside a span, or under a remote parent) carries it as trace_id
// and span_id, 32 and 16 lower-case hex digits as in W3C traceparent.
func TraceContext(h slog.Handler) slog.Handler {
	if t, ok := h.(traceHandler); ok {
		return t
	}
	return traceHandler{next: h}
}

type traceHandler struct{ next slog.Handler }

func (h traceHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	return traceHandler{next: h.next.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return traceHandler{next: h.next.WithGroup(name)}
}
