package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/agentic-run/agentic/store"
)

const tenantCols = `id, name, tier, monthly_budget_micros, webhook_secret, created_at,
	previous_webhook_secret, webhook_secret_rotated_at`

func scanTenant(row scanner) (*store.Tenant, error) {
	var (
		t       store.Tenant
		budget  sql.NullInt64
		created int64
		prev    sql.NullString
		rotated sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Tier, &budget, &t.WebhookSecret, &created, &prev, &rotated); err != nil {
		return nil, err
	}
	t.PreviousWebhookSecret = prev.String
	t.WebhookSecretRotatedAt = fromMicrosp(rotated)
	if budget.Valid {
		t.MonthlyBudgetMicros = &budget.Int64
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

// CreateTenant inserts t; ID, WebhookSecret and CreatedAt are set by the caller. A duplicate
// id is store.ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t *store.Tenant) error {
	t.CreatedAt = ts(t.CreatedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, tier, monthly_budget_micros,
			webhook_secret, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Tier, t.MonthlyBudgetMicros, t.WebhookSecret, micros(t.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create tenant: %w", translate(ctx, err))
	}
	return nil
}

// GetTenant returns the tenant, or store.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (*store.Tenant, error) {
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get tenant: %w", translate(ctx, err))
	}
	return t, nil
}

// UpdateTenant applies p in one transaction and returns the tenant as it now stands.
func (s *Store) UpdateTenant(ctx context.Context, id string, p store.TenantPatch) (*store.Tenant, error) {
	var t *store.Tenant
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE tenants SET
				tier = coalesce(?2, tier),
				monthly_budget_micros = CASE
					WHEN ?3 THEN NULL
					WHEN ?4 IS NOT NULL THEN ?4
					ELSE monthly_budget_micros END
			WHERE id = ?1`,
			id, p.Tier, boolInt(p.ClearBudget), p.MonthlyBudgetMicros)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		t, err = scanTenant(tx.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update tenant: %w", translate(ctx, err))
	}
	return t, nil
}

// RotateWebhookSecret makes secret the tenant's webhook secret and keeps the one it replaces
// as the previous secret, stamped at.
func (s *Store) RotateWebhookSecret(ctx context.Context, id, secret string, at time.Time) (*store.Tenant, error) {
	var t *store.Tenant
	err := s.write(ctx, func(tx *sql.Tx) (err error) {
		t, err = scanTenant(tx.QueryRowContext(ctx, `
			UPDATE tenants SET
				previous_webhook_secret = webhook_secret,
				webhook_secret = ?2,
				webhook_secret_rotated_at = ?3
			WHERE id = ?1
			RETURNING `+tenantCols, id, secret, micros(ts(at))))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rotate webhook secret: %w", translate(ctx, err))
	}
	return t, nil
}

const apiKeyCols = `id, tenant_id, name, prefix, hash, created_at, revoked_at`

func scanAPIKey(row scanner) (*store.APIKey, error) {
	var (
		k       store.APIKey
		created int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Hash, &created, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromMicrosp(revoked)
	return &k, nil
}

// CreateAPIKey inserts k. An unknown tenant is store.ErrNotFound; a duplicate id or hash is
// store.ErrConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	k.CreatedAt = ts(k.CreatedAt)
	k.RevokedAt = tsp(k.RevokedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.TenantID, k.Name, k.Prefix, k.Hash, micros(k.CreatedAt), microsp(k.RevokedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create api key: %w", translate(ctx, err))
	}
	return nil
}

// APIKeyByHash returns the unrevoked key with that hash, or store.ErrNotFound.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ? AND revoked_at IS NULL`, hash))
	if err != nil {
		return nil, fmt.Errorf("api key by hash: %w", translate(ctx, err))
	}
	return k, nil
}

// RevokeAPIKey marks the key revoked now and returns it; store.ErrNotFound if it is unknown or
// already revoked.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	var k *store.APIKey
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
			micros(now()), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke api key: %w", translate(ctx, err))
	}
	return k, nil
}
