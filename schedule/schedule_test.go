package schedule_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/schedule"
)

func TestMain(m *testing.M) { os.Exit(natstest.Main(m)) }

// Two replicas on one schedule store each tick once.
func TestTwoReplicasFireEachTickOnce(t *testing.T) {
	t.Parallel()
	js, names := natstest.Setup(t, nil)
	pub := events.NewPublisher(js, names)
	var replicas []*schedule.Scheduler
	for range 2 {
		s, err := schedule.New(schedule.Config{Jobs: []schedule.Job{{Name: "reconcile", Spec: "* * * * * *"}}, Publisher: pub})
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		replicas = append(replicas, s)
	}
	stream, err := js.Stream(context.Background(), names.OpsStream())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := stream.Info(context.Background())
		require.NoError(t, err)
		return info.State.Msgs >= 3
	}, 10*time.Second, 20*time.Millisecond)
	for _, s := range replicas {
		require.NoError(t, s.Stop(context.Background()))
		require.NoError(t, s.Stop(context.Background()), "Stop is idempotent")
	}

	// Every stored tick is distinct and on a whole second: no tick was stored twice.
	info, err := stream.Info(context.Background())
	require.NoError(t, err)
	seen := map[time.Time]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(context.Background(), seq)
		require.NoError(t, err)
		var ev events.OpsEvent
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		require.Equal(t, "reconcile", ev.Job)
		require.Equal(t, ev.Tick, ev.Tick.Truncate(time.Second))
		require.False(t, seen[ev.Tick], "tick %s stored twice", ev.Tick)
		seen[ev.Tick] = true
	}
	require.Len(t, seen, int(info.State.Msgs))
}

func TestTickIsTheNominalTime(t *testing.T) {
	t.Parallel()
	every10s, err := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor).Parse("*/10 * * * * *")
	require.NoError(t, err)
	daily, err := cron.ParseStandard("0 2 * * *")
	require.NoError(t, err)
	base := time.Date(2026, 11, 25, 14, 0, 20, 0, time.UTC)
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
	} {
		require.Equal(t, tc.want, schedule.Tick(tc.sched, tc.now), tc.name)
	}
}

func TestBadSpecIsRefused(t *testing.T) {
	t.Parallel()
	_, err := schedule.New(schedule.Config{Jobs: []schedule.Job{{Name: "reconcile", Spec: "every tuesday"}}, Publisher: nopPublisher{}})
	require.ErrorContains(t, err, "reconcile")
}

type nopPublisher struct{}

func (nopPublisher) PublishOps(context.Context, events.OpsEvent) error { return nil }
