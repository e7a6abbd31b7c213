package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-run/agentic/limits"
)

// Admitter admits a tenant's tasks before a worker fetches them: the tenant's concurrency
// limit across every worker. A task the Admitter has no room for stays in the stream, where
// it blocks nobody and is charged nothing.
type Admitter interface {
	// Admit takes up to n of the tenant's slots and returns a Permit for each slot taken:
	// fewer than n, or none, when the tenant's limit is full.
	Admit(ctx context.Context, tenantID string, n int) ([]Permit, error)
}

// Permit is the slot one admitted task runs under.
type Permit interface {
	// Renew extends the slot's lease and reports whether the slot was still held.
	Renew(ctx context.Context) bool
	// Release gives the slot back; it is called once.
	Release()
}

// Share is what a tenant is entitled to in fair dispatch.
type Share struct {
	Weight int // its share of the workers relative to other tenants (≥ 1)
	Limit  int // tasks it may run at once on this worker (0: no limit but the worker's)
}

// FairConfig makes a Runner consume a tasks stream fairly across tenants rather than in
// global FIFO order.
//
// Each tenant's tasks are read through a durable consumer of its own (TaskConsumerConfig),
// created when its tasks first appear. Whenever a handler is free, the Runner asks a
// limits.Fair scheduler which tenant is next — start-time fair queuing weighted by Share —
// takes slots for that many of the tenant's tasks from Admit, and only then fetches them,
// so a task that would exceed its tenant's limit is never taken off the stream. One
// tenant's backlog therefore delays another tenant's task by at most the wait for a free
// handler, whatever the backlog's size.
//
// The Runner learns which tenants have tasks from the stream's per-subject counts, read
// every Poll, and at once from the wake notices publishers send after a task is stored
// (Publisher.Wake).
type FairConfig struct {
	Names Names // whose tasks stream
	// Share gives a tenant's weight and limit; nil gives every tenant weight 1, no limit.
	// It is asked at most once a Poll per tenant, so it may read a cache.
	Share func(ctx context.Context, tenantID string) (Share, error)
	// Admit, when set, holds tenants to their concurrency across workers.
	Admit Admitter
	// Quantum is how many tasks per unit of weight one grant may take (1).
	Quantum int
	// Poll is how often the stream's per-tenant counts are read (250ms): the longest a task
	// waits to be noticed when its wake notice was lost, or after a delayed redelivery.
	Poll time.Duration
	// AckWait is the redelivery timeout of the consumers the Runner creates (30s).
	AckWait time.Duration
	// Inactive is how long a tenant's consumer lives without a pull (1h).
	Inactive time.Duration
}

// Defaults of FairConfig.
const (
	DefaultFairPoll     = 250 * time.Millisecond
	DefaultFairInactive = time.Hour
)

