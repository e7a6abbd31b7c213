package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
)

// startOps runs an ops router with one handler for typ on its own connection and stops it at
// the end of the test (unless the test stopped it).
func startOps(t *testing.T, n events.Names, cfg events.OpsRouterConfig, typ string, h message.NoPublishHandlerFunc) *events.OpsRouter {
	t.Helper()
	js, _ := natstest.JetStream(t)
	cfg.Names = n
	cfg.Handlers = map[string]message.NoPublishHandlerFunc{typ: h}
	r, err := events.NewOpsRouter(js, events.NewPublisher(js, n), cfg)
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { _ = r.Stop(context.Background()) }) })
	return r
}

// A handler that fails every retry has its event copied to the DLQ stream, with the reason,
// and acknowledged: it is not delivered again.
func TestOpsRouterRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	var calls atomic.Int32
	startOps(t, n, events.OpsRouterConfig{Retries: 2, RetryInterval: 10 * time.Millisecond}, events.OpsBackupRequested,
		func(*message.Message) error {
			calls.Add(1)
			return errors.New("pg_dump: disk full")
		})
	ev := events.OpsEvent{Type: events.OpsBackupRequested, Job: "backup", Tick: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)}
	require.NoError(t, events.NewPublisher(js, n).PublishOps(t.Context(), ev))

	require.Eventually(t, func() bool { return streamMsgs(t, js, n.DLQStream()) == 1 }, 10*time.Second, 10*time.Millisecond)
	m := lastMsg(t, js, n.DLQStream())
	require.Equal(t, n.Prefix+".dlq.ops.system", m.Subject)
	require.Equal(t, "pg_dump: disk full", m.Header.Get(middleware.ReasonForPoisonedKey))
	require.Equal(t, events.OpsBackupRequested, m.Header.Get(middleware.PoisonedTopicKey))
	require.Equal(t, ev.ID(), m.Header.Get(middleware.CorrelationIDMetadataKey), "the correlation id is the event's")
	got, err := events.DecodeOpsEvent(message.NewMessage("", m.Data))
	require.NoError(t, err)
	require.Equal(t, ev, got)
	require.EqualValues(t, 3, calls.Load(), "one call and two retries")
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.OpsStream()) == 0 }, 5*time.Second, 10*time.Millisecond,
		"the dead-lettered event is acknowledged")
	time.Sleep(200 * time.Millisecond)
	require.EqualValues(t, 3, calls.Load(), "and not delivered again")
}

// A panic is a failure like any other: retried, and the event handled.
func TestOpsRouterRecoversFromAPanic(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	var calls atomic.Int32
	done := make(chan struct{})
	startOps(t, n, events.OpsRouterConfig{RetryInterval: 10 * time.Millisecond}, events.OpsCacheInvalidate, func(*message.Message) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		close(done)
		return nil
	})
	require.NoError(t, events.NewPublisher(js, n).PublishOps(t.Context(), events.OpsEvent{Type: events.OpsCacheInvalidate}))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("not handled after the panic")
	}
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.OpsStream()) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, streamMsgs(t, js, n.DLQStream()))
}

// A handler may run longer than the ack wait: the event is kept in progress and delivered
// once.
func TestOpsHandlerOutlivesTheAckWait(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	var calls atomic.Int32
	startOps(t, n, events.OpsRouterConfig{AckWait: 600 * time.Millisecond}, events.OpsBackupRequested, func(m *message.Message) error {
		calls.Add(1)
		require.Equal(t, "1", m.Metadata.Get(events.MetadataDelivery))
		time.Sleep(2 * time.Second)
		return nil
	})
	require.NoError(t, events.NewPublisher(js, n).PublishOps(t.Context(), events.OpsEvent{Type: events.OpsBackupRequested}))
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.OpsStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 1, calls.Load())
}

// A worker that dies mid-handler (its connection gone, nothing acknowledged) leaves the
// event to another worker, which gets it after the ack wait as its second delivery.
func TestOpsEventOfADeadWorkerIsDeliveredAgain(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	started := make(chan struct{})
	deadJS, deadNC := natstest.JetStream(t)
	dead, err := events.NewOpsRouter(deadJS, events.NewPublisher(deadJS, n), events.OpsRouterConfig{Names: n, AckWait: time.Second,
		Handlers: map[string]message.NoPublishHandlerFunc{events.OpsBackupRequested: func(m *message.Message) error {
			close(started)
			<-m.Context().Done()
			return m.Context().Err()
		}}})
	require.NoError(t, err)
	require.NoError(t, dead.Start(t.Context()))
	require.NoError(t, events.NewPublisher(js, n).PublishOps(t.Context(), events.OpsEvent{Type: events.OpsBackupRequested}))
	<-started
	deadNC.Close() // the worker dies: no ack, no nak, no more heartbeats

	delivery := make(chan string, 1)
	startOps(t, n, events.OpsRouterConfig{AckWait: time.Second}, events.OpsBackupRequested, func(m *message.Message) error {
		delivery <- m.Metadata.Get(events.MetadataDelivery)
		return nil
	})
	select {
	case d := <-delivery:
		require.Equal(t, "2", d)
	case <-time.After(15 * time.Second):
		t.Fatal("the dead worker's event was not delivered again")
	}
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.OpsStream()) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, streamMsgs(t, js, n.DLQStream()))
	_ = dead.Stop(context.Background())
}

