package postgres_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
	"github.com/agentic-run/agentic/store/storetest"
)

var (
	_ store.Store            = (*postgres.Store)(nil)
	_ storetest.UsageCounter = (*postgres.Store)(nil)
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return pgtest.New(t) })
}

func TestMigrateConcurrentlyAndTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := pgtest.Schema(t)
	pool, err := postgres.Open(ctx, u)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, postgres.Migrate(ctx, pool), "migrating an up-to-date schema is a no-op")

	var applied int
	require.NoError(t, pool.QueryRow(ctx,
		`SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied`).Scan(&applied))
	require.Equal(t, 1, applied, "the migration ran once")

	var tables []string
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"api_keys", "backups", "goose_db_version", "idempotency_keys", "llm_calls", "task_metadata", "tasks",
		"tenants", "usage_records", "webhook_deliveries"}, tables, "everything lands in the search_path's schema")
}

func TestURLSharesSchemaAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := pgtest.URL(t)
	require.Contains(t, u, "search_path")

	// Two independent pools, as two processes would open them.
	a, err := postgres.Open(ctx, u)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	b, err := postgres.Open(ctx, u)
	require.NoError(t, err)
	t.Cleanup(b.Close)

	ten := createTenant(t, postgres.New(a), "free")
	got, err := postgres.New(b).GetTenant(ctx, ten.ID)
	require.NoError(t, err)
	require.Equal(t, ten.ID, got.ID)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://user:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")

	_, err = postgres.Open(t.Context(), "postgres://user:s3cret@127.0.0.1:5432/db?sslmode=nonsense")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}

