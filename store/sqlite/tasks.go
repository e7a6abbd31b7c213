package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentic-run/agentic/store"
)

// taskCols is the column list every task query returns, in scanTask's order.
const taskCols = `id, tenant_id, agent, status, input, output, error_code, error_message,
	model, provider, input_tokens, output_tokens, cost_micros, attempts, max_attempts,
	metadata, webhook_url, quality, max_cost_micros, idempotency_key, request_hash, trace_id,
	cancel_requested, lease_until, created_at, started_at, finished_at, published_at, routing, cache`

// terminalSQL lists the terminal states for SQL conditions.
const terminalSQL = `('succeeded', 'failed', 'canceled')`

const selectTaskSQL = `SELECT ` + taskCols + ` FROM tasks WHERE id = ?`

func scanTask(row scanner) (*store.Task, error) {
	var (
		t                                                  store.Task
		status                                             string
		input, output, metadata, routing                   sql.NullString
		errCode, errMsg, model, provider, webhook, idemKey sql.NullString
		maxCost, lease, started, finished, published       sql.NullInt64
		created                                            int64
	)
	err := row.Scan(&t.ID, &t.TenantID, &t.Agent, &status, &input, &output, &errCode, &errMsg,
		&model, &provider, &t.InputTokens, &t.OutputTokens, &t.CostMicros, &t.Attempts, &t.MaxAttempts,
		&metadata, &webhook, &t.Quality, &maxCost, &idemKey, &t.RequestHash, &t.TraceID,
		&t.CancelRequested, &lease, &created, &started, &finished, &published, &routing, &t.Cache)
	if err != nil {
		return nil, err
	}
	t.Status = store.Status(status)
	if input.Valid {
		t.Input = json.RawMessage(input.String)
	}
	if output.Valid {
		t.Output = json.RawMessage(output.String)
	}
	if routing.Valid {
		t.Routing = json.RawMessage(routing.String)
	}
	if errCode.Valid || errMsg.Valid {
		t.Error = &store.TaskError{Code: errCode.String, Message: errMsg.String}
	}
	t.Model, t.Provider, t.WebhookURL, t.IdempotencyKey = model.String, provider.String, webhook.String, idemKey.String
	if maxCost.Valid {
		t.MaxCostMicros = &maxCost.Int64
	}
	t.Metadata = map[string]string{}
	if metadata.Valid && metadata.String != "" {
		if err := json.Unmarshal([]byte(metadata.String), &t.Metadata); err != nil {
			return nil, fmt.Errorf("decode metadata of %s: %w", t.ID, err)
		}
	}
	t.CreatedAt = fromMicros(created)
	t.LeaseUntil, t.StartedAt, t.FinishedAt, t.PublishedAt = fromMicrosp(lease), fromMicrosp(started), fromMicrosp(finished), fromMicrosp(published)
	return &t, nil
}

