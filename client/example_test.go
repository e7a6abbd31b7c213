package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/platformtest"
)

// platform returns the in-process platform of the examples, a client with the admin token
// and a client with the API key of a new tenant. When an engine is missing it prints why,
// so the example's output does not match and it fails.
func platform(ctx context.Context) (admin, tenant *client.Client, ok bool) {
	p, err := platformtest.Shared()
	if err != nil {
		fmt.Println(err)
		return nil, nil, false
	}
	_, key, err := p.NewTenant(ctx, "examples")
	if err != nil {
		fmt.Println(err)
		return nil, nil, false
	}
	admin, err = client.New(p.URL, client.WithAdminToken(p.AdminToken))
	if err != nil {
		fmt.Println(err)
		return nil, nil, false
	}
	tenant, err = client.New(p.URL, client.WithAPIKey(key))
	if err != nil {
		fmt.Println(err)
		return nil, nil, false
	}
	return admin, tenant, true
}

// compact prints JSON without insignificant whitespace.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// Submit a task to the echo agent, wait for it, and read its output.
func ExampleClient_Submit() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, c, ok := platform(ctx)
	if !ok {
		return
	}

	task, created, err := c.Submit(ctx, client.SubmitRequest{
		Agent:    "echo",
		Input:    json.RawMessage(`{"text": "hello"}`),
		Metadata: map[string]string{"order": "42"},
	}, &client.SubmitOpts{IdempotencyKey: "order-42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", created, "status:", task.Status)

	// The same Idempotency-Key and body: the same task, not a new run.
	again, created, err := c.Submit(ctx, client.SubmitRequest{
		Agent:    "echo",
		Input:    json.RawMessage(`{"text": "hello"}`),
		Metadata: map[string]string{"order": "42"},
	}, &client.SubmitOpts{IdempotencyKey: "order-42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", created, "same task:", again.ID == task.ID)

	done, err := c.WaitTask(ctx, task.ID, 30*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("status:", done.Status)
	fmt.Println("output:", compact(done.Output))
	// Output:
	// created: true status: queued
	// created: false same task: true
	// status: succeeded
	// output: {"text":"hello"}
}

// List the marketplace's agents.
func ExampleClient_ListAgents() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, c, ok := platform(ctx)
	if !ok {
		return
	}
	agents, err := c.ListAgents(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range agents {
		fmt.Printf("%s (%s)\n", a.ID, a.Quality)
	}
	// Output:
	// code-reviewer (premium)
	// echo (economy)
	// sentiment (economy)
	// sql-generator (standard)
	// summarizer (standard)
	// ticket-classifier (economy)
}

// Walk every task of a tenant that carries some metadata, page after page.
func ExampleClient_AllTasks() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, c, ok := platform(ctx)
	if !ok {
		return
	}
	for i := range 5 {
		_, _, err := c.Submit(ctx, client.SubmitRequest{
			Agent:    "echo",
			Input:    json.RawMessage(fmt.Sprintf(`{"n": %d}`, i)),
			Metadata: map[string]string{"batch": "nightly"},
		}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	n := 0
	for task, err := range c.AllTasks(ctx, &client.ListOpts{Metadata: map[string]string{"batch": "nightly"}, Limit: 2}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		n++
		_ = task
	}
	fmt.Println("tasks:", n)
	// Output:
	// tasks: 5
}

// Follow a task's status events until it ends.
func ExampleClient_Events() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, c, ok := platform(ctx)
	if !ok {
		return
	}
	task, _, err := c.Submit(ctx, client.SubmitRequest{Agent: "echo", Input: json.RawMessage(`{"text": "hi"}`)}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var last client.Task
	for ev, err := range c.Events(ctx, task.ID) {
		if err != nil {
			fmt.Println(err)
			return
		}
		last = ev.Task // queued, running, then succeeded: how many arrive depends on timing
	}
	fmt.Println("final status:", last.Status)
	// Output:
	// final status: succeeded
}

// Every answer outside 2xx is a *Problem: switch on its code.
func ExampleProblem() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, c, ok := platform(ctx)
	if !ok {
		return
	}
	_, _, err := c.Submit(ctx, client.SubmitRequest{Agent: "summarizer", Input: json.RawMessage(`{"txt": "typo"}`)}, nil)
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Code, p.Code == client.CodeInvalidInput)
	}
	_, err = c.GetTask(ctx, "tsk_unknown")
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Code)
	}
	// Output:
	// 422 invalid_input true
	// 404 not_found
}

// Create a tenant and an API key for it with the admin token.
func ExampleClient_CreateAPIKey() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, _, ok := platform(ctx)
	if !ok {
		return
	}
	budget := 25.0
	ten, err := admin.CreateTenant(ctx, client.CreateTenantRequest{Name: "acme", Tier: "pro", MonthlyBudgetUSD: &budget})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := admin.CreateAPIKey(ctx, ten.ID, &client.APIKeyOpts{Name: "ci"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ten.Tier, *ten.MonthlyBudgetUSD, key.Name, len(key.Key) > len(key.Prefix))

	// Remove the budget, then revoke the key.
	ten, err = admin.UpdateTenant(ctx, ten.ID, client.TenantPatch{ClearBudget: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("budget:", ten.MonthlyBudgetUSD)
	fmt.Println("revoke:", admin.RevokeAPIKey(ctx, key.ID))
	// Output:
	// pro 25 ci true
	// budget: <nil>
	// revoke: <nil>
}
