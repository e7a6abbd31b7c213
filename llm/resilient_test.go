package llm_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

// callerResult is one scripted answer of a callerFake.
type callerResult struct {
	err  error
	hang bool          // wait until ctx is done, then fail with its error
	gate chan struct{} // if set, wait for it to close (or ctx) before answering
}

// callerFake is a scripted in-memory provider: Complete plays script in order, then repeats
// then for ever, and counts its calls.
type callerFake struct {
	name string

	mu     sync.Mutex
	script []callerResult
	then   callerResult
	calls  int
	models []string // req.Model of each call
}

func newCallerFake(name string, then callerResult, script ...callerResult) *callerFake {
	return &callerFake{name: name, script: script, then: then}
}

func (f *callerFake) Name() string { return f.name }

func (f *callerFake) Complete(ctx context.Context, req llm.Request) (*llm.Response, error) {
	f.mu.Lock()
	f.calls++
	f.models = append(f.models, req.Model)
	r := f.then
	if len(f.script) > 0 {
		r, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()

	if r.hang {
		<-ctx.Done()
		return nil, fmt.Errorf("%s: %w", f.name, ctx.Err())
	}
	if r.gate != nil {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", f.name, ctx.Err())
		case <-r.gate:
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	time.Sleep(time.Millisecond) // a latency to measure
	return &llm.Response{Content: "answer from " + f.name, InputTokens: 1000, OutputTokens: 500, Model: req.Model}, nil
}

// Calls returns how many times Complete was called.
func (f *callerFake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// setThen changes what the provider answers once its script is played: an outage ends.
func (f *callerFake) setThen(r callerResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.then = r
}

var callerAnswer = callerResult{}

func callerFail(provider string, kind llm.ErrorKind, status int, retryAfter time.Duration) callerResult {
	return callerResult{err: &llm.Error{Kind: kind, Provider: provider, Status: status, RetryAfter: retryAfter,
		Err: fmt.Errorf("HTTP %d", status)}}
}

func caller503(provider string) callerResult {
	return callerFail(provider, llm.KindRetryable, 503, 0)
}

// callerModel is a model priced at $2 in, $8 out per million tokens.
func callerModel(id, provider string) llm.Model {
	return llm.Model{ID: id, Provider: provider, Quality: 80, ContextWindow: 100_000,
		InputPerMillion: 2_000_000, OutputPerMillion: 8_000_000}
}

// callerConfig is a fast configuration over the fakes.
func callerConfig(providers ...llm.Provider) llm.CallerConfig {
	m := make(map[string]llm.Provider, len(providers))
	for _, p := range providers {
		m[p.Name()] = p
	}
	return llm.CallerConfig{
		Providers:      m,
		Deadline:       2 * time.Second,
		InitialBackoff: time.Millisecond,
		MaxBackoff:     5 * time.Millisecond,
		OpenFor:        50 * time.Millisecond,
		AuthCooldown:   50 * time.Millisecond,
	}
}

func newCallerT(t *testing.T, cfg llm.CallerConfig) *llm.Caller {
	t.Helper()
	c, err := llm.NewCaller(cfg)
	require.NoError(t, err)
	return c
}

var callerReq = llm.Request{Messages: []llm.Message{{Role: "user", Content: "hello"}}}

func callerOutcomes(attempts []llm.Attempt) []string {
	out := make([]string, len(attempts))
	for i, a := range attempts {
		out[i] = a.Model + ":" + a.Outcome
	}
	return out
}

func TestNewCallerValidatesConfig(t *testing.T) {
	t.Parallel()
	_, err := llm.NewCaller(llm.CallerConfig{})
	require.Error(t, err, "no providers")
	_, err = llm.NewCaller(llm.CallerConfig{Providers: map[string]llm.Provider{"x": nil}})
	require.Error(t, err, "nil provider")
	p := map[string]llm.Provider{"sim": llm.NewSim(llm.SimConfig{})}
	_, err = llm.NewCaller(llm.CallerConfig{Providers: p, MaxAttempts: -1})
	require.Error(t, err)
	_, err = llm.NewCaller(llm.CallerConfig{Providers: p, Deadline: -time.Second})
	require.Error(t, err)
	c, err := llm.NewCaller(llm.CallerConfig{Providers: p})
	require.NoError(t, err)
	require.Empty(t, c.States())

	_, _, _, err = c.Call(t.Context(), nil, callerReq)
	require.Error(t, err, "no models")
}

func TestCallerAnswersFirstTime(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerAnswer)
	c := newCallerT(t, callerConfig(p))
	m := callerModel("model-a", "prov")

	resp, got, attempts, err := c.Call(t.Context(), []llm.Model{m, callerModel("model-b", "prov")}, callerReq)
	require.NoError(t, err)
	require.Equal(t, "answer from prov", resp.Content)
	require.Equal(t, "model-a", got.ID)
	require.Equal(t, []string{"model-a"}, p.models, "the request names the model called")
	require.Len(t, attempts, 1)
	a := attempts[0]
	require.Equal(t, "prov", a.Provider)
	require.Equal(t, "model-a", a.Model)
	require.Equal(t, "ok", a.Outcome)
	require.NoError(t, a.Err)
	require.Equal(t, int64(1000), a.InputTokens)
	require.Equal(t, int64(500), a.OutputTokens)
	require.Equal(t, int64(6000), a.CostMicros, "1000 in at $2/M + 500 out at $8/M = $0.006")
	require.Equal(t, m.Cost(1000, 500), a.CostMicros)
	require.GreaterOrEqual(t, a.Latency, time.Millisecond)
	require.Equal(t, []llm.BreakerState{{Provider: "prov", Model: "model-a", State: "closed"}}, c.States())
}

func TestCallerRetriesRetryableOnSameModel(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerAnswer, caller503("prov"), caller503("prov"))
	fallback := newCallerFake("backup", callerAnswer)
	c := newCallerT(t, callerConfig(p, fallback))

	_, got, attempts, err := c.Call(t.Context(),
		[]llm.Model{callerModel("model-a", "prov"), callerModel("model-b", "backup")}, callerReq)
	require.NoError(t, err)
	require.Equal(t, "model-a", got.ID)
	require.Equal(t, 3, p.Calls())
	require.Zero(t, fallback.Calls())
	require.Equal(t, []string{"model-a:error", "model-a:error", "model-a:ok"}, callerOutcomes(attempts))
	var e *llm.Error
	require.ErrorAs(t, attempts[0].Err, &e)
	require.Equal(t, 503, e.Status)
}

func TestCallerFailsOverAfterRetries(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", caller503("prov"))
	fallback := newCallerFake("backup", callerAnswer)
	cfg := callerConfig(p, fallback)
	cfg.RetriesPerModel = 2
	c := newCallerT(t, cfg)

	resp, got, attempts, err := c.Call(t.Context(),
		[]llm.Model{callerModel("model-a", "prov"), callerModel("model-b", "backup")}, callerReq)
	require.NoError(t, err)
	require.Equal(t, "answer from backup", resp.Content)
	require.Equal(t, "model-b", got.ID)
	require.Equal(t, 3, p.Calls(), "one call and RetriesPerModel retries")
	require.Equal(t, 1, fallback.Calls())
	require.Equal(t, []string{"model-a:error", "model-a:error", "model-a:error", "model-b:ok"}, callerOutcomes(attempts))
}

func TestCallerInvalidStopsAtOnce(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerFail("prov", llm.KindInvalid, 400, 0))
	fallback := newCallerFake("backup", callerAnswer)
	c := newCallerT(t, callerConfig(p, fallback))

	resp, _, attempts, err := c.Call(t.Context(),
		[]llm.Model{callerModel("model-a", "prov"), callerModel("model-b", "backup")}, callerReq)
	require.Error(t, err)
	require.Nil(t, resp)
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, llm.KindInvalid, e.Kind)
	require.Contains(t, err.Error(), "1 attempt")
	require.Equal(t, 1, p.Calls())
	require.Zero(t, fallback.Calls(), "another model will not fix a bad request")
	require.Equal(t, []string{"model-a:invalid"}, callerOutcomes(attempts))
	require.Equal(t, "closed", c.States()[0].State)
}

