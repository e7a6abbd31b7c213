package cache

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Memory is the in-process twin of Redis for `agentic dev`: the same semantics (JSON values, so
// callers always get copies; TTLs; Add only into an empty or expired slot; DeletePrefix; Stats)
// in one process's memory, bounded by a number of entries. When full, a write of a new key
// evicts the least recently used entry (Get and writes count as use). Expired entries are
// dropped when they are next touched, or evicted like any other. It is safe for concurrent use.
type Memory struct {
	now func() time.Time
	max int

	mu           sync.Mutex
	lru          *list.List            // of *memEntry, most recently used at the front
	entries      map[Key]*list.Element // Key -> element of lru
	hits, misses uint64
}

var _ Cache = (*Memory)(nil)

// memEntry is one stored value.
type memEntry struct {
	key     Key
	value   []byte    // JSON
	expires time.Time // zero: never
}

// live reports whether e has not expired at now.
func (e *memEntry) live(now time.Time) bool {
	return e.expires.IsZero() || now.Before(e.expires)
}

// DefaultMemoryEntries is the size of an in-process cache given none.
const DefaultMemoryEntries = 10_000

// NewMemory returns an empty in-process cache holding at most maxEntries entries (below 1:
// DefaultMemoryEntries) and reading the time from now (nil: time.Now); tests pass a fake
// clock.
func NewMemory(maxEntries int, now func() time.Time) *Memory {
	if maxEntries < 1 {
		maxEntries = DefaultMemoryEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, max: maxEntries, lru: list.New(), entries: make(map[Key]*list.Element)}
}

// Len returns how many entries the cache holds, counting expired ones not yet dropped.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// Get implements Cache.
func (m *Memory) Get(ctx context.Context, key Key, dst any) (bool, error) {
	if err := m.begin(ctx, "get", key); err != nil {
		return false, err
	}
	m.mu.Lock()
	e := m.lookup(key)
	var b []byte
	if e == nil {
		m.misses++
	} else {
		b = e.value
	}
	m.mu.Unlock()
	if e == nil {
		return false, nil
	}
	// The stored bytes are never modified, only replaced, so decoding outside the lock is safe.
	if err := decode(b, dst); err != nil {
		return false, err
	}
	m.mu.Lock()
	m.hits++
	m.mu.Unlock()
	return true, nil
}

// Set implements Cache.
func (m *Memory) Set(ctx context.Context, key Key, v any, ttl time.Duration) error {
	if err := m.begin(ctx, "set", key); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache set: encode: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.store(key, b, ttl)
	return nil
}

// Add implements Cache.
func (m *Memory) Add(ctx context.Context, key Key, v any, ttl time.Duration) (bool, error) {
	if err := m.begin(ctx, "add", key); err != nil {
		return false, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("cache add: encode: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lookup(key) != nil {
		return false, nil
	}
	m.store(key, b, ttl)
	return true, nil
}

// Delete implements Cache.
func (m *Memory) Delete(ctx context.Context, keys ...Key) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache delete: %w", err)
	}
	for _, k := range keys {
		if err := k.check(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if el, ok := m.entries[k]; ok {
			m.remove(el)
		}
	}
	return nil
}

// DeletePrefix implements Cache. It counts only live entries, as Redis does (its expired keys
// are gone), but drops the owner's expired ones under the prefix too.
func (m *Memory) DeletePrefix(ctx context.Context, owner, namePrefix string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cache delete prefix: %w", err)
	}
	if err := checkOwner(owner); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	n := 0
	for el := m.lru.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*memEntry)
		if e.key.owner == owner && strings.HasPrefix(e.key.name, namePrefix) {
			if e.live(now) {
				n++
			}
			m.remove(el)
		}
		el = next
	}
	return n, nil
}

// Sweep implements Sweeper: it drops every expired entry (Get drops one only when it is
// read, so an entry never read again would hold its memory until evicted) and returns how
// many it dropped.
func (m *Memory) Sweep(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cache sweep: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	n := 0
	for el := m.lru.Front(); el != nil; {
		next := el.Next()
		if !el.Value.(*memEntry).live(now) {
			m.remove(el)
			n++
		}
		el = next
	}
	return n, nil
}

// Ping implements Cache: an in-process cache always answers, unless ctx is done.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache ping: %w", err)
	}
	return nil
}

// Stats implements Cache.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Hits: m.hits, Misses: m.misses}
}

// begin checks ctx and key before an operation on one key.
func (m *Memory) begin(ctx context.Context, op string, key Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache %s: %w", op, err)
	}
	return key.check()
}

// lookup returns key's live entry, marked as most recently used, or nil, dropping an expired
// one. m.mu must be held.
func (m *Memory) lookup(key Key) *memEntry {
	el, ok := m.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*memEntry)
	if !e.live(m.now()) {
		m.remove(el)
		return nil
	}
	m.lru.MoveToFront(el)
	return e
}

// store writes key's entry as the most recently used, evicting the least recently used entry
// if a new key does not fit. m.mu must be held.
func (m *Memory) store(key Key, b []byte, ttl time.Duration) {
	var expires time.Time
	if ttl > 0 {
		expires = m.now().Add(ttl)
	}
	if el, ok := m.entries[key]; ok {
		e := el.Value.(*memEntry)
		e.value, e.expires = b, expires
		m.lru.MoveToFront(el)
		return
	}
	for m.lru.Len() >= m.max {
		m.remove(m.lru.Back())
	}
	m.entries[key] = m.lru.PushFront(&memEntry{key: key, value: b, expires: expires})
}

// remove drops an element. m.mu must be held.
func (m *Memory) remove(el *list.Element) {
	delete(m.entries, el.Value.(*memEntry).key)
	m.lru.Remove(el)
}
