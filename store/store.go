package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors every Store implementation returns, so callers match with errors.Is and never see a
// driver error.
var (
	// ErrNotFound: no row with that id, or one that belongs to another tenant.
	ErrNotFound = errors.New("store: not found")
	// ErrTaskFinished: the task is already in a terminal state.
	ErrTaskFinished = errors.New("store: task already finished")
	// ErrTaskNotQueued: StartTask found the task running (another delivery holds it).
	ErrTaskNotQueued = errors.New("store: task not queued")
	// ErrConflict: a unique constraint other than idempotency was violated.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalidCursor: ListTasks was given a cursor it did not issue.
	ErrInvalidCursor = errors.New("store: invalid cursor")
	// ErrInvalidCall: FinishTask or RecordCalls was given a call without its attempt or
	// sequence number, or routing that is not JSON (see CheckResult).
	ErrInvalidCall = errors.New("store: invalid call record")
)

// Status is a task's lifecycle state.
type Status string

// The task states. Succeeded, Failed and Canceled are terminal and never overwritten.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Terminal reports whether s is a final state.
func (s Status) Terminal() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// Valid reports whether s is one of the five states.
func (s Status) Valid() bool {
	return s == StatusQueued || s == StatusRunning || s.Terminal()
}

// Tenant is a customer of the platform.
type Tenant struct {
	ID   string // "ten_…"
	Name string
	Tier string // free|basic|pro|enterprise
	// MonthlyBudgetMicros is the monthly budget in micro-dollars; nil means none.
	MonthlyBudgetMicros *int64
	// WebhookSecret is "whsec_" + base64(32 random bytes).
	WebhookSecret string
	CreatedAt     time.Time
	// PreviousWebhookSecret is the secret the last rotation replaced ("" if never rotated),
	// and WebhookSecretRotatedAt when; see WebhookSecrets.
	PreviousWebhookSecret  string
	WebhookSecretRotatedAt *time.Time
}

// WebhookSecretOverlap is how long after a rotation deliveries are still signed with the
// previous secret too, so a receiver can switch secrets without rejecting any delivery.
const WebhookSecretOverlap = 24 * time.Hour

// WebhookSecrets returns the secrets a delivery at now is signed with: the current one and,
// within WebhookSecretOverlap of a rotation, the previous one.
func (t *Tenant) WebhookSecrets(now time.Time) []string {
	if t.PreviousWebhookSecret != "" && t.WebhookSecretRotatedAt != nil &&
		now.Before(t.WebhookSecretRotatedAt.Add(WebhookSecretOverlap)) {
		return []string{t.WebhookSecret, t.PreviousWebhookSecret}
	}
	return []string{t.WebhookSecret}
}

// TenantPatch changes a tenant; nil fields stay as they are. ClearBudget sets the budget to none.
type TenantPatch struct {
	Tier                *string
	MonthlyBudgetMicros *int64
	ClearBudget         bool
}

// APIKey is a tenant's credential. Only the SHA-256 hash of the key is stored.
type APIKey struct {
	ID        string // "key_…"
	TenantID  string
	Name      string
	Prefix    string // the first characters of the key, shown to humans: "ak_abcd"
	Hash      []byte // sha256 of the full key
	CreatedAt time.Time
	RevokedAt *time.Time
}

// TaskError is why a task failed or was canceled.
type TaskError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Task is one run of an agent.
type Task struct {
	ID       string // "tsk_…"
	TenantID string
	Agent    string
	Status   Status
	Input    json.RawMessage
	Output   json.RawMessage // nil until succeeded
	Error    *TaskError
	Model    string // "" = null
	Provider string // "" = null

	InputTokens  int64
	OutputTokens int64
	CostMicros   int64

	Attempts    int
	MaxAttempts int
	Metadata    map[string]string
	WebhookURL  string // "" = null
	Quality     string
	// MaxCostMicros is the client's cap on the task's cost; nil means none.
	MaxCostMicros *int64
	// Cache is whether the task may be answered from the LLM response cache and its answer
	// stored there (the API's "cache", true unless the client opts out). Zero (false) means
	// no caching, so a task made without saying is never served someone's cached answer.
	Cache bool

	// IdempotencyKey is the client's Idempotency-Key header ("" = none) and RequestHash the
	// SHA-256 of the canonical request body it came with.
	IdempotencyKey string
	RequestHash    []byte

	TraceID         string
	CancelRequested bool
	// LeaseUntil is when a running task's worker is presumed dead without a heartbeat.
	LeaseUntil *time.Time

	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	PublishedAt *time.Time

	// Routing is how the router chose the model (a JSON object), written by FinishTask; nil
	// until then, and for a task that ended without routing.
	Routing json.RawMessage
}