func TestCallerAuthCoolsDownProvider(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerAnswer, callerFail("prov", llm.KindAuth, 401, 0))
	fallback := newCallerFake("backup", callerAnswer)
	cfg := callerConfig(p, fallback)
	cfg.AuthCooldown = 80 * time.Millisecond
	c := newCallerT(t, cfg)
	models := []llm.Model{callerModel("model-a", "prov"), callerModel("model-b", "backup")}

	_, got, attempts, err := c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "model-b", got.ID)
	require.Equal(t, []string{"model-a:auth", "model-b:ok"}, callerOutcomes(attempts))
	require.Equal(t, 1, p.Calls(), "a 401 is not retried")
	require.False(t, c.Available(models[0]))
	require.False(t, c.Available(callerModel("model-a2", "prov")), "the whole provider cools down")
	require.True(t, c.Available(models[1]))

	_, got, attempts, err = c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "model-b", got.ID)
	require.Equal(t, []string{"model-a:auth", "model-b:ok"}, callerOutcomes(attempts))
	require.Equal(t, 1, p.Calls(), "not called while cooling down")
	var e *llm.Error
	require.ErrorAs(t, attempts[0].Err, &e)
	require.Equal(t, 401, e.Status)

	require.Eventually(t, func() bool { return c.Available(models[0]) }, time.Second, 5*time.Millisecond)
	_, got, _, err = c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "model-a", got.ID)
	require.Equal(t, 2, p.Calls())
}

