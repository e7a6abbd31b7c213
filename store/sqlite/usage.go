package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/agentic-run/agentic/store"
)

// Usage sums the tenant's usage records in [from, to) with three grouped reads, and its calls
// answered from the LLM response cache with a fourth.
func (s *Store) Usage(ctx context.Context, tenantID string, from, to time.Time) (*store.Usage, error) {
	u := &store.Usage{Tasks: map[store.Status]int64{}, ByModel: []store.ModelUsage{}, ByDay: []store.DayUsage{}}
	args := []any{tenantID, micros(ts(from)), micros(ts(to))}
	const where = ` FROM usage_records WHERE tenant_id = ? AND created_at >= ? AND created_at < ?`
	each := func(q string, scan func(*sql.Rows) error) error {
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := each(`SELECT status, count(*)`+where+` GROUP BY status`, func(rows *sql.Rows) error {
		var st string
		var n int64
		err := rows.Scan(&st, &n)
		u.Tasks[store.Status(st)] = n
		return err
	})
	if err == nil {
		err = each(`SELECT provider, model, count(*), sum(input_tokens), sum(output_tokens), sum(cost_micros)`+where+
			` GROUP BY provider, model ORDER BY sum(cost_micros) DESC, provider, model`, func(rows *sql.Rows) error {
			var m store.ModelUsage
			if err := rows.Scan(&m.Provider, &m.Model, &m.Tasks, &m.InputTokens, &m.OutputTokens, &m.CostMicros); err != nil {
				return err
			}
			u.InputTokens += m.InputTokens
			u.OutputTokens += m.OutputTokens
			u.CostMicros += m.CostMicros
			u.ByModel = append(u.ByModel, m)
			return nil
		})
	}
	if err == nil {
		err = each(`SELECT date(created_at / 1000000, 'unixepoch') AS day, count(*), sum(cost_micros)`+where+
			` GROUP BY day ORDER BY day`, func(rows *sql.Rows) error {
			var d store.DayUsage
			if err := rows.Scan(&d.Date, &d.Tasks, &d.CostMicros); err != nil {
				return err
			}
			u.ByDay = append(u.ByDay, d)
			return nil
		})
	}
	if err == nil {
		err = s.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(saved_micros), 0) FROM llm_calls
			WHERE tenant_id = ? AND created_at >= ? AND created_at < ? AND outcome = ?`,
			append(args, store.OutcomeCached)...).Scan(&u.Cached.Calls, &u.Cached.SavedMicros)
	}
	if err != nil {
		return nil, fmt.Errorf("usage: %w", translate(ctx, err))
	}
	return u, nil
}
