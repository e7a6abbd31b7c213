package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store"
)

// testLogger writes the Runner's logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// setupTasks sets up a test's streams and the durable consumer of newTask's tenant, which
// the single-consumer Runner tests read, redelivering after ackWait (0: the default).
func setupTasks(t testing.TB, ackWait time.Duration) (jetstream.JetStream, events.Names) {
	t.Helper()
	js, n := natstest.Setup(t, nil)
	if ackWait == 0 {
		ackWait = events.DefaultAckWait
	}
	_, err := js.CreateOrUpdateConsumer(context.Background(), n.TasksStream(),
		events.TaskConsumerConfig(n, newTask("").TenantID, ackWait, time.Hour))
	require.NoError(t, err)
	return js, n
}

// startRunner starts a Runner on the consumer setupTasks made; it is stopped when the test
// ends.
func startRunner(t testing.TB, js jetstream.JetStream, n events.Names, cfg events.RunnerConfig, h events.Handler) *events.Runner {
	t.Helper()
	cfg.Stream, cfg.Consumer = n.TasksStream(), n.TaskConsumer(newTask("").TenantID)
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(uint64) time.Duration { return 10 * time.Millisecond }
	}
	r, err := events.NewRunner(js, cfg, h)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

func publishTasks(t testing.TB, js jetstream.JetStream, n events.Names, count int) {
	t.Helper()
	tasks := make([]*store.Task, count)
	for i := range tasks {
		tasks[i] = newTask(fmt.Sprintf("tsk_%06d", i))
	}
	publishAll(t, js, n, tasks)
}

// publishAll stores the tasks' messages, many in flight, and waits for every ack; it sends
// no wake notices.
func publishAll(t testing.TB, js jetstream.JetStream, n events.Names, tasks []*store.Task) {
	t.Helper()
	pub := events.NewPublisher(js, n)
	futures := make([]jetstream.PubAckFuture, 0, len(tasks))
	for _, task := range tasks {
		f, err := pub.PublishTaskAsync(task)
		require.NoError(t, err)
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("publish ack timed out")
		}
	}
}

type delivery struct {
	id string
	n  uint64
	at time.Time
}

func taskID(m *events.Msg) string { return m.Header.Get(jetstream.MsgIDHeader) }

func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		var zero T
		t.Fatalf("nothing within %s", d)
		return zero
	}
}

// requireNone fails if ch yields anything within d (used to prove the absence of a
// redelivery, which has no event to wait on).
func requireNone[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %v", v)
	case <-time.After(d):
	}
}

func consumerInfo(t *testing.T, js jetstream.JetStream, n events.Names) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), n.TasksStream(), n.TaskConsumer(newTask("").TenantID))
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	return info
}

func TestRunnerAckRemovesFromQueue(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 3)
	got := make(chan delivery, 10)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 2}, func(_ context.Context, m *events.Msg) error {
		got <- delivery{id: taskID(m), n: m.NumDelivered, at: m.Published}
		return nil
	})
	seen := map[string]bool{}
	for range 3 {
		d := waitFor(t, got, 10*time.Second)
		require.EqualValues(t, 1, d.n)
		require.WithinDuration(t, time.Now(), d.at, time.Minute)
		seen[d.id] = true
	}
	require.Len(t, seen, 3)
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
}

func TestRunnerPlainErrorRedelivers(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 1)
	got := make(chan delivery, 10)
	var backoffFor atomic.Uint64
	startRunner(t, js, n, events.RunnerConfig{
		Concurrency: 1,
		Backoff: func(nd uint64) time.Duration {
			backoffFor.Store(nd)
			return 20 * time.Millisecond
		},
	}, func(_ context.Context, m *events.Msg) error {
		got <- delivery{id: taskID(m), n: m.NumDelivered}
		if m.NumDelivered == 1 {
			return errors.New("transient")
		}
		return nil
	})
	require.EqualValues(t, 1, waitFor(t, got, 10*time.Second).n)
	d := waitFor(t, got, 10*time.Second)
	require.EqualValues(t, 2, d.n)
	require.Equal(t, "tsk_000000", d.id)
	require.EqualValues(t, 1, backoffFor.Load())
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
}

func TestRunnerRetryAfter(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 1)
	got := make(chan delivery, 10)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 1}, func(_ context.Context, m *events.Msg) error {
		got <- delivery{n: m.NumDelivered, at: time.Now()}
		if m.NumDelivered == 1 {
			return events.RetryAfter(errors.New("rate limited"), 300*time.Millisecond)
		}
		return nil
	})
	first := waitFor(t, got, 10*time.Second)
	second := waitFor(t, got, 10*time.Second)
	require.EqualValues(t, 2, second.n)
	require.GreaterOrEqual(t, second.at.Sub(first.at), 300*time.Millisecond)
}

