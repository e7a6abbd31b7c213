// Package e2e holds the end-to-end tests: they build cmd/ingest, cmd/worker and
// cmd/scheduler, start them as separate processes on a fresh Postgres schema, a fresh NATS
// prefix and Redis, and drive them over HTTP the way a client and an operator would —
// including kill -9 and SIGTERM of a worker mid-task.
package e2e