// Stop lets a handler in progress finish within the drain timeout.
func TestOpsStopLetsAHandlerFinish(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	started := make(chan struct{})
	r := startOps(t, n, events.OpsRouterConfig{DrainTimeout: 10 * time.Second}, events.OpsBackupRequested,
		func(m *message.Message) error {
			close(started)
			select {
			case <-time.After(500 * time.Millisecond):
				return nil
			case <-m.Context().Done():
				return m.Context().Err()
			}
		})
	require.NoError(t, events.NewPublisher(js, n).PublishOps(t.Context(), events.OpsEvent{Type: events.OpsBackupRequested}))
	<-started
	require.NoError(t, r.Stop(t.Context()))
	require.NoError(t, r.Stop(t.Context()), "Stop is idempotent")
	require.Zero(t, streamMsgs(t, js, n.OpsStream()), "finished and acknowledged")
}

// A handler that outlasts the drain timeout is cancelled and its event returns to the stream
// at once — not to the DLQ — for the next worker.
func TestOpsStopDrainsThenReturnsTheEvent(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	started := make(chan struct{})
	var cause atomic.Value
	r := startOps(t, n, events.OpsRouterConfig{DrainTimeout: 300 * time.Millisecond, AckWait: 30 * time.Second}, events.OpsBackupRequested,
		func(m *message.Message) error {
			close(started)
			<-m.Context().Done()
			cause.Store(context.Cause(m.Context()))
			return m.Context().Err()
		})
	require.NoError(t, events.NewPublisher(js, n).PublishOps(t.Context(), events.OpsEvent{Type: events.OpsBackupRequested}))
	<-started
	stopped := time.Now()
	_ = r.Stop(t.Context())
	require.GreaterOrEqual(t, time.Since(stopped), 300*time.Millisecond, "the handler had the drain timeout")
	require.ErrorIs(t, cause.Load().(error), events.ErrShutdown)

	delivery := make(chan string, 1)
	startOps(t, n, events.OpsRouterConfig{AckWait: 30 * time.Second}, events.OpsBackupRequested, func(m *message.Message) error {
		delivery <- m.Metadata.Get(events.MetadataDelivery)
		return nil
	})
	select {
	case d := <-delivery:
		require.Equal(t, "2", d)
		require.Less(t, time.Since(stopped), 10*time.Second, "returned at once, not after the 30s ack wait")
	case <-time.After(20 * time.Second):
		t.Fatal("the event was not returned")
	}
	require.Zero(t, streamMsgs(t, js, n.DLQStream()))
}

// Each type of event has its own consumer: a long backup does not hold up a cache
// invalidation.
func TestOpsTypesDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	release := make(chan struct{})
	invalidated := make(chan struct{})
	r, err := events.NewOpsRouter(js, events.NewPublisher(js, n), events.OpsRouterConfig{Names: n,
		Handlers: map[string]message.NoPublishHandlerFunc{
			events.OpsBackupRequested: func(*message.Message) error { <-release; return nil },
			events.OpsCacheInvalidate: func(*message.Message) error { close(invalidated); return nil },
		}})
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	defer func() { close(release); require.NoError(t, r.Stop(context.Background())) }()
	pub := events.NewPublisher(js, n)
	require.NoError(t, pub.PublishOps(t.Context(), events.OpsEvent{Type: events.OpsBackupRequested}))
	require.NoError(t, pub.PublishOps(t.Context(), events.OpsEvent{Type: events.OpsCacheInvalidate}))
	select {
	case <-invalidated:
	case <-time.After(10 * time.Second):
		t.Fatal("the invalidation waited for the backup")
	}
	for _, typ := range []string{events.OpsBackupRequested, events.OpsCacheInvalidate} {
		c, err := js.Consumer(t.Context(), n.OpsStream(), n.OpsConsumer(typ))
		require.NoError(t, err)
		require.Equal(t, n.OpsSubject(typ), c.CachedInfo().Config.FilterSubject)
		require.Equal(t, jetstream.AckExplicitPolicy, c.CachedInfo().Config.AckPolicy)
	}
}
