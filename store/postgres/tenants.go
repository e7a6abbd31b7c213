package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-run/agentic/store"
)

const tenantCols = `id, name, tier, monthly_budget_micros, webhook_secret, created_at,
	previous_webhook_secret, webhook_secret_rotated_at`

func scanTenant(row pgx.Row) (*store.Tenant, error) {
	var (
		t    store.Tenant
		prev *string
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Tier, &t.MonthlyBudgetMicros, &t.WebhookSecret, &t.CreatedAt,
		&prev, &t.WebhookSecretRotatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.PreviousWebhookSecret = deref(prev)
	t.WebhookSecretRotatedAt = utcp(t.WebhookSecretRotatedAt)
	return &t, nil
}

// tenantRow runs sql (as the system: tenants are admin's business) and scans its tenant.
func (s *Store) tenantRow(ctx context.Context, sql string, args ...any) (*store.Tenant, error) {
	return one(ctx, s, system, scanTenant, sql, args...)
}

// apiKeyRow runs sql as the system and scans its key.
func (s *Store) apiKeyRow(ctx context.Context, sql string, args ...any) (*store.APIKey, error) {
	return one(ctx, s, system, scanAPIKey, sql, args...)
}

// CreateTenant inserts t; ID, WebhookSecret and CreatedAt are set by the caller. A duplicate
// id is store.ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t *store.Tenant) error {
	t.CreatedAt = ts(t.CreatedAt)
	_, err := s.exec(ctx, system,
		`INSERT INTO tenants (id, name, tier, monthly_budget_micros, webhook_secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.Name, t.Tier, t.MonthlyBudgetMicros, t.WebhookSecret, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("create tenant: %w", translate(err))
	}
	return nil
}

// GetTenant returns the tenant, or store.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (*store.Tenant, error) {
	t, err := s.tenantRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("get tenant: %w", translate(err))
	}
	return t, nil
}

// UpdateTenant applies p in one statement and returns the tenant as it now stands.
func (s *Store) UpdateTenant(ctx context.Context, id string, p store.TenantPatch) (*store.Tenant, error) {
	t, err := s.tenantRow(ctx, `
		UPDATE tenants SET
			tier = coalesce($2, tier),
			monthly_budget_micros = CASE
				WHEN $3 THEN NULL
				WHEN $4::bigint IS NOT NULL THEN $4
				ELSE monthly_budget_micros END
		WHERE id = $1
		RETURNING `+tenantCols,
		id, p.Tier, p.ClearBudget, p.MonthlyBudgetMicros)
	if err != nil {
		return nil, fmt.Errorf("update tenant: %w", translate(err))
	}
	return t, nil
}

// RotateWebhookSecret makes secret the tenant's webhook secret and keeps the one it replaces
// as the previous secret, stamped at, in one UPDATE.
func (s *Store) RotateWebhookSecret(ctx context.Context, id, secret string, at time.Time) (*store.Tenant, error) {
	t, err := s.tenantRow(ctx, `
		UPDATE tenants SET
			previous_webhook_secret = webhook_secret,
			webhook_secret = $2,
			webhook_secret_rotated_at = $3
		WHERE id = $1
		RETURNING `+tenantCols,
		id, secret, ts(at))
	if err != nil {
		return nil, fmt.Errorf("rotate webhook secret: %w", translate(err))
	}
	return t, nil
}

const apiKeyCols = `id, tenant_id, name, prefix, hash, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (*store.APIKey, error) {
	var k store.APIKey
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = utcp(k.RevokedAt)
	return &k, nil
}

// CreateAPIKey inserts k. An unknown tenant is store.ErrNotFound; a duplicate id or hash is
// store.ErrConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	k.CreatedAt = ts(k.CreatedAt)
	k.RevokedAt = tsp(k.RevokedAt)
	_, err := s.exec(ctx, system,
		`INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.TenantID, k.Name, k.Prefix, k.Hash, k.CreatedAt, k.RevokedAt)
	if err != nil {
		return fmt.Errorf("create api key: %w", translate(err))
	}
	return nil
}

// APIKeyByHash returns the unrevoked key with that hash, or store.ErrNotFound.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := s.apiKeyRow(ctx,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash)
	if err != nil {
		return nil, fmt.Errorf("api key by hash: %w", translate(err))
	}
	return k, nil
}

// RevokeAPIKey marks the key revoked now and returns it; store.ErrNotFound if it is unknown or
// already revoked.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := s.apiKeyRow(ctx,
		`UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING `+apiKeyCols,
		id, now())
	if err != nil {
		return nil, fmt.Errorf("revoke api key: %w", translate(err))
	}
	return k, nil
}
