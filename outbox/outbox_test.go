package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/outbox"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

var _ outbox.Store = (store.Store)(nil)

func TestMain(m *testing.M) { os.Exit(natstest.Main(m)) }

// countingStore records MarkPublished calls on top of a real store.
type countingStore struct {
	outbox.Store
	mu      sync.Mutex
	batches []int
}

func (c *countingStore) MarkPublished(ctx context.Context, ids []string, at time.Time) error {
	c.mu.Lock()
	c.batches = append(c.batches, len(ids))
	c.mu.Unlock()
	return c.Store.MarkPublished(ctx, ids, at)
}

func (c *countingStore) calls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

func newTenant(t testing.TB, st *postgres.Store) string {
	t.Helper()
	ten := &store.Tenant{
		ID:            store.NewID("ten"),
		Name:          "acme",
		Tier:          "pro",
		WebhookSecret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
		CreatedAt:     time.Now(),
	}
	require.NoError(t, st.CreateTenant(context.Background(), ten))
	return ten.ID
}

func newTask(tenantID string) *store.Task {
	return &store.Task{
		ID:          store.NewID("tsk"),
		TenantID:    tenantID,
		Agent:       "summarizer",
		Status:      store.StatusQueued,
		Input:       json.RawMessage(`{"text":"hello"}`),
		MaxAttempts: 3,
		Quality:     "standard",
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		CreatedAt:   time.Now(),
	}
}

