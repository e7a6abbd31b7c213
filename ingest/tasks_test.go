package ingest_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store"
)

func TestAgents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)

	r := e.do(t, req{method: "GET", path: "/v1/agents", token: key})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var list client.AgentList
	r.decode(t, &list)
	ids := make([]string, 0, len(list.Data))
	for _, a := range list.Data {
		ids = append(ids, a.ID)
	}
	for _, want := range []string{"summarizer", "ticket-classifier", "sentiment", "code-reviewer", "sql-generator", "echo"} {
		require.Contains(t, ids, want)
	}

	r = e.do(t, req{method: "GET", path: "/v1/agents/summarizer", token: key})
	require.Equal(t, http.StatusOK, r.status)
	var a client.Agent
	r.decode(t, &a)
	require.Equal(t, "summarizer", a.ID)
	require.NotEmpty(t, a.Quality)
	require.True(t, json.Valid(a.InputSchema))
	require.Contains(t, string(a.InputSchema), "text")

	e.do(t, req{method: "GET", path: "/v1/agents/nope", token: key}).problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "GET", path: "/v1/agents"}).problem(t, http.StatusUnauthorized, "unauthorized")
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenantID, key := e.tenant(t)
	ctx := context.Background()

	traceparent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, header: map[string]string{"traceparent": traceparent},
		body: `{"agent":"summarizer","input":{ "text" : "hello world" },"webhook_url":"https://93.184.216.34/hook",
		"metadata":{"order":"42"},"max_cost_usd":0.05}`})
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	task := r.task(t)
	require.True(t, strings.HasPrefix(task.ID, "tsk_"), task.ID)
	require.Equal(t, "/v1/tasks/"+task.ID, r.header.Get("Location"))
	require.Equal(t, "queued", task.Status)
	require.Equal(t, "summarizer", task.Agent)
	require.JSONEq(t, `{"text":"hello world"}`, string(task.Input))
	require.Equal(t, map[string]string{"order": "42"}, task.Metadata)
	require.NotNil(t, task.WebhookURL)
	require.Equal(t, "https://93.184.216.34/hook", *task.WebhookURL)
	require.NotNil(t, task.MaxCostUSD)
	require.InDelta(t, 0.05, *task.MaxCostUSD, 1e-9)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", task.TraceID)
	require.Equal(t, "null", string(task.Output))
	require.Nil(t, task.Error)
	require.Zero(t, task.Attempts)
	summarizer, err := e.catalog.Get("summarizer")
	require.NoError(t, err)
	require.Equal(t, summarizer.Quality, task.Quality)

	// The row is there, with the configured attempts.
	stored, err := e.store.GetTask(ctx, tenantID, task.ID)
	require.NoError(t, err)
	require.Equal(t, 3, stored.MaxAttempts)
	require.Equal(t, int64(50_000), *stored.MaxCostMicros)
	require.Empty(t, stored.IdempotencyKey)
	require.True(t, task.Cache, "the response cache is on unless the client opts out")
	require.True(t, stored.Cache)

	// Enqueue published it.
	stream, err := e.js.Stream(ctx, e.names.TasksStream())
	require.NoError(t, err)
	msg, err := stream.GetLastMsgForSubject(ctx, e.names.TaskSubject(tenantID))
	require.NoError(t, err)
	require.Equal(t, task.ID, msg.Header.Get("Nats-Msg-Id"))
	var tm events.TaskMessage
	require.NoError(t, json.Unmarshal(msg.Data, &tm))
	require.Equal(t, events.TaskMessage{TaskID: task.ID, TenantID: tenantID}, tm)

	// GET shows the same task.
	r = e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key})
	require.Equal(t, http.StatusOK, r.status)
	got := r.task(t)
	require.Equal(t, task.ID, got.ID)
	require.True(t, task.CreatedAt.Equal(got.CreatedAt), "%s != %s", task.CreatedAt, got.CreatedAt)

	// Quality given; no traceparent (or an invalid one): a random trace id.
	for _, tp := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		hdr := map[string]string{}
		if tp != "" {
			hdr["traceparent"] = tp
		}
		r = e.do(t, req{method: "POST", path: "/v1/tasks", token: key, header: hdr,
			body: map[string]any{"agent": "echo", "input": map[string]any{"a": 1}, "quality": "premium"}})
		require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
		task = r.task(t)
		require.Equal(t, "premium", task.Quality)
		require.Len(t, task.TraceID, 32)
		_, err := hex.DecodeString(task.TraceID)
		require.NoError(t, err)
		require.NotEqual(t, "4bf92f3577b34da6a3ce929d0e0e4736", task.TraceID)
		require.Nil(t, task.WebhookURL)
		require.Equal(t, map[string]string{}, task.Metadata)
	}
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	post := func(body any, hdr map[string]string) *reply {
		return e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: body, header: hdr})
	}

	cases := []struct {
		name   string
		body   any
		hdr    map[string]string
		status int
		code   string
		path   string
	}{
		{"not json content type", `{"agent":"echo","input":{}}`, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"no content type", `{"agent":"echo","input":{}}`, map[string]string{"Content-Type": "<unset>"}, 415, "unsupported_media_type", ""},
		{"too large", `{"agent":"echo","input":{"text":"` + strings.Repeat("x", 1<<20) + `"}}`, nil, 413, "body_too_large", ""},
		{"malformed", `{"agent":"echo",`, nil, 400, "invalid_json", ""},
		{"not utf-8", "{\"agent\":\"echo\",\"input\":{\"t\":\"\xff\xfe\"}}", nil, 400, "invalid_json", ""},
		{"agent not a string", `{"agent":5,"input":{}}`, nil, 400, "invalid_json", "/agent"},
		{"metadata value not a string", `{"agent":"echo","input":{},"metadata":{"a":1}}`, nil, 400, "invalid_json", "/metadata"},
		{"max cost not a number", `{"agent":"echo","input":{},"max_cost_usd":"1"}`, nil, 400, "invalid_json", "/max_cost_usd"},
		{"cache not a boolean", `{"agent":"echo","input":{},"cache":"no"}`, nil, 400, "invalid_json", "/cache"},
		{"cache a number", `{"agent":"echo","input":{},"cache":0}`, nil, 400, "invalid_json", "/cache"},
		{"missing agent", `{"input":{}}`, nil, 422, "invalid_request", "/agent"},
		{"unknown agent", `{"agent":"nope","input":{}}`, nil, 422, "unknown_agent", ""},
		{"missing input", `{"agent":"summarizer"}`, nil, 422, "invalid_input", "/input"},
		{"null input", `{"agent":"summarizer","input":null}`, nil, 422, "invalid_input", "/input"},
		{"input not an object", `{"agent":"summarizer","input":"text"}`, nil, 422, "invalid_input", "/input"},
		{"input breaks schema", `{"agent":"summarizer","input":{"text":5}}`, nil, 422, "invalid_input", "/input/text"},
		{"input misses required", `{"agent":"summarizer","input":{}}`, nil, 422, "invalid_input", "/input"},
		{"bad quality", `{"agent":"echo","input":{},"quality":"best"}`, nil, 422, "invalid_quality", "/quality"},
		{"negative max cost", `{"agent":"echo","input":{},"max_cost_usd":-0.01}`, nil, 422, "invalid_request", "/max_cost_usd"},
		{"private webhook", `{"agent":"echo","input":{},"webhook_url":"http://10.0.0.1/hook"}`, nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"loopback webhook", `{"agent":"echo","input":{},"webhook_url":"http://localhost:8080/hook"}`, nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"link-local webhook", `{"agent":"echo","input":{},"webhook_url":"http://169.254.169.254/latest"}`, nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"ftp webhook", `{"agent":"echo","input":{},"webhook_url":"ftp://93.184.216.34/x"}`, nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"relative webhook", `{"agent":"echo","input":{},"webhook_url":"/hook"}`, nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"control char webhook", `{"agent":"echo","input":{},"webhook_url":"https://93.184.216.34/\u0000"}`, nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"empty metadata key", `{"agent":"echo","input":{},"metadata":{"":"x"}}`, nil, 422, "invalid_metadata", "/metadata/"},
		{"nul in metadata", `{"agent":"echo","input":{},"metadata":{"k":"a\u0000b"}}`, nil, 422, "invalid_metadata", "/metadata/k"},
		{"long metadata value", map[string]any{"agent": "echo", "input": map[string]any{}, "metadata": map[string]string{"k": strings.Repeat("v", 513)}}, nil, 422, "invalid_metadata", "/metadata/k"},
		{"empty idempotency key", echoTask, map[string]string{"Idempotency-Key": ""}, 400, "invalid_idempotency_key", ""},
		{"long idempotency key", echoTask, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, 400, "invalid_idempotency_key", ""},
		{"non-ascii idempotency key", echoTask, map[string]string{"Idempotency-Key": "clé"}, 400, "invalid_idempotency_key", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := post(c.body, c.hdr)
			p := r.problem(t, c.status, c.code)
			if c.path != "" {
				require.NotEmpty(t, p.Errors, "body: %s", r.body)
				require.Equal(t, c.path, p.Errors[0].Path, "body: %s", r.body)
			}
		})
	}

	// Too many metadata pairs.
	md := map[string]string{}
	for i := range 17 {
		md[fmt.Sprint("k", i)] = "v"
	}
	post(map[string]any{"agent": "echo", "input": map[string]any{}, "metadata": md}, nil).problem(t, 422, "invalid_metadata")

	// None of these made a task.
	list := e.do(t, req{method: "GET", path: "/v1/tasks", token: key})
	require.Equal(t, http.StatusOK, list.status)
	require.JSONEq(t, `{"data":[],"next_cursor":null}`, string(list.body))

	// 255 printable characters are fine.
	r := post(echoTask, map[string]string{"Idempotency-Key": strings.Repeat("~", 255)})
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
}

