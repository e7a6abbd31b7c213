package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Msg is one delivery of a stream message to a handler.
type Msg struct {
	Subject      string
	Header       nats.Header
	Data         []byte
	NumDelivered uint64    // 1 on the first delivery
	Published    time.Time // when the message was stored
	// Permit is the tenant's concurrency slot the message was admitted under, in a Runner
	// with FairConfig.Admit (nil otherwise). The handler renews it with its heartbeat; the
	// Runner releases it when the handler returns.
	Permit Permit
	raw    jetstream.Msg
}

// InProgress resets the message's ack timer.
func (m *Msg) InProgress() error {
	if err := m.raw.InProgress(); err != nil {
		return translate("in progress", err)
	}
	return nil
}

// Handler processes one message. Its error decides the message's fate, in one place (the
// Runner): nil → Ack; Snooze(d) → NakWithDelay(d), the store's attempt count untouched;
// RetryAfter(err, d) → NakWithDelay(d); Cancel(err) → Term; any other error → NakWithDelay
// with the Runner's backoff for NumDelivered.
type Handler func(ctx context.Context, m *Msg) error

// Snooze returns the message to the stream after d without it being a failure.
func Snooze(d time.Duration) error { return &outcome{kind: outcomeSnooze, delay: d} }

// RetryAfter returns the message to the stream after d as a failed attempt.
func RetryAfter(err error, d time.Duration) error {
	return &outcome{kind: outcomeRetry, delay: d, err: err}
}

// Snoozed reports whether err is a Snooze: the message goes back without a failure.
func Snoozed(err error) bool {
	var o *outcome
	return errors.As(err, &o) && o.kind == outcomeSnooze
}

// Cancel terminates the message: it is never redelivered.
func Cancel(err error) error { return &outcome{kind: outcomeCancel, err: err} }

type outcomeKind int

const (
	outcomeSnooze outcomeKind = iota + 1
	outcomeRetry
	outcomeCancel
)

type outcome struct {
	kind  outcomeKind
	delay time.Duration
	err   error
}

func (o *outcome) Error() string {
	if o.err != nil {
		return o.err.Error()
	}
	switch o.kind {
	case outcomeRetry:
		return "retry"
	case outcomeCancel:
		return "canceled"
	}
	return "snoozed"
}

func (o *outcome) Unwrap() error { return o.err }

// ErrShutdown is the cause of a handler's context cancellation when its Runner stops and the
// drain timeout ran out.
var ErrShutdown = errors.New("events: shutting down")

// Defaults of RunnerConfig.
const (
	DefaultConcurrency  = 64
	DefaultDrainTimeout = 25 * time.Second
	maxHeartbeat        = 10 * time.Second
	minHeartbeat        = 10 * time.Millisecond
	// pullerGrace is how long the puller may take to hand back buffered messages once the
	// handlers are done.
	pullerGrace = 5 * time.Second
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Stream   string // stream name
	Consumer string // durable consumer name (created by Setup)
	// Fair, when set, makes the Runner consume a tasks stream through one consumer per tenant
	// and choose fairly among tenants (see FairConfig); Stream and Consumer are then unused.
	Fair *FairConfig
	// Concurrency is how many handlers run at once (64).
	Concurrency int
	// PullMaxMessages is how many messages are pulled ahead of the handlers (2×Concurrency).
	// Buffered messages wait without heartbeats, so with handlers that run for a large part
	// of AckWait, set it to Concurrency.
	PullMaxMessages int
	// Heartbeat is how often InProgress is sent while a handler runs (AckWait/3, at most 10s).
	Heartbeat time.Duration
	// DrainTimeout is how long Stop waits for in-flight handlers before cancelling them (25s).
	DrainTimeout time.Duration
	// Backoff is the redelivery delay after a plain error on delivery n (exponential with
	// jitter from 1s, at most 5m, through cenkalti/backoff).
	Backoff func(numDelivered uint64) time.Duration
	Logger  *slog.Logger
	// Tracer, when set, records each delivery as a consumer span "process KIND" (KIND from
	// the stream: tasks, events, ops), the child of the context the message's traceparent
	// carries; the handler runs inside it. Without it (nil) nothing is recorded, but the
	// handler's context still carries the message's remote span context.
	Tracer trace.TracerProvider
}

// DefaultBackoff is the default RunnerConfig.Backoff: cenkalti/backoff's exponential backoff
// (1s initial interval, multiplier 2, randomization 0.5, interval at most 5m) evaluated for
// the n-th delivery.
func DefaultBackoff(numDelivered uint64) time.Duration {
	b := backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         5 * time.Minute,
	}
	b.Reset()
	// The interval reaches its maximum after 9 steps; more only cost time.
	for i := uint64(1); i < numDelivered && i < 16; i++ {
		b.NextBackOff()
	}
	return b.NextBackOff()
}

