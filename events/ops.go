package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// The types of ops events: each is its own subject on the ops stream (PREFIX.ops.…) and its
// own consumer, so a long backup never holds up a cache invalidation.
const (
	// OpsReconcile asks for tasks whose publish was never recorded to be republished.
	OpsReconcile = "ops.reconcile"
	// OpsBackupRequested asks for a verified database backup.
	OpsBackupRequested = "ops.backup.requested"
	// OpsCacheInvalidate asks for cache entries to be removed: one tenant's entries under a
	// name prefix, or (with no tenant) the periodic sweep of expired entries.
	OpsCacheInvalidate = "ops.cache.invalidate"
)

// OpsEvent is the body of an ops message.
type OpsEvent struct {
	Type string `json:"type"` // OpsReconcile, OpsBackupRequested, OpsCacheInvalidate
	// Job is the scheduler job that emitted the event ("" when it was asked for by hand) and
	// Tick the nominal time of its tick: together the event's dedupe id.
	Job  string    `json:"job,omitempty"`
	Tick time.Time `json:"tick"`
	// Tenant and Prefix narrow an OpsCacheInvalidate to one tenant's entries whose names
	// start with Prefix ("" for all of them); GlobalOwner names the entries of no tenant.
	Tenant string `json:"tenant,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// ID is the event's message id (its Nats-Msg-Id): job and tick for a scheduled event, so
// every scheduler replica firing the tick stores it once; "" for an event asked for by hand,
// which gets a fresh id.
func (ev OpsEvent) ID() string {
	if ev.Job == "" {
		return ""
	}
	return ev.Job + "-" + strconv.FormatInt(ev.Tick.Unix(), 10)
}

// validOpsType reports whether t is an ops event type: "ops." and dot-separated tokens.
func validOpsType(t string) bool {
	rest, ok := strings.CutPrefix(t, "ops.")
	if !ok || rest == "" {
		return false
	}
	for tok := range strings.SplitSeq(rest, ".") {
		if tok == "" || strings.ContainsAny(tok, " *>\t\r\n") {
			return false
		}
	}
	return true
}

// NewOpsMessage makes the Watermill message of ev, to publish on topic ev.Type.
func NewOpsMessage(ctx context.Context, ev OpsEvent) (*message.Message, error) {
	if !validOpsType(ev.Type) {
		return nil, fmt.Errorf("%w: ops event type %q", ErrInvalid, ev.Type)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("events: encode ops event %s: %w", ev.Type, err)
	}
	id := ev.ID()
	if id == "" {
		id = "ops-" + randomHex(16)
	}
	m := message.NewMessage(id, body)
	m.Metadata.Set(HeaderKind, ev.Type)
	middleware.SetCorrelationID(id, m)
	m.SetContext(ctx)
	return m, nil
}

// DecodeOpsEvent reads the body of an ops message.
func DecodeOpsEvent(m *message.Message) (OpsEvent, error) {
	var ev OpsEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		return ev, fmt.Errorf("%w: decode ops event: %w", ErrInvalid, err)
	}
	return ev, nil
}

// PublishOps publishes ev on the ops stream through the Watermill publisher: subject
// PREFIX.<type>, message id ev.ID().
func (p *Publisher) PublishOps(ctx context.Context, ev OpsEvent) error {
	m, err := NewOpsMessage(ctx, ev)
	if err != nil {
		return err
	}
	return p.Watermill().Publish(ev.Type, m)
}
