package events

// This file fixes the package's API; the bodies marked "not implemented" are being written.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/store"
)

// Names derives every subject, stream and consumer name from one prefix, so that tests (and
// several installations on one NATS) never share them. Prefix is a NATS token: [a-z0-9_-]+.
type Names struct{ Prefix string }

// Consumer names, durable on their streams.
const (
	ConsumerWorkers  = "workers"  // tasks stream
	ConsumerWebhooks = "webhooks" // events stream, task.* events
	ConsumerOps      = "ops"      // ops stream
)

// Headers every message carries.
const (
	HeaderKind        = "Agentic-Kind"   // task | task.succeeded | ... | ops.reconcile
	HeaderTenant      = "Agentic-Tenant" // tenant id, where the message is a tenant's
	HeaderTraceParent = "traceparent"    // W3C trace context
	HeaderError       = "Agentic-Error"  // on dead-lettered copies: code: message
)

// TaskSubject is where a tenant's tasks are published: PREFIX.tasks.TENANT.
func (n Names) TaskSubject(tenantID string) string { return n.Prefix + ".tasks." + tenantID }

// EventSubject is where a lifecycle event is published: PREFIX.events.task.succeeded.
func (n Names) EventSubject(eventType string) string { return n.Prefix + ".events." + eventType }

// LiveSubject carries non-durable status notifications (task.running) for long-polls.
func (n Names) LiveSubject(taskID string) string { return n.Prefix + ".live." + taskID }

// CancelSubject carries a request to interrupt a running task (core NATS, not stored).
func (n Names) CancelSubject(taskID string) string { return n.Prefix + ".cancel." + taskID }

// DLQSubject is where dead-lettered copies of a kind of message go: PREFIX.dlq.tasks.
func (n Names) DLQSubject(kind string) string { return n.Prefix + ".dlq." + kind }

// OpsSubject is where the scheduler emits a job: PREFIX.ops.reconcile.
func (n Names) OpsSubject(job string) string { return n.Prefix + ".ops." + job }

// TasksStream, EventsStream, DLQStream and OpsStream name the streams (PREFIX_TASKS, …,
// upper-cased, '-' and '.' as '_').
func (n Names) TasksStream() string  { return streamName(n.Prefix, "TASKS") }
func (n Names) EventsStream() string { return streamName(n.Prefix, "EVENTS") }
func (n Names) DLQStream() string    { return streamName(n.Prefix, "DLQ") }
func (n Names) OpsStream() string    { return streamName(n.Prefix, "OPS") }

// SetupOpts tunes the streams and consumers Setup creates; nil means defaults.
type SetupOpts struct {
	Replicas        int           // stream replicas (1; 3 in a production cluster)
	DuplicateWindow time.Duration // dedupe window for Nats-Msg-Id (10m)
	AckWait         time.Duration // redelivery after a silent consumer (30s)
	EventsMaxAge    time.Duration // how long lifecycle events are kept (7 days)
	MemoryStorage   bool          // tests only
}

// Setup creates or updates the streams and durable consumers. It is idempotent and safe to
// call from every process at start.
func Setup(ctx context.Context, js jetstream.JetStream, n Names, o *SetupOpts) error {
	return errors.New("not implemented")
}

// TaskMessage is the body of a message on the tasks stream. The row in the store is the
// truth; the message only says which task to run.
type TaskMessage struct {
	TaskID   string `json:"task_id"`
	TenantID string `json:"tenant_id"`
}

// TaskEvent is a lifecycle event: the body of PREFIX.events.task.* messages and, as Data,
// of the webhook a dispatcher sends.
type TaskEvent struct {
	// ID is stable for the event ("evt_" + task id for the terminal event): the Nats-Msg-Id
	// and the webhook-id of every delivery attempt.
	ID        string      `json:"id"`
	Type      string      `json:"type"` // task.succeeded | task.failed | task.canceled
	TenantID  string      `json:"tenant_id"`
	Timestamp time.Time   `json:"timestamp"`
	Task      client.Task `json:"task"`
}

// TerminalEvent builds the terminal event of a finished task.
func TerminalEvent(t *store.Task) TaskEvent {
	ts := time.Now().UTC()
	if t.FinishedAt != nil {
		ts = t.FinishedAt.UTC()
	}
	return TaskEvent{ID: "evt_" + t.ID, Type: "task." + string(t.Status), TenantID: t.TenantID, Timestamp: ts, Task: t.API()}
}

// OpsEvent is a scheduler tick: the body of PREFIX.ops.* messages.
type OpsEvent struct {
	Job  string    `json:"job"`
	Tick time.Time `json:"tick"` // the nominal time of the tick; with Job, its dedupe id
}

// Publisher publishes the platform's messages with a Nats-Msg-Id, so a republish inside the
// duplicate window is dropped by JetStream.
type Publisher struct {
	js jetstream.JetStream
	nc *nats.Conn
	n  Names
}

// NewPublisher returns a Publisher on js (and its connection, for core NATS signals).
func NewPublisher(js jetstream.JetStream, n Names) *Publisher {
	return &Publisher{js: js, nc: js.Conn(), n: n}
}

// PublishTask publishes the task's message (Msg-Id = task id) and waits for the stream's ack.
func (p *Publisher) PublishTask(ctx context.Context, t *store.Task) error {
	return errors.New("not implemented")
}

// PublishTaskAsync publishes the task's message without waiting; the future resolves on the
// stream's ack. Many in flight at once is the fast path of ingest.
func (p *Publisher) PublishTaskAsync(t *store.Task) (jetstream.PubAckFuture, error) {
	return nil, errors.New("not implemented")
}

// PublishEvent publishes a lifecycle event (Msg-Id = ev.ID) and waits for the ack.
func (p *Publisher) PublishEvent(ctx context.Context, ev TaskEvent) error {
	return errors.New("not implemented")
}

