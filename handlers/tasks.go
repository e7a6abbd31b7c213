package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// budgetWait is about how long a task whose budget is held by calls in flight waits in the
// queue (jittered between half and all of it).
const budgetWait = time.Second

// Error codes a task can end with.
const (
	CodeMaxAttempts  = "max_attempts_exceeded"
	CodeCanceled     = "canceled"
	CodeProvider     = "provider_error"
	CodeInvalidAgent = "unknown_agent"
	CodeAgentFailed  = "agent_error"
	// CodeNoModel ends a task no model of the registry can serve within its quality floor,
	// context, max_cost_usd and the providers up now (its routing says why each was dropped).
	CodeNoModel = "no_model_available"
)

// ModelCaller calls a plan of models — the router's choice, then its fallbacks — with
// retries, breakers and one deadline: llm.Caller.
type ModelCaller interface {
	Call(ctx context.Context, models []llm.Model, req llm.Request) (*llm.Response, llm.Model, []llm.Attempt, error)
}

// TaskStore is the part of the store that running tasks needs.
type TaskStore interface {
	LoadTask(ctx context.Context, id string) (*store.Task, error)
	StartTask(ctx context.Context, id string, at, leaseUntil time.Time) (*store.Task, error)
	Heartbeat(ctx context.Context, id string, leaseUntil time.Time) (bool, error)
	ReleaseTask(ctx context.Context, id string) error
	FinishTask(ctx context.Context, id string, r store.Result) (*store.Task, bool, error)
	RecordCalls(ctx context.Context, calls []store.LLMCall) error
}

// TaskEvents is where Tasks announces what happened.
type TaskEvents interface {
	PublishEvent(ctx context.Context, ev events.TaskEvent) error
	PublishDLQ(ctx context.Context, kind string, m *events.Msg, reason store.TaskError) error
	NotifyRunning(taskID string) error
}

// CancelRegistry routes cancel requests to the task running here.
type CancelRegistry interface {
	Register(taskID string, cancel context.CancelCauseFunc) (unregister func())
}

