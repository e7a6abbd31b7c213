package llm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Registry is a read-only set of models keyed by id.
type Registry struct {
	models []Model // sorted by id
	byID   map[string]int
}

// NewRegistry builds a registry from models, checking that ids are unique and non-empty,
// a provider is named, and prices, quality and context window are in range.
func NewRegistry(models []Model) (*Registry, error) {
	r := &Registry{byID: make(map[string]int, len(models))}
	for _, m := range models {
		switch {
		case strings.TrimSpace(m.ID) == "":
			return nil, errors.New("llm: model without id")
		case m.Provider == "":
			return nil, fmt.Errorf("llm: model %q: no provider", m.ID)
		case m.InputPerMillion < 0 || m.OutputPerMillion < 0:
			return nil, fmt.Errorf("llm: model %q: negative price", m.ID)
		case m.Quality < 0 || m.Quality > 100:
			return nil, fmt.Errorf("llm: model %q: quality %d outside 0..100", m.ID, m.Quality)
		case m.ContextWindow <= 0:
			return nil, fmt.Errorf("llm: model %q: context window must be positive", m.ID)
		}
		if _, dup := r.byID[m.ID]; dup {
			return nil, fmt.Errorf("llm: model %q listed twice", m.ID)
		}
		m.Capabilities = slices.Clone(m.Capabilities)
		r.byID[m.ID] = 0
		r.models = append(r.models, m)
	}
	slices.SortFunc(r.models, func(a, b Model) int { return strings.Compare(a.ID, b.ID) })
	for i, m := range r.models {
		r.byID[m.ID] = i
	}
	return r, nil
}

// DefaultModels returns the models of DESIGN.md "Model registry" with their list prices.
func DefaultModels() []Model {
	const usd = 1_000_000 // micro-dollars per dollar
	chat := []string{"json", "tools"}
	vision := []string{"json", "tools", "vision", "code"}
	return []Model{
		{ID: "gpt-4o", Provider: "openai", Quality: 88, ContextWindow: 128_000, InputPerMillion: 2_500_000, OutputPerMillion: 10 * usd, Capabilities: vision},
		{ID: "gpt-4o-mini", Provider: "openai", Quality: 72, ContextWindow: 128_000, InputPerMillion: 150_000, OutputPerMillion: 600_000, Capabilities: vision},
		{ID: "gpt-4-turbo", Provider: "openai", Quality: 84, ContextWindow: 128_000, InputPerMillion: 10 * usd, OutputPerMillion: 30 * usd, Capabilities: vision},
		{ID: "gpt-4.1", Provider: "openai", Quality: 90, ContextWindow: 1_047_576, InputPerMillion: 2 * usd, OutputPerMillion: 8 * usd, Capabilities: vision},
		{ID: "gpt-4.1-mini", Provider: "openai", Quality: 78, ContextWindow: 1_047_576, InputPerMillion: 400_000, OutputPerMillion: 1_600_000, Capabilities: vision},
		{ID: "claude-3-5-sonnet", Provider: "anthropic", Quality: 89, ContextWindow: 200_000, InputPerMillion: 3 * usd, OutputPerMillion: 15 * usd, Capabilities: vision},
		{ID: "claude-3-5-haiku", Provider: "anthropic", Quality: 74, ContextWindow: 200_000, InputPerMillion: 800_000, OutputPerMillion: 4 * usd, Capabilities: []string{"json", "tools", "code"}},
		{ID: "claude-3-opus", Provider: "anthropic", Quality: 86, ContextWindow: 200_000, InputPerMillion: 15 * usd, OutputPerMillion: 75 * usd, Capabilities: vision},
		{ID: "claude-sonnet-4-5", Provider: "anthropic", Quality: 94, ContextWindow: 200_000, InputPerMillion: 3 * usd, OutputPerMillion: 15 * usd, Capabilities: vision},
		{ID: "claude-haiku-4-5", Provider: "anthropic", Quality: 82, ContextWindow: 200_000, InputPerMillion: 1 * usd, OutputPerMillion: 5 * usd, Capabilities: vision},
		{ID: "llama-3.3-70b-versatile", Provider: "groq", Quality: 76, ContextWindow: 131_072, InputPerMillion: 590_000, OutputPerMillion: 790_000, Capabilities: chat},
		{ID: "mixtral-8x7b", Provider: "groq", Quality: 62, ContextWindow: 32_768, InputPerMillion: 240_000, OutputPerMillion: 240_000, Capabilities: chat},
		{ID: "llama3", Provider: "ollama", Quality: 55, ContextWindow: 8_192, InputPerMillion: 0, OutputPerMillion: 0, Capabilities: []string{"json"}},
		{ID: "sim", Provider: "sim", Quality: 50, ContextWindow: 128_000, InputPerMillion: 0, OutputPerMillion: 0, Capabilities: []string{"json"}},
	}
}

// DefaultRegistry returns the registry of DefaultModels.
func DefaultRegistry() *Registry {
	r, err := NewRegistry(DefaultModels())
	if err != nil { // the defaults are a constant table; TestDefaultRegistry keeps them valid
		return &Registry{byID: map[string]int{}}
	}
	return r
}

// Get returns the model with that id.
func (r *Registry) Get(id string) (Model, bool) {
	i, ok := r.byID[id]
	if !ok {
		return Model{}, false
	}
	m := r.models[i]
	m.Capabilities = slices.Clone(m.Capabilities)
	return m, true
}

// Models returns every model, sorted by id; the slice is the caller's.
func (r *Registry) Models() []Model {
	out := slices.Clone(r.models)
	for i := range out {
		out[i].Capabilities = slices.Clone(out[i].Capabilities)
	}
	return out
}

// Has reports whether the model lists the capability.
func (m Model) Has(capability string) bool { return slices.Contains(m.Capabilities, capability) }
