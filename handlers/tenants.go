package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/agentic-run/agentic/store"
)

// TenantGetter reads a tenant; *store.Store implementations are one, TenantCache another.
type TenantGetter interface {
	GetTenant(ctx context.Context, id string) (*store.Tenant, error)
}

// TenantCache keeps tenants (their tier and budget) in the worker for TTL, so the limits do
// not read the database for every task; Forget, the handler of events.InvalidateTenant, drops
// one at once when it changes. It is safe for concurrent use.
type TenantCache struct {
	Store TenantGetter
	TTL   time.Duration // default 10s

	mu sync.Mutex
	m  map[string]cachedTenant
}

type cachedTenant struct {
	t   *store.Tenant
	exp time.Time
}

// maxCachedTenants bounds the cache; beyond it, it starts over.
const maxCachedTenants = 100_000

// GetTenant returns the tenant from the cache, or the store on a miss.
func (c *TenantCache) GetTenant(ctx context.Context, id string) (*store.Tenant, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.t, nil
	}
	t, err := c.Store.GetTenant(ctx, id)
	if err != nil {
		return nil, err
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedTenants {
		c.m = make(map[string]cachedTenant)
	}
	c.m[id] = cachedTenant{t: t, exp: now.Add(ttl)}
	c.mu.Unlock()
	return t, nil
}

// Forget drops a tenant, so its next read sees its new tier or budget.
func (c *TenantCache) Forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
