package llm

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KnownProviders are the provider names a model may name: the vendors the platform has a
// Provider for. A typo in a models file would otherwise leave a model no call can reach.
var KnownProviders = []string{"anthropic", "groq", "ollama", "openai", "sim"}

// modelsEntry is one model of a models file as written: prices are decimal USD per 1M
// tokens, kept as YAML nodes so that they convert to micro-dollars from their text, exactly.
type modelsEntry struct {
	ID            string    `yaml:"id"`
	Provider      string    `yaml:"provider"`
	Quality       *int      `yaml:"quality"` // a pointer, so that a missing quality is not 0
	ContextWindow int       `yaml:"context_window"`
	InputUSD      yaml.Node `yaml:"input_usd_per_million"`
	OutputUSD     yaml.Node `yaml:"output_usd_per_million"`
	Capabilities  []string  `yaml:"capabilities"`
	Fallbacks     []string  `yaml:"fallbacks"`
}

// modelsFields are the keys of modelsEntry. ParseModels checks keys itself, as the decoder's
// KnownFields would, so that an unknown field is reported with the model it belongs to.
var modelsFields = []string{
	"id", "provider", "quality", "context_window",
	"input_usd_per_million", "output_usd_per_million", "capabilities", "fallbacks",
}

// ParseModels reads a YAML list of models that replaces the defaults (AGENTIC_MODELS_FILE),
// one entry per model, prices in USD per 1M tokens:
//
//	# models.yaml
//	- id: gpt-4o-mini
//	  provider: openai
//	  quality: 72
//	  context_window: 128000
//	  input_usd_per_million: 0.15
//	  output_usd_per_million: 0.60
//	  capabilities: [json, tools]
//	  fallbacks: [claude-3-5-haiku]
//
// Every field but capabilities and fallbacks is required. Prices convert to integer
// micro-dollars from their decimal text (0.15 → 150000), so a price with more than six
// significant decimals, which no micro-dollar holds, is refused rather than rounded.
// Unknown fields, an unknown provider, a duplicate or missing id, a negative price, a
// quality outside 0..100, a non-positive context window, a fallback that is not a model and
// a loop of fallbacks are refused too, each with one line naming the model and field. The
// result passes NewRegistry.
func ParseModels(b []byte) ([]Model, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("models: %s", modelsOneLine(err))
	}
	if len(root.Content) == 0 {
		return nil, errors.New("models: no model defined")
	}
	list := root.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("models: line %d: the file must be a list of models", list.Line)
	}
	if len(list.Content) == 0 {
		return nil, errors.New("models: no model defined")
	}
	models := make([]Model, 0, len(list.Content))
	entryOf := make(map[string]int, len(list.Content)) // id → 1-based entry
	for i, item := range list.Content {
		m, err := modelsEntryModel(i+1, item)
		if err != nil {
			return nil, fmt.Errorf("models: %w", err)
		}
		if first, dup := entryOf[m.ID]; dup {
			return nil, fmt.Errorf("models: model %q: id listed twice (entries %d and %d)", m.ID, first, i+1)
		}
		entryOf[m.ID] = i + 1
		models = append(models, m)
	}
	if err := modelsCheckFallbacks(models); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	// ParseModels checks all NewRegistry does; this keeps the promise if NewRegistry grows.
	if _, err := NewRegistry(models); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return models, nil
}

