package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/platformtest"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

func TestSubmitWaitListGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	r := cli(t, e.tenant, "submit", "--agent", "echo", "--input", `{"text": "hi"}`, "--metadata", "order=42", "--metadata", "team=ops", "--wait").ok(t)
	assert.Equal(t, "succeeded", r.field(t, "status"))
	assert.Equal(t, `{"text":"hi"}`, r.field(t, "output"))
	assert.Equal(t, "order=42 team=ops", r.field(t, "metadata"))
	id := r.field(t, "id")
	require.True(t, strings.HasPrefix(id, "tsk_"), id)

	// A second task, so that lists have an order to keep.
	r = cli(t, e.tenant, "submit", "--agent", "echo", "--input", `{"n": 2}`, "--json").ok(t)
	second := decode[client.Task](t, r.stdout)
	assert.Equal(t, "queued", second.Status)

	r = cli(t, e.tenant, "tasks").ok(t)
	rows := lines(r.stdout)
	require.Len(t, rows, 3, r.stdout)
	assert.Regexp(t, `^ID\s+AGENT\s+STATUS\s+CREATED\s+COST$`, rows[0])
	assert.True(t, strings.HasPrefix(rows[1], second.ID), "newest first:\n%s", r.stdout)
	assert.Regexp(t, `^`+id+`\s+echo\s+succeeded\s+`, rows[2])

	r = cli(t, e.tenant, "tasks", "--metadata", "order=42", "--json").ok(t)
	page := decode[client.TaskList](t, r.stdout)
	require.Len(t, page.Data, 1)
	assert.Equal(t, id, page.Data[0].ID)
	assert.Nil(t, page.NextCursor)

	r = cli(t, e.tenant, "tasks", "--limit", "1").ok(t)
	assert.Contains(t, r.stdout, second.ID)
	assert.NotContains(t, r.stdout, id)
	assert.Regexp(t, `(?m)^more: agentic tasks --cursor \S+ \(or --all\)$`, r.stdout)
	r = cli(t, e.tenant, "tasks", "--limit", "1", "--all", "--json").ok(t)
	page = decode[client.TaskList](t, r.stdout)
	require.Len(t, page.Data, 2)
	assert.Equal(t, []string{second.ID, id}, []string{page.Data[0].ID, page.Data[1].ID})

	r = cli(t, e.tenant, "tasks", "--status", "succeeded", "--agent", "echo").ok(t)
	assert.Contains(t, r.stdout, id)
	r = cli(t, e.tenant, "tasks", "--agent", "summarizer").ok(t)
	assert.Equal(t, "no tasks\n", r.stdout)

	r = cli(t, e.tenant, "get", id).ok(t)
	assert.Equal(t, id, r.field(t, "id"))
	assert.Equal(t, "succeeded", r.field(t, "status"))
	// Flags may follow the arguments.
	r = cli(t, e.tenant, "get", second.ID, "--wait", "30s", "--json").ok(t)
	got := decode[client.Task](t, r.stdout)
	assert.Equal(t, "succeeded", got.Status)
	assert.JSONEq(t, `{"n":2}`, string(got.Output))

	r = cli(t, e.tenant, "get", "tsk_missing")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "agentic: task not found (not_found)\n", r.stderr)
}

func TestSubmitRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &platformtest.Options{NoWorker: true})
	r := cli(t, e.tenant, "submit", "--agent", "summarizer", "--input", `{"txt": 1}`)
	assert.Equal(t, 1, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "agentic: the input does not match the agent's input_schema (invalid_input)\n  "), r.stderr)
	assert.Empty(t, r.stdout)

	// An input file, and an idempotent replay.
	path := filepath.Join(t.TempDir(), "in.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"text": "from a file"}`), 0o600))
	first := cli(t, e.tenant, "submit", "--agent", "echo", "--input", "@"+path, "--idempotency-key", "k1").ok(t)
	again := cli(t, e.tenant, "submit", "--agent", "echo", "--input", "@"+path, "--idempotency-key", "k1").ok(t)
	assert.Equal(t, first.field(t, "id"), again.field(t, "id"))
	assert.Contains(t, again.stdout, "(replayed: ")
	assert.NotContains(t, first.stdout, "replayed")

	r = cli(t, e.tenant, "submit", "--agent", "echo", "--input", `{"other": true}`, "--idempotency-key", "k1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(idempotency_conflict)")

	// Nothing runs the task: --wait gives up after --timeout.
	r = cli(t, e.tenant, "submit", "--agent", "echo", "--input", `{}`, "--wait", "--timeout", "300ms")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "queued", r.field(t, "status"))
	assert.Regexp(t, `^agentic: task tsk_\S+ is still queued after 300ms\n$`, r.stderr)
}

func TestCancelAndWatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &platformtest.Options{NoWorker: true})
	id := cli(t, e.tenant, "submit", "--agent", "echo", "--input", `{}`).ok(t).field(t, "id")

	r := cli(t, e.tenant, "cancel", id).ok(t)
	assert.Equal(t, "canceled", r.field(t, "status"))

	r = cli(t, e.tenant, "cancel", id)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "agentic: the task has already finished (task_finished)\n", r.stderr)

	r = cli(t, e.tenant, "watch", id)
	assert.Equal(t, 1, r.code, "a canceled task is not a success")
	assert.Regexp(t, `^\d\d:\d\d:\d\d  canceled\n`, r.stdout)
	assert.Regexp(t, `^agentic: task `+id+` canceled`, r.stderr)

	r = cli(t, e.tenant, "watch", "tsk_missing")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(not_found)")
}

func TestWatchToSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &platformtest.Options{SimLatency: 200 * time.Millisecond})
	id := cli(t, e.tenant, "submit", "--agent", "sentiment", "--input", `{"text": "I love it"}`).ok(t).field(t, "id")
	r := cli(t, e.tenant, "watch", id).ok(t)
	out := lines(r.stdout)
	require.GreaterOrEqual(t, len(out), 2, r.stdout)
	assert.Regexp(t, `^\d\d:\d\d:\d\d  succeeded$`, out[len(out)-2])
	assert.True(t, strings.HasPrefix(out[len(out)-1], "output  {"), r.stdout)

	// --json: one task per line; the last one is terminal.
	r = cli(t, e.tenant, "watch", id, "--json").ok(t)
	out = lines(r.stdout)
	require.Len(t, out, 1, "a finished task has one event")
	assert.Equal(t, "succeeded", decode[client.Task](t, out[0]).Status)
}

func TestAdminCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &platformtest.Options{NoWorker: true})

	r := cli(t, e.admin, "tenants", "create", "--name", "acme", "--tier", "pro", "--budget", "50").ok(t)
	tenantID := r.field(t, "id")
	assert.Equal(t, "acme", r.field(t, "name"))
	assert.Equal(t, "pro", r.field(t, "tier"))
	assert.Equal(t, "$50.00", r.field(t, "monthly budget"))
	assert.Regexp(t, `^whsec_\S+\s+\(shown only now\)$`, r.field(t, "webhook secret"))

	r = cli(t, e.admin, "tenants", "get", tenantID).ok(t)
	assert.Equal(t, "pro", r.field(t, "tier"))
	assert.NotContains(t, r.stdout, "whsec_")
	r = cli(t, e.admin, "tenants", "update", tenantID, "--budget", "none", "--tier", "basic").ok(t)
	assert.Equal(t, "none", r.field(t, "monthly budget"))
	assert.Equal(t, "basic", r.field(t, "tier"))
	r = cli(t, e.admin, "--json", "tenants", "get", tenantID).ok(t)
	ten := decode[client.Tenant](t, r.stdout)
	assert.Nil(t, ten.MonthlyBudgetUSD)
	assert.Equal(t, "basic", ten.Tier)
	r = cli(t, e.admin, "tenants", "rotate-secret", tenantID).ok(t)
	assert.Regexp(t, `^whsec_\S+\s+\(shown only now\)$`, r.field(t, "webhook secret"))
	assert.Contains(t, r.field(t, "previous secret"), "signs too until")
	r = cli(t, e.admin, "tenants", "create", "--name", "x", "--tier", "gold")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(invalid_tier)\n  /tier: must be one of")

	r = cli(t, e.admin, "keys", "create", tenantID, "--name", "ci", "--json").ok(t)
	key := decode[client.APIKey](t, r.stdout)
	require.True(t, strings.HasPrefix(key.Key, "ak_"))
	r = cli(t, e.admin, "keys", "create", tenantID).ok(t)
	assert.Regexp(t, `^ak_\S+\s+\(shown only now\)$`, r.field(t, "key"))

	// The new key works, through the flag (which overrides the environment) ...
	withKey := map[string]string{"AGENTIC_URL": e.p.URL, "AGENTIC_API_KEY": "ak_wrong"}
	cli(t, withKey, "agents", "--api-key", key.Key).ok(t)
	r = cli(t, withKey, "agents")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "agentic: missing or invalid credentials (unauthorized)\n", r.stderr)

	// ... until it is revoked.
	r = cli(t, e.admin, "keys", "revoke", key.ID).ok(t)
	assert.Equal(t, "revoked "+key.ID+"\n", r.stdout)
	r = cli(t, withKey, "--api-key", key.Key, "agents")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(unauthorized)")
	r = cli(t, e.admin, "keys", "revoke", key.ID+"x")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(not_found)")

	// A tenant key is not the admin token; no token at all is a usage error.
	r = cli(t, e.admin, "tenants", "get", tenantID, "--admin-token", key.Key)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "(unauthorized)")
	r = cli(t, e.tenant, "tenants", "get", tenantID)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "AGENTIC_ADMIN_TOKEN")
}

func TestAgentsCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &platformtest.Options{NoWorker: true})
	r := cli(t, e.tenant, "agents").ok(t)
	rows := lines(r.stdout)
	require.Len(t, rows, 7)
	assert.Regexp(t, `^ID\s+QUALITY\s+CATEGORY\s+NAME$`, rows[0])
	assert.Regexp(t, `^echo\s+economy\s+testing\s+Echo$`, rows[2])

	r = cli(t, e.tenant, "agents", "summarizer").ok(t)
	assert.Equal(t, "standard", r.field(t, "quality"))
	assert.Contains(t, r.field(t, "input schema"), `"text"`)
	r = cli(t, e.tenant, "agents", "--json").ok(t)
	assert.Len(t, decode[client.AgentList](t, r.stdout).Data, 6)
	r = cli(t, e.tenant, "agents", "nope")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "agentic: agent not found (not_found)\n", r.stderr)
}

func TestHelp(t *testing.T) {
	t.Parallel()
	globals := []string{"--url URL", "--api-key key", "--admin-token token", "--json"}
	for _, c := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"submit"}, []string{"--agent agent", "--input JSON", "--webhook URL", "--metadata KEY=VALUE", "--idempotency-key key", "--quality quality", "--max-cost USD", "--wait", "--timeout duration"}},
		{[]string{"get"}, []string{"--wait duration"}},
		{[]string{"watch"}, nil},
		{[]string{"cancel"}, nil},
		{[]string{"tasks"}, []string{"--status status", "--agent agent", "--metadata KEY=VALUE", "--limit int", "--cursor cursor", "--all"}},
		{[]string{"agents"}, nil},
		{[]string{"tenants"}, []string{"create", "get", "update", "rotate-secret"}},
		{[]string{"tenants", "create"}, []string{"--name name", "--tier tier", "--budget USD"}},
		{[]string{"tenants", "get"}, nil},
		{[]string{"tenants", "update"}, []string{"--tier tier", "--budget USD"}},
		{[]string{"keys"}, []string{"create", "revoke"}},
		{[]string{"keys", "create"}, []string{"--name name"}},
		{[]string{"keys", "revoke"}, nil},
		{[]string{"migrate"}, []string{"--database-url URL"}},
	} {
		name := strings.Join(c.args, " ")
		for _, h := range []string{"-h", "--help"} {
			r := cli(t, nil, append(c.args, h)...)
			require.Equal(t, 0, r.code, "%s %s: %s", name, h, r.stderr)
			assert.True(t, strings.HasPrefix(r.stdout, "Usage:\n  agentic "+name), "%s:\n%s", name, r.stdout)
			assert.Regexp(t, `\nExamples:\n  \S`, r.stdout, name)
			for _, f := range append(c.flags, globals...) {
				assert.Contains(t, r.stdout, "  "+f, "%s help lacks %s:\n%s", name, f, r.stdout)
			}
		}
		assert.Equal(t, cli(t, nil, append(c.args, "-h")...).stdout, cli(t, nil, append([]string{"help"}, c.args...)...).stdout, name)
	}
	r := cli(t, nil, "bench", "-h").ok(t)
	for _, f := range []string{"--tasks int", "--clients int", "--tenants int", "--agent string", "--webhook-listen string", "--timeout duration", "--url URL", "--admin-token token"} {
		assert.Contains(t, r.stdout, "  "+f)
	}
	assert.NotContains(t, cli(t, map[string]string{"AGENTIC_ADMIN_TOKEN": "s3cret"}, "bench", "-h").stdout, "s3cret", "help never shows a secret")

	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := cli(t, nil, args...).ok(t)
		assert.Equal(t, usage, r.stdout)
	}
	for _, cmd := range []string{"submit", "get", "watch", "cancel", "tasks", "agents", "tenants", "keys", "dev", "migrate", "bench"} {
		assert.Regexp(t, `(?m)^  `+cmd+` +\S`, usage)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AGENTIC_API_KEY": "ak_x", "AGENTIC_ADMIN_TOKEN": "t", "AGENTIC_URL": "http://127.0.0.1:1"}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{nil, "agentic: no command given\n"},
		{[]string{"frobnicate"}, `agentic: unknown command "frobnicate"`},
		{[]string{"--bogus", "agents"}, "agentic: flag provided but not defined: -bogus"},
		{[]string{"agents", "--bogus"}, "agentic agents: flag provided but not defined: -bogus\nRun 'agentic agents -h' for usage.\n"},
		{[]string{"get"}, "agentic get: missing TASK_ID"},
		{[]string{"get", "a", "b"}, `agentic get: unexpected argument "b"`},
		{[]string{"submit", "--input", "{}"}, "agentic submit: --agent is required"},
		{[]string{"submit", "--agent", "echo"}, "agentic submit: --input is required"},
		{[]string{"submit", "--agent", "echo", "--input", "{not json"}, "agentic submit: --input is not valid JSON"},
		{[]string{"submit", "--agent", "echo", "--input", "{}", "--metadata", "novalue"}, "want KEY=VALUE"},
		{[]string{"tasks", "--limit", "0"}, "agentic tasks: --limit must be from 1 to 100"},
		{[]string{"tenants"}, "agentic tenants: missing command"},
		{[]string{"tenants", "delete"}, `agentic tenants: unknown command "delete"`},
		{[]string{"tenants", "create"}, "agentic tenants create: --name is required"},
		{[]string{"tenants", "update", "ten_x"}, "agentic tenants update: nothing to change"},
		{[]string{"keys", "create"}, "agentic keys create: missing TENANT_ID"},
		{[]string{"--url", "ftp://x", "agents"}, "--url: agentic: base url"},
		{[]string{"bench", "--tasks", "0"}, "agentic bench: --tasks, --clients and --tenants must be at least 1"},
	} {
		r := cli(t, env, c.args...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.msg, c.args)
	}
	r := cli(t, map[string]string{}, "agents")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "AGENTIC_API_KEY")
}

