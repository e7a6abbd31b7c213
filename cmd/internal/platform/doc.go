// Package platform wires the processes together: it reads the configuration from the
// environment (only cmd/ does), connects the engines, and runs the ingest, worker and
// scheduler roles until their context ends. cmd/ingest, cmd/worker and cmd/scheduler each
// run one role; cmd/agentic dev runs all three in one process.
package platform
