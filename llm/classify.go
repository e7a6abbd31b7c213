package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrEmptyResponse is the cause inside the *Error of a call the provider answered with no
// choice or no text. It is retryable: the same request usually gets an answer next time.
var ErrEmptyResponse = errors.New("provider returned no content")

// maxRetryAfter bounds the wait a provider may ask for. A longer one is an outage rather
// than a rate limit, and a bogus header must not overflow time.Duration or park a task
// for days.
const maxRetryAfter = time.Hour

// Classify turns a provider call's failure into an *Error that decides retry and failover:
//
//   - 429 is KindRateLimited;
//   - 401 and 403 are KindAuth: the provider is unusable with this key;
//   - 408, 409 and 5xx (Anthropic's 529 "overloaded" too) are KindRetryable;
//   - any other 4xx (400, 404, 413, 422, …) is KindInvalid: the same request fails again;
//   - no status at all (a network error, a timeout, an unreadable or empty answer) is
//     KindRetryable.
//
// RetryAfter comes from retry-after-ms, else retry-after (seconds, or an HTTP date), at
// most an hour. The caller's own context.Canceled or context.DeadlineExceeded is returned
// wrapped as it is, not as an *Error: the caller gave up, so there is nothing to retry.
// Classify returns nil when there is no failure (no error and a status below 400).
func Classify(provider string, status int, header http.Header, err error) error {
	if err == nil {
		if status < http.StatusBadRequest {
			return nil
		}
		err = fmt.Errorf("HTTP %d %s", status, http.StatusText(status))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", provider, err)
	}
	return &Error{
		Kind:       kindOf(status),
		Provider:   provider,
		Status:     status,
		RetryAfter: retryAfter(header),
		Err:        err,
	}
}

// kindOf maps an HTTP status to the kind of failure; 0 means the call got no HTTP failure.
func kindOf(status int) ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindAuth
	case status == http.StatusRequestTimeout || status == http.StatusConflict || status >= http.StatusInternalServerError:
		return KindRetryable
	case status >= http.StatusBadRequest:
		return KindInvalid
	default:
		// No HTTP failure status: the connection broke, timed out, or the answer was
		// unusable. Nothing says the request itself is at fault.
		return KindRetryable
	}
}

// retryAfter reads the wait a provider asks for. OpenAI sends retry-after-ms, which is
// more precise, next to retry-after; a malformed value of one falls back to the other.
func retryAfter(h http.Header) time.Duration {
	if ms, ok := parseNumber(h.Get("Retry-After-Ms")); ok {
		return clampRetryAfter(ms * float64(time.Millisecond))
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, ok := parseNumber(v); ok {
		return clampRetryAfter(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampRetryAfter(float64(time.Until(t)))
	}
	return 0
}

// parseNumber parses a non-negative, finite number.
func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// clampRetryAfter converts nanoseconds to a duration in [0, maxRetryAfter]; a date in the
// past is no wait at all.
func clampRetryAfter(ns float64) time.Duration {
	switch {
	case ns <= 0:
		return 0
	case ns >= float64(maxRetryAfter):
		return maxRetryAfter
	}
	return time.Duration(ns)
}

// classifyCall classifies the failure of a call made with ctx. It tells the caller's
// deadline from a timeout of our own (the HTTP client's, or the SDK's per-attempt one),
// which also surfaces as context.DeadlineExceeded: the first ends the task's attempt, the
// second is a slow provider and worth a retry elsewhere.
func classifyCall(ctx context.Context, provider string, status int, header http.Header, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = &attemptTimeout{err: err}
	}
	return Classify(provider, status, header, err)
}

// attemptTimeout is a timeout that is not the caller's. It deliberately does not unwrap,
// so that errors.Is(err, context.DeadlineExceeded) stays false while the caller's context
// is still live.
type attemptTimeout struct{ err error }

func (e *attemptTimeout) Error() string { return "request timed out: " + e.err.Error() }

// Timeout marks the error as a timeout, as net.Error does.
func (e *attemptTimeout) Timeout() bool { return true }

// callFailure is an SDK failure with a message of our own making: the HTTP status and the
// provider's explanation, with the API key cut out. It unwraps to the SDK's error so that
// callers can still reach its details (and Classify the context and network errors inside).
type callFailure struct {
	msg string
	err error
}

func (e *callFailure) Error() string { return e.msg }
func (e *callFailure) Unwrap() error { return e.err }

// newCallFailure wraps err under msg, with every occurrence of secret redacted: providers
// echo a rejected key in their error messages, and transport errors may quote a request.
func newCallFailure(msg, secret string, err error) error {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return &callFailure{msg: msg, err: err}
}

// statusLine renders a status as "429 Too Many Requests".
func statusLine(status int) string {
	if text := http.StatusText(status); text != "" {
		return strconv.Itoa(status) + " " + text
	}
	return strconv.Itoa(status)
}

// joinDetails joins the non-empty parts of a provider's error ("rate_limit_error",
// "Rate limit reached …") with ": ".
func joinDetails(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ": ")
}

// checkRequest rejects what no provider could answer, before any HTTP call.
func checkRequest(provider string, req Request) error {
	if problem := requestProblem(req); problem != "" {
		return &Error{Kind: KindInvalid, Provider: provider, Err: errors.New(problem)}
	}
	return nil
}

func requestProblem(req Request) string {
	switch {
	case strings.TrimSpace(req.Model) == "":
		return "request has no model"
	case len(req.Messages) == 0:
		return "request has no messages"
	case req.MaxTokens < 0:
		return fmt.Sprintf("negative max tokens %d", req.MaxTokens)
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return fmt.Sprintf("message %d has unknown role %q", i, m.Role)
		}
	}
	return ""
}