func TestMissingReferencesAreNotFound(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	_, _, err := s.CreateTask(ctx, &store.Task{ID: store.NewID("tsk"), TenantID: "ten_unknown", Agent: "echo",
		Input: json.RawMessage(`{}`), CreatedAt: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
	err = s.CreateAPIKey(ctx, &store.APIKey{ID: store.NewID("key"), TenantID: "ten_unknown", Prefix: "ak_x",
		Hash: []byte("h"), CreatedAt: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
	err = s.RecordDelivery(ctx, &store.Delivery{ID: store.NewID("dlv"), TenantID: "ten_unknown", TaskID: "tsk_unknown",
		WebhookID: "w", EventType: "task.failed", URL: "https://example.com", Attempt: 1, CreatedAt: time.Now()})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestInputBytesKept(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	ten := createTenant(t, s, "free")
	// json (not jsonb) keeps the client's bytes, key order and a NUL escape included.
	in := `{"z": 1,  "a": "\u0000", "a": 2}`
	tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(in), CreatedAt: time.Now()}
	_, _, err := s.CreateTask(ctx, tk)
	require.NoError(t, err)
	got, err := s.LoadTask(ctx, tk.ID)
	require.NoError(t, err)
	require.Equal(t, in, string(got.Input))
}

// TestQueriesUseIndexes checks the plans of the list, metadata and outbox queries on a table
// large enough that a sequential scan would be the planner's choice without the indexes.
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := t.Context()
	pgtest.Exec(t, pool, `INSERT INTO tenants (id, name, tier, webhook_secret, created_at)
		SELECT 'ten_' || g, 'tenant', 'pro', 'whsec_x', now() FROM generate_series(1, 20) g`)
	// 20 tenants × 1,000 tasks; all but 10 are finished and published.
	pgtest.Exec(t, pool, `INSERT INTO tasks (id, tenant_id, agent, status, input, metadata, created_at, published_at)
		SELECT 'tsk_' || lpad(g::text, 6, '0'), 'ten_' || (g % 20 + 1),
			CASE WHEN g % 3 = 0 THEN 'sentiment' ELSE 'summarizer' END,
			CASE WHEN g <= 10 THEN 'queued' ELSE 'succeeded' END,
			'{"text": "x"}',
			jsonb_build_object('order', g::text, 'team', (g % 7)::text),
			now() - g * interval '1 second',
			CASE WHEN g <= 10 THEN NULL ELSE now() END
		FROM generate_series(1, 20000) g`)
	pgtest.Exec(t, pool, `INSERT INTO task_metadata (tenant_id, key, value, created_at, task_id)
		SELECT t.tenant_id, m.key, m.value, t.created_at, t.id FROM tasks t, jsonb_each_text(t.metadata) m`)
	pgtest.Exec(t, pool, `INSERT INTO llm_calls (tenant_id, task_id, attempt, seq, provider, model, outcome, created_at)
		SELECT t.tenant_id, t.id, 1, seq, 'openai', 'gpt-4o', 'ok', t.created_at
		FROM tasks t, generate_series(1, 2) seq`)
	pgtest.Exec(t, pool, `ANALYZE tasks, task_metadata, llm_calls`)

	s := postgres.New(pool)
	// Plans as the store runs the statements: tenant queries under row-level security.
	plan := func(tenantID, sql string, args ...any) string {
		t.Helper()
		return postgres.Explain(t, s, tenantID, sql, args...)
	}
	list := func(f store.TaskFilter) string {
		t.Helper()
		sql, args, _, err := postgres.ListQuery("ten_3", f)
		require.NoError(t, err)
		return plan("ten_3", sql, args...)
	}

	p := list(store.TaskFilter{Limit: 20})
	require.Contains(t, p, "tasks_tenant_created_idx", p)
	require.NotContains(t, p, "Sort", "the index gives the order: %s", p)

	// A page after the first: the cursor is an index condition, not a filter.
	_, next, err := s.ListTasks(ctx, "ten_3", store.TaskFilter{Limit: 20})
	require.NoError(t, err)
	require.NotEmpty(t, next)
	p = list(store.TaskFilter{Limit: 20, Cursor: next})
	require.Contains(t, p, "tasks_tenant_created_idx", p)
	require.Regexp(t, `Index Cond: .*created_at, id\) < `, p)

	p = list(store.TaskFilter{Limit: 20, Status: store.StatusSucceeded, Agent: "sentiment"})
	require.Contains(t, p, "tasks_tenant_created_idx", p)

	p = list(store.TaskFilter{Limit: 20, Metadata: map[string]string{"order": "42"}})
	require.Contains(t, p, "task_metadata_pkey", p)
	require.NotContains(t, p, "Seq Scan", p)
	p = list(store.TaskFilter{Limit: 20, Metadata: map[string]string{"order": "42", "team": "0"}})
	require.Contains(t, p, "task_metadata_pkey", p)
	require.NotContains(t, p, "Seq Scan", p)

	p = plan("", postgres.UnpublishedSQL, time.Now(), 100)
	require.Contains(t, p, "tasks_queued_idx", p)

	// A task's model calls, as its tenant reads them: the primary key gives rows and order.
	p = plan("ten_3", postgres.ListCallsSQL, "tsk_000042", "ten_3")
	require.Contains(t, p, "llm_calls_pkey", p)
	require.NotContains(t, p, "Sort", p)

	// The list reads through pgx too, not only the plan.
	page, _, err := s.ListTasks(ctx, "ten_3", store.TaskFilter{Metadata: map[string]string{"order": "42"}})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "tsk_000042", page[0].ID)
}

func TestPgtestSchemasAreIsolated(t *testing.T) {
	t.Parallel()
	a, b := pgtest.Pool(t), pgtest.Pool(t)
	pgtest.Exec(t, a, `INSERT INTO tenants (id, name, tier, webhook_secret, created_at) VALUES ('ten_a', 'a', 'free', 's', now())`)
	_, err := postgres.New(b).GetTenant(t.Context(), "ten_a")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = postgres.New(a).GetTenant(t.Context(), "ten_a")
	require.NoError(t, err)
}

// Group commit: concurrent submits share flushes, and a statement that fails (an unknown
// tenant) fails alone — its batch neighbours are stored.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	ten := createTenant(t, s, "pro")
	for round := 0; round < 20 && postgres.Batches(s) == 0; round++ {
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tenant := ten.ID
				if i%8 == 0 {
					tenant = "ten_unknown"
				}
				tk := &store.Task{ID: store.NewID("tsk"), TenantID: tenant, Agent: "echo", Input: json.RawMessage(`{}`), CreatedAt: time.Now()}
				_, _, err := s.CreateTask(ctx, tk)
				if tenant != ten.ID {
					require.ErrorIs(t, err, store.ErrNotFound)
					return
				}
				require.NoError(t, err)
				got, err := s.LoadTask(ctx, tk.ID)
				require.NoError(t, err)
				require.Equal(t, store.StatusQueued, got.Status)
			}()
		}
		wg.Wait()
	}
	require.Positive(t, postgres.Batches(s), "64 concurrent submits never shared a flush")
}

// Relaxed flushes turn synchronous_commit off for their own transaction only; durable ones
// keep the server's setting, and nothing leaks to the pooled connections.
func TestRelaxedCommitIsScopedToItsBatch(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	relaxed, durable := postgres.CommitSettings(t, s)
	require.Equal(t, "off", relaxed)
	require.Equal(t, "on", durable)
	for range 10 { // every connection of the pool
		var v string
		require.NoError(t, s.Pool().QueryRow(t.Context(), `SELECT current_setting('synchronous_commit')`).Scan(&v))
		require.Equal(t, "on", v)
	}
}

