package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/promtest"
	"github.com/agentic-run/agentic/internal/s3test"
	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/telemetry"
)

// The scheduled backup, end to end on real engines: the ops event reaches the worker's router,
// pg_dump writes a verified backup of the harness's schema, it is uploaded to an S3-compatible
// server (versitygw) and checked there, recorded in the database and in the metrics, and the
// backups past the 7-day retention are deleted — the newer ones kept.
func TestScheduledBackupIsVerifiedUploadedRecordedAndPruned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	h.insert("echo", `{"n":1}`)
	dir := t.TempDir()
	now := time.Now().UTC()
	old, recent := backup.Name(now.Add(-8*24*time.Hour), 1), backup.Name(now.Add(-2*24*time.Hour), 1)
	for _, name := range []string{old, recent} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("an older backup"), 0o600))
	}
	endpoint, access, secret, bucket := s3test.Start(t)
	s3, err := backup.NewS3(backup.S3Config{Endpoint: endpoint, Region: s3test.Region, Bucket: bucket, Prefix: "agentic/",
		AccessKeyID: access, SecretAccessKey: secret})
	require.NoError(t, err)
	metrics, err := telemetry.NewMetrics()
	require.NoError(t, err)
	url := h.pool.Config().ConnString()
	backups, err := handlers.NewBackups(context.Background(), handlers.BackupsConfig{
		Take: func(ctx context.Context) (*backup.Result, error) {
			return backup.Run(ctx, backup.Config{DatabaseURL: url, Dir: dir})
		},
		Dir:   dir,
		S3:    s3,
		Store: h.store,
		Meter: metrics.Meter("github.com/agentic-run/agentic/handlers"),
	})
	require.NoError(t, err)
	ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub, Backups: backups})
	require.NoError(t, err)
	h.runOps(ops)

	require.NoError(t, h.pub.PublishOps(context.Background(), events.OpsEvent{Type: events.OpsBackupRequested, Job: "backup", Tick: now}))
	// Handled and acknowledged (after the record and the pruning): the work queue holds it no
	// more.
	require.Eventually(t, func() bool { return streamCount(t, h, h.names.OpsStream()) == 0 },
		60*time.Second, 50*time.Millisecond)
	got, err := h.store.ListBackups(context.Background(), store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	rec := got[0]
	require.Equal(t, store.BackupOK, rec.Outcome, rec.Error)
	require.Equal(t, handlers.TriggerSchedule, rec.Trigger)
	require.Equal(t, dir, filepath.Dir(rec.File))
	require.Positive(t, rec.Size)
	require.Positive(t, rec.Entries)
	require.Equal(t, "agentic/"+filepath.Base(rec.File), rec.S3Key)

	// The file is what was recorded, and restorable; so is the copy in the bucket.
	entries, err := backup.Verify(context.Background(), backup.Config{}, rec.File, rec.SHA256)
	require.NoError(t, err)
	require.Equal(t, rec.Entries, entries)
	res := &backup.Result{File: rec.File, Size: rec.Size, SHA256: rec.SHA256}
	require.NoError(t, s3.Check(context.Background(), rec.S3Key, res))

	// Retention: the 8-day-old backup is gone, the 2-day-old one stays.
	require.NoFileExists(t, filepath.Join(dir, old))
	require.FileExists(t, filepath.Join(dir, recent))

	require.EqualValues(t, rec.FinishedAt.Unix(), promtest.Scrape(t, metrics.Handler(), "agentic_backup_last_success_timestamp_seconds"))
	require.EqualValues(t, rec.Size, promtest.Scrape(t, metrics.Handler(), "agentic_backup_size_bytes"))
	require.EqualValues(t, 1, promtest.Scrape(t, metrics.Handler(), "agentic_backup_runs_total", `trigger="schedule"`, `outcome="ok"`))
	_, found := promtest.Sum(scrapeText(t, metrics), "agentic_backup_failures_total")
	require.False(t, found, "no failure counted")

	// A new process reads the last good backup from the database.
	metrics2, err := telemetry.NewMetrics()
	require.NoError(t, err)
	_, err = handlers.NewBackups(context.Background(), handlers.BackupsConfig{Take: func(context.Context) (*backup.Result, error) { return nil, nil },
		Dir: dir, Store: h.store, Meter: metrics2.Meter("x")})
	require.NoError(t, err)
	require.EqualValues(t, rec.FinishedAt.Unix(), promtest.Scrape(t, metrics2.Handler(), "agentic_backup_last_success_timestamp_seconds"))
}

