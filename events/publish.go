package events

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/store"
)

// TaskMessage is the body of a message on the tasks stream. The row in the store is the
// truth; the message only says which task to run.
type TaskMessage struct {
	TaskID   string `json:"task_id"`
	TenantID string `json:"tenant_id"`
}

// TaskEvent is a lifecycle event: the body of PREFIX.events.TENANT.task.* messages and, as Data,
// of the webhook a dispatcher sends.
type TaskEvent struct {
	// ID is stable for the event ("evt_" + task id for the terminal event): the Nats-Msg-Id
	// and the webhook-id of every delivery attempt.
	ID        string      `json:"id"`
	Type      string      `json:"type"` // task.succeeded | task.failed | task.canceled
	TenantID  string      `json:"tenant_id"`
	Timestamp time.Time   `json:"timestamp"`
	Task      client.Task `json:"task"`
}

// TerminalEvent builds the terminal event of a finished task.
func TerminalEvent(t *store.Task) TaskEvent {
	ts := time.Now().UTC()
	if t.FinishedAt != nil {
		ts = t.FinishedAt.UTC()
	}
	return TaskEvent{ID: "evt_" + t.ID, Type: "task." + string(t.Status), TenantID: t.TenantID, Timestamp: ts, Task: t.API()}
}

// Publisher publishes the platform's messages with a Nats-Msg-Id, so a republish inside the
// duplicate window is dropped by JetStream. It is safe for concurrent use.
type Publisher struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	n      Names
	tracer trace.Tracer

	parents sync.Map // task id → context.Context, see WithParent
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher)

// WithTracerProvider makes the Publisher trace each publish as a producer span ("publish
// tasks", "publish events", "publish ops") whose context the message's traceparent carries.
// Without it (or with nil) no span is recorded, but the trace context still propagates.
func WithTracerProvider(tp trace.TracerProvider) PublisherOption {
	return func(p *Publisher) {
		if tp != nil {
			p.tracer = tp.Tracer(instrumentationScope)
		}
	}
}

// NewPublisher returns a Publisher on js (and its connection, for core NATS signals).
func NewPublisher(js jetstream.JetStream, n Names, opts ...PublisherOption) *Publisher {
	p := &Publisher{js: js, nc: js.Conn(), n: n, tracer: noopTracer}
	for _, o := range opts {
		o(p)
	}
	return p
}

// WithParent runs fn, during which a publish of the task's message that has no context of
// its own (PublishTaskAsync, as the outbox relay calls it) takes ctx as its parent: so that
// ingest's request span is the parent of the task's "publish tasks" span. fn must publish
// on the calling goroutine for that to hold; otherwise nothing is lost but the parent.
func (p *Publisher) WithParent(ctx context.Context, taskID string, fn func()) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		fn()
		return
	}
	p.parents.Store(taskID, ctx)
	defer p.parents.Delete(taskID)
	fn()
}

// Names returns the names the Publisher publishes under.
func (p *Publisher) Names() Names { return p.n }

// TaskMsg builds the stream message of a task: subject, headers (Nats-Msg-Id = task id) and
// body. PublishTask and PublishTaskAsync send it.
func (p *Publisher) TaskMsg(t *store.Task) (*nats.Msg, error) {
	if t == nil || t.ID == "" || t.TenantID == "" {
		return nil, fmt.Errorf("%w: task without id or tenant", ErrInvalid)
	}
	// Encoded by hand: the hot path of ingest, and the same bytes json.Marshal gives for
	// ids without HTML characters.
	body := make([]byte, 0, len(t.ID)+len(t.TenantID)+30)
	body = append(body, `{"task_id":`...)
	body = appendJSONString(body, t.ID)
	body = append(body, `,"tenant_id":`...)
	body = appendJSONString(body, t.TenantID)
	body = append(body, '}')
	m := &nats.Msg{Subject: p.n.TaskSubject(t.TenantID), Data: body, Header: make(nats.Header, 4)}
	setHeaders(m.Header, t.ID, KindTask, t.TenantID, t.TraceID)
	return m, nil
}

// PublishTask publishes the task's message (Msg-Id = task id) and waits for the stream's ack.
// Its traceparent is the "publish tasks" span's, in ctx's trace when that is the task's
// (TraceID), else in the task's trace under a parent made from its trace id.
func (p *Publisher) PublishTask(ctx context.Context, t *store.Task) error {
	m, err := p.TaskMsg(t)
	if err != nil {
		return err
	}
	_, span := p.startPublish(ctx, "tasks", m, t.ID, t.TraceID)
	defer span.End()
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		err = translate("publish task "+t.ID, err)
		spanError(span, err)
		return err
	}
	p.Wake(t.TenantID)
	return nil
}

// Wake tells idle workers, over core NATS and best effort, that a task of the tenant was
// stored (FairConfig): send it once the publish is acknowledged, so that a worker acting on
// it finds the task. A lost notice costs at most a worker's poll interval.
func (p *Publisher) Wake(tenantID string) {
	_ = p.nc.Publish(p.n.WakeSubject(tenantID), nil)
}

// PublishTaskAsync publishes the task's message without waiting; the future resolves on the
// stream's ack, after which the caller sends Wake. Many in flight at once is the fast path
// of ingest.
func (p *Publisher) PublishTaskAsync(t *store.Task) (jetstream.PubAckFuture, error) {
	m, err := p.TaskMsg(t)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if parent, ok := p.parents.Load(t.ID); ok {
		ctx = parent.(context.Context) //nolint:forcetypeassert // only contexts are stored
	}
	_, span := p.startPublish(ctx, "tasks", m, t.ID, t.TraceID)
	defer span.End()
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		err = translate("publish task "+t.ID, err)
		spanError(span, err)
		return nil, err
	}
	return f, nil
}

