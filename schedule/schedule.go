// Package schedule runs the platform's periodic jobs. It does no work itself: at each tick of
// a job's cron spec (robfig/cron, in UTC) it publishes the job's ops event
// (ops.backup.requested, ops.cache.invalidate, ops.reconcile) through a Watermill publisher
// on JetStream, and a handler in a worker's Watermill router does the work.
//
// Exactly one firing per tick, however many replicas run: the event's message id is the job
// and the tick's nominal time, so every replica firing the tick stores it once (JetStream's
// duplicate window, at least two minutes on the ops stream), and the handler's consumer
// takes it once.
//
// A tick missed while no scheduler ran is fired once on start — once, however many ticks
// were missed. Each replica records the last tick it fired of each job (State, a JetStream
// key-value bucket); on start a job whose latest tick is newer than the record fires that
// tick. A job never recorded (the first start) records its latest tick without firing it.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/robfig/cron/v3"

	"github.com/agentic-run/agentic/events"
)

// Job is one periodic job: a name (the event's dedupe id and the State's key), the ops event
// type it emits, and a cron spec, with an optional leading seconds field ("*/10 * * * * *")
// or a descriptor ("@hourly").
type Job struct {
	Name  string
	Event string // events.OpsBackupRequested, …
	Spec  string
}

// State records the last tick fired of each job, shared by the replicas
// (events.ScheduleState).
type State interface {
	// Last returns the last tick recorded for job; ok is false when there is none.
	Last(ctx context.Context, job string) (tick time.Time, ok bool, err error)
	// Record records tick as job's last unless a later one is recorded.
	Record(ctx context.Context, job string, tick time.Time) error
}

// Config configures a Scheduler.
type Config struct {
	Jobs []Job
	// Publisher publishes the events (events.Publisher.Watermill()).
	Publisher message.Publisher
	// State, when set, lets a tick missed while no replica ran fire once on start.
	State  State
	Logger *slog.Logger
	// Now is the clock (time.Now); ticks are computed in UTC.
	Now func() time.Time
}

// Scheduler fires Jobs on their specs.
type Scheduler struct {
	cfg   Config
	log   *slog.Logger
	cron  *cron.Cron
	sched map[string]cron.Schedule

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	stopped bool
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse checks a cron spec as New reads it.
func Parse(spec string) error {
	_, err := parser.Parse(spec)
	return err
}

// New parses every job's spec and returns a Scheduler; Start begins firing.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("schedule: Config.Publisher is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{cfg: cfg, log: log, cron: cron.New(cron.WithParser(parser), cron.WithLocation(time.UTC)),
		sched: make(map[string]cron.Schedule, len(cfg.Jobs))}
	for _, j := range cfg.Jobs {
		if j.Name == "" || j.Event == "" {
			return nil, fmt.Errorf("schedule: job %q needs a name and an event", j.Name)
		}
		if _, dup := s.sched[j.Name]; dup {
			return nil, fmt.Errorf("schedule: job %s defined twice", j.Name)
		}
		sched, err := parser.Parse(j.Spec)
		if err != nil {
			return nil, fmt.Errorf("schedule: job %s: bad spec %q: %w", j.Name, j.Spec, err)
		}
		s.sched[j.Name] = sched
		s.cron.Schedule(sched, cron.FuncJob(func() { s.fire(j, Tick(sched, s.cfg.Now())) }))
	}
	return s, nil
}

// Start fires the ticks missed while no scheduler ran (once per job), then begins firing
// jobs until Stop or ctx ends.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return errors.New("schedule: already started")
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if s.cfg.State != nil {
		for _, j := range s.cfg.Jobs {
			s.catchUp(j)
		}
	}
	s.cron.Start()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Stop(context.WithoutCancel(ctx))
		case <-s.ctx.Done():
		}
	}()
	return nil
}

// catchUp fires job's latest tick when it is newer than the last one recorded.
func (s *Scheduler) catchUp(j Job) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	sched := s.sched[j.Name]
	tick := Tick(sched, s.cfg.Now())
	if tick.IsZero() {
		return
	}
	last, ok, err := s.cfg.State.Last(ctx, j.Name)
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "scheduler could not read its last tick; missed ticks are not caught up", "job", j.Name, "error", err)
	case !ok:
		// The first start: nothing was missed; from now on a missed tick is known.
		if err := s.cfg.State.Record(ctx, j.Name, tick); err != nil {
			s.log.ErrorContext(ctx, "scheduler could not record a tick", "job", j.Name, "tick", tick, "error", err)
		}
	case last.Before(tick):
		missed := 0
		for t := sched.Next(last); !t.After(tick) && missed < 1000; t = sched.Next(t) {
			missed++
		}
		s.log.InfoContext(ctx, "scheduler firing a missed tick once", "job", j.Name, "tick", tick, "missed", missed, "last", last)
		s.fire(j, tick)
	}
}

// Stop stops firing and waits for a firing in progress, or for ctx. It is idempotent.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped || s.ctx == nil {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	done := s.cron.Stop().Done()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.cancel()
	return nil
}

// fire publishes one tick of a job and records it.
func (s *Scheduler) fire(j Job, tick time.Time) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	m, err := events.NewOpsMessage(ctx, events.OpsEvent{Type: j.Event, Job: j.Name, Tick: tick})
	if err == nil {
		err = s.cfg.Publisher.Publish(j.Event, m)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "scheduler could not publish a tick", "job", j.Name, "tick", tick, "error", err)
		return
	}
	s.log.DebugContext(ctx, "tick", "job", j.Name, "event", j.Event, "tick", tick)
	if s.cfg.State != nil {
		if err := s.cfg.State.Record(ctx, j.Name, tick); err != nil {
			s.log.WarnContext(ctx, "scheduler could not record a tick", "job", j.Name, "tick", tick, "error", err)
		}
	}
}

// lookbacks are how far back Tick looks for the latest tick, widening until one is found.
var lookbacks = []time.Duration{time.Minute, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour}

// Tick is the nominal time of the latest tick of sched at or before now: the same value on
// every replica that fires it, however late each one wakes. It is zero when sched has no tick
// in the year before now.
func Tick(sched cron.Schedule, now time.Time) time.Time {
	now = now.UTC()
	for _, back := range lookbacks {
		t := sched.Next(now.Add(-back).Truncate(time.Second))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := sched.Next(t)
			if n.IsZero() || n.After(now) {
				return t
			}
			t = n
		}
	}
	return time.Time{}
}
