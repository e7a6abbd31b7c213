package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-run/agentic/store"
)

// Usage sums the tenant's usage records in [from, to) with three grouped reads, and its calls
// answered from the LLM response cache with a fourth, sent as one pipelined batch in the
// tenant's scope (served by usage_records_tenant_created_idx and llm_calls_tenant_created_idx).
func (s *Store) Usage(ctx context.Context, tenantID string, from, to time.Time) (*store.Usage, error) {
	u := &store.Usage{Tasks: map[store.Status]int64{}, ByModel: []store.ModelUsage{}, ByDay: []store.DayUsage{}}
	args := []any{tenantID, ts(from), ts(to)}
	const where = `FROM usage_records WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3`
	err := s.scoped(ctx, tenant(tenantID), func(b *pgx.Batch) {
		b.Queue(`SELECT status, count(*) `+where+` GROUP BY status`, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var st string
				var n int64
				if err := rows.Scan(&st, &n); err != nil {
					return err
				}
				u.Tasks[store.Status(st)] = n
			}
			return rows.Err()
		})
		b.Queue(`SELECT provider, model, count(*), sum(input_tokens), sum(output_tokens), sum(cost_micros) `+
			where+` GROUP BY provider, model ORDER BY sum(cost_micros) DESC, provider, model`, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var m store.ModelUsage
				if err := rows.Scan(&m.Provider, &m.Model, &m.Tasks, &m.InputTokens, &m.OutputTokens, &m.CostMicros); err != nil {
					return err
				}
				u.InputTokens += m.InputTokens
				u.OutputTokens += m.OutputTokens
				u.CostMicros += m.CostMicros
				u.ByModel = append(u.ByModel, m)
			}
			return rows.Err()
		})
		b.Queue(`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*), sum(cost_micros) `+
			where+` GROUP BY day ORDER BY day`, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var d store.DayUsage
				if err := rows.Scan(&d.Date, &d.Tasks, &d.CostMicros); err != nil {
					return err
				}
				u.ByDay = append(u.ByDay, d)
			}
			return rows.Err()
		})
		b.Queue(`SELECT count(*), coalesce(sum(saved_micros), 0) FROM llm_calls
			WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND outcome = $4`,
			tenantID, ts(from), ts(to), store.OutcomeCached).QueryRow(func(row pgx.Row) error {
			return row.Scan(&u.Cached.Calls, &u.Cached.SavedMicros)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("usage: %w", translate(err))
	}
	return u, nil
}