// Result is what a worker writes when a task ends.
type Result struct {
	Status       Status // terminal
	Output       json.RawMessage
	Error        *TaskError
	Model        string
	Provider     string
	InputTokens  int64
	OutputTokens int64
	CostMicros   int64
	FinishedAt   time.Time

	// Routing is the router's decision, stored on the task (a JSON object; nil = none).
	Routing json.RawMessage
	// Calls are the model calls of the finishing attempt. FinishTask records them in the
	// statement (or transaction) that makes the task terminal, so they are stored exactly
	// once with it; a FinishTask that does not apply records none. Each call's TaskID and
	// TenantID are taken from the task; Attempt and Seq must be set (see LLMCall).
	Calls []LLMCall
}

// LLMCall is one call to a model (or one skipped because its circuit was open), as usage keeps it.
type LLMCall struct {
	TaskID, TenantID string
	// Attempt is the task's attempt the call belongs to: Task.Attempts as StartTask returned
	// it for the run that made the call (1 or more).
	Attempt int
	// Seq is its order within the attempt, from 1. (TaskID, Attempt, Seq) identifies a call:
	// recording it again is a no-op.
	Seq                                   int
	Provider, Model                       string
	InputTokens, OutputTokens, CostMicros int64
	LatencyMS                             int64
	Outcome                               string // ok | rate_limited | error | invalid | auth | circuit_open | canceled | cached
	Error                                 string // "" when ok
	At                                    time.Time
	// SavedMicros is, for a call served from the LLM response cache (Outcome OutcomeCached,
	// CostMicros 0), what the call that produced the cached answer cost: the saving. Zero for
	// every other call.
	SavedMicros int64
}

// OutcomeCached is the Outcome of an LLMCall answered from the LLM response cache: no model
// was called; Provider, Model and the token counts are those of the cached answer.
const OutcomeCached = "cached"

// CheckResult reports whether r's routing and calls can be stored: the routing, when set, is
// valid JSON and every call has an Attempt and Seq of at least 1. Stores check it before
// writing, so a malformed record fails the call, not a statement it shares with others.
func CheckResult(r Result) error {
	if len(r.Routing) > 0 && !json.Valid(r.Routing) {
		return fmt.Errorf("%w: routing is not valid JSON", ErrInvalidCall)
	}
	return CheckCalls(r.Calls)
}

// CheckCalls reports whether every call has an Attempt and Seq of at least 1.
func CheckCalls(calls []LLMCall) error {
	for _, c := range calls {
		if c.Attempt < 1 || c.Seq < 1 {
			return fmt.Errorf("%w: call of task %s with attempt %d, seq %d (both start at 1)", ErrInvalidCall, c.TaskID, c.Attempt, c.Seq)
		}
	}
	return nil
}

// TaskFilter selects a tenant's tasks for listing. Results are newest first.
type TaskFilter struct {
	Status   Status            // "" = any
	Agent    string            // "" = any
	Metadata map[string]string // all pairs must match
	Limit    int               // 1..100
	// Cursor is the opaque next_cursor of a previous page ("" = first page).
	Cursor string
}

// Delivery is one attempt to POST a webhook.
type Delivery struct {
	ID         string // "dlv_…"
	TenantID   string
	TaskID     string
	WebhookID  string // the stable webhook-id header, the same across retries of one event
	EventType  string // task.succeeded|task.failed|task.canceled
	URL        string
	Attempt    int
	StatusCode int    // 0 when no response came
	Error      string // "" on success
	Succeeded  bool
	// Final is true on the last attempt of an event: success, or giving up.
	Final      bool
	DurationMS int64
	CreatedAt  time.Time
}

