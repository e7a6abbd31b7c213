package llm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attempt is one call to one model (or one skipped because its circuit is open), for the usage records.
type Attempt struct {
	// Provider is who was called: the model's provider, or "sim" where the simulated
	// provider stands in for it.
	Provider, Model           string
	InputTokens, OutputTokens int64
	CostMicros                int64 // at the model's price, for an answered call
	Latency                   time.Duration
	// Outcome is "ok", "rate_limited", "error" (5xx, timeout, network), "invalid", "auth",
	// "circuit_open" or "canceled". Skipped models are recorded too, without a call: an open
	// circuit as "circuit_open", a provider cooling down after 401/403 as "auth", a provider
	// that is not configured as "error".
	Outcome string
	Err     error // nil when ok
}

// The outcomes of an Attempt.
const (
	callerOK          = "ok"
	callerRateLimited = "rate_limited"
	callerFailed      = "error"
	callerInvalid     = "invalid"
	callerAuth        = "auth"
	callerOpen        = "circuit_open"
	callerCanceled    = "canceled"
)

// CallerConfig configures a Caller. Zero values take the defaults; negative ones are refused.
type CallerConfig struct {
	Providers       map[string]Provider // by provider name (the Model.Provider of the models called)
	MaxAttempts     int                 // calls across all models for one Call (default 6)
	Deadline        time.Duration       // the whole Call, retries and fallbacks included (default 2m; the ctx's own deadline also applies)
	RetriesPerModel int                 // retries of a retryable or rate-limited failure before failing over (default 2)
	// InitialBackoff and MaxBackoff shape the exponential backoff with jitter between retries
	// of one model (defaults 500ms, 10s). A 429's Retry-After replaces the backoff.
	InitialBackoff, MaxBackoff time.Duration
	FailuresToOpen             uint32        // consecutive failures that open a model's circuit (default 5)
	OpenFor                    time.Duration // how long a circuit stays open before a half-open probe (default 30s)
	AuthCooldown               time.Duration // how long a provider that answered 401/403 is not called (default 5m)
	// OnStateChange, optional, hears every breaker transition ("closed", "open", "half_open")
	// for logs and metrics. It is called in order, never while a breaker is locked, so it may
	// call States or Available.
	OnStateChange func(provider, model, from, to string)
	// Tracer, optional, records each provider call (each Attempt that called one) as a
	// client span "chat MODEL" with the OpenTelemetry GenAI attributes, in the Call's ctx.
	Tracer trace.Tracer
}

// Caller is the resilience layer every model call goes through: retries with backoff, a
// circuit breaker per model, failover along the fallback chain, a cooldown for providers
// that refuse our credentials, all within one attempt budget and one deadline per Call, so
// that nothing loops and one provider's outage does not cascade into every request.
//
// A model's circuit opens after FailuresToOpen consecutive retryable failures (5xx, the
// provider's timeouts, network errors), shared by every Call; while it is open the model is
// skipped without a call. After OpenFor one real call goes through as a probe, and its
// answer closes the circuit or opens it again. It is safe for concurrent use.
type Caller struct {
	cfg       CallerConfig
	providers map[string]Provider

	mu        sync.Mutex
	breakers  map[breakerKey]*gobreaker.CircuitBreaker[*Response]
	authUntil map[string]callerCooldown // by provider

	// Breaker transitions are queued here by gobreaker (which holds its lock while it reports
	// them) and delivered by breakerNotify once the lock is released.
	eventsMu sync.Mutex
	events   []breakerEvent
	notifyMu sync.Mutex // held by the one goroutine delivering events
}

// breakerEvent is one breaker transition waiting for OnStateChange.
type breakerEvent struct{ provider, model, from, to string }

// breakerKey names one model's breaker.
type breakerKey struct{ provider, model string }

// callerCooldown is a provider that answered 401/403: not called until the time passes.
type callerCooldown struct {
	until time.Time
	err   error
}

