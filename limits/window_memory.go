package limits

import (
	"context"
	"sync"
	"time"
)

// MemoryWindow is a Window in process memory, for a single node (`agentic dev`): the same
// sliding log as RedisWindow, with nanosecond times from its clock. It is safe for concurrent
// use.
//
// Memory is bounded by the events admitted within their windows: each key keeps at most
// limit times, and a key whose events have all left its window is dropped, by its next call
// or by a sweep of all keys that runs once per as many calls as there are keys (so its cost
// per call stays constant).
type MemoryWindow struct {
	clock func() time.Time

	mu   sync.Mutex
	logs map[string]*windowLog
	// calls counts Allow calls since the last sweep.
	calls int
}

// windowLog is one key's admitted events, oldest first, and the window of its latest call.
type windowLog struct {
	events []time.Time
	window time.Duration
}

var _ Window = (*MemoryWindow)(nil)

// NewMemoryWindow returns an empty in-process Window reading clock (nil means time.Now). A
// test clock may stand still or jump; if it goes back, events it timed in the future keep
// counting until they leave their window, as they do on Redis after a clock step.
func NewMemoryWindow(clock func() time.Time) *MemoryWindow {
	if clock == nil {
		clock = time.Now
	}
	return &MemoryWindow{clock: clock, logs: make(map[string]*windowLog)}
}

// Allow implements Window. It never fails for valid arguments.
func (m *MemoryWindow) Allow(_ context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := checkWindowArgs(key, limit, window); err != nil {
		return Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	m.sweep(now)

	l := m.logs[key]
	if l == nil {
		l = &windowLog{}
	}
	l.window = window
	l.expire(now)
	count := len(l.events)
	if count < limit {
		l.insert(now)
		m.logs[key] = l
		return Decision{Allowed: true, Limit: limit, Remaining: limit - count - 1, ResetAfter: l.events[0].Add(window).Sub(now)}, nil
	}
	// The call is admitted once count-limit+1 events have left: the (count-limit)th oldest
	// leaves last. count > limit only after the limit was lowered.
	wait := l.events[count-limit].Add(window).Sub(now)
	return Decision{Limit: limit, ResetAfter: wait, RetryAfter: wait}, nil
}

// sweep expires every key's events and drops empty keys once per len(m.logs) calls.
func (m *MemoryWindow) sweep(now time.Time) {
	m.calls++
	if m.calls < len(m.logs) {
		return
	}
	m.calls = 0
	for k, l := range m.logs {
		if l.expire(now); len(l.events) == 0 {
			delete(m.logs, k)
		}
	}
}

// expire drops the events that have left the window ending at now: those at or before
// now-window.
func (l *windowLog) expire(now time.Time) {
	start := now.Add(-l.window)
	i := 0
	for i < len(l.events) && !l.events[i].After(start) {
		i++
	}
	if i == len(l.events) {
		l.events = nil // let the array go
		return
	}
	l.events = l.events[i:]
}

// insert adds t in time order; it goes last unless the clock went back.
func (l *windowLog) insert(t time.Time) {
	i := len(l.events)
	for i > 0 && l.events[i-1].After(t) {
		i--
	}
	l.events = append(l.events, time.Time{})
	copy(l.events[i+1:], l.events[i:])
	l.events[i] = t
}
