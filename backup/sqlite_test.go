package backup_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/sqlite"
)

// sqliteStore opens a new SQLite store in a temporary directory and fills it through the
// store API: two tenants with an API key and three tasks each (one canceled, one finished
// with usage).
func sqliteStore(t *testing.T) (*sqlite.Store, []*store.Tenant) {
	t.Helper()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agentic.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	at := time.Now().UTC()
	var tenants []*store.Tenant
	for _, name := range []string{"acme", "globex"} {
		ten := &store.Tenant{ID: store.NewID("ten"), Name: name, Tier: "pro", WebhookSecret: "whsec_" + name, CreatedAt: at}
		require.NoError(t, s.CreateTenant(ctx, ten))
		require.NoError(t, s.CreateAPIKey(ctx, &store.APIKey{
			ID: store.NewID("key"), TenantID: ten.ID, Prefix: "ak_" + name, Hash: []byte("hash-" + ten.ID), CreatedAt: at,
		}))
		for i := range 3 {
			tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{"n":1}`),
				MaxAttempts: 3, CreatedAt: at, Metadata: map[string]string{"n": string(rune('a' + i))}}
			_, _, err := s.CreateTask(ctx, tk)
			require.NoError(t, err)
			switch i {
			case 1:
				_, err = s.StartTask(ctx, tk.ID, at, at.Add(time.Minute))
				require.NoError(t, err)
				_, applied, err := s.FinishTask(ctx, tk.ID, store.Result{
					Status: store.StatusSucceeded, Output: json.RawMessage(`{"n":1}`), Model: "sim", Provider: "sim",
					InputTokens: 10, OutputTokens: 20, CostMicros: 30, FinishedAt: at,
				})
				require.NoError(t, err)
				require.True(t, applied)
			case 2:
				_, err = s.CancelTask(ctx, ten.ID, tk.ID, at)
				require.NoError(t, err)
			}
		}
		tenants = append(tenants, ten)
	}
	return s, tenants
}

// sqliteSnapshot returns every row of every table of the database at path, as text, sorted.
func sqliteSnapshot(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+table+`"`)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		out[table] = []string{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			out[table] = append(out[table], fmt.Sprintf("%q", vals))
		}
		require.NoError(t, rows.Err())
		slices.Sort(out[table])
	}
	return out
}

// TestSQLiteRestoreDrill backs up a running store, restores the backup into a new path, and
// finds every row identical and the store working.
func TestSQLiteRestoreDrill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, tenants := sqliteStore(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	dir := t.TempDir()

	// The store stays open: its last writes are still in the WAL, and the backup has them.
	res, err := backup.RunSQLite(ctx, s.Path(), dir, func() time.Time { return at })
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "agentic-20261125T020000Z.db"), res.File)
	require.Equal(t, at, res.Started)
	st, err := os.Stat(res.File)
	require.NoError(t, err)
	require.Equal(t, st.Size(), res.Size)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a backup holds every secret")
	require.Len(t, res.SHA256, 64)
	n, err := backup.VerifySQLite(ctx, res.File, res.SHA256)
	require.NoError(t, err)
	require.Equal(t, res.Entries, n)
	require.GreaterOrEqual(t, n, 7)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary or journal file left behind")

	// A second backup in the same second gets the next name.
	res2, err := backup.RunSQLite(ctx, s.Path(), dir, func() time.Time { return at })
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "agentic-20261125T020000Z-2.db"), res2.File)

	before := sqliteSnapshot(t, s.Path())
	require.Len(t, before["tenants"], 2)
	require.Len(t, before["api_keys"], 2)
	require.Len(t, before["tasks"], 6)
	require.NotEmpty(t, before["usage_records"])
	require.NotEmpty(t, before["schema_migrations"])

	target := filepath.Join(t.TempDir(), "restored.db")
	require.NoError(t, backup.RestoreSQLite(ctx, res.File, target))
	require.Equal(t, before, sqliteSnapshot(t, target))
	require.FileExists(t, res.File, "the backup stays")

	r, err := sqlite.Open(ctx, target)
	require.NoError(t, err)
	defer r.Close()
	got, err := r.GetTenant(ctx, tenants[0].ID)
	require.NoError(t, err)
	require.Equal(t, "acme", got.Name)
	list, _, err := r.ListTasks(ctx, tenants[1].ID, store.TaskFilter{})
	require.NoError(t, err)
	require.Len(t, list, 3)
	u, err := r.Usage(ctx, tenants[0].ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 10, u.InputTokens)
}

