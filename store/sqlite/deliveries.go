package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/agentic-run/agentic/store"
)

const deliveryCols = `id, tenant_id, task_id, webhook_id, event_type, url, attempt, status_code,
	error, succeeded, final, duration_ms, created_at`

// RecordDelivery stores one webhook attempt. An unknown task is store.ErrNotFound, a duplicate
// id store.ErrConflict.
func (s *Store) RecordDelivery(ctx context.Context, d *store.Delivery) error {
	d.CreatedAt = ts(d.CreatedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (`+deliveryCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.TenantID, d.TaskID, d.WebhookID, d.EventType, d.URL, d.Attempt, d.StatusCode,
			d.Error, boolInt(d.Succeeded), boolInt(d.Final), d.DurationMS, micros(d.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("record delivery: %w", translate(ctx, err))
	}
	return nil
}

// ListDeliveries returns the attempts for the tenant's task, oldest first, in one query that
// also tells an unknown (or another tenant's) task, store.ErrNotFound, from a task without
// deliveries, an empty list.
func (s *Store) ListDeliveries(ctx context.Context, tenantID, taskID string) ([]*store.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT d.id, d.tenant_id, d.task_id, d.webhook_id, d.event_type, d.url, d.attempt,
			d.status_code, d.error, d.succeeded, d.final, d.duration_ms, d.created_at
		FROM tasks t
		LEFT JOIN webhook_deliveries d ON d.task_id = t.id AND d.tenant_id = t.tenant_id
		WHERE t.id = ? AND t.tenant_id = ?
		ORDER BY d.created_at, d.id`, taskID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(ctx, err))
	}
	defer rows.Close()
	found := false
	out := []*store.Delivery{}
	for rows.Next() {
		found = true
		var (
			id, tenant, task, webhookID, eventType, url, errText sql.NullString
			attempt, statusCode, durationMS, createdAt           sql.NullInt64
			succeeded, final                                     sql.NullBool
		)
		if err := rows.Scan(&id, &tenant, &task, &webhookID, &eventType, &url, &attempt,
			&statusCode, &errText, &succeeded, &final, &durationMS, &createdAt); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", translate(ctx, err))
		}
		if !id.Valid { // the task's row without deliveries
			continue
		}
		out = append(out, &store.Delivery{
			ID: id.String, TenantID: tenant.String, TaskID: task.String, WebhookID: webhookID.String,
			EventType: eventType.String, URL: url.String, Attempt: int(attempt.Int64),
			StatusCode: int(statusCode.Int64), Error: errText.String, Succeeded: succeeded.Bool,
			Final: final.Bool, DurationMS: durationMS.Int64, CreatedAt: fromMicros(createdAt.Int64),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(ctx, err))
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
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM usage_records WHERE task_id = ?`, taskID).Scan(&n); err != nil {
		return 0, fmt.Errorf("usage record count: %w", translate(ctx, err))
	}
	return n, nil
}
