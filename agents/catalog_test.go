package agents_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/agentic-run/agentic/agents"
)

func builtin(t testing.TB) *agents.Catalog {
	t.Helper()
	c, err := agents.Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	return c
}

func TestBuiltinCatalog(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	want := []struct {
		id, category, quality string
		noModel               bool
		required              []string
	}{
		{"code-reviewer", "engineering", "premium", false, []string{"code"}},
		{"echo", "testing", "economy", true, nil},
		{"sentiment", "text", "economy", false, []string{"text"}},
		{"sql-generator", "data", "standard", false, []string{"question", "schema"}},
		{"summarizer", "text", "standard", false, []string{"text"}},
		{"ticket-classifier", "support", "economy", false, []string{"subject", "body"}},
	}
	list := c.List()
	if len(list) != len(want) {
		t.Fatalf("List has %d agents, want %d", len(list), len(want))
	}
	for i, w := range want {
		a := list[i]
		if a.ID != w.id || a.Category != w.category || a.Quality != w.quality || a.NoModel != w.noModel {
			t.Errorf("agent %d = %s/%s/%s/%v, want %+v", i, a.ID, a.Category, a.Quality, a.NoModel, w)
		}
		if a.Name == "" || !strings.HasSuffix(a.Description, ".") {
			t.Errorf("%s: name %q, description %q", a.ID, a.Name, a.Description)
		}
		if !a.NoModel && a.MaxOutputTokens <= 0 {
			t.Errorf("%s: MaxOutputTokens = %d", a.ID, a.MaxOutputTokens)
		}
		got, err := c.Get(w.id)
		if err != nil || got != a {
			t.Errorf("Get(%q) = %v, %v", w.id, got, err)
		}
		var schema struct {
			Schema     string `json:"$schema"`
			Type       string `json:"type"`
			Required   []string
			AddlProps  *bool `json:"additionalProperties"`
			Properties map[string]struct {
				Type      string `json:"type"`
				MaxLength int    `json:"maxLength"`
			}
		}
		if err := json.Unmarshal(a.InputSchema, &schema); err != nil {
			t.Fatalf("%s: schema: %v", a.ID, err)
		}
		if schema.Schema != "https://json-schema.org/draft/2020-12/schema" || schema.Type != "object" {
			t.Errorf("%s: schema header %q %q", a.ID, schema.Schema, schema.Type)
		}
		if !reflect.DeepEqual(schema.Required, w.required) {
			t.Errorf("%s: required %v, want %v", a.ID, schema.Required, w.required)
		}
		if closed := schema.AddlProps != nil && !*schema.AddlProps; closed == w.noModel {
			t.Errorf("%s: additionalProperties false = %v", a.ID, closed)
		}
		for name, p := range schema.Properties {
			if p.Type != "string" || p.MaxLength <= 0 || p.MaxLength > 100_000 {
				t.Errorf("%s.%s: type %q maxLength %d", a.ID, name, p.Type, p.MaxLength)
			}
		}
	}
	if _, err := c.Get("nope"); !errors.Is(err, agents.ErrUnknownAgent) {
		t.Errorf("Get(nope) err = %v, want ErrUnknownAgent", err)
	}
}

