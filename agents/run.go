package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/llm"
)

// API returns the agent as API.md shows it.
func (a *Agent) API() client.Agent {
	var limit *int
	if a.MaxExecutionsPerHour != nil {
		v := *a.MaxExecutionsPerHour
		limit = &v
	}
	return client.Agent{
		ID:                   a.ID,
		Name:                 a.Name,
		Description:          a.Description,
		Category:             a.Category,
		Quality:              a.Quality,
		InputSchema:          slices.Clone(a.InputSchema),
		MaxExecutionsPerHour: limit,
	}
}

// Prompt renders the model request for an input: a system message with the agent's
// instructions and a user message with the input's fields. The input must be a JSON object;
// call Catalog.Validate first for field-level errors.
func (a *Agent) Prompt(input json.RawMessage) ([]llm.Message, error) {
	obj, fe := decodeObject(input)
	if fe != nil {
		return nil, fmt.Errorf("agents: %s: input %s", a.ID, fe.Message)
	}
	if a.user == nil {
		// Agents without a user template (echo, catalogs built outside this package) send the
		// input itself.
		var buf bytes.Buffer
		if err := json.Compact(&buf, input); err != nil {
			return nil, fmt.Errorf("agents: %s: input: %w", a.ID, err)
		}
		system := a.Description
		if a.system != nil {
			var b strings.Builder
			if err := a.system.Execute(&b, fields(obj)); err != nil {
				return nil, fmt.Errorf("agents: %s: render system prompt: %w", a.ID, err)
			}
			system = b.String()
		}
		return messages(system, buf.String()), nil
	}
	data := fields(obj)
	var sys, user strings.Builder
	if err := a.system.Execute(&sys, data); err != nil {
		return nil, fmt.Errorf("agents: %s: render system prompt: %w", a.ID, err)
	}
	if err := a.user.Execute(&user, data); err != nil {
		return nil, fmt.Errorf("agents: %s: render user prompt: %w", a.ID, err)
	}
	return messages(sys.String(), user.String()), nil
}

func messages(system, user string) []llm.Message {
	var out []llm.Message
	if system != "" {
		out = append(out, llm.Message{Role: "system", Content: system})
	}
	return append(out, llm.Message{Role: "user", Content: user})
}

// fields gives templates the input's top-level values as text: strings as they are, other
// values as compact JSON. Missing fields render empty.
func fields(obj map[string]any) map[string]string {
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if s, ok := v.(string); ok {
			out[k] = s
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		out[k] = string(b)
	}
	return out
}

// Output turns the model's answer (or, for NoModel agents, the input) into the task's output
// object.
func (a *Agent) Output(input json.RawMessage, content string) (json.RawMessage, error) {
	if a.NoModel {
		if _, fe := decodeObject(input); fe != nil {
			return nil, fmt.Errorf("agents: %s: input %s", a.ID, fe.Message)
		}
		return slices.Clone(input), nil
	}
	var out map[string]any
	if a.output != nil {
		obj, _ := decodeObject(input)
		out = a.output(obj, content)
	} else {
		out = map[string]any{"result": strings.TrimSpace(content)}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("agents: %s: encode output: %w", a.ID, err)
	}
	return b, nil
}

// classifierOutput reads {"category", "priority"} from a JSON answer, or takes the whole
// answer as the category with a normal priority.
func classifierOutput(_ map[string]any, content string) map[string]any {
	out := map[string]any{"category": "other", "priority": "normal"}
	if obj := parseJSONObject(content); obj != nil {
		if c, ok := obj["category"].(string); ok && strings.TrimSpace(c) != "" {
			out["category"] = strings.TrimSpace(c)
		}
		if p, ok := obj["priority"].(string); ok && strings.TrimSpace(p) != "" {
			out["priority"] = strings.TrimSpace(p)
		}
		return out
	}
	if c := strings.TrimSpace(content); c != "" {
		out["category"] = c
	}
	return out
}

// sentimentLabels are the labels recognised in a free-text answer.
var sentimentLabels = []string{"positive", "negative", "neutral", "mixed"}

// sentimentOutput reads {"label", "score"} from a JSON answer; otherwise the label is the
// first sentiment word of the answer (or the answer itself) and the score 0.5.
func sentimentOutput(_ map[string]any, content string) map[string]any {
	out := map[string]any{"label": "neutral", "score": 0.5}
	if obj := parseJSONObject(content); obj != nil {
		if l, ok := obj["label"].(string); ok && strings.TrimSpace(l) != "" {
			out["label"] = strings.ToLower(strings.TrimSpace(l))
		}
		if n, ok := obj["score"].(json.Number); ok {
			if f, err := n.Float64(); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				out["score"] = min(max(f, 0), 1)
			}
		}
		return out
	}
	lower := strings.ToLower(content)
	best := -1
	for _, l := range sentimentLabels {
		if i := strings.Index(lower, l); i >= 0 && (best < 0 || i < best) {
			best, out["label"] = i, l
		}
	}
	if best < 0 {
		if c := strings.TrimSpace(content); c != "" {
			out["label"] = c
		}
	}
	return out
}

// parseJSONObject finds the first JSON object in a model's answer, inside a code fence or
// surrounded by prose; nil if there is none.
func parseJSONObject(content string) map[string]any {
	s := stripFence(content)
	for i := strings.IndexByte(s, '{'); i >= 0; {
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err == nil && obj != nil {
			return obj
		}
		j := strings.IndexByte(s[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

// stripFence removes a Markdown code fence (```lang … ```) around an answer.
func stripFence(content string) string {
	s := strings.TrimSpace(content)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	s = strings.TrimPrefix(s, "```")
	if nl := strings.IndexByte(s, '\n'); nl >= 0 {
		s = s[nl+1:] // drop the info string ("json", "sql")
	}
	if end := strings.LastIndex(s, "```"); end >= 0 {
		s = s[:end]
	}
	return strings.TrimSpace(s)
}