func (c FairConfig) withDefaults() (FairConfig, error) {
	if !c.Names.Valid() {
		return c, fmt.Errorf("%w: fair dispatch: prefix %q is not a NATS token", ErrInvalid, c.Names.Prefix)
	}
	if c.Quantum < 0 || c.Poll < 0 || c.AckWait < 0 || c.Inactive < 0 {
		return c, fmt.Errorf("%w: negative fair dispatch setting", ErrInvalid)
	}
	if c.Quantum == 0 {
		c.Quantum = 1
	}
	if c.Poll == 0 {
		c.Poll = DefaultFairPoll
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Inactive == 0 {
		c.Inactive = DefaultFairInactive
	}
	if c.Share == nil {
		c.Share = func(context.Context, string) (Share, error) { return Share{Weight: 1}, nil }
	}
	return c, nil
}

// dispatcher feeds a Runner's handlers from per-tenant consumers in fair order.
type dispatcher struct {
	r      *Runner
	cfg    FairConfig
	fair   *limits.Fair
	stream jetstream.Stream
	wake   *nats.Subscription
	log    *slog.Logger

	signal      chan struct{} // a wake notice or a finished task; buffered 1
	pollFailing bool          // the last poll failed (logged once per outage); the loop's own
	grants      chan struct{} // a token per grant being admitted and fetched
	wg          sync.WaitGroup

	mu      sync.Mutex
	busy    int                   // handlers running or about to run a fetched message
	tenants map[string]*fairState // known tenants; the loop adds them
	woken   map[string]int        // wake notices not yet given to fair
}

// fairState is the dispatcher's view of one tenant.
type fairState struct {
	share   Share
	shared  time.Time // when share was asked
	running int       // messages of the tenant held by this Runner, or reserved for a grant
	cons    jetstream.Consumer
	seen    time.Time // when a poll last found its messages, or it had some here
	idle    bool      // fair was told it has nothing queued, and nothing came since
}

func newDispatcher(ctx context.Context, r *Runner) (*dispatcher, error) {
	cfg := *r.cfg.Fair
	stream, err := r.js.Stream(ctx, cfg.Names.TasksStream())
	if err != nil {
		return nil, translate("fair dispatch: stream "+cfg.Names.TasksStream(), err)
	}
	d := &dispatcher{
		r: r, cfg: cfg, stream: stream, log: r.log,
		fair:    limits.NewFair(cfg.Quantum),
		signal:  make(chan struct{}, 1),
		grants:  make(chan struct{}, maxGrants),
		tenants: make(map[string]*fairState),
		woken:   make(map[string]int),
	}
	d.wake, err = r.js.Conn().Subscribe(cfg.Names.WakeSubject("*"), func(m *nats.Msg) {
		if tenant := cfg.Names.WakeTenant(m.Subject); tenant != "" {
			d.mu.Lock()
			d.woken[tenant]++
			d.mu.Unlock()
			d.poke()
		}
	})
	if err != nil {
		return nil, translate("fair dispatch: subscribe to wake notices", err)
	}
	return d, nil
}

// maxGrants bounds the grants being admitted and fetched at once: each waits on a round trip
// to Redis and one to NATS, so several overlap while the loop goes on choosing.
const maxGrants = 8

// poke wakes the dispatch loop.
func (d *dispatcher) poke() {
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// done is told of each message that finished running or went back to the stream.
func (d *dispatcher) done(tenant string) {
	d.mu.Lock()
	d.busy--
	if t := d.tenants[tenant]; t != nil {
		t.running--
	}
	d.mu.Unlock()
	d.fair.Done(tenant, 1)
	d.poke()
}

// run dispatches until the Runner stops.
func (d *dispatcher) run(ctx context.Context) {
	defer d.r.releaseHeld()
	defer d.wg.Wait()
	defer func() {
		if err := d.wake.Unsubscribe(); err != nil {
			d.log.DebugContext(ctx, "unsubscribe wake notices", slog.String("error", err.Error()))
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.r.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()

	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	d.poll(ctx)
	for !d.r.isStopping() {
		select {
		case <-poll.C:
			d.poll(ctx)
		default:
		}
		d.takeWakes(ctx)
		select {
		case d.grants <- struct{}{}:
		case <-d.r.stopping:
			return
		}
		d.mu.Lock()
		free := d.r.cfg.Concurrency - d.busy
		tenant, n, ok := d.fair.Next(free)
		if ok {
			// The handlers and the tenant's room are reserved now, so that the next
			// choice counts them; dispatch gives back what it does not fetch.
			d.busy += n
			d.tenants[tenant].running += n
		}
		d.mu.Unlock()
		if ok {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer func() { <-d.grants }()
				d.dispatch(ctx, tenant, n)
			}()
			continue
		}
		<-d.grants
		select {
		case <-d.r.stopping:
		case <-d.signal:
		case <-poll.C:
			d.poll(ctx)
		}
	}
}

// poll reads how many messages each tenant has in the stream and tells fair. A count
// includes messages delivered and not yet acknowledged, here or on other workers, so it may
// overstate what can be fetched: a short fetch then marks the tenant idle until the next
// poll or wake.
func (d *dispatcher) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := d.stream.Info(ctx, jetstream.WithSubjectFilter(d.cfg.Names.TaskFilter()))
	if err != nil {
		if ctx.Err() == nil && !d.pollFailing {
			d.log.WarnContext(ctx, "fair dispatch: cannot read queue depths", slog.String("error", err.Error()))
		}
		d.pollFailing = true
		return
	}
	if d.pollFailing {
		d.log.InfoContext(ctx, "fair dispatch: queue depths readable again")
		d.pollFailing = false
	}
	counts := make(map[string]int, len(info.State.Subjects))
	for subject, n := range info.State.Subjects {
		if tenant := d.cfg.Names.TaskTenant(subject); tenant != "" {
			counts[tenant] = int(n)
		}
	}
	// A known tenant without messages is told idle once, and forgotten (with its consumer,
	// which the server removes too) once it has been quiet for Inactive.
	now := time.Now()
	var idle, gone []string
	d.mu.Lock()
	for tenant, t := range d.tenants {
		switch _, queued := counts[tenant]; {
		case queued || t.running > 0:
			t.seen, t.idle = now, false
		case now.Sub(t.seen) >= d.cfg.Inactive:
			delete(d.tenants, tenant)
			gone = append(gone, tenant)
		case !t.idle:
			t.idle = true
			idle = append(idle, tenant)
		}
	}
	d.mu.Unlock()
	for _, tenant := range gone {
		d.fair.Remove(tenant)
	}
	for _, tenant := range idle {
		d.update(ctx, tenant, 0, false)
	}
	for tenant, n := range counts {
		d.update(ctx, tenant, n, true)
	}
}

// takeWakes gives the wake notices received since the last look to fair.
func (d *dispatcher) takeWakes(ctx context.Context) {
	d.mu.Lock()
	if len(d.woken) == 0 {
		d.mu.Unlock()
		return
	}
	woken := d.woken
	d.woken = make(map[string]int, len(woken))
	d.mu.Unlock()
	d.mu.Lock()
	for tenant := range woken {
		if t := d.tenants[tenant]; t != nil {
			t.idle = false
		}
	}
	d.mu.Unlock()
	for tenant, n := range woken {
		if !d.fair.Arrived(tenant, n) {
			d.update(ctx, tenant, n, false)
		}
	}
}

// update tells fair a tenant's queued messages and room, asking its Share when it is new or
// its answer is older than a Poll and refresh is set.
func (d *dispatcher) update(ctx context.Context, tenant string, queued int, refresh bool) {
	d.mu.Lock()
	t := d.tenants[tenant]
	d.mu.Unlock()
	if t == nil || refresh && time.Since(t.shared) >= d.cfg.Poll {
		share, err := d.cfg.Share(ctx, tenant)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.WarnContext(ctx, "fair dispatch: tenant's share", slog.String("tenant_id", tenant), slog.String("error", err.Error()))
			share = Share{Weight: 1, Limit: 1}
		}
		d.mu.Lock()
		if t = d.tenants[tenant]; t == nil {
			t = &fairState{seen: time.Now()}
			d.tenants[tenant] = t
		}
		t.share, t.shared = share, time.Now()
		d.mu.Unlock()
	}
	d.mu.Lock()
	room := d.r.cfg.Concurrency
	if t.share.Limit > 0 {
		room = t.share.Limit
	}
	room -= t.running
	queued -= t.running
	weight := t.share.Weight
	d.mu.Unlock()
	d.fair.Update(tenant, weight, queued, room)
}

// dispatch admits, fetches and hands to the handlers up to n of a tenant's messages, as
// fair granted; the loop reserved n handlers, and what is not fetched is given back.
func (d *dispatcher) dispatch(ctx context.Context, tenant string, n int) {
	granted := n
	var permits []Permit
	if d.cfg.Admit != nil {
		ps, err := d.cfg.Admit.Admit(ctx, tenant, n)
		if err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "fair dispatch: admit", slog.String("tenant_id", tenant), slog.String("error", err.Error()))
		}
		for _, p := range ps[min(n, len(ps)):] {
			p.Release()
		}
		ps = ps[:min(n, len(ps))]
		if len(ps) < n {
			d.unreserve(tenant, n-len(ps))
			d.fair.Admitted(tenant, n, len(ps))
			n = len(ps)
		}
		if n == 0 {
			return
		}
		permits = ps
	}
	msgs := d.fetch(ctx, tenant, n)
	if len(msgs) < n {
		d.unreserve(tenant, n-len(msgs))
	}
	if len(msgs) < granted {
		d.poke() // the handlers given back may serve another tenant
	}
	d.fair.Fetched(tenant, n, len(msgs))
	if permits != nil {
		for _, p := range permits[len(msgs):] {
			p.Release()
		}
	}
	for i, m := range msgs {
		j := job{msg: m, tenant: tenant}
		if permits != nil {
			j.permit = permits[i]
		}
		select {
		case d.r.jobs <- j:
		case <-d.r.stopping:
			d.r.hold(j)
		}
	}
}

