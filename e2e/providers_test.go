package e2e

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store/postgres"
)

// fakeOpenAI speaks OpenAI's chat completions wire format: it answers every call with the
// same counts of tokens, after failing the first fail calls with a 503 and its error body.
type fakeOpenAI struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []map[string]any
	fail  int
}

func newFakeOpenAI(t *testing.T, key string, fail int) *fakeOpenAI {
	f := &fakeOpenAI{fail: fail}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		f.mu.Lock()
		f.calls = append(f.calls, req)
		failing := len(f.calls) <= f.fail
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"message":"The server is overloaded","type":"server_error","param":null,"code":null}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1764000000,"model":"`+req["model"].(string)+`",
			"choices":[{"index":0,"message":{"role":"assistant","content":"The fake model's summary.","refusal":null},"finish_reason":"stop","logprobs":null}],
			"usage":{"prompt_tokens":1234,"completion_tokens":56,"total_tokens":1290}}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// A worker with OPENAI_API_KEY and OPENAI_BASE_URL calls the OpenAI-compatible endpoint
// through the official SDK: the router chooses the cheapest OpenAI model good enough for a
// standard summary, a 503 is retried, and the task records the endpoint's token counts at the
// registry's price, its routing, and one usage record per call.
func TestWorkerCallsAnOpenAICompatibleEndpoint(t *testing.T) {
	t.Parallel()
	const key = "sk-e2e-fake-key-0123456789"
	fake := newFakeOpenAI(t, key, 1)
	c := newCluster(t, "OPENAI_API_KEY="+key, "OPENAI_BASE_URL="+fake.srv.URL+"/v1")
	ingest := c.start("ingest")
	worker := c.start("worker")
	_, tn := tenant(t, ingest)

	var task client.Task
	require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"Revenue grew. Costs fell. The board met."}`)}, &task))
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+task.ID+"?wait=30s", nil, &task))
	require.Equal(t, "succeeded", task.Status, "error: %+v", task.Error)

	model, ok := llm.DefaultRegistry().Get("gpt-4o-mini")
	require.True(t, ok)
	require.Equal(t, "gpt-4o-mini", *task.Model, "the cheapest OpenAI model of quality 70 or more")
	require.Equal(t, "openai", *task.Provider)
	require.EqualValues(t, 1234, task.Usage.InputTokens)
	require.EqualValues(t, 56, task.Usage.OutputTokens)
	require.InDelta(t, float64(model.Cost(1234, 56))/1e6, task.Usage.CostUSD, 1e-9)
	require.Equal(t, 1, task.Attempts, "the 503 was retried within the attempt")

	var routing llm.Routing
	require.NoError(t, json.Unmarshal(task.Routing, &routing))
	require.Equal(t, "gpt-4o-mini", routing.Chosen)
	for _, cand := range routing.Candidates {
		if cand.Provider != "openai" && cand.Quality >= routing.QualityFloor && cand.Dropped != llm.DroppedContextTooSmall {
			require.Equal(t, llm.DroppedUnavailable, cand.Dropped, "%s has no credentials", cand.Model)
		}
	}

	fake.mu.Lock()
	require.Len(t, fake.calls, 2)
	require.Equal(t, "gpt-4o-mini", fake.calls[1]["model"])
	require.NotEmpty(t, fake.calls[1]["messages"])
	fake.mu.Unlock()

	// The worker's /health/detailed (admin only) shows the provider's circuit, closed again
	// after one failure of five, and /metrics its breaker gauge.
	var detailed struct {
		Status    string
		Providers map[string]struct {
			Status, Circuit string
			Models          map[string]string
		}
	}
	require.Equal(t, http.StatusUnauthorized, worker.api("").do("GET", "/health/detailed", nil, nil))
	require.Equal(t, http.StatusOK, worker.api(adminToken).do("GET", "/health/detailed", nil, &detailed))
	require.Equal(t, "ok", detailed.Status)
	require.Equal(t, []string{"openai"}, slices.Collect(maps.Keys(detailed.Providers)), "only the provider with credentials")
	require.Equal(t, "closed", detailed.Providers["openai"].Circuit)
	require.Equal(t, "closed", detailed.Providers["openai"].Models["gpt-4o-mini"])
	require.Zero(t, scrape(t, worker.addr, "agentic_llm_breaker_state", `model="gpt-4o-mini"`, `provider="openai"`))

	// One usage record per call: the 503, then the answer.
	pool, err := postgres.Open(context.Background(), c.dsn())
	require.NoError(t, err)
	defer pool.Close()
	rows, err := pool.Query(context.Background(),
		`SELECT provider, model, outcome, input_tokens, output_tokens, cost_micros FROM llm_calls WHERE task_id = $1 ORDER BY attempt, seq`, task.ID)
	require.NoError(t, err)
	type call struct {
		provider, model, outcome string
		in, out, cost            int64
	}
	var got []call
	for rows.Next() {
		var c call
		require.NoError(t, rows.Scan(&c.provider, &c.model, &c.outcome, &c.in, &c.out, &c.cost))
		got = append(got, c)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []call{
		{"openai", "gpt-4o-mini", "error", 0, 0, 0},
		{"openai", "gpt-4o-mini", "ok", 1234, 56, model.Cost(1234, 56)},
	}, got)
}
