package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// WebhookStore is the part of the store that webhook delivery needs.
type WebhookStore interface {
	GetTenant(ctx context.Context, id string) (*store.Tenant, error)
	RecordDelivery(ctx context.Context, d *store.Delivery) error
}

// Sender posts one webhook signed with each of secrets (satisfied by *webhook.Sender).
type Sender interface {
	Send(ctx context.Context, url string, secrets []string, id string, ts time.Time, body []byte) webhook.Result
}

// WebhooksConfig configures Webhooks.
type WebhooksConfig struct {
	Store  WebhookStore
	Sender Sender
	// GiveUpAfter is how long after the event retries go on (24h); the attempt that finds
	// it passed is the last, recorded as final.
	GiveUpAfter time.Duration
	// RetryDelay is the wait after failed attempt n (exponential with jitter from 1s, at
	// most 1h).
	RetryDelay func(attempt uint64) time.Duration
	// Tenants is where the tenants' signing secrets are read: the worker's TenantCache,
	// dropped on a rotation by its invalidation. Without it, Webhooks keeps a TenantCache of
	// its own on Store for SecretTTL (1m), dropped through Forget.
	Tenants   TenantGetter
	SecretTTL time.Duration
	Logger    *slog.Logger
	// Meter, when set, counts delivery attempts by outcome (default: none).
	Meter metric.Meter
	// Tracer, when set, records each delivery attempt as a client span "POST webhook",
	// whose context the request's traceparent carries (nil: nothing recorded).
	Tracer trace.TracerProvider
	Now    func() time.Time
}

// Webhooks delivers lifecycle events to the tasks' webhook_url, per Standard Webhooks, at
// least once, with one webhook-id across retries. Its Handle is the handler of the webhooks
// consumer.
type Webhooks struct {
	cfg     WebhooksConfig
	log     *slog.Logger
	metrics *webhookMetrics
	tracer  trace.Tracer

	cache *TenantCache // its own, when cfg.Tenants was not given
}

// NewWebhooks checks cfg and fills its defaults.
func NewWebhooks(cfg WebhooksConfig) (*Webhooks, error) {
	if cfg.Store == nil || cfg.Sender == nil {
		return nil, errors.New("handlers: WebhooksConfig.Store and Sender are required")
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 24 * time.Hour
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = func(n uint64) time.Duration { return expBackoff(n, time.Second, time.Hour) }
	}
	if cfg.SecretTTL <= 0 {
		cfg.SecretTTL = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ms, err := newWebhookMetrics(cfg.Meter)
	if err != nil {
		return nil, err
	}
	tp := cfg.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	h := &Webhooks{cfg: cfg, log: log, metrics: ms, tracer: tp.Tracer(tracerScope)}
	if cfg.Tenants == nil {
		h.cache = &TenantCache{Store: cfg.Store, TTL: cfg.SecretTTL}
		h.cfg.Tenants = h.cache
	}
	return h, nil
}

// Handle delivers one event.
func (h *Webhooks) Handle(ctx context.Context, m *events.Msg) error {
	var ev events.TaskEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.ID == "" {
		h.log.ErrorContext(ctx, "undecodable event dropped", "subject", m.Subject, "error", err)
		return events.Cancel(fmt.Errorf("decode event: %w", err))
	}
	if ev.Task.WebhookURL == nil || *ev.Task.WebhookURL == "" {
		return nil
	}
	target := *ev.Task.WebhookURL
	now := h.cfg.Now()
	ten, err := h.cfg.Tenants.GetTenant(ctx, ev.TenantID)
	if err != nil {
		err = fmt.Errorf("load tenant %s: %w", ev.TenantID, err)
	}
	if errors.Is(err, store.ErrNotFound) {
		return events.Cancel(err)
	}
	if err != nil {
		return err
	}
	body, err := json.Marshal(client.WebhookEvent{Type: ev.Type, Timestamp: ev.Timestamp, Data: ev.Task})
	if err != nil {
		return events.Cancel(fmt.Errorf("encode webhook: %w", err))
	}

	res := h.send(ctx, target, ten.WebhookSecrets(now), &ev, now, body)
	if res.Err != nil && ctx.Err() != nil {
		// Shutting down mid-attempt: not the receiver's failure.
		return events.Snooze(0)
	}
	final := res.Err == nil || now.Sub(ev.Timestamp) >= h.cfg.GiveUpAfter
	d := &store.Delivery{
		ID:         store.NewID("dlv"),
		TenantID:   ev.TenantID,
		TaskID:     ev.Task.ID,
		WebhookID:  ev.ID,
		EventType:  ev.Type,
		URL:        target,
		Attempt:    int(m.NumDelivered),
		StatusCode: res.StatusCode,
		Succeeded:  res.Err == nil,
		Final:      final,
		DurationMS: res.Duration.Milliseconds(),
		CreatedAt:  now,
	}
	if res.Err != nil {
		d.Error = res.Err.Error()
	}
	if err := h.cfg.Store.RecordDelivery(context.WithoutCancel(ctx), d); err != nil {
		h.log.ErrorContext(ctx, "record webhook delivery", "task_id", ev.Task.ID, "error", err)
	}
	h.metrics.delivery(ctx, deliveryOutcome(res.Err, final))
	switch {
	case res.Err == nil:
		return nil
	case final:
		h.log.WarnContext(ctx, "webhook delivery given up", "task_id", ev.Task.ID, "attempt", m.NumDelivered, "error", res.Err)
		return events.Cancel(res.Err)
	default:
		return events.RetryAfter(res.Err, h.cfg.RetryDelay(m.NumDelivered))
	}
}

// send makes one delivery attempt inside a client span "POST webhook".
func (h *Webhooks) send(ctx context.Context, target string, secrets []string, ev *events.TaskEvent, now time.Time, body []byte) webhook.Result {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", "POST"),
		attribute.String("agentic.webhook.id", ev.ID),
		attribute.String("agentic.task.id", ev.Task.ID),
		attribute.String("agentic.tenant.id", ev.TenantID),
	}
	if u, err := url.Parse(target); err == nil {
		attrs = append(attrs, attribute.String("server.address", u.Hostname()))
		if p, err := strconv.Atoi(u.Port()); err == nil {
			attrs = append(attrs, attribute.Int("server.port", p))
		}
	}
	ctx, span := h.tracer.Start(ctx, "POST webhook", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	res := h.cfg.Sender.Send(ctx, target, secrets, ev.ID, now, body)
	if res.StatusCode != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	}
	if res.Err != nil {
		errType := "error"
		if res.StatusCode != 0 {
			errType = strconv.Itoa(res.StatusCode)
		}
		span.SetAttributes(attribute.String("error.type", errType))
		span.RecordError(res.Err)
		span.SetStatus(codes.Error, res.Err.Error())
	}
	return res
}

// deliveryOutcome names an attempt's outcome for agentic.webhooks.deliveries.
func deliveryOutcome(err error, final bool) string {
	switch {
	case err == nil:
		return deliveryDelivered
	case errors.Is(err, webhook.ErrForbiddenTarget), errors.Is(err, webhook.ErrInvalidURL):
		return deliveryRefused
	case final:
		return deliveryGaveUp
	default:
		return deliveryRetry
	}
}

// Forget drops the cached secrets of a tenant, so the next delivery reads them again: the
// handler of the events.InvalidateTenant invalidation, published on a rotation.
func (h *Webhooks) Forget(tenantID string) {
	if h.cache != nil {
		h.cache.Forget(tenantID)
	}
}
