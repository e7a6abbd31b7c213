package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store"
)

// Store is the part of store.Store the outbox needs.
type Store interface {
	// MarkPublished records that the tasks' messages are on the bus.
	MarkPublished(ctx context.Context, ids []string, at time.Time) error
	// Unpublished returns queued tasks created before 'before' whose publish was never
	// recorded, oldest first.
	Unpublished(ctx context.Context, before time.Time, limit int) ([]*store.Task, error)
}

// RelayOpts tunes a Relay; nil or zero fields mean the defaults.
type RelayOpts struct {
	// MaxPending bounds the publishes awaiting their ack (8192); Enqueue blocks beyond it.
	// The JetStream context's own bound (jetstream.WithPublishAsyncMaxPending, 4000 by
	// default) should be at least as large, or publishes wait for it too.
	MaxPending int
	// BatchSize is the most ids one MarkPublished call records (1000).
	BatchSize int
	// FlushInterval is how long an acked id may wait for its batch to fill (20ms).
	FlushInterval time.Duration
	// AckTimeout is how long a publish may wait for its ack before it is left for the
	// sweep (10s).
	AckTimeout time.Duration
	// MarkTimeout bounds one MarkPublished call (10s).
	MarkTimeout time.Duration
	// Now is the clock of published_at (time.Now); timeouts use the real clock.
	Now func() time.Time
}

// Defaults of RelayOpts.
const (
	DefaultMaxPending    = 8192
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 20 * time.Millisecond
	DefaultAckTimeout    = 10 * time.Second
	DefaultMarkTimeout   = 10 * time.Second
	// stallRetry is how long Enqueue waits before retrying a publish the JetStream context
	// refused because too many were pending.
	stallRetry = 5 * time.Millisecond
)

func (o RelayOpts) withDefaults() RelayOpts {
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.MarkTimeout <= 0 {
		o.MarkTimeout = DefaultMarkTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Relay publishes committed tasks asynchronously and records their acks in batches.
type Relay struct {
	st   Store
	pub  *events.Publisher
	log  *slog.Logger
	opts RelayOpts

	mu    sync.RWMutex
	state int // relayNew, relayRunning, relayStopped

	slots   chan struct{} // one per publish awaiting its ack
	queue   chan pending  // publishes in order, for the collector
	batches chan []string // acked ids, for the marker
	done    chan struct{} // closed when the last batch is recorded
}

const (
	relayNew = iota
	relayRunning
	relayStopped
)

// pending is one publish awaiting its ack.
type pending struct {
	id, tenant string
	f          jetstream.PubAckFuture
	at         time.Time
}

// NewRelay returns a Relay publishing with pub and recording in st; Start runs it.
func NewRelay(st Store, pub *events.Publisher, logger *slog.Logger, opts *RelayOpts) *Relay {
	var o RelayOpts
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{
		st:      st,
		pub:     pub,
		log:     logger,
		opts:    o,
		slots:   make(chan struct{}, o.MaxPending),
		queue:   make(chan pending, o.MaxPending),
		batches: make(chan []string, 4),
		done:    make(chan struct{}),
	}
}

// Start runs the loops that collect acks and record them. ctx's values reach the store
// calls; stop the Relay with Stop.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != relayNew {
		return errors.New("outbox: relay started twice or stopped")
	}
	r.state = relayRunning
	bg := context.WithoutCancel(ctx)
	go r.collect(bg)
	go r.mark(bg)
	return nil
}

// Stop stops accepting tasks, waits for the pending publishes' acks and records them. It is
// idempotent; if ctx ends first it returns ctx's error (what is left unrecorded is for the
// sweep).
func (r *Relay) Stop(ctx context.Context) error {
	r.mu.Lock()
	prev := r.state
	if prev == relayRunning {
		close(r.queue)
	}
	r.state = relayStopped
	r.mu.Unlock()
	if prev == relayNew {
		return nil
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox: stop relay: %w", ctx.Err())
	}
}

// Pending returns how many publishes await their ack.
func (r *Relay) Pending() int { return len(r.slots) }

// Enqueue publishes a task whose row was just committed, without waiting for the stream.
// It blocks only while MaxPending publishes await their acks. A task that cannot be
// published (or arrives before Start or after Stop) is logged and left for the sweep.
func (r *Relay) Enqueue(t *store.Task) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.state != relayRunning {
		r.log.Warn("outbox: relay not running; task left for the sweep", slog.String("task_id", t.ID))
		return
	}
	r.slots <- struct{}{}
	at := time.Now()
	for {
		f, err := r.pub.PublishTaskAsync(t)
		if err == nil {
			r.queue <- pending{id: t.ID, tenant: t.TenantID, f: f, at: at}
			return
		}
		if errors.Is(err, events.ErrPublishStalled) && time.Since(at) < r.opts.AckTimeout {
			time.Sleep(stallRetry)
			continue
		}
		<-r.slots
		r.log.Warn("outbox: publish failed; task left for the sweep", slog.String("task_id", t.ID), slog.String("error", err.Error()))
		return
	}
}

