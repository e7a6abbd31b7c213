package schedule_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/schedule"
)

func TestMain(m *testing.M) { os.Exit(natstest.Main(m)) }

// Two scheduler replicas, each on its own connection, on one every-second schedule: a worker's
// ops router handles each tick exactly once, although both replicas fire every tick and
// the handler acknowledges (and the work queue deletes) a tick before the slower replica's
// copy arrives.
func TestTwoReplicasFireEachTickOnce(t *testing.T) {
	t.Parallel()
	js, names := natstest.Setup(t, nil)

	var mu sync.Mutex
	handled := map[time.Time]int{}
	router, err := events.NewOpsRouter(js, events.NewPublisher(js, names), events.OpsRouterConfig{
		Names: names,
		Handlers: map[string]message.NoPublishHandlerFunc{events.OpsCacheInvalidate: func(m *message.Message) error {
			ev, err := events.DecodeOpsEvent(m)
			if err != nil {
				return err
			}
			mu.Lock()
			handled[ev.Tick]++
			mu.Unlock()
			return nil
		}},
	})
	require.NoError(t, err)
	require.NoError(t, router.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, router.Stop(context.Background())) })

	var replicas []*schedule.Scheduler
	for range 2 {
		js, _ := natstest.JetStream(t)
		state, err := events.NewScheduleState(t.Context(), js, names)
		require.NoError(t, err)
		s, err := schedule.New(schedule.Config{
			Jobs:      []schedule.Job{{Name: "cache-sweep", Event: events.OpsCacheInvalidate, Spec: "* * * * * *"}},
			Publisher: events.NewPublisher(js, names).Watermill(),
			State:     state,
		})
		require.NoError(t, err)
		require.NoError(t, s.Start(t.Context()))
		replicas = append(replicas, s)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) >= 4
	}, 15*time.Second, 20*time.Millisecond)
	for _, s := range replicas {
		require.NoError(t, s.Stop(context.Background()))
		require.NoError(t, s.Stop(context.Background()), "Stop is idempotent")
	}
	time.Sleep(300 * time.Millisecond) // the last tick's copies reach the router

	mu.Lock()
	defer mu.Unlock()
	for tick, n := range handled {
		require.Equal(t, tick, tick.Truncate(time.Second), "ticks are nominal times")
		require.Equal(t, 1, n, "tick %s handled %d times", tick, n)
	}
}

// A scheduler down over three daily ticks fires the latest once when it starts; a replica
// starting after it fires nothing, since the tick is recorded; a first start fires nothing.
func TestMissedTickRunsOnceOnStart(t *testing.T) {
	t.Parallel()
	js, names := natstest.Setup(t, nil)
	state, err := events.NewScheduleState(t.Context(), js, names)
	require.NoError(t, err)
	pub := events.NewPublisher(js, names).Watermill()
	daily := schedule.Job{Name: "backup", Event: events.OpsBackupRequested, Spec: "0 2 * * *"}
	start := func(now time.Time) {
		t.Helper()
		s, err := schedule.New(schedule.Config{Jobs: []schedule.Job{daily}, Publisher: pub, State: state,
			Now: func() time.Time { return now }})
		require.NoError(t, err)
		require.NoError(t, s.Start(t.Context()))
		require.NoError(t, s.Stop(t.Context()))
	}
	stored := func() []events.OpsEvent {
		t.Helper()
		stream, err := js.Stream(t.Context(), names.OpsStream())
		require.NoError(t, err)
		info, err := stream.Info(t.Context())
		require.NoError(t, err)
		var evs []events.OpsEvent
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := stream.GetMsg(t.Context(), seq)
			require.NoError(t, err)
			ev, err := events.DecodeOpsEvent(message.NewMessage("x", m.Data))
			require.NoError(t, err)
			require.Equal(t, names.OpsSubject(events.OpsBackupRequested), m.Subject)
			evs = append(evs, ev)
		}
		return evs
	}

	// First start ever: nothing was missed, the latest tick is recorded.
	start(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	require.Empty(t, stored())
	last, ok, err := state.Last(t.Context(), "backup")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC), last)

	// Down from the 20th until the 23rd at 09:00: the ticks of the 21st, 22nd and 23rd were
	// missed, and the latest fires, once.
	start(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	evs := stored()
	require.Len(t, evs, 1)
	want := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	require.Equal(t, events.OpsEvent{Type: events.OpsBackupRequested, Job: "backup", Tick: want}, evs[0])
	last, _, err = state.Last(t.Context(), "backup")
	require.NoError(t, err)
	require.Equal(t, want, last)

	// Another replica starting later the same day, past the duplicate window: the tick is
	// recorded, so nothing fires.
	start(time.Date(2026, 11, 23, 11, 30, 0, 0, time.UTC))
	require.Len(t, stored(), 1)
}