func TestCallerSkipsUnconfiguredProvider(t *testing.T) {
	t.Parallel()
	fallback := newCallerFake("backup", callerAnswer)
	c := newCallerT(t, callerConfig(fallback))
	ghost := callerModel("ghost-model", "ghost")
	require.False(t, c.Available(ghost))

	_, got, attempts, err := c.Call(t.Context(), []llm.Model{ghost, callerModel("model-b", "backup")}, callerReq)
	require.NoError(t, err)
	require.Equal(t, "model-b", got.ID)
	require.Equal(t, []string{"ghost-model:error", "model-b:ok"}, callerOutcomes(attempts))
	require.ErrorContains(t, attempts[0].Err, "not configured")

	_, _, attempts, err = c.Call(t.Context(), []llm.Model{ghost}, callerReq)
	require.ErrorContains(t, err, "not configured")
	require.ErrorContains(t, err, "0 attempt")
	require.Len(t, attempts, 1)
}

func TestCallerTriesAModelListedTwiceOnce(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerFail("prov", llm.KindAuth, 403, 0))
	c := newCallerT(t, callerConfig(p))
	m := callerModel("model-a", "prov")
	_, _, attempts, err := c.Call(t.Context(), []llm.Model{m, m, m}, callerReq)
	require.Error(t, err)
	require.Len(t, attempts, 1)
	require.Equal(t, 1, p.Calls())
}

// callerStateLog records OnStateChange calls.
type callerStateLog struct {
	mu     sync.Mutex
	events []string
}

func (l *callerStateLog) add(provider, model, from, to string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, provider+"/"+model+" "+from+">"+to)
}

func (l *callerStateLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func TestBreakerOpensOnOutageAndProbes(t *testing.T) {
	t.Parallel()
	down := newCallerFake("down", caller503("down"))
	up := newCallerFake("up", callerAnswer)
	var log callerStateLog
	var c *llm.Caller
	cfg := callerConfig(down, up)
	cfg.FailuresToOpen = 3
	cfg.RetriesPerModel = 2
	cfg.OpenFor = 50 * time.Millisecond
	cfg.OnStateChange = func(provider, model, from, to string) {
		log.add(provider, model, from, to)
		_ = c.States() // the callback may call back into the Caller
	}
	c = newCallerT(t, cfg)
	primary, fallback := callerModel("primary", "down"), callerModel("fallback", "up")
	models := []llm.Model{primary, fallback}
	states := func(primaryState string) []llm.BreakerState {
		return []llm.BreakerState{
			{Provider: "down", Model: "primary", State: primaryState},
			{Provider: "up", Model: "fallback", State: "closed"},
		}
	}

	// The outage: FailuresToOpen consecutive 503s open the primary's circuit.
	_, got, attempts, err := c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "fallback", got.ID)
	require.Equal(t, []string{"primary:error", "primary:error", "primary:error", "fallback:ok"}, callerOutcomes(attempts))
	require.Equal(t, states("open"), c.States())
	require.False(t, c.Available(primary))
	require.Equal(t, 3, down.Calls())

	// Later calls skip it at once.
	for range 3 {
		_, got, attempts, err = c.Call(t.Context(), models, callerReq)
		require.NoError(t, err)
		require.Equal(t, "fallback", got.ID)
		require.Equal(t, []string{"primary:circuit_open", "fallback:ok"}, callerOutcomes(attempts))
		require.Zero(t, attempts[0].Latency)
	}
	require.Equal(t, 3, down.Calls(), "an open circuit is not called")

	// After OpenFor, one probe; the provider is still down, so the circuit opens again.
	require.Eventually(t, func() bool { return c.Available(primary) }, time.Second, 5*time.Millisecond)
	require.Equal(t, states("half_open"), c.States())
	_, got, attempts, err = c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "fallback", got.ID)
	require.Equal(t, []string{"primary:error", "primary:circuit_open", "fallback:ok"}, callerOutcomes(attempts))
	require.Equal(t, 4, down.Calls(), "exactly one probe")
	require.Equal(t, states("open"), c.States())

	// The provider recovers: the next probe answers and the circuit closes.
	down.setThen(callerAnswer)
	require.Eventually(t, func() bool { return c.Available(primary) }, time.Second, 5*time.Millisecond)
	_, got, attempts, err = c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "primary", got.ID)
	require.Equal(t, []string{"primary:ok"}, callerOutcomes(attempts))
	require.Equal(t, states("closed"), c.States())

	require.Equal(t, []string{
		"down/primary closed>open",
		"down/primary open>half_open",
		"down/primary half_open>open",
		"down/primary open>half_open",
		"down/primary half_open>closed",
	}, log.get())
}