// TestSQLiteRestoreTargets: restore replaces a missing, empty or freshly migrated database
// (and its stale WAL), and refuses one holding tenants or tasks, or one that is not a
// database, leaving it as it was.
func TestSQLiteRestoreTargets(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := sqliteStore(t)
	res, err := backup.RunSQLite(ctx, s.Path(), t.TempDir(), nil)
	require.NoError(t, err)
	want := sqliteSnapshot(t, s.Path())

	t.Run("fresh store", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "fresh.db")
		fresh, err := sqlite.Open(ctx, target)
		require.NoError(t, err)
		require.NoError(t, fresh.Close())
		// A WAL left beside the old file must not be replayed onto the restored one.
		require.NoError(t, os.WriteFile(target+"-wal", []byte("stale wal"), 0o600))
		require.NoError(t, backup.RestoreSQLite(ctx, res.File, target))
		require.NoFileExists(t, target+"-wal")
		require.Equal(t, want, sqliteSnapshot(t, target))
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "empty.db")
		require.NoError(t, os.WriteFile(target, nil, 0o600))
		require.NoError(t, backup.RestoreSQLite(ctx, res.File, target))
		require.Equal(t, want, sqliteSnapshot(t, target))
	})

	refused := []struct {
		name   string
		target func(t *testing.T) string
		msg    string
	}{
		{"store with rows", func(t *testing.T) string {
			other, _ := sqliteStore(t)
			return other.Path() // open, like a running dev instance
		}, "restore needs it empty"},
		{"the backup itself", func(*testing.T) string { return res.File }, "both the backup and the database"},
		{"not a database", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "notes.db")
			require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("not sqlite\n", 1000)), 0o600))
			return p
		}, "restore needs a missing or empty store database"},
		{"a directory", func(t *testing.T) string { return t.TempDir() }, "not a file"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := tc.target(t)
			before, err := os.ReadFile(target)
			if err != nil {
				before = nil // a directory
			}
			err = backup.RestoreSQLite(ctx, res.File, target)
			require.ErrorContains(t, err, tc.msg)
			after, err := os.ReadFile(target)
			if err != nil {
				after = nil
			}
			require.Equal(t, before, after, "a refused restore changes nothing")
			entries, err := os.ReadDir(filepath.Dir(target))
			require.NoError(t, err)
			for _, e := range entries {
				require.False(t, strings.HasPrefix(e.Name(), ".agentic-"), "temporary file %s left behind", e.Name())
			}
		})
	}
}

