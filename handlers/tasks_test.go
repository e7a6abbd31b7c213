package handlers_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

func TestTaskSucceedsWithUsageAndEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	h.runTasks(h.tasksConfig(llm.SimConfig{}, 5*time.Second), time.Second)

	echo := h.submit("echo", `{"x":[1,2,3]}`)
	sum := h.submit("summarizer", `{"text":"Agentic runs AI agents as tasks. It is durable. It is fair."}`)

	got := h.waitStatus(echo.ID, store.StatusSucceeded, 10*time.Second)
	require.JSONEq(t, `{"x":[1,2,3]}`, string(got.Output))
	require.Equal(t, 1, got.Attempts)
	require.Empty(t, got.Model, "echo calls no model")

	got = h.waitStatus(sum.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, "sim", got.Model)
	require.Equal(t, "sim", got.Provider)
	require.Positive(t, got.InputTokens)
	require.Positive(t, got.OutputTokens)
	require.Contains(t, string(got.Output), "summary")
	require.NotNil(t, got.StartedAt)
	require.NotNil(t, got.FinishedAt)

	for _, id := range []string{echo.ID, sum.ID} {
		require.Equal(t, 1, h.count(`SELECT count(*) FROM usage_records WHERE task_id = $1`, id))
	}
	require.Eventually(t, func() bool {
		return h.streamMessages(h.names.EventsStream(), h.names.EventSubject(h.tenant.ID, "task.succeeded")) == 2
	}, 5*time.Second, 10*time.Millisecond)
}

// A message delivered twice (a republish after the dedupe window, or a redelivery racing a
// live worker) runs the task once: one terminal state, one usage record, one event.
func TestDuplicateDeliveryOneTerminalState(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2*time.Second)
	h.runTasks(h.tasksConfig(llm.SimConfig{Latency: 300 * time.Millisecond}, 2*time.Second), time.Second)

	task := h.insert("summarizer", `{"text":"delivered twice"}`)
	body, err := json.Marshal(events.TaskMessage{TaskID: task.ID, TenantID: task.TenantID})
	require.NoError(t, err)
	for _, id := range []string{"dup-a", "dup-b"} { // distinct ids defeat JetStream's dedupe
		m := nats.NewMsg(h.names.TaskSubject(task.TenantID))
		m.Data = body
		m.Header.Set(nats.MsgIdHdr, id)
		_, err := h.js.PublishMsg(context.Background(), m)
		require.NoError(t, err)
	}

	got := h.waitStatus(task.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 1, got.Attempts, "the second delivery must not run the task again")
	// Both messages are consumed: the duplicate waits out the lease, finds the task finished.
	require.Eventually(t, func() bool {
		return h.streamMessages(h.names.TasksStream(), h.names.TaskSubject(task.TenantID)) == 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, h.count(`SELECT count(*) FROM usage_records WHERE task_id = $1`, task.ID))
	require.EqualValues(t, 1, h.streamMessages(h.names.EventsStream(), h.names.EventSubject(h.tenant.ID, "task.succeeded")))
	again, err := h.store.LoadTask(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, got.FinishedAt, again.FinishedAt, "terminal state never overwritten")
}

// A task whose every attempt fails ends failed after max_attempts, with a copy on the
// dead-letter stream; nothing loops.
func TestPoisonTaskEndsFailedAndDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	h.runTasks(h.tasksConfig(llm.SimConfig{FailRate: 1}, 5*time.Second), time.Second)

	task := h.submit("sentiment", `{"text":"always fails"}`)
	got := h.waitStatus(task.ID, store.StatusFailed, 15*time.Second)
	require.Equal(t, 3, got.Attempts)
	require.NotNil(t, got.Error)
	require.Equal(t, handlers.CodeMaxAttempts, got.Error.Code)
	require.Contains(t, got.Error.Message, "3 of 3")
	require.Equal(t, 0, h.count(`SELECT count(*) FROM usage_records WHERE task_id = $1 AND cost_micros > 0`, task.ID))

	require.Eventually(t, func() bool {
		return h.streamMessages(h.names.DLQStream(), h.names.DLQSubject("tasks", h.tenant.ID)) == 1
	}, 5*time.Second, 10*time.Millisecond)
	dlq, err := h.js.Stream(context.Background(), h.names.DLQStream())
	require.NoError(t, err)
	raw, err := dlq.GetLastMsgForSubject(context.Background(), h.names.DLQSubject("tasks", h.tenant.ID))
	require.NoError(t, err)
	require.Contains(t, raw.Header.Get(events.HeaderError), handlers.CodeMaxAttempts)
	var tm events.TaskMessage
	require.NoError(t, json.Unmarshal(raw.Data, &tm))
	require.Equal(t, task.ID, tm.TaskID)
	// The work queue is empty: the poisoned message was terminated, not redelivered forever.
	require.Eventually(t, func() bool {
		return h.streamMessages(h.names.TasksStream(), h.names.TaskSubject(task.TenantID)) == 0
	}, 5*time.Second, 10*time.Millisecond)
}