// NewCaller checks cfg, fills in the defaults and returns a Caller with no breakers yet.
func NewCaller(cfg CallerConfig) (*Caller, error) {
	if len(cfg.Providers) == 0 {
		return nil, errors.New("llm: caller: no providers")
	}
	for name, p := range cfg.Providers {
		if p == nil {
			return nil, fmt.Errorf("llm: caller: provider %q is nil", name)
		}
	}
	switch {
	case cfg.MaxAttempts < 0, cfg.RetriesPerModel < 0:
		return nil, errors.New("llm: caller: negative MaxAttempts or RetriesPerModel")
	case cfg.Deadline < 0, cfg.InitialBackoff < 0, cfg.MaxBackoff < 0, cfg.OpenFor < 0, cfg.AuthCooldown < 0:
		return nil, errors.New("llm: caller: negative duration")
	}
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, 6)
	cfg.Deadline = cmp.Or(cfg.Deadline, 2*time.Minute)
	cfg.RetriesPerModel = cmp.Or(cfg.RetriesPerModel, 2)
	cfg.InitialBackoff = cmp.Or(cfg.InitialBackoff, 500*time.Millisecond)
	cfg.MaxBackoff = max(cmp.Or(cfg.MaxBackoff, 10*time.Second), cfg.InitialBackoff)
	cfg.FailuresToOpen = cmp.Or(cfg.FailuresToOpen, 5)
	cfg.OpenFor = cmp.Or(cfg.OpenFor, 30*time.Second)
	cfg.AuthCooldown = cmp.Or(cfg.AuthCooldown, 5*time.Minute)
	// Our own copy, so that a caller changing its map cannot race with Call.
	providers := maps.Clone(cfg.Providers)
	cfg.Providers = nil
	return &Caller{
		cfg:       cfg,
		providers: providers,
		breakers:  make(map[breakerKey]*gobreaker.CircuitBreaker[*Response]),
		authUntil: make(map[string]callerCooldown),
	}, nil
}

// Call tries models in order — the router's choice, then its fallbacks — and returns the first answer, the model that gave it, and every attempt made.
//
// Each model is called with req.Model set to its id. A retryable failure (5xx, timeout,
// network) or a 429 is retried on the same model, after the backoff or the Retry-After,
// up to RetriesPerModel times; then, or at once when the wait would pass the deadline, the
// next model is tried. A 401/403 puts the provider in cooldown and fails over; an open
// circuit or an unconfigured provider is skipped. A 400/404/422 ends the Call: another
// model will not fix the request. MaxAttempts and Deadline bound the whole Call; when
// either runs out, or every model has failed, the error wraps the last provider error
// (errors.As finds the *Error) and says how many calls were made. If ctx is canceled the
// Call stops at once and its error wraps ctx.Err().
func (c *Caller) Call(ctx context.Context, models []Model, req Request) (*Response, Model, []Attempt, error) {
	if len(models) == 0 {
		return nil, Model{}, nil, errors.New("llm: call: no model to try")
	}
	bounded, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	r := &callerRun{c: c, parent: ctx, ctx: bounded, req: req}
	tried := make(map[breakerKey]bool, len(models))
	for _, m := range models {
		// A model listed twice would only repeat what has failed already.
		k := breakerKey{m.Provider, m.ID}
		if tried[k] {
			continue
		}
		tried[k] = true
		resp, stop, err := r.tryModel(m)
		if resp != nil {
			return resp, m, r.attempts, nil
		}
		if stop {
			return nil, Model{}, r.attempts, err
		}
	}
	return nil, Model{}, r.attempts, r.giveUp("no model answered")
}

// Available reports whether a model may be called now: its provider is configured and not cooling down after 401/403, and its circuit is closed or half-open. The router filters with it.
func (c *Caller) Available(m Model) bool {
	if _, ok := c.providers[m.Provider]; !ok || c.callerCooling(m.Provider) != nil {
		return false
	}
	c.mu.Lock()
	cb := c.breakers[breakerKey{m.Provider, m.ID}]
	c.mu.Unlock()
	if cb == nil { // never called: closed
		return true
	}
	st := cb.State() // may move an expired open circuit to half-open
	c.breakerNotify()
	return st != gobreaker.StateOpen
}

