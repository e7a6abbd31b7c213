package main

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
	"github.com/agentic-run/agentic/store/sqlite"
)

// seed creates two tenants with a task each (one finished) and returns the tasks.
func seed(t *testing.T, st store.Store) []*store.Task {
	t.Helper()
	ctx := t.Context()
	var tasks []*store.Task
	for i, name := range []string{"acme", "globex"} {
		ten := &store.Tenant{ID: store.NewID("ten"), Name: name, Tier: "pro", WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			CreatedAt: time.Now()}
		require.NoError(t, st.CreateTenant(ctx, ten))
		task, _, err := st.CreateTask(ctx, &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Status: store.StatusQueued,
			Input: json.RawMessage(`{"n":` + string(rune('0'+i)) + `}`), Metadata: map[string]string{"order": name}, Quality: "standard",
			Cache: true, CreatedAt: time.Now()})
		require.NoError(t, err)
		if i == 0 {
			_, err = st.StartTask(ctx, task.ID, time.Now(), time.Now().Add(time.Minute))
			require.NoError(t, err)
			_, _, err = st.FinishTask(ctx, task.ID, store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{"ok":true}`),
				Model: "gpt-4o-mini", Provider: "openai", InputTokens: 10, OutputTokens: 5, CostMicros: 42})
			require.NoError(t, err)
		}
		got, err := st.LoadTask(ctx, task.ID)
		require.NoError(t, err)
		tasks = append(tasks, got)
	}
	return tasks
}

var backupFileRE = regexp.MustCompile(`(?m)^backup bkp_\w+: (\S+)$`)

// The restore drill through the commands, on PostgreSQL: back up a schema with tenants and
// tasks, lose it (dropped and recreated empty), restore, and find every task identical; a
// second restore into the now full schema is refused, and so is a file that is not a backup.
func TestBackupAndRestorePostgres(t *testing.T) {
	t.Parallel()
	src := pgtest.URL(t)
	pool, err := postgres.Open(t.Context(), src)
	require.NoError(t, err)
	defer pool.Close()
	tasks := seed(t, postgres.New(pool))

	dir := t.TempDir()
	r := cli(t, map[string]string{"DATABASE_URL": src}, "backup", "--dir", dir).ok(t)
	m := backupFileRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	file := m[1]
	require.Equal(t, dir, filepath.Dir(file))
	require.Regexp(t, `(?m)^  sha256  [0-9a-f]{64}$`, r.stdout)
	recs, err := postgres.New(pool).ListBackups(t.Context(), store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "manual", recs[0].Trigger)
	require.Equal(t, store.BackupOK, recs[0].Outcome)

	// The database is lost: the schema and everything in it dropped, recreated empty.
	ident := pgx.Identifier{schemaOf(t, src)}.Sanitize()
	_, err = pool.Exec(t.Context(), "DROP SCHEMA "+ident+" CASCADE")
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), "CREATE SCHEMA "+ident)
	require.NoError(t, err)
	pool.Reset()
	cli(t, map[string]string{"DATABASE_URL": src}, "restore", file).ok(t)
	rs := postgres.New(pool)
	for _, want := range tasks {
		got, err := rs.LoadTask(t.Context(), want.ID)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	again := cli(t, map[string]string{"DATABASE_URL": src}, "restore", file)
	require.Equal(t, 1, again.code)
	require.Contains(t, again.stderr, "restore needs it empty")
	notBackup := cli(t, map[string]string{"DATABASE_URL": pgtest.Schema(t)}, "restore", filepath.Join(dir, "nope.txt"))
	require.Equal(t, 1, notBackup.code)
	require.Equal(t, 2, cli(t, nil, "restore").code, "FILE is required")
}

// The same drill on agentic dev's SQLite database (VACUUM INTO).
func TestBackupAndRestoreSQLite(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "agentic.db"))
	require.NoError(t, err)
	tasks := seed(t, st)

	r := cli(t, map[string]string{"AGENTIC_DATA_DIR": data}, "backup").ok(t)
	m := backupFileRE.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	require.Equal(t, filepath.Join(data, "backups"), filepath.Dir(m[1]))
	require.Regexp(t, `\.db$`, m[1])
	recs, err := st.ListBackups(t.Context(), store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.NoError(t, st.Close())

	other := t.TempDir()
	cli(t, map[string]string{"AGENTIC_DATA_DIR": other}, "restore", m[1]).ok(t)
	rs, err := sqlite.Open(context.Background(), filepath.Join(other, "agentic.db"))
	require.NoError(t, err)
	defer rs.Close()
	for _, want := range tasks {
		got, err := rs.LoadTask(t.Context(), want.ID)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	refused := cli(t, map[string]string{"AGENTIC_DATA_DIR": data}, "restore", m[1])
	require.Equal(t, 1, refused.code, "the source still holds its rows")
}

// schemaOf is the schema of a pgtest URL's search_path.
func schemaOf(t *testing.T, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	_, schema, ok := strings.Cut(parsed.Query().Get("options"), "search_path=")
	require.True(t, ok, u)
	return schema
}
