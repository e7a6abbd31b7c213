package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

const openAIKey = "sk-proj-test-3f9a1c77e2b04d51"

// recorded is what a fake provider saw of one request.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   map[string]any
}

// fakeAPI is an httptest server that answers every request with one status, headers and
// body, and records what it was sent.
type fakeAPI struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFakeAPI(t *testing.T, status int, header http.Header, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &rec.Body); err != nil {
				http.Error(w, "request body is not JSON: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		for k, vs := range header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

// only returns the single request the server got.
func (f *fakeAPI) only(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.reqs, 1, "requests sent")
	return f.reqs[0]
}

// chatCompletion is a chat.completion answer as OpenAI sends it.
const chatCompletion = `{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Indexes let the database find rows without scanning the table.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 1117,
    "completion_tokens": 46,
    "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
}`

func conversation() llm.Request {
	return llm.Request{
		Model: "gpt-4o",
		Messages: []llm.Message{
			{Role: "system", Content: "You are a database expert."},
			{Role: "user", Content: "Why are indexes fast?"},
			{Role: "assistant", Content: "Do you mean B-tree indexes?"},
			{Role: "user", Content: "Yes."},
		},
		MaxTokens: 300,
		Seed:      "tsk_1",
	}
}

func newOpenAI(t *testing.T, cfg llm.OpenAIConfig) llm.Provider {
	t.Helper()
	p, err := llm.NewOpenAI(cfg)
	require.NoError(t, err)
	return p
}

// redirectTo sends every request to srv instead of its real host, noting that host in
// the X-Original-Host header: it lets a test stand in for api.openai.com itself.
type redirectTo struct{ srv *httptest.Server }

func (rt redirectTo) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Original-Host", r.URL.Scheme+"://"+r.URL.Host)
	r.URL.Scheme, r.URL.Host, r.Host = "http", strings.TrimPrefix(rt.srv.URL, "http://"), ""
	return http.DefaultTransport.RoundTrip(r)
}

func TestOpenAIComplete(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, http.Header{"X-Request-Id": {"req_123"}}, chatCompletion)
	// No base URL: OpenAI's own API, reached here through a transport that leads to srv.
	p := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, HTTPClient: &http.Client{Transport: redirectTo{srv.Server}}})
	require.Equal(t, "openai", p.Name())

	resp, err := p.Complete(context.Background(), conversation())
	require.NoError(t, err)
	require.Equal(t, &llm.Response{
		Content:      "Indexes let the database find rows without scanning the table.",
		InputTokens:  1117,
		OutputTokens: 46,
		Model:        "gpt-4o-2024-08-06",
	}, resp)

	got := srv.only(t)
	require.Equal(t, http.MethodPost, got.Method)
	require.Equal(t, "https://api.openai.com", got.Header.Get("X-Original-Host"))
	require.Equal(t, "/v1/chat/completions", got.Path)
	require.Equal(t, "Bearer "+openAIKey, got.Header.Get("Authorization"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Equal(t, "0", got.Header.Get("X-Stainless-Retry-Count"))
	require.Equal(t, "gpt-4o", got.Body["model"])
	require.Equal(t, []any{
		map[string]any{"role": "system", "content": "You are a database expert."},
		map[string]any{"role": "user", "content": "Why are indexes fast?"},
		map[string]any{"role": "assistant", "content": "Do you mean B-tree indexes?"},
		map[string]any{"role": "user", "content": "Yes."},
	}, got.Body["messages"])
	// OpenAI's own endpoint gets max_completion_tokens: its reasoning models reject max_tokens.
	require.EqualValues(t, 300, got.Body["max_completion_tokens"])
	require.NotContains(t, got.Body, "max_tokens")
}

func TestOpenAIOmitsTokenLimitWhenZero(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, nil, chatCompletion)
	req := conversation()
	req.MaxTokens = 0
	_, err := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1"}).Complete(context.Background(), req)
	require.NoError(t, err)
	body := srv.only(t).Body
	require.NotContains(t, body, "max_completion_tokens")
	require.NotContains(t, body, "max_tokens")
}

