package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/limits"
)

// RateLimits is what ingest enforces per tenant, by its tier: requests per minute on every
// tenant route, executions per hour on each submission, and an agent's own executions per
// hour where it sets one — each a rolling window. The zero value (no Window) enforces none.
type RateLimits struct {
	// Window decides; limits.RedisWindow is exact across replicas.
	Window limits.Window
	// Tiers gives each tier's limits (default limits.DefaultTiers).
	Tiers limits.Tiers
	// RequestsFailOpen and ExecutionsFailOpen choose, for each limit, what happens when the
	// Window's store is unavailable: admit (true) or answer 503 (false). Either way the event
	// is counted and logged by Config.Outages.
	RequestsFailOpen   bool
	ExecutionsFailOpen bool
}

// The limits' names in logs and counters.
const (
	limitRequests   = limits.LimitRequests
	limitExecutions = limits.LimitExecutions
)

// tenantTTL bounds how long a tenant's tier stays cached in the process when no invalidation
// reaches it; a PATCH through any replica drops it at once.
const tenantTTL = 10 * time.Second

// rateLimitKey is a tenant's window for one limit: the tenant is part of every key.
func rateLimitKey(tenantID, limit string) string { return tenantID + ":" + limit }

// agentLimitKey is a tenant's window for one agent's own cap.
func agentLimitKey(tenantID, agentID string) string {
	return tenantID + ":agent:" + agentID + ":" + limitExecutions
}

// admitRequest counts a tenant request against its requests per minute, sets the RateLimit
// headers and refuses with 429 beyond the limit.
func (s *Server) admitRequest(ctx context.Context, w http.ResponseWriter, tenantID string) error {
	rl := s.cfg.RateLimits
	if rl.Window == nil {
		return nil
	}
	tier, err := s.tier(ctx, tenantID)
	if err != nil {
		return err
	}
	return s.decide(ctx, w.Header(), rateLimitKey(tenantID, limitRequests), tier.RequestsPerMinute, time.Minute,
		limitRequests, rl.RequestsFailOpen, "requests in a minute")
}

// admitExecution counts a submission against the tenant's executions per hour and the
// agent's own cap, and refuses with 429 beyond either. The headers then describe the limit
// nearest to refusing. The agent's cap is asked first: a submission it refuses is not
// counted in the tenant's hour.
func (s *Server) admitExecution(ctx context.Context, w http.ResponseWriter, tenantID string, agent *agents.Agent) error {
	rl := s.cfg.RateLimits
	if rl.Window == nil {
		return nil
	}
	tier, err := s.tier(ctx, tenantID)
	if err != nil {
		return err
	}
	if agent.MaxExecutionsPerHour != nil {
		if err := s.decide(ctx, w.Header(), agentLimitKey(tenantID, agent.ID), *agent.MaxExecutionsPerHour, time.Hour,
			limitExecutions, rl.ExecutionsFailOpen, agent.ID+" tasks in an hour"); err != nil {
			return err
		}
	}
	return s.decide(ctx, w.Header(), rateLimitKey(tenantID, limitExecutions), tier.ExecutionsPerHour, time.Hour,
		limitExecutions, rl.ExecutionsFailOpen, "tasks in an hour")
}

// decide asks the window of one limit: the RateLimit headers describe it if it is nearer to
// refusing than what they say already; a refusal is 429; an undecidable one fails open or
// closed as configured for the limit.
func (s *Server) decide(ctx context.Context, h http.Header, key string, limit int, window time.Duration,
	name string, failOpen bool, what string) error {
	d, err := s.cfg.RateLimits.Window.Allow(ctx, key, limit, window)
	if err != nil {
		return s.limitFailed(ctx, name, failOpen, err)
	}
	tighten(h, d)
	if !d.Allowed {
		s.metrics.reject(ctx, name)
		return rateLimited(d, fmt.Sprintf("more than %d %s", d.Limit, what))
	}
	return nil
}

// setRateHeaders writes RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds).
func setRateHeaders(h http.Header, d limits.Decision) {
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(d.ResetSeconds()))
}

// tighten replaces the RateLimit headers with d's when d is nearer to refusing.
func tighten(h http.Header, d limits.Decision) {
	if cur, err := strconv.Atoi(h.Get("RateLimit-Remaining")); err == nil && cur <= d.Remaining && d.Allowed {
		return
	}
	setRateHeaders(h, d)
}

// rateLimited is the 429 of a refused decision, with Retry-After.
func rateLimited(d limits.Decision, why string) *problem {
	p := newProblem(http.StatusTooManyRequests, codeRateLimited,
		fmt.Sprintf("rate limited: %s; retry in %d s", why, d.RetryAfterSeconds()))
	p.retryAfter = d.RetryAfterSeconds()
	return p
}

// limitFailed handles a limiter that could not decide: its store is down (fail open or
// closed, as configured, counted and logged) or the request ended.
func (s *Server) limitFailed(ctx context.Context, limit string, open bool, err error) error {
	if !errors.Is(err, limits.ErrUnavailable) {
		return fmt.Errorf("rate limit %s: %w", limit, err)
	}
	s.cfg.Outages.Record(ctx, limit, open, err)
	if open {
		return nil
	}
	p := newProblem(http.StatusServiceUnavailable, codeUnavailable, "rate limits cannot be checked right now; retry shortly")
	p.retryAfter = 1
	p.cause = err
	return p
}

// tier returns the tenant's tier limits through an in-process cache; an unknown tier name
// (a tiers file that dropped it) gets the free tier's limits.
func (s *Server) tier(ctx context.Context, tenantID string) (limits.Tier, error) {
	e, err := s.tenantInfo(ctx, tenantID)
	if err != nil {
		return limits.Tier{}, err
	}
	if t, ok := s.cfg.RateLimits.Tiers[e.tier]; ok {
		return t, nil
	}
	return s.cfg.RateLimits.Tiers["free"], nil
}

// tenantInfo returns the tenant's tier and budget through the in-process cache.
func (s *Server) tenantInfo(ctx context.Context, tenantID string) (localTenant, error) {
	if e, ok := s.tenants.get(tenantID); ok {
		return e, nil
	}
	gen := s.tenants.generation()
	t, err := s.cfg.Store.GetTenant(ctx, tenantID)
	if err != nil {
		return localTenant{}, fmt.Errorf("tenant %s: %w", tenantID, err)
	}
	e := localTenant{tier: t.Tier, budget: t.MonthlyBudgetMicros}
	s.tenants.put(tenantID, e, gen)
	return e, nil
}

// localTenants caches tenants' tiers and budgets, dropped by tenant invalidations from any
// replica.
type localTenants struct {
	mu  sync.Mutex
	m   map[string]localTenant
	gen uint64
}

type localTenant struct {
	tier   string
	budget *int64 // micro-dollars a month; nil: none
	exp    time.Time
}

func newLocalTenants() *localTenants { return &localTenants{m: make(map[string]localTenant)} }

func (c *localTenants) get(id string) (localTenant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || time.Now().After(e.exp) {
		return localTenant{}, false
	}
	return e, true
}

func (c *localTenants) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches e unless an invalidation came since gen was read.
func (c *localTenants) put(id string, e localTenant, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxLocalKeys {
		clear(c.m)
	}
	e.exp = time.Now().Add(tenantTTL)
	c.m[id] = e
}

func (c *localTenants) delete(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}
