package events_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store"
)

const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

var traceParentRE = regexp.MustCompile(`^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$`)

func newTask(id string) *store.Task {
	return &store.Task{ID: id, TenantID: "ten_a", Agent: "echo", Status: store.StatusQueued, TraceID: traceID, CreatedAt: time.Now()}
}

// lastMsg reads the newest message of a stream.
func lastMsg(t *testing.T, js jetstream.JetStream, stream string) *jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.NotZero(t, info.State.Msgs)
	m, err := s.GetMsg(ctx, info.State.LastSeq)
	require.NoError(t, err)
	return m
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func TestPublishTaskDedupe(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	ctx := context.Background()
	task := newTask("tsk_dup")
	require.NoError(t, pub.PublishTask(ctx, task))
	require.NoError(t, pub.PublishTask(ctx, task))
	f, err := pub.PublishTaskAsync(task)
	require.NoError(t, err)
	select {
	case ack := <-f.Ok():
		require.True(t, ack.Duplicate)
	case err := <-f.Err():
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ack")
	}
	require.EqualValues(t, 1, streamMsgs(t, js, n.TasksStream()))

	m := lastMsg(t, js, n.TasksStream())
	require.Equal(t, n.TaskSubject("ten_a"), m.Subject)
	require.Equal(t, "tsk_dup", m.Header.Get(jetstream.MsgIDHeader))
	require.Equal(t, events.KindTask, m.Header.Get(events.HeaderKind))
	require.Equal(t, "ten_a", m.Header.Get(events.HeaderTenant))
	require.Regexp(t, traceParentRE, m.Header.Get(events.HeaderTraceParent))
	var body events.TaskMessage
	require.NoError(t, json.Unmarshal(m.Data, &body))
	require.Equal(t, events.TaskMessage{TaskID: "tsk_dup", TenantID: "ten_a"}, body)
}

func TestPublishTaskInvalid(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	require.ErrorIs(t, pub.PublishTask(context.Background(), &store.Task{}), events.ErrInvalid)
	_, err := pub.PublishTaskAsync(nil)
	require.ErrorIs(t, err, events.ErrInvalid)
}

func TestPublishWithoutStreamIsTranslated(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	pub := events.NewPublisher(js, natstest.Names(t)) // no Setup: no stream listens
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := pub.PublishTask(ctx, newTask("tsk_nostream"))
	require.ErrorIs(t, err, events.ErrUnavailable)
}

func TestPublishEvent(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	ctx := context.Background()
	task := newTask("tsk_ev")
	task.Status = store.StatusSucceeded
	fin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	task.FinishedAt = &fin
	ev := events.TerminalEvent(task)
	require.Equal(t, "evt_tsk_ev", ev.ID)
	require.Equal(t, "task.succeeded", ev.Type)
	require.Equal(t, fin, ev.Timestamp)
	require.NoError(t, pub.PublishEvent(ctx, ev))
	require.NoError(t, pub.PublishEvent(ctx, ev))
	require.EqualValues(t, 1, streamMsgs(t, js, n.EventsStream()))

	m := lastMsg(t, js, n.EventsStream())
	require.Equal(t, n.EventSubject("ten_a", "task.succeeded"), m.Subject)
	require.Equal(t, "evt_tsk_ev", m.Header.Get(jetstream.MsgIDHeader))
	require.Equal(t, "task.succeeded", m.Header.Get(events.HeaderKind))
	require.Equal(t, "ten_a", m.Header.Get(events.HeaderTenant))
	require.Regexp(t, traceParentRE, m.Header.Get(events.HeaderTraceParent))
	var got events.TaskEvent
	require.NoError(t, json.Unmarshal(m.Data, &got))
	require.Equal(t, "tsk_ev", got.Task.ID)
	require.Equal(t, "succeeded", got.Task.Status)
}

