package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

const anthropicKey = "sk-ant-api03-test-9c2e41d0b7a8"

// anthropicMessage is a message answer as Anthropic sends it.
const anthropicMessage = `{
  "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [
    {"type": "thinking", "thinking": "The user wants the gist.", "signature": "EqQBCgIYAhIM"},
    {"type": "text", "text": "Indexes keep keys sorted, "},
    {"type": "text", "text": "so a lookup reads a few pages instead of the whole table."}
  ],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {
    "input_tokens": 2095,
    "output_tokens": 503,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "service_tier": "standard"
  }
}`

func newAnthropic(t *testing.T, cfg llm.AnthropicConfig) llm.Provider {
	t.Helper()
	p, err := llm.NewAnthropic(cfg)
	require.NoError(t, err)
	return p
}

func TestAnthropicComplete(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, http.Header{"Request-Id": {"req_011CSHoEeqs5C35K2UUqR7Fy"}}, anthropicMessage)
	p := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL})
	require.Equal(t, "anthropic", p.Name())

	req := conversation()
	req.Model = "claude-sonnet-4-5"
	req.Messages = append([]llm.Message{{Role: "system", Content: "Answer in one sentence."}}, req.Messages...)
	resp, err := p.Complete(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, &llm.Response{
		Content:      "Indexes keep keys sorted, so a lookup reads a few pages instead of the whole table.",
		InputTokens:  2095,
		OutputTokens: 503,
		Model:        "claude-sonnet-4-5-20250929",
	}, resp)

	got := srv.only(t)
	require.Equal(t, http.MethodPost, got.Method)
	require.Equal(t, "/v1/messages", got.Path)
	require.Equal(t, anthropicKey, got.Header.Get("X-Api-Key"))
	require.Empty(t, got.Header.Get("Authorization"), "one credential header, not two")
	require.NotEmpty(t, got.Header.Get("Anthropic-Version"))
	require.Equal(t, "0", got.Header.Get("X-Stainless-Retry-Count"))
	require.Equal(t, "claude-sonnet-4-5", got.Body["model"])
	require.EqualValues(t, 300, got.Body["max_tokens"])
	require.Equal(t, []any{
		map[string]any{"type": "text", "text": "Answer in one sentence."},
		map[string]any{"type": "text", "text": "You are a database expert."},
	}, got.Body["system"])
	require.Equal(t, []any{
		map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Why are indexes fast?"}}},
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "Do you mean B-tree indexes?"}}},
		map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Yes."}}},
	}, got.Body["messages"])
}

func TestAnthropicDefaultMaxTokens(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, nil, anthropicMessage)
	req := conversation()
	req.MaxTokens = 0
	_, err := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL}).Complete(context.Background(), req)
	require.NoError(t, err)
	require.EqualValues(t, 1024, srv.only(t).Body["max_tokens"])
}

// A large limit is sent, not refused by the SDK's "streaming is required" guard.
func TestAnthropicLargeMaxTokens(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, nil, anthropicMessage)
	req := conversation()
	req.MaxTokens = 64_000
	_, err := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL}).Complete(context.Background(), req)
	require.NoError(t, err)
	require.EqualValues(t, 64_000, srv.only(t).Body["max_tokens"])
}

// anthropicError is an error body as Anthropic sends it.
func anthropicError(typ, message string) string {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
	return string(b)
}