func collectTasks(rows *sql.Rows) ([]*store.Task, error) {
	defer rows.Close()
	var out []*store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// null turns "" into SQL NULL.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullJSON turns an empty raw message into SQL NULL and keeps any other byte for byte, as
// text.
func nullJSON(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// routingJSON is a task's routing for storage: none (nil, empty or a JSON null) is nil, which
// is stored as SQL NULL and reads back as nil.
func routingJSON(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(bytes.TrimSpace(m)) == "null" {
		return nil
	}
	return m
}

func metadataJSON(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	return string(b), nil
}

const insertTaskSQL = `INSERT INTO tasks (` + taskCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// idempotencyWindow is how long an Idempotency-Key stays taken, measured between the
// claiming task's created_at and the new task's.
const idempotencyWindow = 24 * time.Hour

// CreateTask inserts t as queued in one write transaction. With an idempotency key the same
// transaction claims (tenant, key): a claim at least 24 hours older than t.CreatedAt is taken
// over, a younger one returns its task with existed = true and inserts nothing. Writes are
// serialized, so concurrent calls with one key create one task.
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
	var errCode, errMsg any
	if t.Error != nil {
		errCode, errMsg = t.Error.Code, t.Error.Message
	}
	var maxCost any
	if t.MaxCostMicros != nil {
		maxCost = *t.MaxCostMicros
	}
	var reqHash any
	if t.RequestHash != nil {
		reqHash = t.RequestHash
	}
	args := []any{
		t.ID, t.TenantID, t.Agent, string(t.Status), nullJSON(t.Input), nullJSON(t.Output), errCode, errMsg,
		null(t.Model), null(t.Provider), t.InputTokens, t.OutputTokens, t.CostMicros, t.Attempts, t.MaxAttempts,
		meta, null(t.WebhookURL), t.Quality, maxCost, null(t.IdempotencyKey), reqHash, t.TraceID,
		boolInt(t.CancelRequested), microsp(t.LeaseUntil), micros(t.CreatedAt), microsp(t.StartedAt),
		microsp(t.FinishedAt), microsp(t.PublishedAt), nullJSON(t.Routing), boolInt(t.Cache),
	}
	var existing *store.Task
	err = s.write(ctx, func(tx *sql.Tx) error {
		if t.IdempotencyKey != "" {
			var winner string
			var claimedAt int64
			err := tx.QueryRowContext(ctx, `SELECT task_id, created_at FROM idempotency_keys
				WHERE tenant_id = ? AND key = ?`, t.TenantID, t.IdempotencyKey).Scan(&winner, &claimedAt)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (tenant_id, key, task_id, created_at)
					VALUES (?, ?, ?, ?)`, t.TenantID, t.IdempotencyKey, t.ID, micros(t.CreatedAt))
			case err != nil:
			case claimedAt <= micros(t.CreatedAt.Add(-idempotencyWindow)):
				_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET task_id = ?, created_at = ?
					WHERE tenant_id = ? AND key = ?`, t.ID, micros(t.CreatedAt), t.TenantID, t.IdempotencyKey)
			default:
				existing, err = scanTask(tx.QueryRowContext(ctx, selectTaskSQL, winner))
				if err != nil {
					return fmt.Errorf("idempotency key taken by %s: %w", winner, err)
				}
				return nil
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, insertTaskSQL, args...)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("create task: %w", translate(ctx, err))
	}
	if existing != nil {
		return existing, true, nil
	}
	return t, false, nil
}

// GetTask returns the tenant's task, or store.ErrNotFound (also for another tenant's task).
func (s *Store) GetTask(ctx context.Context, tenantID, id string) (*store.Task, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx,
		`SELECT `+taskCols+` FROM tasks WHERE id = ? AND tenant_id = ?`, id, tenantID))
	if err != nil {
		return nil, fmt.Errorf("get task: %w", translate(ctx, err))
	}
	return t, nil
}

// LoadTask returns any tenant's task; for workers and dispatchers only.
func (s *Store) LoadTask(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx, selectTaskSQL, id))
	if err != nil {
		return nil, fmt.Errorf("load task: %w", translate(ctx, err))
	}
	return t, nil
}