func TestTransportError(t *testing.T) {
	t.Parallel()
	r := cli(t, map[string]string{"AGENTIC_API_KEY": "ak_x", "AGENTIC_URL": "http://127.0.0.1:1"}, "agents")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "agentic: agentic: GET /v1/agents: ")
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Schema(t) // empty: nothing migrated yet
	r := cli(t, map[string]string{"DATABASE_URL": dbURL}, "migrate").ok(t)
	assert.True(t, strings.HasPrefix(r.stdout, "migrated postgres://"), r.stdout)
	cli(t, nil, "migrate", "--database-url", dbURL).ok(t) // again: nothing to do

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	_, err = postgres.New(pool).GetTenant(ctx, "ten_missing")
	require.True(t, errors.Is(err, store.ErrNotFound), "the tables exist: %v", err)

	dir := t.TempDir()
	r = cli(t, map[string]string{"AGENTIC_DATA_DIR": dir}, "migrate")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "DATABASE_URL (or --database-url) is required")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "agentic.db"), nil, 0o600))
	r = cli(t, map[string]string{"AGENTIC_DATA_DIR": dir}, "migrate").ok(t)
	assert.Contains(t, r.stdout, "migrates itself when it is opened")

	r = cli(t, map[string]string{"DATABASE_URL": "postgres://postgres:pw@127.0.0.1:1/x"}, "migrate")
	assert.Equal(t, 1, r.code)
	assert.NotContains(t, r.stderr, "pw@", "no password in messages")
}

func TestBench(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := cli(t, e.admin, "bench", "--tasks", "30", "--clients", "4", "--tenants", "2", "--timeout", "1m").ok(t)
	assert.Contains(t, r.stdout, "submitting 30 echo tasks from 4 clients across 2 tenants")
	assert.Regexp(t, `(?m)^\s+tasks submitted\s+30$`, r.stdout)
	assert.Regexp(t, `(?m)^\s+webhooks received\s+30$`, r.stdout)
	assert.NotContains(t, r.stdout, "\r", "no progress line off a terminal")
	assert.Regexp(t, regexp.MustCompile(`submit→webhook p99`), r.stdout)
}