// A backup that fails is a failed run in the database, an error log line naming the step and
// a count in agentic_backup_failures_total (what the AgenticBackupFailed alert watches); the
// router retries it, then dead-letters the event. Nothing is left in the directory.
func TestFailedBackupIsRecordedLoggedAndCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	dir := t.TempDir()
	metrics, err := telemetry.NewMetrics()
	require.NoError(t, err)
	var logs syncbuf.Buffer
	backups, err := handlers.NewBackups(context.Background(), handlers.BackupsConfig{
		Take: func(ctx context.Context) (*backup.Result, error) {
			return backup.Run(ctx, backup.Config{DatabaseURL: "postgres://postgres@127.0.0.1:5432/agentic_no_such_db", Dir: dir})
		},
		Dir:    dir,
		Store:  h.store,
		Meter:  metrics.Meter("github.com/agentic-run/agentic/handlers"),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	require.NoError(t, err)
	ops, err := handlers.NewOps(handlers.OpsConfig{Store: h.store, Publisher: h.pub, Backups: backups})
	require.NoError(t, err)
	r, err := events.NewOpsRouter(h.js, h.pub, events.OpsRouterConfig{Names: h.names, Handlers: ops.Handlers(),
		Retries: 1, RetryInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })

	require.NoError(t, h.pub.PublishOps(context.Background(), events.OpsEvent{Type: events.OpsBackupRequested, Job: "backup", Tick: time.Now()}))
	require.Eventually(t, func() bool {
		return promtest.Scrape(t, metrics.Handler(), "agentic_backup_failures_total", `step="take"`) == 2
	}, 30*time.Second, 20*time.Millisecond, "one run and one retry")
	got, err := h.store.ListBackups(context.Background(), store.BackupFilter{Outcome: store.BackupFailed})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Contains(t, got[0].Error, "agentic_no_such_db")
	require.Empty(t, got[0].File)
	require.Contains(t, logs.String(), `"msg":"backup failed"`)
	require.Contains(t, logs.String(), `"step":"take"`)
	require.EqualValues(t, 2, promtest.Scrape(t, metrics.Handler(), "agentic_backup_runs_total", `outcome="failed"`))
	_, found := promtest.Sum(scrapeText(t, metrics), "agentic_backup_last_success_timestamp_seconds")
	require.False(t, found, "no good backup is known")
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "a failed dump leaves nothing behind")
	require.Eventually(t, func() bool {
		return streamCount(t, h, h.names.DLQStream()) == 1
	}, 10*time.Second, 20*time.Millisecond, "the event is dead-lettered after the retries")
}

// A backup that cannot be uploaded is kept locally but counts as a failure: the point of the
// bucket is a copy off the machine.
func TestBackupThatCannotBeUploadedFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	dir := t.TempDir()
	endpoint, access, _, bucket := s3test.Start(t)
	s3, err := backup.NewS3(backup.S3Config{Endpoint: endpoint, Region: s3test.Region, Bucket: bucket,
		AccessKeyID: access, SecretAccessKey: "wrong-secret"})
	require.NoError(t, err)
	url := h.pool.Config().ConnString()
	backups, err := handlers.NewBackups(context.Background(), handlers.BackupsConfig{
		Take: func(ctx context.Context) (*backup.Result, error) {
			return backup.Run(ctx, backup.Config{DatabaseURL: url, Dir: dir})
		},
		Dir:   dir,
		S3:    s3,
		Store: h.store,
	})
	require.NoError(t, err)
	rec, err := backups.Run(context.Background(), handlers.TriggerManual)
	require.ErrorContains(t, err, "upload")
	require.NotContains(t, err.Error(), "wrong-secret")
	require.Equal(t, store.BackupFailed, rec.Outcome)
	require.FileExists(t, rec.File, "the verified local backup is kept")
	got, err := h.store.ListBackups(context.Background(), store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, handlers.TriggerManual, got[0].Trigger)
	require.Contains(t, got[0].Error, "upload")
}

// scrapeText is the metrics' exposition text.
func scrapeText(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// streamCount is how many messages the stream holds.
func streamCount(t *testing.T, h *harness, stream string) uint64 {
	t.Helper()
	s, err := h.js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}
