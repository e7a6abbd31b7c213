package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

// builtinAgents defines the marketplace's built-in agents. Free-text fields are capped at
// 100,000 characters: the 1 MiB body limit bounds them anyway, the cap keeps one field from
// filling a model's context window.
func builtinAgents() ([]*Agent, error) {
	defs := []struct {
		agent        Agent
		schema       string
		system, user string
		output       func(input map[string]any, content string) map[string]any
	}{
		{
			agent: Agent{
				ID: "summarizer", Name: "Summarizer", Category: "text", Quality: "standard",
				Description:     "Summarizes a text in at most three sentences.",
				MaxOutputTokens: 512,
			},
			schema: `{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"title": "Summarizer input",
				"type": "object",
				"properties": {
					"text": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "The text to summarize."}
				},
				"required": ["text"],
				"additionalProperties": false
			}`,
			system: "You are a precise summarizer. Summarize the following text in at most three sentences. " +
				"Answer with the summary only, in the language of the text.",
			user: "{{.text}}",
			output: func(_ map[string]any, content string) map[string]any {
				return map[string]any{"summary": strings.TrimSpace(content)}
			},
		},
		{
			agent: Agent{
				ID: "ticket-classifier", Name: "Ticket classifier", Category: "support", Quality: "economy",
				Description:     "Classifies a customer support ticket by category and priority.",
				MaxOutputTokens: 128,
			},
			schema: `{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"title": "Ticket classifier input",
				"type": "object",
				"properties": {
					"subject": {"type": "string", "minLength": 1, "maxLength": 1000, "description": "The ticket's subject line."},
					"body": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "The ticket's text."}
				},
				"required": ["subject", "body"],
				"additionalProperties": false
			}`,
			system: `You triage customer support tickets. Classify the ticket and answer with only a JSON object ` +
				`of the form {"category": "billing|technical|account|sales|other", "priority": "low|normal|high|urgent"}.`,
			user:   "Subject: {{.subject}}\n\n{{.body}}",
			output: classifierOutput,
		},
		{
			agent: Agent{
				ID: "sentiment", Name: "Sentiment analysis", Category: "text", Quality: "economy",
				Description:     "Labels the sentiment of a text as positive, negative or neutral, with a confidence score.",
				MaxOutputTokens: 64,
			},
			schema: `{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"title": "Sentiment input",
				"type": "object",
				"properties": {
					"text": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "The text to analyse."}
				},
				"required": ["text"],
				"additionalProperties": false
			}`,
			system: `You analyse the sentiment of a text. Answer with only a JSON object of the form ` +
				`{"label": "positive|negative|neutral", "score": 0.0}, where score is your confidence between 0 and 1.`,
			user:   "{{.text}}",
			output: sentimentOutput,
		},
		{
			agent: Agent{
				ID: "code-reviewer", Name: "Code reviewer", Category: "engineering", Quality: "premium",
				Description:     "Reviews a piece of code for bugs, security problems and readability, with suggested fixes.",
				MaxOutputTokens: 2048,
			},
			schema: `{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"title": "Code reviewer input",
				"type": "object",
				"properties": {
					"code": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "The code to review."},
					"language": {"type": "string", "minLength": 1, "maxLength": 64, "description": "The programming language, e.g. \"go\"."}
				},
				"required": ["code"],
				"additionalProperties": false
			}`,
			system: "You are a senior software engineer doing a code review{{with .language}} of {{.}} code{{end}}. " +
				"List bugs, security problems and readability issues, most important first, each with a concrete fix. Be concise.",
			user: "```{{.language}}\n{{.code}}\n```",
			output: func(_ map[string]any, content string) map[string]any {
				return map[string]any{"review": strings.TrimSpace(content)}
			},
		},
		{
			agent: Agent{
				ID: "sql-generator", Name: "SQL generator", Category: "data", Quality: "standard",
				Description:     "Writes a SQL query that answers a question about a database schema.",
				MaxOutputTokens: 512,
			},
			schema: `{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"title": "SQL generator input",
				"type": "object",
				"properties": {
					"question": {"type": "string", "minLength": 1, "maxLength": 10000, "description": "The question to answer."},
					"schema": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "The database schema, e.g. its CREATE TABLE statements."}
				},
				"required": ["question", "schema"],
				"additionalProperties": false
			}`,
			system: "You translate questions into SQL. Given a database schema and a question, answer with a single " +
				"SQL query that answers it, and nothing else.",
			user: "Schema:\n{{.schema}}\n\nQuestion: {{.question}}",
			output: func(_ map[string]any, content string) map[string]any {
				return map[string]any{"sql": stripFence(content)}
			},
		},
		{
			agent: Agent{
				ID: "echo", Name: "Echo", Category: "testing", Quality: "economy", NoModel: true,
				Description: "Returns its input unchanged without calling a model; for tests, demos and benchmarks of the pipeline.",
			},
			schema: `{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"title": "Echo input",
				"description": "Any JSON object.",
				"type": "object"
			}`,
			system: "Repeat the user's message exactly.",
		},
	}
	out := make([]*Agent, 0, len(defs))
	for _, d := range defs {
		a := d.agent
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(d.schema)); err != nil {
			return nil, fmt.Errorf("agents: %s: schema: %w", a.ID, err)
		}
		a.InputSchema = buf.Bytes()
		var err error
		if a.system, err = parseTemplate(a.ID+".system", d.system); err != nil {
			return nil, err
		}
		if d.user != "" {
			if a.user, err = parseTemplate(a.ID+".user", d.user); err != nil {
				return nil, err
			}
		}
		a.output = d.output
		out = append(out, &a)
	}
	return out, nil
}

func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("agents: template %s: %w", name, err)
	}
	return t, nil
}