func TestBreakerHalfOpenLetsOneProbeThrough(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	down := newCallerFake("down", callerResult{gate: gate}, caller503("down"))
	up := newCallerFake("up", callerAnswer)
	cfg := callerConfig(down, up)
	cfg.FailuresToOpen = 1
	c := newCallerT(t, cfg)
	primary := callerModel("primary", "down")
	models := []llm.Model{primary, callerModel("fallback", "up")}

	_, got, _, err := c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "fallback", got.ID)
	require.Eventually(t, func() bool { return c.Available(primary) }, time.Second, 5*time.Millisecond)

	// The probe hangs at the gate; meanwhile another Call must not send a second one.
	probe := make(chan string, 1)
	go func() {
		_, m, _, err := c.Call(context.Background(), models, callerReq)
		if err != nil {
			probe <- err.Error()
			return
		}
		probe <- m.ID
	}()
	require.Eventually(t, func() bool { return down.Calls() == 2 }, time.Second, time.Millisecond)
	_, got, attempts, err := c.Call(t.Context(), models, callerReq)
	require.NoError(t, err)
	require.Equal(t, "fallback", got.ID)
	require.Equal(t, []string{"primary:circuit_open", "fallback:ok"}, callerOutcomes(attempts))
	require.Equal(t, 2, down.Calls())

	close(gate)
	require.Equal(t, "primary", <-probe)
	require.Equal(t, "closed", c.States()[0].State)
}

func TestBreakerCountsOnlyRetryableFailures(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", caller503("prov"),
		callerFail("prov", llm.KindRateLimited, 429, time.Millisecond),
		callerFail("prov", llm.KindRateLimited, 429, time.Millisecond),
		callerFail("prov", llm.KindRateLimited, 429, 0),
		callerFail("prov", llm.KindInvalid, 422, 0),
		callerFail("prov", llm.KindAuth, 403, 0),
	)
	cfg := callerConfig(p)
	cfg.FailuresToOpen = 2
	cfg.RetriesPerModel = 5
	cfg.AuthCooldown = time.Millisecond
	c := newCallerT(t, cfg)
	m := callerModel("model-a", "prov")

	// Three 429s then a 422: none is ill health.
	_, _, attempts, err := c.Call(t.Context(), []llm.Model{m}, callerReq)
	require.Error(t, err)
	require.Equal(t, []string{"model-a:rate_limited", "model-a:rate_limited", "model-a:rate_limited", "model-a:invalid"}, callerOutcomes(attempts))
	require.Equal(t, "closed", c.States()[0].State)

	// A 403, neither.
	_, _, _, err = c.Call(t.Context(), []llm.Model{m}, callerReq)
	require.Error(t, err)
	require.Equal(t, "closed", c.States()[0].State)

	// Two 503s are.
	require.Eventually(t, func() bool { return c.Available(m) }, time.Second, time.Millisecond)
	_, _, attempts, err = c.Call(t.Context(), []llm.Model{m}, callerReq)
	require.Error(t, err)
	require.Equal(t, []string{"model-a:error", "model-a:error", "model-a:circuit_open"}, callerOutcomes(attempts))
	require.Equal(t, "open", c.States()[0].State)
}