func TestOpenAICompatibleEndpoints(t *testing.T) {
	t.Parallel()
	t.Run("groq", func(t *testing.T) {
		t.Parallel()
		srv := newFakeAPI(t, http.StatusOK, nil, strings.Replace(chatCompletion, "gpt-4o-2024-08-06", "llama-3.3-70b-versatile", 1))
		p := newOpenAI(t, llm.OpenAIConfig{Name: "groq", APIKey: "gsk_test", BaseURL: srv.URL + "/openai/v1"})
		require.Equal(t, "groq", p.Name())
		req := conversation()
		req.Model = "llama-3.3-70b-versatile"
		resp, err := p.Complete(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, "llama-3.3-70b-versatile", resp.Model)

		got := srv.only(t)
		require.Equal(t, "/openai/v1/chat/completions", got.Path)
		require.Equal(t, "Bearer gsk_test", got.Header.Get("Authorization"))
		// Compatible servers all know max_tokens; some ignore max_completion_tokens.
		require.EqualValues(t, 300, got.Body["max_tokens"])
		require.NotContains(t, got.Body, "max_completion_tokens")
	})
	t.Run("ollama", func(t *testing.T) {
		t.Parallel()
		srv := newFakeAPI(t, http.StatusOK, nil, chatCompletion)
		base := llm.OllamaBaseURL(strings.TrimPrefix(srv.URL, "http://"))
		require.Equal(t, srv.URL+"/v1", base)
		p := newOpenAI(t, llm.OpenAIConfig{Name: "ollama", BaseURL: base})
		require.Equal(t, "ollama", p.Name())
		_, err := p.Complete(context.Background(), conversation())
		require.NoError(t, err)

		got := srv.only(t)
		require.Equal(t, "/v1/chat/completions", got.Path)
		require.Empty(t, got.Header.Get("Authorization"), "no key, no Authorization header")
	})
}

// The OpenAI SDK's client reads OPENAI_* variables; a provider must not: an OpenAI key
// must never reach Ollama or Groq.
func TestOpenAIIgnoresEnvironment(t *testing.T) {
	srv := newFakeAPI(t, http.StatusOK, nil, chatCompletion)
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	t.Setenv("OPENAI_ORG_ID", "org-environment")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Leak: yes")

	_, err := newOpenAI(t, llm.OpenAIConfig{Name: "ollama", BaseURL: srv.URL + "/v1"}).Complete(context.Background(), conversation())
	require.NoError(t, err)
	got := srv.only(t)
	require.Empty(t, got.Header.Get("Authorization"))
	require.Empty(t, got.Header.Get("OpenAI-Organization"))
	require.Empty(t, got.Header.Get("X-Leak"))
}

// openAIError is an error body as OpenAI sends it.
func openAIError(message, typ, code string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": code}})
	return string(b)
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	rateLimits := http.Header{
		"X-Ratelimit-Limit-Requests":     {"500"},
		"X-Ratelimit-Remaining-Requests": {"0"},
		"X-Ratelimit-Reset-Requests":     {"7s"},
		"X-Ratelimit-Limit-Tokens":       {"30000"},
		"X-Ratelimit-Remaining-Tokens":   {"0"},
		"X-Ratelimit-Reset-Tokens":       {"1.5s"},
	}
	withHeader := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		h.Set(k, v)
		return h
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       llm.ErrorKind
		retryAfter time.Duration
		message    string
	}{
		{
			name: "400 invalid request", status: 400,
			body: openAIError("Invalid value for 'max_completion_tokens': must be positive.", "invalid_request_error", "invalid_value"),
			kind: llm.KindInvalid, message: "openai: chat completion: 400 Bad Request: invalid_request_error: invalid_value: Invalid value for 'max_completion_tokens': must be positive.",
		},
		{
			name: "401 bad key", status: 401,
			body: openAIError("Incorrect API key provided: "+openAIKey+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
			kind: llm.KindAuth, message: "Incorrect API key provided: [redacted].",
		},
		{
			name: "403 unsupported region", status: 403,
			body: openAIError("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory"),
			kind: llm.KindAuth, message: "403 Forbidden",
		},
		{
			name: "404 unknown model", status: 404,
			body: openAIError("The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
			kind: llm.KindInvalid, message: "model_not_found",
		},
		{
			name: "422 unprocessable", status: 422,
			body: openAIError("Unprocessable entity", "invalid_request_error", "unprocessable_entity"),
			kind: llm.KindInvalid, message: "422 Unprocessable Entity",
		},
		{
			name: "429 with retry-after", status: 429, header: withHeader(rateLimits, "Retry-After", "7"),
			body: openAIError("Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1.", "requests", "rate_limit_exceeded"),
			kind: llm.KindRateLimited, retryAfter: 7 * time.Second, message: "rate_limit_exceeded",
		},
		{
			name: "429 with retry-after-ms", status: 429, header: withHeader(withHeader(rateLimits, "Retry-After-Ms", "1500"), "Retry-After", "2"),
			body: openAIError("Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 30000, Requested 1163.", "tokens", "rate_limit_exceeded"),
			kind: llm.KindRateLimited, retryAfter: 1500 * time.Millisecond, message: "429 Too Many Requests",
		},
		{
			// Out of credit: no wait mends it, so it is not retried but fails over, as a 401.
			name: "429 insufficient quota", status: 429, header: withHeader(rateLimits, "Retry-After", "1"),
			body: openAIError("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"),
			kind: llm.KindAuth, message: "insufficient_quota",
		},
		{
			name: "500 server error", status: 500,
			body: openAIError("The server had an error while processing your request. Sorry about that!", "server_error", ""),
			kind: llm.KindRetryable, message: "500 Internal Server Error: server_error: The server had an error",
		},
		{
			name: "503 overloaded", status: 503,
			body: openAIError("The engine is currently overloaded, please try again later.", "server_error", "engine_overloaded"),
			kind: llm.KindRetryable, message: "engine_overloaded",
		},
		{
			// Some compatible servers send a bare string; the SDK cannot decode it, the
			// status still decides.
			name: "404 with a string error body", status: 404,
			body: `{"error":"model \"llama9\" not found, try pulling it first"}`,
			kind: llm.KindInvalid, message: `404 Not Found: {"error":"model \"llama9\" not found, try pulling it first"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeAPI(t, tt.status, tt.header, tt.body)
			_, err := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1"}).Complete(context.Background(), conversation())

			var e *llm.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.kind, e.Kind)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, "openai", e.Provider)
			require.Equal(t, tt.retryAfter, e.RetryAfter)
			require.Contains(t, err.Error(), tt.message)
			require.NotContains(t, err.Error(), openAIKey)
			srv.only(t) // one attempt: the SDK must not retry on its own
		})
	}
}

func TestOpenAIEmptyAnswer(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"no choices":    `{"id":"chatcmpl-1","object":"chat.completion","created":1741570283,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":0,"total_tokens":10}}`,
		"empty content": strings.Replace(chatCompletion, `"Indexes let the database find rows without scanning the table."`, `""`, 1),
		"null content":  strings.Replace(chatCompletion, `"Indexes let the database find rows without scanning the table."`, `null`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeAPI(t, http.StatusOK, nil, body)
			_, err := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1"}).Complete(context.Background(), conversation())
			var e *llm.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, llm.KindRetryable, e.Kind)
			require.ErrorIs(t, err, llm.ErrEmptyResponse)
		})
	}
}

// hangingServer never answers until the client gives up.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the whole body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOpenAICallerDeadline(t *testing.T) {
	t.Parallel()
	srv := hangingServer(t)
	p := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := p.Complete(ctx, conversation())
	require.Less(t, time.Since(start), 5*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *llm.Error
	require.False(t, errors.As(err, &e), "the caller's deadline is not a provider failure: %v", err)
}

func TestOpenAICallerCancel(t *testing.T) {
	t.Parallel()
	srv := hangingServer(t)
	p := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1"})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)

	_, err := p.Complete(ctx, conversation())
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, llm.Retryable(err))
}

