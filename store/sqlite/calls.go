package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/agentic-run/agentic/store"
)

// callCols are llm_calls' columns in the order of the statements that insert them.
const callCols = `tenant_id, task_id, attempt, seq, provider, model, input_tokens, output_tokens,
	cost_micros, latency_ms, outcome, error, created_at, saved_micros`

// finishCallSQL stores one call of the task FinishTask just ended, under the task's tenant
// and id (?13); a call already stored (recorded when its attempt was to be retried) is left
// as it is. The WHERE clause is what lets SQLite parse ON CONFLICT after a SELECT.
const finishCallSQL = `INSERT INTO llm_calls (` + callCols + `)
	SELECT tenant_id, id, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 FROM tasks WHERE id = ?13
	ON CONFLICT (task_id, attempt, seq) DO NOTHING`

// recordCallSQL stores one call as given; a call already stored is left as it is.
const recordCallSQL = `INSERT INTO llm_calls (` + callCols + `)
	VALUES (?14, ?13, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
	ON CONFLICT (task_id, attempt, seq) DO NOTHING`

// insertCalls stores calls in tx. finished, when set, is the task FinishTask just ended, whose
// id and tenant every call gets (finishCallSQL); otherwise each call's own are used
// (recordCallSQL).
func insertCalls(ctx context.Context, tx *sql.Tx, finished string, calls []store.LLMCall) error {
	if len(calls) == 0 {
		return nil
	}
	query := recordCallSQL
	if finished != "" {
		query = finishCallSQL
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, c := range calls {
		args := []any{c.Attempt, c.Seq, c.Provider, c.Model, c.InputTokens, c.OutputTokens,
			c.CostMicros, c.LatencyMS, c.Outcome, c.Error, micros(c.At), c.SavedMicros}
		if finished != "" {
			args = append(args, finished)
		} else {
			args = append(args, c.TaskID, c.TenantID)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// RecordCalls stores the model calls of an attempt that ends in a retry, in one write
// transaction. It is idempotent on (task, attempt, seq); a call of an unknown task is
// store.ErrNotFound (and stores none of the others).
func (s *Store) RecordCalls(ctx context.Context, calls []store.LLMCall) error {
	if len(calls) == 0 {
		return nil
	}
	if err := store.CheckCalls(calls); err != nil {
		return fmt.Errorf("record calls: %w", err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return insertCalls(ctx, tx, "", calls)
	})
	if err != nil {
		return fmt.Errorf("record calls: %w", translate(ctx, err))
	}
	return nil
}

// ListCalls returns the tenant's model calls of one task ordered by attempt and seq: an empty
// list for a task without calls, an unknown task or another tenant's.
func (s *Store) ListCalls(ctx context.Context, tenantID, taskID string) ([]store.LLMCall, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+callCols+` FROM llm_calls
		WHERE task_id = ? AND tenant_id = ?
		ORDER BY attempt, seq`, taskID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", translate(ctx, err))
	}
	defer rows.Close()
	out := []store.LLMCall{}
	for rows.Next() {
		var c store.LLMCall
		var at int64
		if err := rows.Scan(&c.TenantID, &c.TaskID, &c.Attempt, &c.Seq, &c.Provider, &c.Model, &c.InputTokens,
			&c.OutputTokens, &c.CostMicros, &c.LatencyMS, &c.Outcome, &c.Error, &at, &c.SavedMicros); err != nil {
			return nil, fmt.Errorf("list calls: %w", translate(ctx, err))
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list calls: %w", translate(ctx, err))
	}
	return out, nil
}
