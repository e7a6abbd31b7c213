package platform

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The limits' settings: defaults, a tiers file, and one-line errors naming the variable.
func TestLimitsConfig(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	c, err := FromEnv(getenv)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"requests": true, "executions": true, "concurrency": true}, c.FailOpen)
	require.Equal(t, 10, c.Tiers["free"].RequestsPerMinute)

	env["AGENTIC_FAIL_OPEN"] = "none"
	c, err = FromEnv(getenv)
	require.NoError(t, err)
	require.Empty(t, c.FailOpen)

	env["AGENTIC_FAIL_OPEN"] = "requests,budget"
	_, err = FromEnv(getenv)
	require.EqualError(t, err, `AGENTIC_FAIL_OPEN: "budget" is not a limit: use a comma-separated list of requests, executions, concurrency, budgets, or none`)
	delete(env, "AGENTIC_FAIL_OPEN")

	path := filepath.Join(t.TempDir(), "tiers.yaml")
	require.NoError(t, os.WriteFile(path, []byte("free: {requests_per_minute: 1, executions_per_hour: 1, concurrent: 1}\n"), 0o600))
	env["AGENTIC_TIERS_FILE"] = path
	_, err = FromEnv(getenv)
	require.EqualError(t, err, `AGENTIC_TIERS_FILE: tiers: tier "basic" is missing`)
}

// The scheduler's jobs, backups and worker queues: defaults, and one line naming the
// variable for each mistake.
func TestOpsConfig(t *testing.T) {
	c, err := FromEnv(func(string) string { return "" })
	require.NoError(t, err)
	require.Equal(t, "0 2 * * *", c.BackupSchedule)
	require.Equal(t, "@hourly", c.CacheSweepSchedule)
	require.Empty(t, c.BackupDir, "a worker takes no backups unless given a directory")
	require.Equal(t, 7*24*time.Hour, c.BackupRetention)
	require.Nil(t, c.BackupS3)
	require.Equal(t, map[string]bool{"tasks": true, "webhooks": true, "ops": true}, c.Queues)

	env := map[string]string{
		"AGENTIC_BACKUP_SCHEDULE": "off", "AGENTIC_CACHE_SWEEP_SCHEDULE": "*/30 * * * *", "AGENTIC_WORKER_QUEUES": "ops",
		"AGENTIC_BACKUP_S3_BUCKET": "backups", "AGENTIC_BACKUP_S3_ENDPOINT": "http://127.0.0.1:7070",
		"AGENTIC_BACKUP_S3_ACCESS_KEY_ID": "k", "AGENTIC_BACKUP_S3_SECRET_ACCESS_KEY": "s",
	}
	c, err = FromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"ops": true}, c.Queues)
	require.Equal(t, "backups", c.BackupS3.Bucket)
	require.Equal(t, "agentic/", c.BackupS3.Prefix)

	for _, tc := range []struct{ name, value, want string }{
		{"AGENTIC_BACKUP_SCHEDULE", "every night", `AGENTIC_BACKUP_SCHEDULE: "every night" is not a cron spec`},
		{"AGENTIC_CACHE_SWEEP_SCHEDULE", "61 * * * *", `AGENTIC_CACHE_SWEEP_SCHEDULE: "61 * * * *" is not a cron spec`},
		{"AGENTIC_RECONCILE_SCHEDULE", "off", `AGENTIC_RECONCILE_SCHEDULE: "off" is not a cron spec`},
		{"AGENTIC_BACKUP_RETENTION", "10m", "AGENTIC_BACKUP_RETENTION: must be at least 1h"},
		{"AGENTIC_WORKER_QUEUES", "tasks,cron", `AGENTIC_WORKER_QUEUES: "cron" is not a queue`},
		{"AGENTIC_BACKUP_S3_ACCESS_KEY_ID", "", "AGENTIC_BACKUP_S3_ACCESS_KEY_ID: is required"},
		{"AGENTIC_BACKUP_S3_ENDPOINT", "", "AGENTIC_BACKUP_S3_REGION: is required when no Endpoint is set"},
		{"AGENTIC_BACKUP_S3_ENDPOINT", "ftp://x", `AGENTIC_BACKUP_S3_ENDPOINT: "ftp://x" must be an http(s)://host[:port] URL`},
	} {
		bad := map[string]string{"AGENTIC_BACKUP_S3_BUCKET": "backups", "AGENTIC_BACKUP_S3_ENDPOINT": "http://127.0.0.1:7070",
			"AGENTIC_BACKUP_S3_ACCESS_KEY_ID":     "k",
			"AGENTIC_BACKUP_S3_SECRET_ACCESS_KEY": "s", tc.name: tc.value}
		_, err := FromEnv(func(k string) string { return bad[k] })
		require.ErrorContains(t, err, tc.want, tc.name)
		require.NotContains(t, err.Error(), "\n", "one line")
	}
}