func TestCaller429StormEndsWithinBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		maxAttempts, tries int
		deadline           time.Duration
		wantCalls          int // 0: at most maxAttempts
	}{
		{name: "budget", maxAttempts: 4, tries: 10, deadline: time.Second, wantCalls: 4},
		{name: "retries per model", maxAttempts: 10, tries: 1, deadline: time.Second, wantCalls: 8},
		{name: "deadline", maxAttempts: 1000, tries: 1000, deadline: 150 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var providers []llm.Provider
			var fakes []*callerFake
			var models []llm.Model
			for _, name := range []string{"p1", "p2", "p3", "p4"} {
				f := newCallerFake(name, callerFail(name, llm.KindRateLimited, 429, 20*time.Millisecond))
				fakes = append(fakes, f)
				providers = append(providers, f)
				models = append(models, callerModel("m-"+name, name))
			}
			cfg := callerConfig(providers...)
			cfg.MaxAttempts = tc.maxAttempts
			cfg.RetriesPerModel = tc.tries
			cfg.Deadline = tc.deadline
			c := newCallerT(t, cfg)

			start := time.Now()
			resp, _, attempts, err := c.Call(t.Context(), models, callerReq)
			elapsed := time.Since(start)
			require.Error(t, err)
			require.Nil(t, resp)
			var e *llm.Error
			require.ErrorAs(t, err, &e, "the last provider error is wrapped")
			require.Equal(t, llm.KindRateLimited, e.Kind)
			require.Less(t, elapsed, tc.deadline+100*time.Millisecond)

			calls := 0
			for _, f := range fakes {
				calls += f.Calls()
			}
			require.Len(t, attempts, calls)
			require.LessOrEqual(t, calls, tc.maxAttempts)
			if tc.wantCalls > 0 {
				require.Equal(t, tc.wantCalls, calls)
			}
			require.Contains(t, err.Error(), fmt.Sprintf("after %d attempt", calls))
			for _, s := range c.States() {
				require.Equal(t, "closed", s.State, "429 is back-pressure, not ill health")
			}
		})
	}
}

func TestCallerFailsOverWhenRetryAfterPassesDeadline(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerFail("prov", llm.KindRateLimited, 429, 10*time.Second))
	fallback := newCallerFake("backup", callerAnswer)
	cfg := callerConfig(p, fallback)
	cfg.Deadline = 500 * time.Millisecond
	c := newCallerT(t, cfg)

	start := time.Now()
	_, got, attempts, err := c.Call(t.Context(),
		[]llm.Model{callerModel("model-a", "prov"), callerModel("model-b", "backup")}, callerReq)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 250*time.Millisecond, "did not wait for the Retry-After")
	require.Equal(t, "model-b", got.ID)
	require.Equal(t, []string{"model-a:rate_limited", "model-b:ok"}, callerOutcomes(attempts))
}

// The last call the attempt budget allows ends the Call at once: no backoff or Retry-After
// is waited for a call that will not be made.
func TestCallerSpentBudgetWaitsForNothing(t *testing.T) {
	t.Parallel()
	p := newCallerFake("prov", callerFail("prov", llm.KindRateLimited, 429, 1500*time.Millisecond))
	cfg := callerConfig(p)
	cfg.MaxAttempts, cfg.Deadline = 1, 5*time.Second
	c := newCallerT(t, cfg)

	start := time.Now()
	_, _, attempts, err := c.Call(t.Context(), []llm.Model{callerModel("model-a", "prov")}, callerReq)
	require.ErrorContains(t, err, "attempt budget spent")
	require.Less(t, time.Since(start), 500*time.Millisecond, "waited out a Retry-After with no call left")
	require.Equal(t, []string{"model-a:rate_limited"}, callerOutcomes(attempts))
}

