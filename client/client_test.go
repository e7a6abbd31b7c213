package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/platformtest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requireProblem checks err is a *Problem with that status and code.
func requireProblem(t *testing.T, err error, status int, code string) *client.Problem {
	t.Helper()
	require.Error(t, err)
	var p *client.Problem
	require.True(t, errors.As(err, &p), "not a *Problem: %v", err)
	require.Equal(t, status, p.Status, "problem: %+v", p)
	require.Equal(t, code, p.Code, "problem: %+v", p)
	require.Equal(t, "https://agentic.dev/problems/"+code, p.Type)
	require.NotEmpty(t, p.Title)
	return p
}

func echo(t *testing.T, in string) client.SubmitRequest {
	t.Helper()
	require.True(t, json.Valid([]byte(in)))
	return client.SubmitRequest{Agent: "echo", Input: json.RawMessage(in)}
}

func TestNewRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://host", "http://", "http://h/?q=1", "http://u:p@h"} {
		_, err := client.New(u)
		assert.Error(t, err, u)
	}
	c, err := client.New("http://example.com/api/")
	require.NoError(t, err)
	assert.Equal(t, "http://example.com/api", c.BaseURL())
}

func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	c, err := client.New(p.URL)
	require.NoError(t, err)
	ctx := ctxT(t)
	require.NoError(t, c.Health(ctx))
	r, err := c.Ready(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ok", r.Status)
	assert.Equal(t, "platformtest", r.Version)
	assert.Equal(t, "ok", r.Checks["database"].Status)
	assert.Equal(t, "ok", r.Checks["nats"].Status)
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	ctx := ctxT(t)
	admin := p.Admin(t)

	budget := 50.0
	ten, err := admin.CreateTenant(ctx, client.CreateTenantRequest{Name: "acme", Tier: "basic", MonthlyBudgetUSD: &budget})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ten.ID, "ten_"), ten.ID)
	assert.Equal(t, "acme", ten.Name)
	assert.Equal(t, "basic", ten.Tier)
	require.NotNil(t, ten.MonthlyBudgetUSD)
	assert.Equal(t, 50.0, *ten.MonthlyBudgetUSD)
	assert.True(t, strings.HasPrefix(ten.WebhookSecret, "whsec_"), ten.WebhookSecret)

	got, err := admin.GetTenant(ctx, ten.ID)
	require.NoError(t, err)
	assert.Equal(t, ten.ID, got.ID)
	assert.Empty(t, got.WebhookSecret, "the secret is shown only at creation")
	assert.WithinDuration(t, ten.CreatedAt, got.CreatedAt, 0)

	pro := "pro"
	got, err = admin.UpdateTenant(ctx, ten.ID, client.TenantPatch{Tier: &pro})
	require.NoError(t, err)
	assert.Equal(t, "pro", got.Tier)
	require.NotNil(t, got.MonthlyBudgetUSD, "an absent field stays")
	assert.Equal(t, 50.0, *got.MonthlyBudgetUSD)

	ten2 := 12.5
	got, err = admin.UpdateTenant(ctx, ten.ID, client.TenantPatch{MonthlyBudgetUSD: &ten2})
	require.NoError(t, err)
	require.NotNil(t, got.MonthlyBudgetUSD)
	assert.Equal(t, 12.5, *got.MonthlyBudgetUSD)
	assert.Equal(t, "pro", got.Tier)

	got, err = admin.UpdateTenant(ctx, ten.ID, client.TenantPatch{ClearBudget: true})
	require.NoError(t, err)
	assert.Nil(t, got.MonthlyBudgetUSD)
	got, err = admin.GetTenant(ctx, ten.ID)
	require.NoError(t, err)
	assert.Nil(t, got.MonthlyBudgetUSD)

	_, err = admin.UpdateTenant(ctx, ten.ID, client.TenantPatch{ClearBudget: true, MonthlyBudgetUSD: &ten2})
	require.Error(t, err)
	var prob *client.Problem
	assert.False(t, errors.As(err, &prob), "checked before sending")

	bad := "platinum"
	perr := requireProblem(t, mustErr(admin.UpdateTenant(ctx, ten.ID, client.TenantPatch{Tier: &bad})), 422, client.CodeInvalidTier)
	require.NotEmpty(t, perr.Errors)
	assert.Equal(t, "/tier", perr.Errors[0].Path)
	requireProblem(t, mustErr(admin.CreateTenant(ctx, client.CreateTenantRequest{Name: "x", Tier: "gold"})), 422, client.CodeInvalidTier)
	requireProblem(t, mustErr(admin.GetTenant(ctx, "ten_missing")), 404, client.CodeNotFound)

	// Keys: one works as a tenant credential until it is revoked.
	key, err := admin.CreateAPIKey(ctx, ten.ID, &client.APIKeyOpts{Name: "ci"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(key.ID, "key_"), key.ID)
	assert.True(t, strings.HasPrefix(key.Key, "ak_"), key.Key)
	assert.True(t, strings.HasPrefix(key.Key, key.Prefix), "%s / %s", key.Prefix, key.Key)
	assert.Equal(t, "ci", key.Name)
	unnamed, err := admin.CreateAPIKey(ctx, ten.ID, nil)
	require.NoError(t, err)
	assert.NotEqual(t, key.Key, unnamed.Key)
	requireProblem(t, mustErr(admin.CreateAPIKey(ctx, "ten_missing", nil)), 404, client.CodeNotFound)

	tc, err := client.New(p.URL, client.WithAPIKey(key.Key))
	require.NoError(t, err)
	_, err = tc.ListAgents(ctx)
	require.NoError(t, err)
	// A tenant key is no admin token.
	tenantAsAdmin, err := client.New(p.URL, client.WithAdminToken(key.Key))
	require.NoError(t, err)
	requireProblem(t, mustErr(tenantAsAdmin.GetTenant(ctx, ten.ID)), 403, client.CodeForbidden)

	require.NoError(t, admin.RevokeAPIKey(ctx, key.ID))
	requireProblem(t, mustErr(tc.ListAgents(ctx)), 401, client.CodeUnauthorized)
	other, err := client.New(p.URL, client.WithAPIKey(unnamed.Key))
	require.NoError(t, err)
	_, err = other.ListAgents(ctx)
	require.NoError(t, err, "only the revoked key stops")
	requireProblem(t, admin.RevokeAPIKey(ctx, "key_missing"), 404, client.CodeNotFound)

	// No credentials at all.
	anon, err := client.New(p.URL)
	require.NoError(t, err)
	requireProblem(t, mustErr(anon.GetTenant(ctx, ten.ID)), 401, client.CodeUnauthorized)
	requireProblem(t, mustErr(anon.ListTasks(ctx, nil)), 401, client.CodeUnauthorized)
}

