package handlers

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// Histogram boundaries, in seconds and tokens. The gen_ai ones are the semantic conventions'
// advice; a task waits and runs from milliseconds to about an hour.
var (
	taskSecondsBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	genAISecondsBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	genAITokenBuckets   = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// meterOrNoop is m, or a meter that records nothing.
func meterOrNoop(m metric.Meter) metric.Meter {
	if m == nil {
		return noop.NewMeterProvider().Meter("")
	}
	return m
}

// taskMetrics are the instruments of Tasks. Their attributes are bounded: agents, statuses,
// providers, models and outcomes — never a tenant or a task.
type taskMetrics struct {
	finished  metric.Int64Counter     // agentic.tasks.finished
	queueWait metric.Float64Histogram // agentic.task.queue_wait
	runTime   metric.Float64Histogram // agentic.task.run_time

	opDuration metric.Float64Histogram // gen_ai.client.operation.duration
	tokens     metric.Int64Histogram   // gen_ai.client.token.usage
	calls      metric.Int64Counter     // agentic.llm.calls
	cost       metric.Float64Counter   // agentic.llm.cost
}

func newTaskMetrics(m metric.Meter) (*taskMetrics, error) {
	m = meterOrNoop(m)
	var ms taskMetrics
	var errs [7]error
	ms.finished, errs[0] = m.Int64Counter("agentic.tasks.finished", metric.WithUnit("{task}"),
		metric.WithDescription("Tasks that reached a terminal state on a worker, by agent and status."))
	ms.queueWait, errs[1] = m.Float64Histogram("agentic.task.queue_wait", metric.WithUnit("s"),
		metric.WithDescription("Time from a task's submission to its first start on a worker, by agent."),
		metric.WithExplicitBucketBoundaries(taskSecondsBuckets...))
	ms.runTime, errs[2] = m.Float64Histogram("agentic.task.run_time", metric.WithUnit("s"),
		metric.WithDescription("Time from a task's first start to its terminal state, by agent and status."),
		metric.WithExplicitBucketBoundaries(taskSecondsBuckets...))
	ms.opDuration, errs[3] = m.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of each model call made (retries and fallbacks each count), by provider, model and error type."),
		metric.WithExplicitBucketBoundaries(genAISecondsBuckets...))
	ms.tokens, errs[4] = m.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens of each answered model call, by provider, model and token type (input, output)."),
		metric.WithExplicitBucketBoundaries(genAITokenBuckets...))
	ms.calls, errs[5] = m.Int64Counter("agentic.llm.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Model calls by provider, model and outcome (ok, rate_limited, error, invalid, auth, canceled; "+
			"circuit_open, and auth or error for a provider out of routing, count models skipped without a call)."))
	ms.cost, errs[6] = m.Float64Counter("agentic.llm.cost", metric.WithUnit("{USD}"),
		metric.WithDescription("Cost in US dollars of the answered model calls at the models' prices, by provider and model."))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("handlers: metrics: %w", err)
		}
	}
	return &ms, nil
}

// started records the queue wait of a task's first attempt (a later attempt, or a start
// after a release, would count the wait again).
func (ms *taskMetrics) started(ctx context.Context, t *store.Task) {
	if t.Attempts != 1 || t.StartedAt == nil {
		return
	}
	ms.queueWait.Record(ctx, seconds(t.StartedAt.Sub(t.CreatedAt)),
		metric.WithAttributes(attribute.String("agent", t.Agent)))
}

// finishedTask counts a task whose terminal state was just written, and its run time.
func (ms *taskMetrics) finishedTask(ctx context.Context, t *store.Task) {
	attrs := metric.WithAttributes(attribute.String("agent", t.Agent), attribute.String("status", string(t.Status)))
	ms.finished.Add(ctx, 1, attrs)
	if t.StartedAt != nil && t.FinishedAt != nil {
		ms.runTime.Record(ctx, seconds(t.FinishedAt.Sub(*t.StartedAt)), attrs)
	}
}

// GenAI semantic-convention attributes and values.
const (
	attrOperation = "gen_ai.operation.name"
	attrProvider  = "gen_ai.provider.name"
	attrModel     = "gen_ai.request.model"
	attrTokenType = "gen_ai.token.type"
	attrErrorType = "error.type"
)

// llmCalls records the attempts of one Call: every attempt as agentic.llm.calls; each one
// that called a provider as gen_ai.client.operation.duration; each answered one as token
// usage and cost.
func (ms *taskMetrics) llmCalls(ctx context.Context, attempts []llm.Attempt) {
	for _, a := range attempts {
		ms.calls.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", a.Provider),
			attribute.String("model", a.Model), attribute.String("outcome", a.Outcome)))
		ok := a.Err == nil
		if !ok && a.Latency <= 0 {
			continue // skipped: no call was made
		}
		common := []attribute.KeyValue{attribute.String(attrOperation, "chat"),
			attribute.String(attrProvider, a.Provider), attribute.String(attrModel, a.Model)}
		if !ok {
			ms.opDuration.Record(ctx, a.Latency.Seconds(),
				metric.WithAttributes(append(common, attribute.String(attrErrorType, a.Outcome))...))
			continue
		}
		ms.opDuration.Record(ctx, a.Latency.Seconds(), metric.WithAttributes(common...))
		ms.tokens.Record(ctx, a.InputTokens, metric.WithAttributes(append(common, attribute.String(attrTokenType, "input"))...))
		ms.tokens.Record(ctx, a.OutputTokens, metric.WithAttributes(append(common, attribute.String(attrTokenType, "output"))...))
		ms.cost.Add(ctx, store.MicrosToUSD(a.CostMicros), metric.WithAttributes(
			attribute.String("provider", a.Provider), attribute.String("model", a.Model)))
	}
}

// seconds is d in seconds, never negative (clocks of different machines).
func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }

// The outcomes of a webhook delivery attempt.
const (
	deliveryDelivered = "delivered" // 2xx
	deliveryRetry     = "retry"     // failed; retried later
	deliveryGaveUp    = "gave_up"   // failed; the last attempt
	deliveryRefused   = "refused"   // the target is not allowed (private address, bad URL): no request made
)

// webhookMetrics are the instruments of Webhooks.
type webhookMetrics struct {
	deliveries metric.Int64Counter // agentic.webhooks.deliveries
}

func newWebhookMetrics(m metric.Meter) (*webhookMetrics, error) {
	c, err := meterOrNoop(m).Int64Counter("agentic.webhooks.deliveries", metric.WithUnit("{attempt}"),
		metric.WithDescription("Webhook delivery attempts by outcome: delivered, retry, gave_up, "+
			"or refused (the target is not allowed; retried like a failure until given up)."))
	if err != nil {
		return nil, fmt.Errorf("handlers: metrics: %w", err)
	}
	return &webhookMetrics{deliveries: c}, nil
}

func (ms *webhookMetrics) delivery(ctx context.Context, outcome string) {
	ms.deliveries.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}
