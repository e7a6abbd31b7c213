package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-run/agentic/store"
)

// taskCols is the column list every task query returns, in scanTask's order.
const taskCols = `id, tenant_id, agent, status, input, output, error_code, error_message,
	model, provider, input_tokens, output_tokens, cost_micros, attempts, max_attempts,
	metadata, webhook_url, quality, max_cost_micros, idempotency_key, request_hash, trace_id,
	cancel_requested, lease_until, created_at, started_at, finished_at, published_at, routing, cache`

// terminalSQL lists the terminal states for SQL conditions.
const terminalSQL = `('succeeded', 'failed', 'canceled')`

func scanTask(row pgx.Row) (*store.Task, error) {
	var (
		t                                                  store.Task
		input, output, metadata, routing                   []byte
		errCode, errMsg, model, provider, webhook, idemKey *string
	)
	err := row.Scan(&t.ID, &t.TenantID, &t.Agent, &t.Status, &input, &output, &errCode, &errMsg,
		&model, &provider, &t.InputTokens, &t.OutputTokens, &t.CostMicros, &t.Attempts, &t.MaxAttempts,
		&metadata, &webhook, &t.Quality, &t.MaxCostMicros, &idemKey, &t.RequestHash, &t.TraceID,
		&t.CancelRequested, &t.LeaseUntil, &t.CreatedAt, &t.StartedAt, &t.FinishedAt, &t.PublishedAt, &routing, &t.Cache)
	if err != nil {
		return nil, err
	}
	t.Input = json.RawMessage(input)
	if output != nil {
		t.Output = json.RawMessage(output)
	}
	if routing != nil {
		t.Routing = json.RawMessage(routing)
	}
	if errCode != nil || errMsg != nil {
		t.Error = &store.TaskError{Code: deref(errCode), Message: deref(errMsg)}
	}
	t.Model, t.Provider, t.WebhookURL, t.IdempotencyKey = deref(model), deref(provider), deref(webhook), deref(idemKey)
	t.Metadata = map[string]string{}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &t.Metadata); err != nil {
			return nil, fmt.Errorf("decode metadata of %s: %w", t.ID, err)
		}
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.LeaseUntil, t.StartedAt, t.FinishedAt, t.PublishedAt = utcp(t.LeaseUntil), utcp(t.StartedAt), utcp(t.FinishedAt), utcp(t.PublishedAt)
	return &t, nil
}

// taskRow runs sql in sc and scans the one task it returns; no row is pgx.ErrNoRows.
func (s *Store) taskRow(ctx context.Context, sc scope, sql string, args ...any) (*store.Task, error) {
	return one(ctx, s, sc, scanTask, sql, args...)
}

// tasks runs sql in sc and scans the tasks it returns.
func (s *Store) tasks(ctx context.Context, sc scope, sql string, args ...any) ([]*store.Task, error) {
	var out []*store.Task
	err := s.query(ctx, sc, sql, args, func(rows pgx.Rows) error {
		t, err := scanTask(rows)
		if err == nil {
			out = append(out, t)
		}
		return err
	})
	return out, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// null turns "" into SQL NULL.
func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nullJSON turns an empty raw message into SQL NULL.
func nullJSON(m json.RawMessage) []byte {
	if len(m) == 0 {
		return nil
	}
	return m
}

// routingJSON is a task's routing for storage: none (nil, empty or a JSON null) is SQL NULL,
// so it reads back as nil.
func routingJSON(m json.RawMessage) []byte {
	if len(m) == 0 || string(bytes.TrimSpace(m)) == "null" {
		return nil
	}
	return m
}

func metadataJSON(m map[string]string) ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return b, nil
}

// insertTaskValues is the INSERT column list and typed parameter list shared by both paths
// of CreateTask (the casts let the parameters stand in a SELECT list).
const insertTaskCols = `id, tenant_id, agent, status, input, output, error_code, error_message,
	model, provider, input_tokens, output_tokens, cost_micros, attempts, max_attempts,
	metadata, webhook_url, quality, max_cost_micros, idempotency_key, request_hash, trace_id,
	cancel_requested, lease_until, created_at, started_at, finished_at, published_at, routing, cache`

