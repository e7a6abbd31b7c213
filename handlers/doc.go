// Package handlers holds what runs on a message: Tasks executes a task from the tasks stream
// (answering a repeated prompt from the LLM response cache), Webhooks delivers a lifecycle
// event to the task's webhook_url, and Ops runs the scheduler's jobs: the outbox reconciler,
// the backups (Backups: take, upload, record, prune, with metrics) and cache invalidation.
// Tasks and Webhooks are events.Handlers, and the events.Runner maps their returned value
// (nil, Snooze, RetryAfter, Cancel, error) onto the JetStream message, so the handlers speak
// only in outcomes; Ops's handlers run in the worker's Watermill router (events.OpsRouter),
// where an error is retried, then dead-lettered.
//
// The tenants' limits live here too, on the worker's side: Slots is the events.Admitter and
// share of the task Runner's fair dispatch (a tenant's tier concurrency across workers, and
// its weight), Budgets reserves each model call's worst case against the tenant's monthly
// budget, and TenantCache keeps the tiers and budgets they read, dropped on a bus
// invalidation.
//
// Execution is at least once: a message may be delivered twice, and a worker may die mid-
// task. What the handlers guarantee on top of that is that results are exactly once: the
// store writes a task's terminal state, usage and cost once (FinishTask), a live lease keeps
// a second worker off a running task, and the terminal event is republished (deduplicated by
// its id) whenever a finished task's message comes back.
package handlers