func TestAnthropicErrors(t *testing.T) {
	t.Parallel()
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
			name: "429 rate limited", status: 429,
			header: http.Header{
				"Retry-After":                                {"30"},
				"Anthropic-Ratelimit-Requests-Limit":         {"50"},
				"Anthropic-Ratelimit-Requests-Remaining":     {"0"},
				"Anthropic-Ratelimit-Requests-Reset":         {"2026-11-25T23:50:30Z"},
				"Anthropic-Ratelimit-Input-Tokens-Limit":     {"30000"},
				"Anthropic-Ratelimit-Input-Tokens-Remaining": {"0"},
			},
			body:       anthropicError("rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute."),
			kind:       llm.KindRateLimited,
			message:    "anthropic: messages: 429 Too Many Requests: rate_limit_error: This request would exceed the rate limit",
			retryAfter: 30 * time.Second,
		},
		{
			name: "529 overloaded", status: 529,
			body: anthropicError("overloaded_error", "Overloaded"),
			kind: llm.KindRetryable, message: "529: overloaded_error: Overloaded",
		},
		{
			name: "500 api error", status: 500,
			body: anthropicError("api_error", "Internal server error"),
			kind: llm.KindRetryable, message: "api_error",
		},
		{
			name: "401 bad key", status: 401,
			body: anthropicError("authentication_error", "invalid x-api-key: "+anthropicKey),
			kind: llm.KindAuth, message: "401 Unauthorized: authentication_error: invalid x-api-key: [redacted]",
		},
		{
			name: "403 permission", status: 403,
			body: anthropicError("permission_error", "Your API key does not have permission to use the specified resource."),
			kind: llm.KindAuth, message: "permission_error",
		},
		{
			name: "400 invalid request", status: 400,
			body: anthropicError("invalid_request_error", "messages: text content blocks must be non-empty"),
			kind: llm.KindInvalid, message: "400 Bad Request: invalid_request_error: messages: text content blocks must be non-empty",
		},
		{
			name: "404 unknown model", status: 404,
			body: anthropicError("not_found_error", "model: claude-9"),
			kind: llm.KindInvalid, message: "not_found_error",
		},
		{
			name: "413 too large", status: 413,
			body: anthropicError("request_too_large", "Request exceeds the maximum allowed number of bytes."),
			kind: llm.KindInvalid, message: "request_too_large",
		},
		{
			name: "502 from a proxy", status: 502,
			body: "<html><body>502 Bad Gateway</body></html>",
			kind: llm.KindRetryable, message: "502 Bad Gateway: <html>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := tt.header.Clone()
			if header == nil {
				header = http.Header{}
			}
			header.Set("Request-Id", "req_011CSHoEeqs5C35K2UUqR7Fy")
			srv := newFakeAPI(t, tt.status, header, tt.body)
			_, err := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL}).Complete(context.Background(), conversation())

			var e *llm.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.kind, e.Kind)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, "anthropic", e.Provider)
			require.Equal(t, tt.retryAfter, e.RetryAfter)
			require.Contains(t, err.Error(), tt.message)
			require.Contains(t, err.Error(), "req_011CSHoEeqs5C35K2UUqR7Fy")
			require.NotContains(t, err.Error(), anthropicKey)
			srv.only(t) // one attempt: the SDK must not retry on its own
		})
	}
}

func TestAnthropicEmptyAnswer(t *testing.T) {
	t.Parallel()
	body := `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":0}}`
	srv := newFakeAPI(t, http.StatusOK, nil, body)
	_, err := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL}).Complete(context.Background(), conversation())
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, llm.KindRetryable, e.Kind)
	require.ErrorIs(t, err, llm.ErrEmptyResponse)
	require.Contains(t, err.Error(), "refusal")
}

func TestAnthropicCallerDeadline(t *testing.T) {
	t.Parallel()
	srv := hangingServer(t)
	p := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	_, err := p.Complete(ctx, conversation())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *llm.Error
	require.False(t, errors.As(err, &e), "the caller's deadline is not a provider failure: %v", err)
}

func TestAnthropicClientTimeout(t *testing.T) {
	t.Parallel()
	srv := hangingServer(t)
	p := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})

	_, err := p.Complete(context.Background(), conversation())
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, llm.KindRetryable, e.Kind)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}

func TestAnthropicRejectsBadRequests(t *testing.T) {
	t.Parallel()
	srv := newFakeAPI(t, http.StatusOK, nil, anthropicMessage)
	p := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL})
	for name, req := range map[string]llm.Request{
		"only system": {Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: "system", Content: "Be brief."}}},
		"bad role":    {Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: "function", Content: "{}"}}},
		"no model":    {Messages: []llm.Message{{Role: "user", Content: "Hi"}}},
	} {
		_, err := p.Complete(context.Background(), req)
		var e *llm.Error
		require.ErrorAs(t, err, &e, name)
		require.Equal(t, llm.KindInvalid, e.Kind, name)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Empty(t, srv.reqs)
}

// The SDK's client reads ANTHROPIC_* variables and profiles; a provider must not.
func TestAnthropicIgnoresEnvironment(t *testing.T) {
	srv := newFakeAPI(t, http.StatusOK, nil, anthropicMessage)
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Leak: yes")

	_, err := newAnthropic(t, llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: srv.URL}).Complete(context.Background(), conversation())
	require.NoError(t, err)
	got := srv.only(t)
	require.Equal(t, anthropicKey, got.Header.Get("X-Api-Key"))
	require.Empty(t, got.Header.Get("X-Leak"))
}

func TestNewAnthropicConfig(t *testing.T) {
	t.Parallel()
	_, err := llm.NewAnthropic(llm.AnthropicConfig{})
	require.ErrorContains(t, err, "API key is required")
	_, err = llm.NewAnthropic(llm.AnthropicConfig{APIKey: anthropicKey, BaseURL: "api.anthropic.com"})
	require.ErrorContains(t, err, "anthropic: base URL")
	require.NotContains(t, err.Error(), anthropicKey)
	_, err = llm.NewAnthropic(llm.AnthropicConfig{APIKey: anthropicKey})
	require.NoError(t, err)
}