const insertTaskParams = `$1::text, $2::text, $3::text, $4::text, $5::json, $6::json, $7::text, $8::text,
	$9::text, $10::text, $11::bigint, $12::bigint, $13::bigint, $14::int, $15::int,
	$16::jsonb, $17::text, $18::text, $19::bigint, $20::text, $21::bytea, $22::text,
	$23::boolean, $24::timestamptz, $25::timestamptz, $26::timestamptz, $27::timestamptz, $28::timestamptz,
	$29::jsonb, $30::boolean`

// insertMetadataSQL writes the metadata pairs of the tasks a CTE named t inserted (RETURNING
// tenant_id, created_at, id, metadata) to task_metadata, which serves metadata filters.
const insertMetadataSQL = `INSERT INTO task_metadata (tenant_id, key, value, created_at, task_id)
	SELECT t.tenant_id, m.key, m.value, t.created_at, t.id FROM t, jsonb_each_text(t.metadata) m`

// createTaskSQL inserts a task without an idempotency key, and its metadata pairs.
const createTaskSQL = `WITH t AS (
	INSERT INTO tasks (` + insertTaskCols + `) VALUES (` + insertTaskParams + `)
	RETURNING tenant_id, created_at, id, metadata
) ` + insertMetadataSQL

// createIdempotentTaskSQL claims (tenant, key) and inserts the task only if the claim is its
// own. The key is taken over when the stored claim is at least 24 hours older than the new
// task. ON CONFLICT DO UPDATE (rather than DO NOTHING) makes RETURNING yield the winner's
// task id even when the winner committed after this statement's snapshot was taken; reading
// that task needs a second statement, whose snapshot sees it.
const createIdempotentTaskSQL = `
WITH claim AS (
	INSERT INTO idempotency_keys AS k (tenant_id, key, task_id, created_at)
	VALUES ($2, $20, $1, $25)
	ON CONFLICT (tenant_id, key) DO UPDATE SET
		task_id = CASE WHEN k.created_at <= excluded.created_at - interval '24 hours'
			THEN excluded.task_id ELSE k.task_id END,
		created_at = CASE WHEN k.created_at <= excluded.created_at - interval '24 hours'
			THEN excluded.created_at ELSE k.created_at END
	RETURNING task_id
), t AS (
	INSERT INTO tasks (` + insertTaskCols + `)
	SELECT ` + insertTaskParams + ` FROM claim WHERE claim.task_id = $1
	RETURNING tenant_id, created_at, id, metadata
), meta AS (
	` + insertMetadataSQL + `
)
SELECT task_id FROM claim`

// fresh reports whether t is a new submission — nothing run, nothing recorded — which is
// what the multi-row insert writes.
func fresh(t *store.Task) bool {
	return t.Output == nil && t.Error == nil && t.Model == "" && t.Provider == "" && t.InputTokens == 0 &&
		t.OutputTokens == 0 && t.CostMicros == 0 && t.Attempts == 0 && t.RequestHash == nil && !t.CancelRequested &&
		t.LeaseUntil == nil && t.StartedAt == nil && t.FinishedAt == nil && t.PublishedAt == nil && t.Routing == nil
}

type newTaskRow struct {
	t    *store.Task
	meta []byte
}

