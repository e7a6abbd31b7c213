package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/promtest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/telemetry"
)

// counted is a provider that counts its calls and makes every answer its own (the sim's,
// numbered), so a task whose output equals an earlier one's was answered from the cache.
type counted struct {
	llm.Provider
	calls atomic.Int64
}

func (c *counted) Complete(ctx context.Context, req llm.Request) (*llm.Response, error) {
	n := c.calls.Add(1)
	resp, err := c.Provider.Complete(ctx, req)
	if err != nil {
		return nil, err
	}
	resp.Content = fmt.Sprintf("%s (answer %d)", resp.Content, n)
	return resp, nil
}

// broken is a cache that is down: every call fails as Redis's do when it does not answer.
type broken struct{ cache.Cache }

func (broken) Get(context.Context, cache.Key, any) (bool, error) {
	return false, fmt.Errorf("%w: connection refused", cache.ErrUnavailable)
}

func (broken) Add(context.Context, cache.Key, any, time.Duration) (bool, error) {
	return false, fmt.Errorf("%w: connection refused", cache.ErrUnavailable)
}

func (broken) Set(context.Context, cache.Key, any, time.Duration) error {
	return fmt.Errorf("%w: connection refused", cache.ErrUnavailable)
}

// priced is the one model of the response cache tests: the sim at a price, so that a call
// costs something and a cached answer saves it.
var priced = llm.Model{ID: "gpt-4o-mini", Provider: "sim", ContextWindow: 128_000,
	InputPerMillion: 150_000, OutputPerMillion: 600_000}

// The LLM response cache, on Redis and in memory: the same summarizer task submitted twice by
// one tenant is answered once by the model and once from the cache (same output, a "cached"
// call that cost nothing and saved the first call's cost, counted in usage and as a hit); a
// task that opts out calls the model again; another tenant's identical task is not served
// the first tenant's answer; a task is answered from the cache only by the model it was
// stored for.
func TestResponseCache(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cache func(t *testing.T) cache.Cache
	}{
		{"redis", func(t *testing.T) cache.Cache {
			rc, prefix := redistest.Client(t)
			return cache.NewRedis(rc, prefix)
		}},
		{"memory", func(*testing.T) cache.Cache { return cache.NewMemory(0, nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := telemetry.NewMetrics()
			require.NoError(t, err)
			h := newHarness(t, 5*time.Second)
			cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
			cfg.Meter = m.Meter("github.com/agentic-run/agentic/handlers")
			cfg.Responses = tc.cache(t)
			p := &counted{Provider: llm.NewSim(llm.SimConfig{})}
			h.serve(&cfg, p, priced)
			h.runTasks(cfg, time.Second)
			ctx := t.Context()
			const input = `{"text":"Agentic runs AI agents as tasks. It is durable. It is fair."}`
			cached := func(t *store.Task) { t.Cache = true }
			run := func(mutate ...func(*store.Task)) *store.Task {
				t.Helper()
				tk := h.submit("summarizer", input, mutate...)
				return h.waitStatus(tk.ID, store.StatusSucceeded, 10*time.Second)
			}
			onlyCall := func(tk *store.Task) store.LLMCall {
				t.Helper()
				calls, err := h.store.ListCalls(ctx, tk.TenantID, tk.ID)
				require.NoError(t, err)
				require.Len(t, calls, 1)
				return calls[0]
			}

			first := run(cached)
			require.EqualValues(t, 1, p.calls.Load())
			firstCall := onlyCall(first)
			require.Equal(t, "ok", firstCall.Outcome)
			require.Positive(t, first.CostMicros)
			require.Equal(t, first.CostMicros, firstCall.CostMicros)

			// The same task again: the cache answers, at no cost.
			second := run(cached)
			require.EqualValues(t, 1, p.calls.Load(), "the model was not called again")
			require.JSONEq(t, string(first.Output), string(second.Output), "the first task's answer")
			require.Equal(t, first.Model, second.Model)
			require.Equal(t, first.Provider, second.Provider)
			require.Zero(t, second.CostMicros, "a cached answer costs nothing")
			require.Zero(t, second.InputTokens+second.OutputTokens, "and consumes no tokens")
			call := onlyCall(second)
			require.Equal(t, store.OutcomeCached, call.Outcome)
			require.Zero(t, call.CostMicros)
			require.Equal(t, first.CostMicros, call.SavedMicros, "it saved what the first call cost")
			require.Equal(t, firstCall.InputTokens, call.InputTokens, "the cached answer's tokens")
			require.Equal(t, firstCall.OutputTokens, call.OutputTokens)
			require.Equal(t, first.Model, call.Model)
			require.Equal(t, second.Attempts, call.Attempt)

			// Opted out: the model again, and its answer is not the cached one.
			fresh := run()
			require.False(t, fresh.Cache)
			require.EqualValues(t, 2, p.calls.Load(), "a task with cache=false calls the model")
			require.NotEqual(t, string(first.Output), string(fresh.Output))
			require.Equal(t, "ok", onlyCall(fresh).Outcome)
			require.Positive(t, fresh.CostMicros)
			// ...and did not replace the entry: the next task still gets the first answer.
			third := run(cached)
			require.EqualValues(t, 2, p.calls.Load())
			require.JSONEq(t, string(first.Output), string(third.Output))

			// Another tenant, the same input: its own call, its own answer.
			other := &store.Tenant{ID: store.NewID("ten"), Name: "globex", Tier: "pro",
				WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: time.Now()}
			require.NoError(t, h.store.CreateTenant(ctx, other))
			theirs := run(cached, func(t *store.Task) { t.TenantID = other.ID })
			require.EqualValues(t, 3, p.calls.Load(), "tenant B is not served tenant A's entry")
			require.NotEqual(t, string(first.Output), string(theirs.Output))
			require.Equal(t, "ok", onlyCall(theirs).Outcome)
			require.Positive(t, theirs.CostMicros)
			// ...which it now has for itself.
			again := run(cached, func(t *store.Task) { t.TenantID = other.ID })
			require.EqualValues(t, 3, p.calls.Load())
			require.JSONEq(t, string(theirs.Output), string(again.Output))

			// Usage: the tenant's cached calls and what they saved.
			from := time.Now().Add(-time.Hour)
			u, err := h.store.Usage(ctx, h.tenant.ID, from, time.Now().Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, store.CachedUsage{Calls: 2, SavedMicros: 2 * first.CostMicros}, u.Cached)
			require.Equal(t, first.CostMicros+fresh.CostMicros, u.CostMicros, "only the two calls made cost")
			u, err = h.store.Usage(ctx, other.ID, from, time.Now().Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, store.CachedUsage{Calls: 1, SavedMicros: theirs.CostMicros}, u.Cached)

			// Metrics: every lookup of a task that uses the cache, by result.
			lookups := func(result string) float64 {
				return promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
					`cache="`+handlers.ResponseCacheName+`"`, `result="`+result+`"`)
			}
			require.EqualValues(t, 3, lookups("hit"))
			require.EqualValues(t, 2, lookups("miss"))
			require.EqualValues(t, -1, lookups("error"), "no lookup failed")
		})
	}
}

