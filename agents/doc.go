// Package agents is the marketplace catalog: the agents tenants can run, each with a JSON
// Schema (draft 2020-12) for its input, the prompt it sends a model, and how it turns the
// model's answer into the task's output object.
//
// Ingest calls Catalog.Validate before accepting a task, so a bad input is a 422 with one
// FieldError per problem (paths are JSON pointers from the request root, "/input/text"),
// never a failed run later. Workers call Agent.Prompt, hand the messages to an llm.Provider
// with Agent.MaxOutputTokens, and call Agent.Output on the answer; agents marked NoModel
// (echo) skip the model and Output returns the input as it came. Schemas are compiled once
// when the catalog is built, and a Catalog is safe for concurrent use.
//
// Output is lenient with what models send back: it finds a JSON object inside prose or a
// Markdown code fence, and falls back to the plain answer where the agent expects JSON.
package agents