// createMany inserts many fresh tasks (no idempotency key) in one statement.
var createMany = &multi{build: func(ops []*op) (string, []any) {
	n := len(ops)
	ids, tenants, agents, inputs, metas, quals, traces := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hooks := make([]*string, n)
	caches := make([]bool, n)
	maxAttempts := make([]int32, n)
	maxCosts := make([]*int64, n)
	created := make([]time.Time, n)
	for i, o := range ops {
		r := o.row.(newTaskRow)
		t := r.t
		ids[i], tenants[i], agents[i], inputs[i], metas[i] = t.ID, t.TenantID, t.Agent, string(t.Input), string(r.meta)
		quals[i], traces[i], hooks[i], maxAttempts[i] = t.Quality, t.TraceID, null(t.WebhookURL), int32(t.MaxAttempts)
		maxCosts[i], created[i], caches[i] = t.MaxCostMicros, t.CreatedAt, t.Cache
	}
	return `WITH t AS (
		INSERT INTO tasks (id, tenant_id, agent, status, input, max_attempts, metadata, webhook_url,
			quality, max_cost_micros, trace_id, created_at, cache)
		SELECT vid, vtenant, vagent, 'queued', vinput::json, vmax, vmeta::jsonb, vhook, vquality, vcost, vtrace, vcreated, vcache
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[],
			$8::text[], $9::int8[], $10::text[], $11::timestamptz[], $12::bool[])
			AS v(vid, vtenant, vagent, vinput, vmax, vmeta, vhook, vquality, vcost, vtrace, vcreated, vcache)
		RETURNING tenant_id, created_at, id, metadata
	) ` + insertMetadataSQL,
		[]any{ids, tenants, agents, inputs, maxAttempts, metas, hooks, quals, maxCosts, traces, created, caches}
}}

// CreateTask inserts t as queued: one INSERT without an idempotency key; with one, one
// statement that claims the key (race-safe), plus one read of the existing task when the key
// was already taken within 24 hours of t.CreatedAt.
func (s *Store) CreateTask(ctx context.Context, t *store.Task) (*store.Task, bool, error) {
	t.Status = store.StatusQueued
	t.CreatedAt = ts(t.CreatedAt)
	t.LeaseUntil, t.StartedAt, t.FinishedAt, t.PublishedAt = tsp(t.LeaseUntil), tsp(t.StartedAt), tsp(t.FinishedAt), tsp(t.PublishedAt)
	if t.Metadata == nil {
		t.Metadata = map[string]string{}
	}
	meta, err := metadataJSON(t.Metadata)
	if err != nil {
		return nil, false, fmt.Errorf("create task: %w", err)
	}
	if len(t.Routing) > 0 && !json.Valid(t.Routing) {
		return nil, false, fmt.Errorf("create task: %w: routing is not valid JSON", store.ErrInvalidCall)
	}
	t.Routing = routingJSON(t.Routing)
	var errCode, errMsg *string
	if t.Error != nil {
		errCode, errMsg = &t.Error.Code, &t.Error.Message
	}
	args := []any{
		t.ID, t.TenantID, t.Agent, string(t.Status), nullJSON(t.Input), nullJSON(t.Output), errCode, errMsg,
		null(t.Model), null(t.Provider), t.InputTokens, t.OutputTokens, t.CostMicros, t.Attempts, t.MaxAttempts,
		meta, null(t.WebhookURL), t.Quality, t.MaxCostMicros, null(t.IdempotencyKey), t.RequestHash, t.TraceID,
		t.CancelRequested, t.LeaseUntil, t.CreatedAt, t.StartedAt, t.FinishedAt, t.PublishedAt, []byte(t.Routing), t.Cache,
	}
	if t.IdempotencyKey == "" {
		o := &op{sql: createTaskSQL, args: args, scope: tenant(t.TenantID)}
		if fresh(t) {
			o.multi, o.row = createMany, newTaskRow{t: t, meta: meta}
		}
		if err := s.batch.do(ctx, o); err != nil {
			return nil, false, fmt.Errorf("create task: %w", translate(err))
		}
		return t, false, nil
	}
	var winner string
	if err := s.queryRow(ctx, tenant(t.TenantID), createIdempotentTaskSQL, args,
		func(row pgx.Row) error { return row.Scan(&winner) }); err != nil {
		return nil, false, fmt.Errorf("create task: %w", translate(err))
	}
	if winner == t.ID {
		return t, false, nil
	}
	existing, err := s.GetTask(ctx, t.TenantID, winner)
	if err != nil {
		return nil, false, fmt.Errorf("create task: idempotency key taken by %s: %w", winner, err)
	}
	return existing, true, nil
}