// BreakerState is one model's circuit.
type BreakerState struct{ Provider, Model, State string } // State: "closed" | "open" | "half_open"

// States returns every breaker made so far, sorted by provider then model.
func (c *Caller) States() []BreakerState {
	c.mu.Lock()
	keys := slices.Collect(maps.Keys(c.breakers))
	cbs := make([]*gobreaker.CircuitBreaker[*Response], len(keys))
	slices.SortFunc(keys, func(a, b breakerKey) int {
		return cmp.Or(cmp.Compare(a.provider, b.provider), cmp.Compare(a.model, b.model))
	})
	for i, k := range keys {
		cbs[i] = c.breakers[k]
	}
	c.mu.Unlock()

	out := make([]BreakerState, len(keys))
	for i, k := range keys {
		out[i] = BreakerState{Provider: k.provider, Model: k.model, State: breakerStateName(cbs[i].State())}
	}
	c.breakerNotify()
	return out
}

// callerRun is the state of one Call: what it has tried and what it has left.
type callerRun struct {
	c        *Caller
	parent   context.Context // the caller's own: its cancellation stops everything
	ctx      context.Context // parent bounded by Deadline: passed to providers and sleeps
	req      Request
	attempts []Attempt
	calls    int   // provider calls made, the MaxAttempts budget
	lastErr  error // the last provider error
	lastSkip error // the last reason a model was skipped, for when no provider was called
}

// tryModel calls m, retrying as its failures allow. It returns the answer, or stop with the
// error that ends the Call, or neither to fail over to the next model.
func (r *callerRun) tryModel(m Model) (*Response, bool, error) {
	if stop, err := r.exhausted(); stop {
		return nil, true, err
	}
	p, ok := r.c.providers[m.Provider]
	if !ok {
		r.skip(m, callerFailed, fmt.Errorf("llm: model %q: provider %q is not configured", m.ID, m.Provider))
		return nil, false, nil
	}
	if err := r.c.callerCooling(m.Provider); err != nil {
		r.skip(m, callerAuth, err)
		return nil, false, nil
	}
	cb := r.c.breaker(m)
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     r.c.cfg.InitialBackoff,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         r.c.cfg.MaxBackoff,
	}
	bo.Reset()
	req := r.req
	req.Model = m.ID

	for retry := 0; ; retry++ {
		if retry > 0 {
			if stop, err := r.exhausted(); stop {
				return nil, true, err
			}
		}
		called := false
		var span trace.Span
		start := time.Now()
		resp, err := cb.Execute(func() (*Response, error) {
			called = true
			ctx, s := r.c.startChat(r.ctx, p.Name(), req)
			span = s
			resp, err := p.Complete(ctx, req)
			if err == nil && resp == nil {
				err = &Error{Kind: KindRetryable, Provider: m.Provider, Err: errors.New("no response and no error")}
			}
			return resp, err
		})
		latency := time.Since(start)
		r.c.breakerNotify()
		if !called { // open, or half-open with its one probe already out
			r.skip(m, callerOpen, fmt.Errorf("llm: model %s/%s: %w", m.Provider, m.ID, err))
			return nil, false, nil
		}
		r.calls++
		a := Attempt{Provider: p.Name(), Model: m.ID, Latency: latency}
		if err == nil {
			a.InputTokens, a.OutputTokens = resp.InputTokens, resp.OutputTokens
			a.CostMicros = m.Cost(resp.InputTokens, resp.OutputTokens)
			a.Outcome = callerOK
			r.attempts = append(r.attempts, a)
			endChat(span, m.ID, resp, "", nil)
			return resp, true, nil
		}
		a.Outcome, a.Err = r.outcome(err), err
		endChat(span, m.ID, nil, a.Outcome, err)
		r.attempts = append(r.attempts, a)
		r.lastErr = err

		var wait time.Duration
		switch a.Outcome {
		case callerCanceled:
			return nil, true, r.canceled()
		case callerInvalid:
			return nil, true, r.giveUp(fmt.Sprintf("model %s/%s rejected the request", m.Provider, m.ID))
		case callerAuth:
			r.c.callerCoolDown(m.Provider, err)
			return nil, false, nil
		case callerRateLimited:
			var e *Error
			if errors.As(err, &e) && e.RetryAfter > 0 {
				wait = e.RetryAfter
			}
		}
		if retry >= r.c.cfg.RetriesPerModel {
			return nil, false, nil
		}
		if r.calls >= r.c.cfg.MaxAttempts {
			// No call is left to wait for: give up now, not after the backoff.
			return nil, true, r.giveUp("attempt budget spent")
		}
		if wait == 0 {
			// MaxInterval caps the interval before jitter, not after: cap it here.
			wait = min(bo.NextBackOff(), r.c.cfg.MaxBackoff)
		}
		if !r.sleep(wait) {
			if errors.Is(r.parent.Err(), context.Canceled) {
				return nil, true, r.canceled()
			}
			return nil, false, nil // the wait would pass the deadline: try the next model now
		}
	}
}