// TasksConfig configures Tasks.
type TasksConfig struct {
	Store  TaskStore
	Events TaskEvents
	// Cancels delivers cancel signals as they happen; nil means heartbeats alone notice them.
	Cancels CancelRegistry
	Agents  *agents.Catalog
	// Router chooses the model of each call (the cost optimizer), and Caller calls it and
	// its fallbacks.
	Router *llm.Router
	Caller ModelCaller
	// Budgets, when set, reserves each model call's worst case against the tenant's monthly
	// budget and settles its real cost.
	Budgets *Budgets
	// Responses, when set, is the LLM response cache: a task (unless it opted out, Task.Cache
	// false) whose tenant had the same agent answer the same rendered prompt on the router's
	// chosen model within the hour is answered from it, at no cost and without a
	// reservation; every answer of the chosen model is stored in it. Its errors are misses.
	// Its lookups are counted as ResponseCacheName on Meter unless it is a
	// *cache.Instrumented already. Nil: no response cache.
	Responses cache.Cache
	// Lease is how long a running task is presumed alive without a heartbeat; match the
	// consumer's AckWait (30s).
	Lease time.Duration
	// HeartbeatEvery is how often the lease is extended and cancel requests read (Lease/3).
	HeartbeatEvery time.Duration
	// RetryDelay is the wait before attempt n+1 after a retryable failure of attempt n
	// (exponential with jitter from 1s, at most 1m).
	RetryDelay func(attempt int) time.Duration
	Logger     *slog.Logger
	// Meter, when set, records tasks finished, their queue wait and run time, and each model
	// call's duration, tokens, outcome and cost (default: none).
	Meter metric.Meter
	// Tracer, when set, records each run of a task as a span "run task" (the task, tenant,
	// agent and attempt as attributes), inside which the model calls, the store's statements
	// and the terminal event's publish happen and the task's log lines are written. Nil
	// records nothing.
	Tracer trace.TracerProvider
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Tasks executes tasks. Its Handle is the handler of the workers consumer.
type Tasks struct {
	cfg       TasksConfig
	log       *slog.Logger
	metrics   *taskMetrics
	tracer    trace.Tracer
	responses *responses // nil: no response cache
}

// NewTasks checks cfg and fills its defaults.
func NewTasks(cfg TasksConfig) (*Tasks, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("handlers: TasksConfig.Store is required")
	case cfg.Events == nil:
		return nil, errors.New("handlers: TasksConfig.Events is required")
	case cfg.Agents == nil:
		return nil, errors.New("handlers: TasksConfig.Agents is required")
	case cfg.Router == nil || cfg.Router.Registry == nil:
		return nil, errors.New("handlers: TasksConfig.Router with a Registry is required")
	case cfg.Caller == nil:
		return nil, errors.New("handlers: TasksConfig.Caller is required")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = cfg.Lease / 3
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = func(attempt int) time.Duration { return expBackoff(uint64(attempt), time.Second, time.Minute) }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ms, err := newTaskMetrics(cfg.Meter)
	if err != nil {
		return nil, err
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	rs, err := newResponses(cfg.Responses, cfg.Meter, log)
	if err != nil {
		return nil, err
	}
	return &Tasks{cfg: cfg, log: log, metrics: ms, tracer: tp.Tracer(tracerScope), responses: rs}, nil
}

// tracerScope names the tracer of this package.
const tracerScope = "github.com/agentic-run/agentic/handlers"

// Handle runs the task a message names, inside a span "run task".
func (h *Tasks) Handle(ctx context.Context, m *events.Msg) (err error) {
	var tm events.TaskMessage
	if err := json.Unmarshal(m.Data, &tm); err != nil || tm.TaskID == "" {
		h.log.ErrorContext(ctx, "undecodable task message dropped", "subject", m.Subject, "error", err)
		return events.Cancel(fmt.Errorf("decode task message: %w", err))
	}
	ctx, span := h.tracer.Start(ctx, "run task", trace.WithAttributes(
		attribute.String("agentic.task.id", tm.TaskID),
		attribute.String("agentic.tenant.id", tm.TenantID)))
	defer func() {
		endRunSpan(span, err)
		span.End()
	}()
	return h.handle(ctx, span, m, tm)
}

// endRunSpan marks the run's span with how the message ends.
func endRunSpan(span trace.Span, err error) {
	if err == nil || events.Snoozed(err) {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// handle runs the task inside Handle's span.
func (h *Tasks) handle(ctx context.Context, span trace.Span, m *events.Msg, tm events.TaskMessage) error {
	var renewSlot func(context.Context) bool
	if m.Permit != nil { // the tenant's concurrency slot, taken by the Runner (Slots)
		renewSlot = m.Permit.Renew
	}
	now := h.cfg.Now()
	t, err := h.cfg.Store.StartTask(ctx, tm.TaskID, now, now.Add(h.cfg.Lease))
	switch {
	case errors.Is(err, store.ErrTaskFinished):
		// Done already: a redelivery after a crash, or a duplicate. Make sure its event went
		// out (the event id deduplicates), then let the message go.
		return h.republish(ctx, tm.TaskID)
	case errors.Is(err, store.ErrTaskNotQueued):
		// Another worker holds a live lease; come back when it would have expired.
		wait := time.Second
		if t != nil && t.LeaseUntil != nil {
			wait += t.LeaseUntil.Sub(now)
		}
		return events.Snooze(max(wait, time.Second))
	case errors.Is(err, store.ErrNotFound):
		h.log.ErrorContext(ctx, "task message for an unknown task dropped", "task_id", tm.TaskID)
		return events.Cancel(err)
	case err != nil:
		return fmt.Errorf("start task %s: %w", tm.TaskID, err)
	}
	span.SetAttributes(attribute.String("agentic.agent", t.Agent), attribute.Int("agentic.task.attempt", t.Attempts),
		attribute.String("agentic.tenant.id", t.TenantID))
	h.metrics.started(ctx, t)
	log := h.log.With("task_id", t.ID, "tenant_id", t.TenantID, "agent", t.Agent, "attempt", t.Attempts)
	if t.MaxAttempts > 0 && t.Attempts > t.MaxAttempts {
		// Earlier attempts died without a word (a crash loop): stop here.
		return h.poison(ctx, log, m, t, store.Result{}, fmt.Sprintf("gave up after %d attempts", t.MaxAttempts))
	}
	_ = h.cfg.Events.NotifyRunning(t.ID)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if h.cfg.Cancels != nil {
		defer h.cfg.Cancels.Register(t.ID, cancel)()
	}
	if t.CancelRequested {
		cancel(events.ErrCanceledByUser)
	}
	stopBeat := h.heartbeat(runCtx, log, t.ID, cancel, renewSlot)
	res, runErr := h.run(runCtx, t)
	stopBeat()

	switch {
	case runErr == nil:
		return h.finish(ctx, log, t.ID, res)
	case errors.Is(context.Cause(runCtx), events.ErrCanceledByUser):
		return h.finish(ctx, log, t.ID, store.Result{
			Status: store.StatusCanceled,
			Error:  &store.TaskError{Code: CodeCanceled, Message: "canceled by request"},
		})
	case errors.Is(context.Cause(ctx), events.ErrShutdown):
		// The worker is stopping: give the task back without charging the attempt.
		if err := h.cfg.Store.ReleaseTask(context.WithoutCancel(ctx), t.ID); err != nil {
			log.ErrorContext(ctx, "release task on shutdown", "error", err)
		}
		return events.Snooze(0)
	case waitsForBudget(runErr):
		// The budget is held by the tenant's calls in flight (or cannot be read): back to
		// the queue, without charging the attempt, until they settle.
		if err := h.cfg.Store.ReleaseTask(context.WithoutCancel(ctx), t.ID); err != nil {
			log.ErrorContext(ctx, "release task waiting for its budget", "error", err)
		}
		log.DebugContext(ctx, "waiting for the budget", "error", runErr)
		return events.Snooze(budgetWait / 2 * time.Duration(1+rand.N(2)))
	case !retryable(runErr):
		log.WarnContext(ctx, "task failed", "error", runErr)
		fail := failure(runErr)
		fail.Routing, fail.Calls = res.Routing, res.Calls
		return h.finish(ctx, log, t.ID, fail)
	case t.MaxAttempts > 0 && t.Attempts >= t.MaxAttempts:
		return h.poison(ctx, log, m, t, res, fmt.Sprintf("attempt %d of %d failed: %v", t.Attempts, t.MaxAttempts, runErr))
	default:
		// The calls of this attempt are kept now: the next attempt makes its own.
		if err := h.cfg.Store.RecordCalls(context.WithoutCancel(ctx), res.Calls); err != nil {
			log.ErrorContext(ctx, "record the attempt's model calls", "error", err)
		}
		// Leave the task running with its lease ended now, so the redelivery takes it over.
		if _, err := h.cfg.Store.Heartbeat(context.WithoutCancel(ctx), t.ID, h.cfg.Now()); err != nil && !errors.Is(err, store.ErrTaskFinished) {
			log.ErrorContext(ctx, "end lease for retry", "error", err)
		}
		delay := h.cfg.RetryDelay(t.Attempts)
		log.InfoContext(ctx, "attempt failed, will retry", "error", runErr, "retry_in", delay)
		return events.RetryAfter(runErr, delay)
	}
}

// run executes the agent. Its error is the provider's (classified by llm.Retryable) or the
// context's. After routing it asks the response cache (when there is one and the task did
// not opt out) for the chosen model's answer to the same prompt: a hit ends the task without
// a reservation or a call.
func (h *Tasks) run(ctx context.Context, t *store.Task) (store.Result, error) {
	agent, err := h.cfg.Agents.Get(t.Agent)
	if err != nil {
		return store.Result{}, &taskFailure{code: CodeInvalidAgent, err: err}
	}
	if agent.NoModel {
		out, err := agent.Output(t.Input, "")
		if err != nil {
			return store.Result{}, &taskFailure{code: CodeAgentFailed, err: err}
		}
		return store.Result{Status: store.StatusSucceeded, Output: out}, ctx.Err()
	}
	msgs, err := agent.Prompt(t.Input)
	if err != nil {
		return store.Result{}, &taskFailure{code: CodeAgentFailed, err: err}
	}
	maxOut := agent.MaxOutputTokens
	if maxOut <= 0 {
		maxOut = defaultMaxOutputTokens
	}
	now := h.cfg.Now()
	route := llm.RouteRequest{Messages: msgs, MaxOutputTokens: maxOut, AgentQuality: agent.Quality,
		Quality: t.Quality, MaxCostMicros: t.MaxCostMicros}
	if b := h.cfg.Budgets; b != nil {
		left, err := b.left(ctx, t.TenantID, now)
		if err != nil {
			return store.Result{}, err // errBudgetUnavailable: back to the queue
		}
		route.BudgetLeftMicros = left
	}
	primary, fallbacks, routing, err := h.cfg.Router.Route(route)
	res := store.Result{}
	if res.Routing, err = routingJSON(routing, err); err != nil {
		return res, err
	}
	plan := append([]llm.Model{primary}, fallbacks...)

	slot := h.responses.slot(ctx, t, agent.ID, primary.ID, msgs, maxOut)
	if e, took, ok := slot.lookup(ctx); ok {
		out, err := agent.Output(t.Input, e.Content)
		if err == nil {
			res.Calls = []store.LLMCall{cachedCall(t, e, took, h.cfg.Now())}
			res.Status, res.Output = store.StatusSucceeded, out
			res.Model, res.Provider = e.Model, e.Provider
			return res, ctx.Err()
		}
		// The agent refuses an answer it accepted for an earlier task of the same prompt: its
		// reading depends on more than the prompt. Ask the model, and leave the entry be.
		slot.warn(ctx, "response cache: cached answer refused by the agent, calling the model", "error", err)
		slot = nil
	}

	settle := func(int64) {}
	if b := h.cfg.Budgets; b != nil {
		// Reserve the worst case of the dearest model the call may end on.
		in := llm.InputTokens(msgs)
		var worst int64
		for _, m := range plan {
			worst = max(worst, m.Cost(in, int64(maxOut)))
		}
		ok, s, err := b.reserve(ctx, t.TenantID, callID(t.ID, t.Attempts), worst, now, 2*h.cfg.Lease)
		if err != nil {
			return res, err // errBudgetBusy, errBudgetUnavailable: back to the queue
		}
		if !ok {
			return res, &taskFailure{code: CodeBudgetExceeded,
				err: fmt.Errorf("the call's worst case, $%.6f, does not fit the tenant's monthly budget", store.MicrosToUSD(worst))}
		}
		settle = s
	}
	resp, used, attempts, err := h.cfg.Caller.Call(ctx, plan, llm.Request{Messages: msgs, MaxTokens: maxOut, Seed: t.ID})
	res.Calls = calls(t, attempts, h.cfg.Now())
	h.metrics.llmCalls(ctx, attempts)
	var spent int64
	for _, a := range attempts {
		spent += a.CostMicros
	}
	settle(spent)
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, err
	}
	out, err := agent.Output(t.Input, resp.Content)
	if err != nil {
		return res, &taskFailure{code: CodeAgentFailed, err: err}
	}
	res.Status, res.Output = store.StatusSucceeded, out
	last := attempts[len(attempts)-1]
	res.Model, res.Provider = used.ID, last.Provider
	res.InputTokens, res.OutputTokens, res.CostMicros = resp.InputTokens, resp.OutputTokens, spent
	if used.ID == primary.ID { // a fallback's answer is not what the key names
		slot.keep(ctx, cachedResponse{Content: resp.Content, Provider: last.Provider, Model: used.ID,
			InputTokens: resp.InputTokens, OutputTokens: resp.OutputTokens, CostMicros: last.CostMicros})
	}
	return res, nil
}

// routingJSON encodes the router's decision for the task; a routing error is the task's
// failure: no model fits (over the budget, when that is what dropped the last candidates).
func routingJSON(r llm.Routing, routeErr error) (json.RawMessage, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode routing: %w", err)
	}
	if routeErr == nil {
		return b, nil
	}
	// A model dropped as unavailable or over budget passed every check before that one: what
	// stands in the way is an outage (open circuits, a provider refusing its key), which the
	// task's retries may outlast, or the budget, which only grows more spent.
	code := CodeNoModel
	for _, c := range r.Candidates {
		switch c.Dropped {
		case llm.DroppedUnavailable:
			return b, fmt.Errorf("no model available now: %w", routeErr)
		case llm.DroppedOverBudget:
			code = CodeBudgetExceeded
		}
	}
	return b, &taskFailure{code: code, err: routeErr}
}

// calls turns the caller's attempts into the task's usage records.
func calls(t *store.Task, attempts []llm.Attempt, at time.Time) []store.LLMCall {
	out := make([]store.LLMCall, len(attempts))
	for i, a := range attempts {
		out[i] = store.LLMCall{TaskID: t.ID, TenantID: t.TenantID, Attempt: t.Attempts, Seq: i + 1,
			Provider: a.Provider, Model: a.Model, InputTokens: a.InputTokens, OutputTokens: a.OutputTokens,
			CostMicros: a.CostMicros, LatencyMS: a.Latency.Milliseconds(), Outcome: a.Outcome, At: at}
		if a.Err != nil {
			out[i].Error = a.Err.Error()
		}
	}
	return out
}

// heartbeat extends the lease (and renews the concurrency slot) until stopped, and cancels
// the run when a cancel was requested.
func (h *Tasks) heartbeat(ctx context.Context, log *slog.Logger, id string, cancel context.CancelCauseFunc, renewSlot func(context.Context) bool) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(h.cfg.HeartbeatEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if renewSlot != nil && !renewSlot(ctx) && ctx.Err() == nil {
					// The slot's lease ran out (this worker stalled) and may be another's now.
					log.WarnContext(ctx, "task lost its concurrency slot; it runs to its end")
				}
				requested, err := h.cfg.Store.Heartbeat(ctx, id, h.cfg.Now().Add(h.cfg.Lease))
				switch {
				case err != nil && ctx.Err() == nil:
					log.WarnContext(ctx, "heartbeat", "error", err)
				case requested:
					cancel(events.ErrCanceledByUser)
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// finish writes the terminal state once and announces it.
func (h *Tasks) finish(ctx context.Context, log *slog.Logger, id string, r store.Result) error {
	ctx = context.WithoutCancel(ctx) // a result in hand is written even while shutting down
	r.FinishedAt = h.cfg.Now()
	t, applied, err := h.cfg.Store.FinishTask(ctx, id, r)
	if err != nil {
		return fmt.Errorf("finish task %s: %w", id, err)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("agentic.task.status", string(t.Status)))
	if applied {
		log.InfoContext(ctx, "task finished", "status", t.Status)
		h.metrics.finishedTask(ctx, t)
	}
	if err := h.cfg.Events.PublishEvent(ctx, events.TerminalEvent(t)); err != nil {
		// The message comes back, finds the task finished and publishes again.
		return fmt.Errorf("publish terminal event of %s: %w", id, err)
	}
	return nil
}

// poison ends a task that used up its attempts, keeps a copy of its message on the
// dead-letter stream, and terminates the message.
func (h *Tasks) poison(ctx context.Context, log *slog.Logger, m *events.Msg, t *store.Task, last store.Result, why string) error {
	reason := store.TaskError{Code: CodeMaxAttempts, Message: why}
	log.WarnContext(ctx, "task dead-lettered", "reason", why)
	if err := h.cfg.Events.PublishDLQ(context.WithoutCancel(ctx), "tasks", m, reason); err != nil {
		return fmt.Errorf("dead-letter task %s: %w", t.ID, err)
	}
	if err := h.finish(ctx, log, t.ID, store.Result{Status: store.StatusFailed, Error: &reason,
		Routing: last.Routing, Calls: last.Calls}); err != nil {
		return err
	}
	return events.Cancel(errors.New(why))
}

func (h *Tasks) republish(ctx context.Context, id string) error {
	t, err := h.cfg.Store.LoadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("load finished task %s: %w", id, err)
	}
	if err := h.cfg.Events.PublishEvent(ctx, events.TerminalEvent(t)); err != nil {
		return fmt.Errorf("republish terminal event of %s: %w", id, err)
	}
	return nil
}

// taskFailure is a failure of the task itself that no retry will mend.
type taskFailure struct {
	code string
	err  error
}

func (e *taskFailure) Error() string { return e.err.Error() }
func (e *taskFailure) Unwrap() error { return e.err }

func retryable(err error) bool {
	var tf *taskFailure
	return !errors.As(err, &tf) && llm.Retryable(err)
}

func failure(err error) store.Result {
	code := CodeProvider
	var tf *taskFailure
	if errors.As(err, &tf) {
		code = tf.code
	}
	return store.Result{Status: store.StatusFailed, Error: &store.TaskError{Code: code, Message: err.Error()}}
}