// Runner pulls from a durable consumer and runs a Handler on each message, at most
// Concurrency at once, and applies each handler's outcome to its message.
type Runner struct {
	js     jetstream.JetStream
	cfg    RunnerConfig
	h      Handler
	log    *slog.Logger
	tracer trace.Tracer
	kind   string // of the stream, for span names

	mu      sync.Mutex
	started bool
	iter    jetstream.MessagesContext // nil with Fair
	disp    *dispatcher               // nil without Fair

	stopOnce sync.Once
	stopping chan struct{} // closed when Stop begins: no new message starts
	done     chan struct{} // closed when every handler returned and the puller exited

	hctx    context.Context // the handlers' context
	hcancel context.CancelCauseFunc

	jobs  chan job
	slots []slot

	heldMu   sync.Mutex
	held     []job // delivered after Stop began, returned once unsubscribed
	released bool
}

// job is one message handed to a handler goroutine, with what the dispatcher admitted it
// under.
type job struct {
	msg    jetstream.Msg
	permit Permit
	tenant string
}

// slot is one handler goroutine's current message, for the heartbeat loop.
type slot struct {
	mu    sync.Mutex
	msg   jetstream.Msg
	since time.Time
}

// NewRunner validates cfg and returns a Runner; Start begins pulling.
func NewRunner(js jetstream.JetStream, cfg RunnerConfig, h Handler) (*Runner, error) {
	switch {
	case js == nil:
		return nil, fmt.Errorf("%w: runner without jetstream", ErrInvalid)
	case h == nil:
		return nil, fmt.Errorf("%w: runner without handler", ErrInvalid)
	case cfg.Fair == nil && (cfg.Stream == "" || cfg.Consumer == ""):
		return nil, fmt.Errorf("%w: runner needs a stream and a consumer", ErrInvalid)
	case cfg.Concurrency < 0, cfg.PullMaxMessages < 0, cfg.Heartbeat < 0, cfg.DrainTimeout < 0:
		return nil, fmt.Errorf("%w: negative runner setting", ErrInvalid)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PullMaxMessages == 0 {
		cfg.PullMaxMessages = 2 * cfg.Concurrency
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Fair != nil {
		fair, err := cfg.Fair.withDefaults()
		if err != nil {
			return nil, err
		}
		cfg.Fair = &fair
		cfg.Stream, cfg.Consumer = fair.Names.TasksStream(), fair.Names.TaskConsumer("*")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String("stream", cfg.Stream), slog.String("consumer", cfg.Consumer))
	tracer := noopTracer
	if cfg.Tracer != nil {
		tracer = cfg.Tracer.Tracer(instrumentationScope)
	}
	return &Runner{
		js:       js,
		cfg:      cfg,
		h:        h,
		log:      log,
		tracer:   tracer,
		kind:     streamKind(cfg.Stream),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		jobs:     make(chan job),
		slots:    make([]slot, cfg.Concurrency),
	}, nil
}

// Start begins pulling messages; it returns once pulling has started. The handlers' context
// carries ctx's values; cancelling ctx stops the Runner as Stop does (Stop still waits for
// the end).
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("%w: runner started twice", ErrStopped)
	}
	select {
	case <-r.stopping:
		return fmt.Errorf("%w: runner stopped", ErrStopped)
	default:
	}
	ackWait := DefaultAckWait
	if r.cfg.Fair != nil {
		d, err := newDispatcher(ctx, r)
		if err != nil {
			return err
		}
		r.disp, ackWait = d, r.cfg.Fair.AckWait
	} else {
		cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Consumer)
		if err != nil {
			return translate("runner consumer "+r.cfg.Stream+"/"+r.cfg.Consumer, err)
		}
		iter, err := cons.Messages(jetstream.PullMaxMessages(r.cfg.PullMaxMessages))
		if err != nil {
			return translate("runner pull", err)
		}
		if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
			ackWait = info.Config.AckWait
		}
		r.iter = iter
	}
	if r.cfg.Heartbeat == 0 {
		r.cfg.Heartbeat = min(max(ackWait/3, minHeartbeat), maxHeartbeat)
	}
	r.started = true
	r.hctx, r.hcancel = context.WithCancelCause(context.WithoutCancel(ctx))

	var wg sync.WaitGroup
	wg.Add(r.cfg.Concurrency)
	for i := range r.slots {
		go func() {
			defer wg.Done()
			r.work(&r.slots[i])
		}()
	}
	pulled := make(chan struct{})
	go func() {
		defer close(pulled)
		if r.disp != nil {
			r.disp.run(r.hctx)
			return
		}
		r.pull()
	}()
	hbDone := make(chan struct{})
	go r.heartbeat(hbDone)
	go func() {
		wg.Wait()
		close(hbDone)
		select {
		case <-pulled:
		case <-time.After(pullerGrace):
			// Draining needs the server; without it, drop what is buffered (it is
			// redelivered after AckWait) so that Stop can return.
			r.mu.Lock()
			if r.iter != nil {
				r.iter.Stop()
			}
			r.mu.Unlock()
			<-pulled
		}
		r.hcancel(ErrShutdown)
		close(r.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			r.beginStop()
		case <-r.stopping:
		}
	}()
	r.log.DebugContext(ctx, "runner started", slog.Int("concurrency", r.cfg.Concurrency))
	return nil
}

