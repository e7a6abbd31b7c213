package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/webhook"
)

// tenant creates a tenant and an API key through the admin API.
func tenant(t *testing.T, ingest *proc) (client.Tenant, *api) {
	t.Helper()
	admin := ingest.api(adminToken)
	var ten client.Tenant
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants", map[string]any{"name": "acme", "tier": "pro"}, &ten))
	require.NotEmpty(t, ten.WebhookSecret)
	var key client.APIKey
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+ten.ID+"/api-keys", map[string]any{"name": "e2e"}, &key))
	return ten, ingest.api(key.Key)
}

// hooks records webhook deliveries.
type hooks struct {
	mu  sync.Mutex
	got map[string][]http.Header // by task id
	bad []error
	srv *httptest.Server
}

func newHooks(t *testing.T, secret *string) *hooks {
	h := &hooks{got: map[string][]http.Header{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev client.WebhookEvent
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := webhook.Verify(*secret, r.Header, body); err != nil {
			h.bad = append(h.bad, err)
		} else if err := json.Unmarshal(body, &ev); err != nil {
			h.bad = append(h.bad, err)
		} else {
			h.got[ev.Data.ID] = append(h.got[ev.Data.ID], r.Header.Clone())
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hooks) count() (delivered int, bad int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got), len(h.bad)
}

// TestPipeline runs ingest, two workers and the scheduler as separate processes and drives
// them over HTTP: submit, long-poll, list, cancel, signed webhooks, then a clean SIGTERM of
// every process.
func TestPipeline(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "AGENTIC_RECONCILE_SCHEDULE=* * * * * *", "AGENTIC_RECONCILE_GRACE=1s")
	ingest := c.start("ingest")
	workers := []*proc{c.start("worker"), c.start("worker")}
	scheduler := c.start("scheduler")

	ten, tn := tenant(t, ingest)
	recv := newHooks(t, &ten.WebhookSecret)

	const n = 60
	ids := make([]string, 0, n)
	for i := range n {
		req := client.SubmitRequest{Agent: "echo", Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			WebhookURL: recv.srv.URL + "/hook", Metadata: map[string]string{"batch": "e2e"}}
		if i%10 == 0 {
			req.Agent, req.Input = "summarizer", json.RawMessage(`{"text":"Agentic runs agents. Durably. Fairly."}`)
		}
		var task client.Task
		require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", req, &task))
		require.Equal(t, "queued", task.Status)
		ids = append(ids, task.ID)
	}

	// Long-poll the last one: it answers when the task is terminal.
	var last client.Task
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+ids[n-1]+"?wait=30s", nil, &last))
	require.Equal(t, "succeeded", last.Status)
	require.JSONEq(t, fmt.Sprintf(`{"i":%d}`, n-1), string(last.Output))

	for _, id := range ids {
		var task client.Task
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+id+"?wait=30s", nil, &task))
		require.Equal(t, "succeeded", task.Status, "task %s", id)
		require.Equal(t, 1, task.Attempts)
	}
	require.Eventually(t, func() bool { d, _ := recv.count(); return d == n }, 30*time.Second, 20*time.Millisecond)
	_, bad := recv.count()
	require.Zero(t, bad, "every webhook carries a valid signature")

	var deliveries client.DeliveryList
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+ids[0]+"/deliveries", nil, &deliveries))
	require.Len(t, deliveries.Data, 1)
	require.True(t, deliveries.Data[0].Succeeded)

	// Pages of the list, newest first, cover every task once.
	seen := map[string]bool{}
	cursor := ""
	for {
		var page client.TaskList
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks?limit=25&metadata.batch=e2e&cursor="+cursor, nil, &page))
		for _, task := range page.Data {
			require.False(t, seen[task.ID])
			seen[task.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	require.Len(t, seen, n)

	// A finished task cannot be canceled.
	var problem client.Problem
	require.Equal(t, http.StatusConflict, tn.do("POST", "/v1/tasks/"+ids[0]+"/cancel", nil, &problem))
	require.Equal(t, "task_finished", problem.Code)

	// Another tenant sees none of it.
	_, other := tenant(t, ingest)
	require.Equal(t, http.StatusNotFound, other.do("GET", "/v1/tasks/"+ids[0], nil, &problem))

	for _, p := range append([]*proc{ingest, scheduler}, workers...) {
		require.Equal(t, 0, p.stop(syscall.SIGTERM, 40*time.Second), "%s exits 0 on SIGTERM", p.name)
	}
}

// kill -9 of a worker mid-task: the task is redelivered after the ack wait, taken over by
// another worker, and succeeds once.
func TestWorkerKilledMidTask(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ingest := c.start("ingest")
	slow := c.start("worker", "AGENTIC_SIM_LATENCY=1m")
	_, tn := tenant(t, ingest)

	var task client.Task
	require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"the worker dies"}`)}, &task))
	waitStatus(t, tn, task.ID, "running")
	require.Equal(t, -1, slow.stop(syscall.SIGKILL, 10*time.Second))

	c.start("worker")
	var got client.Task
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+task.ID+"?wait=30s", nil, &got))
	require.Equal(t, "succeeded", got.Status)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, 1, usageRecords(t, c, task.ID))
}

// SIGTERM of a worker mid-task: it exits 0 after the drain timeout, the task goes back to
// the queue without charging an attempt, and another worker runs it.
func TestWorkerSIGTERMReturnsTask(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ingest := c.start("ingest")
	slow := c.start("worker", "AGENTIC_SIM_LATENCY=1m", "AGENTIC_DRAIN_TIMEOUT=300ms")
	_, tn := tenant(t, ingest)

	var task client.Task
	require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"the worker is told to stop"}`)}, &task))
	waitStatus(t, tn, task.ID, "running")
	require.Equal(t, 0, slow.stop(syscall.SIGTERM, 30*time.Second))

	var got client.Task
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+task.ID, nil, &got))
	require.Equal(t, "queued", got.Status)
	require.Equal(t, 0, got.Attempts)

	c.start("worker")
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+task.ID+"?wait=30s", nil, &got))
	require.Equal(t, "succeeded", got.Status)
	require.Equal(t, 1, got.Attempts)
}