func TestAgentAPI(t *testing.T) {
	t.Parallel()
	a, err := builtin(t).Get("summarizer")
	if err != nil {
		t.Fatal(err)
	}
	api := a.API()
	if api.ID != "summarizer" || api.Name != a.Name || api.Description != a.Description ||
		api.Category != "text" || api.Quality != "standard" || string(api.InputSchema) != string(a.InputSchema) {
		t.Errorf("API() = %+v", api)
	}
	b, err := json.Marshal(api)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if v, ok := m["max_executions_per_hour"]; !ok || v != nil {
		t.Errorf("max_executions_per_hour = %v (present %v), want null", v, ok)
	}
	if m["input_schema"].(map[string]any)["type"] != "object" {
		t.Errorf("input_schema = %v", m["input_schema"])
	}
	api.InputSchema[0] = 'X'
	if a.InputSchema[0] == 'X' {
		t.Error("API shares the schema bytes with the agent")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	type fe = agents.FieldError
	tests := []struct {
		name, agent, input string
		want               []fe // nil: valid
	}{
		{"summarizer ok", "summarizer", `{"text":"Hello."}`, nil},
		{"missing required", "summarizer", `{}`, []fe{{"/input", "missing property 'text'"}}},
		{"wrong type", "summarizer", `{"text":5}`, []fe{{"/input/text", "must be a string, got number"}}},
		{"empty string", "summarizer", `{"text":""}`, []fe{{"/input/text", "must not be empty"}}},
		{"extra property", "summarizer", `{"text":"x","lang":"en"}`, []fe{{"/input", "property 'lang' is not allowed"}}},
		{"too long", "summarizer", `{"text":"` + strings.Repeat("a", 100_001) + `"}`,
			[]fe{{"/input/text", "must be at most 100000 characters long, got 100001"}}},
		{"every error at once", "summarizer", `{"text":true,"x":1,"y":2}`, []fe{
			{"/input", "property 'x' is not allowed"},
			{"/input", "property 'y' is not allowed"},
			{"/input/text", "must be a string, got boolean"},
		}},
		{"array", "summarizer", `[]`, []fe{{"/input", "must be a JSON object, got array"}}},
		{"string", "summarizer", `"text"`, []fe{{"/input", "must be a JSON object, got string"}}},
		{"null", "summarizer", `null`, []fe{{"/input", "must be a JSON object, got null"}}},
		{"malformed", "summarizer", `{"text":`, []fe{{"/input", "is not valid JSON"}}},
		{"trailing data", "summarizer", `{"text":"a"} {}`, []fe{{"/input", "is not valid JSON"}}},
		{"absent", "summarizer", ``, []fe{{"/input", "is required and must be a JSON object"}}},
		{"classifier ok", "ticket-classifier", `{"subject":"Refund","body":"Charged twice."}`, nil},
		{"classifier missing both", "ticket-classifier", `{}`, []fe{
			{"/input", "missing property 'body'"},
			{"/input", "missing property 'subject'"},
		}},
		{"classifier types", "ticket-classifier", `{"subject":1,"body":null}`, []fe{
			{"/input/body", "must be a string, got null"},
			{"/input/subject", "must be a string, got number"},
		}},
		{"sentiment ok", "sentiment", `{"text":"great"}`, nil},
		{"reviewer ok", "code-reviewer", `{"code":"x := 1"}`, nil},
		{"reviewer language ok", "code-reviewer", `{"code":"x := 1","language":"go"}`, nil},
		{"reviewer language type", "code-reviewer", `{"code":"x","language":["go"]}`,
			[]fe{{"/input/language", "must be a string, got array"}}},
		{"reviewer language too long", "code-reviewer", `{"code":"x","language":"` + strings.Repeat("g", 65) + `"}`,
			[]fe{{"/input/language", "must be at most 64 characters long, got 65"}}},
		{"sql missing schema", "sql-generator", `{"question":"how many?"}`, []fe{{"/input", "missing property 'schema'"}}},
		{"sql ok", "sql-generator", `{"question":"how many?","schema":"CREATE TABLE t(id int)"}`, nil},
		{"echo anything", "echo", `{"a":[1,2,{"deep":true}],"b":null,"n":1e400}`, nil},
		{"echo empty object", "echo", `{}`, nil},
		{"echo array", "echo", `[1]`, []fe{{"/input", "must be a JSON object, got array"}}},
		{"echo number", "echo", `42`, []fe{{"/input", "must be a JSON object, got number"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.Validate(tt.agent, json.RawMessage(tt.input))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v %+v, want nil", err, err)
				}
				return
			}
			var inv *agents.InvalidInputError
			if !errors.As(err, &inv) {
				t.Fatalf("Validate = %v, want *InvalidInputError", err)
			}
			if !reflect.DeepEqual(inv.Fields, tt.want) {
				t.Errorf("Fields = %q\nwant     %q", inv.Fields, tt.want)
			}
		})
	}
}

func TestValidateUnknownAgent(t *testing.T) {
	t.Parallel()
	err := builtin(t).Validate("translator", json.RawMessage(`{}`))
	if !errors.Is(err, agents.ErrUnknownAgent) {
		t.Fatalf("err = %v, want ErrUnknownAgent", err)
	}
	var inv *agents.InvalidInputError
	if errors.As(err, &inv) {
		t.Error("an unknown agent is not an invalid input")
	}
}

func TestValidateConcurrent(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 50 {
				err := c.Validate("ticket-classifier", json.RawMessage(`{"subject":1}`))
				var inv *agents.InvalidInputError
				if !errors.As(err, &inv) || len(inv.Fields) != 2 {
					t.Errorf("goroutine %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewCatalog(t *testing.T) {
	t.Parallel()
	custom := &agents.Agent{
		ID: "nested", Name: "Nested", Quality: "standard",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"a/b~c":{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}}}`),
	}
	c, err := agents.NewCatalog(custom)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate("nested", json.RawMessage(`{"a/b~c":{"n":0}}`))
	var inv *agents.InvalidInputError
	if !errors.As(err, &inv) || len(inv.Fields) != 1 || inv.Fields[0].Path != "/input/a~1b~0c/n" ||
		!strings.Contains(inv.Fields[0].Message, "minimum") {
		t.Fatalf("Validate = %v %+v, want one error at /input/a~1b~0c/n", err, inv)
	}
	// A catalog-external agent gets a generic prompt and output.
	msgs, err := custom.Prompt(json.RawMessage(`{"a/b~c": {"n": 2}}`))
	if err != nil || len(msgs) != 1 || msgs[0].Role != "user" || msgs[0].Content != `{"a/b~c":{"n":2}}` {
		t.Errorf("Prompt = %+v, %v", msgs, err)
	}
	out, err := custom.Output(nil, " answer ")
	if err != nil || string(out) != `{"result":"answer"}` {
		t.Errorf("Output = %s, %v", out, err)
	}

	for name, list := range map[string][]*agents.Agent{
		"no id":      {{Quality: "economy", InputSchema: json.RawMessage(`{}`)}},
		"duplicate":  {custom, custom},
		"quality":    {{ID: "x", Quality: "gold", InputSchema: json.RawMessage(`{}`)}},
		"no schema":  {{ID: "x", Quality: "economy"}},
		"bad json":   {{ID: "x", Quality: "economy", InputSchema: json.RawMessage(`{`)}},
		"bad schema": {{ID: "x", Quality: "economy", InputSchema: json.RawMessage(`{"type":5}`)}},
		"nil agent":  {nil},
	} {
		if _, err := agents.NewCatalog(list...); err == nil {
			t.Errorf("%s: NewCatalog accepted it", name)
		}
	}
}
