package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/internal/spantest"
	"github.com/agentic-run/agentic/llm"
)

// Each provider call is a client span "chat MODEL" with the GenAI attributes, in the
// caller's trace: a failed one with error.type, the answered one with its model and tokens.
func TestCallerTracesEachCall(t *testing.T) {
	t.Parallel()
	rec, tp := spantest.New()
	p := newCallerFake("prov", callerAnswer, caller503("prov"))
	cfg := callerConfig(p)
	cfg.Tracer = tp.Tracer("llm")
	c := newCallerT(t, cfg)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "run task")
	req := callerReq
	req.MaxTokens = 256
	_, _, attempts, err := c.Call(ctx, []llm.Model{callerModel("model-a", "prov")}, req)
	parent.End()
	require.NoError(t, err)
	require.Len(t, attempts, 2)

	chats := spantest.Named(rec, "chat model-a")
	require.Len(t, chats, 2, "one span per attempt")
	for _, s := range chats {
		require.Equal(t, trace.SpanKindClient, s.SpanKind())
		require.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
	}
	failed, ok := spantest.Attrs(chats[0]), spantest.Attrs(chats[1])
	require.Equal(t, "chat", failed["gen_ai.operation.name"].AsString())
	require.Equal(t, "prov", failed["gen_ai.provider.name"].AsString())
	require.Equal(t, "model-a", failed["gen_ai.request.model"].AsString())
	require.Equal(t, "error", failed["error.type"].AsString())
	require.Equal(t, codes.Error, chats[0].Status().Code)

	require.Equal(t, "chat", ok["gen_ai.operation.name"].AsString())
	require.Equal(t, "prov", ok["gen_ai.provider.name"].AsString())
	require.Equal(t, "model-a", ok["gen_ai.request.model"].AsString())
	require.Equal(t, "model-a", ok["gen_ai.response.model"].AsString())
	require.Equal(t, int64(256), ok["gen_ai.request.max_tokens"].AsInt64())
	require.Equal(t, int64(1000), ok["gen_ai.usage.input_tokens"].AsInt64())
	require.Equal(t, int64(500), ok["gen_ai.usage.output_tokens"].AsInt64())
	_, hasErr := ok["error.type"]
	require.False(t, hasErr)
	require.NotEqual(t, codes.Error, chats[1].Status().Code)
}
