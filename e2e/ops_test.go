package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
)

// ticks are the ticks of job a scheduler's debug log says it fired.
func ticks(t *testing.T, p *proc, job string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for line := range strings.SplitSeq(p.output(), "\n") {
		var rec struct{ Msg, Job, Tick string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "tick" && rec.Job == job {
			out[rec.Tick] = true
		}
	}
	return out
}

// Two scheduler processes on one schedule (a backup every two seconds) both fire every tick;
// the worker takes one verified backup per tick — never two — and records each.
func TestSchedulerReplicasBackUpOncePerTick(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newCluster(t, "AGENTIC_BACKUP_SCHEDULE=*/2 * * * * *", "AGENTIC_CACHE_SWEEP_SCHEDULE=off",
		"AGENTIC_BACKUP_DIR="+dir)
	c.start("worker")
	a, b := c.start("scheduler"), c.start("scheduler")
	time.Sleep(7 * time.Second)
	require.Equal(t, 0, a.stop(syscall.SIGTERM, 10*time.Second))
	require.Equal(t, 0, b.stop(syscall.SIGTERM, 10*time.Second))

	fired := ticks(t, a, "backup")
	both := 0
	for tick := range ticks(t, b, "backup") {
		if fired[tick] {
			both++
		}
		fired[tick] = true
	}
	require.GreaterOrEqual(t, len(fired), 3, "ticks fired")
	require.Positive(t, both, "the replicas fired the same ticks")

	pool, err := postgres.Open(context.Background(), c.dsn())
	require.NoError(t, err)
	defer pool.Close()
	st := postgres.New(pool)
	var recs []*store.Backup
	require.Eventually(t, func() bool {
		recs, err = st.ListBackups(context.Background(), store.BackupFilter{Limit: 100})
		require.NoError(t, err)
		return len(recs) >= len(fired)
	}, 30*time.Second, 100*time.Millisecond, "one backup per tick")
	time.Sleep(time.Second) // nothing more comes
	recs, err = st.ListBackups(context.Background(), store.BackupFilter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, recs, len(fired), "one backup per tick, none twice")
	for _, r := range recs {
		require.Equal(t, store.BackupOK, r.Outcome, r.Error)
		require.Equal(t, "schedule", r.Trigger)
		_, err := backup.Verify(context.Background(), backup.Config{}, r.File, r.SHA256)
		require.NoError(t, err, r.File)
	}
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, files, len(fired))
	require.Equal(t, filepath.Base(recs[0].File), files[len(files)-1].Name())
}