// A timeout of our own HTTP client is the provider being slow: retryable, and not
// mistaken for the caller's deadline.
func TestOpenAIClientTimeout(t *testing.T) {
	t.Parallel()
	srv := hangingServer(t)
	p := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1", HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})

	_, err := p.Complete(context.Background(), conversation())
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, llm.KindRetryable, e.Kind)
	require.Zero(t, e.Status)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "timed out")
}

func TestOpenAINetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL + "/v1"
	srv.Close() // nothing listens there any more

	_, err := newOpenAI(t, llm.OpenAIConfig{Name: "groq", APIKey: openAIKey, BaseURL: base}).Complete(context.Background(), conversation())
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, llm.KindRetryable, e.Kind)
	require.Equal(t, "groq", e.Provider)
	require.Zero(t, e.Status)
	require.NotContains(t, err.Error(), openAIKey)
}

func TestOpenAIRejectsBadRequests(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, nil, chatCompletion)
	p := newOpenAI(t, llm.OpenAIConfig{APIKey: openAIKey, BaseURL: srv.URL + "/v1"})
	for name, mutate := range map[string]func(*llm.Request){
		"no model":       func(r *llm.Request) { r.Model = "" },
		"no messages":    func(r *llm.Request) { r.Messages = nil },
		"negative limit": func(r *llm.Request) { r.MaxTokens = -1 },
		"unknown role":   func(r *llm.Request) { r.Messages[1].Role = "tool" },
	} {
		req := conversation()
		mutate(&req)
		_, err := p.Complete(context.Background(), req)
		var e *llm.Error
		require.ErrorAs(t, err, &e, name)
		require.Equal(t, llm.KindInvalid, e.Kind, name)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Empty(t, srv.reqs, "nothing is sent for a request that cannot succeed")
}

func TestNewOpenAIConfig(t *testing.T) {
	t.Parallel()
	_, err := llm.NewOpenAI(llm.OpenAIConfig{})
	require.ErrorContains(t, err, "API key is required")
	_, err = llm.NewOpenAI(llm.OpenAIConfig{APIKey: openAIKey, BaseURL: "https://api.openai.com/v1"})
	require.NoError(t, err)
	_, err = llm.NewOpenAI(llm.OpenAIConfig{Name: "ollama", BaseURL: "127.0.0.1:11434"})
	require.ErrorContains(t, err, "ollama: base URL")
	_, err = llm.NewOpenAI(llm.OpenAIConfig{Name: "vllm", BaseURL: "ftp://host/v1"})
	require.ErrorContains(t, err, "absolute http or https URL")
	p, err := llm.NewOpenAI(llm.OpenAIConfig{Name: "vllm", BaseURL: "http://gpu-box:8000/v1"})
	require.NoError(t, err)
	require.Equal(t, "vllm", p.Name())
}
