package agents_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agentic-run/agentic/llm"
)

func TestPrompt(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	tests := []struct {
		agent, input       string
		systemHas, wantUsr string
	}{
		{"summarizer", `{"text":"Hello world. Bye."}`,
			"Summarize the following text in at most three sentences.", "Hello world. Bye."},
		{"ticket-classifier", `{"subject":"Refund","body":"I was charged twice."}`,
			`{"category": "billing|technical|account|sales|other", "priority": "low|normal|high|urgent"}`,
			"Subject: Refund\n\nI was charged twice."},
		{"sentiment", `{"text":"I love it"}`, `{"label": "positive|negative|neutral", "score": 0.0}`, "I love it"},
		{"code-reviewer", `{"code":"x := 1","language":"go"}`, "code review of go code.", "```go\nx := 1\n```"},
		{"code-reviewer", `{"code":"x = 1"}`, "code review. List bugs", "```\nx = 1\n```"},
		{"sql-generator", `{"question":"How many users?","schema":"CREATE TABLE users(id int)"}`,
			"single SQL query", "Schema:\nCREATE TABLE users(id int)\n\nQuestion: How many users?"},
		// Input is data, never template code.
		{"summarizer", `{"text":"{{.text}} {{printf \"%d\" 1}}"}`, "Summarize", `{{.text}} {{printf "%d" 1}}`},
		{"echo", `{ "a" : [1, 2] }`, "Repeat", `{"a":[1,2]}`},
	}
	for _, tt := range tests {
		a, err := c.Get(tt.agent)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := a.Prompt(json.RawMessage(tt.input))
		if err != nil {
			t.Fatalf("%s: Prompt: %v", tt.agent, err)
		}
		if len(msgs) != 2 || msgs[0].Role != "system" || msgs[1].Role != "user" {
			t.Fatalf("%s: messages %+v, want system then user", tt.agent, msgs)
		}
		if !strings.Contains(msgs[0].Content, tt.systemHas) {
			t.Errorf("%s: system %q lacks %q", tt.agent, msgs[0].Content, tt.systemHas)
		}
		if msgs[1].Content != tt.wantUsr {
			t.Errorf("%s: user = %q, want %q", tt.agent, msgs[1].Content, tt.wantUsr)
		}
		if strings.Contains(msgs[0].Content+msgs[1].Content, "<no value>") {
			t.Errorf("%s: unrendered field in %+v", tt.agent, msgs)
		}
	}
	a, _ := c.Get("summarizer")
	for _, bad := range []string{`[]`, `nope`, ``} {
		if _, err := a.Prompt(json.RawMessage(bad)); err == nil {
			t.Errorf("Prompt(%q) succeeded", bad)
		}
	}
}

func TestOutput(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	tests := []struct {
		agent, input, content, want string
	}{
		{"summarizer", `{"text":"x"}`, "  A short summary. \n", `{"summary":"A short summary."}`},
		{"ticket-classifier", `{}`, `{"category":"billing","priority":"high"}`, `{"category":"billing","priority":"high"}`},
		{"ticket-classifier", `{}`, "```json\n{\"category\": \"technical\", \"priority\": \"urgent\"}\n```", `{"category":"technical","priority":"urgent"}`},
		{"ticket-classifier", `{}`, `Here you go: {"category":"account"} hope it helps`, `{"category":"account","priority":"normal"}`},
		{"ticket-classifier", `{}`, " Billing ", `{"category":"Billing","priority":"normal"}`},
		{"ticket-classifier", `{}`, "", `{"category":"other","priority":"normal"}`},
		{"sentiment", `{}`, `{"label":"Positive","score":0.93}`, `{"label":"positive","score":0.93}`},
		{"sentiment", `{}`, `{"label":"negative","score":7}`, `{"label":"negative","score":1}`},
		{"sentiment", `{}`, `{"label":"neutral"}`, `{"label":"neutral","score":0.5}`},
		{"sentiment", `{}`, "The overall sentiment is Negative, though partly positive.", `{"label":"negative","score":0.5}`},
		{"sentiment", `{}`, "meh", `{"label":"meh","score":0.5}`},
		{"code-reviewer", `{}`, "\nLooks fine.\n", `{"review":"Looks fine."}`},
		{"sql-generator", `{}`, "```sql\nSELECT count(*) FROM users;\n```", `{"sql":"SELECT count(*) FROM users;"}`},
		{"sql-generator", `{}`, "SELECT 1", `{"sql":"SELECT 1"}`},
		{"echo", `{ "a" : [1, 2.50], "b": "\u00e9" }`, "", `{ "a" : [1, 2.50], "b": "\u00e9" }`},
		{"echo", `{}`, "ignored", `{}`},
	}
	for _, tt := range tests {
		a, err := c.Get(tt.agent)
		if err != nil {
			t.Fatal(err)
		}
		out, err := a.Output(json.RawMessage(tt.input), tt.content)
		if err != nil {
			t.Fatalf("%s(%q): %v", tt.agent, tt.content, err)
		}
		if string(out) != tt.want {
			t.Errorf("%s(%q) = %s, want %s", tt.agent, tt.content, out, tt.want)
		}
	}
	echo, _ := c.Get("echo")
	if _, err := echo.Output(json.RawMessage(`[1]`), ""); err == nil {
		t.Error("echo of a non-object succeeded")
	}
}

// TestWithSim runs every model agent through the sim provider, as `agentic dev` does.
func TestWithSim(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	sim := llm.NewSim(llm.SimConfig{})
	inputs := map[string]string{
		"summarizer":        `{"text":"Go is a programming language. It was designed at Google. It is fast and simple. People like it."}`,
		"ticket-classifier": `{"subject":"Charged twice","body":"My card was charged twice this month."}`,
		"sentiment":         `{"text":"I love this, it is excellent!"}`,
		"code-reviewer":     `{"code":"func f() { panic(1) }","language":"go"}`,
		"sql-generator":     `{"question":"How many users?","schema":"CREATE TABLE users(id int)"}`,
	}
	for id, input := range inputs {
		a, err := c.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(id, json.RawMessage(input)); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		msgs, err := a.Prompt(json.RawMessage(input))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := sim.Complete(context.Background(), llm.Request{Model: "sim", Messages: msgs, MaxTokens: a.MaxOutputTokens, Seed: "tsk_" + id})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := a.Output(json.RawMessage(input), resp.Content)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: output %s: %v", id, raw, err)
		}
		switch id {
		case "summarizer":
			if out["summary"] != "Go is a programming language." {
				t.Errorf("summary = %q", out["summary"])
			}
		case "ticket-classifier":
			if !slices.Contains([]string{"billing", "technical", "account", "sales", "other"}, out["category"].(string)) ||
				!slices.Contains([]string{"low", "normal", "high", "urgent"}, out["priority"].(string)) {
				t.Errorf("classification = %v", out)
			}
		case "sentiment":
			if !reflect.DeepEqual(out["label"], "positive") || out["score"].(float64) < 0.5 {
				t.Errorf("sentiment = %v", out)
			}
		default:
			if len(out) != 1 {
				t.Errorf("%s: output %v", id, out)
			}
		}
	}
}
