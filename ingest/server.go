package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/health"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// EventPublisher publishes lifecycle events, cancel signals and cache invalidations;
// *events.Publisher is one.
type EventPublisher interface {
	PublishEvent(ctx context.Context, ev events.TaskEvent) error
	SignalCancel(taskID string) error
	Invalidate(ctx context.Context, kind, id string) error
}

// InvalidationSource calls handlers with the invalidations any replica publishes;
// *events.Invalidations is one.
type InvalidationSource interface {
	On(kind string, fn func(id string))
}

// TaskWatcher delivers status changes of tasks; *events.Notifier is one.
type TaskWatcher interface {
	Watch(taskID string) (<-chan string, func())
}

// Config is what a Server needs. Store, Agents, Enqueue, Events, Notifier and AdminToken are
// required; the rest have defaults.
type Config struct {
	// Store holds tenants, keys and tasks.
	Store store.Store
	// Agents is the catalog tasks are validated against.
	Agents *agents.Catalog
	// Webhooks decides which webhook_url targets are accepted.
	Webhooks webhook.Policy
	// Enqueue is called with each new task after its row is committed (the outbox relay's
	// Enqueue). It must not block for long: it runs on the request's path.
	Enqueue func(t *store.Task)
	// EnqueueContext, when set, is called instead of Enqueue, with the request's context:
	// its span (the request's server span) is the parent of the task's publish.
	EnqueueContext func(ctx context.Context, t *store.Task)
	// Events publishes the terminal event of a task canceled while queued and the cancel
	// signal of a running one.
	Events EventPublisher
	// Notifier wakes long-polls and event streams when a task changes.
	Notifier TaskWatcher
	// Invalidations, when set, delivers other replicas' key revocations, so a revoked key
	// stops working here at once rather than when its in-process cache entry expires.
	Invalidations InvalidationSource
	// RateLimits are the per-tenant limits enforced (none when its Window is nil).
	RateLimits RateLimits
	// Budgets is checked on each submission (none when its Ledger is nil).
	Budgets Budgets
	// KeyCache is the shared cache of API keys by hash; nil means every lookup not in the
	// in-process cache goes to the store. The server counts its lookups as "api_keys": pass
	// it unwrapped.
	KeyCache cache.Cache
	// TaskCache, when set, is the shared cache of terminal tasks read by GET /v1/tasks/{id}
	// (counted as "tasks"); it may be the same cache as KeyCache. Nil reads every task from
	// the store.
	TaskCache cache.Cache
	// Caches lists the process's named caches, for /health/detailed's "caches" and the
	// agentic.cache.lookups metric (default: a registry of the server's own, on Meter).
	Caches *cache.Registry
	// AdminToken is the bearer token of the admin routes.
	AdminToken string
	// MaxAttempts is stored on each new task (default 3).
	MaxAttempts int
	// ReadyChecks are run by /health/ready, by name ("database", "nats", "redis").
	ReadyChecks map[string]func(ctx context.Context) error
	// Version is the build's version, for health reports.
	Version string
	// Detailed, when set, is served as GET /health/detailed (admin): ReadyChecks (or its
	// Probes) with their latencies, and its providers and workers. Its AdminToken is unused:
	// the route takes the admin token like every admin route.
	Detailed *health.Detailed
	// Logger receives request logs and the causes of 500s (default: discarded).
	Logger *slog.Logger
	// Outages counts and logs the limit decisions (rate limits, budgets) that could not be
	// made while their store was down (default: one of its own, logging to Logger).
	Outages *limits.Outages
	// Metrics, when set, is served as GET /metrics (Prometheus text).
	Metrics http.Handler
	// Meter, when set, records the API's metrics: request durations by route, tasks
	// submitted, limit refusals and API-key cache lookups (default: none).
	Meter metric.Meter
	// Tracer, when set, records each request (but the health and metrics routes) as a
	// server span named by its route pattern ("POST /v1/tasks"), continuing the trace of an
	// incoming traceparent; a new task's trace_id is its trace id. Nil records nothing: a
	// task's trace_id is then the incoming traceparent's, or random.
	Tracer trace.TracerProvider
	// Now is the clock for stored timestamps (default time.Now).
	Now func() time.Time

	// LocalKeyTTL is how long an API key stays in the in-process cache in front of KeyCache
	// (default 500ms; at most 1s, so a revoked key stops working within a second on every
	// replica; negative disables it).
	LocalKeyTTL time.Duration
	// SSEHeartbeat is the interval of keep-alive comments on event streams (default 15s).
	SSEHeartbeat time.Duration
}