// TestSQLiteCorruptBackup: truncated, overwritten or foreign files fail VerifySQLite and
// RestoreSQLite refuses them, creating nothing.
func TestSQLiteCorruptBackup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := sqliteStore(t)
	res, err := backup.RunSQLite(ctx, s.Path(), t.TempDir(), nil)
	require.NoError(t, err)
	good, err := os.ReadFile(res.File)
	require.NoError(t, err)
	const page = 4096
	require.Greater(t, len(good), 4*page)

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	bad := append([]byte(nil), good...)
	copy(bad[2*page:], strings.Repeat("X", 64)) // the header of the third b-tree page
	emptyDB := filepath.Join(dir, "plain.db")
	db, err := sql.Open("sqlite", "file:"+emptyDB)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE things (id INTEGER PRIMARY KEY)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	cases := []struct {
		name, file, msg string
	}{
		{"truncated", write("truncated.db", good[:len(good)/2]), "integrity check"},
		{"overwritten", write("corrupt.db", bad), "integrity check"},
		{"not sqlite", write("text.db", []byte(strings.Repeat("hello\n", 2000))), "not a database"},
		{"empty", write("empty.db", nil), "empty file"},
		{"not the store", emptyDB, "no table schema_migrations, tenants, api_keys, tasks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.VerifySQLite(ctx, tc.file, "")
			require.ErrorContains(t, err, tc.msg)
			_, err = backup.VerifySQLite(ctx, tc.file, res.SHA256)
			require.ErrorContains(t, err, "checksum")

			target := filepath.Join(t.TempDir(), "target.db")
			err = backup.RestoreSQLite(ctx, tc.file, target)
			require.ErrorContains(t, err, "restore refused")
			require.NoFileExists(t, target)
			entries, err := os.ReadDir(filepath.Dir(target))
			require.NoError(t, err)
			require.Empty(t, entries, "nothing left behind")
		})
	}
	_, err = backup.VerifySQLite(ctx, res.File, strings.Repeat("0", 64))
	require.ErrorContains(t, err, "checksum")
	_, err = backup.VerifySQLite(ctx, filepath.Join(dir, "missing.db"), "")
	require.Error(t, err)
}

// TestRunSQLiteErrors: a missing database is not backed up as an empty one, and nothing is
// left in the directory.
func TestRunSQLiteErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := backup.RunSQLite(t.Context(), filepath.Join(dir, "missing.db"), dir, nil)
	require.ErrorContains(t, err, "missing.db")
	_, err = backup.RunSQLite(t.Context(), dir, dir, nil)
	require.ErrorContains(t, err, "not a file")
	notDB := filepath.Join(t.TempDir(), "notes.db")
	require.NoError(t, os.WriteFile(notDB, []byte(strings.Repeat("not sqlite\n", 1000)), 0o600))
	_, err = backup.RunSQLite(t.Context(), notDB, dir, nil)
	require.ErrorContains(t, err, "vacuum into")
	_, err = backup.RunSQLite(t.Context(), notDB, "", nil)
	require.ErrorContains(t, err, "AGENTIC_BACKUP_DIR")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

// TestPruneSQLiteNames: Prune counts .db backups with .dump ones, by the time in the name.
func TestPruneSQLiteNames(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	c := backup.Config{Dir: t.TempDir(), Now: func() time.Time { return now }}
	name := func(d time.Duration, n int, ext string) string {
		return strings.TrimSuffix(backup.Name(now.Add(-d), n), ".dump") + ext
	}
	oldDB := touch(t, c.Dir, name(9*day, 1, ".db"))
	oldDB2 := touch(t, c.Dir, name(9*day, 2, ".db"))
	oldDump := touch(t, c.Dir, name(8*day, 1, ".dump"))
	newDB := touch(t, c.Dir, name(day, 1, ".db"))
	others := []string{
		touch(t, c.Dir, name(30*day, 1, ".db-wal")),
		touch(t, c.Dir, name(30*day, 1, ".sqlite")),
		touch(t, c.Dir, ".agentic-tmp-1.db"),
	}
	removed, err := backup.Prune(c, 7*day)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{oldDB, oldDB2, oldDump}, removed)
	require.FileExists(t, newDB)
	for _, f := range others {
		require.FileExists(t, f)
	}

	// Only old backups, the newest a .db: it stays.
	c.Dir = t.TempDir()
	dump := touch(t, c.Dir, name(20*day, 1, ".dump"))
	db := touch(t, c.Dir, name(10*day, 1, ".db"))
	removed, err = backup.Prune(c, 7*day)
	require.NoError(t, err)
	require.Equal(t, []string{dump}, removed)
	require.FileExists(t, db)
}