// GetTask returns the tenant's task, or store.ErrNotFound (also for another tenant's task).
func (s *Store) GetTask(ctx context.Context, tenantID, id string) (*store.Task, error) {
	t, err := s.taskRow(ctx, tenant(tenantID),
		`SELECT `+taskCols+` FROM tasks WHERE id = $1 AND tenant_id = $2`, id, tenantID)
	if err != nil {
		return nil, fmt.Errorf("get task: %w", translate(err))
	}
	return t, nil
}

// LoadTask returns any tenant's task; for workers and dispatchers only.
func (s *Store) LoadTask(ctx context.Context, id string) (*store.Task, error) {
	t, err := s.taskRow(ctx, system, `SELECT `+taskCols+` FROM tasks WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("load task: %w", translate(err))
	}
	return t, nil
}

// ListTasks returns a page of the tenant's tasks, newest first by (created_at, id), and the
// opaque cursor of the next page ("" when there is none). The SQL names only the filters in
// use, so each shape gets a plan that fits it (a metadata filter uses task_metadata's index).
func (s *Store) ListTasks(ctx context.Context, tenantID string, f store.TaskFilter) ([]*store.Task, string, error) {
	sql, args, limit, err := listQuery(tenantID, f)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	tasks, err := s.tasks(ctx, tenant(tenantID), sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", translate(err))
	}
	next := ""
	if len(tasks) > limit {
		tasks = tasks[:limit]
		last := tasks[limit-1]
		next = store.EncodeCursor(last.CreatedAt, last.ID)
	}
	return tasks, next, nil
}

// listQuery builds ListTasks' SQL naming only the filters in use, and returns the page size;
// the query asks for one row more to learn whether a next page exists.
func listQuery(tenantID string, f store.TaskFilter) (sql string, args []any, limit int, err error) {
	limit = store.PageLimit(f.Limit)
	var q strings.Builder
	args = []any{tenantID}
	q.WriteString(`SELECT ` + taskCols + ` FROM tasks WHERE tenant_id = $1`)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		q.WriteString(` AND status = ` + arg(string(f.Status)))
	}
	if f.Agent != "" {
		q.WriteString(` AND agent = ` + arg(f.Agent))
	}
	// One semi-join a pair, on task_metadata's btree (text equality is leakproof, so row-level
	// security lets the index serve it; jsonb @> on a GIN index it would not). Keys in order,
	// so one set of keys is one SQL text and one cached plan.
	for _, key := range slices.Sorted(maps.Keys(f.Metadata)) {
		q.WriteString(` AND id IN (SELECT task_id FROM task_metadata WHERE tenant_id = $1 AND key = ` +
			arg(key) + ` AND value = ` + arg(f.Metadata[key]) + `)`)
	}
	if f.Cursor != "" {
		at, id, err := store.DecodeCursor(f.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		q.WriteString(` AND (created_at, id) < (` + arg(at) + `::timestamptz, ` + arg(id) + `::text)`)
	}
	q.WriteString(` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit+1))
	return q.String(), args, limit, nil
}

// MarkPublished records that the tasks' messages are on the bus (one UPDATE); a task already
// marked keeps its first time.
func (s *Store) MarkPublished(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.relaxed.exec(ctx, system,
		`UPDATE tasks SET published_at = $2 WHERE id = ANY($1) AND published_at IS NULL`, ids, ts(at))
	if err != nil {
		return fmt.Errorf("mark published: %w", translate(err))
	}
	return nil
}

const unpublishedSQL = `SELECT ` + taskCols + ` FROM tasks
	WHERE status = 'queued' AND published_at IS NULL AND created_at < $1
	ORDER BY created_at, id
	LIMIT $2`

// Unpublished returns queued tasks created before 'before' whose publish was never recorded,
// oldest first, at most limit (clamped to 1..1000).
func (s *Store) Unpublished(ctx context.Context, before time.Time, limit int) ([]*store.Task, error) {
	limit = min(max(limit, 1), 1000)
	tasks, err := s.tasks(ctx, system, unpublishedSQL, ts(before), limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished: %w", translate(err))
	}
	return tasks, nil
}