// outcome classifies a failed call for its Attempt.
func (r *callerRun) outcome(err error) string {
	if errors.Is(r.parent.Err(), context.Canceled) {
		return callerCanceled
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Kind {
		case KindInvalid:
			return callerInvalid
		case KindAuth:
			return callerAuth
		case KindRateLimited:
			return callerRateLimited
		}
	}
	return callerFailed // KindRetryable, or unclassified: network, timeout
}

// skip records a model that was not called.
func (r *callerRun) skip(m Model, outcome string, err error) {
	r.attempts = append(r.attempts, Attempt{Provider: m.Provider, Model: m.ID, Outcome: outcome, Err: err})
	r.lastSkip = err
}

// exhausted reports whether the Call must stop before another call, and its error.
func (r *callerRun) exhausted() (bool, error) {
	switch {
	case errors.Is(r.parent.Err(), context.Canceled):
		return true, r.canceled()
	case r.ctx.Err() != nil:
		return true, r.giveUp("deadline passed")
	case r.calls >= r.c.cfg.MaxAttempts:
		return true, r.giveUp("attempt budget spent")
	}
	return false, nil
}

// sleep waits d unless that would pass the deadline, and reports whether it did: false
// means the deadline is too close or ctx ended during the wait.
func (r *callerRun) sleep(d time.Duration) bool {
	if deadline, ok := r.ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// giveUp is the error of a Call that ends without an answer: it wraps the last provider
// error, or, when no provider was called, the reason the last model was skipped.
func (r *callerRun) giveUp(why string) error {
	cause := r.lastErr
	if cause == nil {
		cause = r.lastSkip
	}
	if cause == nil {
		cause = r.ctx.Err()
	}
	if cause == nil {
		cause = errors.New("no model could be called")
	}
	return fmt.Errorf("llm: call: %s after %d attempt(s): %w", why, r.calls, cause)
}

// canceled is the error of a Call whose ctx was canceled.
func (r *callerRun) canceled() error {
	return fmt.Errorf("llm: call canceled after %d attempt(s): %w", r.calls, r.parent.Err())
}

// callerCooling returns the 401/403 that keeps provider from being called, or nil.
func (c *Caller) callerCooling(provider string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cd, ok := c.authUntil[provider]
	if !ok {
		return nil
	}
	if !time.Now().Before(cd.until) {
		delete(c.authUntil, provider)
		return nil
	}
	return fmt.Errorf("llm: provider %q refused our credentials, not called until %s: %w",
		provider, cd.until.Format(time.RFC3339), cd.err)
}

// callerCoolDown keeps provider from being called for AuthCooldown: its credentials were
// refused, and calling again with them would only be refused again.
func (c *Caller) callerCoolDown(provider string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authUntil[provider] = callerCooldown{until: time.Now().Add(c.cfg.AuthCooldown), err: err}
}

// breaker returns m's circuit breaker, made on first use.
func (c *Caller) breaker(m Model) *gobreaker.CircuitBreaker[*Response] {
	k := breakerKey{m.Provider, m.ID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cb, ok := c.breakers[k]; ok {
		return cb
	}
	failures := c.cfg.FailuresToOpen
	cb := gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:        m.Provider + "/" + m.ID,
		MaxRequests: 1, // one half-open probe
		Timeout:     c.cfg.OpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= failures },
		// Only ill health counts against a model. A 400 is a well-formed answer from a healthy
		// service; a 429 is back-pressure and a 401/403 a credentials problem (the cooldown
		// handles those). A call cut short by the caller's cancellation or deadline says
		// nothing about the provider either: it may have had only a moment left. (A provider's
		// own timeouts are classified KindRetryable and do count; see classifyCall.)
		IsExcluded: func(err error) bool {
			var e *Error
			return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
				errors.As(err, &e) && (e.Kind == KindRateLimited || e.Kind == KindAuth)
		},
		IsSuccessful: func(err error) bool {
			var e *Error
			return err == nil || errors.As(err, &e) && e.Kind == KindInvalid
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if c.cfg.OnStateChange == nil {
				return
			}
			c.eventsMu.Lock()
			c.events = append(c.events, breakerEvent{k.provider, k.model, breakerStateName(from), breakerStateName(to)})
			c.eventsMu.Unlock()
		},
	})
	c.breakers[k] = cb
	return cb
}