// PublishOps publishes a scheduler tick with Msg-Id = job + "-" + tick (unix seconds), so
// replicas firing the same tick store it once.
func (p *Publisher) PublishOps(ctx context.Context, ev OpsEvent) error {
	return errors.New("not implemented")
}

// PublishDLQ stores a copy of m, with its headers and the reason, on the dead-letter stream.
func (p *Publisher) PublishDLQ(ctx context.Context, kind string, m *Msg, reason store.TaskError) error {
	return errors.New("not implemented")
}

// NotifyRunning tells live watchers (long-polls, event streams) that a task started. Not
// stored; best effort.
func (p *Publisher) NotifyRunning(taskID string) error { return errors.New("not implemented") }

// SignalCancel asks the worker running the task to interrupt it. Not stored; workers also
// learn of it from the store at their next heartbeat.
func (p *Publisher) SignalCancel(taskID string) error { return errors.New("not implemented") }

// Msg is one delivery of a stream message to a handler.
type Msg struct {
	Subject      string
	Header       nats.Header
	Data         []byte
	NumDelivered uint64    // 1 on the first delivery
	Published    time.Time // when the message was stored
	raw          jetstream.Msg
}

// InProgress resets the message's ack timer.
func (m *Msg) InProgress() error { return m.raw.InProgress() }

// Handler processes one message. Its error decides the message's fate, in one place (the
// Runner): nil → Ack; Snooze(d) → NakWithDelay(d), the store's attempt count untouched;
// RetryAfter(err, d) → NakWithDelay(d); Cancel(err) → Term; any other error → NakWithDelay
// with the Runner's backoff for NumDelivered.
type Handler func(ctx context.Context, m *Msg) error

// Snooze returns the message to the stream after d without it being a failure.
func Snooze(d time.Duration) error { return &outcome{kind: outcomeSnooze, delay: d} }

// RetryAfter returns the message to the stream after d as a failed attempt.
func RetryAfter(err error, d time.Duration) error {
	return &outcome{kind: outcomeRetry, delay: d, err: err}
}

// Cancel terminates the message: it is never redelivered.
func Cancel(err error) error { return &outcome{kind: outcomeCancel, err: err} }

type outcomeKind int

const (
	outcomeSnooze outcomeKind = iota + 1
	outcomeRetry
	outcomeCancel
)

type outcome struct {
	kind  outcomeKind
	delay time.Duration
	err   error
}

func (o *outcome) Error() string {
	if o.err != nil {
		return o.err.Error()
	}
	return "snoozed"
}

func (o *outcome) Unwrap() error { return o.err }

// ErrShutdown is the cause of a handler's context cancellation when its Runner stops and the
// drain timeout ran out.
var ErrShutdown = errors.New("events: shutting down")

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Stream   string // stream name
	Consumer string // durable consumer name (created by Setup)
	// Concurrency is how many handlers run at once (64).
	Concurrency int
	// Heartbeat is how often InProgress is sent while a handler runs (AckWait/3, at most 10s).
	Heartbeat time.Duration
	// DrainTimeout is how long Stop waits for in-flight handlers before cancelling them (25s).
	DrainTimeout time.Duration
	// Backoff is the redelivery delay after a plain error on delivery n (exponential with
	// jitter from 1s, at most 5m, through cenkalti/backoff).
	Backoff func(numDelivered uint64) time.Duration
	Logger  *slog.Logger
}

// Runner pulls from a durable consumer and runs a Handler on each message.
type Runner struct {
	js  jetstream.JetStream
	cfg RunnerConfig
	h   Handler
}

// NewRunner validates cfg and returns a Runner; Start begins pulling.
func NewRunner(js jetstream.JetStream, cfg RunnerConfig, h Handler) (*Runner, error) {
	return nil, errors.New("not implemented")
}

// Start begins pulling messages; it returns once pulling has started.
func (r *Runner) Start(ctx context.Context) error { return errors.New("not implemented") }

// Stop stops pulling, waits up to DrainTimeout for in-flight handlers, then cancels their
// contexts with ErrShutdown as cause and waits for them to return (their outcome still
// applies). It is idempotent.
func (r *Runner) Stop(ctx context.Context) error { return errors.New("not implemented") }

// Notifier lets a process wait for status changes of tasks published by any process:
// terminal events and live notifications, over core NATS subscriptions.
type Notifier struct{}

// NewNotifier subscribes to the events and live subjects of n.
func NewNotifier(nc *nats.Conn, n Names) (*Notifier, error) { return nil, errors.New("not implemented") }

// Watch returns a channel that receives the new status each time the task changes, until
// stop is called.
func (no *Notifier) Watch(taskID string) (ch <-chan string, stop func()) { return nil, func() {} }

// Close unsubscribes.
func (no *Notifier) Close() error { return nil }

// Cancels routes cancel signals to the local handlers running those tasks.
type Cancels struct{}

// NewCancels subscribes to the cancel subjects of n.
func NewCancels(nc *nats.Conn, n Names) (*Cancels, error) { return nil, errors.New("not implemented") }

// Register arranges for cancel to be called (with cause ErrCanceledByUser) when a cancel
// signal for taskID arrives, until unregister is called.
func (c *Cancels) Register(taskID string, cancel context.CancelCauseFunc) (unregister func()) {
	return func() {}
}

// Close unsubscribes.
func (c *Cancels) Close() error { return nil }

// ErrCanceledByUser is the cause of a handler context cancelled by a cancel signal.
var ErrCanceledByUser = errors.New("events: task canceled")

func streamName(prefix, kind string) string {
	b := []byte(prefix)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c == '-' || c == '.':
			b[i] = '_'
		}
	}
	return string(b) + "_" + kind
}
