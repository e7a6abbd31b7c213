package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Watermill returns p as a Watermill publisher on JetStream: a message on topic T is stored on
// subject PREFIX.T with its UUID as its Nats-Msg-Id (so a republish inside the stream's
// duplicate window is dropped), its metadata as headers and the W3C trace context of its
// Context in traceparent.
func (p *Publisher) Watermill() message.Publisher { return wmPublisher{p} }

type wmPublisher struct{ p *Publisher }

func (w wmPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		h := make(nats.Header, len(m.Metadata)+3)
		for k, v := range m.Metadata {
			h.Set(k, v)
		}
		h.Set(jetstream.MsgIDHeader, m.UUID)
		nm := &nats.Msg{Subject: w.p.n.Prefix + "." + topic, Data: m.Payload, Header: h}
		ctx, span := w.p.startPublish(m.Context(), topic, nm, m.UUID, "")
		_, err := w.p.js.PublishMsg(ctx, nm)
		if err != nil {
			err = translate("publish "+topic+" "+m.UUID, err)
			spanError(span, err)
		}
		span.End()
		if err != nil {
			return err
		}
	}
	return nil
}

// Close does nothing: the connection is the Publisher's owner's.
func (wmPublisher) Close() error { return nil }

// OpsConsumer names the durable consumer of one type of ops event: ops_backup_requested for
// ops.backup.requested.
func (n Names) OpsConsumer(opsType string) string {
	return "ops_" + strings.ReplaceAll(strings.TrimPrefix(opsType, "ops."), ".", "_")
}

// MetadataDelivery is the metadata key of a delivered ops message's delivery count ("1" on
// the first delivery).
const MetadataDelivery = "Agentic-Delivery"

// OpsSubscriberConfig configures an OpsSubscriber.
type OpsSubscriberConfig struct {
	Names Names
	// AckWait is the consumers' acknowledgement deadline (30s); a message in progress is
	// kept alive with InProgress every third of it, so a handler may run as long as it needs,
	// and a message whose worker died is delivered again after it.
	AckWait time.Duration
	// DrainTimeout is how long Close lets the handlers of messages in hand finish before it
	// cancels them (30s).
	DrainTimeout time.Duration
	// MaxDeliveries is how many deliveries a message gets without an outcome — each ended by
	// its worker dying, or by a shutdown — before it is dead-lettered (5).
	MaxDeliveries int
	// Backoff is the delay before a nacked message is delivered again, by delivery count
	// (DefaultBackoff).
	Backoff func(delivered uint64) time.Duration
	// DeadLetters copies dead-lettered messages to the DLQ stream.
	DeadLetters *Publisher
	Tracer      trace.TracerProvider
	Logger      *slog.Logger
}

// OpsSubscriber is a Watermill subscriber of the ops stream: Subscribe(ctx, "ops.backup.requested")
// reads that type of event through its own durable pull consumer, one message at a time.
// Ack and Nack of a message map to JetStream's (double) ack and NakWithDelay, and the message
// is kept in progress while its handler runs. A message's Context carries its trace context
// and ends (cause ErrShutdown) only when Close has waited the drain timeout for it, so a
// handler finishes its work when the subscription is cancelled.
type OpsSubscriber struct {
	js     jetstream.JetStream
	cfg    OpsSubscriberConfig
	log    *slog.Logger
	tracer trace.Tracer

	hctx    context.Context // parent of the messages' contexts
	hcancel context.CancelCauseFunc
	wg      sync.WaitGroup
	closed  chan struct{}
	once    sync.Once
}

