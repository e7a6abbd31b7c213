package llm_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

// End-to-end tests of the real providers behind the real Caller: the OpenAI and Anthropic
// SDKs talk HTTP to fakes that speak each API's wire format, error bodies and rate-limit
// headers included.

// The models called: gpt-4o-mini on OpenAI, falling back to claude-3-5-haiku on Anthropic.
var (
	wireGPT = llm.Model{ID: "gpt-4o-mini", Provider: "openai", Quality: 70, ContextWindow: 128_000,
		InputPerMillion: 150_000, OutputPerMillion: 600_000, Fallbacks: []string{"claude-3-5-haiku"}}
	wireHaiku = llm.Model{ID: "claude-3-5-haiku", Provider: "anthropic", Quality: 72, ContextWindow: 200_000,
		InputPerMillion: 800_000, OutputPerMillion: 4_000_000}
	wireChain = []llm.Model{wireGPT, wireHaiku}
)

var wireReq = llm.Request{
	Messages: []llm.Message{
		{Role: "system", Content: "Answer in one word."},
		{Role: "user", Content: "What is the capital of France?"},
	},
	MaxTokens: 16,
}

// wireReply is what a wire fake answers.
type wireReply struct {
	status int
	header http.Header
	body   string
	delay  time.Duration // held this long, or until the client hangs up, before answering
}

var (
	openAIAnswer = wireReply{status: http.StatusOK, header: http.Header{
		"X-Request-Id":                   {"req_5f1c0e2b9a7d4c3e8b6a1f0d2c4e6a8b"},
		"Openai-Processing-Ms":           {"187"},
		"X-Ratelimit-Limit-Requests":     {"500"},
		"X-Ratelimit-Remaining-Requests": {"499"},
	}, body: `{
  "id": "chatcmpl-BX2kT8mQn4rLp0sVw7yZa1bC3dE5f",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {"role": "assistant", "content": "Paris.", "refusal": null, "annotations": []},
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 24,
    "completion_tokens": 2,
    "total_tokens": 26,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_0ba0d124f1"
}`}

	openAIOutage = wireReply{status: http.StatusServiceUnavailable,
		header: http.Header{"X-Request-Id": {"req_8d2e4f6a0b1c3d5e7f9a2b4c6d8e0f1a"}},
		body:   `{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}`}

	openAIRateLimited = wireReply{status: http.StatusTooManyRequests, header: http.Header{
		"X-Request-Id":                   {"req_3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e1b"},
		"Retry-After-Ms":                 {"20"},
		"Retry-After":                    {"1"},
		"X-Ratelimit-Limit-Requests":     {"500"},
		"X-Ratelimit-Remaining-Requests": {"0"},
		"X-Ratelimit-Reset-Requests":     {"20ms"},
		"X-Ratelimit-Limit-Tokens":       {"200000"},
		"X-Ratelimit-Remaining-Tokens":   {"199980"},
		"X-Ratelimit-Reset-Tokens":       {"6ms"},
	}, body: `{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-Xk2pQ7 on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 20ms. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`}

	anthropicAnswer = wireReply{status: http.StatusOK, header: http.Header{
		"Request-Id":                             {"req_011CSHoEeqs5C35K2UUqR7Fy"},
		"Anthropic-Ratelimit-Requests-Limit":     {"50"},
		"Anthropic-Ratelimit-Requests-Remaining": {"49"},
	}, body: `{
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
  "type": "message",
  "role": "assistant",
  "model": "claude-3-5-haiku-20241022",
  "content": [{"type": "text", "text": "Paris."}],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {"input_tokens": 19, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "service_tier": "standard"}
}`}

	anthropicRateLimited = wireReply{status: http.StatusTooManyRequests, header: http.Header{
		"Request-Id":                             {"req_011CSHpQ2b7VnLk3RtYw9XzA"},
		"Retry-After":                            {"1"},
		"Anthropic-Ratelimit-Requests-Limit":     {"50"},
		"Anthropic-Ratelimit-Requests-Remaining": {"0"},
		"Anthropic-Ratelimit-Requests-Reset":     {"2026-11-25T23:50:30Z"},
	}, body: `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (3f6c1b2a-7d4e-4a9b-8c0d-1e2f3a4b5c6d) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."},"request_id":"req_011CSHpQ2b7VnLk3RtYw9XzA"}`}
)