// A response cache that is down is no cache: every task calls the model and succeeds.
func TestResponseCacheDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	cfg.Responses = broken{Cache: cache.NewMemory(0, nil)}
	p := &counted{Provider: llm.NewSim(llm.SimConfig{})}
	h.serve(&cfg, p, priced)
	h.runTasks(cfg, time.Second)
	for i := range 2 {
		tk := h.submit("summarizer", `{"text":"The cache is down."}`, func(t *store.Task) { t.Cache = true })
		done := h.waitStatus(tk.ID, store.StatusSucceeded, 10*time.Second)
		require.EqualValues(t, i+1, p.calls.Load())
		require.Positive(t, done.CostMicros)
	}
}

// An entry under a task's key that is not an answer is ignored and overwritten by the model's
// answer, which the next task gets.
func TestResponseCacheCorruptEntry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	mem := cache.NewMemory(0, nil)
	cfg.Responses = mem
	p := &counted{Provider: llm.NewSim(llm.SimConfig{})}
	h.serve(&cfg, p, priced)
	h.runTasks(cfg, time.Second)
	const input = `{"text":"Corrupt entries are ignored."}`
	cached := func(t *store.Task) { t.Cache = true }
	summarizer, err := h.agents.Get("summarizer")
	require.NoError(t, err)
	msgs, err := summarizer.Prompt(json.RawMessage(input))
	require.NoError(t, err)
	key, err := handlers.ResponseKey(h.tenant.ID, "summarizer", priced.ID, msgs, summarizer.MaxOutputTokens)
	require.NoError(t, err)

	cases := []struct {
		name string
		bad  any
	}{
		{"not an answer", []int{1, 2, 3}},
		{"another model's", map[string]any{"content": "x", "provider": "sim", "model": "other", "cost_micros": 1}},
		{"no provider", map[string]any{"content": "x", "model": priced.ID, "cost_micros": 1}},
	}
	for _, c := range cases {
		require.NoError(t, mem.Set(t.Context(), key, c.bad, time.Hour))
		before := p.calls.Load()
		tk := h.waitStatus(h.submit("summarizer", input, cached).ID, store.StatusSucceeded, 10*time.Second)
		require.Equal(t, before+1, p.calls.Load(), "%s: the model was called", c.name)
		next := h.waitStatus(h.submit("summarizer", input, cached).ID, store.StatusSucceeded, 10*time.Second)
		require.Equal(t, before+1, p.calls.Load(), "%s: the entry was overwritten with the answer", c.name)
		require.JSONEq(t, string(tk.Output), string(next.Output), c.name)
		require.Equal(t, 1, mem.Len(), "%s: one entry, under the task's key", c.name)
	}
}

