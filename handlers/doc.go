// Package handlers holds what runs on a message: Tasks executes a task from the tasks stream,
// Webhooks delivers a lifecycle event to the task's webhook_url, and Ops runs the
// scheduler's jobs (the outbox reconciler). Each is an events.Handler; the events.Runner
// maps its returned value (nil, Snooze, RetryAfter, Cancel, error) onto the JetStream
// message, so the handlers speak only in outcomes.
//
// Execution is at least once: a message may be delivered twice, and a worker may die mid-
// task. What the handlers guarantee on top of that is that results are exactly once: the
// store writes a task's terminal state, usage and cost once (FinishTask), a live lease keeps
// a second worker off a running task, and the terminal event is republished (deduplicated by
// its id) whenever a finished task's message comes back.
package handlers