// ListTasks returns a page of the tenant's tasks, newest first by (created_at, id), and the
// opaque cursor of the next page ("" when there is none); a cursor it did not issue is
// store.ErrInvalidCursor. Metadata filters match every pair against the stored JSON object.
func (s *Store) ListTasks(ctx context.Context, tenantID string, f store.TaskFilter) ([]*store.Task, string, error) {
	query, args, limit, err := listQuery(tenantID, f)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", translate(ctx, err))
	}
	tasks, err := collectTasks(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", translate(ctx, err))
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
func listQuery(tenantID string, f store.TaskFilter) (query string, args []any, limit int, err error) {
	limit = store.PageLimit(f.Limit)
	var q strings.Builder
	args = []any{tenantID}
	q.WriteString(`SELECT ` + taskCols + ` FROM tasks WHERE tenant_id = ?`)
	if f.Status != "" {
		q.WriteString(` AND status = ?`)
		args = append(args, string(f.Status))
	}
	if f.Agent != "" {
		q.WriteString(` AND agent = ?`)
		args = append(args, f.Agent)
	}
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys) // one SQL text per filter shape
	for _, k := range keys {
		q.WriteString(` AND EXISTS (SELECT 1 FROM json_each(tasks.metadata) AS m
			WHERE m.key = ? AND m.type = 'text' AND m.value = ?)`)
		args = append(args, k, f.Metadata[k])
	}
	if f.Cursor != "" {
		at, id, err := store.DecodeCursor(f.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		q.WriteString(` AND (created_at, id) < (?, ?)`)
		args = append(args, micros(at), id)
	}
	q.WriteString(` ORDER BY created_at DESC, id DESC LIMIT ?`)
	args = append(args, limit+1)
	return q.String(), args, limit, nil
}

// MarkPublished records that the tasks' messages are on the bus (one UPDATE); a task already
// marked keeps its first time.
func (s *Store) MarkPublished(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tasks SET published_at = ?
			WHERE id IN (SELECT value FROM json_each(?)) AND published_at IS NULL`, micros(at), string(list))
		return err
	})
	if err != nil {
		return fmt.Errorf("mark published: %w", translate(ctx, err))
	}
	return nil
}

// Unpublished returns queued tasks created before 'before' whose publish was never recorded,
// oldest first, at most limit (clamped to 1..1000).
func (s *Store) Unpublished(ctx context.Context, before time.Time, limit int) ([]*store.Task, error) {
	limit = min(max(limit, 1), 1000)
	rows, err := s.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks
		WHERE status = 'queued' AND published_at IS NULL AND created_at < ?
		ORDER BY created_at, id
		LIMIT ?`, micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished: %w", translate(ctx, err))
	}
	tasks, err := collectTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("unpublished: %w", translate(ctx, err))
	}
	return tasks, nil
}

// StartTask moves a queued task, or a running one whose lease expired before at, to running.
// Otherwise it returns store.ErrTaskFinished, or store.ErrTaskNotQueued together with the
// task; store.ErrNotFound if there is no such task.
func (s *Store) StartTask(ctx context.Context, id string, at, leaseUntil time.Time) (*store.Task, error) {
	at = ts(at)
	var t *store.Task
	var why error
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE tasks SET
				status = 'running',
				attempts = attempts + 1,
				started_at = coalesce(started_at, ?2),
				lease_until = ?3,
				published_at = coalesce(published_at, ?2)
			WHERE id = ?1 AND (status = 'queued' OR (status = 'running' AND lease_until < ?2))`,
			id, micros(at), micros(leaseUntil))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if t, err = scanTask(tx.QueryRowContext(ctx, selectTaskSQL, id)); err != nil {
			return err
		}
		switch {
		case n == 1:
		case t.Status.Terminal():
			why = store.ErrTaskFinished
		default:
			why = store.ErrTaskNotQueued
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start task: %w", translate(ctx, err))
	}
	if why != nil {
		return t, fmt.Errorf("start task %s: %w", id, why)
	}
	return t, nil
}

// Heartbeat extends a running task's lease and reports whether a cancel was requested.
// store.ErrTaskFinished if the task is no longer running.
func (s *Store) Heartbeat(ctx context.Context, id string, leaseUntil time.Time) (bool, error) {
	var status string
	var cancel bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET lease_until = ? WHERE id = ? AND status = 'running'`,
			micros(leaseUntil), id); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT status, cancel_requested FROM tasks WHERE id = ?`, id).Scan(&status, &cancel)
	})
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", translate(ctx, err))
	}
	if status != string(store.StatusRunning) {
		return false, fmt.Errorf("heartbeat %s: %w", id, store.ErrTaskFinished)
	}
	return cancel, nil
}

// ReleaseTask moves a running task back to queued, clears its lease and takes back the
// attempt StartTask counted (started_at is cleared again when no attempt remains). Releasing
// a queued task is a no-op; store.ErrTaskFinished if terminal.
func (s *Store) ReleaseTask(ctx context.Context, id string) error {
	var status string
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			UPDATE tasks SET
				status = 'queued',
				lease_until = NULL,
				attempts = max(attempts - 1, 0),
				started_at = CASE WHEN attempts <= 1 THEN NULL ELSE started_at END
			WHERE id = ? AND status = 'running'`, id); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, id).Scan(&status)
	})
	if err != nil {
		return fmt.Errorf("release task: %w", translate(ctx, err))
	}
	if store.Status(status).Terminal() {
		return fmt.Errorf("release task %s: %w", id, store.ErrTaskFinished)
	}
	return nil
}