// refusing is a provider that refuses our credentials: its models fail over at once.
type refusing struct{}

func (refusing) Name() string { return "refusing" }

func (refusing) Complete(context.Context, llm.Request) (*llm.Response, error) {
	return nil, &llm.Error{Kind: llm.KindAuth, Provider: "refusing", Status: 401, Err: errProvider}
}

// An answer of a fallback model is not stored: the key names the router's choice, and a
// fallback's answer is not that model's.
func TestResponseCacheSkipsFallbackAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	mem := cache.NewMemory(0, nil)
	cfg.Responses = mem
	p := &counted{Provider: llm.NewSim(llm.SimConfig{})}
	chosen := llm.Model{ID: "cheap", Provider: "refusing", Quality: 100, ContextWindow: 128_000,
		InputPerMillion: 1, OutputPerMillion: 1, Fallbacks: []string{priced.ID}}
	fallback := priced
	fallback.Quality = 100
	reg, err := llm.NewRegistry([]llm.Model{chosen, fallback})
	require.NoError(t, err)
	caller, err := llm.NewCaller(llm.CallerConfig{Providers: map[string]llm.Provider{"refusing": refusing{}, "sim": p},
		MaxAttempts: 2})
	require.NoError(t, err)
	cfg.Router, cfg.Caller = &llm.Router{Registry: reg}, caller
	h.runTasks(cfg, time.Second)

	tk := h.submit("summarizer", `{"text":"Fallbacks are not cached."}`, func(t *store.Task) { t.Cache = true })
	done := h.waitStatus(tk.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, priced.ID, done.Model, "the fallback answered")
	require.EqualValues(t, 1, p.calls.Load())
	require.Zero(t, mem.Len(), "nothing was stored")
}

// A response cache key covers everything the answer depends on: tenant, agent, model, each
// message's role and content (without ambiguity at their boundaries), and the output limit.
func TestResponseKey(t *testing.T) {
	t.Parallel()
	msgs := []llm.Message{{Role: "system", Content: "Summarize."}, {Role: "user", Content: "ab"}}
	key := func(tenant, agent, model string, msgs []llm.Message, maxOut int) string {
		t.Helper()
		k, err := handlers.ResponseKey(tenant, agent, model, msgs, maxOut)
		require.NoError(t, err)
		return k.String()
	}
	base := key("ten_a", "summarizer", "gpt-4o-mini", msgs, 512)
	require.Regexp(t, `^ten_a:llm:summarizer:gpt-4o-mini:[0-9a-f]{64}$`, base)
	require.Equal(t, base, key("ten_a", "summarizer", "gpt-4o-mini",
		[]llm.Message{{Role: "system", Content: "Summarize."}, {Role: "user", Content: "ab"}}, 512), "the same input, the same key")
	cases := []struct {
		name string
		key  string
	}{
		{"another tenant", key("ten_b", "summarizer", "gpt-4o-mini", msgs, 512)},
		{"another agent", key("ten_a", "sentiment", "gpt-4o-mini", msgs, 512)},
		{"another model", key("ten_a", "summarizer", "gpt-4o", msgs, 512)},
		{"another output limit", key("ten_a", "summarizer", "gpt-4o-mini", msgs, 513)},
		{"another role", key("ten_a", "summarizer", "gpt-4o-mini",
			[]llm.Message{{Role: "user", Content: "Summarize."}, {Role: "user", Content: "ab"}}, 512)},
		{"content moved across messages", key("ten_a", "summarizer", "gpt-4o-mini",
			[]llm.Message{{Role: "system", Content: "Summarize.a"}, {Role: "user", Content: "b"}}, 512)},
		{"one message fewer", key("ten_a", "summarizer", "gpt-4o-mini", msgs[:1], 512)},
		{"no messages", key("ten_a", "summarizer", "gpt-4o-mini", nil, 512)},
	}
	seen := map[string]string{base: "base"}
	for _, c := range cases {
		require.NotContains(t, seen, c.key, "%s: same key as %s", c.name, seen[c.key])
		seen[c.key] = c.name
	}
}