// Bad configuration stops a process at start with one line naming the variable.
func TestBadConfigurationFailsAtStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, tc := range []struct{ env, want string }{
		{"AGENTIC_ACK_WAIT=soon", "AGENTIC_ACK_WAIT"},
		{"DATABASE_URL=mysql://x", "DATABASE_URL"},
		{"AGENTIC_MAX_ATTEMPTS=0", "AGENTIC_MAX_ATTEMPTS"},
		{"AGENTIC_ADMIN_TOKEN=short", "AGENTIC_ADMIN_TOKEN"},
		{"AGENTIC_MODELS_FILE=/nonexistent/models.yaml", "AGENTIC_MODELS_FILE"},
	} {
		cmd := execCmd(c, "ingest", tc.env)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, tc.env)
		require.Contains(t, string(out), tc.want)
		require.Equal(t, 1, len(splitLines(out)), "one line: %s", out)
	}
}

func waitStatus(t *testing.T, a *api, id, status string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var task client.Task
		a.do("GET", "/v1/tasks/"+id, nil, &task)
		return task.Status == status
	}, 20*time.Second, 20*time.Millisecond, "task %s never became %s", id, status)
}

// dsn is the cluster's DATABASE_URL (the last one set wins, as for the processes).
func (c *cluster) dsn() string {
	var dsn string
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			dsn = v
		}
	}
	return dsn
}

func usageRecords(t *testing.T, c *cluster, taskID string) int {
	t.Helper()
	pool, err := postgres.Open(context.Background(), c.dsn())
	require.NoError(t, err)
	defer pool.Close()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM usage_records WHERE task_id = $1`, taskID).Scan(&n))
	return n
}

// A NATS outage: ingest keeps accepting (the rows are committed), and once NATS is back every
// accepted task runs — through the client's reconnect buffer or the reconciler's sweep.
func TestNATSRestartLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, url := natstest.StartServer(t, dir)
	c := newCluster(t, "NATS_URL="+url, "AGENTIC_RECONCILE_SCHEDULE=* * * * * *", "AGENTIC_RECONCILE_GRACE=1s")
	ingest := c.start("ingest")
	c.start("worker")
	c.start("scheduler")
	_, tn := tenant(t, ingest)

	srv.Shutdown()
	srv.WaitForShutdown()
	var ids []string
	for i := range 10 {
		var task client.Task
		require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
			Agent: "echo", Input: json.RawMessage(fmt.Sprintf(`{"during_outage":%d}`, i))}, &task))
		ids = append(ids, task.ID)
	}
	natstest.StartServer(t, dir)

	for _, id := range ids {
		var task client.Task
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+id+"?wait=60s", nil, &task))
		require.Equal(t, "succeeded", task.Status, "task %s accepted during the outage", id)
	}
}

// SIGTERM with enough drain time: the in-flight task finishes on the stopping worker, which
// then exits 0.
func TestWorkerSIGTERMFinishesInFlightTask(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ingest := c.start("ingest")
	w := c.start("worker", "AGENTIC_SIM_LATENCY=1500ms", "AGENTIC_DRAIN_TIMEOUT=20s")
	_, tn := tenant(t, ingest)

	var task client.Task
	require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"finish me before you go"}`)}, &task))
	waitStatus(t, tn, task.ID, "running")
	require.Equal(t, 0, w.stop(syscall.SIGTERM, 30*time.Second))

	var got client.Task
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+task.ID, nil, &got))
	require.Equal(t, "succeeded", got.Status, "the draining worker finished it before exiting")
	require.Equal(t, 1, got.Attempts)
}