// createTasks commits count tasks, several at a time.
func createTasks(t testing.TB, st *postgres.Store, tenantID string, count int) []*store.Task {
	t.Helper()
	tasks := make([]*store.Task, count)
	for i := range tasks {
		tasks[i] = newTask(tenantID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += 8 {
				if _, _, err := st.CreateTask(context.Background(), tasks[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return tasks
}

func streamMsgs(t testing.TB, js jetstream.JetStream, n events.Names) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), n.TasksStream())
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func unpublished(t testing.TB, st outbox.Store) int {
	t.Helper()
	ts, err := st.Unpublished(context.Background(), time.Now().Add(time.Hour), 1000)
	require.NoError(t, err)
	return len(ts)
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestSweepAfterCrashBetweenCommitAndPublish(t *testing.T) {
	t.Parallel()
	st := pgtest.New(t)
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	ctx := context.Background()
	ten := newTenant(t, st)

	// The process commits the row and dies before publishing.
	task := createTasks(t, st, ten, 1)[0]
	require.Zero(t, streamMsgs(t, js, n))

	// Tasks newer than 'before' are left alone: their relay may still be at work.
	got, err := outbox.Sweep(ctx, st, pub, task.CreatedAt.Add(-time.Second), 100)
	require.NoError(t, err)
	require.Zero(t, got)

	got, err = outbox.Sweep(ctx, st, pub, time.Now().Add(time.Second), 100)
	require.NoError(t, err)
	require.Equal(t, 1, got)
	require.EqualValues(t, 1, streamMsgs(t, js, n))

	s, err := js.Stream(ctx, n.TasksStream())
	require.NoError(t, err)
	m, err := s.GetLastMsgForSubject(ctx, n.TaskSubject(ten))
	require.NoError(t, err)
	require.Equal(t, task.ID, m.Header.Get(jetstream.MsgIDHeader))
	var body events.TaskMessage
	require.NoError(t, json.Unmarshal(m.Data, &body))
	require.Equal(t, task.ID, body.TaskID)

	loaded, err := st.LoadTask(ctx, task.ID)
	require.NoError(t, err)
	require.NotNil(t, loaded.PublishedAt)

	got, err = outbox.Sweep(ctx, st, pub, time.Now().Add(time.Second), 100)
	require.NoError(t, err)
	require.Zero(t, got, "second sweep")
	require.EqualValues(t, 1, streamMsgs(t, js, n))
}

func TestSweepAfterCrashBetweenPublishAndMark(t *testing.T) {
	t.Parallel()
	st := pgtest.New(t)
	js, n := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, n)
	ctx := context.Background()
	tasks := createTasks(t, st, newTenant(t, st), 3)
	// The publish got through but the process died before recording it.
	for _, task := range tasks {
		require.NoError(t, pub.PublishTask(ctx, task))
	}
	got, err := outbox.Sweep(ctx, st, pub, time.Now().Add(time.Second), 100)
	require.NoError(t, err)
	require.Equal(t, 3, got)
	require.EqualValues(t, 3, streamMsgs(t, js, n), "the republish was dropped as a duplicate")
	require.Zero(t, unpublished(t, st))
}

func TestSweepPublishFailure(t *testing.T) {
	t.Parallel()
	st := pgtest.New(t)
	js, _ := natstest.JetStream(t)
	pub := events.NewPublisher(js, natstest.Names(t)) // no streams: nothing acks
	createTasks(t, st, newTenant(t, st), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := outbox.Sweep(ctx, st, pub, time.Now().Add(time.Second), 100)
	require.Error(t, err)
	require.Zero(t, got)
	require.Equal(t, 2, unpublished(t, st), "failed publishes stay in the outbox")
}

func TestRelayMarksPublishedInBatches(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	st := &countingStore{Store: pg}
	js, n := natstest.Setup(t, nil)
	const count = 2000
	tasks := createTasks(t, pg, newTenant(t, pg), count)
	require.Equal(t, 1000, unpublished(t, pg)) // a full page: at most 1000 are listed

	r := outbox.NewRelay(st, events.NewPublisher(js, n), logger(t), nil)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Stop(context.Background())) })
	for _, task := range tasks {
		r.Enqueue(task)
	}
	require.Eventually(t, func() bool { return unpublished(t, pg) == 0 }, 30*time.Second, 20*time.Millisecond)
	require.EqualValues(t, count, streamMsgs(t, js, n))
	marked := 0
	for _, b := range st.calls() {
		require.LessOrEqual(t, b, outbox.DefaultBatchSize)
		marked += b
	}
	require.Equal(t, count, marked)
	require.Less(t, len(st.calls()), count/10, "ids are recorded in batches, not one by one")
	require.Zero(t, r.Pending())
}

func TestRelayStopFlushes(t *testing.T) {
	t.Parallel()
	st := pgtest.New(t)
	js, n := natstest.Setup(t, nil)
	tasks := createTasks(t, st, newTenant(t, st), 10)
	// A batch would wait an hour: only Stop can record it.
	r := outbox.NewRelay(st, events.NewPublisher(js, n), logger(t), &outbox.RelayOpts{FlushInterval: time.Hour})
	require.NoError(t, r.Start(context.Background()))
	for _, task := range tasks {
		r.Enqueue(task)
	}
	require.NoError(t, r.Stop(context.Background()))
	require.Zero(t, unpublished(t, st))
	require.EqualValues(t, 10, streamMsgs(t, js, n))
	require.NoError(t, r.Stop(context.Background()), "second Stop")

	// After Stop a task is left for the sweep.
	late := createTasks(t, st, tasks[0].TenantID, 1)[0]
	r.Enqueue(late)
	require.Equal(t, 1, unpublished(t, st))
	got, err := outbox.Sweep(context.Background(), st, events.NewPublisher(js, n), time.Now().Add(time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, 1, got)
	require.EqualValues(t, 11, streamMsgs(t, js, n))
}

func TestRelayFailedPublishLeftForSweep(t *testing.T) {
	t.Parallel()
	st := pgtest.New(t)
	js, _ := natstest.JetStream(t)
	n := natstest.Names(t) // streams not set up yet: publishes fail
	tasks := createTasks(t, st, newTenant(t, st), 3)
	r := outbox.NewRelay(st, events.NewPublisher(js, n), logger(t), nil)
	require.NoError(t, r.Start(context.Background()))
	for _, task := range tasks {
		r.Enqueue(task)
	}
	require.NoError(t, r.Stop(context.Background()))
	require.Equal(t, 3, unpublished(t, st))

	ctx := context.Background()
	require.NoError(t, events.Setup(ctx, js, n, nil))
	got, err := outbox.Sweep(ctx, st, events.NewPublisher(js, n), time.Now().Add(time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, 3, got)
	require.EqualValues(t, 3, streamMsgs(t, js, n))
}

func TestRelayBackpressure(t *testing.T) {
	t.Parallel()
	st := pgtest.New(t)
	js, n := natstest.Setup(t, nil)
	const count = 300
	tasks := createTasks(t, st, newTenant(t, st), count)
	// A bound far below the number of tasks: Enqueue waits instead of dropping.
	r := outbox.NewRelay(st, events.NewPublisher(js, n), logger(t), &outbox.RelayOpts{MaxPending: 4})
	require.NoError(t, r.Start(context.Background()))
	var peak int
	for _, task := range tasks {
		r.Enqueue(task)
		peak = max(peak, r.Pending())
	}
	require.LessOrEqual(t, peak, 4)
	require.NoError(t, r.Stop(context.Background()))
	require.Zero(t, unpublished(t, st))
	require.EqualValues(t, count, streamMsgs(t, js, n))
}

func TestRelayStartTwice(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	r := outbox.NewRelay(nil, events.NewPublisher(js, natstest.Names(t)), nil, nil)
	require.NoError(t, r.Start(context.Background()))
	require.Error(t, r.Start(context.Background()))
	require.NoError(t, r.Stop(context.Background()))
	require.Error(t, r.Start(context.Background()))
}

func BenchmarkRelay(b *testing.B) {
	st := pgtest.New(b)
	js, n := natstest.Setup(b, nil)
	ten := newTenant(b, st)
	tasks := make([]*store.Task, b.N)
	for i := range tasks {
		// Rows are not inserted: MarkPublished updates none, at the cost of a real batch.
		tasks[i] = newTask(ten)
		tasks[i].ID = fmt.Sprintf("tsk_bench_%09d", i)
	}
	r := outbox.NewRelay(st, events.NewPublisher(js, n), nil, nil)
	require.NoError(b, r.Start(context.Background()))
	b.ReportAllocs()
	b.ResetTimer()
	for _, task := range tasks {
		r.Enqueue(task)
	}
	require.NoError(b, r.Stop(context.Background()))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
