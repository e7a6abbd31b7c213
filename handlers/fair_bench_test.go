package handlers_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// BenchmarkFairStartWait is the fairness scenario of README's Performance: an enterprise
// tenant keeps a backlog of tasks queued in front of a worker with 64 handlers (its limit is
// 50 at once), and a basic tenant submits one task at a time, each after the last finished. It reports how long the basic
// tenant's task waits from its publish to its start (the worker's StartTask), p50 and p99;
// in global FIFO order it would wait for the whole backlog. Every model call takes 200 ms.
// Run with -benchtime 200x for a p99 of 200 samples.
//
// The wait depends on the backlog's size only if dispatch is unfair.
//
// With handlers=32 the enterprise tenant could use more handlers than the worker has, so
// every handler is busy with its tasks: the basic tenant's task takes the next one freed,
// which may be a whole model call (200 ms) away, since the sim's calls all take as long and
// the enterprise tasks start and end in waves. No dispatcher can do better without
// preempting a task; what matters is that the wait does not grow with the backlog.
func BenchmarkFairStartWait(b *testing.B) {
	for _, handlers := range []int{64, 32} {
		for _, backlog := range []int{2_000, 20_000} {
			b.Run(fmt.Sprintf("handlers=%d/backlog=%d", handlers, backlog), func(b *testing.B) {
				benchFairStartWait(b, handlers, backlog)
			})
		}
	}
}

func benchFairStartWait(b *testing.B, concurrency, backlog int) {
	h := newHarness(b, 30*time.Second)
	ctx := context.Background()
	big := &store.Tenant{ID: store.NewID("ten"), Name: "big", Tier: "enterprise",
		WebhookSecret: h.tenant.WebhookSecret, CreatedAt: time.Now()}
	require.NoError(b, h.store.CreateTenant(ctx, big))
	_, err := h.store.UpdateTenant(ctx, h.tenant.ID, store.TenantPatch{Tier: ptr("basic")})
	require.NoError(b, err)

	// Keep the enterprise tenant's backlog full while the benchmark runs.
	bigSubject := h.names.TaskSubject(big.ID)
	topUp := func() {
		queued := int(h.streamMessages(h.names.TasksStream(), bigSubject))
		var futures []jetstream.PubAckFuture
		for range backlog - queued {
			t := h.insert("summarizer", `{"text":"backlog"}`, func(t *store.Task) { t.TenantID = big.ID })
			f, err := h.pub.PublishTaskAsync(t)
			require.NoError(b, err)
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
		if len(futures) > 0 {
			h.pub.Wake(big.ID)
		}
	}
	topUp()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				topUp()
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	rc, prefix := redistest.Client(b)
	tenants := &handlers.TenantCache{Store: h.store}
	slots := &handlers.Slots{Semaphore: limits.NewRedisSemaphore(rc, prefix), Tiers: limits.DefaultTiers(),
		Tenants: tenants, Lease: 30 * time.Second}
	tasks, err := handlers.NewTasks(h.tasksConfig(llm.SimConfig{Latency: 200 * time.Millisecond}, 30*time.Second))
	require.NoError(b, err)
	h.start(events.RunnerConfig{Concurrency: concurrency, Fair: &events.FairConfig{
		Names: h.names, Share: slots.Share, Admit: slots, AckWait: 30 * time.Second}}, time.Second, tasks.Handle)
	time.Sleep(time.Second) // the enterprise tenant fills its slots

	waits := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := h.insert("summarizer", `{"text":"small"}`)
		sent := time.Now()
		require.NoError(b, h.pub.PublishTask(ctx, t))
		var startedAt time.Time
		require.Eventually(b, func() bool {
			got, err := h.store.LoadTask(ctx, t.ID)
			require.NoError(b, err)
			if got.StartedAt == nil {
				return false
			}
			startedAt = *got.StartedAt
			return true
		}, 30*time.Second, time.Millisecond)
		waits = append(waits, startedAt.Sub(sent))

		// One of its tasks at a time: its own limit of 3 never holds it back.
		h.waitStatus(t.ID, store.StatusSucceeded, 30*time.Second)
	}
	b.StopTimer()
	queued := h.streamMessages(h.names.TasksStream(), bigSubject)
	slices.Sort(waits)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(waits[len(waits)/2]), "p50-start-ms")
	b.ReportMetric(ms(waits[min(len(waits)-1, len(waits)*99/100)]), "p99-start-ms")
	b.ReportMetric(ms(waits[len(waits)-1]), "max-start-ms")
	b.ReportMetric(float64(queued), "backlog-at-end")
}
