package llm_test

import (
	"testing"

	"github.com/agentic-run/agentic/llm"
)

func TestDefaultRegistry(t *testing.T) {
	t.Parallel()
	r := llm.DefaultRegistry()
	want := map[string]struct {
		provider string
		in, out  int64
	}{
		"gpt-4o":                  {"openai", 2_500_000, 10_000_000},
		"gpt-4o-mini":             {"openai", 150_000, 600_000},
		"gpt-4-turbo":             {"openai", 10_000_000, 30_000_000},
		"gpt-4.1":                 {"openai", 2_000_000, 8_000_000},
		"gpt-4.1-mini":            {"openai", 400_000, 1_600_000},
		"claude-3-5-sonnet":       {"anthropic", 3_000_000, 15_000_000},
		"claude-3-5-haiku":        {"anthropic", 800_000, 4_000_000},
		"claude-3-opus":           {"anthropic", 15_000_000, 75_000_000},
		"claude-sonnet-4-5":       {"anthropic", 3_000_000, 15_000_000},
		"claude-haiku-4-5":        {"anthropic", 1_000_000, 5_000_000},
		"llama-3.3-70b-versatile": {"groq", 590_000, 790_000},
		"mixtral-8x7b":            {"groq", 240_000, 240_000},
		"llama3":                  {"ollama", 0, 0},
		"sim":                     {"sim", 0, 0},
	}
	models := r.Models()
	if len(models) != len(want) {
		t.Fatalf("%d models, want %d", len(models), len(want))
	}
	for i, m := range models {
		if i > 0 && models[i-1].ID >= m.ID {
			t.Errorf("Models not sorted by id at %q", m.ID)
		}
		w, ok := want[m.ID]
		if !ok {
			t.Errorf("unexpected model %q", m.ID)
			continue
		}
		if m.Provider != w.provider || m.InputPerMillion != w.in || m.OutputPerMillion != w.out {
			t.Errorf("%s = %+v, want %+v", m.ID, m, w)
		}
		if m.Quality <= 0 || m.Quality > 100 || m.ContextWindow < 8_000 {
			t.Errorf("%s: implausible quality %d or context window %d", m.ID, m.Quality, m.ContextWindow)
		}
		got, ok := r.Get(m.ID)
		if !ok || got.ID != m.ID {
			t.Errorf("Get(%q) = %+v, %v", m.ID, got, ok)
		}
	}
	if _, ok := r.Get("gpt-5-imaginary"); ok {
		t.Error("Get of an unknown id succeeded")
	}
	// Premium models rank above their cheap siblings.
	big, _ := r.Get("gpt-4o")
	small, _ := r.Get("gpt-4o-mini")
	if big.Quality <= small.Quality {
		t.Errorf("gpt-4o quality %d not above gpt-4o-mini %d", big.Quality, small.Quality)
	}
	// The caller owns what Models returns.
	models[0].Capabilities = append(models[0].Capabilities[:0], "mutated")
	if again := r.Models(); again[0].Has("mutated") {
		t.Error("Models shares its slices with the registry")
	}
}

func TestNewRegistryRejects(t *testing.T) {
	t.Parallel()
	ok := llm.Model{ID: "a", Provider: "p", Quality: 1, ContextWindow: 1}
	for name, models := range map[string][]llm.Model{
		"empty id":       {{Provider: "p", ContextWindow: 1}},
		"no provider":    {{ID: "a", ContextWindow: 1}},
		"negative price": {{ID: "a", Provider: "p", ContextWindow: 1, InputPerMillion: -1}},
		"quality":        {{ID: "a", Provider: "p", ContextWindow: 1, Quality: 101}},
		"context":        {{ID: "a", Provider: "p"}},
		"duplicate":      {ok, ok},
	} {
		if _, err := llm.NewRegistry(models); err == nil {
			t.Errorf("%s: NewRegistry accepted %+v", name, models)
		}
	}
}

func TestModelCost(t *testing.T) {
	t.Parallel()
	r := llm.DefaultRegistry()
	tests := []struct {
		model   string
		in, out int64
		want    int64 // micro-dollars, computed by hand
	}{
		// 1,000 × $2.50/M + 500 × $10/M = $0.0025 + $0.005 = $0.0075.
		{"gpt-4o", 1_000, 500, 7_500},
		// 1M in and 1M out of gpt-4o-mini = $0.15 + $0.60.
		{"gpt-4o-mini", 1_000_000, 1_000_000, 750_000},
		// One input token of gpt-4o-mini is $0.00000015: rounds up to one micro-dollar.
		{"gpt-4o-mini", 1, 0, 1},
		// 10 × $0.59/M + 7 × $0.79/M = 5.9 + 5.53 = 11.43 µ$ → 12.
		{"llama-3.3-70b-versatile", 10, 7, 12},
		// 2,000 × $15/M + 1,000 × $75/M = $0.03 + $0.075.
		{"claude-3-opus", 2_000, 1_000, 105_000},
		// Whole micro-dollars are not rounded: 5 × $0.80/M = 4 µ$.
		{"claude-3-5-haiku", 5, 0, 4},
		{"sim", 123_456, 7_890, 0},
		{"llama3", 1_000_000, 1_000_000, 0},
		{"gpt-4o", 0, 0, 0},
	}
	for _, tt := range tests {
		m, ok := r.Get(tt.model)
		if !ok {
			t.Fatalf("no model %q", tt.model)
		}
		if got := m.Cost(tt.in, tt.out); got != tt.want {
			t.Errorf("%s.Cost(%d, %d) = %d µ$, want %d", tt.model, tt.in, tt.out, got, tt.want)
		}
	}
}
