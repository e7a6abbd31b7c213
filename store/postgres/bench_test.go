package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// BenchmarkTaskLifecycle runs what the platform does to the database per task — submit,
// start, heartbeat, finish, one delivery record — from many goroutines at once, as ingest
// and a busy worker do, over 8 tenants. One op is one whole task.
func BenchmarkTaskLifecycle(b *testing.B) {
	s := pgtest.New(b)
	ctx := context.Background()
	var tenants []string
	for range 8 {
		tenants = append(tenants, createTenant(b, s, "pro").ID)
	}
	b.SetParallelism(32) // 64 goroutines on 2 CPUs
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			now := time.Now()
			t := &store.Task{ID: store.NewID("tsk"), TenantID: tenants[i%len(tenants)], Agent: "echo",
				Input: json.RawMessage(`{"text":"hello"}`), MaxAttempts: 3, CreatedAt: now}
			if _, _, err := s.CreateTask(ctx, t); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.StartTask(ctx, t.ID, now, now.Add(time.Minute)); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Heartbeat(ctx, t.ID, now.Add(2*time.Minute)); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := s.FinishTask(ctx, t.ID, store.Result{Status: store.StatusSucceeded,
				Output: json.RawMessage(`{"text":"hello"}`), FinishedAt: time.Now()}); err != nil {
				b.Error(err)
				return
			}
			if err := s.RecordDelivery(ctx, &store.Delivery{ID: store.NewID("dlv"), TenantID: t.TenantID, TaskID: t.ID,
				WebhookID: "evt_" + t.ID, EventType: "task.succeeded", URL: "https://example.com", Attempt: 1,
				Succeeded: true, Final: true, CreatedAt: time.Now()}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