// unreserve gives back handlers reserved for a grant and not used.
func (d *dispatcher) unreserve(tenant string, n int) {
	d.mu.Lock()
	d.busy -= n
	d.tenants[tenant].running -= n
	d.mu.Unlock()
}

// fetch takes up to n of a tenant's messages that are ready now, creating its consumer when
// this Runner has none or the server dropped it.
func (d *dispatcher) fetch(ctx context.Context, tenant string, n int) []jetstream.Msg {
	for attempt := 0; ; attempt++ {
		cons, err := d.consumer(ctx, tenant, attempt > 0)
		if err != nil {
			if ctx.Err() == nil {
				d.log.WarnContext(ctx, "fair dispatch: tenant's consumer", slog.String("tenant_id", tenant), slog.String("error", err.Error()))
			}
			return nil
		}
		batch, err := cons.FetchNoWait(n)
		if err != nil {
			d.log.WarnContext(ctx, "fair dispatch: fetch", slog.String("tenant_id", tenant), slog.String("error", err.Error()))
			return nil
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		err = batch.Error()
		if err == nil || len(msgs) > 0 {
			return msgs
		}
		// No responders: the consumer is gone (the server removed it when inactive).
		if errors.Is(err, nats.ErrNoResponders) && attempt == 0 {
			continue
		}
		if ctx.Err() == nil {
			d.log.WarnContext(ctx, "fair dispatch: fetch", slog.String("tenant_id", tenant), slog.String("error", err.Error()))
		}
		return nil
	}
}

// consumer returns the tenant's consumer, creating (or, with renew, recreating) it.
func (d *dispatcher) consumer(ctx context.Context, tenant string, renew bool) (jetstream.Consumer, error) {
	d.mu.Lock()
	t := d.tenants[tenant]
	cons := t.cons
	d.mu.Unlock()
	if cons != nil && !renew {
		return cons, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := d.stream.CreateOrUpdateConsumer(ctx, TaskConsumerConfig(d.cfg.Names, tenant, d.cfg.AckWait, d.cfg.Inactive))
	if err != nil {
		return nil, translate("create consumer "+d.cfg.Names.TaskConsumer(tenant), err)
	}
	d.mu.Lock()
	t.cons = cons
	d.mu.Unlock()
	return cons, nil
}
