package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// CreateTenant calls POST /v1/admin/tenants. The answer is the only one that carries the
// tenant's WebhookSecret.
func (c *Client) CreateTenant(ctx context.Context, req CreateTenantRequest) (*Tenant, error) {
	var out Tenant
	if _, err := c.do(ctx, &call{method: http.MethodPost, path: "/v1/admin/tenants", auth: adminAuth, body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetTenant calls GET /v1/admin/tenants/{id}.
func (c *Client) GetTenant(ctx context.Context, id string) (*Tenant, error) {
	p, err := pathID("tenant", id)
	if err != nil {
		return nil, err
	}
	var out Tenant
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/admin/tenants/" + p, auth: adminAuth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TenantPatch is the body of PATCH /v1/admin/tenants/{id}: only the fields set are sent.
type TenantPatch struct {
	// Tier, when not nil, becomes the tenant's tier.
	Tier *string
	// MonthlyBudgetUSD, when not nil, becomes the tenant's monthly budget.
	MonthlyBudgetUSD *float64
	// ClearBudget removes the monthly budget (it sends "monthly_budget_usd": null); it
	// cannot be combined with MonthlyBudgetUSD.
	ClearBudget bool
}

// MarshalJSON encodes the fields that are set, and a null budget when ClearBudget is set.
func (p TenantPatch) MarshalJSON() ([]byte, error) {
	if p.ClearBudget && p.MonthlyBudgetUSD != nil {
		return nil, errors.New("tenant patch: ClearBudget and MonthlyBudgetUSD are both set")
	}
	m := map[string]any{}
	if p.Tier != nil {
		m["tier"] = *p.Tier
	}
	switch {
	case p.ClearBudget:
		m["monthly_budget_usd"] = nil
	case p.MonthlyBudgetUSD != nil:
		m["monthly_budget_usd"] = *p.MonthlyBudgetUSD
	}
	return json.Marshal(m)
}

// UpdateTenant calls PATCH /v1/admin/tenants/{id} with the fields of patch that are set.
func (c *Client) UpdateTenant(ctx context.Context, id string, patch TenantPatch) (*Tenant, error) {
	p, err := pathID("tenant", id)
	if err != nil {
		return nil, err
	}
	if patch.ClearBudget && patch.MonthlyBudgetUSD != nil {
		return nil, errors.New("agentic: update tenant: ClearBudget and MonthlyBudgetUSD are both set")
	}
	var out Tenant
	if _, err := c.do(ctx, &call{method: http.MethodPatch, path: "/v1/admin/tenants/" + p, auth: adminAuth, body: patch}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// APIKeyOpts are the optional parts of a new API key; nil means none.
type APIKeyOpts struct {
	// Name labels the key ("ci", "billing-service").
	Name string `json:"name,omitempty"`
}

// CreateAPIKey calls POST /v1/admin/tenants/{id}/api-keys. The answer is the only one that
// carries the key itself (APIKey.Key): store it now.
func (c *Client) CreateAPIKey(ctx context.Context, tenantID string, opts *APIKeyOpts) (*APIKey, error) {
	p, err := pathID("tenant", tenantID)
	if err != nil {
		return nil, err
	}
	r := &call{method: http.MethodPost, path: "/v1/admin/tenants/" + p + "/api-keys", auth: adminAuth}
	if opts != nil {
		r.body = opts
	}
	var out APIKey
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateWebhookSecret calls POST /v1/admin/tenants/{id}/webhook-secret: the tenant gets a new
// webhook secret (in the returned Tenant); for 24 hours deliveries carry signatures with both
// the new and the previous secret, so receivers can switch without rejecting any.
func (c *Client) RotateWebhookSecret(ctx context.Context, tenantID string) (*Tenant, error) {
	p, err := pathID("tenant", tenantID)
	if err != nil {
		return nil, err
	}
	var out Tenant
	if _, err := c.do(ctx, &call{method: http.MethodPost, path: "/v1/admin/tenants/" + p + "/webhook-secret", auth: adminAuth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeAPIKey calls DELETE /v1/admin/api-keys/{id}; the key stops working within a second
// on every replica.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	p, err := pathID("api key", id)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &call{method: http.MethodDelete, path: "/v1/admin/api-keys/" + p, auth: adminAuth}, nil)
	return err
}
