package agents

// This file fixes the package's API; bodies marked "not implemented" are being written.

import (
	"encoding/json"
	"errors"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/llm"
)

// Agent is one entry of the marketplace.
type Agent struct {
	ID          string
	Name        string
	Description string
	Category    string
	Quality     string // economy | standard | premium
	InputSchema json.RawMessage
	// MaxExecutionsPerHour is the agent's own per-tenant cap; nil means none.
	MaxExecutionsPerHour *int
	// NoModel marks agents that call no model (echo): Run gives their output directly.
	NoModel bool
	// MaxOutputTokens bounds the model's answer.
	MaxOutputTokens int
}

// FieldError is one way an input breaks the schema; Path is a JSON pointer from the request
// root ("/input/text").
type FieldError struct {
	Path    string
	Message string
}

// InvalidInputError lists every way an input breaks its agent's schema.
type InvalidInputError struct{ Fields []FieldError }

func (e *InvalidInputError) Error() string { return "input does not match the agent's schema" }

// ErrUnknownAgent is returned for an id not in the catalog.
var ErrUnknownAgent = errors.New("agents: unknown agent")

// Catalog is the set of agents, with their compiled schemas.
type Catalog struct{}

// Builtin returns the catalog of built-in agents: summarizer, ticket-classifier, sentiment,
// code-reviewer, sql-generator, echo.
func Builtin() (*Catalog, error) { return nil, errors.New("not implemented") }

// List returns every agent, sorted by id.
func (c *Catalog) List() []*Agent { return nil }

// Get returns the agent, or ErrUnknownAgent.
func (c *Catalog) Get(id string) (*Agent, error) { return nil, ErrUnknownAgent }

// Validate checks input against the agent's schema: nil, *InvalidInputError or
// ErrUnknownAgent.
func (c *Catalog) Validate(agentID string, input json.RawMessage) error { return nil }

// API returns the agent as API.md shows it.
func (a *Agent) API() client.Agent { return client.Agent{} }

// Prompt renders the model request for an input.
func (a *Agent) Prompt(input json.RawMessage) ([]llm.Message, error) {
	return nil, errors.New("not implemented")
}

// Output turns the model's answer (or, for NoModel agents, the input) into the task's output
// object.
func (a *Agent) Output(input json.RawMessage, content string) (json.RawMessage, error) {
	return nil, errors.New("not implemented")
}