// mustErr drops a result to keep the error.
func mustErr[T any](_ T, err error) error { return err }

func TestAgents(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	ctx := ctxT(t)
	list, err := c.ListAgents(ctx)
	require.NoError(t, err)
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	assert.True(t, slices.IsSorted(ids), ids)
	for _, want := range []string{"summarizer", "ticket-classifier", "sentiment", "code-reviewer", "sql-generator", "echo"} {
		assert.Contains(t, ids, want)
	}
	a, err := c.GetAgent(ctx, "summarizer")
	require.NoError(t, err)
	assert.Equal(t, "summarizer", a.ID)
	assert.NotEmpty(t, a.Name)
	assert.Contains(t, string(a.InputSchema), `"text"`)
	requireProblem(t, mustErr(c.GetAgent(ctx, "nope")), 404, client.CodeNotFound)
	_, err = c.GetAgent(ctx, "")
	require.Error(t, err)
}

func TestSubmitAndWait(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, nil)
	_, c := p.Tenant(t)
	ctx := ctxT(t)

	task, created, err := c.Submit(ctx, client.SubmitRequest{
		Agent: "echo", Input: json.RawMessage(`{"text": "hello"}`),
		Metadata: map[string]string{"order": "42"},
	}, nil)
	require.NoError(t, err)
	assert.True(t, created)
	assert.True(t, strings.HasPrefix(task.ID, "tsk_"), task.ID)
	assert.Equal(t, "queued", task.Status)
	assert.Equal(t, "echo", task.Agent)
	assert.Equal(t, map[string]string{"order": "42"}, task.Metadata)

	done, err := c.WaitTask(ctx, task.ID, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "succeeded", done.Status, "task: %+v", done)
	assert.True(t, done.Terminal())
	assert.JSONEq(t, `{"text":"hello"}`, string(done.Output))
	assert.Nil(t, done.Error)
	assert.NotNil(t, done.FinishedAt)
	assert.Equal(t, 1, done.Attempts)

	got, err := c.GetTask(ctx, task.ID)
	require.NoError(t, err)
	assert.Equal(t, done.Status, got.Status)
	assert.Equal(t, done.FinishedAt, got.FinishedAt)

	// Another tenant does not see it.
	_, other := p.Tenant(t)
	requireProblem(t, mustErr(other.GetTask(ctx, task.ID)), 404, client.CodeNotFound)
	requireProblem(t, mustErr(c.GetTask(ctx, "tsk_missing")), 404, client.CodeNotFound)
	requireProblem(t, mustErr(c.WaitTask(ctx, "tsk_missing", time.Second)), 404, client.CodeNotFound)
}