const startTaskSQL = `
		UPDATE tasks SET
			status = 'running',
			attempts = attempts + 1,
			started_at = coalesce(started_at, $2),
			lease_until = $3,
			published_at = coalesce(published_at, $2)
		WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND lease_until < $2))
		RETURNING ` + taskCols

type startRow struct {
	id             string
	at, leaseUntil time.Time
}

// startMany is StartTask for many tasks in one statement.
var startMany = &multi{build: func(ops []*op) (string, []any) {
	ids, ats, leases := make([]string, len(ops)), make([]time.Time, len(ops)), make([]time.Time, len(ops))
	for i, o := range ops {
		r := o.row.(startRow)
		ids[i], ats[i], leases[i] = r.id, r.at, r.leaseUntil
	}
	return `
		UPDATE tasks SET
			status = 'running',
			attempts = attempts + 1,
			started_at = coalesce(started_at, v.vat),
			lease_until = v.vlease,
			published_at = coalesce(published_at, v.vat)
		FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS v(vid, vat, vlease, vord)
		WHERE id = v.vid AND (status = 'queued' OR (status = 'running' AND lease_until < v.vat))
		RETURNING v.vord::text, ` + taskCols, []any{ids, ats, leases, ordinals(len(ops))}
}}

// StartTask moves a queued task, or a running one whose lease expired before at, to running
// in one UPDATE. On a miss one more read tells why: store.ErrTaskFinished, or
// store.ErrTaskNotQueued together with the task.
func (s *Store) StartTask(ctx context.Context, id string, at, leaseUntil time.Time) (*store.Task, error) {
	at = ts(at)
	var t *store.Task
	leaseUntil = ts(leaseUntil)
	err := s.relaxed.do(ctx, &op{
		sql: startTaskSQL, args: []any{id, at, leaseUntil}, scope: system,
		multi: startMany, row: startRow{id, at, leaseUntil},
		scan: func(row pgx.Row) (err error) {
			t, err = scanTask(row)
			return err
		},
	})
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("start task: %w", translate(err))
	}
	t, err = s.LoadTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("start task: %w", err)
	}
	if t.Status.Terminal() {
		return t, fmt.Errorf("start task %s: %w", id, store.ErrTaskFinished)
	}
	return t, fmt.Errorf("start task %s: %w", id, store.ErrTaskNotQueued)
}

// Heartbeat extends a running task's lease in one UPDATE and reports whether a cancel was
// requested. store.ErrTaskFinished if the task is no longer running.
func (s *Store) Heartbeat(ctx context.Context, id string, leaseUntil time.Time) (bool, error) {
	var cancel bool
	err := s.relaxed.queryRow(ctx, system,
		`UPDATE tasks SET lease_until = $2 WHERE id = $1 AND status = 'running' RETURNING cancel_requested`,
		[]any{id, ts(leaseUntil)}, func(row pgx.Row) error { return row.Scan(&cancel) })
	if err == nil {
		return cancel, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("heartbeat: %w", translate(err))
	}
	if _, err := s.LoadTask(ctx, id); err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return false, fmt.Errorf("heartbeat %s: %w", id, store.ErrTaskFinished)
}