// wireFake is an httptest server for one provider's API and one model: it checks that each
// request is a POST to the API's path, with the API key, for the model; counts it; and
// answers with its current reply.
type wireFake struct {
	*httptest.Server
	requests atomic.Int64
	reply    atomic.Pointer[wireReply]
}

func newWireFake(t *testing.T, path, model string, authorized func(http.Header) bool, reply wireReply) *wireFake {
	t.Helper()
	f := &wireFake{}
	f.set(reply)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model string `json:"model"`
		}
		err := json.NewDecoder(r.Body).Decode(&body)
		_, _ = io.Copy(io.Discard, r.Body) // all of it, so that a client hanging up is noticed
		switch {
		case r.Method != http.MethodPost || r.URL.Path != path:
			t.Errorf("%s %s, want POST %s", r.Method, r.URL.Path, path)
		case err != nil:
			t.Errorf("%s: request body: %v", path, err)
		case body.Model != model:
			t.Errorf("%s: request for model %q, want %q", path, body.Model, model)
		case !authorized(r.Header):
			t.Errorf("%s: request without the API key", path)
		}
		f.requests.Add(1)

		rep := f.reply.Load()
		if rep.delay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(rep.delay):
			}
		}
		for k, vs := range rep.header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(f.Close)
	return f
}

// set changes what the fake answers from its next request on.
func (f *wireFake) set(r wireReply) { f.reply.Store(&r) }

// count returns the requests the fake has received.
func (f *wireFake) count() int { return int(f.requests.Load()) }

// newOpenAIWire fakes OpenAI's chat completions API serving gpt-4o-mini.
func newOpenAIWire(t *testing.T, reply wireReply) *wireFake {
	t.Helper()
	return newWireFake(t, "/v1/chat/completions", wireGPT.ID, func(h http.Header) bool {
		return h.Get("Authorization") == "Bearer "+openAIKey
	}, reply)
}

// newAnthropicWire fakes Anthropic's messages API serving claude-3-5-haiku.
func newAnthropicWire(t *testing.T, reply wireReply) *wireFake {
	t.Helper()
	return newWireFake(t, "/v1/messages", wireHaiku.ID, func(h http.Header) bool {
		return h.Get("X-Api-Key") == anthropicKey && h.Get("Anthropic-Version") != ""
	}, reply)
}

// wireCaller is a Caller over the real providers pointed at the fakes; openAIClient, if
// set, is the OpenAI provider's HTTP client.
func wireCaller(t *testing.T, oa, an *wireFake, openAIClient *http.Client, cfg llm.CallerConfig) *llm.Caller {
	t.Helper()
	cfg.Providers = map[string]llm.Provider{
		"openai":    newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: oa.URL + "/v1", HTTPClient: openAIClient}),
		"anthropic": newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: an.URL}),
	}
	return newCallerT(t, cfg)
}

// wireState returns the circuit of provider/model in c.States(), "" if it has none.
func wireState(c *llm.Caller, m llm.Model) string {
	for _, s := range c.States() {
		if s.Provider == m.Provider && s.Model == m.ID {
			return s.State
		}
	}
	return ""
}

// wireStates is States() with gpt-4o-mini's circuit in the given state and claude-3-5-haiku's closed.
func wireStates(gpt string) []llm.BreakerState {
	return []llm.BreakerState{
		{Provider: "anthropic", Model: wireHaiku.ID, State: "closed"},
		{Provider: "openai", Model: wireGPT.ID, State: gpt},
	}
}

// requireWireError checks that err is (or wraps) a provider *llm.Error and returns it.
func requireWireError(t *testing.T, err error, provider string, kind llm.ErrorKind, status int) *llm.Error {
	t.Helper()
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, provider, e.Provider)
	require.Equal(t, kind, e.Kind)
	require.Equal(t, status, e.Status)
	return e
}

