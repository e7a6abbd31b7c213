package agents

import (
	"encoding/json"
	"errors"
	"text/template"

	"github.com/santhosh-tekuri/jsonschema/v6"
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

	// Set for built-in agents; an agent without them gets a generic prompt and output.
	system, user *template.Template
	output       func(input map[string]any, content string) map[string]any
}

// FieldError is one way an input breaks the schema; Path is a JSON pointer from the request
// root ("/input/text").
type FieldError struct {
	Path    string
	Message string
}

// InvalidInputError lists every way an input breaks its agent's schema.
type InvalidInputError struct{ Fields []FieldError }

// Error says the input does not match; Fields holds the details.
func (e *InvalidInputError) Error() string { return "input does not match the agent's schema" }

// ErrUnknownAgent is returned for an id not in the catalog.
var ErrUnknownAgent = errors.New("agents: unknown agent")

// Catalog is the set of agents, with their compiled schemas. It is read-only once built
// and safe for concurrent use.
type Catalog struct {
	agents  []*Agent // sorted by id
	byID    map[string]*Agent
	schemas map[string]*jsonschema.Schema
}
