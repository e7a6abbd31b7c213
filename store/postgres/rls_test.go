package postgres_test

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// rlsFixture makes two tenants, each with a key, a queued task with an Idempotency-Key, a
// canceled task (and so a usage record), a delivery and a model call: a row of theirs in
// every table.
func rlsFixture(t *testing.T, s *postgres.Store) (a, b *store.Tenant) {
	t.Helper()
	at := time.Now().UTC()
	mk := func(name string) *store.Tenant {
		ten := &store.Tenant{ID: store.NewID("ten"), Name: name, Tier: "pro", WebhookSecret: "whsec_" + name, CreatedAt: at}
		require.NoError(t, s.CreateTenant(t.Context(), ten))
		require.NoError(t, s.CreateAPIKey(t.Context(), &store.APIKey{
			ID: store.NewID("key"), TenantID: ten.ID, Prefix: "ak_" + name, Hash: []byte("hash-" + ten.ID), CreatedAt: at,
		}))
		for i, idem := range []string{"idem-1", ""} {
			tk := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{}`),
				MaxAttempts: 3, IdempotencyKey: idem, RequestHash: []byte{byte(i)}, CreatedAt: at,
				Metadata: map[string]string{"owner": name}}
			_, _, err := s.CreateTask(t.Context(), tk)
			require.NoError(t, err)
			if idem == "" {
				_, err = s.CancelTask(t.Context(), ten.ID, tk.ID, at)
				require.NoError(t, err)
				require.NoError(t, s.RecordDelivery(t.Context(), &store.Delivery{ID: store.NewID("dlv"), TenantID: ten.ID,
					TaskID: tk.ID, WebhookID: "msg_" + tk.ID, EventType: "task.canceled", URL: "https://example.com",
					Attempt: 1, CreatedAt: at}))
				require.NoError(t, s.RecordCalls(t.Context(), []store.LLMCall{{TaskID: tk.ID, TenantID: ten.ID,
					Attempt: 1, Seq: 1, Provider: "openai", Model: "gpt-4o", Outcome: "canceled", Error: "canceled", At: at}}))
			}
		}
		return ten
	}
	return mk("a"), mk("b")
}

// A query that forgets its WHERE tenant_id, run as tenant A the way the store runs every
// tenant-facing statement, sees A's rows only — in every table that holds tenant data.
func TestRowLevelSecurityForgottenFilter(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	a, b := rlsFixture(t, s)

	for _, q := range []string{
		`SELECT DISTINCT tenant_id FROM tasks`,
		`SELECT DISTINCT tenant_id FROM task_metadata`,
		`SELECT DISTINCT tenant_id FROM idempotency_keys`,
		`SELECT DISTINCT tenant_id FROM usage_records`,
		`SELECT DISTINCT tenant_id FROM webhook_deliveries`,
		`SELECT DISTINCT tenant_id FROM llm_calls`,
		`SELECT id FROM tenants`,
		`SELECT DISTINCT t.tenant_id FROM tasks t JOIN usage_records u ON true`,
	} {
		got, err := postgres.AsTenant(t, s, a.ID, q)
		require.NoError(t, err, q)
		require.Equal(t, []string{a.ID}, got, "as tenant A: %s", q)

		all, err := postgres.AsSystem(t, s, q)
		require.NoError(t, err, q)
		want := []string{a.ID, b.ID}
		sort.Strings(all)
		sort.Strings(want)
		require.Equal(t, want, all, "the system role sees every tenant: %s", q)
	}

	_, err := postgres.AsTenant(t, s, a.ID, `SELECT id FROM api_keys`)
	require.ErrorContains(t, err, "permission denied", "tenants never read keys, not even their own")
	_, err = postgres.AsTenant(t, s, a.ID, `INSERT INTO llm_calls (tenant_id, task_id, attempt, seq, provider,
		model, outcome, created_at) SELECT tenant_id, task_id, attempt, seq + 1, provider, model, outcome, created_at
		FROM llm_calls RETURNING task_id`)
	require.ErrorContains(t, err, "permission denied", "tenants read their model calls; only workers write them")

	// Writes: an UPDATE without a WHERE touches A's rows only; a row for B is refused.
	_, err = postgres.AsTenant(t, s, a.ID, `UPDATE tasks SET cancel_requested = true RETURNING id`)
	require.NoError(t, err)
	flagged, err := postgres.AsSystem(t, s, `SELECT DISTINCT tenant_id FROM tasks WHERE cancel_requested AND status = 'queued'`)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, flagged)

	_, err = postgres.AsTenant(t, s, a.ID, `INSERT INTO tasks (id, tenant_id, agent, status, input, created_at)
		VALUES ('tsk_forged', '`+b.ID+`', 'echo', 'queued', '{}', now()) RETURNING id`)
	require.ErrorContains(t, err, "row-level security")
	_, err = postgres.AsTenant(t, s, a.ID, `UPDATE tasks SET tenant_id = '`+b.ID+`' RETURNING id`)
	require.ErrorContains(t, err, "row-level security", "a row cannot be moved to another tenant")
}

// No setting a session can make grants a bypass: not a custom flag, not row_security = off,
// not a pattern for a tenant id; with no tenant set, nothing is visible.
func TestRowLevelSecurityNoSessionBypass(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	a, _ := rlsFixture(t, s)
	const q = `SELECT DISTINCT tenant_id FROM tasks`

	for name, setup := range map[string][]string{
		"bypass flags": {
			`SELECT set_config('agentic.bypass_rls', 'on', true)`,
			`SELECT set_config('app.bypass_rls', 'true', true)`,
		},
		"disable policies": {`SELECT set_config('row_security', 'off', true)`},
	} {
		got, err := postgres.AsTenant(t, s, a.ID, q, setup...)
		if err != nil {
			require.ErrorContains(t, err, "row-level security", name)
			continue
		}
		require.Equal(t, []string{a.ID}, got, name)
	}

	for _, id := range []string{"", "%", "*", "ten_%", "' OR '1'='1", "ten_x' OR true --"} {
		got, err := postgres.AsTenant(t, s, id, q)
		require.NoError(t, err)
		require.Empty(t, got, "tenant id %q", id)
	}
}

// The roles: the tenant role has no BYPASSRLS, is no superuser, cannot log in and owns no
// table; every table with tenant data has row-level security enabled and forced; no policy
// reads anything but the tenant setting.
func TestRowLevelSecurityCatalog(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	ctx := t.Context()

	for _, role := range []string{"agentic_tenant", "agentic_system"} {
		var bypass, super, login bool
		require.NoError(t, s.Pool().QueryRow(ctx,
			`SELECT rolbypassrls, rolsuper, rolcanlogin FROM pg_roles WHERE rolname = $1`, role).Scan(&bypass, &super, &login))
		require.False(t, bypass, "%s has BYPASSRLS", role)
		require.False(t, super, "%s is a superuser", role)
		require.False(t, login, "%s can log in", role)
	}

	rows, err := s.Pool().Query(ctx, `
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)
		FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
			AND c.relname <> 'goose_db_version'`)
	require.NoError(t, err)
	tables := 0
	for rows.Next() {
		var name, owner string
		var enabled, forced bool
		require.NoError(t, rows.Scan(&name, &enabled, &forced, &owner))
		require.True(t, enabled, "row-level security on %s", name)
		require.True(t, forced, "FORCE row-level security on %s", name)
		require.NotContains(t, []string{"agentic_tenant", "agentic_system"}, owner, "%s owned by %s", name, owner)
		tables++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 9, tables)

	rows, err = s.Pool().Query(ctx, `
		SELECT tablename, policyname, roles::text[], coalesce(qual, ''), coalesce(with_check, '')
		FROM pg_policies WHERE schemaname = current_schema()`)
	require.NoError(t, err)
	policies := 0
	for rows.Next() {
		var table, name, qual, check string
		var roles []string
		require.NoError(t, rows.Scan(&table, &name, &roles, &qual, &check))
		policies++
		switch name {
		case "tenant_rows":
			require.Equal(t, []string{"agentic_tenant"}, roles, table)
			key := "tenant_id"
			if table == "tenants" {
				key = "id"
			}
			require.Equal(t, "("+key+" = current_setting('agentic.tenant_id'::text, true))", qual, table)
			if check != "" {
				require.Equal(t, qual, check, table)
			}
		case "system_rows":
			require.Equal(t, []string{"agentic_system"}, roles, table)
		default:
			t.Errorf("unexpected policy %s on %s", name, table)
		}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 17, policies)
}

// As production runs it: the login owns the schema but is no superuser and may not create
// roles (a DBA made the two roles and granted them, as deploy/postgres/init.sql does). It
// migrates, the store works, and the login itself — owner of every table — reads no row:
// FORCE binds the owner, so a statement sent without a role finds nothing.
func TestRowLevelSecurityOwnerLoginSeesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schemaURL := pgtest.Schema(t)
	admin, err := pgx.Connect(ctx, schemaURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	login := "agentic_owner_" + strings.ToLower(strings.TrimPrefix(store.NewID("x"), "x_"))
	var schema string
	require.NoError(t, admin.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema))
	for _, q := range []string{
		`CREATE ROLE ` + login + ` LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS`,
		// Made by a DBA beforehand (here: by the migrations of other tests, or now).
		`DO $$ BEGIN CREATE ROLE agentic_tenant NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
		`DO $$ BEGIN CREATE ROLE agentic_system NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
		`GRANT agentic_tenant, agentic_system TO ` + login,
		`ALTER SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` OWNER TO ` + login,
	} {
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, q := range []string{`REASSIGN OWNED BY ` + login + ` TO current_user`, `DROP OWNED BY ` + login, `DROP ROLE ` + login} {
			if _, err := admin.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})

	u, err := url.Parse(schemaURL)
	require.NoError(t, err)
	u.User = url.User(login) // trust authentication on the test server
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// A login inheriting the roles' privileges would pass their policies: refused, with the fix.
	err = postgres.Migrate(ctx, pool)
	require.ErrorContains(t, err, "inherits the privileges of agentic_system")
	_, err = admin.Exec(ctx, `ALTER ROLE `+login+` NOINHERIT`)
	require.NoError(t, err)
	require.NoError(t, postgres.Migrate(ctx, pool))
	s := postgres.New(pool)
	a, b := rlsFixture(t, s)

	var n int
	for _, table := range []string{"tenants", "api_keys", "tasks", "task_metadata", "idempotency_keys", "usage_records", "webhook_deliveries", "llm_calls"} {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		require.Zero(t, n, "the owner login without a role reads %s", table)
	}
	got, err := postgres.AsTenant(t, s, a.ID, `SELECT DISTINCT tenant_id FROM tasks`)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, got)
	tasks, _, err := s.ListTasks(ctx, b.ID, store.TaskFilter{})
	require.NoError(t, err)
	require.Len(t, tasks, 2)
}
