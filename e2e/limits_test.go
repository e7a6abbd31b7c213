package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/overlap"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// Two ingest processes on one Redis count a free tenant's requests together: its 11th in a
// minute, whichever process gets it, is 429 with Retry-After; a pro tenant is untouched.
func TestRateLimitAcrossIngestProcesses(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := c.start("ingest"), c.start("ingest")
	admin := a.api(adminToken)
	var ten client.Tenant
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants", map[string]any{"name": "free", "tier": "free"}, &ten))
	var key client.APIKey
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+ten.ID+"/api-keys", nil, &key))

	for i := range 10 {
		p := a
		if i%2 == 1 {
			p = b
		}
		require.Equal(t, http.StatusOK, p.api(key.Key).do("GET", "/v1/agents", nil, nil), "request %d", i+1)
	}
	for _, p := range []*proc{a, b} {
		var problem client.Problem
		h := p.api(key.Key).doHeaders("GET", "/v1/tasks", &problem)
		require.Equal(t, http.StatusTooManyRequests, problem.Status)
		require.Equal(t, "rate_limited", problem.Code)
		retry, err := strconv.Atoi(h.Get("Retry-After"))
		require.NoError(t, err)
		require.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
		require.Equal(t, "10", h.Get("RateLimit-Limit"))
		require.Equal(t, "0", h.Get("RateLimit-Remaining"))
	}
	_, pro := tenant(t, a)
	require.Equal(t, http.StatusOK, pro.do("GET", "/v1/agents", nil, nil))
}

// limitsTenant creates a tenant of the tier (and budget, in USD, unless nil) with an API key.
func limitsTenant(t *testing.T, ingest *proc, tier string, budgetUSD *float64) (client.Tenant, string) {
	t.Helper()
	admin := ingest.api(adminToken)
	var ten client.Tenant
	body := map[string]any{"name": tier, "tier": tier}
	if budgetUSD != nil {
		body["monthly_budget_usd"] = *budgetUSD
	}
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants", body, &ten))
	var key client.APIKey
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+ten.ID+"/api-keys", nil, &key))
	return ten, key.Key
}

// Two ingest and three worker processes: a basic tenant's tasks never run more than 3 at
// once across the workers, and the slots of a worker killed with SIGKILL come back within
// their lease (AGENTIC_ACK_WAIT, 2s here), while the tasks that had no slot waited in the
// queue without an attempt charged.
func TestConcurrencyAcrossWorkerProcesses(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "AGENTIC_SIM_LATENCY=300ms")
	ingests := []*proc{c.start("ingest"), c.start("ingest")}
	doomed := c.start("worker", "AGENTIC_SIM_LATENCY=1m")
	_, key := limitsTenant(t, ingests[0], "basic", nil)
	// Out of the response cache: every task holds its slot for a 300ms model call.
	noCache := false
	submit := func(i int) string {
		var task client.Task
		require.Equal(t, http.StatusAccepted, ingests[i%2].api(key).do("POST", "/v1/tasks", client.SubmitRequest{
			Agent: "summarizer", Input: json.RawMessage(`{"text":"three at a time"}`), Cache: &noCache}, &task))
		return task.ID
	}
	tn := ingests[0].api(key)

	// The doomed worker takes the tenant's three slots.
	var ids []string
	for i := range 3 {
		ids = append(ids, submit(i))
	}
	for _, id := range ids {
		waitStatus(t, tn, id, "running")
	}
	c.start("worker")
	c.start("worker")
	var waiting []string
	for i := range 9 {
		waiting = append(waiting, submit(i))
	}
	time.Sleep(time.Second) // the two live workers have had time to take a slot, were there one
	for _, id := range waiting {
		var task client.Task
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+id, nil, &task))
		require.Equal(t, "queued", task.Status, "a fourth task started while three ran")
	}
	killed := time.Now()
	require.Equal(t, -1, doomed.stop(syscall.SIGKILL, 10*time.Second))

	var done []client.Task
	for _, id := range append(ids, waiting...) {
		var task client.Task
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+id+"?wait=30s", nil, &task))
		require.Equal(t, "succeeded", task.Status, "task %s", id)
		done = append(done, task)
	}
	for _, task := range done[3:] {
		require.Equal(t, 1, task.Attempts, "waiting for a slot charged an attempt")
		// The dead worker's slots were renewed at most a heartbeat (lease/3) before the kill.
		require.True(t, task.StartedAt.After(killed.Add(time.Second)),
			"started %s after the kill, before the dead worker's leases ran out", task.StartedAt.Sub(killed))
	}
	for _, task := range done[:3] {
		require.Equal(t, 2, task.Attempts, "taken over from the dead worker")
	}
	last := killed
	for _, task := range done {
		if task.FinishedAt.After(last) {
			last = *task.FinishedAt
		}
	}
	// 12 tasks of 300ms, 3 at a time, after the slots and the killed tasks came back (~2s).
	require.Less(t, last.Sub(killed), 10*time.Second, "the slots did not come back")
	require.Equal(t, 3, overlap.Max(done, func(t client.Task) (time.Time, time.Time) { return *t.StartedAt, *t.FinishedAt }), "at most 3 at once across the workers, and 3 were used")
}