// breakerNotify delivers queued breaker transitions to OnStateChange, in order, from one
// goroutine at a time. A call made while another goroutine delivers (or from inside the
// callback) leaves its events to that delivery, which loops until the queue is empty.
func (c *Caller) breakerNotify() {
	if c.cfg.OnStateChange == nil {
		return
	}
	for {
		if !c.notifyMu.TryLock() {
			return
		}
		for {
			c.eventsMu.Lock()
			events := c.events
			c.events = nil
			c.eventsMu.Unlock()
			if len(events) == 0 {
				break
			}
			for _, e := range events {
				c.cfg.OnStateChange(e.provider, e.model, e.from, e.to)
			}
		}
		c.notifyMu.Unlock()
		// An event queued after the last drain but before the unlock would otherwise wait
		// for the next transition: look once more.
		c.eventsMu.Lock()
		empty := len(c.events) == 0
		c.eventsMu.Unlock()
		if empty {
			return
		}
	}
}

// breakerStateName spells a gobreaker state as BreakerState does.
func breakerStateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half_open"
	default:
		return "closed"
	}
}

// startChat starts the client span of one provider call, "chat MODEL", when the Caller has
// a Tracer; span is nil otherwise.
func (c *Caller) startChat(ctx context.Context, provider string, req Request) (context.Context, trace.Span) {
	if c.cfg.Tracer == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.provider.name", provider),
		attribute.String("gen_ai.request.model", req.Model),
	}
	if req.MaxTokens > 0 {
		attrs = append(attrs, attribute.Int("gen_ai.request.max_tokens", req.MaxTokens))
	}
	return c.cfg.Tracer.Start(ctx, "chat "+req.Model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endChat ends a provider call's span (nil: none) with the answer's model and token counts,
// or the failure's outcome as error.type.
func endChat(span trace.Span, model string, resp *Response, outcome string, err error) {
	if span == nil {
		return
	}
	if resp != nil {
		span.SetAttributes(
			attribute.String("gen_ai.response.model", cmp.Or(resp.Model, model)),
			attribute.Int64("gen_ai.usage.input_tokens", resp.InputTokens),
			attribute.Int64("gen_ai.usage.output_tokens", resp.OutputTokens),
		)
	}
	if err != nil {
		span.SetAttributes(attribute.String("error.type", outcome))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