// PublishEvent publishes a lifecycle event (Msg-Id = ev.ID) and waits for the ack.
func (p *Publisher) PublishEvent(ctx context.Context, ev TaskEvent) error {
	if ev.ID == "" || ev.Type == "" {
		return fmt.Errorf("%w: event without id or type", ErrInvalid)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("events: encode event %s: %w", ev.ID, err)
	}
	if ev.TenantID == "" {
		return fmt.Errorf("%w: event %s without tenant", ErrInvalid, ev.ID)
	}
	m := &nats.Msg{Subject: p.n.EventSubject(ev.TenantID, ev.Type), Data: body, Header: make(nats.Header, 4)}
	setHeaders(m.Header, ev.ID, ev.Type, ev.TenantID, ev.Task.TraceID)
	_, span := p.startPublish(ctx, "events", m, ev.ID, ev.Task.TraceID)
	defer span.End()
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		err = translate("publish event "+ev.ID, err)
		spanError(span, err)
		return err
	}
	return nil
}

// PublishDLQ stores a copy of m, with its headers and the reason, on the dead-letter stream.
// The copy's Nats-Msg-Id is the original's with "-dlq" appended (a fresh one when the
// original had none), so dead-lettering the same delivery twice stores one copy.
func (p *Publisher) PublishDLQ(ctx context.Context, kind string, m *Msg, reason store.TaskError) error {
	if kind == "" || m == nil {
		return fmt.Errorf("%w: dead letter without kind or message", ErrInvalid)
	}
	h := make(nats.Header, len(m.Header)+2)
	for k, v := range m.Header {
		// Expectations of the original publish do not hold on another stream.
		if len(k) > 13 && k[:13] == "Nats-Expected" {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	id := m.Header.Get(jetstream.MsgIDHeader)
	if id != "" {
		id += "-dlq"
	} else {
		id = "dlq-" + randomHex(16)
	}
	h.Set(jetstream.MsgIDHeader, id)
	h.Set(HeaderError, reason.Code+": "+reason.Message)
	out := &nats.Msg{Subject: p.n.DLQSubject(kind, m.Header.Get(HeaderTenant)), Data: m.Data, Header: h}
	if _, err := p.js.PublishMsg(ctx, out); err != nil {
		return translate("publish dead letter "+id, err)
	}
	return nil
}

// runningBody is the body of a live notification that a task started.
const runningBody = `{"status":"running"}`

// NotifyRunning tells live watchers (long-polls, event streams) that a task started. Not
// stored; best effort.
func (p *Publisher) NotifyRunning(taskID string) error {
	m := &nats.Msg{Subject: p.n.LiveSubject(taskID), Data: []byte(runningBody), Header: nats.Header{HeaderKind: {"task.running"}}}
	if err := p.nc.PublishMsg(m); err != nil {
		return translate("notify running "+taskID, err)
	}
	return nil
}

// SignalCancel asks the worker running the task to interrupt it. Not stored; workers also
// learn of it from the store at their next heartbeat.
func (p *Publisher) SignalCancel(taskID string) error {
	m := &nats.Msg{Subject: p.n.CancelSubject(taskID), Header: nats.Header{HeaderKind: {"task.cancel"}}}
	if err := p.nc.PublishMsg(m); err != nil {
		return translate("signal cancel "+taskID, err)
	}
	return nil
}

// setHeaders sets the headers every stored message carries. Keys are set directly: they are
// already in canonical form except traceparent, which W3C spells in lower case. The values
// share one backing array: one allocation instead of four.
func setHeaders(h nats.Header, msgID, kind, tenant, traceID string) {
	v := make([]string, 0, 4)
	v = append(v, msgID, kind)
	h[jetstream.MsgIDHeader] = v[0:1:1]
	h[HeaderKind] = v[1:2:2]
	if tenant != "" {
		v = append(v, tenant)
		h[HeaderTenant] = v[len(v)-1 : len(v) : len(v)]
	}
	if tp := TraceParent(traceID); tp != "" {
		v = append(v, tp)
		h[HeaderTraceParent] = v[len(v)-1 : len(v) : len(v)]
	}
}

// TraceParent returns a W3C traceparent header for the trace id (32 lower-case hex digits,
// not all zero) with a fresh random parent span id, or "" when traceID is not such an id.
func TraceParent(traceID string) string {
	if !validTraceID(traceID) {
		return ""
	}
	var b [55]byte
	copy(b[:], "00-")
	copy(b[3:], traceID)
	b[35] = '-'
	var span [8]byte
	for {
		u := rand.Uint64()
		if u == 0 {
			continue
		}
		for i := range span {
			span[i] = byte(u >> (8 * i))
		}
		break
	}
	hex.Encode(b[36:52], span[:])
	copy(b[52:], "-01")
	return string(b[:])
}

func validTraceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '0':
		case c >= '1' && c <= '9', c >= 'a' && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !zero
}

// randomHex returns n random hex digits (n even).
func randomHex(n int) string {
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return hex.EncodeToString(b)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 is copied as is, which
// decoders replace with U+FFFD as json.Marshal would.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