// Stop stops pulling, waits up to DrainTimeout for in-flight handlers, then cancels their
// contexts with ErrShutdown as cause and waits for them to return (their outcome still
// applies). It is idempotent and safe to call concurrently; if ctx ends first, the handlers
// are cancelled at once and Stop returns ctx's error without waiting further.
func (r *Runner) Stop(ctx context.Context) error {
	r.beginStop()
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.hcancel(ErrShutdown)
		return fmt.Errorf("events: stop runner: %w", ctx.Err())
	}
}

// beginStop starts the shutdown once: no new message starts, buffered ones go back to the
// stream, and in-flight handlers are cancelled after DrainTimeout.
func (r *Runner) beginStop() {
	r.stopOnce.Do(func() {
		close(r.stopping)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.started {
			close(r.done)
			return
		}
		if r.iter != nil {
			r.iter.Drain()
		}
		go func() {
			t := time.NewTimer(r.cfg.DrainTimeout)
			defer t.Stop()
			select {
			case <-r.done:
			case <-t.C:
				r.log.WarnContext(r.hctx, "drain timeout: cancelling in-flight handlers",
					slog.Duration("drain_timeout", r.cfg.DrainTimeout))
				r.hcancel(ErrShutdown)
			}
		}()
	})
}

// pull hands messages to the handler goroutines until the Runner stops. Messages that arrive
// after Stop began are held and go back to the stream once the pull subscription is gone:
// returned earlier, the server could hand them straight back to it.
func (r *Runner) pull() {
	defer r.releaseHeld()
	iter := r.iter
	for {
		m, err := iter.Next()
		if err != nil {
			if r.isStopping() {
				return
			}
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				r.log.WarnContext(r.hctx, "pull", slog.String("error", err.Error()))
				continue
			}
			if r.js.Conn().IsClosed() {
				r.log.ErrorContext(r.hctx, "pull: connection closed")
				return
			}
			// The iterator ended by itself (consumer deleted, bad request): pull again once
			// the consumer is back.
			r.log.ErrorContext(r.hctx, "pull: iterator closed, retrying", slog.String("error", err.Error()))
			if iter = r.reopen(); iter == nil {
				return
			}
			continue
		}
		j := job{msg: m}
		if r.isStopping() {
			r.hold(j)
			continue
		}
		select {
		case r.jobs <- j:
		case <-r.stopping:
			r.hold(j)
		}
	}
}

// hold keeps a message that will not run here until the pull subscription is gone, then
// returns it to the stream.
func (r *Runner) hold(j job) {
	r.heldMu.Lock()
	if r.released {
		r.heldMu.Unlock()
		r.requeue(j)
		return
	}
	r.held = append(r.held, j)
	r.heldMu.Unlock()
}

// releaseHeld returns the held messages to the stream, and from now on any other at once.
func (r *Runner) releaseHeld() {
	r.heldMu.Lock()
	held := r.held
	r.held, r.released = nil, true
	r.heldMu.Unlock()
	for _, j := range held {
		r.requeue(j)
	}
}

// reopen waits for the consumer to be pullable again; nil means the Runner is stopping.
func (r *Runner) reopen() jetstream.MessagesContext {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-r.stopping:
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
		ctx, cancel := context.WithTimeout(r.hctx, 5*time.Second)
		cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Consumer)
		cancel()
		if err != nil {
			r.log.WarnContext(r.hctx, "pull: consumer", slog.String("error", err.Error()))
			continue
		}
		iter, err := cons.Messages(jetstream.PullMaxMessages(r.cfg.PullMaxMessages))
		if err != nil {
			r.log.WarnContext(r.hctx, "pull: messages", slog.String("error", err.Error()))
			continue
		}
		r.mu.Lock()
		if r.isStopping() {
			r.mu.Unlock()
			iter.Stop()
			return nil
		}
		r.iter = iter
		r.mu.Unlock()
		return iter
	}
}