// Record never moves a job's last tick back, whatever order replicas record in.
func TestScheduleStateKeepsTheLatestTick(t *testing.T) {
	t.Parallel()
	js, names := natstest.Setup(t, nil)
	state, err := events.NewScheduleState(t.Context(), js, names)
	require.NoError(t, err)
	base := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			require.NoError(t, state.Record(context.Background(), "job", base.Add(time.Duration(i)*time.Hour)))
		})
	}
	wg.Wait()
	last, ok, err := state.Last(t.Context(), "job")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, base.Add(19*time.Hour), last)
	require.NoError(t, state.Record(t.Context(), "job", base))
	last, _, err = state.Last(t.Context(), "job")
	require.NoError(t, err)
	require.Equal(t, base.Add(19*time.Hour), last)
}

func TestTickIsTheNominalTime(t *testing.T) {
	t.Parallel()
	p := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	parse := func(spec string) cron.Schedule {
		s, err := p.Parse(spec)
		require.NoError(t, err)
		return s
	}
	every10s, daily, weekly, never := parse("*/10 * * * * *"), parse("0 2 * * *"), parse("0 3 * * 0"), parse("0 0 30 2 *")
	base := time.Date(2026, 11, 25, 14, 0, 20, 0, time.UTC) // a Wednesday
	for _, tc := range []struct {
		name  string
		sched cron.Schedule
		now   time.Time
		want  time.Time
	}{
		{"on time", every10s, base, base},
		{"late by 400ms", every10s, base.Add(400 * time.Millisecond), base},
		{"late by 3s", every10s, base.Add(3 * time.Second), base},
		{"daily, late", daily, time.Date(2026, 11, 25, 2, 0, 1, 0, time.UTC), time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)},
		{"daily, before today's", daily, time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)},
		{"weekly", weekly, base, time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)},
		{"never", never, base, time.Time{}},
	} {
		require.Equal(t, tc.want, schedule.Tick(tc.sched, tc.now), tc.name)
	}
}

func TestBadJobsAreRefused(t *testing.T) {
	t.Parallel()
	var pub nopPublisher
	for _, tc := range []struct {
		name string
		jobs []schedule.Job
		want string
	}{
		{"bad spec", []schedule.Job{{Name: "reconcile", Event: events.OpsReconcile, Spec: "every tuesday"}}, "reconcile"},
		{"no event", []schedule.Job{{Name: "reconcile", Spec: "@hourly"}}, "reconcile"},
		{"twice", []schedule.Job{{Name: "a", Event: events.OpsReconcile, Spec: "@hourly"}, {Name: "a", Event: events.OpsReconcile, Spec: "@daily"}}, "twice"},
	} {
		_, err := schedule.New(schedule.Config{Jobs: tc.jobs, Publisher: pub})
		require.ErrorContains(t, err, tc.want, tc.name)
	}
}

type nopPublisher struct{}

func (nopPublisher) Publish(string, ...*message.Message) error { return nil }
func (nopPublisher) Close() error                              { return nil }
