package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// Notifier lets a process wait for status changes of tasks published by any process:
// terminal events and live notifications, over core NATS subscriptions. It is safe for
// concurrent use.
type Notifier struct {
	mu       sync.Mutex
	watchers map[string][]*watcher
	subs     []*nats.Subscription
}

type watcher struct {
	ch   chan string
	last string // the last status sent
}

// send delivers status without blocking: a watcher that has not read the previous one gets
// the latest instead. Live and terminal notifications come through two subscriptions, so a
// late "running" may follow the terminal status: it is dropped. Callers hold the Notifier's
// lock, so sends never interleave.
func (w *watcher) send(status string) {
	if terminal(w.last) && !terminal(status) {
		return
	}
	w.last = status
	select {
	case w.ch <- status:
		return
	default:
	}
	select {
	case <-w.ch:
	default:
	}
	select {
	case w.ch <- status:
	default:
	}
}

func terminal(status string) bool {
	return status == "succeeded" || status == "failed" || status == "canceled"
}

// NewNotifier subscribes to the events and live subjects of n.
func NewNotifier(nc *nats.Conn, n Names) (*Notifier, error) {
	no := &Notifier{watchers: make(map[string][]*watcher)}
	evSub, err := nc.Subscribe(n.EventFilter("task.>"), no.onEvent)
	if err != nil {
		return nil, translate("notifier subscribe", err)
	}
	liveSub, err := nc.Subscribe(n.Prefix+".live.>", no.onLive)
	if err != nil {
		_ = evSub.Unsubscribe()
		return nil, translate("notifier subscribe", err)
	}
	no.subs = []*nats.Subscription{evSub, liveSub}
	// Subscriptions take effect at the server asynchronously; make sure they are in place
	// before the caller relies on them.
	if err := nc.Flush(); err != nil {
		_ = no.Close()
		return nil, translate("notifier flush", err)
	}
	return no, nil
}

// eventStatus is the part of a TaskEvent the Notifier reads.
type eventStatus struct {
	Type string `json:"type"`
	Task struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"task"`
}

func (no *Notifier) onEvent(m *nats.Msg) {
	if !no.watching() {
		return
	}
	var ev eventStatus
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Task.ID == "" {
		return
	}
	status := ev.Task.Status
	if status == "" {
		status = strings.TrimPrefix(ev.Type, "task.")
	}
	no.notify(ev.Task.ID, status)
}

func (no *Notifier) onLive(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	if !no.watchingTask(id) {
		return
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(m.Data, &body); err != nil || body.Status == "" {
		return
	}
	no.notify(id, body.Status)
}

func (no *Notifier) watching() bool {
	no.mu.Lock()
	defer no.mu.Unlock()
	return len(no.watchers) > 0
}

func (no *Notifier) watchingTask(id string) bool {
	no.mu.Lock()
	defer no.mu.Unlock()
	return len(no.watchers[id]) > 0
}

func (no *Notifier) notify(id, status string) {
	no.mu.Lock()
	defer no.mu.Unlock()
	for _, w := range no.watchers[id] {
		w.send(status)
	}
}

// Watch returns a channel that receives the new status each time the task changes, until
// stop is called. The channel holds one status: a reader that falls behind skips to the
// latest, but always gets one after a change. It is never closed; stop may be called more
// than once.
func (no *Notifier) Watch(taskID string) (ch <-chan string, stop func()) {
	w := &watcher{ch: make(chan string, 1)}
	no.mu.Lock()
	no.watchers[taskID] = append(no.watchers[taskID], w)
	no.mu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			no.mu.Lock()
			defer no.mu.Unlock()
			ws := no.watchers[taskID]
			for i, x := range ws {
				if x == w {
					ws = append(ws[:i:i], ws[i+1:]...)
					break
				}
			}
			if len(ws) == 0 {
				delete(no.watchers, taskID)
			} else {
				no.watchers[taskID] = ws
			}
		})
	}
}

// Close unsubscribes. It is idempotent.
func (no *Notifier) Close() error {
	no.mu.Lock()
	subs := no.subs
	no.subs = nil
	no.mu.Unlock()
	return unsubscribe("notifier", subs)
}

// Cancels routes cancel signals to the local handlers running those tasks. It is safe for
// concurrent use.
type Cancels struct {
	mu   sync.Mutex
	regs map[string][]*registration
	sub  *nats.Subscription
}

type registration struct{ cancel context.CancelCauseFunc }

// NewCancels subscribes to the cancel subjects of n.
func NewCancels(nc *nats.Conn, n Names) (*Cancels, error) {
	c := &Cancels{regs: make(map[string][]*registration)}
	sub, err := nc.Subscribe(n.Prefix+".cancel.>", c.onCancel)
	if err != nil {
		return nil, translate("cancels subscribe", err)
	}
	c.sub = sub
	if err := nc.Flush(); err != nil {
		_ = c.Close()
		return nil, translate("cancels flush", err)
	}
	return c, nil
}

func (c *Cancels) onCancel(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	c.mu.Lock()
	regs := append([]*registration(nil), c.regs[id]...)
	c.mu.Unlock()
	for _, r := range regs {
		r.cancel(ErrCanceledByUser)
	}
}

// Register arranges for cancel to be called (with cause ErrCanceledByUser) when a cancel
// signal for taskID arrives, until unregister is called. unregister may be called more than
// once.
func (c *Cancels) Register(taskID string, cancel context.CancelCauseFunc) (unregister func()) {
	r := &registration{cancel: cancel}
	c.mu.Lock()
	c.regs[taskID] = append(c.regs[taskID], r)
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			rs := c.regs[taskID]
			for i, x := range rs {
				if x == r {
					rs = append(rs[:i:i], rs[i+1:]...)
					break
				}
			}
			if len(rs) == 0 {
				delete(c.regs, taskID)
			} else {
				c.regs[taskID] = rs
			}
		})
	}
}

// Close unsubscribes. It is idempotent.
func (c *Cancels) Close() error {
	c.mu.Lock()
	sub := c.sub
	c.sub = nil
	c.mu.Unlock()
	if sub == nil {
		return nil
	}
	return unsubscribe("cancels", []*nats.Subscription{sub})
}

// ErrCanceledByUser is the cause of a handler context cancelled by a cancel signal.
var ErrCanceledByUser = errors.New("events: task canceled")

func unsubscribe(what string, subs []*nats.Subscription) error {
	var errs []error
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			errs = append(errs, translate(what+" unsubscribe", err))
		}
	}
	return errors.Join(errs...)
}
