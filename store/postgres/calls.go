package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-run/agentic/store"
)

// recordCallsSQL stores calls given as arrays; a call already stored (the same task, attempt
// and seq) is left as it is.
const recordCallsSQL = insertCallsSQL + `
	SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::text[],
		$7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::timestamptz[], $14::int8[])
	ON CONFLICT (task_id, attempt, seq) DO NOTHING`

// listCallsSQL reads a task's calls in order, on llm_calls' primary key.
const listCallsSQL = `SELECT ` + callCols + ` FROM llm_calls
	WHERE task_id = $1 AND tenant_id = $2
	ORDER BY attempt, seq`

// RecordCalls stores the model calls of an attempt that ends in a retry, in one INSERT as the
// system role through the durable batcher. It is idempotent on (task, attempt, seq); a call
// of an unknown task is store.ErrNotFound (and stores none of the others).
func (s *Store) RecordCalls(ctx context.Context, calls []store.LLMCall) error {
	if len(calls) == 0 {
		return nil
	}
	if err := store.CheckCalls(calls); err != nil {
		return fmt.Errorf("record calls: %w", err)
	}
	a := newCallArrays()
	for _, c := range calls {
		a.add(c)
	}
	err := s.batch.exec(ctx, system, recordCallsSQL, a.tenants, a.tasks, a.attempts, a.seqs, a.providers, a.models,
		a.ins, a.outs, a.costs, a.latencies, a.outcomes, a.errs, a.ats, a.saved)
	if err != nil {
		return fmt.Errorf("record calls: %w", translate(err))
	}
	return nil
}

// ListCalls returns the tenant's model calls of one task ordered by attempt and seq, as the
// tenant role (served by llm_calls' primary key): an empty list for a task without calls, an
// unknown task or another tenant's.
func (s *Store) ListCalls(ctx context.Context, tenantID, taskID string) ([]store.LLMCall, error) {
	out := []store.LLMCall{}
	err := s.query(ctx, tenant(tenantID), listCallsSQL, []any{taskID, tenantID}, func(rows pgx.Rows) error {
		var c store.LLMCall
		if err := rows.Scan(&c.TenantID, &c.TaskID, &c.Attempt, &c.Seq, &c.Provider, &c.Model, &c.InputTokens,
			&c.OutputTokens, &c.CostMicros, &c.LatencyMS, &c.Outcome, &c.Error, &c.At, &c.SavedMicros); err != nil {
			return err
		}
		c.At = c.At.UTC()
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", translate(err))
	}
	return out, nil
}
