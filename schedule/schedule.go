// Package schedule runs the platform's periodic jobs. It does no work itself: at each tick of
// a job's cron spec it publishes an ops event (events.OpsEvent) whose message id is the job
// and the tick's nominal time, so that any number of scheduler replicas firing the same tick
// store it once (JetStream's duplicate window), and a handler in a worker does the work.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/agentic-run/agentic/events"
)

// Job is one periodic job: a name the ops handler knows and a cron spec, with an optional
// leading seconds field ("*/10 * * * * *") or a descriptor ("@hourly").
type Job struct {
	Name string
	Spec string
}

// Publisher emits ops events (satisfied by *events.Publisher).
type Publisher interface {
	PublishOps(ctx context.Context, ev events.OpsEvent) error
}

// Config configures a Scheduler.
type Config struct {
	Jobs      []Job
	Publisher Publisher
	Logger    *slog.Logger
	// Now is the clock (time.Now); ticks are computed in UTC.
	Now func() time.Time
}

// Scheduler fires Jobs on their specs.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	cron *cron.Cron

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	stopped bool
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

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
	s := &Scheduler{cfg: cfg, log: log, cron: cron.New(cron.WithParser(parser), cron.WithLocation(time.UTC))}
	for _, j := range cfg.Jobs {
		sched, err := parser.Parse(j.Spec)
		if err != nil {
			return nil, fmt.Errorf("schedule: job %s: bad spec %q: %w", j.Name, j.Spec, err)
		}
		s.cron.Schedule(sched, cron.FuncJob(func() { s.fire(j, sched) }))
	}
	return s, nil
}

// Start begins firing jobs until Stop or ctx ends.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return errors.New("schedule: already started")
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
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

// fire publishes one tick of a job.
func (s *Scheduler) fire(j Job, sched cron.Schedule) {
	tick := Tick(sched, s.cfg.Now())
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.cfg.Publisher.PublishOps(ctx, events.OpsEvent{Job: j.Name, Tick: tick}); err != nil {
		s.log.ErrorContext(ctx, "scheduler could not publish a tick", "job", j.Name, "tick", tick, "error", err)
		return
	}
	s.log.DebugContext(ctx, "tick", "job", j.Name, "tick", tick)
}

// Tick is the nominal time of the latest tick of sched at or before now: the same value on
// every replica that fires it, however late each one wakes.
func Tick(sched cron.Schedule, now time.Time) time.Time {
	now = now.UTC()
	t := sched.Next(now.Add(-time.Minute).Truncate(time.Second))
	if t.After(now) {
		// Ticks more than a minute apart: look back far enough to find the last one.
		t = sched.Next(now.Add(-25 * time.Hour))
		if t.After(now) {
			return now.Truncate(time.Second)
		}
	}
	for {
		n := sched.Next(t)
		if n.After(now) {
			return t
		}
		t = n
	}
}