// collect waits for the acks in publish order and hands batches of acked ids to mark.
func (r *Relay) collect(ctx context.Context) {
	defer close(r.batches)
	batch := make([]string, 0, r.opts.BatchSize)
	flushT := time.NewTimer(time.Hour)
	flushT.Stop()
	armed := false
	flush := func() {
		flushT.Stop()
		armed = false
		if len(batch) == 0 {
			return
		}
		r.batches <- batch
		batch = make([]string, 0, r.opts.BatchSize)
	}
	ackT := time.NewTimer(time.Hour)
	ackT.Stop()
	for {
		var p pending
		var ok bool
		if len(batch) == 0 {
			p, ok = <-r.queue
		} else {
			select {
			case p, ok = <-r.queue:
			case <-flushT.C:
				armed = false
				flush()
				continue
			}
		}
		if !ok {
			flush()
			return
		}
		okc, errc := p.f.Ok(), p.f.Err()
		ackT.Reset(r.opts.AckTimeout - time.Since(p.at))
	wait:
		for {
			select {
			case <-okc:
				r.pub.Wake(p.tenant)
				batch = append(batch, p.id)
				break wait
			case err := <-errc:
				r.log.WarnContext(ctx, "outbox: publish not acknowledged; task left for the sweep",
					slog.String("task_id", p.id), slog.String("error", err.Error()))
				break wait
			case <-ackT.C:
				r.log.WarnContext(ctx, "outbox: publish ack timed out; task left for the sweep", slog.String("task_id", p.id))
				break wait
			case <-flushT.C:
				armed = false
				flush()
			}
		}
		ackT.Stop()
		<-r.slots
		switch {
		case len(batch) >= r.opts.BatchSize:
			flush()
		case len(batch) > 0 && !armed:
			flushT.Reset(r.opts.FlushInterval)
			armed = true
		}
	}
}

// mark records batches of acked ids until collect is done.
func (r *Relay) mark(ctx context.Context) {
	defer close(r.done)
	for ids := range r.batches {
		mctx, cancel := context.WithTimeout(ctx, r.opts.MarkTimeout)
		err := r.st.MarkPublished(mctx, ids, r.opts.Now())
		cancel()
		if err != nil {
			r.log.WarnContext(ctx, "outbox: mark published failed; tasks left for the sweep",
				slog.Int("tasks", len(ids)), slog.String("error", err.Error()))
		}
	}
}

// Sweep republishes up to limit queued tasks created before 'before' whose publish was never
// recorded, waits for their acks and marks them published. It returns how many it marked.
// The message id is the task id, so JetStream drops a republish of a message that did get
// through within its duplicate window.
func Sweep(ctx context.Context, st Store, pub *events.Publisher, before time.Time, limit int) (int, error) {
	tasks, err := st.Unpublished(ctx, before, limit)
	if err != nil {
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	if len(tasks) == 0 {
		return 0, nil
	}
	type sent struct {
		id, tenant string
		f          jetstream.PubAckFuture
	}
	futures := make([]sent, 0, len(tasks))
	var errs []error
	for _, t := range tasks {
		for {
			f, err := pub.PublishTaskAsync(t)
			if err == nil {
				futures = append(futures, sent{t.ID, t.TenantID, f})
				break
			}
			if !errors.Is(err, events.ErrPublishStalled) {
				errs = append(errs, err)
				break
			}
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("outbox: sweep: %w", ctx.Err())
			case <-time.After(stallRetry):
			}
		}
	}
	ids := make([]string, 0, len(futures))
	for _, s := range futures {
		select {
		case <-s.f.Ok():
			pub.Wake(s.tenant)
			ids = append(ids, s.id)
		case err := <-s.f.Err():
			errs = append(errs, fmt.Errorf("task %s: %s", s.id, err.Error()))
		case <-ctx.Done():
			return 0, fmt.Errorf("outbox: sweep: %w", ctx.Err())
		}
	}
	if len(ids) > 0 {
		if err := st.MarkPublished(ctx, ids, time.Now()); err != nil {
			return 0, fmt.Errorf("outbox: sweep: %w", err)
		}
	}
	if len(errs) > 0 {
		return len(ids), fmt.Errorf("outbox: sweep: %d of %d not published: %w", len(tasks)-len(ids), len(tasks), errors.Join(errs...))
	}
	return len(ids), nil
}