func TestSubmitRejections(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	ctx := ctxT(t)

	requireProblem(t, mustErr3(c.Submit(ctx, client.SubmitRequest{Agent: "nope", Input: json.RawMessage(`{}`)}, nil)), 422, client.CodeUnknownAgent)
	perr := requireProblem(t, mustErr3(c.Submit(ctx, client.SubmitRequest{Agent: "summarizer", Input: json.RawMessage(`{"txt": 1}`)}, nil)), 422, client.CodeInvalidInput)
	assert.NotEmpty(t, perr.Errors)
	assert.NotEmpty(t, perr.Detail)
	assert.Contains(t, perr.Error(), "422 invalid_input")
	req := echo(t, `{"a":1}`)
	req.WebhookURL = "http://10.1.2.3/hook"
	requireProblem(t, mustErr3(c.Submit(ctx, req, nil)), 422, client.CodeInvalidWebhookURL)
	requireProblem(t, mustErr3(c.Submit(ctx, echo(t, `{"a":1}`), &client.SubmitOpts{IdempotencyKey: "bad\u00e9key"})), 400, client.CodeInvalidIdempotencyKey)
}

func mustErr3[A, B any](_ A, _ B, err error) error { return err }

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	ctx := ctxT(t)
	opts := &client.SubmitOpts{IdempotencyKey: "order-42"}

	first, created, err := c.Submit(ctx, echo(t, `{"n": 1}`), opts)
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := c.Submit(ctx, echo(t, `{ "n" : 1 }`), opts)
	require.NoError(t, err)
	assert.False(t, created, "a replay answers 200")
	assert.Equal(t, first.ID, again.ID)

	requireProblem(t, mustErr3(c.Submit(ctx, echo(t, `{"n": 2}`), opts)), 409, client.CodeIdempotencyConflict)

	third, created, err := c.Submit(ctx, echo(t, `{"n": 1}`), &client.SubmitOpts{IdempotencyKey: "order-43"})
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotEqual(t, first.ID, third.ID)
}

