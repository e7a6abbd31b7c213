package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/natstest"
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

// After a rotation — announced on the bus, as the admin API does — the next delivery is
// signed with both secrets at once, though the dispatcher caches secrets for an hour; a day
// later, with the new one only.
func TestWebhookSignedWithBothSecretsAfterRotation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	recv := newReceiver(t, 0)
	var offset atomic.Int64
	hooks, err := handlers.NewWebhooks(handlers.WebhooksConfig{Store: h.store, Sender: localSender(t),
		SecretTTL: time.Hour, Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	require.NoError(t, err)
	iv, err := events.NewInvalidations(natstest.Conn(t), h.names)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, iv.Close()) })
	iv.On(events.InvalidateTenant, hooks.Forget)
	h.run(h.names.EventsStream(), events.ConsumerWebhooks, time.Second, hooks.Handle)

	deliver := func() received {
		t.Helper()
		n := len(recv.calls())
		task := h.insert("echo", `{}`, func(t *store.Task) { t.WebhookURL = recv.srv.URL })
		done, _, err := h.store.FinishTask(context.Background(), task.ID, store.Result{
			Status: store.StatusSucceeded, Output: []byte(`{}`), FinishedAt: time.Now()})
		require.NoError(t, err)
		require.NoError(t, h.pub.PublishEvent(context.Background(), events.TerminalEvent(done)))
		require.Eventually(t, func() bool { return len(recv.calls()) == n+1 }, 10*time.Second, 10*time.Millisecond)
		return recv.calls()[n]
	}
	old := h.tenant.WebhookSecret
	first := deliver() // caches the tenant's secret
	require.Len(t, strings.Fields(first.header.Get("webhook-signature")), 1)
	require.NoError(t, webhook.Verify(old, first.header, first.body))

	rotated, err := h.store.RotateWebhookSecret(context.Background(), h.tenant.ID,
		"whsec_"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), time.Now())
	require.NoError(t, err)
	require.NoError(t, h.pub.Invalidate(context.Background(), events.InvalidateTenant, h.tenant.ID))

	// The invalidation is asynchronous to this goroutine: deliver until it has been seen.
	var during received
	require.Eventually(t, func() bool {
		during = deliver()
		return len(strings.Fields(during.header.Get("webhook-signature"))) == 2
	}, 10*time.Second, 10*time.Millisecond, "the rotation reached the dispatcher")
	require.NoError(t, webhook.Verify(old, during.header, during.body), "a receiver not yet switched")
	require.NoError(t, webhook.Verify(rotated.WebhookSecret, during.header, during.body), "a switched receiver")

	offset.Store(int64(store.WebhookSecretOverlap + 2*time.Hour)) // past the overlap and the cache TTL
	after := deliver()
	// (Verify would refuse the shifted clock's timestamp; compare with a signature made here.)
	sec, err := strconv.ParseInt(after.header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	want, err := webhook.SignAll([]string{rotated.WebhookSecret}, after.header.Get("webhook-id"), time.Unix(sec, 0), after.body)
	require.NoError(t, err)
	require.Equal(t, want, after.header.Get("webhook-signature"), "the new secret alone signs")
}