func TestPublishOpsDedupe(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	ctx := context.Background()
	tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Two scheduler replicas fire the same tick: stored once.
	ev := events.OpsEvent{Type: events.OpsBackupRequested, Job: "backup", Tick: tick}
	require.NoError(t, pub.PublishOps(ctx, ev))
	require.NoError(t, pub.PublishOps(ctx, ev))
	require.EqualValues(t, 1, streamMsgs(t, js, n.OpsStream()))
	m := lastMsg(t, js, n.OpsStream())
	require.Equal(t, n.Prefix+".ops.backup.requested", m.Subject)
	require.Equal(t, "backup-"+strconv.FormatInt(tick.Unix(), 10), m.Header.Get(jetstream.MsgIDHeader))
	require.Equal(t, events.OpsBackupRequested, m.Header.Get(events.HeaderKind))
	ev.Tick = tick.Add(time.Hour)
	require.NoError(t, pub.PublishOps(ctx, ev))
	require.EqualValues(t, 2, streamMsgs(t, js, n.OpsStream()))
	// An event asked for by hand has a fresh id each time.
	manual := events.OpsEvent{Type: events.OpsCacheInvalidate, Tenant: "ten_a", Prefix: "task:"}
	require.NoError(t, pub.PublishOps(ctx, manual))
	require.NoError(t, pub.PublishOps(ctx, manual))
	require.EqualValues(t, 4, streamMsgs(t, js, n.OpsStream()))
	// A type that is no ops subject is refused.
	for _, typ := range []string{"", "backup", "ops.", "ops..x", "ops.*", "ops.a b"} {
		require.ErrorIs(t, pub.PublishOps(ctx, events.OpsEvent{Type: typ}), events.ErrInvalid, typ)
	}
}

func TestPublishDLQ(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	pub := events.NewPublisher(js, n)
	ctx := context.Background()
	require.NoError(t, pub.PublishTask(ctx, newTask("tsk_dead")))

	got := make(chan *events.Msg, 1)
	r := startRunner(t, js, n, events.RunnerConfig{Concurrency: 1}, func(ctx context.Context, m *events.Msg) error {
		if err := pub.PublishDLQ(ctx, "tasks", m, store.TaskError{Code: "max_attempts", Message: "gave up"}); err != nil {
			return err
		}
		got <- m
		return events.Cancel(nil)
	})
	var m *events.Msg
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	require.NoError(t, r.Stop(context.Background()))
	// Dead-lettering the same delivery twice stores one copy.
	require.NoError(t, pub.PublishDLQ(ctx, "tasks", m, store.TaskError{Code: "max_attempts", Message: "gave up"}))
	require.EqualValues(t, 1, streamMsgs(t, js, n.DLQStream()))

	d := lastMsg(t, js, n.DLQStream())
	require.Equal(t, n.DLQSubject("tasks", "ten_a"), d.Subject)
	require.Equal(t, "tsk_dead-dlq", d.Header.Get(jetstream.MsgIDHeader))
	require.Equal(t, "max_attempts: gave up", d.Header.Get(events.HeaderError))
	require.Equal(t, "ten_a", d.Header.Get(events.HeaderTenant))
	require.Equal(t, events.KindTask, d.Header.Get(events.HeaderKind))
	require.Regexp(t, traceParentRE, d.Header.Get(events.HeaderTraceParent))
	require.JSONEq(t, `{"task_id":"tsk_dead","tenant_id":"ten_a"}`, string(d.Data))
}

func TestTraceParent(t *testing.T) {
	t.Parallel()
	a, b := events.TraceParent(traceID), events.TraceParent(traceID)
	require.Regexp(t, traceParentRE, a)
	require.NotEqual(t, a, b, "each publish gets its own parent span id")
	for _, bad := range []string{"", "xyz", "00000000000000000000000000000000", "4BF92F3577B34DA6A3CE929D0E0E4736", traceID + "0"} {
		require.Empty(t, events.TraceParent(bad), bad)
	}
}

func TestPublishWithoutTraceID(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	task := newTask("tsk_notrace")
	task.TraceID = ""
	require.NoError(t, pub.PublishTask(context.Background(), task))
	m := lastMsg(t, js, n.TasksStream())
	require.Empty(t, m.Header.Get(events.HeaderTraceParent))
	require.Equal(t, "tsk_notrace", m.Header.Get(jetstream.MsgIDHeader))
}
