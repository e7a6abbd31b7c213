package llm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

func TestParseModelsExampleIsTheDefaults(t *testing.T) {
	t.Parallel()
	models, err := llm.LoadModels(filepath.Join("testdata", "models", "example.yaml"))
	require.NoError(t, err)
	_, err = llm.NewRegistry(models)
	require.NoError(t, err)

	require.Equal(t, []string{"claude-3-5-haiku", "llama-3.3-70b-versatile"}, models[1].Fallbacks, "gpt-4o-mini's fallbacks, in order")
	// But for the fallbacks, which the defaults do not have, the example is DefaultModels.
	for i := range models {
		models[i].Fallbacks = nil
	}
	require.Equal(t, llm.DefaultModels(), models)
}

func TestLoadModels(t *testing.T) {
	t.Parallel()
	models, err := llm.LoadModels("")
	require.NoError(t, err)
	require.Equal(t, llm.DefaultModels(), models, `"" is the defaults`)

	_, err = llm.LoadModels(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "models: open ")
	require.ErrorContains(t, err, "no such file")

	path := filepath.Join(t.TempDir(), "models.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
- {id: local, provider: ollama, quality: 60, context_window: 8192, input_usd_per_million: 0, output_usd_per_million: 0}
`), 0o600))
	models, err = llm.LoadModels(path)
	require.NoError(t, err)
	require.Equal(t, []llm.Model{{ID: "local", Provider: "ollama", Quality: 60, ContextWindow: 8192}}, models)

	require.NoError(t, os.WriteFile(path, []byte("- {id: local, provider: ollama}\n"), 0o600))
	_, err = llm.LoadModels(path)
	require.EqualError(t, err, `models: model "local": quality is missing`)
}

func TestParseModelsPrices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		price string
		want  int64 // micro-dollars
	}{
		{"0.15", 150_000},
		{"0.60", 600_000},
		{"0.29", 290_000}, // 0.29 is 0.28999… as a float64
		{"2.5", 2_500_000},
		{"10", 10_000_000},
		{"0", 0},
		{"0.0", 0},
		{"-0", 0},
		{"0.000001", 1},
		{"0.1234560", 123_456}, // a seventh decimal that is a zero is exact
		{".5", 500_000},
		{"+1.5", 1_500_000},
		{"75", 75_000_000},
		{"1000000", 1_000_000_000_000},
	}
	for _, tt := range tests {
		models, err := llm.ParseModels([]byte(`- {id: m, provider: sim, quality: 50, context_window: 1000, input_usd_per_million: ` +
			tt.price + `, output_usd_per_million: ` + tt.price + `}`))
		require.NoError(t, err, tt.price)
		require.Equal(t, tt.want, models[0].InputPerMillion, tt.price)
		require.Equal(t, tt.want, models[0].OutputPerMillion, tt.price)
	}
}

func TestParseModelsRefuses(t *testing.T) {
	t.Parallel()
	// entry completes a model from its id and the fields under test.
	entry := func(id, rest string) string {
		return "- {id: " + id + ", provider: openai, quality: 70, context_window: 1000, input_usd_per_million: 1, output_usd_per_million: 2" + rest + "}\n"
	}
	tests := []struct {
		name, yaml, err string
	}{
		{"empty", "", "models: no model defined"},
		{"empty list", "[]", "models: no model defined"},
		{"not a list", "gpt-4o: {provider: openai}", "models: line 1: the file must be a list of models"},
		{"not yaml", "- {id: a", "models: line 1: did not find expected ',' or '}'"},
		{"entry not a mapping", "- gpt-4o", "models: entry 1 (line 1): not a mapping of model fields"},
		{"unknown field", entry("a", ", burst: 3"), `models: model "a": unknown field "burst" (line 1)`},
		{"unknown field before the id", "- provider: openai\n  cost: 1\n  id: a\n", `models: model "a": unknown field "cost" (line 2)`},
		{"mistyped field", entry("a", "") + "- {id: b, provider: openai, quality: high}", "models: model \"b\": line 2: cannot unmarshal !!str `high` into int"},
		{"missing id", entry("a", "") + "- {provider: openai, quality: 70, context_window: 1000}", "models: entry 2 (line 2): id is missing"},
		{"blank id", `- {id: " ", provider: openai}`, "models: entry 1 (line 1): id is missing"},
		{"missing provider", "- {id: a, quality: 70}", `models: model "a": provider is missing`},
		{"unknown provider", "- {id: a, provider: openia, quality: 70}", `models: model "a": provider "openia" is not one of anthropic, groq, ollama, openai, sim`},
		{"missing quality", "- {id: a, provider: openai}", `models: model "a": quality is missing`},
		{"quality above 100", "- {id: a, provider: openai, quality: 101}", `models: model "a": quality 101 is outside 0..100`},
		{"negative quality", "- {id: a, provider: openai, quality: -1}", `models: model "a": quality -1 is outside 0..100`},
		{"missing context window", "- {id: a, provider: openai, quality: 70}", `models: model "a": context_window must be a positive number of tokens`},
		{"zero context window", "- {id: a, provider: openai, quality: 70, context_window: 0}", `models: model "a": context_window must be a positive number of tokens`},
		{"negative context window", "- {id: a, provider: openai, quality: 70, context_window: -8}", `models: model "a": context_window must be a positive number of tokens`},
		{"missing input price", "- {id: a, provider: openai, quality: 70, context_window: 1000, output_usd_per_million: 1}", `models: model "a": input_usd_per_million is missing`},
		{"null output price", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: 1, output_usd_per_million: ~}", `models: model "a": output_usd_per_million is missing`},
		{"negative input price", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: -0.15, output_usd_per_million: 1}", `models: model "a": input_usd_per_million must not be negative`},
		{"negative output price", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: 1, output_usd_per_million: -2}", `models: model "a": output_usd_per_million must not be negative`},
		{"seven decimals", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: 0.1234567, output_usd_per_million: 1}", `models: model "a": input_usd_per_million 0.1234567 has more than 6 decimals`},
		{"exponent", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: 1e-3, output_usd_per_million: 1}", `models: model "a": input_usd_per_million must be a decimal number of USD, e.g. 0.15`},
		{"quoted price", `- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: "$0.15", output_usd_per_million: 1}`, `models: model "a": input_usd_per_million must be a decimal number of USD, e.g. 0.15`},
		{"infinite price", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: .inf, output_usd_per_million: 1}", `models: model "a": input_usd_per_million must be a decimal number of USD, e.g. 0.15`},
		{"list price", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: [1], output_usd_per_million: 1}", `models: model "a": input_usd_per_million must be a decimal number of USD, e.g. 0.15`},
		{"huge price", "- {id: a, provider: openai, quality: 70, context_window: 1000, input_usd_per_million: 99999999999999, output_usd_per_million: 1}", `models: model "a": input_usd_per_million 99999999999999 is too large`},
		{"duplicate id", entry("a", "") + entry("b", "") + entry("a", ""), `models: model "a": id listed twice (entries 1 and 3)`},
		{"unknown fallback", entry("a", ", fallbacks: [b]") + entry("b", ", fallbacks: [gpt-5]"), `models: model "b": fallback "gpt-5" is not a model`},
		{"fallback to itself", entry("a", ", fallbacks: [a]"), `models: fallbacks of "a" loop: a → a`},
		{"fallback loop", entry("a", ", fallbacks: [b]") + entry("b", ", fallbacks: [a]"), `models: fallbacks of "a" loop: a → b → a`},
		{"fallback loop further on", entry("c", ", fallbacks: [a]") + entry("a", ", fallbacks: [d, b]") + entry("b", ", fallbacks: [c]") + entry("d", ""),
			`models: fallbacks of "c" loop: c → a → b → c`},
	}
	for _, tt := range tests {
		models, err := llm.ParseModels([]byte(tt.yaml))
		require.EqualError(t, err, tt.err, tt.name)
		require.Nil(t, models, tt.name)
	}
}

func TestCheckFallbacks(t *testing.T) {
	t.Parallel()
	require.NoError(t, llm.CheckFallbacks(llm.DefaultModels()))
	m := func(id string, fallbacks ...string) llm.Model {
		return llm.Model{ID: id, Provider: "sim", ContextWindow: 1, Fallbacks: fallbacks}
	}
	tests := []struct {
		name   string
		models []llm.Model
		err    string // "" when the fallbacks are sound
	}{
		{"none", []llm.Model{m("a"), m("b")}, ""},
		{"chain", []llm.Model{m("a", "b"), m("b", "c"), m("c")}, ""},
		{"diamond", []llm.Model{m("a", "b", "c"), m("b", "d"), m("c", "d"), m("d")}, ""},
		{"unknown", []llm.Model{m("a", "b", "x")}, `llm: model "a": fallback "b" is not a model`},
		{"unknown before a loop", []llm.Model{m("a", "a"), m("b", "x")}, `llm: model "b": fallback "x" is not a model`},
		{"self", []llm.Model{m("a"), m("b", "b")}, `llm: fallbacks of "b" loop: b → b`},
		{"two", []llm.Model{m("a", "b"), m("b", "a")}, `llm: fallbacks of "a" loop: a → b → a`},
		{"three", []llm.Model{m("x", "a"), m("a", "b"), m("b", "c"), m("c", "a")}, `llm: fallbacks of "a" loop: a → b → c → a`},
	}
	for _, tt := range tests {
		err := llm.CheckFallbacks(tt.models)
		if tt.err == "" {
			require.NoError(t, err, tt.name)
			continue
		}
		require.EqualError(t, err, tt.err, tt.name)
	}
}
