package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/sqlite"
	"github.com/agentic-run/agentic/store/storetest"
)

var (
	_ store.Store            = (*sqlite.Store)(nil)
	_ storetest.UsageCounter = (*sqlite.Store)(nil)
)

// newStore opens a store on a fresh file in the test's temporary directory.
func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "agentic.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

func seed(t *testing.T, s store.Store) (*store.Tenant, *store.Task) {
	t.Helper()
	ten := &store.Tenant{ID: store.NewID("ten"), Name: "acme", Tier: "pro", WebhookSecret: "whsec_x",
		CreatedAt: time.Now()}
	require.NoError(t, s.CreateTenant(t.Context(), ten))
	tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo",
		Input:    json.RawMessage("{ \"b\" : 1,\n  \"a\":\"\\u00e9\" }"),
		Metadata: map[string]string{"k": "v"}, CreatedAt: time.Now()}
	_, _, err := s.CreateTask(t.Context(), tk)
	require.NoError(t, err)
	return ten, tk
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agentic.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	ten, tk := seed(t, s)
	want, err := s.GetTask(t.Context(), ten.ID, tk.ID)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	got, err := s.GetTask(t.Context(), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, string(tk.Input), string(got.Input), "input is kept byte for byte")
}

func TestMissingTenantIsNotFound(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	tk := &store.Task{ID: store.NewID("tsk"), TenantID: "ten_unknown", Agent: "echo", Input: json.RawMessage(`{}`),
		CreatedAt: time.Now()}
	_, _, err := s.CreateTask(t.Context(), tk)
	require.ErrorIs(t, err, store.ErrNotFound)
	tk.IdempotencyKey = "k"
	_, _, err = s.CreateTask(t.Context(), tk)
	require.ErrorIs(t, err, store.ErrNotFound, "with an idempotency key too")
	err = s.CreateAPIKey(t.Context(), &store.APIKey{ID: store.NewID("key"), TenantID: "ten_unknown",
		Prefix: "ak_x", Hash: []byte("h"), CreatedAt: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
	err = s.RecordDelivery(t.Context(), &store.Delivery{ID: store.NewID("dlv"), TenantID: "ten_unknown",
		TaskID: "tsk_unknown", CreatedAt: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestInvalidJSONIsRefused(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ten, _ := seed(t, s)
	tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{nope`),
		CreatedAt: time.Now()}
	_, _, err := s.CreateTask(t.Context(), tk)
	require.Error(t, err)
	_, err = s.LoadTask(t.Context(), tk.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestInvalidCursor(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ten, _ := seed(t, s)
	for _, c := range []string{"not a cursor!", "Zm9v", "MTIzLA"} { // "foo", "123,"
		_, _, err := s.ListTasks(t.Context(), ten.ID, store.TaskFilter{Cursor: c})
		require.ErrorIs(t, err, store.ErrInvalidCursor, c)
	}
}

func TestCorruptFile(t *testing.T) {
	t.Parallel()
	for name, content := range map[string][]byte{
		"garbage": bytes.Repeat([]byte("this is not a database\n"), 500),
		"short":   []byte("hello"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "agentic.db")
			require.NoError(t, os.WriteFile(path, content, 0o600))
			s, err := sqlite.Open(t.Context(), path)
			require.Nil(t, s)
			require.Error(t, err)
			require.Contains(t, err.Error(), "sqlite: "+path+" is not a valid database")
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, content, after, "the file is left as it was")
		})
	}
}

func TestUnwritableDirectory(t *testing.T) {
	t.Parallel()
	// No user, root included, can create a file under a regular file.
	file := filepath.Join(t.TempDir(), "regular")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	path := filepath.Join(file, "sub", "db.sqlite")
	s, err := sqlite.Open(t.Context(), path)
	require.Nil(t, s)
	require.Error(t, err)
	require.Contains(t, err.Error(), path)
	require.Contains(t, err.Error(), "not a directory")

	_, err = sqlite.Open(t.Context(), t.TempDir())
	require.ErrorContains(t, err, "is a directory")
	_, err = sqlite.Open(t.Context(), "")
	require.Error(t, err)
}

// migrations counts the rows of schema_migrations and the tables of the file at path, read
// with a connection of its own.
func migrations(t *testing.T, path string) (applied, tables int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&applied))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables))
	return applied, tables
}

// migrationFiles counts the package's migrations (the files Open embeds).
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agentic.db")
	for range 2 {
		s, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		seed(t, s)
		require.NoError(t, s.Close())
	}
	applied, tables := migrations(t, path)
	require.Equal(t, migrationFiles(t), applied, "each migration ran once")
	require.Equal(t, 9, tables, "eight tables and schema_migrations")
}

func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agentic.db")
	stores := make([]*sqlite.Store, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = sqlite.Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, stores[i].Close()) })
	}
	applied, _ := migrations(t, path)
	require.Equal(t, migrationFiles(t), applied, "each migration ran once")

	// Two stores on one file (as two processes would be) see each other's writes.
	ten, tk := seed(t, stores[0])
	got, err := stores[1].GetTask(t.Context(), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, tk.ID, got.ID)
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.LoadTask(ctx, "tsk_x")
	require.ErrorIs(t, err, context.Canceled)
	err = s.CreateTenant(ctx, &store.Tenant{ID: store.NewID("ten"), CreatedAt: time.Now()})
	require.ErrorIs(t, err, context.Canceled)
}