// LoadModels reads the models file at path (AGENTIC_MODELS_FILE); "" gives DefaultModels.
func LoadModels(path string) ([]Model, error) {
	if path == "" {
		return DefaultModels(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return ParseModels(b)
}

// CheckFallbacks reports the first unknown or cyclic fallback among models: the first
// fallback, in the models' order, that names no model, else the first loop a depth-first
// walk meets ("fallbacks of \"a\" loop: a → b → a"). NewRegistry does not check fallbacks,
// so whoever builds a registry from other than a models file (the defaults) calls this.
func CheckFallbacks(models []Model) error {
	if err := modelsCheckFallbacks(models); err != nil {
		return fmt.Errorf("llm: %w", err)
	}
	return nil
}

// modelsCheckFallbacks is CheckFallbacks without the package prefix, which its callers add.
func modelsCheckFallbacks(models []Model) error {
	byID := make(map[string]int, len(models))
	for i, m := range models {
		if _, dup := byID[m.ID]; !dup {
			byID[m.ID] = i
		}
	}
	for _, m := range models {
		for _, f := range m.Fallbacks {
			if _, ok := byID[f]; !ok {
				return fmt.Errorf("model %q: fallback %q is not a model", m.ID, f)
			}
		}
	}
	// A fallback already on the walk's path closes a loop; a model whose walk ended cleanly
	// need not be walked again.
	const (
		onPath = iota + 1
		done
	)
	state := make(map[string]int, len(models))
	var path []string
	var walk func(id string) error
	walk = func(id string) error {
		switch state[id] {
		case onPath:
			loop := append(slices.Clone(path[slices.Index(path, id):]), id)
			return fmt.Errorf("fallbacks of %q loop: %s", id, strings.Join(loop, " → "))
		case done:
			return nil
		}
		state[id] = onPath
		path = append(path, id)
		for _, f := range models[byID[id]].Fallbacks {
			if err := walk(f); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, m := range models {
		if err := walk(m.ID); err != nil {
			return err
		}
	}
	return nil
}

// modelsEntryModel checks the entry'th item of the list (1-based) and converts it to a Model.
func modelsEntryModel(entry int, item *yaml.Node) (Model, error) {
	where := fmt.Sprintf("entry %d (line %d)", entry, item.Line)
	if item.Kind != yaml.MappingNode {
		return Model{}, fmt.Errorf("%s: not a mapping of model fields", where)
	}
	for k := 0; k+1 < len(item.Content); k += 2 {
		if key := item.Content[k]; key.Value == "id" && strings.TrimSpace(item.Content[k+1].Value) != "" {
			where = fmt.Sprintf("model %q", item.Content[k+1].Value)
		}
	}
	for k := 0; k+1 < len(item.Content); k += 2 {
		if key := item.Content[k]; !slices.Contains(modelsFields, key.Value) {
			return Model{}, fmt.Errorf("%s: unknown field %q (line %d)", where, key.Value, key.Line)
		}
	}
	var e modelsEntry
	if err := item.Decode(&e); err != nil {
		return Model{}, fmt.Errorf("%s: %s", where, modelsOneLine(err))
	}
	switch {
	case strings.TrimSpace(e.ID) == "":
		return Model{}, fmt.Errorf("%s: id is missing", where)
	case e.Provider == "":
		return Model{}, fmt.Errorf("%s: provider is missing", where)
	case !slices.Contains(KnownProviders, e.Provider):
		return Model{}, fmt.Errorf("%s: provider %q is not one of %s", where, e.Provider, strings.Join(KnownProviders, ", "))
	case e.Quality == nil:
		return Model{}, fmt.Errorf("%s: quality is missing", where)
	case *e.Quality < 0 || *e.Quality > 100:
		return Model{}, fmt.Errorf("%s: quality %d is outside 0..100", where, *e.Quality)
	case e.ContextWindow <= 0:
		return Model{}, fmt.Errorf("%s: context_window must be a positive number of tokens", where)
	}
	in, err := modelsMicros("input_usd_per_million", &e.InputUSD)
	if err != nil {
		return Model{}, fmt.Errorf("%s: %w", where, err)
	}
	out, err := modelsMicros("output_usd_per_million", &e.OutputUSD)
	if err != nil {
		return Model{}, fmt.Errorf("%s: %w", where, err)
	}
	return Model{
		ID: e.ID, Provider: e.Provider, Quality: *e.Quality, ContextWindow: e.ContextWindow,
		InputPerMillion: in, OutputPerMillion: out,
		Capabilities: e.Capabilities, Fallbacks: e.Fallbacks,
	}, nil
}

// modelsMicros converts a price node, decimal USD, to micro-dollars exactly. It reads the
// number's text rather than a float64, in which 0.29 is 0.28999…: trailing zeros aside, a
// seventh decimal is refused, as is anything but plain decimal notation.
func modelsMicros(field string, n *yaml.Node) (int64, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == 0 || n.ShortTag() == "!!null" {
		return 0, fmt.Errorf("%s is missing", field)
	}
	notDecimal := fmt.Errorf("%s must be a decimal number of USD, e.g. 0.15", field)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, notDecimal
	}
	s, negative := strings.CutPrefix(n.Value, "-")
	s = strings.TrimPrefix(s, "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" {
		whole = "0" // ".5"
	}
	if !modelsDigits(whole) || (frac != "" && !modelsDigits(frac)) {
		return 0, notDecimal
	}
	if negative && strings.Trim(whole+frac, "0") != "" {
		return 0, fmt.Errorf("%s must not be negative", field)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 6 {
		return 0, fmt.Errorf("%s %s has more than 6 decimals", field, n.Value)
	}
	usd, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || usd > math.MaxInt64/1_000_000-1 {
		return 0, fmt.Errorf("%s %s is too large", field, n.Value)
	}
	micros := usd * 1_000_000
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64) // six digits
		micros += f
	}
	return micros, nil
}

// modelsDigits reports whether s is one or more ASCII digits.
func modelsDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// modelsOneLine flattens a YAML error to one line: the decoder lists several problems on
// lines of their own.
func modelsOneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "; ")
}