// wireOutage is an OpenAI outage behind a Caller: it runs the Calls that open
// gpt-4o-mini's circuit and checks that, open, it is no longer called.
type wireOutage struct {
	openai, anthropic *wireFake
	caller            *llm.Caller
	log               *callerStateLog
}

const (
	wireFailuresToOpen = 4
	wireOpenFor        = 100 * time.Millisecond
)

func newWireOutage(t *testing.T) *wireOutage {
	t.Helper()
	o := &wireOutage{
		openai:    newOpenAIWire(t, openAIAnswer),
		anthropic: newAnthropicWire(t, anthropicAnswer),
		log:       &callerStateLog{},
	}
	o.caller = wireCaller(t, o.openai, o.anthropic, nil, llm.CallerConfig{
		Deadline:        5 * time.Second,
		RetriesPerModel: 1,
		InitialBackoff:  time.Millisecond,
		MaxBackoff:      5 * time.Millisecond,
		FailuresToOpen:  wireFailuresToOpen,
		OpenFor:         wireOpenFor,
		OnStateChange:   o.log.add,
	})

	// Healthy: OpenAI answers.
	resp, got, attempts, err := o.caller.Call(t.Context(), wireChain, wireReq)
	require.NoError(t, err)
	require.Equal(t, wireGPT.ID, got.ID)
	require.Equal(t, &llm.Response{Content: "Paris.", InputTokens: 24, OutputTokens: 2, Model: "gpt-4o-mini-2024-07-18"}, resp)
	require.Equal(t, []string{"gpt-4o-mini:ok"}, callerOutcomes(attempts))
	require.Equal(t, wireGPT.Cost(24, 2), attempts[0].CostMicros)
	require.Equal(t, 1, o.openai.count())

	// The outage. Each Call tries gpt-4o-mini twice (RetriesPerModel 1) and answers through
	// Anthropic; the second Call's second failure is the FailuresToOpen-th in a row.
	o.openai.set(openAIOutage)
	for i, state := range []string{"closed", "open"} {
		resp, got, attempts, err := o.caller.Call(t.Context(), wireChain, wireReq)
		require.NoError(t, err, "call %d", i)
		require.Equal(t, wireHaiku.ID, got.ID)
		require.Equal(t, &llm.Response{Content: "Paris.", InputTokens: 19, OutputTokens: 5, Model: "claude-3-5-haiku-20241022"}, resp)
		require.Equal(t, []string{"gpt-4o-mini:error", "gpt-4o-mini:error", "claude-3-5-haiku:ok"}, callerOutcomes(attempts))
		for _, a := range attempts[:2] {
			require.Equal(t, "openai", a.Provider)
			require.Positive(t, a.Latency)
			e := requireWireError(t, a.Err, "openai", llm.KindRetryable, http.StatusServiceUnavailable)
			require.ErrorContains(t, e, "503 Service Unavailable: server_error: The server is overloaded or not ready yet.")
		}
		ok := attempts[2]
		require.Equal(t, "anthropic", ok.Provider)
		require.Equal(t, int64(19), ok.InputTokens)
		require.Equal(t, int64(5), ok.OutputTokens)
		require.Equal(t, wireHaiku.Cost(19, 5), ok.CostMicros)
		require.Equal(t, wireStates(state), o.caller.States(), "call %d", i)
	}
	require.Equal(t, 1+wireFailuresToOpen, o.openai.count())
	require.Equal(t, 2, o.anthropic.count())
	require.False(t, o.caller.Available(wireGPT))
	require.True(t, o.caller.Available(wireHaiku))

	// Open: gpt-4o-mini is skipped without a request, traffic goes to Anthropic.
	for range 3 {
		_, got, attempts, err := o.caller.Call(t.Context(), wireChain, wireReq)
		require.NoError(t, err)
		require.Equal(t, wireHaiku.ID, got.ID)
		require.Equal(t, []string{"gpt-4o-mini:circuit_open", "claude-3-5-haiku:ok"}, callerOutcomes(attempts))
		require.Zero(t, attempts[0].Latency)
		require.ErrorContains(t, attempts[0].Err, "openai/gpt-4o-mini")
	}
	require.Equal(t, 1+wireFailuresToOpen, o.openai.count(), "an open circuit sends nothing")
	require.Equal(t, 5, o.anthropic.count())
	return o
}