func (r *Runner) isStopping() bool {
	select {
	case <-r.stopping:
		return true
	default:
		return false
	}
}

// requeue returns a message that will not run here to the stream for another consumer.
// Nak counts as a delivery, but not as an attempt of the task: the store counts those.
func (r *Runner) requeue(j job) {
	if err := j.msg.Nak(); err != nil {
		r.log.DebugContext(r.hctx, "requeue", slog.String("subject", j.msg.Subject()), slog.String("error", err.Error()))
	}
	r.finished(j)
}

// finished releases what a job was admitted under, once it ran or went back.
func (r *Runner) finished(j job) {
	if j.permit != nil {
		j.permit.Release()
	}
	if r.disp != nil {
		r.disp.done(j.tenant)
	}
}

// work runs handlers one after another until the Runner stops.
func (r *Runner) work(s *slot) {
	for {
		select {
		case <-r.stopping:
			return
		case j := <-r.jobs:
			if r.isStopping() {
				r.hold(j)
				return
			}
			s.mu.Lock()
			s.msg, s.since = j.msg, time.Now()
			s.mu.Unlock()
			r.handle(j)
			s.mu.Lock()
			s.msg = nil
			s.mu.Unlock()
			r.finished(j)
		}
	}
}

// handle runs the handler on one message and applies its outcome.
func (r *Runner) handle(j job) {
	raw := j.msg
	m := &Msg{Subject: raw.Subject(), Header: raw.Headers(), Data: raw.Data(), Permit: j.permit, raw: raw}
	if md, err := raw.Metadata(); err == nil {
		m.NumDelivered, m.Published = md.NumDelivered, md.Timestamp
	}
	consumer := r.cfg.Consumer
	if j.tenant != "" && r.cfg.Fair != nil {
		consumer = r.cfg.Fair.Names.TaskConsumer(j.tenant)
	}
	ctx, span := r.startProcess(m, consumer)
	defer span.End()
	err := r.run(ctx, m)
	r.apply(ctx, span, m, err)
}

// run calls the handler, turning a panic into a plain error.
func (r *Runner) run(ctx context.Context, m *Msg) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.ErrorContext(ctx, "handler panicked",
				slog.String("subject", m.Subject), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("events: handler panicked: %v", p)
		}
	}()
	return r.h(ctx, m)
}

// apply maps a handler's result to the message's acknowledgement; the one place it is done.
// span is the delivery's, which it marks with the outcome.
func (r *Runner) apply(ctx context.Context, span trace.Span, m *Msg, err error) {
	var ackErr error
	var o *outcome
	result := "ack"
	switch {
	case err == nil:
		ackErr = m.raw.Ack()
	case errors.As(err, &o):
		switch o.kind {
		case outcomeSnooze:
			result = "snooze"
			ackErr = m.raw.NakWithDelay(o.delay)
		case outcomeRetry:
			result = "retry"
			spanError(span, err)
			r.log.InfoContext(ctx, "handler retry", slog.String("subject", m.Subject),
				slog.Uint64("delivered", m.NumDelivered), slog.Duration("delay", o.delay), slog.String("error", err.Error()))
			ackErr = m.raw.NakWithDelay(o.delay)
		case outcomeCancel:
			result = "term"
			spanError(span, err)
			r.log.InfoContext(ctx, "handler cancelled message", slog.String("subject", m.Subject),
				slog.String("error", err.Error()))
			ackErr = m.raw.TermWithReason(err.Error())
		}
	default:
		result = "retry"
		spanError(span, err)
		d := r.cfg.Backoff(m.NumDelivered)
		r.log.WarnContext(ctx, "handler failed", slog.String("subject", m.Subject),
			slog.Uint64("delivered", m.NumDelivered), slog.Duration("delay", d), slog.String("error", err.Error()))
		ackErr = m.raw.NakWithDelay(d)
	}
	span.SetAttributes(attrOutcome.String(result))
	if ackErr != nil {
		r.log.WarnContext(ctx, "acknowledge", slog.String("subject", m.Subject), slog.String("error", ackErr.Error()))
	}
}

// heartbeat sends InProgress for every message whose handler has run for half a beat or
// more, once a beat, until done closes: one goroutine for all handlers.
func (r *Runner) heartbeat(done <-chan struct{}) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			for i := range r.slots {
				s := &r.slots[i]
				s.mu.Lock()
				if s.msg != nil && now.Sub(s.since) >= r.cfg.Heartbeat/2 {
					if err := s.msg.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
						r.log.DebugContext(r.hctx, "heartbeat", slog.String("error", err.Error()))
					}
				}
				s.mu.Unlock()
			}
		}
	}
}