// TestSubmitCacheOptOut: "cache": false is stored on the task and shown with it; true and
// absent both mean the response cache may answer it.
func TestSubmitCacheOptOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenantID, key := e.tenant(t)
	cases := []struct {
		name string
		body string
		want bool
	}{
		{"absent", `{"agent":"echo","input":{}}`, true},
		{"null", `{"agent":"echo","input":{},"cache":null}`, true},
		{"true", `{"agent":"echo","input":{},"cache":true}`, true},
		{"false", `{"agent":"echo","input":{},"cache":false}`, false},
	}
	for _, c := range cases {
		r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: c.body})
		require.Equal(t, http.StatusAccepted, r.status, "%s: body: %s", c.name, r.body)
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &raw))
		require.Equal(t, strconv.FormatBool(c.want), string(raw["cache"]), "%s: the reply says", c.name)
		task := r.task(t)
		stored, err := e.store.GetTask(context.Background(), tenantID, task.ID)
		require.NoError(t, err)
		require.Equal(t, c.want, stored.Cache, "%s: stored", c.name)
		got := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key})
		require.Equal(t, http.StatusOK, got.status)
		require.Equal(t, c.want, got.task(t).Cache, "%s: GET shows it", c.name)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenantID, key := e.tenant(t)
	_, otherKey := e.tenant(t)
	hdr := map[string]string{"Idempotency-Key": "order-42"}
	body := `{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"}}`

	const n = 16
	var (
		wg      sync.WaitGroup
		replies = make([]*reply, n)
	)
	for i := range n {
		wg.Go(func() {
			replies[i] = e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: body, header: hdr})
		})
	}
	wg.Wait()
	accepted, id := 0, ""
	for _, r := range replies {
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, r.status, "body: %s", r.body)
		if r.status == http.StatusAccepted {
			accepted++
		}
		task := r.task(t)
		if id == "" {
			id = task.ID
		}
		require.Equal(t, id, task.ID)
		require.Equal(t, "/v1/tasks/"+id, r.header.Get("Location"))
	}
	require.Equal(t, 1, accepted)
	tasks, _, err := e.store.ListTasks(context.Background(), tenantID, store.TaskFilter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, tasks, 1)

	// The same request spelled differently (key order, whitespace, the default said) is the
	// same request.
	for _, same := range []string{
		`{ "metadata":{"n":"2","m":"1"}, "input":{"a":[1,{"x":null,"y":true}],"b":2}, "agent":"echo" }`,
		`{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"},"cache":true}`,
	} {
		r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: same, header: hdr})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.Equal(t, id, r.task(t).ID)
	}

	// A different body: 409.
	for _, other := range []string{
		`{"agent":"echo","input":{"b":3,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"}}`,
		`{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1"}}`,
		`{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"},"quality":"premium"}`,
		`{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"},"max_cost_usd":1}`,
		`{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"},"webhook_url":"https://93.184.216.34/h"}`,
		`{"agent":"echo","input":{"b":2,"a":[1,{"y":true,"x":null}]},"metadata":{"m":"1","n":"2"},"cache":false}`,
	} {
		r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: other, header: hdr})
		r.problem(t, http.StatusConflict, "idempotency_conflict")
	}

	// Another tenant's key space is its own.
	r := e.do(t, req{method: "POST", path: "/v1/tasks", token: otherKey, body: body, header: hdr})
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	require.NotEqual(t, id, r.task(t).ID)
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, keyA := e.tenant(t)
	_, keyB := e.tenant(t)
	task := e.submit(t, keyA, echoTask)

	for _, rq := range []req{
		{method: "GET", path: "/v1/tasks/" + task.ID},
		{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=1s"},
		{method: "POST", path: "/v1/tasks/" + task.ID + "/cancel"},
		{method: "GET", path: "/v1/tasks/" + task.ID + "/events"},
		{method: "GET", path: "/v1/tasks/" + task.ID + "/deliveries"},
	} {
		rq.token = keyB
		p := e.do(t, rq).problem(t, http.StatusNotFound, "not_found")
		require.NotContains(t, p.Detail, task.ID)
		// The owner sees it (cancel last, as it changes the task).
		rq.token = keyA
		if rq.method == "GET" && !strings.HasSuffix(rq.path, "/events") {
			require.Equal(t, http.StatusOK, e.do(t, rq).status, rq.path)
		}
	}
	r := e.do(t, req{method: "GET", path: "/v1/tasks", token: keyB})
	require.JSONEq(t, `{"data":[],"next_cursor":null}`, string(r.body))

	// Still queued: B's cancel did nothing.
	r = e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: keyA})
	require.Equal(t, "queued", r.task(t).Status)
}

func TestGetUnknownTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	e.do(t, req{method: "GET", path: "/v1/tasks/tsk_nope", token: key}).problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "GET", path: "/v1/tasks/tsk_nope?wait=1", token: key}).problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "POST", path: "/v1/tasks/tsk_nope/cancel", token: key}).problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "GET", path: "/v1/tasks/tsk_nope/events", token: key}).problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "GET", path: "/v1/tasks/tsk_nope/deliveries", token: key}).problem(t, http.StatusNotFound, "not_found")
	for _, path := range []string{"/v1/tasks/tsk_nope", "/v1/tasks", "/v1/tasks/tsk_nope/deliveries"} {
		e.do(t, req{method: "GET", path: path}).problem(t, http.StatusUnauthorized, "unauthorized")
		e.do(t, req{method: "GET", path: path, token: adminToken}).problem(t, http.StatusUnauthorized, "unauthorized")
	}
}

func TestWaitReturnsOnTerminalEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	task := e.submit(t, key, echoTask)

	type result struct {
		r       *reply
		elapsed time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=30s", token: key})
		done <- result{r, time.Since(start)}
	}()
	e.awaitWatch(t, task.ID)
	e.finish(t, task.ID, store.StatusSucceeded)

	select {
	case res := <-done:
		require.Equal(t, http.StatusOK, res.r.status, "body: %s", res.r.body)
		got := res.r.task(t)
		require.Equal(t, "succeeded", got.Status)
		require.JSONEq(t, `{"ok":true}`, string(got.Output))
		require.NotNil(t, got.FinishedAt)
		require.Less(t, res.elapsed, 10*time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("the long-poll did not return on the terminal event")
	}

	// Already terminal: at once.
	start = time.Now()
	r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=60", token: key})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "succeeded", r.task(t).Status)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestWaitEndsWithTaskAsItStands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	task := e.submit(t, key, echoTask)
	now := time.Now()
	_, err := e.store.StartTask(context.Background(), task.ID, now, now.Add(time.Minute))
	require.NoError(t, err)

	start := time.Now()
	r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=300ms", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "running", r.task(t).Status)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	// Plain seconds, and a running notification does not end the wait.
	done := make(chan *reply, 1)
	start = time.Now()
	go func() { done <- e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=0.5", token: key}) }()
	e.awaitWatch(t, task.ID)
	require.NoError(t, e.pub.NotifyRunning(task.ID))
	r = <-done
	require.Equal(t, "running", r.task(t).Status)
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)
}

