// Package limits holds what keeps tenants within what their tier pays for, and out of each
// other's way: rate limits (sliding windows), concurrency semaphores, budget reservations,
// fair dispatch across tenants (Fair, start-time fair queuing weighted by tier), and the
// tiers themselves.
//
// The ingest API asks a Window before it accepts a request (requests per minute, executions
// per hour, an agent's own cap) and turns the Decision into RateLimit-* headers or a 429 with
// Retry-After; workers ask Fair which tenant to serve next and take that tenant's Semaphore
// slots (AcquireN) before they fetch its tasks; before each model call they reserve its worst
// case in the Budget ledger. Every limiter
// is one small interface with two implementations: on Redis, where each decision is one
// atomic server-side script, so limits hold exactly across any number of ingest and worker
// replicas; and in process, for `agentic dev` on a single node. The limitstest package is the
// conformance suite both must pass.
//
// Keys are opaque strings chosen by the caller and carry the tenant ("ten_123:rpm"), so one
// tenant's use never counts against another's. Failures to reach a limiter's store wrap
// ErrUnavailable; whether a limit then fails open or closed is the caller's choice, and
// Outages counts and logs each time it happens.
package limits