// A task that fails once and then succeeds is retried and counts both attempts; each
// attempt's call is a usage record, and the routing is on the task.
func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	f := &flaky{Provider: llm.NewSim(llm.SimConfig{})}
	f.failures.Store(1)
	h.serve(&cfg, f, llm.Model{ID: "sim", Provider: "sim", ContextWindow: 128_000})
	h.runTasks(cfg, time.Second)

	task := h.submit("summarizer", `{"text":"flaky provider"}`)
	got := h.waitStatus(task.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, 1, h.count(`SELECT count(*) FROM usage_records WHERE task_id = $1`, task.ID))
	calls, err := h.store.ListCalls(context.Background(), h.tenant.ID, task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 2)
	require.Equal(t, []string{"error", "ok"}, []string{calls[0].Outcome, calls[1].Outcome})
	require.Equal(t, []int{1, 2}, []int{calls[0].Attempt, calls[1].Attempt})
	require.Positive(t, calls[1].InputTokens)
	var routing llm.Routing
	require.NoError(t, json.Unmarshal(got.Routing, &routing))
	require.Equal(t, "sim", routing.Chosen)
}

// A task no model can serve fails no_model_available at once, its routing saying why.
func TestNoModelFailsTheTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	h.serve(&cfg, llm.NewSim(llm.SimConfig{}), llm.Model{ID: "tiny", Provider: "sim", ContextWindow: 16})
	h.runTasks(cfg, time.Second)

	got := h.waitStatus(h.submit("summarizer", `{"text":"too long for a 16-token model"}`).ID, store.StatusFailed, 10*time.Second)
	require.Equal(t, handlers.CodeNoModel, got.Error.Code)
	require.Equal(t, 1, got.Attempts)
	var routing llm.Routing
	require.NoError(t, json.Unmarshal(got.Routing, &routing))
	require.Equal(t, []llm.Candidate{{Model: "tiny", Provider: "sim", Quality: 100, Dropped: llm.DroppedContextTooSmall,
		EstimatedCostUSD: 0, WorstCostUSD: 0}}, routing.Candidates)
}

func TestCancelRunningTask(t *testing.T) {
	t.Parallel()
	for _, viaSignal := range []bool{true, false} {
		name := map[bool]string{true: "signal", false: "heartbeat"}[viaSignal]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 3*time.Second)
			cfg := h.tasksConfig(llm.SimConfig{Latency: time.Minute}, 3*time.Second)
			cfg.HeartbeatEvery = 100 * time.Millisecond
			if viaSignal {
				cancels, err := events.NewCancels(h.js.Conn(), h.names)
				require.NoError(t, err)
				t.Cleanup(func() { _ = cancels.Close() })
				cfg.Cancels = cancels
				cfg.HeartbeatEvery = time.Minute // only the signal can stop it in time
			}
			h.runTasks(cfg, time.Second)

			task := h.submit("summarizer", `{"text":"cancel me"}`)
			h.waitStatus(task.ID, store.StatusRunning, 10*time.Second)
			got, err := h.store.CancelTask(context.Background(), h.tenant.ID, task.ID, time.Now())
			require.NoError(t, err)
			require.Equal(t, store.StatusRunning, got.Status, "a running task is ended by its worker")
			require.NoError(t, h.pub.SignalCancel(task.ID))

			got = h.waitStatus(task.ID, store.StatusCanceled, 5*time.Second)
			require.Equal(t, handlers.CodeCanceled, got.Error.Code)
			require.Eventually(t, func() bool {
				return h.streamMessages(h.names.EventsStream(), h.names.EventSubject(h.tenant.ID, "task.canceled")) == 1
			}, 5*time.Second, 10*time.Millisecond)
		})
	}
}

