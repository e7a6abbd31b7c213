package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store"
)

func TestNotifierLiveAndTerminal(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	no, err := events.NewNotifier(natstest.Conn(t), n)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, no.Close()) })

	ch, stop := no.Watch("tsk_w")
	defer stop()
	other, stopOther := no.Watch("tsk_other")
	defer stopOther()

	require.NoError(t, pub.NotifyRunning("tsk_w"))
	require.Equal(t, "running", waitFor(t, ch, 5*time.Second))

	task := newTask("tsk_w")
	task.Status = store.StatusFailed
	task.Error = &store.TaskError{Code: "boom", Message: "failed"}
	require.NoError(t, pub.PublishEvent(context.Background(), events.TerminalEvent(task)))
	require.Equal(t, "failed", waitFor(t, ch, 5*time.Second))
	requireNone(t, other, 100*time.Millisecond)

	// A late "running" never replaces the terminal status (the two come through different
	// subscriptions, so their order is not kept).
	probe, stopProbe := no.Watch("tsk_probe")
	defer stopProbe()
	task2 := newTask("tsk_other")
	task2.Status = store.StatusSucceeded
	require.NoError(t, pub.PublishEvent(context.Background(), events.TerminalEvent(task2)))
	require.Eventually(t, func() bool { return len(other) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, pub.NotifyRunning("tsk_other"))
	require.NoError(t, pub.NotifyRunning("tsk_probe")) // published after, on the same subject tree
	require.Equal(t, "running", waitFor(t, probe, 5*time.Second))
	require.Equal(t, "succeeded", waitFor(t, other, time.Second))

	// A slow watcher keeps only the latest status.
	slow, stopSlow := no.Watch("tsk_slow")
	defer stopSlow()
	nc := natstest.Conn(t)
	for _, st := range []string{"queued", "running", "running", "starting"} {
		require.NoError(t, nc.Publish(n.LiveSubject("tsk_slow"), []byte(`{"status":"`+st+`"}`)))
	}
	require.NoError(t, nc.Publish(n.LiveSubject("tsk_probe"), []byte(`{"status":"done-probing"}`)))
	require.Equal(t, "done-probing", waitFor(t, probe, 5*time.Second))
	require.Len(t, slow, 1)
	require.Equal(t, "starting", <-slow)

	stop()
	stop()
	require.NoError(t, pub.NotifyRunning("tsk_w"))
	requireNone(t, ch, 100*time.Millisecond)
	require.NoError(t, no.Close())
	require.NoError(t, no.Close())
}

func TestCancelsRouteToRegistration(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	c, err := events.NewCancels(natstest.Conn(t), n)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	ctxA, cancelA := context.WithCancelCause(context.Background())
	defer cancelA(nil)
	ctxB, cancelB := context.WithCancelCause(context.Background())
	defer cancelB(nil)
	unA := c.Register("tsk_a", cancelA)
	defer unA()
	unB := c.Register("tsk_b", cancelB)

	require.NoError(t, pub.SignalCancel("tsk_a"))
	waitFor(t, ctxA.Done(), 5*time.Second)
	require.True(t, errors.Is(context.Cause(ctxA), events.ErrCanceledByUser))
	require.NoError(t, ctxB.Err())

	// After unregister, a signal no longer reaches the handler.
	unB()
	unB()
	require.NoError(t, pub.SignalCancel("tsk_b"))
	// A later registration on the same connection proves the signal was routed by now.
	ctxC, cancelC := context.WithCancelCause(context.Background())
	defer cancelC(nil)
	unC := c.Register("tsk_c", cancelC)
	defer unC()
	require.NoError(t, pub.SignalCancel("tsk_c"))
	waitFor(t, ctxC.Done(), 5*time.Second)
	require.NoError(t, ctxB.Err())
}

// An invalidation published by one process reaches every process's handlers of its kind,
// and only those.
func TestInvalidationsReachEveryProcess(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	type got struct{ replica, id string }
	ch := make(chan got, 10)
	for _, replica := range []string{"a", "b"} {
		iv, err := events.NewInvalidations(natstest.Conn(t), n) // a connection each, as two replicas
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, iv.Close()) })
		iv.On(events.InvalidateAPIKey, func(id string) { ch <- got{replica, id} })
	}

	require.NoError(t, pub.Invalidate(t.Context(), events.InvalidateTenant, "ten_1"))
	require.NoError(t, pub.Invalidate(t.Context(), events.InvalidateAPIKey, "abc123"))
	seen := map[got]bool{}
	for range 2 {
		select {
		case g := <-ch:
			seen[g] = true
		case <-time.After(5 * time.Second):
			t.Fatal("an invalidation did not arrive")
		}
	}
	require.Equal(t, map[got]bool{{"a", "abc123"}: true, {"b", "abc123"}: true}, seen,
		"each replica got the key's invalidation, and no handler got the tenant's")
}
