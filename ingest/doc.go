// Package ingest is the platform's HTTP API (API.md): admin calls that create tenants and API
// keys, the agent catalog, task submission, reads, long-polls, event streams, cancellation and
// webhook delivery logs, health checks and the OpenAPI document.
//
// Ingest is stateless and runs as many replicas behind a load balancer. A submitted task is
// committed to the store first, then handed to Config.Enqueue (the outbox relay, which
// publishes it to JetStream; the reconciler republishes anything the process did not), and
// answered 202. Reads go to the store, but a finished task (which never changes again) is read
// through the shared cache (Config.TaskCache) under its tenant's key; long-polls and event
// streams wake on the status notifications of the events package instead of polling.
//
// Tenants authenticate with API keys ("ak_…"), stored only as SHA-256 hashes and looked up
// through a shared Redis cache (cache.Redis) with a sub-second in-process cache in front. A
// revoked key is replaced in Redis by a tombstone, so it stops working at once on every
// replica (the in-process entries live under a second).
//
// Every error is an RFC 9457 problem (application/problem+json) with a stable code; the one
// function problemFor maps errors to problems, and anything unexpected becomes a 500 whose
// cause is logged, never sent.
package ingest
