package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-run/agentic/store"
)

const deliveryCols = `id, tenant_id, task_id, webhook_id, event_type, url, attempt, status_code,
	error, succeeded, final, duration_ms, created_at`

// RecordDelivery stores one webhook attempt. An unknown task is store.ErrNotFound, a duplicate
// id store.ErrConflict.
func (s *Store) RecordDelivery(ctx context.Context, d *store.Delivery) error {
	d.CreatedAt = ts(d.CreatedAt)
	err := s.relaxed.do(ctx, &op{
		sql: `INSERT INTO webhook_deliveries (` + deliveryCols + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		args: []any{d.ID, d.TenantID, d.TaskID, d.WebhookID, d.EventType, d.URL, d.Attempt, d.StatusCode,
			d.Error, d.Succeeded, d.Final, d.DurationMS, d.CreatedAt},
		multi: deliveryMany, row: d, scope: system,
	})
	if err != nil {
		return fmt.Errorf("record delivery: %w", translate(err))
	}
	return nil
}

// deliveryMany records many delivery attempts in one INSERT.
var deliveryMany = &multi{build: func(ops []*op) (string, []any) {
	n := len(ops)
	ids, tenants, tasks, hooks, types, urls, errs := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempts, codes := make([]int32, n), make([]int32, n)
	oks, finals := make([]bool, n), make([]bool, n)
	durations := make([]int64, n)
	created := make([]time.Time, n)
	for i, o := range ops {
		d := o.row.(*store.Delivery)
		ids[i], tenants[i], tasks[i], hooks[i], types[i], urls[i], errs[i] = d.ID, d.TenantID, d.TaskID, d.WebhookID, d.EventType, d.URL, d.Error
		attempts[i], codes[i], oks[i], finals[i], durations[i], created[i] = int32(d.Attempt), int32(d.StatusCode), d.Succeeded, d.Final, d.DurationMS, d.CreatedAt
	}
	return `INSERT INTO webhook_deliveries (` + deliveryCols + `)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::int4[], $8::int4[], $9::text[], $10::bool[], $11::bool[], $12::int8[], $13::timestamptz[])`,
		[]any{ids, tenants, tasks, hooks, types, urls, attempts, codes, errs, oks, finals, durations, created}
}}

// ListDeliveries returns the attempts for the tenant's task, oldest first, in one query that
// also tells an unknown (or another tenant's) task, store.ErrNotFound, from a task without
// deliveries, an empty list.
func (s *Store) ListDeliveries(ctx context.Context, tenantID, taskID string) ([]*store.Delivery, error) {
	found := false
	out := []*store.Delivery{}
	err := s.query(ctx, tenant(tenantID), `
		SELECT d.id, d.tenant_id, d.task_id, d.webhook_id, d.event_type, d.url, d.attempt,
			d.status_code, d.error, d.succeeded, d.final, d.duration_ms, d.created_at
		FROM tasks t
		LEFT JOIN webhook_deliveries d ON d.task_id = t.id AND d.tenant_id = t.tenant_id
		WHERE t.id = $1 AND t.tenant_id = $2
		ORDER BY d.created_at, d.id`, []any{taskID, tenantID}, func(rows pgx.Rows) error {
		found = true
		var (
			id, owner, task, webhookID, eventType, url, errText *string
			attempt, statusCode                                 *int
			succeeded, final                                    *bool
			durationMS                                          *int64
			createdAt                                           *time.Time
			d                                                   store.Delivery
		)
		if err := rows.Scan(&id, &owner, &task, &webhookID, &eventType, &url, &attempt,
			&statusCode, &errText, &succeeded, &final, &durationMS, &createdAt); err != nil {
			return err
		}
		if id == nil { // the task's row without deliveries
			return nil
		}
		d.ID, d.TenantID, d.TaskID, d.WebhookID = *id, *owner, *task, *webhookID
		d.EventType, d.URL, d.Error = *eventType, *url, *errText
		d.Attempt, d.StatusCode, d.Succeeded, d.Final, d.DurationMS = *attempt, *statusCode, *succeeded, *final, *durationMS
		d.CreatedAt = createdAt.UTC()
		out = append(out, &d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(err))
	}
	if !found {
		return nil, fmt.Errorf("list deliveries: %w", store.ErrNotFound)
	}
	return out, nil
}

// UsageRecordCount returns the number of usage records stored for the task (0 or 1); it
// implements storetest.UsageCounter.
func (s *Store) UsageRecordCount(ctx context.Context, taskID string) (int, error) {
	var n int
	if err := s.queryRow(ctx, system, `SELECT count(*) FROM usage_records WHERE task_id = $1`, []any{taskID},
		func(row pgx.Row) error { return row.Scan(&n) }); err != nil {
		return 0, fmt.Errorf("usage record count: %w", translate(err))
	}
	return n, nil
}