// Concurrent starts and finishes share multi-row statements, and each call still gets its
// own task back: every task runs once, finishes once, with one usage record, its routing and
// the calls of the finish that applied; of two concurrent finishes of one task (often in one
// flush) exactly one applies, and only its calls are written.
func TestMultiRowStartsAndFinishes(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	ten := createTenant(t, s, "pro")
	const n = 64
	for round := 0; round < 20 && postgres.Multis(s) < 2; round++ {
		ids := make([]string, n)
		for i := range ids {
			tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{}`), MaxAttempts: 3, CreatedAt: time.Now()}
			_, _, err := s.CreateTask(ctx, tk)
			require.NoError(t, err)
			ids[i] = tk.ID
		}
		var wg sync.WaitGroup
		var applied sync.Map // task id → the finisher (0 or 1) that applied
		for i, id := range ids {
			wg.Go(func() {
				now := time.Now()
				started, err := s.StartTask(ctx, id, now, now.Add(time.Minute))
				require.NoError(t, err)
				require.Equal(t, id, started.ID, "each call gets its own task")
				require.Equal(t, store.StatusRunning, started.Status)
				require.Equal(t, 1, started.Attempts)
				out := json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)
				var finishers sync.WaitGroup
				for f := range 2 { // at once: one applies
					finishers.Go(func() {
						tag := fmt.Sprintf("%d-%d", i, f)
						calls := []store.LLMCall{}
						for seq := range f + 1 { // finisher 0 carries one call, finisher 1 two
							calls = append(calls, store.LLMCall{TaskID: id, TenantID: ten.ID, Attempt: started.Attempts,
								Seq: seq + 1, Provider: "sim", Model: "sim-" + tag, InputTokens: int64(i), Outcome: "ok", At: now})
						}
						done, ok, err := s.FinishTask(ctx, id, store.Result{Status: store.StatusSucceeded, Output: out,
							Model: "sim", Provider: "sim", InputTokens: int64(i), OutputTokens: 1, FinishedAt: time.Now(),
							Routing: json.RawMessage(`{"tag":"` + tag + `"}`), Calls: calls})
						require.NoError(t, err)
						require.Equal(t, id, done.ID)
						require.JSONEq(t, string(out), string(done.Output))
						if ok {
							_, dup := applied.LoadOrStore(id, f)
							require.False(t, dup, "finished twice: %s", id)
						}
					})
				}
				finishers.Wait()
			})
		}
		wg.Wait()
		for i, id := range ids {
			f, ok := applied.Load(id)
			require.True(t, ok, "never finished: %s", id)
			tag := fmt.Sprintf("%d-%d", i, f)
			got, err := s.LoadTask(ctx, id)
			require.NoError(t, err)
			require.Equal(t, int64(i), got.InputTokens)
			require.JSONEq(t, `{"tag":"`+tag+`"}`, string(got.Routing), "the applied finish's routing")
			n, err := s.UsageRecordCount(ctx, id)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			calls, err := s.ListCalls(ctx, ten.ID, id)
			require.NoError(t, err)
			require.Len(t, calls, f.(int)+1, "the calls of the finish that applied: %s", id)
			for seq, c := range calls {
				require.Equal(t, "sim-"+tag, c.Model, "only the applied finish's calls: %s", id)
				require.Equal(t, seq+1, c.Seq)
				require.Equal(t, int64(i), c.InputTokens)
			}
		}
	}
	require.GreaterOrEqual(t, postgres.Multis(s), int64(2), "concurrent calls never shared a multi-row statement")
}

// Concurrent delivery records share one INSERT; one for an unknown task fails alone.
func TestMultiRowDeliveriesIsolateFailures(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	ten := createTenant(t, s, "pro")
	tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{}`), CreatedAt: time.Now()}
	_, _, err := s.CreateTask(ctx, tk)
	require.NoError(t, err)
	want := 0
	for round := 0; round < 20 && postgres.Multis(s) == 0; round++ {
		var wg sync.WaitGroup
		var stored atomic.Int64
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				task := tk.ID
				if i%16 == 0 {
					task = "tsk_unknown"
				}
				err := s.RecordDelivery(ctx, &store.Delivery{ID: store.NewID("dlv"), TenantID: ten.ID, TaskID: task,
					WebhookID: "evt_" + tk.ID, EventType: "task.succeeded", URL: "https://example.com/hook",
					Attempt: i + 1, StatusCode: 500, Error: "boom", DurationMS: int64(i), CreatedAt: time.Now()})
				if task != tk.ID {
					require.ErrorIs(t, err, store.ErrNotFound)
					return
				}
				require.NoError(t, err)
				stored.Add(1)
			}()
		}
		wg.Wait()
		want += int(stored.Load())
	}
	require.Positive(t, postgres.Multis(s), "64 concurrent records never shared an INSERT")
	got, err := s.ListDeliveries(ctx, ten.ID, tk.ID)
	require.NoError(t, err)
	require.Len(t, got, want)
	require.Equal(t, "boom", got[0].Error)
	require.Equal(t, 500, got[0].StatusCode)
}

