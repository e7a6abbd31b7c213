package llm

import (
	"context"
	"errors"
	"time"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // system | user | assistant
	Content string
}

// Request is one completion call.
type Request struct {
	Model     string
	Messages  []Message
	MaxTokens int
	// Seed makes providers that support it (sim) deterministic per task: the task id.
	Seed string
}

// Response is a completion and the provider's own token counts.
type Response struct {
	Content      string
	InputTokens  int64
	OutputTokens int64
	Model        string
}

// Provider is one LLM vendor's API.
type Provider interface {
	// Name is the provider's registry name: "openai", "anthropic", "sim", …
	Name() string
	Complete(ctx context.Context, req Request) (*Response, error)
}

// ErrorKind classifies a provider failure, which decides retry and failover.
type ErrorKind int

// The kinds of provider failure.
const (
	KindRetryable   ErrorKind = iota + 1 // 5xx, timeouts, 429: retry with backoff
	KindInvalid                          // 400/404/422: never retried
	KindAuth                             // 401/403: the provider is unavailable
	KindRateLimited                      // 429: retry after RetryAfter
)

// Error is a classified provider failure.
type Error struct {
	Kind       ErrorKind
	Provider   string
	Status     int           // HTTP status, 0 if none
	RetryAfter time.Duration // from Retry-After, 0 if none
	Err        error
}

// Error reports the provider and its failure.
func (e *Error) Error() string { return e.Provider + ": " + e.Err.Error() }

// Unwrap returns the underlying failure.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind == KindRetryable || e.Kind == KindRateLimited
	}
	return !errors.Is(err, context.Canceled)
}

// Model is a registry entry. Prices are integer micro-dollars per 1M tokens.
type Model struct {
	ID               string
	Provider         string
	Quality          int // 0..100
	ContextWindow    int
	InputPerMillion  int64
	OutputPerMillion int64
	// Capabilities lists what the model can do beyond plain chat: "json", "tools",
	// "vision", "code". The router may require one.
	Capabilities []string
	// Fallbacks names the models to try, in order, when this one cannot answer (its circuit
	// is open, its provider is down); each must be in the registry, and no chain may lead
	// back to a model already in it.
	Fallbacks []string
}

// Cost returns the cost in micro-dollars of a call's tokens.
func (m Model) Cost(inputTokens, outputTokens int64) int64 {
	return (inputTokens*m.InputPerMillion + outputTokens*m.OutputPerMillion + 999_999) / 1_000_000
}

// SimConfig configures the simulated provider.
type SimConfig struct {
	Latency  time.Duration // per call
	FailRate float64       // 0..1, fraction of calls failing with a retryable error
}

// NewSim returns the deterministic simulated provider, registered as "sim".
func NewSim(cfg SimConfig) Provider { return newSim(cfg) }
