package backup_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// tools fails the test (never skips) when pg_dump or pg_restore cannot be found where Run
// looks for them: on PATH or in `pg_config --bindir`.
func tools(t *testing.T) {
	t.Helper()
	for _, name := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(name); err == nil {
			continue
		}
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), name)); err == nil {
				continue
			}
		}
		t.Fatalf("%s not found on PATH or in `pg_config --bindir`: install the PostgreSQL client tools "+
			"(Debian/Ubuntu: apt-get install postgresql-client)", name)
	}
}

func open(t *testing.T, u string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(t.Context(), u)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func schemaOf(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err)
	s, ok := strings.CutPrefix(pu.Query().Get("options"), "-csearch_path=")
	require.True(t, ok, "pgtest URL sets the search_path")
	return s
}

// snapshot returns every row of the tables, as JSON, in id order (as the superuser, which
// row-level security does not filter).
func snapshot(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{"tenants", "api_keys", "tasks", "task_metadata", "usage_records"} {
		rows, err := pool.Query(t.Context(), "SELECT to_jsonb(t)::text FROM "+table+" t ORDER BY to_jsonb(t)::text")
		require.NoError(t, err)
		out[table], err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
	}
	return out
}

func fixture(t *testing.T, s *postgres.Store) []*store.Tenant {
	t.Helper()
	at := time.Now().UTC()
	var tenants []*store.Tenant
	for _, name := range []string{"acme", "globex"} {
		ten := &store.Tenant{ID: store.NewID("ten"), Name: name, Tier: "pro", WebhookSecret: "whsec_" + name, CreatedAt: at}
		require.NoError(t, s.CreateTenant(t.Context(), ten))
		require.NoError(t, s.CreateAPIKey(t.Context(), &store.APIKey{
			ID: store.NewID("key"), TenantID: ten.ID, Prefix: "ak_" + name, Hash: []byte("hash-" + ten.ID), CreatedAt: at,
		}))
		for i := range 3 {
			tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{}`),
				MaxAttempts: 3, CreatedAt: at, Metadata: map[string]string{"n": string(rune('a' + i))}}
			_, _, err := s.CreateTask(t.Context(), tk)
			require.NoError(t, err)
			if i == 2 {
				_, err = s.CancelTask(t.Context(), ten.ID, tk.ID, at)
				require.NoError(t, err)
			}
		}
		tenants = append(tenants, ten)
	}
	return tenants
}

// TestRestoreDrill backs a schema up, drops it, recreates it empty, restores it, and finds
// every row identical and the store working (row-level security roles included).
func TestRestoreDrill(t *testing.T) {
	tools(t)
	ctx := t.Context()
	u := pgtest.URL(t)
	schema := schemaOf(t, u)
	pool, err := postgres.Open(ctx, u)
	require.NoError(t, err)
	tenants := fixture(t, postgres.New(pool))
	before := snapshot(t, pool)
	require.Len(t, before["tenants"], 2)
	require.Len(t, before["api_keys"], 2)
	require.Len(t, before["tasks"], 6)

	c := backup.Config{DatabaseURL: u, Dir: t.TempDir()}
	res, err := backup.Run(ctx, c)
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(res.File))
	require.Regexp(t, `^agentic-\d{8}T\d{6}Z\.dump$`, filepath.Base(res.File))
	st, err := os.Stat(res.File)
	require.NoError(t, err)
	require.Equal(t, st.Size(), res.Size)
	require.Len(t, res.SHA256, 64)
	require.Greater(t, res.Entries, 10)
	n, err := backup.Verify(ctx, c, res.File, res.SHA256)
	require.NoError(t, err)
	require.Equal(t, res.Entries, n)

	ident := pgx.Identifier{schema}.Sanitize()
	_, err = pool.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "CREATE SCHEMA "+ident)
	require.NoError(t, err)
	pool.Close() // its connections cached statements on the dropped tables

	require.NoError(t, backup.Restore(ctx, c, u, res.File))

	pool = open(t, u)
	require.Equal(t, before, snapshot(t, pool))
	// The schema's grants came back too: the store's row-level-security roles can use it.
	var usage bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT has_schema_privilege('agentic_tenant', $1, 'USAGE')", schema).Scan(&usage))
	require.True(t, usage)
	s := postgres.New(pool)
	got, err := s.GetTenant(ctx, tenants[0].ID)
	require.NoError(t, err)
	require.Equal(t, "acme", got.Name)
	list, _, err := s.ListTasks(ctx, tenants[1].ID, store.TaskFilter{})
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.NoError(t, postgres.Migrate(ctx, pool), "the migration history came back: nothing to apply")

	// Restoring again into the now full schema is refused and changes nothing.
	err = backup.Restore(ctx, c, u, res.File)
	require.ErrorContains(t, err, "restore needs it empty")
	require.Equal(t, before, snapshot(t, pool))
}

// TestCorruptBackup: a truncated or overwritten dump fails Verify and Restore refuses it.
func TestCorruptBackup(t *testing.T) {
	tools(t)
	ctx := t.Context()
	u := pgtest.URL(t)
	pool := open(t, u)
	// Enough data that the middle of the file is compressed table data, not the TOC.
	_, err := pool.Exec(ctx, `CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS v FROM generate_series(1, 20000) g`)
	require.NoError(t, err)
	c := backup.Config{DatabaseURL: u, Dir: t.TempDir()}
	res, err := backup.Run(ctx, c)
	require.NoError(t, err)
	good, err := os.ReadFile(res.File)
	require.NoError(t, err)

	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.dump")
	require.NoError(t, os.WriteFile(truncated, good[:len(good)/2], 0o600))
	corrupt := filepath.Join(dir, "corrupt.dump")
	bad := append([]byte(nil), good...)
	copy(bad[len(bad)/2:], strings.Repeat("X", 64))
	require.NoError(t, os.WriteFile(corrupt, bad, 0o600))

	for _, f := range []string{truncated, corrupt} {
		_, err := backup.Verify(ctx, c, f, "")
		require.Error(t, err, f)
		_, err = backup.Verify(ctx, c, f, res.SHA256)
		require.ErrorContains(t, err, "checksum", f)

		target := pgtest.Schema(t) // empty
		err = backup.Restore(ctx, c, target, f)
		require.ErrorContains(t, err, "restore refused", f)
		var rels int
		require.NoError(t, open(t, target).QueryRow(ctx,
			"SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace").Scan(&rels))
		require.Zero(t, rels, "a refused restore writes nothing")
	}
	_, err = backup.Verify(ctx, c, res.File, strings.Repeat("0", 64))
	require.ErrorContains(t, err, "checksum")
	_, err = backup.Verify(ctx, c, filepath.Join(dir, "missing.dump"), "")
	require.Error(t, err)
}

// TestDumpFailureLeavesNoFile: when pg_dump fails, Run says so with its stderr (and not the
// password) and leaves nothing in the directory.
func TestDumpFailureLeavesNoFile(t *testing.T) {
	tools(t)
	base, err := url.Parse(pgtest.BaseURL())
	require.NoError(t, err)
	base.User = url.UserPassword(base.User.Username(), "s3cret-pw")
	base.Path = "/agentic_no_such_database"
	q := base.Query()
	q.Set("pool_max_conns", "4") // a pgx parameter libpq would reject
	base.RawQuery = q.Encode()

	dir := t.TempDir()
	_, err = backup.Run(t.Context(), backup.Config{DatabaseURL: base.String(), Dir: dir})
	require.ErrorContains(t, err, "pg_dump")
	require.ErrorContains(t, err, "agentic_no_such_database")
	require.NotContains(t, err.Error(), "s3cret-pw")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)

	_, err = backup.Run(t.Context(), backup.Config{DatabaseURL: pgtest.BaseURL(), Dir: dir, PgDump: "/nonexistent/pg_dump"})
	require.ErrorContains(t, err, "pg_dump")
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

// TestSameSecondNames: two backups in one second get distinct names.
func TestSameSecondNames(t *testing.T) {
	tools(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	c := backup.Config{DatabaseURL: pgtest.URL(t), Dir: t.TempDir(), Now: func() time.Time { return at }}
	a, err := backup.Run(t.Context(), c)
	require.NoError(t, err)
	b, err := backup.Run(t.Context(), c)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(mustAbs(t, c.Dir), "agentic-20261125T020000Z.dump"), a.File)
	require.Equal(t, filepath.Join(mustAbs(t, c.Dir), "agentic-20261125T020000Z-2.dump"), b.File)
	require.Equal(t, at, a.Started)
	for _, r := range []*backup.Result{a, b} {
		_, err := backup.Verify(t.Context(), c, r.File, r.SHA256)
		require.NoError(t, err)
	}
	entries, err := os.ReadDir(c.Dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file left behind")
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

func touch(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
	return p
}

// TestPrune applies retention by the names' timestamps against the injected clock.
func TestPrune(t *testing.T) {
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	c := backup.Config{Dir: t.TempDir(), Now: func() time.Time { return now }}
	files := map[int]string{}
	for _, d := range []int{1, 3, 6, 8, 10} {
		files[d] = touch(t, c.Dir, backup.Name(now.Add(-time.Duration(d)*day), 1))
	}
	other := []string{
		touch(t, c.Dir, "notes.txt"),
		touch(t, c.Dir, "agentic-latest.dump"),
		touch(t, c.Dir, "agentic-20200101T000000Z.dump.bak"),
		touch(t, c.Dir, ".agentic-tmp-123.dump"),
	}
	removed, err := backup.Prune(c, 7*day)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{files[8], files[10]}, removed)
	for _, d := range []int{1, 3, 6} {
		require.FileExists(t, files[d])
	}
	for _, f := range other {
		require.FileExists(t, f)
	}
	for _, d := range []int{8, 10} {
		require.NoFileExists(t, files[d])
	}

	// Only old backups: the newest (the -2 of the 8-day-old second) stays.
	c.Dir = t.TempDir()
	old := []string{
		touch(t, c.Dir, backup.Name(now.Add(-30*day), 1)),
		touch(t, c.Dir, backup.Name(now.Add(-8*day), 1)),
		touch(t, c.Dir, backup.Name(now.Add(-8*day), 2)),
	}
	removed, err = backup.Prune(c, 7*day)
	require.NoError(t, err)
	require.ElementsMatch(t, old[:2], removed)
	require.FileExists(t, old[2])

	_, err = backup.Prune(c, 0)
	require.Error(t, err, "a zero retention is a mistake, not 'delete all'")
	removed, err = backup.Prune(backup.Config{Dir: filepath.Join(c.Dir, "missing")}, day)
	require.NoError(t, err)
	require.Empty(t, removed)
}