// NewOpsSubscriber returns a subscriber of the ops stream of cfg.Names.
func NewOpsSubscriber(js jetstream.JetStream, cfg OpsSubscriberConfig) (*OpsSubscriber, error) {
	if !cfg.Names.Valid() || cfg.DeadLetters == nil {
		return nil, fmt.Errorf("%w: OpsSubscriberConfig needs valid Names and DeadLetters", ErrInvalid)
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxDeliveries <= 0 {
		cfg.MaxDeliveries = 5
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tracer := noopTracer
	if cfg.Tracer != nil {
		tracer = cfg.Tracer.Tracer(instrumentationScope)
	}
	s := &OpsSubscriber{js: js, cfg: cfg, log: log, tracer: tracer, closed: make(chan struct{})}
	s.hctx, s.hcancel = context.WithCancelCause(context.Background())
	return s, nil
}

// Subscribe creates (or finds) the durable consumer of the ops events of type topic and
// delivers them on the returned channel until ctx ends or Close is called; the channel is
// closed once the message in hand, if any, has its outcome.
func (s *OpsSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if !validOpsType(topic) {
		return nil, fmt.Errorf("%w: ops topic %q", ErrInvalid, topic)
	}
	cfg := consumerConfig(s.cfg.Names.OpsConsumer(topic), s.cfg.Names.Prefix+"."+topic, s.cfg.AckWait)
	if err := createConsumer(ctx, s.js, s.cfg.Names.OpsStream(), cfg); err != nil {
		return nil, err
	}
	cons, err := s.js.Consumer(ctx, s.cfg.Names.OpsStream(), cfg.Durable)
	if err != nil {
		return nil, translate("ops consumer "+cfg.Durable, err)
	}
	out := make(chan *message.Message)
	pctx, cancel := context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		go func() {
			select {
			case <-s.closed:
				cancel()
			case <-pctx.Done():
			}
		}()
		s.pull(pctx, cons, topic, out)
	}()
	return out, nil
}

// fetchWait bounds one pull request, and so how long a cancelled subscription waits.
const fetchWait = 5 * time.Second

func (s *OpsSubscriber) pull(ctx context.Context, cons jetstream.Consumer, topic string, out chan<- *message.Message) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err == nil {
			for jm := range batch.Messages() {
				s.deliver(ctx, topic, jm, out)
			}
			err = batch.Error()
		}
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			s.log.Warn("ops: fetch failed", "topic", topic, "error", translate("fetch", err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// deliver hands one message to the router and settles it by the outcome.
func (s *OpsSubscriber) deliver(ctx context.Context, topic string, jm jetstream.Msg, out chan<- *message.Message) {
	var delivered uint64 = 1
	if md, err := jm.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	hdr := jm.Headers()
	id := hdr.Get(jetstream.MsgIDHeader)
	if id == "" {
		id = "ops-" + randomHex(16)
	}
	wm := message.NewMessage(id, jm.Data())
	for k, v := range hdr {
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-") {
			wm.Metadata.Set(k, v[0])
		}
	}
	wm.Metadata.Set(MetadataDelivery, strconv.FormatUint(delivered, 10))
	if delivered > uint64(s.cfg.MaxDeliveries) { //nolint:gosec // a small positive count
		s.deadLetter(topic, wm, jm, delivered)
		return
	}

	mctx, span := s.tracer.Start(ContextFromHeaders(s.hctx, hdr), "process "+topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attrSystem.String("nats"),
			attrDestination.String(jm.Subject()),
			attrMessageID.String(id),
			attrOperationType.String("process"),
			attrOperationName.String("process"),
			attrConsumerGroup.String(s.cfg.Names.OpsConsumer(topic)),
			attrBodySize.Int(len(jm.Data())),
			attrDeliveryCount.Int64(int64(delivered)), //nolint:gosec // a count
		))
	defer span.End()
	wm.SetContext(mctx)

	select {
	case out <- wm:
	case <-ctx.Done():
		// Not handed over: back to the stream at once for another worker.
		_ = jm.Nak()
		span.SetAttributes(attrOutcome.String("returned"))
		return
	}
	beat := time.NewTicker(s.cfg.AckWait / 3)
	defer beat.Stop()
	for {
		select {
		case <-beat.C:
			if err := jm.InProgress(); err != nil {
				s.log.Warn("ops: in progress failed", "topic", topic, "id", id, "error", translate("in progress", err))
			}
		case <-wm.Acked():
			actx, cancel := context.WithTimeout(context.WithoutCancel(mctx), 5*time.Second)
			err := jm.DoubleAck(actx)
			cancel()
			if err != nil {
				// The work is done; at worst the message is delivered again.
				s.log.Warn("ops: ack failed", "topic", topic, "id", id, "error", translate("ack", err))
			}
			span.SetAttributes(attrOutcome.String("ack"))
			return
		case <-wm.Nacked():
			if s.hctx.Err() != nil {
				// Shut down mid-handler: another worker takes it now, uncounted as a failure.
				_ = jm.Nak()
				span.SetAttributes(attrOutcome.String("returned"))
				return
			}
			d := s.cfg.Backoff(delivered)
			if err := jm.NakWithDelay(d); err != nil {
				s.log.Warn("ops: nak failed", "topic", topic, "id", id, "error", translate("nak", err))
			}
			span.SetAttributes(attrOutcome.String("retry"))
			return
		}
	}
}

// deadLetter copies a message that was delivered too often without an outcome to the DLQ
// stream and terminates it.
func (s *OpsSubscriber) deadLetter(topic string, wm *message.Message, jm jetstream.Msg, delivered uint64) {
	reason := fmt.Sprintf("delivered %d times without an outcome", delivered-1)
	wm.Metadata.Set(HeaderError, "ops_undelivered: "+reason)
	wm.UUID += "-dlq"
	if err := s.cfg.DeadLetters.Watermill().Publish(OpsDLQTopic, wm); err != nil {
		// Left for a later delivery: never terminated without its copy.
		s.log.Error("ops: dead letter failed", "topic", topic, "id", wm.UUID, "error", err)
		return
	}
	_ = jm.Term()
	s.log.Error("ops event dead-lettered", "topic", topic, "id", wm.UUID, "reason", reason)
}

// Close stops every subscription, lets the messages in hand finish within the drain timeout,
// then cancels the contexts of the rest (cause ErrShutdown) — they return to the stream at
// once — and waits for them. It is idempotent. (The Watermill router calls it as soon as it
// is closed.)
func (s *OpsSubscriber) Close() error {
	s.once.Do(func() {
		close(s.closed)
		drained := make(chan struct{})
		go func() { s.wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(s.cfg.DrainTimeout):
		}
		s.hcancel(ErrShutdown)
	})
	s.wg.Wait()
	return nil
}

// OpsDLQTopic is the Watermill topic of dead-lettered ops events: subject
// PREFIX.dlq.ops.system on the DLQ stream.
const OpsDLQTopic = "dlq.ops." + DLQSystem

// OpsRouterConfig configures an OpsRouter.
type OpsRouterConfig struct {
	Names   Names
	AckWait time.Duration
	// DrainTimeout is how long Stop waits for handlers in progress before cancelling them
	// (30s).
	DrainTimeout time.Duration
	// Retries is how often a failed handler is retried in process, with exponential backoff
	// from RetryInterval (3, 1s), before the event is dead-lettered.
	Retries       int
	RetryInterval time.Duration
	// Handlers handle the ops events by type (OpsBackupRequested, …): each type has its own
	// consumer and handles one event at a time.
	Handlers map[string]message.NoPublishHandlerFunc
	Tracer   trace.TracerProvider
	Logger   *slog.Logger
}

// OpsRouter runs the ops handlers in a Watermill router on JetStream, with its middleware:
// the correlation id, the poison queue (a handler that fails every retry has its event
// copied to the DLQ stream, and acknowledged), retries with backoff and a recoverer that
// turns a panic into a failure.
type OpsRouter struct {
	router *message.Router
	sub    *OpsSubscriber
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// NewOpsRouter builds the router; Start runs it.
func NewOpsRouter(js jetstream.JetStream, pub *Publisher, cfg OpsRouterConfig) (*OpsRouter, error) {
	if len(cfg.Handlers) == 0 {
		return nil, fmt.Errorf("%w: OpsRouterConfig.Handlers is empty", ErrInvalid)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sub, err := NewOpsSubscriber(js, OpsSubscriberConfig{Names: cfg.Names, AckWait: cfg.AckWait,
		DrainTimeout: cfg.DrainTimeout, DeadLetters: pub, Tracer: cfg.Tracer, Logger: log})
	if err != nil {
		return nil, err
	}
	// The router's own chatter (handlers starting, stopping) is debug; its errors stay errors.
	wlog := watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	// The subscriber drains, then cancels; the router waits a little longer for the outcome.
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.DrainTimeout + 10*time.Second}, wlog)
	if err != nil {
		return nil, fmt.Errorf("events: ops router: %w", err)
	}
	poison, err := middleware.PoisonQueueWithFilter(pub.Watermill(), OpsDLQTopic, func(error) bool {
		// A handler cut short by a shutdown goes back to the stream, not to the DLQ.
		return sub.hctx.Err() == nil
	})
	if err != nil {
		return nil, fmt.Errorf("events: ops router: %w", err)
	}
	router.AddMiddleware(
		middleware.CorrelationID,
		poison,
		middleware.Retry{MaxRetries: cfg.Retries, InitialInterval: cfg.RetryInterval, Multiplier: 2,
			MaxInterval: time.Minute, Logger: wlog}.Middleware,
		middleware.Recoverer,
	)
	for typ, h := range cfg.Handlers {
		if !validOpsType(typ) || h == nil {
			return nil, fmt.Errorf("%w: ops handler for %q", ErrInvalid, typ)
		}
		router.AddConsumerHandler(cfg.Names.OpsConsumer(typ), typ, sub, h)
	}
	return &OpsRouter{router: router, sub: sub, done: make(chan error, 1)}, nil
}

// Start runs the router until Stop, and returns once its handlers are subscribed.
func (r *OpsRouter) Start(ctx context.Context) error {
	go func() { r.done <- r.router.Run(context.WithoutCancel(ctx)) }()
	select {
	case <-r.router.Running():
		return nil
	case err := <-r.done:
		r.done <- err
		return fmt.Errorf("events: ops router: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop stops taking events, waits up to the drain timeout for the handlers in progress, then
// cancels the rest (they return to the stream) and waits for them. It is idempotent.
func (r *OpsRouter) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		err := r.router.Close()
		if err != nil {
			err = fmt.Errorf("events: ops router: %w", err)
		}
		_ = r.sub.Close()
		select {
		case runErr := <-r.done:
			if runErr != nil {
				err = errors.Join(err, fmt.Errorf("events: ops router: %w", runErr))
			}
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		}
		r.stopErr = err
	})
	return r.stopErr
}
