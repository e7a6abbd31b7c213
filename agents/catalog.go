package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Builtin returns the catalog of built-in agents: summarizer, ticket-classifier, sentiment,
// code-reviewer, sql-generator, echo.
func Builtin() (*Catalog, error) {
	list, err := builtinAgents()
	if err != nil {
		return nil, err
	}
	return NewCatalog(list...)
}

// NewCatalog builds a catalog from agents, compiling each input schema once. Ids must be
// unique and non-empty, quality one of economy, standard or premium, and every schema a
// valid JSON Schema (draft 2020-12 unless it names another). The catalog keeps the
// pointers: do not change an agent after handing it over.
func NewCatalog(list ...*Agent) (*Catalog, error) {
	c := &Catalog{
		byID:    make(map[string]*Agent, len(list)),
		schemas: make(map[string]*jsonschema.Schema, len(list)),
	}
	for _, a := range list {
		if a == nil || strings.TrimSpace(a.ID) == "" {
			return nil, fmt.Errorf("agents: agent without id")
		}
		if _, dup := c.byID[a.ID]; dup {
			return nil, fmt.Errorf("agents: agent %q listed twice", a.ID)
		}
		switch a.Quality {
		case "economy", "standard", "premium":
		default:
			return nil, fmt.Errorf("agents: agent %q: quality %q is not economy, standard or premium", a.ID, a.Quality)
		}
		sch, err := compileSchema(a.ID, a.InputSchema)
		if err != nil {
			return nil, err
		}
		c.byID[a.ID] = a
		c.schemas[a.ID] = sch
		c.agents = append(c.agents, a)
	}
	slices.SortFunc(c.agents, func(a, b *Agent) int { return strings.Compare(a.ID, b.ID) })
	return c, nil
}

func compileSchema(id string, raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("agents: agent %q has no input schema", id)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("agents: agent %q: input schema: %w", id, err)
	}
	loc := "https://agentic.run/schemas/agents/" + url.PathEscape(id) + ".json"
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	if err := comp.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("agents: agent %q: input schema: %w", id, err)
	}
	sch, err := comp.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("agents: agent %q: input schema: %w", id, err)
	}
	return sch, nil
}

// List returns every agent, sorted by id.
func (c *Catalog) List() []*Agent { return slices.Clone(c.agents) }

// Get returns the agent, or ErrUnknownAgent.
func (c *Catalog) Get(id string) (*Agent, error) {
	a, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownAgent, id)
	}
	return a, nil
}

// Validate checks input against the agent's schema: nil, *InvalidInputError or
// ErrUnknownAgent.
func (c *Catalog) Validate(agentID string, input json.RawMessage) error {
	sch, ok := c.schemas[agentID]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownAgent, agentID)
	}
	doc, fe := decodeObject(input)
	if fe != nil {
		return &InvalidInputError{Fields: []FieldError{*fe}}
	}
	err := sch.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return &InvalidInputError{Fields: []FieldError{{Path: "/input", Message: err.Error()}}}
	}
	return &InvalidInputError{Fields: fieldErrors(ve)}
}

// decodeObject parses input, keeping numbers exact, and requires a JSON object.
func decodeObject(input json.RawMessage) (map[string]any, *FieldError) {
	if len(bytes.TrimSpace(input)) == 0 {
		return nil, &FieldError{Path: "/input", Message: "is required and must be a JSON object"}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
	if err != nil {
		return nil, &FieldError{Path: "/input", Message: "is not valid JSON"}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, &FieldError{Path: "/input", Message: "must be a JSON object, got " + jsonType(doc)}
	}
	return obj, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
