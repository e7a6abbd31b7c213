// Package llm is the platform's boundary to language models: the Provider interface each
// vendor implements, classified provider errors (Error, Retryable) that decide retry and
// failover, and the model Registry with integer micro-dollar prices that the router's cost
// optimizer reads.
//
// NewSim returns the built-in "sim" provider used by `agentic dev`, tests and benchmarks
// when no real provider has credentials. It is deterministic: the same messages and Seed
// (the task id) always give the same content. Summary requests get the leading sentences of
// the text, prompts that show a flat JSON template (as the classifier agents do) get that
// template filled in, anything else a short pseudo-answer built from the input's words.
// Token counts follow the usual four-characters-per-token estimate, output never exceeds
// MaxTokens, and a configurable latency and failure rate (retryable 503s) exercise the
// pipeline's timeouts, backoff and breakers.
package llm
