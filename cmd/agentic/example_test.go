package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentic-run/agentic/internal/platformtest"
)

// exampleEnv returns the environment of a new tenant on the examples' in-process platform;
// without engines it prints why, so the example's output does not match.
func exampleEnv(ctx context.Context) (func(string) string, bool) {
	p, err := platformtest.Shared()
	if err != nil {
		fmt.Println(err)
		return nil, false
	}
	_, key, err := p.NewTenant(ctx, "cli-examples")
	if err != nil {
		fmt.Println(err)
		return nil, false
	}
	env := map[string]string{"AGENTIC_URL": p.URL, "AGENTIC_API_KEY": key, "AGENTIC_ADMIN_TOKEN": p.AdminToken}
	return func(k string) string { return env[k] }, true
}

// agentic agents: the marketplace as a table.
func Example_agents() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	getenv, ok := exampleEnv(ctx)
	if !ok {
		return
	}
	err := run(ctx, []string{"agentic", "agents"}, getenv, os.Stdout)
	fmt.Println("exit status", report(err, os.Stdout))
	// Output:
	// ID                 QUALITY   CATEGORY     NAME
	// code-reviewer      premium   engineering  Code reviewer
	// echo               economy   testing      Echo
	// sentiment          economy   text         Sentiment analysis
	// sql-generator      standard  data         SQL generator
	// summarizer         standard  text         Summarizer
	// ticket-classifier  economy   support      Ticket classifier
	// exit status 0
}

// agentic submit --wait: submit a task and wait for its result.
func Example_submit() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	getenv, ok := exampleEnv(ctx)
	if !ok {
		return
	}
	var out bytes.Buffer
	err := run(ctx, []string{"agentic", "submit", "--agent", "echo", "--input", `{"text": "hi"}`, "--metadata", "order=42", "--wait"}, getenv, &out)
	// Ids and times differ at each run: show the other fields.
	for _, line := range strings.Split(out.String(), "\n") {
		for _, key := range []string{"agent ", "status ", "attempts ", "metadata ", "output "} {
			if strings.HasPrefix(line, key) {
				fmt.Println(line)
			}
		}
	}
	fmt.Println("exit status", report(err, os.Stdout))
	// Output:
	// agent     echo
	// status    succeeded
	// attempts  1
	// metadata  order=42
	// output    {"text":"hi"}
	// exit status 0
}

// API errors print the problem's detail and code; the exit status is 1.
func Example_errors() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	getenv, ok := exampleEnv(ctx)
	if !ok {
		return
	}
	err := run(ctx, []string{"agentic", "get", "tsk_unknown"}, getenv, os.Stdout)
	fmt.Println("exit status", report(err, os.Stdout))
	err = run(ctx, []string{"agentic", "submit", "--agent", "translator", "--input", `{"text": "hola"}`}, getenv, os.Stdout)
	fmt.Println("exit status", report(err, os.Stdout))
	err = run(ctx, []string{"agentic", "frobnicate"}, getenv, os.Stdout)
	fmt.Println("exit status", report(err, os.Stdout))
	// Output:
	// agentic: task not found (not_found)
	// exit status 1
	// agentic: no agent "translator"; see GET /v1/agents (unknown_agent)
	//   /agent: is not an agent id; see GET /v1/agents
	// exit status 1
	// agentic: unknown command "frobnicate"
	// Run 'agentic -h' for usage.
	// exit status 2
}
