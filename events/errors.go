package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Errors of this package. NATS client errors never leave it: they are translated to one of
// these (matched with errors.Is), the original text kept in the message.
var (
	// ErrUnavailable: the bus could not be reached (no connection, no responders, timeout).
	ErrUnavailable = errors.New("events: bus unavailable")
	// ErrPublishStalled: too many asynchronous publishes await their acks; retry shortly.
	ErrPublishStalled = errors.New("events: too many publishes pending")
	// ErrNotSetUp: a stream or consumer is missing; run Setup.
	ErrNotSetUp = errors.New("events: stream or consumer missing")
	// ErrBus: the bus refused the request (any other NATS or JetStream error).
	ErrBus = errors.New("events: bus error")
	// ErrInvalid: an argument or configuration is not valid.
	ErrInvalid = errors.New("events: invalid argument")
	// ErrStopped: the component was stopped, or started twice.
	ErrStopped = errors.New("events: stopped or already started")
)

// translate turns a NATS error into one of the package's errors, wrapped with op as context.
// Context errors stay matchable as they are.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("events: %s: %w", op, err)
	}
	var kind error
	switch {
	case errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		kind = ErrPublishStalled
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrConsumerDoesNotExist), errors.Is(err, jetstream.ErrConsumerDeleted):
		kind = ErrNotSetUp
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoServers):
		kind = ErrUnavailable
	default:
		kind = ErrBus
	}
	return fmt.Errorf("events: %s: %w: %s", op, kind, err.Error())
}
