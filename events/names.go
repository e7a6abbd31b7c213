package events

import "strings"

// Names derives every subject, stream and consumer name from one prefix, so that tests (and
// several installations on one NATS) never share them. Prefix is a NATS token: [a-z0-9_-]+.
type Names struct{ Prefix string }

// Consumer names, durable on their streams. The tasks stream has one consumer per tenant
// (TaskConsumer), created by the workers as tenants' tasks appear.
const ConsumerWebhooks = "webhooks" // events stream, task.* events

// legacyWorkers is the one catch-all consumer of the tasks stream before fair dispatch, and
// legacyOps the one of the ops stream before each type of ops event had its own
// (OpsConsumer). A work-queue stream allows no consumer overlapping another, so Setup
// deletes them.
const (
	legacyWorkers = "workers"
	legacyOps     = "ops"
)

// Headers every message carries.
const (
	HeaderKind        = "Agentic-Kind"   // task | task.succeeded | ... | ops.reconcile
	HeaderTenant      = "Agentic-Tenant" // tenant id, where the message is a tenant's
	HeaderTraceParent = "traceparent"    // W3C trace context
	HeaderError       = "Agentic-Error"  // on dead-lettered copies: code: message
)

// KindTask is the HeaderKind of a message on the tasks stream.
const KindTask = "task"

// TaskSubject is where a tenant's tasks are published: PREFIX.tasks.TENANT.
func (n Names) TaskSubject(tenantID string) string { return n.Prefix + ".tasks." + tenantID }

// TaskFilter matches every tenant's task subject: PREFIX.tasks.*.
func (n Names) TaskFilter() string { return n.Prefix + ".tasks.*" }

// TaskTenant returns the tenant of a task subject, "" when subject is not one.
func (n Names) TaskTenant(subject string) string { return lastToken(subject, n.Prefix+".tasks.") }

// TaskConsumer names the durable consumer of a tenant's tasks: tasks_TENANT.
func (n Names) TaskConsumer(tenantID string) string { return "tasks_" + tenantID }

// WakeSubject carries a core NATS notice that a tenant's task was stored, so idle workers
// fetch it at once rather than at their next poll: PREFIX.wake.TENANT.
func (n Names) WakeSubject(tenantID string) string { return n.Prefix + ".wake." + tenantID }

// WakeTenant returns the tenant of a wake subject, "" when subject is not one.
func (n Names) WakeTenant(subject string) string { return lastToken(subject, n.Prefix+".wake.") }

// lastToken returns what follows prefix in subject when that is one non-empty token.
func lastToken(subject, prefix string) string {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok || rest == "" || strings.Contains(rest, ".") {
		return ""
	}
	return rest
}

// EventSubject is where a tenant's lifecycle event is published:
// PREFIX.events.TENANT.task.succeeded. The tenant is in the subject, as in every subject that
// carries a tenant's data, so permissions, consumers and mirrors can be scoped to one tenant.
func (n Names) EventSubject(tenantID, eventType string) string {
	return n.Prefix + ".events." + tenantID + "." + eventType
}

// EventFilter matches one type of event (or, with "task.>", every task event) of every
// tenant: PREFIX.events.*.task.succeeded.
func (n Names) EventFilter(eventType string) string { return n.Prefix + ".events.*." + eventType }

// LiveSubject carries non-durable status notifications (task.running) for long-polls.
func (n Names) LiveSubject(taskID string) string { return n.Prefix + ".live." + taskID }

// CancelSubject carries a request to interrupt a running task (core NATS, not stored).
func (n Names) CancelSubject(taskID string) string { return n.Prefix + ".cancel." + taskID }

// WorkerHeartbeatSubject carries each worker's periodic announcement of itself (core NATS,
// not stored), which ingest collects for /health/detailed: PREFIX.workers.heartbeat.
func (n Names) WorkerHeartbeatSubject() string { return n.Prefix + ".workers.heartbeat" }

// DLQSubject is where dead-lettered copies of a kind of message go, by tenant:
// PREFIX.dlq.tasks.TENANT (DLQSystem for a message that is no tenant's).
func (n Names) DLQSubject(kind, tenantID string) string {
	if tenantID == "" {
		tenantID = DLQSystem
	}
	return n.Prefix + ".dlq." + kind + "." + tenantID
}

// DLQSystem stands for the tenant in the DLQ subject of a message that has none.
const DLQSystem = "system"

// OpsSubject is where ops events of a type are published: PREFIX.ops.backup.requested for
// OpsBackupRequested.
func (n Names) OpsSubject(opsType string) string { return n.Prefix + "." + opsType }

// ScheduleBucket names the key-value bucket where the scheduler records the last tick it
// fired of each job (PREFIX_schedule).
func (n Names) ScheduleBucket() string { return n.Prefix + "_schedule" }

// TasksStream names the work-queue stream of tasks (PREFIX_TASKS, upper-cased, '-' and '.'
// as '_').
func (n Names) TasksStream() string { return streamName(n.Prefix, "TASKS") }

// EventsStream names the stream of lifecycle events (PREFIX_EVENTS).
func (n Names) EventsStream() string { return streamName(n.Prefix, "EVENTS") }

// DLQStream names the dead-letter stream (PREFIX_DLQ).
func (n Names) DLQStream() string { return streamName(n.Prefix, "DLQ") }

// OpsStream names the work-queue stream of scheduler jobs (PREFIX_OPS).
func (n Names) OpsStream() string { return streamName(n.Prefix, "OPS") }

// Valid reports whether the prefix is a usable NATS token: non-empty, of [A-Za-z0-9_-].
func (n Names) Valid() bool {
	if n.Prefix == "" {
		return false
	}
	for i := 0; i < len(n.Prefix); i++ {
		c := n.Prefix[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

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
