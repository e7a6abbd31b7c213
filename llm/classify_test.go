package llm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	apiErr := errors.New("provider said no")
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		err        error
		kind       llm.ErrorKind
		retryAfter time.Duration
	}{
		{name: "400 bad request", status: 400, err: apiErr, kind: llm.KindInvalid},
		{name: "404 unknown model", status: 404, err: apiErr, kind: llm.KindInvalid},
		{name: "413 too large", status: 413, err: apiErr, kind: llm.KindInvalid},
		{name: "422 unprocessable", status: 422, err: apiErr, kind: llm.KindInvalid},
		{name: "402 other 4xx", status: 402, err: apiErr, kind: llm.KindInvalid},
		{name: "401 unauthorized", status: 401, err: apiErr, kind: llm.KindAuth},
		{name: "403 forbidden", status: 403, err: apiErr, kind: llm.KindAuth},
		{name: "408 request timeout", status: 408, err: apiErr, kind: llm.KindRetryable},
		{name: "409 conflict", status: 409, err: apiErr, kind: llm.KindRetryable},
		{name: "500 internal", status: 500, err: apiErr, kind: llm.KindRetryable},
		{name: "502 bad gateway", status: 502, err: apiErr, kind: llm.KindRetryable},
		{name: "503 with retry-after", status: 503, header: hdr("Retry-After", "3"), err: apiErr, kind: llm.KindRetryable, retryAfter: 3 * time.Second},
		{name: "529 overloaded", status: 529, err: apiErr, kind: llm.KindRetryable},
		{name: "429 no header", status: 429, err: apiErr, kind: llm.KindRateLimited},
		{name: "429 retry-after seconds", status: 429, header: hdr("retry-after", "7"), err: apiErr, kind: llm.KindRateLimited, retryAfter: 7 * time.Second},
		{name: "429 retry-after fractional", status: 429, header: hdr("retry-after", "0.5"), err: apiErr, kind: llm.KindRateLimited, retryAfter: 500 * time.Millisecond},
		{name: "429 retry-after-ms", status: 429, header: hdr("retry-after-ms", "1500"), err: apiErr, kind: llm.KindRateLimited, retryAfter: 1500 * time.Millisecond},
		{name: "429 retry-after-ms wins", status: 429, header: hdr("retry-after", "20", "retry-after-ms", "250"), err: apiErr, kind: llm.KindRateLimited, retryAfter: 250 * time.Millisecond},
		{name: "429 bad retry-after-ms falls back", status: 429, header: hdr("retry-after", "4", "retry-after-ms", "soon"), err: apiErr, kind: llm.KindRateLimited, retryAfter: 4 * time.Second},
		{name: "429 negative retry-after", status: 429, header: hdr("retry-after", "-5"), err: apiErr, kind: llm.KindRateLimited},
		{name: "429 garbage retry-after", status: 429, header: hdr("retry-after", "later"), err: apiErr, kind: llm.KindRateLimited},
		{name: "429 past HTTP date", status: 429, header: hdr("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"), err: apiErr, kind: llm.KindRateLimited},
		{name: "429 absurd retry-after is capped", status: 429, header: hdr("retry-after", "1e300"), err: apiErr, kind: llm.KindRateLimited, retryAfter: time.Hour},
		{name: "connection refused", err: refused, kind: llm.KindRetryable},
		{name: "connection refused in url.Error", err: &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1/chat/completions", Err: refused}, kind: llm.KindRetryable},
		{name: "connection cut mid-answer", err: io.ErrUnexpectedEOF, kind: llm.KindRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := llm.Classify("openai", tt.status, tt.header, tt.err)
			var e *llm.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.kind, e.Kind)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, "openai", e.Provider)
			require.Equal(t, tt.retryAfter, e.RetryAfter)
			require.ErrorIs(t, err, tt.err)
			require.Equal(t, tt.kind != llm.KindInvalid && tt.kind != llm.KindAuth, llm.Retryable(err))
		})
	}
}

func TestClassifyRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
	var e *llm.Error
	require.ErrorAs(t, llm.Classify("anthropic", 429, h, errors.New("rate limited")), &e)
	require.Equal(t, llm.KindRateLimited, e.Kind)
	// An HTTP date has whole seconds, and a little time passes before Classify reads it.
	require.Greater(t, e.RetryAfter, 28*time.Second)
	require.LessOrEqual(t, e.RetryAfter, 30*time.Second)
}

func TestClassifyCallerContext(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{context.Canceled, context.DeadlineExceeded} {
		for _, err := range []error{cause, &url.Error{Op: "Post", URL: "https://api.openai.com/v1/chat/completions", Err: cause}} {
			t.Run(err.Error(), func(t *testing.T) {
				t.Parallel()
				got := llm.Classify("groq", 0, nil, err)
				require.ErrorIs(t, got, cause)
				var e *llm.Error
				require.False(t, errors.As(got, &e), "a context error must not become an *Error")
				require.Contains(t, got.Error(), "groq")
			})
		}
	}
}

func TestClassifyWithoutError(t *testing.T) {
	t.Parallel()
	require.NoError(t, llm.Classify("openai", 200, nil, nil))
	require.NoError(t, llm.Classify("openai", 0, nil, nil))

	var e *llm.Error
	require.ErrorAs(t, llm.Classify("openai", 503, nil, nil), &e)
	require.Equal(t, llm.KindRetryable, e.Kind)
	require.Equal(t, 503, e.Status)
	require.Equal(t, "openai: HTTP 503 Service Unavailable", e.Error())
}

func TestOllamaBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ host, want string }{
		{"", ""},
		{"  ", ""},
		{"127.0.0.1:11434", "http://127.0.0.1:11434/v1"},
		{"http://host:11434", "http://host:11434/v1"},
		{"host", "http://host:11434/v1"},
		{"gpu-box:8080", "http://gpu-box:8080/v1"},
		{"http://host", "http://host:80/v1"},
		{"https://ollama.example.com", "https://ollama.example.com:443/v1"},
		{"https://proxy.example.com/ollama/", "https://proxy.example.com:443/ollama/v1"},
		{"http://host:11434/v1", "http://host:11434/v1"},
		{"0.0.0.0", "http://127.0.0.1:11434/v1"},
		{"0.0.0.0:11434", "http://127.0.0.1:11434/v1"},
		{":11434", "http://127.0.0.1:11434/v1"},
		{"[::1]:11434", "http://[::1]:11434/v1"},
		{"::1", "http://[::1]:11434/v1"},
		{"[::]:9000", "http://[::1]:9000/v1"},
		{"host:notaport", "http://host:11434/v1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, llm.OllamaBaseURL(tt.host), fmt.Sprintf("OllamaBaseURL(%q)", tt.host))
	}
}