func TestListAndAllTasks(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	ctx := ctxT(t)

	var ids []string
	for i := range 7 {
		req := echo(t, fmt.Sprintf(`{"i": %d}`, i))
		req.Metadata = map[string]string{"batch": "b1", "parity": []string{"even", "odd"}[i%2]}
		task, _, err := c.Submit(ctx, req, nil)
		require.NoError(t, err)
		ids = append(ids, task.ID)
	}
	other := echo(t, `{}`)
	other.Metadata = map[string]string{"batch": "b2"}
	_, _, err := c.Submit(ctx, other, nil)
	require.NoError(t, err)
	slices.Reverse(ids) // newest first

	page, err := c.ListTasks(ctx, &client.ListOpts{Metadata: map[string]string{"batch": "b1"}, Limit: 3})
	require.NoError(t, err)
	require.Len(t, page.Data, 3)
	require.NotNil(t, page.NextCursor)
	assert.Equal(t, ids[:3], taskIDs(page.Data))
	page2, err := c.ListTasks(ctx, &client.ListOpts{Metadata: map[string]string{"batch": "b1"}, Limit: 3, Cursor: *page.NextCursor})
	require.NoError(t, err)
	assert.Equal(t, ids[3:6], taskIDs(page2.Data))

	var all []client.Task
	for task, err := range c.AllTasks(ctx, &client.ListOpts{Metadata: map[string]string{"batch": "b1"}, Limit: 3}) {
		require.NoError(t, err)
		all = append(all, task)
	}
	assert.Equal(t, ids, taskIDs(all), "every page, in order, once")

	var odd []client.Task
	for task, err := range c.AllTasks(ctx, &client.ListOpts{Metadata: map[string]string{"batch": "b1", "parity": "odd"}, Limit: 2}) {
		require.NoError(t, err)
		odd = append(odd, task)
	}
	assert.Len(t, odd, 3)

	// Stopping early stops fetching.
	n := 0
	for _, err := range c.AllTasks(ctx, &client.ListOpts{Limit: 1}) {
		require.NoError(t, err)
		n++
		if n == 2 {
			break
		}
	}
	assert.Equal(t, 2, n)

	every, err := c.ListTasks(ctx, &client.ListOpts{Status: "queued", Agent: "echo", Limit: 100})
	require.NoError(t, err)
	assert.Len(t, every.Data, 8)
	assert.Nil(t, every.NextCursor)
	none, err := c.ListTasks(ctx, &client.ListOpts{Status: "succeeded"})
	require.NoError(t, err)
	assert.Empty(t, none.Data)

	requireProblem(t, mustErr(c.ListTasks(ctx, &client.ListOpts{Limit: 101})), 400, client.CodeInvalidParameter)
	requireProblem(t, mustErr(c.ListTasks(ctx, &client.ListOpts{Status: "done"})), 400, client.CodeInvalidParameter)
	var errs []error
	for _, err := range c.AllTasks(ctx, &client.ListOpts{Cursor: "garbage"}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1, "an error ends the iteration")
	requireProblem(t, errs[0], 400, client.CodeInvalidParameter)
}

func taskIDs(ts []client.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestCancelAndWaitTimeout(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	ctx := ctxT(t)
	task, _, err := c.Submit(ctx, echo(t, `{}`), nil)
	require.NoError(t, err)

	// Nothing runs it: the wait ends with the task as it stands.
	start := time.Now()
	got, err := c.WaitTask(ctx, task.ID, 700*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, "queued", got.Status)
	assert.GreaterOrEqual(t, time.Since(start), 700*time.Millisecond)

	// A context shorter than the wait ends it with the context's error.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.WaitTask(short, task.ID, 2*time.Minute)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	canceled, err := c.CancelTask(ctx, task.ID)
	require.NoError(t, err)
	assert.Equal(t, "canceled", canceled.Status)
	assert.NotNil(t, canceled.FinishedAt)
	perr := requireProblem(t, mustErr(c.CancelTask(ctx, task.ID)), 409, client.CodeTaskFinished)
	assert.Equal(t, "agentic: 409 task_finished: "+perr.Detail, perr.Error())
	requireProblem(t, mustErr(c.CancelTask(ctx, "tsk_missing")), 404, client.CodeNotFound)

	got, err = c.WaitTask(ctx, task.ID, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "canceled", got.Status, "a terminal task answers at once")
}

func TestEventsToTerminal(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{SimLatency: 300 * time.Millisecond})
	_, c := p.Tenant(t)
	ctx := ctxT(t)
	task, _, err := c.Submit(ctx, client.SubmitRequest{Agent: "summarizer", Input: json.RawMessage(`{"text": "One. Two. Three."}`)}, nil)
	require.NoError(t, err)

	var statuses []string
	for ev, err := range c.Events(ctx, task.ID) {
		require.NoError(t, err)
		require.Equal(t, "status", ev.Type)
		require.Equal(t, task.ID, ev.Task.ID)
		statuses = append(statuses, ev.Task.Status)
	}
	require.NotEmpty(t, statuses)
	assert.Equal(t, "succeeded", statuses[len(statuses)-1], statuses)
	order := map[string]int{"queued": 0, "running": 1, "succeeded": 2}
	for i := 1; i < len(statuses); i++ {
		assert.Less(t, order[statuses[i-1]], order[statuses[i]], "each event is a change: %v", statuses)
	}

	// A finished task's stream is its one terminal event.
	var again []client.Event
	for ev, err := range c.Events(ctx, task.ID) {
		require.NoError(t, err)
		again = append(again, ev)
	}
	require.Len(t, again, 1)
	assert.Equal(t, "succeeded", again[0].Task.Status)
	assert.NotEmpty(t, again[0].Task.Output)

	var errs []error
	for _, err := range c.Events(ctx, "tsk_missing") {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	requireProblem(t, errs[0], 404, client.CodeNotFound)
}

func TestEventsOfCanceledTask(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	ctx := ctxT(t)
	task, _, err := c.Submit(ctx, echo(t, `{}`), nil)
	require.NoError(t, err)

	var statuses []string
	for ev, err := range c.Events(ctx, task.ID) {
		require.NoError(t, err)
		statuses = append(statuses, ev.Task.Status)
		if ev.Task.Status == "queued" {
			_, err := c.CancelTask(ctx, task.ID)
			require.NoError(t, err)
		}
	}
	assert.Equal(t, []string{"queued", "canceled"}, statuses)
}

func TestEventsStopsWithContext(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	task, _, err := c.Submit(ctxT(t), echo(t, `{}`), nil)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var (
		events int
		last   error
	)
	for ev, err := range c.Events(ctx, task.ID) {
		if err != nil {
			last = err
			continue
		}
		events++
		assert.Equal(t, "queued", ev.Task.Status)
		cancel()
	}
	assert.Equal(t, 1, events)
	require.ErrorIs(t, last, context.Canceled)
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, nil)
	_, c := p.Tenant(t)
	ctx := ctxT(t)
	got := make(chan client.WebhookEvent, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev client.WebhookEvent
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &ev) == nil {
			got <- ev
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)

	req := echo(t, `{"x": 1}`)
	req.WebhookURL = recv.URL + "/hook"
	task, _, err := c.Submit(ctx, req, nil)
	require.NoError(t, err)
	select {
	case ev := <-got:
		assert.Equal(t, "task.succeeded", ev.Type)
		assert.Equal(t, task.ID, ev.Data.ID)
	case <-ctx.Done():
		t.Fatal("no webhook")
	}
	var ds []client.Delivery
	require.Eventually(t, func() bool {
		ds, err = c.Deliveries(ctx, task.ID)
		require.NoError(t, err)
		return len(ds) > 0
	}, 20*time.Second, 20*time.Millisecond)
	require.Len(t, ds, 1)
	assert.Equal(t, "task.succeeded", ds[0].Type)
	assert.Equal(t, req.WebhookURL, ds[0].URL)
	assert.Equal(t, http.StatusNoContent, ds[0].StatusCode)
	assert.True(t, ds[0].Succeeded)
	assert.Equal(t, 1, ds[0].Attempt)

	requireProblem(t, mustErr(c.Deliveries(ctx, "tsk_missing")), 404, client.CodeNotFound)
}

