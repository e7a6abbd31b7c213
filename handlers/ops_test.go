package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// The crash between commit and publish: the row exists, the message never went out. The
// reconciler job publishes it and the task runs once.
func TestReconcilerPublishesTaskLostBetweenCommitAndPublish(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub, Grace: time.Second})
	require.NoError(t, err)
	h.run(h.names.OpsStream(), events.ConsumerOps, time.Second, ops.Handle)
	h.runTasks(h.tasksConfig(llm.SimConfig{}, 5*time.Second), time.Second)

	lost := h.insert("echo", `{"lost":true}`, func(t *store.Task) { t.CreatedAt = time.Now().Add(-time.Minute) })
	fresh := h.insert("echo", `{"fresh":true}`) // inside the grace period: ingest may still publish it

	require.NoError(t, h.pub.PublishOps(context.Background(), events.OpsEvent{Job: handlers.JobReconcile, Tick: time.Now()}))
	got := h.waitStatus(lost.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 1, got.Attempts)
	require.NotNil(t, got.PublishedAt)

	f, err := h.store.LoadTask(context.Background(), fresh.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, f.Status, "the grace period keeps the sweep off a task ingest is publishing")
}