// waitHalfOpen waits out OpenFor: gpt-4o-mini's circuit goes half-open.
func (o *wireOutage) waitHalfOpen(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return o.caller.Available(wireGPT) }, 2*time.Second, 5*time.Millisecond)
	require.Equal(t, wireStates("half_open"), o.caller.States())
}

func TestOutageFailsOverAndRecoversOverHTTP(t *testing.T) {
	t.Parallel()

	t.Run("the probe closes the circuit", func(t *testing.T) {
		t.Parallel()
		o := newWireOutage(t)
		o.openai.set(openAIAnswer) // OpenAI recovers
		o.waitHalfOpen(t)
		before := o.openai.count()

		resp, got, attempts, err := o.caller.Call(t.Context(), wireChain, wireReq)
		require.NoError(t, err)
		require.Equal(t, wireGPT.ID, got.ID)
		require.Equal(t, "gpt-4o-mini-2024-07-18", resp.Model)
		require.Equal(t, []string{"gpt-4o-mini:ok"}, callerOutcomes(attempts))
		require.Equal(t, before+1, o.openai.count(), "exactly one probe")
		require.Equal(t, wireStates("closed"), o.caller.States())

		// Traffic is back on OpenAI.
		for range 3 {
			_, got, attempts, err := o.caller.Call(t.Context(), wireChain, wireReq)
			require.NoError(t, err)
			require.Equal(t, wireGPT.ID, got.ID)
			require.Equal(t, []string{"gpt-4o-mini:ok"}, callerOutcomes(attempts))
		}
		require.Equal(t, before+4, o.openai.count())
		require.Equal(t, 5, o.anthropic.count(), "no more failover")
		require.Equal(t, []string{
			"openai/gpt-4o-mini closed>open",
			"openai/gpt-4o-mini open>half_open",
			"openai/gpt-4o-mini half_open>closed",
		}, o.log.get())
	})

	t.Run("a failed probe opens it again", func(t *testing.T) {
		t.Parallel()
		o := newWireOutage(t) // OpenAI stays down
		o.waitHalfOpen(t)
		before := o.openai.count()

		_, got, attempts, err := o.caller.Call(t.Context(), wireChain, wireReq)
		require.NoError(t, err)
		require.Equal(t, wireHaiku.ID, got.ID)
		// The probe fails and reopens the circuit, so the retry is skipped.
		require.Equal(t, []string{"gpt-4o-mini:error", "gpt-4o-mini:circuit_open", "claude-3-5-haiku:ok"}, callerOutcomes(attempts))
		requireWireError(t, attempts[0].Err, "openai", llm.KindRetryable, http.StatusServiceUnavailable)
		require.Equal(t, before+1, o.openai.count(), "exactly one probe")
		require.Equal(t, wireStates("open"), o.caller.States())
		require.False(t, o.caller.Available(wireGPT))

		_, got, attempts, err = o.caller.Call(t.Context(), wireChain, wireReq)
		require.NoError(t, err)
		require.Equal(t, wireHaiku.ID, got.ID)
		require.Equal(t, []string{"gpt-4o-mini:circuit_open", "claude-3-5-haiku:ok"}, callerOutcomes(attempts))
		require.Equal(t, before+1, o.openai.count(), "open again: nothing sent")
		require.Equal(t, []string{
			"openai/gpt-4o-mini closed>open",
			"openai/gpt-4o-mini open>half_open",
			"openai/gpt-4o-mini half_open>open",
		}, o.log.get())
	})
}