// Defaults and limits of the API.
const (
	defaultMaxAttempts  = 3
	defaultLocalKeyTTL  = 500 * time.Millisecond
	maxLocalKeyTTL      = time.Second
	defaultSSEHeartbeat = 15 * time.Second
	// keyCacheTTL is how long an API key (or the tombstone of a revoked one) stays in the
	// shared cache.
	keyCacheTTL = cache.TTLMedium
	// maxBody bounds request bodies (413 beyond).
	maxBody = 1 << 20
	// maxWait bounds ?wait= on GET /v1/tasks/{id}.
	maxWait = 60 * time.Second
	// checkTimeout bounds each readiness check.
	checkTimeout = 2 * time.Second
)

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("ingest: config: Store is required")
	case c.Agents == nil:
		return errors.New("ingest: config: Agents is required")
	case c.Enqueue == nil && c.EnqueueContext == nil:
		return errors.New("ingest: config: Enqueue is required")
	case c.Events == nil:
		return errors.New("ingest: config: Events is required")
	case c.Notifier == nil:
		return errors.New("ingest: config: Notifier is required")
	case c.AdminToken == "":
		return errors.New("ingest: config: AdminToken is required")
	case c.MaxAttempts < 0:
		return fmt.Errorf("ingest: config: MaxAttempts %d is negative", c.MaxAttempts)
	case c.LocalKeyTTL > maxLocalKeyTTL:
		return fmt.Errorf("ingest: config: LocalKeyTTL %s exceeds %s", c.LocalKeyTTL, maxLocalKeyTTL)
	case c.SSEHeartbeat < 0:
		return fmt.Errorf("ingest: config: SSEHeartbeat %s is negative", c.SSEHeartbeat)
	}
	for name, check := range c.ReadyChecks {
		if check == nil {
			return fmt.Errorf("ingest: config: ready check %q is nil", name)
		}
	}
	if c.RateLimits.Window != nil {
		if c.RateLimits.Tiers == nil {
			c.RateLimits.Tiers = limits.DefaultTiers()
		}
		if _, ok := c.RateLimits.Tiers["free"]; !ok {
			return errors.New("ingest: config: RateLimits.Tiers has no free tier")
		}
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = defaultMaxAttempts
	}
	if c.LocalKeyTTL == 0 {
		c.LocalKeyTTL = defaultLocalKeyTTL
	}
	if c.SSEHeartbeat == 0 {
		c.SSEHeartbeat = defaultSSEHeartbeat
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Outages == nil {
		c.Outages = &limits.Outages{Logger: c.Logger}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("")
	}
	if c.Caches == nil {
		c.Caches = cache.NewRegistry(c.Meter)
	}
	if c.Tracer == nil {
		c.Tracer = tracenoop.NewTracerProvider()
	}
	return nil
}