// SIGTERM's path: Stop lets in-flight work finish within the drain timeout ...
func TestDrainFinishesInFlightTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	r := h.runTasks(h.tasksConfig(llm.SimConfig{Latency: 700 * time.Millisecond}, 5*time.Second), 10*time.Second)

	task := h.submit("summarizer", `{"text":"finish me before exit"}`)
	h.waitStatus(task.ID, store.StatusRunning, 10*time.Second)
	require.NoError(t, r.Stop(context.Background()))
	got, err := h.store.LoadTask(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusSucceeded, got.Status, "Stop returns after in-flight work is done")
	require.Equal(t, 1, got.Attempts)
}

// ... and gives back what cannot finish in time, without charging an attempt.
func TestShutdownReturnsTaskWithoutChargingAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	r := h.runTasks(h.tasksConfig(llm.SimConfig{Latency: time.Minute}, 5*time.Second), 200*time.Millisecond)

	task := h.submit("summarizer", `{"text":"too slow to finish"}`)
	h.waitStatus(task.ID, store.StatusRunning, 10*time.Second)
	require.NoError(t, r.Stop(context.Background()))
	got, err := h.store.LoadTask(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Equal(t, 0, got.Attempts, "shutdown must not charge an attempt")

	// The message went back to the queue: a new worker runs it, as attempt 1.
	h.runTasks(h.tasksConfig(llm.SimConfig{}, 5*time.Second), time.Second)
	got = h.waitStatus(task.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 1, got.Attempts)
}

// A worker that died mid-task (its lease ran out, no heartbeat) is taken over by the
// redelivery, and the task succeeds once.
func TestLeaseTakeoverAfterWorkerDeath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2*time.Second)
	task := h.insert("summarizer", `{"text":"the first worker died"}`)
	// The dead worker: it started the task with a short lease and was never heard of again.
	now := time.Now()
	_, err := h.store.StartTask(context.Background(), task.ID, now, now.Add(time.Second))
	require.NoError(t, err)
	require.NoError(t, h.pub.PublishTask(context.Background(), task))

	h.runTasks(h.tasksConfig(llm.SimConfig{}, 2*time.Second), time.Second)
	got := h.waitStatus(task.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, 1, h.count(`SELECT count(*) FROM usage_records WHERE task_id = $1`, task.ID))
}

// flaky fails its first calls with a retryable error.
type flaky struct {
	llm.Provider
	failures atomic.Int32
}

func (f *flaky) Complete(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, &llm.Error{Kind: llm.KindRetryable, Provider: "sim", Status: 503, Err: errProvider}
	}
	return f.Provider.Complete(ctx, req)
}

var errProvider = errorString("upstream unavailable")

type errorString string

func (e errorString) Error() string { return string(e) }

// The crash between the terminal write and its event: the task is finished in the store but
// its task.* event never went out. The message comes back (the worker never acked it), and
// the event is published then — webhooks stay at least once.
func TestFinishedTaskWithLostEventIsAnnounced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	task := h.insert("echo", `{"lost":"event"}`)
	now := time.Now()
	_, err := h.store.StartTask(context.Background(), task.ID, now, now.Add(time.Minute))
	require.NoError(t, err)
	_, applied, err := h.store.FinishTask(context.Background(), task.ID, store.Result{
		Status: store.StatusSucceeded, Output: json.RawMessage(`{"lost":"event"}`), FinishedAt: now})
	require.NoError(t, err)
	require.True(t, applied)
	require.Zero(t, h.streamMessages(h.names.EventsStream(), h.names.EventSubject(h.tenant.ID, "task.succeeded")))

	require.NoError(t, h.pub.PublishTask(context.Background(), task))
	h.runTasks(h.tasksConfig(llm.SimConfig{}, 5*time.Second), time.Second)
	require.Eventually(t, func() bool {
		return h.streamMessages(h.names.EventsStream(), h.names.EventSubject(h.tenant.ID, "task.succeeded")) == 1
	}, 10*time.Second, 10*time.Millisecond)
	got, err := h.store.LoadTask(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.Attempts, "the finished task did not run again")
	require.Equal(t, 1, h.count(`SELECT count(*) FROM usage_records WHERE task_id = $1`, task.ID))
}