func Test429StormOverHTTP(t *testing.T) {
	t.Parallel()
	const deadline = 500 * time.Millisecond
	tests := []struct {
		name                      string
		calls                     int // concurrent Calls
		maxAttempts, retries      int
		wantOpenAI, wantAnthropic int // requests per Call
		// The error of each Call: its reason, and the last provider error it wraps.
		why            string
		lastProvider   string
		lastRetryAfter time.Duration
		minElapsed     time.Duration // the Retry-After waits
	}{
		{
			// OpenAI's 429s are retried after retry-after-ms (not the 250ms backoff), then
			// Anthropic's retry-after of 1s would pass the deadline: no wait, no model left.
			name: "retries then failover", calls: 1, maxAttempts: 6, retries: 2,
			wantOpenAI: 3, wantAnthropic: 1,
			why: "no model answered after 4 attempt(s)", lastProvider: "anthropic", lastRetryAfter: time.Second,
			minElapsed: 2 * 20 * time.Millisecond,
		},
		{
			// MaxAttempts ends it before RetriesPerModel does. (The Caller sleeps out the
			// second Retry-After before it notices the budget is spent: minElapsed is a floor.)
			name: "attempt budget", calls: 1, maxAttempts: 2, retries: 5,
			wantOpenAI: 2, wantAnthropic: 0,
			why: "attempt budget spent after 2 attempt(s)", lastProvider: "openai", lastRetryAfter: 20 * time.Millisecond,
			minElapsed: 20 * time.Millisecond,
		},
		{
			name: "concurrent calls", calls: 8, maxAttempts: 6, retries: 2,
			wantOpenAI: 3, wantAnthropic: 1,
			why: "no model answered after 4 attempt(s)", lastProvider: "anthropic", lastRetryAfter: time.Second,
			minElapsed: 2 * 20 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			oa := newOpenAIWire(t, openAIRateLimited)
			an := newAnthropicWire(t, anthropicRateLimited)
			var transitions atomic.Int64
			c := wireCaller(t, oa, an, nil, llm.CallerConfig{
				MaxAttempts:     tt.maxAttempts,
				Deadline:        deadline,
				RetriesPerModel: tt.retries,
				InitialBackoff:  250 * time.Millisecond,
				MaxBackoff:      250 * time.Millisecond,
				FailuresToOpen:  1, // one counted failure would open a circuit
				OnStateChange:   func(_, _, _, _ string) { transitions.Add(1) },
			})

			var wg sync.WaitGroup
			for range tt.calls {
				wg.Go(func() {
					start := time.Now()
					resp, _, attempts, err := c.Call(t.Context(), wireChain, wireReq)
					elapsed := time.Since(start)
					if !assertWireStorm(t, resp, attempts, err) {
						return
					}
					want := slices.Concat(
						slices.Repeat([]string{"gpt-4o-mini:rate_limited"}, tt.wantOpenAI),
						slices.Repeat([]string{"claude-3-5-haiku:rate_limited"}, tt.wantAnthropic))
					if got := callerOutcomes(attempts); !slices.Equal(want, got) {
						t.Errorf("attempts %v, want %v", got, want)
					}
					if len(attempts) > tt.maxAttempts {
						t.Errorf("%d attempts, budget %d", len(attempts), tt.maxAttempts)
					}
					if !strings.Contains(err.Error(), tt.why) {
						t.Errorf("error %q, want %q", err, tt.why)
					}
					var e *llm.Error
					if errors.As(err, &e) && (e.Provider != tt.lastProvider || e.RetryAfter != tt.lastRetryAfter) {
						t.Errorf("last error from %s with Retry-After %v, want %s with %v", e.Provider, e.RetryAfter, tt.lastProvider, tt.lastRetryAfter)
					}
					if elapsed < tt.minElapsed || elapsed >= deadline {
						t.Errorf("the Call took %v, want [%v, %v)", elapsed, tt.minElapsed, deadline)
					}
				})
			}
			wg.Wait()

			require.Equal(t, tt.calls*tt.wantOpenAI, oa.count())
			require.Equal(t, tt.calls*tt.wantAnthropic, an.count())
			require.LessOrEqual(t, oa.count()+an.count(), tt.calls*tt.maxAttempts)
			for _, s := range c.States() {
				require.Equal(t, "closed", s.State, "%s/%s: 429 is back-pressure, not ill health", s.Provider, s.Model)
			}
			require.Zero(t, transitions.Load())
			require.True(t, c.Available(wireGPT))
			require.True(t, c.Available(wireHaiku))
		})
	}
}