// Store is the platform's state. Every method honours ctx. Tenant-facing reads take the tenant
// id and return ErrNotFound for another tenant's rows. Implementations: store/postgres (and
// later store/sqlite); store/storetest is the conformance suite each must pass.
type Store interface {
	// CreateTenant inserts t; ID, WebhookSecret and CreatedAt are set by the caller.
	CreateTenant(ctx context.Context, t *Tenant) error
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	UpdateTenant(ctx context.Context, id string, p TenantPatch) (*Tenant, error)
	// RotateWebhookSecret makes secret the tenant's webhook secret, keeping the one it
	// replaces as PreviousWebhookSecret with WebhookSecretRotatedAt = at. ErrNotFound if the
	// tenant is unknown.
	RotateWebhookSecret(ctx context.Context, id, secret string, at time.Time) (*Tenant, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the unrevoked key with that hash, or ErrNotFound.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// RevokeAPIKey marks the key revoked; ErrNotFound if unknown or already revoked.
	RevokeAPIKey(ctx context.Context, id string) (*APIKey, error)

	// CreateTask inserts t (status queued). When t.IdempotencyKey is set and the tenant already
	// has a task with that key created within the last 24 hours, nothing is inserted and that
	// task is returned with existed = true, also under concurrent calls (the caller compares
	// RequestHash). Otherwise t itself is returned with existed = false.
	CreateTask(ctx context.Context, t *Task) (task *Task, existed bool, err error)
	// GetTask returns the tenant's task, or ErrNotFound.
	GetTask(ctx context.Context, tenantID, id string) (*Task, error)
	// LoadTask returns any tenant's task; for workers and dispatchers only.
	LoadTask(ctx context.Context, id string) (*Task, error)
	// ListTasks returns a page of the tenant's tasks, newest first, and the cursor of the
	// next page ("" when there is none).
	ListTasks(ctx context.Context, tenantID string, f TaskFilter) ([]*Task, string, error)

	// MarkPublished records that the tasks' messages are on the bus.
	MarkPublished(ctx context.Context, ids []string, at time.Time) error
	// Unpublished returns queued tasks created before 'before' whose publish was never
	// recorded, oldest first: the outbox the reconciler sweeps.
	Unpublished(ctx context.Context, before time.Time, limit int) ([]*Task, error)

	// StartTask moves a task to running, counts an attempt, stamps started_at (the first
	// start's stays), sets the lease to leaseUntil and marks it published. It takes a task that
	// is queued, or running with a lease that expired before 'at' (its worker died). It returns
	// ErrTaskFinished if the task is terminal and ErrTaskNotQueued (with the task) if another
	// worker's lease is still live.
	StartTask(ctx context.Context, id string, at, leaseUntil time.Time) (*Task, error)
	// Heartbeat extends a running task's lease and reports whether a cancel was requested.
	// ErrTaskFinished if the task is no longer running.
	Heartbeat(ctx context.Context, id string, leaseUntil time.Time) (cancelRequested bool, err error)
	// ReleaseTask moves a running task back to queued, clears its lease and takes back the
	// attempt StartTask counted (graceful shutdown, no slot free). ErrTaskFinished if terminal.
	ReleaseTask(ctx context.Context, id string) error
	// FinishTask writes the terminal state, usage, cost, routing and the attempt's calls
	// (r.Calls) exactly once: applied is false (the stored task is returned unchanged and no
	// call is recorded) when the task was already terminal. A call already recorded by
	// RecordCalls is left as it is. ErrInvalidCall if CheckResult refuses r.
	FinishTask(ctx context.Context, id string, r Result) (task *Task, applied bool, err error)
	// RecordCalls stores the model calls of an attempt that ends in a retry (a finishing
	// attempt's go with FinishTask). It is idempotent on (TaskID, Attempt, Seq): a call
	// already stored is left as it is, so a redelivered attempt does not duplicate its calls.
	// No calls is a no-op; a call of an unknown task is ErrNotFound, and ErrInvalidCall if
	// CheckCalls refuses them.
	RecordCalls(ctx context.Context, calls []LLMCall) error
	// ListCalls returns the tenant's model calls of one task, ordered by attempt and seq: an
	// empty list for a task without calls, an unknown task or another tenant's.
	ListCalls(ctx context.Context, tenantID, taskID string) ([]LLMCall, error)

	// CancelTask cancels the tenant's task: a queued one becomes canceled at once (applied
	// true); a running one gets CancelRequested set and stays running (the worker ends it).
	// ErrTaskFinished if already terminal, ErrNotFound if unknown.
	CancelTask(ctx context.Context, tenantID, id string, at time.Time) (task *Task, err error)

	// RecordBackup stores one backup run.
	RecordBackup(ctx context.Context, b *Backup) error
	// ListBackups returns the latest backup runs, newest first by FinishedAt.
	ListBackups(ctx context.Context, f BackupFilter) ([]*Backup, error)

	// RecordDelivery stores one webhook attempt.
	RecordDelivery(ctx context.Context, d *Delivery) error
	// ListDeliveries returns the attempts for the tenant's task, oldest first.
	ListDeliveries(ctx context.Context, tenantID, taskID string) ([]*Delivery, error)

	// Usage sums the tenant's usage records of tasks that ended in [from, to): by status, by
	// provider and model, and by UTC day; and the model calls made in [from, to) that the
	// LLM response cache answered.
	Usage(ctx context.Context, tenantID string, from, to time.Time) (*Usage, error)

	// Ping checks the database answers.
	Ping(ctx context.Context) error
}

// Usage is what a tenant's tasks consumed in a period (GET /v1/usage).
type Usage struct {
	Tasks        map[Status]int64 // ended tasks by terminal status
	InputTokens  int64
	OutputTokens int64
	CostMicros   int64
	ByModel      []ModelUsage // by provider and model, most expensive first
	ByDay        []DayUsage   // by UTC day, oldest first; days without tasks are left out
	// Cached sums the model calls of the period answered from the LLM response cache (by
	// the calls' own time, not their tasks' end).
	Cached CachedUsage
}

// CachedUsage is what the LLM response cache saved a tenant in a period.
type CachedUsage struct {
	Calls       int64 // calls with Outcome OutcomeCached
	SavedMicros int64 // the sum of their SavedMicros
}

// ModelUsage is one provider and model's part of a Usage ("" for tasks that called none).
type ModelUsage struct {
	Provider     string
	Model        string
	Tasks        int64
	InputTokens  int64
	OutputTokens int64
	CostMicros   int64
}

// DayUsage is one UTC day's part of a Usage.
type DayUsage struct {
	Date       string // YYYY-MM-DD
	Tasks      int64
	CostMicros int64
}
