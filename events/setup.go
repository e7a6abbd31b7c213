package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of SetupOpts.
const (
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultAckWait         = 30 * time.Second
	DefaultEventsMaxAge    = 7 * 24 * time.Hour
	// MaxAckPending bounds the unacknowledged messages of each durable consumer.
	MaxAckPending = 20000
	// minOpsDuplicates keeps scheduler replicas' duplicate ticks out of the ops stream.
	minOpsDuplicates = 2 * time.Minute
)

// SetupOpts tunes the streams and consumers Setup creates; nil means defaults.
type SetupOpts struct {
	Replicas        int           // stream replicas (1; 3 in a production cluster)
	DuplicateWindow time.Duration // dedupe window for Nats-Msg-Id (10m)
	AckWait         time.Duration // redelivery after a silent consumer (30s)
	EventsMaxAge    time.Duration // how long lifecycle events are kept (7 days)
	MemoryStorage   bool          // tests only
}

func (o SetupOpts) withDefaults() (SetupOpts, error) {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.EventsMaxAge == 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	switch {
	case o.Replicas < 1 || o.Replicas > 5:
		return o, fmt.Errorf("%w: replicas %d not in 1..5", ErrInvalid, o.Replicas)
	case o.DuplicateWindow < 0, o.AckWait < 0, o.EventsMaxAge < 0:
		return o, fmt.Errorf("%w: negative duration", ErrInvalid)
	case o.DuplicateWindow > o.EventsMaxAge:
		// JetStream refuses a duplicate window longer than the stream's max age.
		return o, fmt.Errorf("%w: duplicate window %s longer than events max age %s", ErrInvalid, o.DuplicateWindow, o.EventsMaxAge)
	}
	return o, nil
}

// Setup creates or updates the streams and durable consumers. It is idempotent and safe to
// call from every process at start.
func Setup(ctx context.Context, js jetstream.JetStream, n Names, o *SetupOpts) error {
	if !n.Valid() {
		return fmt.Errorf("%w: prefix %q is not a NATS token", ErrInvalid, n.Prefix)
	}
	var opts SetupOpts
	if o != nil {
		opts = *o
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	storage := jetstream.FileStorage
	if opts.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	opsDup := max(opts.DuplicateWindow, minOpsDuplicates)

	streams := []jetstream.StreamConfig{
		{
			Name:        n.TasksStream(),
			Description: "agentic tasks (work queue)",
			Subjects:    []string{n.TaskFilter()},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     storage,
			Replicas:    opts.Replicas,
			Duplicates:  opts.DuplicateWindow,
		},
		{
			Name:        n.EventsStream(),
			Description: "agentic lifecycle events",
			Subjects:    []string{n.Prefix + ".events.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     storage,
			Replicas:    opts.Replicas,
			MaxAge:      opts.EventsMaxAge,
			Duplicates:  opts.DuplicateWindow,
		},
		{
			Name:        n.DLQStream(),
			Description: "agentic dead-lettered messages",
			Subjects:    []string{n.Prefix + ".dlq.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     storage,
			Replicas:    opts.Replicas,
			Duplicates:  opts.DuplicateWindow,
		},
		{
			Name:        n.OpsStream(),
			Description: "agentic scheduler jobs (work queue)",
			Subjects:    []string{n.Prefix + ".ops.>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     storage,
			Replicas:    opts.Replicas,
			Duplicates:  opsDup,
		},
	}
	for _, cfg := range streams {
		if err := createStream(ctx, js, cfg); err != nil {
			return err
		}
	}

	consumers := []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{n.EventsStream(), consumerConfig(ConsumerWebhooks, n.EventFilter("task.>"), opts.AckWait)},
	}
	for _, c := range consumers {
		if err := createConsumer(ctx, js, c.stream, c.cfg); err != nil {
			return err
		}
	}
	// The catch-all consumers of earlier versions would keep the workers' per-tenant and
	// per-type consumers from being created; their unacknowledged messages stay in the
	// streams for the new consumers.
	for _, c := range []struct{ stream, name string }{{n.TasksStream(), legacyWorkers}, {n.OpsStream(), legacyOps}} {
		err = js.DeleteConsumer(ctx, c.stream, c.name)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return translate("setup: delete consumer "+c.stream+"/"+c.name, err)
		}
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.ScheduleBucket(), Description: "agentic scheduler: the last tick fired of each job",
		History: 1, Storage: storage, Replicas: opts.Replicas,
	}); err != nil {
		return translate("setup key-value "+n.ScheduleBucket(), err)
	}
	return nil
}

// TaskConsumerConfig is the durable consumer of one tenant's tasks, as the workers create
// it: explicit acks, redelivered forever after ackWait (the store counts attempts), and
// removed by the server after inactive without a pull — a worker recreates it when the
// tenant's tasks come back.
func TaskConsumerConfig(n Names, tenantID string, ackWait, inactive time.Duration) jetstream.ConsumerConfig {
	cfg := consumerConfig(n.TaskConsumer(tenantID), n.TaskSubject(tenantID), ackWait)
	cfg.InactiveThreshold = inactive
	return cfg
}

func consumerConfig(name, filter string, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// setupAttempts bounds the retries of a create that lost a race with another process.
const setupAttempts = 5

func createStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	var err error
	for range setupAttempts {
		if _, err = js.CreateOrUpdateStream(ctx, cfg); err == nil {
			return nil
		}
		// Two processes may both miss the stream and create it: the loser sees the name in
		// use and the next update finds the stream.
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			break
		}
	}
	return translate("setup stream "+cfg.Name, err)
}

func createConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) error {
	var err error
	for range setupAttempts {
		if _, err = js.CreateOrUpdateConsumer(ctx, stream, cfg); err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerExists) && !errors.Is(err, jetstream.ErrConsumerDoesNotExist) &&
			!errors.Is(err, jetstream.ErrConsumerNameAlreadyInUse) {
			break
		}
	}
	return translate("setup consumer "+stream+"/"+cfg.Durable, err)
}
