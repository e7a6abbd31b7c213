package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/agentic-run/agentic/store"
)

const deliveryCols = `id, tenant_id, task_id, webhook_id, event_type, url, attempt, status_code,
	error, succeeded, final, duration_ms, created_at`

// RecordDelivery stores one webhook attempt. An unknown task is store.ErrNotFound, a duplicate
// id store.ErrConflict.
func (s *Store) RecordDelivery(ctx context.Context, d *store.Delivery) error {
	d.CreatedAt = ts(d.CreatedAt)
	err := s.relaxed.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		d.ID, d.TenantID, d.TaskID, d.WebhookID, d.EventType, d.URL, d.Attempt, d.StatusCode,
		d.Error, d.Succeeded, d.Final, d.DurationMS, d.CreatedAt)
	if err != nil {
		return fmt.Errorf("record delivery: %w", translate(err))
	}
	return nil
}

// ListDeliveries returns the attempts for the tenant's task, oldest first, in one query that
// also tells an unknown (or another tenant's) task, store.ErrNotFound, from a task without
// deliveries, an empty list.
func (s *Store) ListDeliveries(ctx context.Context, tenantID, taskID string) ([]*store.Delivery, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT d.id, d.tenant_id, d.task_id, d.webhook_id, d.event_type, d.url, d.attempt,
			d.status_code, d.error, d.succeeded, d.final, d.duration_ms, d.created_at
		FROM tasks t
		LEFT JOIN webhook_deliveries d ON d.task_id = t.id AND d.tenant_id = t.tenant_id
		WHERE t.id = $1 AND t.tenant_id = $2
		ORDER BY d.created_at, d.id`, taskID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(err))
	}
	defer rows.Close()
	found := false
	out := []*store.Delivery{}
	for rows.Next() {
		found = true
		var (
			id, tenant, task, webhookID, eventType, url, errText *string
			attempt, statusCode                                  *int
			succeeded, final                                     *bool
			durationMS                                           *int64
			createdAt                                            *time.Time
			d                                                    store.Delivery
		)
		if err := rows.Scan(&id, &tenant, &task, &webhookID, &eventType, &url, &attempt,
			&statusCode, &errText, &succeeded, &final, &durationMS, &createdAt); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", translate(err))
		}
		if id == nil { // the task's row without deliveries
			continue
		}
		d.ID, d.TenantID, d.TaskID, d.WebhookID = *id, *tenant, *task, *webhookID
		d.EventType, d.URL, d.Error = *eventType, *url, *errText
		d.Attempt, d.StatusCode, d.Succeeded, d.Final, d.DurationMS = *attempt, *statusCode, *succeeded, *final, *durationMS
		d.CreatedAt = createdAt.UTC()
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
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
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM usage_records WHERE task_id = $1`, taskID).Scan(&n); err != nil {
		return 0, fmt.Errorf("usage record count: %w", translate(err))
	}
	return n, nil
}