func TestTransportErrorsAreNotProblems(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	c, err := client.New("http://"+addr, client.WithUserAgent("test"))
	require.NoError(t, err)
	_, err = c.GetTask(ctxT(t), "tsk_x")
	require.Error(t, err)
	var p *client.Problem
	assert.False(t, errors.As(err, &p))
	assert.Contains(t, err.Error(), "GET /v1/tasks/tsk_x")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.ListAgents(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNotFoundRouteIsAProblem(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	// An id with a slash stays one path segment.
	requireProblem(t, mustErr(c.GetTask(ctxT(t), "a/b")), 404, client.CodeNotFound)
}

// Every code the server can answer with has a constant in the client.
func TestProblemCodesHaveConstants(t *testing.T) {
	t.Parallel()
	known := []string{
		client.CodeInvalidJSON, client.CodeInvalidParameter, client.CodeInvalidRequest,
		client.CodeInvalidIdempotencyKey, client.CodeUnauthorized, client.CodeForbidden,
		client.CodeNotFound, client.CodeMethodNotAllowed, client.CodeIdempotencyConflict,
		client.CodeTaskFinished, client.CodeConflict, client.CodeBodyTooLarge,
		client.CodeUnsupportedMediaType, client.CodeUnknownAgent, client.CodeInvalidInput,
		client.CodeInvalidWebhookURL, client.CodeInvalidQuality, client.CodeInvalidTier,
		client.CodeInvalidBudget, client.CodeRateLimited, client.CodeBudgetExceeded,
		client.CodeInternal, client.CodeUnavailable, client.CodeNotReady,
		client.CodeJSONTooDeep, client.CodeInvalidMetadata,
	}
	for _, code := range ingest.ProblemCodes() {
		assert.Contains(t, known, code)
	}
}
