// Package events is the platform's messaging layer on NATS JetStream: the names of every
// subject, stream and consumer (Names, derived from one prefix so installations and tests
// never share them), their creation (Setup), the message bodies (TaskMessage, TaskEvent,
// OpsEvent), publishing with a Nats-Msg-Id and the W3C trace context in headers
// (Publisher), and consuming (Runner).
//
// Streams: PREFIX_TASKS is a work queue of task messages on PREFIX.tasks.TENANT, consumed
// through one durable consumer per tenant (tasks_TENANT) that the workers create; PREFIX_EVENTS keeps lifecycle events (task.succeeded|failed|canceled) for the
// "webhooks" consumer; PREFIX_OPS is a work queue of ops events, one consumer per type; PREFIX_DLQ
// keeps dead-lettered copies. Every stored message carries a Nats-Msg-Id (the task id, the
// event id, job+tick), so a republish inside the duplicate window is stored once: that is
// what makes the ingest outbox and scheduler replicas safe.
//
// A Runner pulls from a durable consumer and runs a Handler on each message with bounded
// concurrency, sending InProgress while a handler runs. With FairConfig it reads the tasks
// stream instead: whenever a handler is free it picks the next tenant by weighted fair
// queuing (limits.Fair), takes that tenant's concurrency slots (Admitter), and only then
// fetches the tenant's tasks — so no tenant's backlog holds back another's task, and no
// task beyond its tenant's limit leaves the stream. Publishers send a core NATS wake notice
// (PREFIX.wake.TENANT) after each stored task, and the Runner also polls the stream's
// per-tenant counts. The handler's returned error is
// its outcome, mapped to an acknowledgement in exactly one place: nil acks, Snooze and
// RetryAfter return the message after a delay, Cancel terminates it, any other error (or a
// panic) returns it after the Runner's backoff. Stop stops pulling, lets in-flight handlers
// finish within a drain timeout and then cancels them with ErrShutdown as cause.
//
// The ops events (OpsEvent: ops.reconcile, ops.backup.requested, ops.cache.invalidate) go
// through Watermill instead: Publisher.Watermill is a Watermill publisher on JetStream (the
// message's UUID is its Nats-Msg-Id, so a scheduler tick is stored once), and OpsRouter runs
// the worker's ops handlers in a Watermill router with its middleware — correlation id, poison
// queue (to the DLQ stream), retries with backoff, recoverer — over OpsSubscriber, which reads
// each type of event through its own durable consumer (ops_backup_requested, …), keeps a
// message in progress while its handler runs and settles it by ack or NakWithDelay.
// ScheduleState keeps the last tick the scheduler fired of each job in a key-value bucket.
//
// Not everything is stored: Notifier and Cancels ride core NATS subjects (PREFIX.live.*,
// PREFIX.events.*.task.*, PREFIX.cancel.*) so long-polls learn of status changes and workers
// of cancel requests from any process, best effort, with the store remaining the truth.
//
// NATS client errors never leave the package: they are translated to ErrUnavailable,
// ErrPublishStalled, ErrNotSetUp or ErrBus (context errors stay as they are).
package events
