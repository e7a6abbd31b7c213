package events

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// What an invalidation names. The id of an API key is the hex SHA-256 of the key (never the
// key); the id of a tenant is its id.
const (
	InvalidateAPIKey = "apikey" // a key was revoked
	InvalidateTenant = "tenant" // a tenant changed: its webhook secret, its tier
)

// InvalidateSubject carries invalidations of one kind: PREFIX.invalidate.KIND.ID (core NATS,
// not stored).
func (n Names) InvalidateSubject(kind, id string) string {
	return n.Prefix + ".invalidate." + kind + "." + id
}

// flushTimeout bounds the wait for the server's acknowledgement of an invalidation when the
// caller's context has no deadline.
const flushTimeout = 5 * time.Second

// Invalidate tells every process caching what kind and id name to drop it, and returns once
// the server has the message, so every subscriber connected now gets it. Core NATS delivers
// at most once: caches keep a TTL behind it for a subscriber that was away.
func (p *Publisher) Invalidate(ctx context.Context, kind, id string) error {
	m := &nats.Msg{Subject: p.n.InvalidateSubject(kind, id), Header: nats.Header{HeaderKind: {"invalidate." + kind}}}
	if err := p.nc.PublishMsg(m); err != nil {
		return translate("invalidate "+kind, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		return translate("invalidate "+kind, err)
	}
	return nil
}

// Invalidations calls handlers for the invalidations of their kind, from any process. It is
// safe for concurrent use.
type Invalidations struct {
	mu  sync.Mutex
	sub *nats.Subscription
	fns map[string][]func(id string)
}

// NewInvalidations subscribes to every invalidation of n.
func NewInvalidations(nc *nats.Conn, n Names) (*Invalidations, error) {
	iv := &Invalidations{fns: make(map[string][]func(string))}
	prefix := n.Prefix + ".invalidate."
	sub, err := nc.Subscribe(prefix+">", func(m *nats.Msg) {
		kind, id, ok := strings.Cut(strings.TrimPrefix(m.Subject, prefix), ".")
		if !ok {
			return
		}
		iv.mu.Lock()
		fns := iv.fns[kind]
		iv.mu.Unlock()
		for _, fn := range fns {
			fn(id)
		}
	})
	if err != nil {
		return nil, translate("invalidations subscribe", err)
	}
	iv.sub = sub
	if err := nc.Flush(); err != nil {
		_ = iv.Close()
		return nil, translate("invalidations flush", err)
	}
	return iv, nil
}

// On calls fn with the id of each invalidation of kind, on the subscription's goroutine: fn
// must be quick.
func (iv *Invalidations) On(kind string, fn func(id string)) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.fns[kind] = append(iv.fns[kind][:len(iv.fns[kind]):len(iv.fns[kind])], fn)
}

// Close unsubscribes. It is idempotent.
func (iv *Invalidations) Close() error {
	iv.mu.Lock()
	sub := iv.sub
	iv.sub = nil
	iv.mu.Unlock()
	if sub == nil {
		return nil
	}
	return unsubscribe("invalidations", []*nats.Subscription{sub})
}
