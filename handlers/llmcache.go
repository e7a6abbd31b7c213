package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// ResponseCacheName is the name the LLM response cache's lookups are counted under (the
// cache attribute of cache.LookupsMetric, and its entry in /health/detailed).
const ResponseCacheName = "llm_responses"

// responseFormat versions the response cache's keys and entries. Bump it whenever what a key
// covers or what an entry holds changes: old entries are then never read as new ones, and
// expire within cache.TTLHour.
const responseFormat = 1

// cachedResponse is an entry of the LLM response cache: the answer of one successful call of
// a model, and what that call cost (which every task it later answers saves).
type cachedResponse struct {
	Content      string `json:"content"`
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostMicros   int64  `json:"cost_micros"`
}

// responseInput is what a response cache key hashes: everything the model's answer depends on
// besides the model, which the key names: the rendered messages, the output limit, and the
// format. JSON of structs and strings is canonical (fields in order, strings escaped one way).
type responseInput struct {
	Format          int               `json:"v"`
	MaxOutputTokens int               `json:"max_output_tokens"`
	Messages        []responseMessage `json:"messages"`
}

type responseMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// responseKey names the cached answer of model to msgs for the tenant's agent:
// TENANT:llm:AGENT:MODEL:hex(sha256(canonical input)).
func responseKey(tenantID, agent, model string, msgs []llm.Message, maxOut int) (cache.Key, error) {
	in := responseInput{Format: responseFormat, MaxOutputTokens: maxOut, Messages: make([]responseMessage, len(msgs))}
	for i, m := range msgs {
		in.Messages[i] = responseMessage{Role: m.Role, Content: m.Content}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return cache.Key{}, fmt.Errorf("response cache key: %w", err)
	}
	sum := sha256.Sum256(b)
	return cache.TenantKey(tenantID, "llm:"+agent+":"+model+":"+hex.EncodeToString(sum[:])), nil
}

// responses is the LLM response cache of Tasks: an exact-match cache of model answers, per
// tenant, agent, model and input. It never fails a task: a cache that errs is a miss. A nil
// *responses is no cache.
type responses struct {
	c   cache.Cache
	log *slog.Logger
}

// newResponses returns the response cache over c (nil: none), counting its lookups as
// ResponseCacheName on meter unless c counts them already (a cache.Registry's Instrument).
func newResponses(c cache.Cache, meter metric.Meter, log *slog.Logger) (*responses, error) {
	if c == nil {
		return nil, nil
	}
	if _, counted := c.(*cache.Instrumented); !counted {
		ic, err := cache.Instrument(c, ResponseCacheName, meter)
		if err != nil {
			return nil, fmt.Errorf("handlers: response cache: %w", err)
		}
		c = ic
	}
	return &responses{c: c, log: log}, nil
}

// responseSlot is one task's place in the response cache: the key of its prompt on the
// router's chosen model, and whether the entry there is corrupt. A nil slot (no cache, or a
// task that opted out) finds nothing and keeps nothing.
type responseSlot struct {
	c       cache.Cache
	log     *slog.Logger
	taskID  string
	key     cache.Key // TENANT:llm:AGENT:MODEL:…, which its log lines carry
	model   string
	corrupt bool // the lookup found an entry that is not one: overwrite it
}

// warn and debug log about the slot's task and key. (A logger With the task's attributes,
// made for every task, would allocate on the hot path for lines rarely written.)
func (s *responseSlot) warn(ctx context.Context, msg string, args ...any) {
	s.log.WarnContext(ctx, msg, append([]any{"task_id", s.taskID, "key", s.key.String()}, args...)...)
}

func (s *responseSlot) debug(ctx context.Context, msg string, args ...any) {
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, msg, append([]any{"task_id", s.taskID, "key", s.key.String()}, args...)...)
	}
}

// slot returns t's place in the response cache for model's answer to msgs, or nil when there
// is no cache or the task opted out of it.
func (r *responses) slot(ctx context.Context, t *store.Task, agent, model string, msgs []llm.Message, maxOut int) *responseSlot {
	if r == nil || !t.Cache {
		return nil
	}
	key, err := responseKey(t.TenantID, agent, model, msgs, maxOut)
	if err != nil {
		r.log.WarnContext(ctx, "response cache: no key", "task_id", t.ID, "tenant_id", t.TenantID, "agent", agent, "error", err)
		return nil
	}
	return &responseSlot{c: r.c, log: r.log, taskID: t.ID, key: key, model: model}
}

// lookup returns the cached answer and how long the lookup took; ok is false for a miss, a
// cache that failed, or an entry that is not a usable answer.
func (s *responseSlot) lookup(ctx context.Context) (e cachedResponse, took time.Duration, ok bool) {
	if s == nil {
		return cachedResponse{}, 0, false
	}
	start := time.Now()
	found, err := s.c.Get(ctx, s.key, &e)
	took = time.Since(start)
	switch {
	case errors.Is(err, cache.ErrCorrupt):
		s.warn(ctx, "response cache: corrupt entry ignored", "error", err)
		s.corrupt = true
		return cachedResponse{}, took, false
	case err != nil:
		// An outage shows in the cache's error count and its health check; per task it is
		// not news.
		s.debug(ctx, "response cache: lookup failed, calling the model", "error", err)
		return cachedResponse{}, took, false
	case !found:
		return cachedResponse{}, took, false
	case e.Model != s.model || e.Provider == "":
		s.warn(ctx, "response cache: entry of another shape ignored", "model", e.Model)
		s.corrupt = true
		return cachedResponse{}, took, false
	}
	return e, took, true
}

// keep stores e for cache.TTLHour: into an empty slot (the first answer stays for the hour),
// or over an entry the lookup found corrupt. A cache that fails is logged, not an error.
func (s *responseSlot) keep(ctx context.Context, e cachedResponse) {
	if s == nil {
		return
	}
	var err error
	if s.corrupt {
		err = s.c.Set(ctx, s.key, e, cache.TTLHour)
	} else {
		_, err = s.c.Add(ctx, s.key, e, cache.TTLHour)
	}
	if err != nil {
		s.debug(ctx, "response cache: answer not stored", "error", err)
	}
}

// cachedCall is the usage record of a task answered from the response cache: no model was
// called, so it costs nothing, and saves what the call that made the answer cost.
func cachedCall(t *store.Task, e cachedResponse, took time.Duration, at time.Time) store.LLMCall {
	return store.LLMCall{TaskID: t.ID, TenantID: t.TenantID, Attempt: t.Attempts, Seq: 1,
		Provider: e.Provider, Model: e.Model, InputTokens: e.InputTokens, OutputTokens: e.OutputTokens,
		LatencyMS: took.Milliseconds(), Outcome: store.OutcomeCached, SavedMicros: e.CostMicros, At: at}
}
