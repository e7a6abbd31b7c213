package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// receiver is a webhook endpoint that fails its first calls.
type receiver struct {
	mu       sync.Mutex
	failures int
	got      []received
	srv      *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, failures int) *receiver {
	r := &receiver{failures: failures}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		status := http.StatusNoContent
		if r.failures > 0 {
			r.failures--
			status = http.StatusInternalServerError
		}
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, status: status})
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) calls() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (h *harness) runWebhooks(cfg handlers.WebhooksConfig) {
	hooks, err := handlers.NewWebhooks(cfg)
	require.NoError(h.t, err)
	h.run(h.names.EventsStream(), events.ConsumerWebhooks, time.Second, hooks.Handle)
}

func localSender(t *testing.T) *webhook.Sender {
	p, err := webhook.ParsePolicy("127.0.0.1/32")
	require.NoError(t, err)
	return webhook.NewSender(p)
}

// A receiver that fails first gets retries with the same webhook-id and valid signatures,
// and every attempt is recorded.
func TestWebhookRetriedWithStableIDAndValidSignature(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	recv := newReceiver(t, 2)
	h.runTasks(h.tasksConfig(llm.SimConfig{}, 5*time.Second), time.Second)
	h.runWebhooks(handlers.WebhooksConfig{Store: h.store, Sender: localSender(t),
		RetryDelay: func(uint64) time.Duration { return 50 * time.Millisecond }})

	task := h.submit("echo", `{"hello":"webhook"}`, func(t *store.Task) { t.WebhookURL = recv.srv.URL + "/hook" })
	require.Eventually(t, func() bool { return len(recv.calls()) == 3 }, 10*time.Second, 10*time.Millisecond)

	calls := recv.calls()
	id := calls[0].header.Get("webhook-id")
	require.Equal(t, "evt_"+task.ID, id)
	for i, c := range calls {
		require.Equal(t, id, c.header.Get("webhook-id"), "attempt %d", i+1)
		require.NoError(t, webhook.Verify(h.tenant.WebhookSecret, c.header, c.body), "attempt %d", i+1)
		var ev client.WebhookEvent
		require.NoError(t, json.Unmarshal(c.body, &ev))
		require.Equal(t, "task.succeeded", ev.Type)
		require.Equal(t, task.ID, ev.Data.ID)
		require.JSONEq(t, `{"hello":"webhook"}`, string(ev.Data.Output))
	}
	require.Equal(t, calls[0].body, calls[2].body, "the payload is the same across retries")

	require.Eventually(t, func() bool {
		d, err := h.store.ListDeliveries(context.Background(), h.tenant.ID, task.ID)
		require.NoError(t, err)
		return len(d) == 3
	}, 5*time.Second, 10*time.Millisecond)
	d, err := h.store.ListDeliveries(context.Background(), h.tenant.ID, task.ID)
	require.NoError(t, err)
	for i, want := range []struct {
		status    int
		succeeded bool
	}{{500, false}, {500, false}, {204, true}} {
		require.Equal(t, i+1, d[i].Attempt)
		require.Equal(t, want.status, d[i].StatusCode)
		require.Equal(t, want.succeeded, d[i].Succeeded)
		require.Equal(t, id, d[i].WebhookID)
	}
	require.True(t, d[2].Final)
}

// After the give-up time the last attempt is recorded as final and the event is dropped.
func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	recv := newReceiver(t, 1000)
	h.runWebhooks(handlers.WebhooksConfig{Store: h.store, Sender: localSender(t),
		GiveUpAfter: 300 * time.Millisecond, RetryDelay: func(uint64) time.Duration { return 100 * time.Millisecond }})

	task := h.insert("echo", `{}`, func(t *store.Task) { t.WebhookURL = recv.srv.URL })
	done, _, err := h.store.FinishTask(context.Background(), task.ID, store.Result{
		Status: store.StatusSucceeded, Output: []byte(`{}`), FinishedAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, h.pub.PublishEvent(context.Background(), events.TerminalEvent(done)))

	require.Eventually(t, func() bool {
		d, err := h.store.ListDeliveries(context.Background(), h.tenant.ID, task.ID)
		require.NoError(t, err)
		return len(d) > 0 && d[len(d)-1].Final
	}, 10*time.Second, 20*time.Millisecond)
	n := len(recv.calls())
	require.GreaterOrEqual(t, n, 2)
	time.Sleep(500 * time.Millisecond) // nothing more may arrive after the final attempt
	require.Len(t, recv.calls(), n)
}

// A target that is private and not allowed is never contacted.
func TestWebhookRefusesPrivateTarget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	recv := newReceiver(t, 0)
	h.runWebhooks(handlers.WebhooksConfig{Store: h.store, Sender: webhook.NewSender(webhook.Policy{}),
		GiveUpAfter: time.Minute, RetryDelay: func(uint64) time.Duration { return 50 * time.Millisecond }})
	task := h.insert("echo", `{}`, func(t *store.Task) { t.WebhookURL = recv.srv.URL })
	done, _, err := h.store.FinishTask(context.Background(), task.ID, store.Result{
		Status: store.StatusSucceeded, Output: []byte(`{}`), FinishedAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, h.pub.PublishEvent(context.Background(), events.TerminalEvent(done)))
	require.Eventually(t, func() bool {
		d, err := h.store.ListDeliveries(context.Background(), h.tenant.ID, task.ID)
		require.NoError(t, err)
		return len(d) >= 1 && !d[0].Succeeded && d[0].StatusCode == 0
	}, 5*time.Second, 10*time.Millisecond)
	require.Empty(t, recv.calls())
}