// 202 means durable and a result is final: submits and terminal states go through the
// batcher that waits for the WAL flush; only starts, heartbeats, publish marks and delivery
// records may skip it.
func TestDurableWritesWaitForTheWALFlush(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	ten := createTenant(t, s, "pro")
	step := func(name string, wantDurable, wantRelaxed int64, f func()) {
		d0, r0 := postgres.Calls(s)
		f()
		d1, r1 := postgres.Calls(s)
		require.Equal(t, wantDurable, d1-d0, "%s: durable calls", name)
		require.Equal(t, wantRelaxed, r1-r0, "%s: relaxed calls", name)
	}
	tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{}`), CreatedAt: time.Now()}
	step("CreateTask", 1, 0, func() { _, _, err := s.CreateTask(ctx, tk); require.NoError(t, err) })
	step("MarkPublished", 0, 1, func() { require.NoError(t, s.MarkPublished(ctx, []string{tk.ID}, time.Now())) })
	now := time.Now()
	step("StartTask", 0, 1, func() { _, err := s.StartTask(ctx, tk.ID, now, now.Add(time.Minute)); require.NoError(t, err) })
	step("Heartbeat", 0, 1, func() { _, err := s.Heartbeat(ctx, tk.ID, now.Add(2*time.Minute)); require.NoError(t, err) })
	step("FinishTask", 1, 0, func() {
		_, _, err := s.FinishTask(ctx, tk.ID, store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{}`), FinishedAt: time.Now()})
		require.NoError(t, err)
	})
	step("RecordCalls", 1, 0, func() {
		require.NoError(t, s.RecordCalls(ctx, []store.LLMCall{{TaskID: tk.ID, TenantID: ten.ID, Attempt: 1, Seq: 1,
			Provider: "sim", Model: "sim", Outcome: "ok", At: time.Now()}}))
	})
	step("RecordDelivery", 0, 1, func() {
		require.NoError(t, s.RecordDelivery(ctx, &store.Delivery{ID: store.NewID("dlv"), TenantID: ten.ID, TaskID: tk.ID,
			WebhookID: "evt_" + tk.ID, EventType: "task.succeeded", URL: "https://example.com", Attempt: 1, CreatedAt: time.Now()}))
	})
}

// Submits that share a multi-row statement, from several tenants, write their metadata pairs
// too: each tenant's filter finds exactly its own tasks.
func TestMultiRowSubmitsWriteMetadata(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()
	var tenants []string
	for range 4 {
		ten := createTenant(t, s, "pro")
		tenants = append(tenants, ten.ID)
	}
	want := map[string]map[string]bool{} // tenant → task ids with team=red
	var mu sync.Mutex
	for round := 0; round < 20 && postgres.Multis(s) == 0; round++ {
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() {
				ten := tenants[(i/2)%len(tenants)]
				team := []string{"red", "blue"}[i%2]
				tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten, Agent: "echo", Input: json.RawMessage(`{}`),
					Metadata: map[string]string{"team": team, "n": fmt.Sprint(i)}, CreatedAt: time.Now()}
				_, _, err := s.CreateTask(ctx, tk)
				require.NoError(t, err)
				if team == "red" {
					mu.Lock()
					if want[ten] == nil {
						want[ten] = map[string]bool{}
					}
					want[ten][tk.ID] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	require.Positive(t, postgres.Multis(s), "64 concurrent submits never shared a multi-row statement")
	for _, ten := range tenants {
		got := map[string]bool{}
		cursor := ""
		for {
			page, next, err := s.ListTasks(ctx, ten, store.TaskFilter{Metadata: map[string]string{"team": "red"}, Limit: 100, Cursor: cursor})
			require.NoError(t, err)
			for _, tk := range page {
				require.Equal(t, "red", tk.Metadata["team"])
				got[tk.ID] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, want[ten], got, "tenant %s", ten)
	}
}

// createTenant stores a tenant of tier for a test.
func createTenant(t testing.TB, s *postgres.Store, tier string) *store.Tenant {
	t.Helper()
	ten := &store.Tenant{ID: store.NewID("ten"), Name: "a", Tier: tier, WebhookSecret: "whsec_x", CreatedAt: time.Now()}
	require.NoError(t, s.CreateTenant(t.Context(), ten))
	return ten
}