func TestRunnerCancelTerminates(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, time.Second)
	publishTasks(t, js, n, 1)
	got := make(chan delivery, 10)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 1}, func(_ context.Context, m *events.Msg) error {
		got <- delivery{n: m.NumDelivered}
		return events.Cancel(errors.New("bad input"))
	})
	require.EqualValues(t, 1, waitFor(t, got, 10*time.Second).n)
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
	// Longer than AckWait and the backoff: a redelivery would have come by now.
	requireNone(t, got, 1500*time.Millisecond)
	info := consumerInfo(t, js, n)
	require.Zero(t, info.NumAckPending)
	require.Zero(t, info.NumPending)
}

func TestRunnerSnoozeDelay(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 1)
	got := make(chan delivery, 10)
	const snooze = 500 * time.Millisecond
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 1}, func(_ context.Context, m *events.Msg) error {
		got <- delivery{n: m.NumDelivered, at: time.Now()}
		if m.NumDelivered == 1 {
			return events.Snooze(snooze)
		}
		return nil
	})
	first := waitFor(t, got, 10*time.Second)
	second := waitFor(t, got, 10*time.Second)
	require.EqualValues(t, 2, second.n)
	gap := second.at.Sub(first.at)
	require.GreaterOrEqual(t, gap, snooze)
	require.Less(t, gap, snooze+5*time.Second)
}

func TestRunnerHeartbeatPreventsRedelivery(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, time.Second)
	publishTasks(t, js, n, 1)
	var calls atomic.Int32
	done := make(chan uint64, 10)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 2}, func(ctx context.Context, m *events.Msg) error {
		calls.Add(1)
		select {
		case <-time.After(3 * time.Second): // three times AckWait
		case <-ctx.Done():
			return ctx.Err()
		}
		done <- m.NumDelivered
		return nil
	})
	require.EqualValues(t, 1, waitFor(t, done, 15*time.Second))
	require.EqualValues(t, 1, calls.Load(), "redelivered while the handler ran")
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
	requireNone(t, done, 1500*time.Millisecond)
	require.EqualValues(t, 1, calls.Load())
}

func TestRunnerConcurrencyBound(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	const total, limit = 60, 4
	publishTasks(t, js, n, total)
	var running, peak, handled atomic.Int32
	all := make(chan struct{})
	startRunner(t, js, n, events.RunnerConfig{Concurrency: limit}, func(_ context.Context, _ *events.Msg) error {
		cur := running.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // simulated work, so handlers overlap
		running.Add(-1)
		if handled.Add(1) == total {
			close(all)
		}
		return nil
	})
	waitFor(t, all, 30*time.Second)
	require.LessOrEqual(t, peak.Load(), int32(limit))
	require.Equal(t, int32(limit), peak.Load(), "the pool should have been used fully")
}

func TestRunnerStopWithinDrainTimeoutAcks(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 1)
	started := make(chan struct{})
	var ctxErr atomic.Value
	r := startRunner(t, js, n, events.RunnerConfig{Concurrency: 1, DrainTimeout: 10 * time.Second}, func(ctx context.Context, _ *events.Msg) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		ctxErr.Store(fmt.Sprint(ctx.Err()))
		return nil
	})
	waitFor(t, started, 10*time.Second)
	begin := time.Now()
	require.NoError(t, r.Stop(context.Background()))
	require.Less(t, time.Since(begin), 5*time.Second)
	require.Equal(t, "<nil>", ctxErr.Load(), "the handler's context was cancelled within the drain timeout")
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, r.Stop(context.Background()), "second Stop")
}

func TestRunnerStopBeyondDrainTimeoutCancels(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 1)
	started := make(chan struct{})
	cause := make(chan error, 1)
	r := startRunner(t, js, n, events.RunnerConfig{Concurrency: 1, DrainTimeout: 200 * time.Millisecond}, func(ctx context.Context, _ *events.Msg) error {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return events.Snooze(50 * time.Millisecond)
	})
	waitFor(t, started, 10*time.Second)
	begin := time.Now()
	// Several concurrent Stops all wait for the end.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, r.Stop(context.Background()))
		}()
	}
	wg.Wait()
	require.GreaterOrEqual(t, time.Since(begin), 200*time.Millisecond)
	require.ErrorIs(t, waitFor(t, cause, time.Second), events.ErrShutdown)
	// The snooze applied: the message is back on the stream and another runner gets it.
	require.EqualValues(t, 1, streamMsgs(t, js, n.TasksStream()))
	got := make(chan uint64, 1)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 1}, func(_ context.Context, m *events.Msg) error {
		got <- m.NumDelivered
		return nil
	})
	require.EqualValues(t, 2, waitFor(t, got, 10*time.Second))
}