func TestCallerDeadlineBoundsHangingProvider(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		deadline time.Duration // CallerConfig.Deadline
		ctx      time.Duration // the ctx's own timeout, 0 for none
	}{
		{name: "config deadline", deadline: 50 * time.Millisecond},
		{name: "ctx deadline", deadline: time.Minute, ctx: 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hung := newCallerFake("hung", callerResult{hang: true})
			fallback := newCallerFake("backup", callerAnswer)
			cfg := callerConfig(hung, fallback)
			cfg.Deadline = tc.deadline
			cfg.FailuresToOpen = 1
			c := newCallerT(t, cfg)
			ctx := t.Context()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}

			start := time.Now()
			_, _, attempts, err := c.Call(ctx, []llm.Model{callerModel("model-a", "hung"), callerModel("model-b", "backup")}, callerReq)
			elapsed := time.Since(start)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorContains(t, err, "1 attempt")
			require.GreaterOrEqual(t, elapsed, 50*time.Millisecond)
			require.Less(t, elapsed, time.Second)
			require.Equal(t, []string{"model-a:error"}, callerOutcomes(attempts))
			require.Zero(t, fallback.Calls(), "the deadline is spent")
			require.Equal(t, "closed", c.States()[0].State, "the caller's deadline is not the provider's failure")
		})
	}
}

func TestCallerCanceledStopsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		primary callerResult
	}{
		{name: "during a call", primary: callerResult{hang: true}},
		{name: "during a backoff", primary: caller503("prov")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newCallerFake("prov", tc.primary)
			fallback := newCallerFake("backup", callerAnswer)
			cfg := callerConfig(p, fallback)
			cfg.FailuresToOpen = 1
			cfg.InitialBackoff, cfg.MaxBackoff = 10*time.Second, 10*time.Second
			cfg.Deadline = time.Minute
			c := newCallerT(t, cfg)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(30*time.Millisecond, cancel)

			start := time.Now()
			_, _, attempts, err := c.Call(ctx, []llm.Model{callerModel("model-a", "prov"), callerModel("model-b", "backup")}, callerReq)
			require.ErrorIs(t, err, context.Canceled)
			require.Less(t, time.Since(start), time.Second)
			require.Equal(t, 1, p.Calls())
			require.Zero(t, fallback.Calls())
			require.Len(t, attempts, 1)
			if tc.primary.hang {
				require.Equal(t, "canceled", attempts[0].Outcome)
				require.Equal(t, "closed", c.States()[0].State, "our own cancellation is not the provider's failure")
			}
		})
	}
}

func TestCallerConcurrentCalls(t *testing.T) {
	t.Parallel()
	flaky := llm.NewSim(llm.SimConfig{FailRate: 0.5})
	backup := newCallerFake("backup", callerAnswer)
	var transitions atomic.Int64
	var c *llm.Caller
	var log callerStateLog
	cfg := llm.CallerConfig{
		Providers:      map[string]llm.Provider{"sim": flaky, "backup": backup},
		MaxAttempts:    4,
		Deadline:       5 * time.Second,
		InitialBackoff: time.Millisecond,
		MaxBackoff:     2 * time.Millisecond,
		FailuresToOpen: 2,
		OpenFor:        5 * time.Millisecond,
		OnStateChange: func(provider, model, from, to string) {
			transitions.Add(1)
			log.add(provider, model, from, to)
			_ = c.Available(callerModel(model, provider))
		},
	}
	c = newCallerT(t, cfg)
	models := []llm.Model{callerModel("sim", "sim"), callerModel("model-b", "backup")}

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 25 {
				resp, got, attempts, err := c.Call(t.Context(), models, callerReq)
				if !(err == nil && resp != nil && got.ID != "") {
					t.Errorf("call failed: %v", err)
					return
				}
				calls := 0
				for _, a := range attempts {
					if a.Outcome != "circuit_open" {
						calls++
					}
				}
				if calls > cfg.MaxAttempts {
					t.Errorf("%d calls, budget %d", calls, cfg.MaxAttempts)
				}
				_ = c.States()
				_ = c.Available(models[0])
			}
		})
	}
	wg.Wait()
	require.Positive(t, transitions.Load(), "half the calls fail: the circuit must have opened")

	// Delivered in order: each transition starts where the previous one ended.
	state := "closed"
	for _, e := range log.get() {
		name, change, _ := strings.Cut(e, " ")
		from, to, ok := strings.Cut(change, ">")
		require.True(t, ok, e)
		require.Equal(t, "sim/sim", name)
		require.Equal(t, state, from, "events out of order: %v", log.get())
		state = to
	}
}