// 50 tasks submitted at once through two ingest processes, run by three workers, against a
// monthly budget of 10 calls' worth at gpt-4o's price (plus one call's worst case, which
// each call reserves while it runs): the spend never passes the budget, every task is
// refused at submission (402) or ends succeeded or failed budget_exceeded, and GET /v1/usage
// agrees with the tasks.
func TestBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	const input = `{"text":"Budgets are reserved before each model call and settled after it."}`
	catalog, err := agents.Builtin()
	require.NoError(t, err)
	agent, err := catalog.Get("summarizer")
	require.NoError(t, err)
	msgs, err := agent.Prompt(json.RawMessage(input))
	require.NoError(t, err)
	model, ok := llm.DefaultRegistry().Get("gpt-4o")
	require.True(t, ok)
	worst := model.Cost(llm.InputTokens(msgs), int64(agent.MaxOutputTokens))
	resp, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), llm.Request{Model: model.ID, Messages: msgs, MaxTokens: agent.MaxOutputTokens})
	require.NoError(t, err)
	call := model.Cost(resp.InputTokens, resp.OutputTokens)
	budget := worst + 10*call
	budgetUSD := store.MicrosToUSD(budget)
	require.Equal(t, budget, store.USDToMicros(budgetUSD))

	// One model in the registry, answered by the sim at gpt-4o's price.
	models := filepath.Join(t.TempDir(), "models.yaml")
	require.NoError(t, os.WriteFile(models, []byte(`- id: gpt-4o
  provider: openai
  quality: 90
  context_window: 128000
  input_usd_per_million: 2.50
  output_usd_per_million: 10
`), 0o600))
	c := newCluster(t, "AGENTIC_MODELS_FILE="+models, "AGENTIC_SIM_LATENCY=200ms")
	ingests := []*proc{c.start("ingest"), c.start("ingest")}
	for range 3 {
		c.start("worker")
	}
	_, key := limitsTenant(t, ingests[0], "pro", &budgetUSD)

	var wg sync.WaitGroup
	codes := make([]int, 50)
	ids := make([]string, 50)
	problems := make([]string, 50)
	for i := range 50 {
		wg.Go(func() {
			// Out of the response cache: every task is a call to pay for.
			noCache := false
			body, _ := json.Marshal(client.SubmitRequest{Agent: "summarizer", Input: json.RawMessage(input), Cache: &noCache})
			req, _ := http.NewRequest("POST", "http://"+ingests[i%2].addr+"/v1/tasks", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				problems[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			var out struct{ ID, Code string }
			_ = json.NewDecoder(resp.Body).Decode(&out)
			ids[i], problems[i] = out.ID, out.Code
		})
	}
	wg.Wait()

	tn := ingests[1].api(key)
	var spent int64
	succeeded, refused, failed := 0, 0, 0
	for i := range 50 {
		switch codes[i] {
		case http.StatusPaymentRequired:
			require.Equal(t, "budget_exceeded", problems[i])
			refused++
			continue
		case http.StatusAccepted:
		default:
			t.Fatalf("submit %d: %d %s", i, codes[i], problems[i])
		}
		var task client.Task
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+ids[i]+"?wait=30s", nil, &task))
		switch task.Status {
		case "succeeded":
			succeeded++
			require.Equal(t, "gpt-4o", *task.Model)
			spent += store.USDToMicros(task.Usage.CostUSD)
		case "failed":
			require.Equal(t, "budget_exceeded", task.Error.Code, "task %s", task.ID)
			failed++
		default:
			t.Fatalf("task %s ended %s", task.ID, task.Status)
		}
	}
	t.Logf("succeeded %d, failed budget_exceeded %d, refused 402 %d; spent %d of %d micro-dollars", succeeded, failed, refused, spent, budget)
	require.LessOrEqual(t, spent, budget, "the spend passed the budget")
	require.Equal(t, 11, succeeded, "ten calls' worth, and one more while a worst case still fit")
	require.Equal(t, 50-11, failed+refused)
	require.Greater(t, spent+worst, budget, "a task failed while the budget could still hold a call")

	var u client.UsageReport
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/usage", nil, &u))
	require.Equal(t, spent, store.USDToMicros(u.Budget.SpentUSD), "usage's spend is the tasks' cost")
	require.Zero(t, u.Budget.ReservedUSD, "nothing is left reserved")
	require.Equal(t, budget-spent, store.USDToMicros(*u.Budget.RemainingUSD))
	require.EqualValues(t, succeeded, u.Tasks["succeeded"])
}
