package platformtest_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/platformtest"
)

func TestMain(m *testing.M) { os.Exit(platformtest.Main(m)) }

func TestNewRunsTasksEndToEnd(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, nil)
	_, c := p.Tenant(t)
	task, _, err := c.Submit(t.Context(), client.SubmitRequest{Agent: "summarizer", Input: json.RawMessage(`{"text": "A. B."}`)}, nil)
	require.NoError(t, err)
	done, err := c.WaitTask(t.Context(), task.ID, 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "succeeded", done.Status)
	require.NotNil(t, done.Model)
	require.NotNil(t, done.Provider)
	assert.Equal(t, "gpt-4o-mini", *done.Model, "the cheapest model good enough for a standard summary")
	assert.Equal(t, "sim", *done.Provider, "the sim answers for every provider")
	assert.NotNil(t, done.Routing)

	// The store is the one behind the API.
	st, err := p.Store.LoadTask(t.Context(), task.ID)
	require.NoError(t, err)
	assert.Equal(t, "succeeded", string(st.Status))
}

func TestNoWorkerLeavesTasksQueued(t *testing.T) {
	t.Parallel()
	p := platformtest.New(t, &platformtest.Options{NoWorker: true})
	_, c := p.Tenant(t)
	task, _, err := c.Submit(t.Context(), client.SubmitRequest{Agent: "echo", Input: json.RawMessage(`{}`)}, nil)
	require.NoError(t, err)
	got, err := c.WaitTask(t.Context(), task.ID, 300*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, "queued", got.Status)
}

func TestSharedIsOnePlatform(t *testing.T) {
	t.Parallel()
	p1, err := platformtest.Shared()
	require.NoError(t, err)
	p2, err := platformtest.Shared()
	require.NoError(t, err)
	assert.Same(t, p1, p2)
	c, err := client.New(p1.URL)
	require.NoError(t, err)
	require.NoError(t, c.Health(t.Context()))
	r, err := c.Ready(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "ok", r.Checks["nats"].Status)
}
