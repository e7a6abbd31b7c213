// Package telemetry holds the observability plumbing every process shares: the structured
// logger — [NewLogger] builds the JSON *slog.Logger that cmd/ingest, cmd/worker,
// cmd/scheduler and `agentic dev` create once in main and inject everywhere else, and
// [Redact] is the slog.Handler wrapper inside it that keeps secrets out of the logs — and
// [Metrics], the process's OpenTelemetry meters served as Prometheus text on /metrics — and
// [NewTracing], the process's OpenTelemetry tracer provider (OTLP/HTTP export when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, W3C trace context), whose span context [TraceContext]
// adds to every log line written with a context, as trace_id and span_id.
//
// The design guarantee "secrets never leak" rests on two layers: API keys are hashed and
// provider keys are read from the environment, files or Vault, and this package makes sure
// that none of them (nor a tenant's webhook secret, a database password in a DSN, or a
// bearer token echoed in an upstream error) reaches a log line, whoever logged it and however
// it was wrapped. Redaction happens in the handler, not at call sites, so code that logs an
// error it got from a library does not need to know what the error might contain.
//
// Redact masks in two ways, both documented on [Redact]:
//
//   - by attribute key: a value logged under a key such as "password", "api_key",
//     "Authorization" or "webhook_secret" is replaced by [Redacted], whatever it is;
//   - by value pattern: any string that reaches the handler (the message, string
//     attributes, error texts, []string, maps, the fmt form of other values, the result
//     of a slog.LogValuer) is scanned, and only the secret part of a match is replaced,
//     so "postgres://app:pw@db:5432/x" logs as "postgres://app:[REDACTED]@db:5432/x".
//
// The common path, a record with nothing to mask, does not allocate: the handler scans in
// place and passes the original record through untouched.
package telemetry