// insertUsageSQL records the usage of the task just ended, from its row.
const insertUsageSQL = `
	INSERT INTO usage_records (task_id, tenant_id, agent, status, provider, model,
		input_tokens, output_tokens, cost_micros, created_at)
	SELECT id, tenant_id, agent, status, coalesce(provider, ''), coalesce(model, ''),
		input_tokens, output_tokens, cost_micros, finished_at
	FROM tasks WHERE id = ?`

// FinishTask writes the terminal state, usage, cost, routing and the attempt's model calls
// exactly once, in one transaction guarded by "status is not terminal". When the task was
// already terminal, applied is false, the stored task is returned unchanged and no call is
// recorded.
func (s *Store) FinishTask(ctx context.Context, id string, r store.Result) (*store.Task, bool, error) {
	if !r.Status.Terminal() {
		return nil, false, fmt.Errorf("finish task: status %q is not terminal", r.Status)
	}
	if err := store.CheckResult(r); err != nil {
		return nil, false, fmt.Errorf("finish task: %w", err)
	}
	var errCode, errMsg any
	if r.Error != nil {
		errCode, errMsg = r.Error.Code, r.Error.Message
	}
	var t *store.Task
	var applied bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE tasks SET
				status = ?,
				output = ?,
				error_code = ?,
				error_message = ?,
				model = ?,
				provider = ?,
				input_tokens = ?,
				output_tokens = ?,
				cost_micros = ?,
				finished_at = ?,
				routing = ?,
				lease_until = NULL
			WHERE id = ? AND status NOT IN `+terminalSQL,
			string(r.Status), nullJSON(r.Output), errCode, errMsg, null(r.Model), null(r.Provider),
			r.InputTokens, r.OutputTokens, r.CostMicros, micros(r.FinishedAt), nullJSON(routingJSON(r.Routing)), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if applied = n == 1; applied {
			if _, err := tx.ExecContext(ctx, insertUsageSQL, id); err != nil {
				return err
			}
			if err := insertCalls(ctx, tx, id, r.Calls); err != nil {
				return err
			}
		}
		t, err = scanTask(tx.QueryRowContext(ctx, selectTaskSQL, id))
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("finish task: %w", translate(ctx, err))
	}
	return t, applied, nil
}

// CancelMessage is the error message of a task canceled while queued.
const CancelMessage = "canceled by the client"

// CancelTask cancels the tenant's task in one transaction: a queued task becomes canceled
// (error code "canceled", with its empty usage record), a running one gets CancelRequested and
// stays running. store.ErrTaskFinished if it is already terminal, store.ErrNotFound if unknown
// or another tenant's.
func (s *Store) CancelTask(ctx context.Context, tenantID, id string, at time.Time) (*store.Task, error) {
	var t *store.Task
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE tasks SET
				status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
				finished_at = CASE WHEN status = 'queued' THEN ?3 ELSE finished_at END,
				error_code = CASE WHEN status = 'queued' THEN 'canceled' ELSE error_code END,
				error_message = CASE WHEN status = 'queued' THEN ?4 ELSE error_message END,
				lease_until = CASE WHEN status = 'queued' THEN NULL ELSE lease_until END,
				cancel_requested = 1
			WHERE id = ?2 AND tenant_id = ?1 AND status IN ('queued', 'running')`,
			tenantID, id, micros(at), CancelMessage)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if t, err = scanTask(tx.QueryRowContext(ctx,
			`SELECT `+taskCols+` FROM tasks WHERE id = ? AND tenant_id = ?`, id, tenantID)); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrTaskFinished
		}
		if t.Status == store.StatusCanceled {
			if _, err := tx.ExecContext(ctx, insertUsageSQL, id); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrTaskFinished) {
		return nil, fmt.Errorf("cancel task %s: %w", id, store.ErrTaskFinished)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel task: %w", translate(ctx, err))
	}
	return t, nil
}
