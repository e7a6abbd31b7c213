package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
)

func TestSetupIdempotent(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	n := natstest.Names(t)
	ctx := context.Background()
	opts := &events.SetupOpts{AckWait: 2 * time.Second}
	require.NoError(t, events.Setup(ctx, js, n, opts))
	require.NoError(t, events.Setup(ctx, js, n, opts))

	tasks, err := js.Stream(ctx, n.TasksStream())
	require.NoError(t, err)
	cfg := tasks.CachedInfo().Config
	require.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, []string{n.Prefix + ".tasks.>"}, cfg.Subjects)
	require.Equal(t, events.DefaultDuplicateWindow, cfg.Duplicates)

	evs, err := js.Stream(ctx, n.EventsStream())
	require.NoError(t, err)
	require.Equal(t, jetstream.LimitsPolicy, evs.CachedInfo().Config.Retention)
	require.Equal(t, events.DefaultEventsMaxAge, evs.CachedInfo().Config.MaxAge)

	dlq, err := js.Stream(ctx, n.DLQStream())
	require.NoError(t, err)
	require.Equal(t, jetstream.LimitsPolicy, dlq.CachedInfo().Config.Retention)

	ops, err := js.Stream(ctx, n.OpsStream())
	require.NoError(t, err)
	require.Equal(t, jetstream.WorkQueuePolicy, ops.CachedInfo().Config.Retention)
	require.GreaterOrEqual(t, ops.CachedInfo().Config.Duplicates, 2*time.Minute)

	w, err := js.Consumer(ctx, n.TasksStream(), events.ConsumerWorkers)
	require.NoError(t, err)
	wc := w.CachedInfo().Config
	require.Equal(t, jetstream.AckExplicitPolicy, wc.AckPolicy)
	require.Equal(t, 2*time.Second, wc.AckWait)
	require.Equal(t, -1, wc.MaxDeliver)
	require.Equal(t, 20000, wc.MaxAckPending)

	wh, err := js.Consumer(ctx, n.EventsStream(), events.ConsumerWebhooks)
	require.NoError(t, err)
	require.Equal(t, n.Prefix+".events.*.task.>", wh.CachedInfo().Config.FilterSubject)

	_, err = js.Consumer(ctx, n.OpsStream(), events.ConsumerOps)
	require.NoError(t, err)

	// A changed setting is applied to the existing consumer.
	require.NoError(t, events.Setup(ctx, js, n, &events.SetupOpts{AckWait: 3 * time.Second}))
	w, err = js.Consumer(ctx, n.TasksStream(), events.ConsumerWorkers)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, w.CachedInfo().Config.AckWait)
}

func TestSetupConcurrent(t *testing.T) {
	t.Parallel()
	n := natstest.Names(t)
	const procs = 6
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for range procs {
		js, _ := natstest.JetStream(t) // one connection per "process"
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- events.Setup(context.Background(), js, n, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	js, _ := natstest.JetStream(t)
	_, err := js.Consumer(context.Background(), n.TasksStream(), events.ConsumerWorkers)
	require.NoError(t, err)
}

func TestSetupRejectsBadPrefix(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	err := events.Setup(context.Background(), js, events.Names{Prefix: "a.b"}, nil)
	require.ErrorIs(t, err, events.ErrInvalid)
	err = events.Setup(context.Background(), js, events.Names{}, nil)
	require.ErrorIs(t, err, events.ErrInvalid)
}

func TestStreamNames(t *testing.T) {
	t.Parallel()
	n := events.Names{Prefix: "ag-dev"}
	require.Equal(t, "AG_DEV_TASKS", n.TasksStream())
	require.Equal(t, "AG_DEV_EVENTS", n.EventsStream())
	require.Equal(t, "AG_DEV_DLQ", n.DLQStream())
	require.Equal(t, "AG_DEV_OPS", n.OpsStream())
	require.Equal(t, "ag-dev.tasks.ten_1", n.TaskSubject("ten_1"))
	require.Equal(t, "ag-dev.events.ten_1.task.failed", n.EventSubject("ten_1", "task.failed"))
	require.Equal(t, "ag-dev.events.*.task.>", n.EventFilter("task.>"))
	require.Equal(t, "ag-dev.live.tsk_1", n.LiveSubject("tsk_1"))
	require.Equal(t, "ag-dev.cancel.tsk_1", n.CancelSubject("tsk_1"))
	require.Equal(t, "ag-dev.dlq.tasks.ten_1", n.DLQSubject("tasks", "ten_1"))
	require.Equal(t, "ag-dev.dlq.ops.system", n.DLQSubject("ops", ""))
	require.Equal(t, "ag-dev.ops.backup", n.OpsSubject("backup"))
}