// assertWireStorm checks, from any goroutine, that a Call in a 429 storm failed with a
// rate-limit error, and that each attempt is a real 429 with its provider's Retry-After.
func assertWireStorm(t *testing.T, resp *llm.Response, attempts []llm.Attempt, err error) bool {
	t.Helper()
	var e *llm.Error
	if resp != nil || !errors.As(err, &e) || e.Kind != llm.KindRateLimited || e.Status != http.StatusTooManyRequests {
		t.Errorf("want a rate-limit error and no answer, got %v, %v", resp, err)
		return false
	}
	retryAfter := map[string]time.Duration{"openai": 20 * time.Millisecond, "anthropic": time.Second}
	message := map[string]string{
		"openai":    "429 Too Many Requests: requests: rate_limit_exceeded: Rate limit reached for gpt-4o-mini",
		"anthropic": "429 Too Many Requests: rate_limit_error: This request would exceed the rate limit",
	}
	for _, a := range attempts {
		var ae *llm.Error
		if !errors.As(a.Err, &ae) || ae.Kind != llm.KindRateLimited || ae.Status != http.StatusTooManyRequests ||
			ae.Provider != a.Provider || ae.RetryAfter != retryAfter[a.Provider] || !strings.Contains(a.Err.Error(), message[a.Provider]) {
			t.Errorf("attempt %s/%s: %#v", a.Provider, a.Model, a.Err)
			return false
		}
	}
	return true
}

func TestErrorClassesOverHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reply         wireReply // OpenAI's, for every request
		clientTimeout time.Duration
		wantOpenAI    int // requests to OpenAI; Anthropic gets one if the Call fails over
		failover      bool
		outcomes      []string
		kind          llm.ErrorKind // of the OpenAI attempts' errors
		status        int
		message       string
		then          func(t *testing.T, c *llm.Caller, oa, an *wireFake)
	}{
		{
			name: "400 invalid request",
			reply: wireReply{status: http.StatusBadRequest, header: http.Header{"X-Request-Id": {"req_1a2b3c"}},
				body: `{"error":{"message":"Invalid 'messages[1].content': string too long. Expected a string with maximum length 1048576, but got a string with length 1048577 instead.","type":"invalid_request_error","param":"messages[1].content","code":"string_above_max_length"}}`},
			wantOpenAI: 1, failover: false,
			outcomes: []string{"gpt-4o-mini:invalid"},
			kind:     llm.KindInvalid, status: http.StatusBadRequest,
			message: "400 Bad Request: invalid_request_error: string_above_max_length: Invalid 'messages[1].content'",
		},
		{
			name: "401 bad key",
			reply: wireReply{status: http.StatusUnauthorized, header: http.Header{"X-Request-Id": {"req_4d5e6f"}},
				body: `{"error":{"message":"Incorrect API key provided: ` + openAIKey + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
			wantOpenAI: 1, failover: true,
			outcomes: []string{"gpt-4o-mini:auth", "claude-3-5-haiku:ok"},
			kind:     llm.KindAuth, status: http.StatusUnauthorized,
			message: "401 Unauthorized: invalid_request_error: invalid_api_key: Incorrect API key provided: [redacted].",
			then:    requireOpenAICoolingDown,
		},
		{
			// Out of credit: a 429 that no wait mends takes the provider out like a 401.
			name: "429 insufficient quota",
			reply: wireReply{status: http.StatusTooManyRequests, header: http.Header{"X-Request-Id": {"req_0e1f2a"}},
				body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`},
			wantOpenAI: 1, failover: true,
			outcomes: []string{"gpt-4o-mini:auth", "claude-3-5-haiku:ok"},
			kind:     llm.KindAuth, status: http.StatusTooManyRequests,
			message: "429 Too Many Requests: insufficient_quota: insufficient_quota: You exceeded your current quota",
			then:    requireOpenAICoolingDown,
		},
		{
			name: "500 server error",
			reply: wireReply{status: http.StatusInternalServerError, header: http.Header{"X-Request-Id": {"req_7a8b9c"}},
				body: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`},
			wantOpenAI: 3, failover: true, // RetriesPerModel 2
			outcomes: []string{"gpt-4o-mini:error", "gpt-4o-mini:error", "gpt-4o-mini:error", "claude-3-5-haiku:ok"},
			kind:     llm.KindRetryable, status: http.StatusInternalServerError,
			message: "500 Internal Server Error: server_error: The server had an error while processing your request.",
		},
		{
			name:  "timeout",
			reply: wireReply{delay: 5 * time.Second, status: http.StatusOK, body: openAIAnswer.body},
			// The provider's HTTP client gives up long before the fake answers.
			clientTimeout: 100 * time.Millisecond,
			wantOpenAI:    3, failover: true,
			outcomes: []string{"gpt-4o-mini:error", "gpt-4o-mini:error", "gpt-4o-mini:error", "claude-3-5-haiku:ok"},
			kind:     llm.KindRetryable, status: 0,
			message: "timed out",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			oa := newOpenAIWire(t, tt.reply)
			an := newAnthropicWire(t, anthropicAnswer)
			var client *http.Client
			if tt.clientTimeout > 0 {
				client = &http.Client{Timeout: tt.clientTimeout}
			}
			c := wireCaller(t, oa, an, client, llm.CallerConfig{
				Deadline:        5 * time.Second,
				RetriesPerModel: 2,
				InitialBackoff:  time.Millisecond,
				MaxBackoff:      5 * time.Millisecond,
				FailuresToOpen:  10,
				AuthCooldown:    time.Minute,
			})

			resp, got, attempts, err := c.Call(t.Context(), wireChain, wireReq)
			require.Equal(t, tt.outcomes, callerOutcomes(attempts))
			require.Equal(t, tt.wantOpenAI, oa.count())
			if tt.failover {
				require.NoError(t, err)
				require.Equal(t, wireHaiku.ID, got.ID)
				require.Equal(t, "Paris.", resp.Content)
				require.Equal(t, 1, an.count())
			} else {
				require.Nil(t, resp)
				requireWireError(t, err, "openai", tt.kind, tt.status)
				require.ErrorContains(t, err, "rejected the request after 1 attempt(s)")
				require.ErrorContains(t, err, tt.message)
				require.Zero(t, an.count(), "another model will not fix the request")
			}
			for _, a := range attempts[:tt.wantOpenAI] {
				require.Equal(t, "openai", a.Provider)
				e := requireWireError(t, a.Err, "openai", tt.kind, tt.status)
				require.ErrorContains(t, e, tt.message)
				require.NotContains(t, e.Error(), openAIKey)
				require.GreaterOrEqual(t, a.Latency, tt.clientTimeout)
			}
			require.Equal(t, "closed", wireState(c, wireGPT), "%d failures do not open the circuit", tt.wantOpenAI)
			if tt.then != nil {
				tt.then(t, c, oa, an)
			}
		})
	}
}

// requireOpenAICoolingDown checks that OpenAI, having refused the first Call, is out of
// routing for all its models and is not called again.
func requireOpenAICoolingDown(t *testing.T, c *llm.Caller, oa, an *wireFake) {
	t.Helper()
	// The whole provider cools down, not only the model called.
	require.False(t, c.Available(wireGPT))
	require.False(t, c.Available(llm.Model{ID: "gpt-4o", Provider: "openai"}))
	require.True(t, c.Available(wireHaiku))

	_, got, attempts, err := c.Call(t.Context(), wireChain, wireReq)
	require.NoError(t, err)
	require.Equal(t, wireHaiku.ID, got.ID)
	require.Equal(t, []string{"gpt-4o-mini:auth", "claude-3-5-haiku:ok"}, callerOutcomes(attempts))
	require.ErrorContains(t, attempts[0].Err, "refused our credentials")
	require.NotContains(t, attempts[0].Err.Error(), openAIKey)
	require.Equal(t, 1, oa.count(), "not called while cooling down")
	require.Equal(t, 2, an.count())
}