func TestWaitParameter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	task := e.submit(t, key, echoTask)
	for _, bad := range []string{"abc", "-1s", "-1", "1e3", "NaN", "Inf", "0x10", "1.", ".5", "30 s"} {
		r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=" + url.QueryEscape(bad), token: key})
		p := r.problem(t, http.StatusBadRequest, "invalid_parameter")
		require.Equal(t, "wait", p.Errors[0].Path, bad)
	}
	for _, ok := range []string{"0", "0s", "1ms"} {
		r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "?wait=" + ok, token: key})
		require.Equal(t, http.StatusOK, r.status, ok)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	ctx := context.Background()

	// Queued: canceled at once, and its terminal event published.
	task := e.submit(t, key, echoTask)
	evs, err := e.nc.SubscribeSync(e.names.EventFilter("task.canceled"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = evs.Unsubscribe() })
	require.NoError(t, e.nc.Flush())

	r := e.do(t, req{method: "POST", path: "/v1/tasks/" + task.ID + "/cancel", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	got := r.task(t)
	require.Equal(t, "canceled", got.Status)
	require.NotNil(t, got.FinishedAt)

	m, err := evs.NextMsg(5 * time.Second)
	require.NoError(t, err)
	var ev events.TaskEvent
	require.NoError(t, json.Unmarshal(m.Data, &ev))
	require.Equal(t, "evt_"+task.ID, ev.ID)
	require.Equal(t, "task.canceled", ev.Type)
	require.Equal(t, task.ID, ev.Task.ID)
	require.Equal(t, "canceled", ev.Task.Status)

	// Finished: 409.
	e.do(t, req{method: "POST", path: "/v1/tasks/" + task.ID + "/cancel", token: key}).problem(t, http.StatusConflict, "task_finished")
	done := e.submit(t, key, echoTask)
	e.finish(t, done.ID, store.StatusSucceeded)
	e.do(t, req{method: "POST", path: "/v1/tasks/" + done.ID + "/cancel", token: key}).problem(t, http.StatusConflict, "task_finished")

	// Running: the worker is signalled; the task stays running until it stops.
	running := e.submit(t, key, echoTask)
	now := time.Now()
	_, err = e.store.StartTask(ctx, running.ID, now, now.Add(time.Minute))
	require.NoError(t, err)
	sig, err := e.nc.SubscribeSync(e.names.CancelSubject(running.ID))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sig.Unsubscribe() })
	require.NoError(t, e.nc.Flush())
	r = e.do(t, req{method: "POST", path: "/v1/tasks/" + running.ID + "/cancel", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "running", r.task(t).Status)
	_, err = sig.NextMsg(5 * time.Second)
	require.NoError(t, err)
	cancelRequested, err := e.store.Heartbeat(ctx, running.ID, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, cancelRequested)
}

func TestListTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)

	var ids []string
	for i := range 5 {
		body := map[string]any{"agent": "echo", "input": map[string]any{"i": i},
			"metadata": map[string]string{"batch": "b1", "parity": []string{"even", "odd"}[i%2]}}
		if i == 4 {
			body["agent"] = "sentiment"
			body["input"] = map[string]any{"text": "great"}
		}
		ids = append(ids, e.submit(t, key, body).ID)
	}
	e.finish(t, ids[1], store.StatusFailed)
	list := func(q string) client.TaskList {
		t.Helper()
		r := e.do(t, req{method: "GET", path: "/v1/tasks" + q, token: key})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		var l client.TaskList
		r.decode(t, &l)
		return l
	}
	idsOf := func(l client.TaskList) []string {
		var out []string
		for _, task := range l.Data {
			out = append(out, task.ID)
		}
		return out
	}

	all := list("")
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, idsOf(all), "newest first")
	require.Nil(t, all.NextCursor)

	// Pages of two.
	var paged []string
	q := "?limit=2"
	for range 10 {
		page := list(q)
		require.LessOrEqual(t, len(page.Data), 2)
		paged = append(paged, idsOf(page)...)
		if page.NextCursor == nil {
			break
		}
		q = "?limit=2&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	require.Equal(t, idsOf(all), paged)

	require.Equal(t, []string{ids[1]}, idsOf(list("?status=failed")))
	require.Equal(t, []string{ids[4]}, idsOf(list("?agent=sentiment")))
	require.Equal(t, []string{ids[3], ids[1]}, idsOf(list("?metadata.parity=odd")))
	require.Equal(t, []string{ids[3], ids[1]}, idsOf(list("?metadata.parity=odd&metadata.batch=b1")))
	require.Empty(t, idsOf(list("?metadata.parity=odd&metadata.batch=b2")))
	require.Empty(t, idsOf(list("?metadata.parity=odd&metadata.parity=even")))
	require.Equal(t, []string{ids[3], ids[1]}, idsOf(list("?metadata.parity=odd&metadata.parity=odd")))
	require.Equal(t, []string{ids[3]}, idsOf(list("?metadata.parity=odd&status=queued&agent=echo")))

	for _, c := range []struct{ q, param string }{
		{"?status=done", "status"},
		{"?limit=0", "limit"},
		{"?limit=101", "limit"},
		{"?limit=ten", "limit"},
		{"?cursor=garbage", "cursor"},
		{"?cursor=" + url.QueryEscape("bm90LWEtY3Vyc29y"), "cursor"},
		{"?metadata.=x", "metadata."},
	} {
		r := e.do(t, req{method: "GET", path: "/v1/tasks" + c.q, token: key})
		p := r.problem(t, http.StatusBadRequest, "invalid_parameter")
		require.Equal(t, c.param, p.Errors[0].Path, c.q)
	}
	require.Len(t, list("?limit=100").Data, 5)
	require.Len(t, list("?limit=1").Data, 1)
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenantID, key := e.tenant(t)
	task := e.submit(t, key, map[string]any{"agent": "echo", "input": map[string]any{}, "webhook_url": "https://93.184.216.34/hook"})

	r := e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "/deliveries", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.JSONEq(t, `{"data":[]}`, string(r.body))

	at := time.Now().UTC().Truncate(time.Millisecond)
	for i, d := range []*store.Delivery{
		{StatusCode: 500, Error: "server error", DurationMS: 12},
		{StatusCode: 204, Succeeded: true, Final: true, DurationMS: 8},
	} {
		d.ID = store.NewID("dlv")
		d.TenantID, d.TaskID, d.WebhookID, d.EventType = tenantID, task.ID, "evt_"+task.ID, "task.succeeded"
		d.URL, d.Attempt, d.CreatedAt = "https://93.184.216.34/hook", i+1, at.Add(time.Duration(i)*time.Second)
		require.NoError(t, e.store.RecordDelivery(context.Background(), d))
	}
	r = e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID + "/deliveries", token: key})
	require.Equal(t, http.StatusOK, r.status)
	var list client.DeliveryList
	r.decode(t, &list)
	require.Len(t, list.Data, 2)
	first, second := list.Data[0], list.Data[1]
	require.Equal(t, 1, first.Attempt)
	require.Equal(t, 500, first.StatusCode)
	require.False(t, first.Succeeded)
	require.Equal(t, "server error", first.Error)
	require.Equal(t, "task.succeeded", first.Type)
	require.Equal(t, "evt_"+task.ID, first.WebhookID)
	require.Equal(t, int64(12), first.DurationMS)
	require.True(t, first.CreatedAt.Equal(at))
	require.Equal(t, 2, second.Attempt)
	require.True(t, second.Succeeded)
	require.True(t, second.Final)
}
