package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ScheduleState records the last tick the scheduler fired of each job in the key-value bucket
// Setup creates (Names.ScheduleBucket), shared by every scheduler replica. It satisfies
// schedule.State.
type ScheduleState struct{ kv jetstream.KeyValue }

// NewScheduleState opens the bucket of n.
func NewScheduleState(ctx context.Context, js jetstream.JetStream, n Names) (*ScheduleState, error) {
	kv, err := js.KeyValue(ctx, n.ScheduleBucket())
	if err != nil {
		return nil, translate("schedule state "+n.ScheduleBucket(), err)
	}
	return &ScheduleState{kv: kv}, nil
}

// Last returns the last tick recorded for job.
func (s *ScheduleState) Last(ctx context.Context, job string) (time.Time, bool, error) {
	e, err := s.kv.Get(ctx, job)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, translate("schedule state get "+job, err)
	}
	t, err := time.Parse(time.RFC3339, string(e.Value()))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%w: schedule state of %s: %q is not a time", ErrInvalid, job, e.Value())
	}
	return t, true, nil
}

// recordAttempts bounds the compare-and-set retries of Record against other replicas.
const recordAttempts = 10

// Record records tick as job's last tick unless a later one is recorded: a compare-and-set on
// the key's revision, so a replica that fires late never moves the record back.
func (s *ScheduleState) Record(ctx context.Context, job string, tick time.Time) error {
	v := []byte(tick.UTC().Format(time.RFC3339))
	var err error
	for range recordAttempts {
		var e jetstream.KeyValueEntry
		e, err = s.kv.Get(ctx, job)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err = s.kv.Create(ctx, job, v); err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
				return translate("schedule state create "+job, err)
			}
		case err != nil:
			return translate("schedule state get "+job, err)
		default:
			if last, perr := time.Parse(time.RFC3339, string(e.Value())); perr == nil && !last.Before(tick) {
				return nil
			}
			if _, err = s.kv.Update(ctx, job, v, e.Revision()); err == nil {
				return nil
			}
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
				apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
				return translate("schedule state update "+job, err)
			}
		}
	}
	return translate("schedule state record "+job, err)
}