// ReleaseTask moves a running task back to queued, clears its lease and takes back the
// attempt StartTask counted (started_at is cleared again when no attempt remains). Releasing
// a queued task is a no-op; store.ErrTaskFinished if terminal.
func (s *Store) ReleaseTask(ctx context.Context, id string) error {
	tag, err := s.exec(ctx, system, `
		UPDATE tasks SET
			status = 'queued',
			lease_until = NULL,
			attempts = greatest(attempts - 1, 0),
			started_at = CASE WHEN attempts <= 1 THEN NULL ELSE started_at END
		WHERE id = $1 AND status = 'running'`, id)
	if err != nil {
		return fmt.Errorf("release task: %w", translate(err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	t, err := s.LoadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("release task: %w", err)
	}
	if t.Status.Terminal() {
		return fmt.Errorf("release task %s: %w", id, store.ErrTaskFinished)
	}
	return nil
}

// finishTaskSQL ends a task and records its usage and model calls in one statement; it
// returns no row when the task was already terminal (or does not exist), and then records
// nothing.
const finishTaskSQL = `
WITH done AS (
	UPDATE tasks SET
		status = $2,
		output = $3,
		error_code = $4,
		error_message = $5,
		model = $6,
		provider = $7,
		input_tokens = $8,
		output_tokens = $9,
		cost_micros = $10,
		finished_at = $11,
		routing = $12::jsonb,
		lease_until = NULL
	WHERE id = $1 AND status NOT IN ` + terminalSQL + `
	RETURNING ` + taskCols + `
` + usageFromDone + `, calls AS (
	` + insertCallsSQL + `
	SELECT done.tenant_id, done.id, ` + callValues + `
	FROM done, unnest($13::int4[], $14::int4[], $15::text[], $16::text[], $17::int8[], $18::int8[],
		$19::int8[], $20::int8[], $21::text[], $22::text[], $23::timestamptz[], $24::int8[]) AS ` + callAlias + `
	ON CONFLICT (task_id, attempt, seq) DO NOTHING
)
SELECT ` + taskCols + ` FROM done`

// usageFromDone records the usage of every task a "done" CTE finished: one record per
// terminal task, in the statement that made it terminal.
const usageFromDone = `), usage AS (
	INSERT INTO usage_records (task_id, tenant_id, agent, status, provider, model,
		input_tokens, output_tokens, cost_micros, created_at)
	SELECT id, tenant_id, agent, status, coalesce(provider, ''), coalesce(model, ''),
		input_tokens, output_tokens, cost_micros, finished_at
	FROM done
)`

// callCols are llm_calls' columns in the order of the statements that insert them.
const callCols = `tenant_id, task_id, attempt, seq, provider, model, input_tokens, output_tokens,
	cost_micros, latency_ms, outcome, error, created_at, saved_micros`

const insertCallsSQL = `INSERT INTO llm_calls (` + callCols + `)`

// callAlias names the columns of a finish statement's unnest of call arrays (prefixed, as
// done has columns of the same names), and callValues selects them after the tenant and
// task, which come from the finished task's row. A call already stored (recorded when its
// attempt was to be retried) is left as it is: the task still finishes.
const (
	callAlias  = `c(cattempt, cseq, cprovider, cmodel, cin, cout, ccost, clatency, coutcome, cerror, cat, csaved)`
	callValues = `c.cattempt, c.cseq, c.cprovider, c.cmodel, c.cin, c.cout, c.ccost, c.clatency,
		c.coutcome, c.cerror, c.cat, c.csaved`
)

// callArrays are a list of calls as the parameter arrays of an unnest, in callAlias' order
// (with the task and tenant in front for RecordCalls); ord, when set, gives each call's
// ordinal in a multi-row finish.
type callArrays struct {
	tasks, tenants              []string
	attempts, seqs              []int32
	providers, models           []string
	ins, outs, costs, latencies []int64
	outcomes, errs              []string
	ats                         []time.Time
	saved                       []int64
	ords                        []int32
}

func (a *callArrays) add(c store.LLMCall) {
	a.tasks, a.tenants = append(a.tasks, c.TaskID), append(a.tenants, c.TenantID)
	a.attempts, a.seqs = append(a.attempts, int32(c.Attempt)), append(a.seqs, int32(c.Seq))
	a.providers, a.models = append(a.providers, c.Provider), append(a.models, c.Model)
	a.ins, a.outs, a.costs = append(a.ins, c.InputTokens), append(a.outs, c.OutputTokens), append(a.costs, c.CostMicros)
	a.latencies = append(a.latencies, c.LatencyMS)
	a.outcomes, a.errs, a.ats = append(a.outcomes, c.Outcome), append(a.errs, c.Error), append(a.ats, ts(c.At))
	a.saved = append(a.saved, c.SavedMicros)
}

// newCallArrays returns empty (not NULL) arrays, which an unnest turns into no rows.
func newCallArrays() *callArrays {
	return &callArrays{tasks: []string{}, tenants: []string{}, attempts: []int32{}, seqs: []int32{},
		providers: []string{}, models: []string{}, ins: []int64{}, outs: []int64{}, costs: []int64{},
		latencies: []int64{}, outcomes: []string{}, errs: []string{}, ats: []time.Time{}, saved: []int64{}, ords: []int32{}}
}

// finishArgs are the call arrays of a finish statement, in callAlias' order.
func (a *callArrays) finishArgs() []any {
	return []any{a.attempts, a.seqs, a.providers, a.models, a.ins, a.outs, a.costs, a.latencies, a.outcomes, a.errs, a.ats, a.saved}
}

type finishRow struct {
	id              string
	r               store.Result
	errCode, errMsg *string
	finishedAt      time.Time
	routing         []byte
}

// finishMany is FinishTask for many tasks in one statement: the same guard ("not terminal
// yet"), the same usage record per task that it finishes, and the calls of the finish that
// applied — when two calls name one task, only the one whose row done returns.
var finishMany = &multi{build: func(ops []*op) (string, []any) {
	n := len(ops)
	ids, statuses := make([]string, n), make([]string, n)
	outputs, codes, msgs, models, providers := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	routings := make([]*string, n)
	ins, outs, costs := make([]int64, n), make([]int64, n), make([]int64, n)
	finished := make([]time.Time, n)
	calls := newCallArrays()
	for i, o := range ops {
		f := o.row.(finishRow)
		ids[i], statuses[i] = f.id, string(f.r.Status)
		if f.r.Output != nil {
			out := string(f.r.Output)
			outputs[i] = &out
		}
		if f.routing != nil {
			r := string(f.routing)
			routings[i] = &r
		}
		codes[i], msgs[i], models[i], providers[i] = f.errCode, f.errMsg, null(f.r.Model), null(f.r.Provider)
		ins[i], outs[i], costs[i], finished[i] = f.r.InputTokens, f.r.OutputTokens, f.r.CostMicros, f.finishedAt
		for _, c := range f.r.Calls {
			calls.add(c)
			calls.ords = append(calls.ords, int32(i))
		}
	}
	args := []any{ids, statuses, outputs, codes, msgs, models, providers, ins, outs, costs, finished, ordinals(n), routings, calls.ords}
	return `
WITH v AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::int8[], $9::int8[], $10::int8[], $11::timestamptz[], $12::int4[], $13::text[])
		AS v(vid, vstatus, voutput, vcode, vmessage, vmodel, vprovider, vin, vout, vcost, vfinished, vord, vrouting)
), done AS (
	UPDATE tasks SET
		status = v.vstatus,
		output = v.voutput::json,
		error_code = v.vcode,
		error_message = v.vmessage,
		model = v.vmodel,
		provider = v.vprovider,
		input_tokens = v.vin,
		output_tokens = v.vout,
		cost_micros = v.vcost,
		finished_at = v.vfinished,
		routing = v.vrouting::jsonb,
		lease_until = NULL
	FROM v
	WHERE id = v.vid AND status NOT IN ` + terminalSQL + `
	RETURNING v.vord, ` + taskCols + `
` + usageFromDone + `, calls AS (
	` + insertCallsSQL + `
	SELECT done.tenant_id, done.id, ` + callValues + `
	FROM done JOIN unnest($14::int4[], $15::int4[], $16::int4[], $17::text[], $18::text[], $19::int8[],
		$20::int8[], $21::int8[], $22::int8[], $23::text[], $24::text[], $25::timestamptz[], $26::int8[])
		AS c(cord, cattempt, cseq, cprovider, cmodel, cin, cout, ccost, clatency, coutcome, cerror, cat, csaved)
		ON c.cord = done.vord
	ON CONFLICT (task_id, attempt, seq) DO NOTHING
)
SELECT vord::text, ` + taskCols + ` FROM done`, append(args, calls.finishArgs()...)
}}

// FinishTask writes the terminal state, usage, cost, routing and the attempt's model calls
// exactly once, in one statement. When the task was already terminal, applied is false, the
// stored task is returned unchanged and no call is recorded.
func (s *Store) FinishTask(ctx context.Context, id string, r store.Result) (*store.Task, bool, error) {
	if !r.Status.Terminal() {
		return nil, false, fmt.Errorf("finish task: status %q is not terminal", r.Status)
	}
	if err := store.CheckResult(r); err != nil {
		return nil, false, fmt.Errorf("finish task: %w", err)
	}
	var errCode, errMsg *string
	if r.Error != nil {
		errCode, errMsg = &r.Error.Code, &r.Error.Message
	}
	var t *store.Task
	fr := finishRow{id: id, r: r, errCode: errCode, errMsg: errMsg, finishedAt: ts(r.FinishedAt), routing: routingJSON(r.Routing)}
	calls := newCallArrays()
	for _, c := range r.Calls {
		calls.add(c)
	}
	err := s.batch.do(ctx, &op{
		sql: finishTaskSQL, scope: system,
		args: append([]any{
			id, string(r.Status), nullJSON(r.Output), errCode, errMsg, null(r.Model), null(r.Provider),
			r.InputTokens, r.OutputTokens, r.CostMicros, fr.finishedAt, fr.routing,
		}, calls.finishArgs()...),
		multi: finishMany, row: fr,
		scan: func(row pgx.Row) (err error) {
			t, err = scanTask(row)
			return err
		},
	})
	if err == nil {
		return t, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("finish task: %w", translate(err))
	}
	t, err = s.LoadTask(ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("finish task: %w", err)
	}
	return t, false, nil
}

// cancelTaskSQL cancels a queued task at once (recording zero usage, as every terminal task
// has one usage record) or flags a running one; it returns no row for a terminal or unknown
// task.
const cancelTaskSQL = `
WITH c AS (
	UPDATE tasks SET
		status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
		finished_at = CASE WHEN status = 'queued' THEN $3 ELSE finished_at END,
		error_code = CASE WHEN status = 'queued' THEN 'canceled' ELSE error_code END,
		error_message = CASE WHEN status = 'queued' THEN $4 ELSE error_message END,
		lease_until = CASE WHEN status = 'queued' THEN NULL ELSE lease_until END,
		cancel_requested = true
	WHERE id = $2 AND tenant_id = $1 AND status IN ('queued', 'running')
	RETURNING ` + taskCols + `
), usage AS (
	INSERT INTO usage_records (task_id, tenant_id, agent, status, provider, model,
		input_tokens, output_tokens, cost_micros, created_at)
	SELECT id, tenant_id, agent, status, coalesce(provider, ''), coalesce(model, ''),
		input_tokens, output_tokens, cost_micros, finished_at
	FROM c WHERE status = 'canceled'
)
SELECT ` + taskCols + ` FROM c`

// CancelMessage is the error message of a task canceled while queued.
const CancelMessage = "canceled by the client"

// CancelTask cancels the tenant's task in one statement: a queued task becomes canceled (error
// code "canceled"), a running one gets CancelRequested and stays running. store.ErrTaskFinished
// if it is already terminal, store.ErrNotFound if unknown or another tenant's.
func (s *Store) CancelTask(ctx context.Context, tenantID, id string, at time.Time) (*store.Task, error) {
	t, err := s.taskRow(ctx, tenant(tenantID), cancelTaskSQL, tenantID, id, ts(at), CancelMessage)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("cancel task: %w", translate(err))
	}
	if _, err := s.GetTask(ctx, tenantID, id); err != nil {
		return nil, fmt.Errorf("cancel task: %w", err)
	}
	return nil, fmt.Errorf("cancel task %s: %w", id, store.ErrTaskFinished)
}