func TestRunnerStopRequeuesBuffered(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0) // AckWait 30s: a redelivery within 10s is a requeue
	publishTasks(t, js, n, 20)
	started := make(chan struct{}, 20)
	var handled atomic.Int32
	r := startRunner(t, js, n, events.RunnerConfig{Concurrency: 1, PullMaxMessages: 10, DrainTimeout: 100 * time.Millisecond},
		func(ctx context.Context, _ *events.Msg) error {
			handled.Add(1)
			started <- struct{}{}
			<-ctx.Done() // runs until Stop cancels it
			return nil
		})
	waitFor(t, started, 10*time.Second)
	require.NoError(t, r.Stop(context.Background()))
	require.EqualValues(t, 1, handled.Load(), "no new message starts after Stop")
	// The buffered ones are back for the next consumer at once, not after AckWait.
	var rest atomic.Int32
	all := make(chan struct{})
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 4}, func(context.Context, *events.Msg) error {
		if rest.Add(1) == 19 {
			close(all)
		}
		return nil
	})
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		ci := consumerInfo(t, js, n)
		t.Fatalf("requeued: got %d of 19; ackpending %d pending %d redelivered %d", rest.Load(), ci.NumAckPending, ci.NumPending, ci.NumRedelivered)
	}
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
}

func TestRunnerStopBeforeStart(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	r, err := events.NewRunner(js, events.RunnerConfig{Stream: n.TasksStream(), Consumer: n.TaskConsumer("ten_a")},
		func(context.Context, *events.Msg) error { return nil })
	require.NoError(t, err)
	require.NoError(t, r.Stop(context.Background()))
	require.NoError(t, r.Stop(context.Background()))
	require.ErrorIs(t, r.Start(context.Background()), events.ErrStopped)
}

func TestRunnerPanicRedelivers(t *testing.T) {
	t.Parallel()
	js, n := setupTasks(t, 0)
	publishTasks(t, js, n, 1)
	got := make(chan uint64, 10)
	startRunner(t, js, n, events.RunnerConfig{Concurrency: 1}, func(_ context.Context, m *events.Msg) error {
		got <- m.NumDelivered
		if m.NumDelivered == 1 {
			panic("boom")
		}
		return nil
	})
	require.EqualValues(t, 1, waitFor(t, got, 10*time.Second))
	require.EqualValues(t, 2, waitFor(t, got, 10*time.Second))
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 10*time.Second, 10*time.Millisecond)
}

func TestRunnerStartMissingConsumer(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	n := natstest.Names(t)
	r, err := events.NewRunner(js, events.RunnerConfig{Stream: n.TasksStream(), Consumer: n.TaskConsumer("ten_a")},
		func(context.Context, *events.Msg) error { return nil })
	require.NoError(t, err)
	require.ErrorIs(t, r.Start(context.Background()), events.ErrNotSetUp)
}

func TestNewRunnerValidates(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	h := func(context.Context, *events.Msg) error { return nil }
	_, err := events.NewRunner(js, events.RunnerConfig{}, h)
	require.ErrorIs(t, err, events.ErrInvalid)
	_, err = events.NewRunner(js, events.RunnerConfig{Stream: "S", Consumer: "c"}, nil)
	require.ErrorIs(t, err, events.ErrInvalid)
	_, err = events.NewRunner(js, events.RunnerConfig{Stream: "S", Consumer: "c", Concurrency: -1}, h)
	require.ErrorIs(t, err, events.ErrInvalid)
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n        uint64
		interval time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {1000, 5 * time.Minute}} {
		for range 20 {
			d := events.DefaultBackoff(tc.n)
			require.GreaterOrEqual(t, d, tc.interval/2, "delivery %d", tc.n)
			require.LessOrEqual(t, d, tc.interval*3/2+time.Nanosecond, "delivery %d", tc.n)
		}
	}
}

func TestOutcomeErrors(t *testing.T) {
	t.Parallel()
	base := errors.New("x")
	require.ErrorIs(t, events.Cancel(base), base)
	require.ErrorIs(t, events.RetryAfter(base, time.Second), base)
	require.Equal(t, "snoozed", events.Snooze(time.Second).Error())
	// A wrapped outcome still counts.
	require.ErrorIs(t, fmt.Errorf("ctx: %w", events.Cancel(base)), base)
}
