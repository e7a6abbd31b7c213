package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/overlap"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// slotsFor gives a worker its own Redis connection to the tenants' shared semaphores.
func (h *harness) slotsFor(prefix string) *handlers.Slots {
	rc, _ := redistest.Client(h.t)
	return &handlers.Slots{Semaphore: limits.NewRedisSemaphore(rc, prefix), Tiers: limits.DefaultTiers(),
		Tenants: h.store, Lease: h.ack}
}

// A basic tenant's tasks never run more than 3 at once across two workers with 8 handlers
// each, and waiting for a slot charges no attempt.
func TestBasicTenantRunsAtMostThreeAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	_, err := h.store.UpdateTenant(context.Background(), h.tenant.ID, store.TenantPatch{Tier: ptr("basic")})
	require.NoError(t, err)
	_, prefix := redistest.Client(t)
	for range 2 {
		cfg := h.tasksConfig(llm.SimConfig{Latency: 150 * time.Millisecond}, 5*time.Second)
		h.runTasks(cfg, time.Second, h.slotsFor(prefix))
	}
	var ids []string
	for range 12 {
		ids = append(ids, h.submit("summarizer", `{"text":"slots"}`).ID)
	}
	var done []*store.Task
	for _, id := range ids {
		tk := h.waitStatus(id, store.StatusSucceeded, 30*time.Second)
		require.Equal(t, 1, tk.Attempts, "waiting for a slot charged an attempt of %s", id)
		done = append(done, tk)
	}
	require.Equal(t, 3, overlap.Max(done, ranFor), "at most 3 at once, and 3 were used")
	// Slots are taken before a task is fetched: none was fetched and put back.
	c, err := h.js.Consumer(context.Background(), h.names.TasksStream(), h.names.TaskConsumer(h.tenant.ID))
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, len(ids), info.Delivered.Consumer, "deliveries of %d tasks", len(ids))
}

// Slots held by a worker that died (leases never renewed) come back when their leases end:
// the tenant's next task waits for that, then runs.
func TestDeadWorkersSlotsComeBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	_, err := h.store.UpdateTenant(context.Background(), h.tenant.ID, store.TenantPatch{Tier: ptr("basic")})
	require.NoError(t, err)
	rc, prefix := redistest.Client(t)
	dead := limits.NewRedisSemaphore(rc, prefix)
	const lease = 1500 * time.Millisecond
	held := time.Now()
	for _, holder := range []string{"tsk_a#1", "tsk_b#1", "tsk_c#1"} {
		ok, err := dead.Acquire(context.Background(), h.tenant.ID+":running", holder, 3, lease)
		require.NoError(t, err)
		require.True(t, ok)
	}
	cfg := h.tasksConfig(llm.SimConfig{Latency: time.Millisecond}, 5*time.Second)
	h.runTasks(cfg, time.Second, h.slotsFor(prefix))

	tk := h.waitStatus(h.submit("summarizer", `{"text":"after the crash"}`).ID, store.StatusSucceeded, 10*time.Second)
	require.True(t, tk.StartedAt.After(held.Add(lease-100*time.Millisecond)),
		"started %s after the dead worker's slots were taken, before their leases ended", tk.StartedAt.Sub(held))
	require.Less(t, tk.FinishedAt.Sub(held), lease+2*time.Second, "the slots came back within the lease")
	require.Equal(t, 1, tk.Attempts)
}

// ranFor is a task's run: from its start to its end.
func ranFor(t *store.Task) (time.Time, time.Time) { return *t.StartedAt, *t.FinishedAt }

func ptr[T any](v T) *T { return &v }
