package ingest

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/health"
)

// httpDurationBuckets are OpenTelemetry's advised boundaries for http.server.request.duration.
var httpDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// metrics are the API's instruments. Their attributes are few and bounded (routes, methods,
// status codes, agents, limits): never a tenant, a key or a task.
type metrics struct {
	requests  metric.Float64Histogram // http.server.request.duration
	submitted metric.Int64Counter     // agentic.tasks.submitted
	rejected  metric.Int64Counter     // agentic.limits.rejected
	// keys counts the API-key cache's lookups, each layer's under its name, in
	// agentic.cache.lookups (defined by package cache) and in the registry's "api_keys".
	keys *cache.Counter

	// The API-key lookups answered by a cache, and all of them, for /health/detailed's
	// "cache": a key found in either layer is a hit, a lookup that reached the database a miss.
	keyHits, keyLookups atomic.Int64
}

// cacheStatus is the API-key cache's hit rate since the process started.
func (ms *metrics) cacheStatus() health.CacheStatus {
	return health.NewCacheStatus(uint64(ms.keyHits.Load()), uint64(ms.keyLookups.Load()), 0)
}

// newMetrics makes the API's instruments on m; the caches' lookups are counted in caches.
func newMetrics(m metric.Meter, caches *cache.Registry) (*metrics, error) {
	var ms metrics
	var err error
	if ms.keys, err = caches.Counter(cacheAPIKeys); err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	if ms.requests, err = m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests, by method, route pattern and status code."),
		metric.WithExplicitBucketBoundaries(httpDurationBuckets...)); err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	if ms.submitted, err = m.Int64Counter("agentic.tasks.submitted", metric.WithUnit("{task}"),
		metric.WithDescription("Tasks accepted (202), by agent; an idempotent replay is not counted again.")); err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	if ms.rejected, err = m.Int64Counter("agentic.limits.rejected", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by a tenant's limits (429 requests or executions, 402 budgets), by limit.")); err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	return &ms, nil
}

// httpMethods are the methods recorded by name; any other is "_OTHER", as the semantic
// conventions ask, so that a client cannot grow the metric's series.
var httpMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// request records one served request. route is the matched pattern ("GET /v1/tasks/{id}"),
// "" when none matched.
func (ms *metrics) request(ctx context.Context, method, route string, status int, d time.Duration) {
	if !httpMethods[method] {
		method = "_OTHER"
	}
	if route == "" {
		route = "other"
	}
	ms.requests.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status)))
}

// submit counts a new task of agent.
func (ms *metrics) submit(ctx context.Context, agent string) {
	ms.submitted.Add(ctx, 1, metric.WithAttributes(attribute.String("agent", agent)))
}

// reject counts a refusal by limit (requests, executions, budgets).
func (ms *metrics) reject(ctx context.Context, limit string) {
	ms.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", limit)))
}

// The names of ingest's caches in agentic.cache.lookups and /health/detailed's "caches".
const (
	cacheAPIKeys = "api_keys"
	cacheTasks   = "tasks"
)

// keyLocalLookup counts one lookup of an API key in the in-process front cache; the shared
// cache's lookups are counted by the cache.Instrumented wrapping it.
func (ms *metrics) keyLocalLookup(ctx context.Context, hit bool) {
	r := cache.Miss
	if hit {
		r = cache.Hit
	}
	ms.keys.Count(ctx, cache.LayerLocal, r)
}