// Server serves the HTTP API. It is safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	routes    []string
	adminHash [32]byte
	keys      *localKeys
	tenants   *localTenants
	metrics   *metrics

	agents  agentDocs
	openapi []byte
	handler http.Handler
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	docs, err := buildAgentDocs(cfg.Agents)
	if err != nil {
		return nil, err
	}
	ms, err := newMetrics(cfg.Meter, cfg.Caches)
	if err != nil {
		return nil, err
	}
	if cfg.KeyCache, err = cfg.Caches.Instrument(cfg.KeyCache, cacheAPIKeys); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if cfg.TaskCache, err = cfg.Caches.Instrument(cfg.TaskCache, cacheTasks); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if !json.Valid(openapiDoc) {
		return nil, errors.New("ingest: embedded openapi.json is not valid JSON")
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		mux:       http.NewServeMux(),
		adminHash: sha256.Sum256([]byte(cfg.AdminToken)),
		keys:      newLocalKeys(cfg.LocalKeyTTL),
		tenants:   newLocalTenants(),
		metrics:   ms,
		agents:    docs,
		openapi:   openapiDoc,
	}
	if cfg.Invalidations != nil {
		cfg.Invalidations.On(events.InvalidateAPIKey, func(id string) {
			if hash, err := hex.DecodeString(id); err == nil && len(hash) == sha256.Size {
				s.keys.delete([32]byte(hash))
			}
		})
		cfg.Invalidations.On(events.InvalidateTenant, s.tenants.delete)
	}
	s.register()
	s.handler = otelhttp.NewHandler(http.HandlerFunc(s.serveHTTP), "agentic-ingest",
		otelhttp.WithTracerProvider(cfg.Tracer),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()), // the API's own metrics are ingest's
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(spanName),
		otelhttp.WithFilter(traced))
	return s, nil
}

// Handler returns the API's handler, with tracing, panic recovery, request logging and
// problem+json answers for unknown routes (404) and wrong methods (405).
func (s *Server) Handler() http.Handler { return s.handler }

// spanName names a request's server span by the route pattern the router matched
// ("POST /v1/tasks"), or by its method alone until then or when none matched.
func spanName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	if strings.HasPrefix(r.Pattern, "/") {
		return r.Method + " " + r.Pattern
	}
	return r.Pattern
}

// traced reports whether a request is traced: not the health checks and metrics scrapes,
// which come every few seconds and would make a trace each.
func traced(r *http.Request) bool {
	p := r.URL.Path
	return p != "/metrics" && p != "/health" && !strings.HasPrefix(p, "/health/")
}

// register lists every route. Each pattern here must be in openapi.json (a test checks both
// ways).
func (s *Server) register() {
	s.route("GET /health", s.public(s.health))
	if s.cfg.Metrics != nil {
		s.route("GET /metrics", s.public(func(w http.ResponseWriter, r *http.Request) error {
			s.cfg.Metrics.ServeHTTP(w, r)
			return nil
		}))
	}
	s.route("GET /health/live", s.public(s.health))
	s.route("GET /health/ready", s.public(s.ready))
	if s.cfg.Detailed != nil {
		s.route("GET /health/detailed", s.admin(s.detailedHandler()))
	}
	s.route("GET /openapi.json", s.public(s.openAPI))

	s.route("POST /v1/admin/tenants", s.admin(s.createTenant))
	s.route("GET /v1/admin/tenants/{id}", s.admin(s.getTenant))
	s.route("PATCH /v1/admin/tenants/{id}", s.admin(s.patchTenant))
	s.route("POST /v1/admin/tenants/{id}/api-keys", s.admin(s.createAPIKey))
	s.route("DELETE /v1/admin/api-keys/{id}", s.admin(s.revokeAPIKey))
	s.route("POST /v1/admin/tenants/{id}/webhook-secret", s.admin(s.rotateWebhookSecret))

	s.route("GET /v1/agents", s.tenant(s.listAgents))
	s.route("GET /v1/agents/{id}", s.tenant(s.getAgent))

	s.route("POST /v1/tasks", s.tenant(s.submitTask))
	s.route("GET /v1/tasks", s.tenant(s.listTasks))
	s.route("GET /v1/tasks/{id}", s.tenant(s.getTask))
	s.route("POST /v1/tasks/{id}/cancel", s.tenant(s.cancelTask))
	s.route("GET /v1/tasks/{id}/events", s.tenant(s.taskEvents))
	s.route("GET /v1/tasks/{id}/deliveries", s.tenant(s.listDeliveries))
	s.route("GET /v1/usage", s.tenant(s.usage))
}

func (s *Server) route(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.routes = append(s.routes, pattern)
}

// Routes returns the registered route patterns ("POST /v1/tasks", …) in registration order.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// now is the clock, truncated to the store's microsecond precision so that what a reply shows
// is what a later read returns.
func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }
