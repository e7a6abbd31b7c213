package events_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
)

// BenchmarkRunner publishes b.N task messages, then measures consuming them with a no-op
// handler: pull, dispatch, outcome, ack.
func BenchmarkRunner(b *testing.B) {
	js, n := setupTasks(b, 0)
	publishTasks(b, js, n, b.N)
	var handled atomic.Int64
	all := make(chan struct{})
	total := int64(b.N)
	r, err := events.NewRunner(js, events.RunnerConfig{
		Stream: n.TasksStream(), Consumer: n.TaskConsumer("ten_a"), Concurrency: 64,
	}, func(context.Context, *events.Msg) error {
		if handled.Add(1) == total {
			close(all)
		}
		return nil
	})
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	require.NoError(b, r.Start(context.Background()))
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatal("not all messages handled")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	require.NoError(b, r.Stop(context.Background()))
}

// BenchmarkPublishTaskAsync measures publishing task messages with many in flight.
func BenchmarkPublishTaskAsync(b *testing.B) {
	js, n := natstest.Setup(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	publishTasks(b, js, n, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
