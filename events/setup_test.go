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
	require.Equal(t, []string{n.Prefix + ".tasks.*"}, cfg.Subjects)
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

	wh, err := js.Consumer(ctx, n.EventsStream(), events.ConsumerWebhooks)
	require.NoError(t, err)
	wc := wh.CachedInfo().Config
	require.Equal(t, n.Prefix+".events.*.task.>", wc.FilterSubject)
	require.Equal(t, jetstream.AckExplicitPolicy, wc.AckPolicy)
	require.Equal(t, 2*time.Second, wc.AckWait)
	require.Equal(t, -1, wc.MaxDeliver)
	require.Equal(t, 20000, wc.MaxAckPending)

	// Each type of ops event has its own consumer, made by the subscriber; Setup makes the
	// scheduler's key-value bucket.
	_, err = js.KeyValue(ctx, n.ScheduleBucket())
	require.NoError(t, err)

	// A changed setting is applied to the existing consumer.
	require.NoError(t, events.Setup(ctx, js, n, &events.SetupOpts{AckWait: 3 * time.Second}))
	wh, err = js.Consumer(ctx, n.EventsStream(), events.ConsumerWebhooks)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, wh.CachedInfo().Config.AckWait)
}

// An installation set up before fair dispatch has the catch-all "workers" consumer on its
// tasks stream, with tasks in it. Setup removes the consumer, which would keep the
// per-tenant ones from being created, and the tasks stay for them.
func TestSetupRemovesTheCatchAllConsumer(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	n := natstest.Names(t)
	ctx := context.Background()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n.TasksStream(), Subjects: []string{n.Prefix + ".tasks.>"},
		Retention: jetstream.WorkQueuePolicy})
	require.NoError(t, err)
	_, err = js.CreateOrUpdateConsumer(ctx, n.TasksStream(), jetstream.ConsumerConfig{Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	_, err = js.Publish(ctx, n.TaskSubject("ten_a"), []byte(`{"task_id":"tsk_1","tenant_id":"ten_a"}`))
	require.NoError(t, err)
	_, err = js.CreateOrUpdateConsumer(ctx, n.TasksStream(), events.TaskConsumerConfig(n, "ten_a", time.Second, time.Hour))
	require.Error(t, err, "a work-queue stream takes no consumer overlapping the catch-all")

	require.NoError(t, events.Setup(ctx, js, n, nil))
	_, err = js.Consumer(ctx, n.TasksStream(), "workers")
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
	require.EqualValues(t, 1, streamMsgs(t, js, n.TasksStream()), "the task stays")
	c, err := js.CreateOrUpdateConsumer(ctx, n.TasksStream(), events.TaskConsumerConfig(n, "ten_a", time.Second, time.Hour))
	require.NoError(t, err)
	cc := c.CachedInfo().Config
	require.Equal(t, "tasks_ten_a", cc.Durable)
	require.Equal(t, n.TaskSubject("ten_a"), cc.FilterSubject)
	require.Equal(t, jetstream.AckExplicitPolicy, cc.AckPolicy)
	require.Equal(t, -1, cc.MaxDeliver)
	require.Equal(t, time.Hour, cc.InactiveThreshold)
	require.EqualValues(t, 1, c.CachedInfo().NumPending)
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
	_, err := js.Consumer(context.Background(), n.EventsStream(), events.ConsumerWebhooks)
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
	require.Equal(t, "ag-dev.tasks.*", n.TaskFilter())
	require.Equal(t, "ten_1", n.TaskTenant("ag-dev.tasks.ten_1"))
	for _, bad := range []string{"ag-dev.tasks.", "ag-dev.tasks.a.b", "other.tasks.ten_1", "ag-dev.wake.ten_1"} {
		require.Empty(t, n.TaskTenant(bad), bad)
	}
	require.Equal(t, "tasks_ten_1", n.TaskConsumer("ten_1"))
	require.Equal(t, "ag-dev.wake.ten_1", n.WakeSubject("ten_1"))
	require.Equal(t, "ten_1", n.WakeTenant("ag-dev.wake.ten_1"))
	require.Equal(t, "ag-dev.events.ten_1.task.failed", n.EventSubject("ten_1", "task.failed"))
	require.Equal(t, "ag-dev.events.*.task.>", n.EventFilter("task.>"))
	require.Equal(t, "ag-dev.live.tsk_1", n.LiveSubject("tsk_1"))
	require.Equal(t, "ag-dev.cancel.tsk_1", n.CancelSubject("tsk_1"))
	require.Equal(t, "ag-dev.dlq.tasks.ten_1", n.DLQSubject("tasks", "ten_1"))
	require.Equal(t, "ag-dev.dlq.ops.system", n.DLQSubject("ops", ""))
	require.Equal(t, "ag-dev.ops.backup.requested", n.OpsSubject(events.OpsBackupRequested))
	require.Equal(t, "ops_backup_requested", n.OpsConsumer(events.OpsBackupRequested))
	require.Equal(t, "ag-dev_schedule", n.ScheduleBucket())
}
