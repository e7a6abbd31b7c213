package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Task is a task as the API returns it (API.md "Task").
type Task struct {
	ID         string            `json:"id"`
	Agent      string            `json:"agent"`
	Status     string            `json:"status"`
	Input      json.RawMessage   `json:"input"`
	Output     json.RawMessage   `json:"output"`
	Error      *TaskError        `json:"error"`
	Model      *string           `json:"model"`
	Provider   *string           `json:"provider"`
	Usage      Usage             `json:"usage"`
	Attempts   int               `json:"attempts"`
	Metadata   map[string]string `json:"metadata"`
	WebhookURL *string           `json:"webhook_url"`
	Quality    string            `json:"quality"`
	MaxCostUSD *float64          `json:"max_cost_usd,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	StartedAt  *time.Time        `json:"started_at"`
	FinishedAt *time.Time        `json:"finished_at"`
	TraceID    string            `json:"trace_id"`
	// Routing is how the router chose the model: the estimated complexity, the quality
	// floor, and every model considered with why it was dropped. null until the task ends,
	// and for a task that ended before the router ran.
	Routing json.RawMessage `json:"routing"`
	// Cache is whether the task may be answered from the LLM response cache (an identical
	// earlier request of the tenant's, to the same agent and model, within the hour) and its
	// answer kept there; false when it was submitted with "cache": false.
	Cache bool `json:"cache"`
}

// Terminal reports whether the task has ended.
func (t *Task) Terminal() bool {
	return t.Status == "succeeded" || t.Status == "failed" || t.Status == "canceled"
}

// TaskError says why a task failed or was canceled.
type TaskError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Usage is what a task consumed.
type Usage struct {
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// TaskList is a page of tasks.
type TaskList struct {
	Data       []Task  `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// SubmitRequest is the body of POST /v1/tasks.
type SubmitRequest struct {
	Agent      string            `json:"agent"`
	Input      json.RawMessage   `json:"input"`
	WebhookURL string            `json:"webhook_url,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Quality    string            `json:"quality,omitempty"`
	MaxCostUSD *float64          `json:"max_cost_usd,omitempty"`
	// Cache, when false, keeps the task out of the LLM response cache: it is neither
	// answered from it nor stored in it. nil (the default) and true allow both.
	Cache *bool `json:"cache,omitempty"`
}

// Tenant is a customer as the admin API returns it. WebhookSecret is set only in the reply
// to its creation.
type Tenant struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Tier             string    `json:"tier"`
	MonthlyBudgetUSD *float64  `json:"monthly_budget_usd"`
	WebhookSecret    string    `json:"webhook_secret,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	// PreviousWebhookSecretExpiresAt is set in the answer to a rotation: until then,
	// deliveries are signed with both the new secret and the one it replaced.
	PreviousWebhookSecretExpiresAt *time.Time `json:"previous_webhook_secret_expires_at,omitempty"`
}

// CreateTenantRequest is the body of POST /v1/admin/tenants.
type CreateTenantRequest struct {
	Name             string   `json:"name"`
	Tier             string   `json:"tier"`
	MonthlyBudgetUSD *float64 `json:"monthly_budget_usd,omitempty"`
}

// APIKey is a new API key; Key is shown only in the reply to its creation.
type APIKey struct {
	ID        string    `json:"id"`
	Key       string    `json:"key,omitempty"`
	Prefix    string    `json:"prefix"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Agent is an entry of the marketplace catalog.
type Agent struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Category             string          `json:"category"`
	Quality              string          `json:"quality"`
	InputSchema          json.RawMessage `json:"input_schema"`
	MaxExecutionsPerHour *int            `json:"max_executions_per_hour"`
}

// AgentList is the catalog.
type AgentList struct {
	Data []Agent `json:"data"`
}

// Delivery is one attempt to deliver a webhook.
type Delivery struct {
	ID         string    `json:"id"`
	WebhookID  string    `json:"webhook_id"`
	Type       string    `json:"type"`
	URL        string    `json:"url"`
	Attempt    int       `json:"attempt"`
	StatusCode int       `json:"status_code"`
	Succeeded  bool      `json:"succeeded"`
	Final      bool      `json:"final"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
	CreatedAt  time.Time `json:"created_at"`
}

// DeliveryList lists a task's webhook deliveries.
type DeliveryList struct {
	Data []Delivery `json:"data"`
}

// WebhookEvent is the body the platform POSTs to a task's webhook_url.
type WebhookEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Task      `json:"data"`
}

// Problem is an RFC 9457 error body. The client returns every answer outside 2xx as a
// *Problem, with Status set to the answer's HTTP status; match it with errors.As and switch
// on Code.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Code   string         `json:"code"`
	Errors []ProblemField `json:"errors,omitempty"`
	// Checks are the readiness checks of a 503 from GET /health/ready, by name.
	Checks map[string]Check `json:"checks,omitempty"`

	// RetryAfter is the answer's Retry-After (on 429 and 503): how long to wait before
	// trying again; zero when absent.
	RetryAfter time.Duration `json:"-"`
	// RateLimit is the answer's RateLimit-* headers; nil when absent.
	RateLimit *RateLimit `json:"-"`
}

// ProblemField names one invalid part of a request.
type ProblemField struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error returns the status, the code and the detail (or the title when there is no detail).
func (p *Problem) Error() string {
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	code := p.Code
	if code == "" {
		code = http.StatusText(p.Status)
	}
	return fmt.Sprintf("agentic: %d %s: %s", p.Status, code, msg)
}

// RateLimit is the state of the tenant's request rate limit, from the RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset headers.
type RateLimit struct {
	// Limit is how many requests the window allows.
	Limit int
	// Remaining is how many are left in the current window.
	Remaining int
	// Reset is how long until the window has room again.
	Reset time.Duration
}

// Check is the outcome of one readiness check.
type Check struct {
	Status    string `json:"status"` // "ok" or "down"
	LatencyMS int64  `json:"latency_ms"`
}

// Readiness is the answer of GET /health/ready when every dependency answers.
type Readiness struct {
	Status  string           `json:"status"`
	Version string           `json:"version,omitempty"`
	Checks  map[string]Check `json:"checks"`
}

// The stable problem codes the server answers with (Problem.Code).
const (
	CodeInvalidJSON           = "invalid_json"
	CodeJSONTooDeep           = "json_too_deep"
	CodeInvalidParameter      = "invalid_parameter"
	CodeInvalidRequest        = "invalid_request"
	CodeInvalidIdempotencyKey = "invalid_idempotency_key"
	CodeUnauthorized          = "unauthorized"
	CodeForbidden             = "forbidden"
	CodeNotFound              = "not_found"
	CodeMethodNotAllowed      = "method_not_allowed"
	CodeIdempotencyConflict   = "idempotency_conflict"
	CodeTaskFinished          = "task_finished"
	CodeConflict              = "conflict"
	CodeBodyTooLarge          = "body_too_large"
	CodeUnsupportedMediaType  = "unsupported_media_type"
	CodeUnknownAgent          = "unknown_agent"
	CodeInvalidInput          = "invalid_input"
	CodeInvalidMetadata       = "invalid_metadata"
	CodeInvalidWebhookURL     = "invalid_webhook_url"
	CodeInvalidQuality        = "invalid_quality"
	CodeInvalidTier           = "invalid_tier"
	CodeInvalidBudget         = "invalid_budget"
	CodeRateLimited           = "rate_limited"
	CodeBudgetExceeded        = "budget_exceeded"
	CodeInternal              = "internal"
	CodeUnavailable           = "unavailable"
	CodeNotReady              = "not_ready"
)
