package limits

import (
	"context"
	"errors"
	"sync"
	"time"
)

// MemorySemaphore is a Semaphore for a single process (`agentic dev`): the same semantics as
// RedisSemaphore, held in a map. It is safe for concurrent use. Memory stays bounded by the live
// holders plus those whose lease ran out in the last sweep period: expired holders are dropped
// whenever their key is used, and every key is swept at least once a minute of activity.
type MemorySemaphore struct {
	now func() time.Time

	mu        sync.Mutex
	keys      map[string]map[string]time.Time // key -> holder -> lease expiry
	nextSweep time.Time
}

var _ Semaphore = (*MemorySemaphore)(nil)

// memSweepEvery is how often every key is swept of expired holders, so keys nobody touches
// again do not stay in memory.
const memSweepEvery = time.Minute

// NewMemorySemaphore returns an empty in-process Semaphore reading the time from now (nil:
// time.Now). Tests pass a fake clock.
func NewMemorySemaphore(now func() time.Time) *MemorySemaphore {
	if now == nil {
		now = time.Now
	}
	return &MemorySemaphore{now: now, keys: make(map[string]map[string]time.Time)}
}

// Acquire implements Semaphore.
func (m *MemorySemaphore) Acquire(ctx context.Context, key, holder string, limit int, lease time.Duration) (bool, error) {
	if err := checkSemAcquire(key, holder, limit, lease); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick(key)
	holders := m.keys[key]
	if _, held := holders[holder]; !held {
		if len(holders) >= limit {
			return false, nil
		}
		if holders == nil {
			holders = make(map[string]time.Time, 1)
			m.keys[key] = holders
		}
	}
	holders[holder] = now.Add(lease)
	return true, nil
}

// AcquireN implements Semaphore.
func (m *MemorySemaphore) AcquireN(ctx context.Context, key string, holders []string, limit int, lease time.Duration) (int, error) {
	if err := checkSemAcquireN(key, holders, limit, lease); err != nil || len(holders) == 0 {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick(key)
	held := m.keys[key]
	for i, h := range holders {
		if _, ok := held[h]; !ok && len(held) >= limit {
			return i, nil
		}
		if held == nil {
			held = make(map[string]time.Time, len(holders))
			m.keys[key] = held
		}
		held[h] = now.Add(lease)
	}
	return len(holders), nil
}

// Renew implements Semaphore.
func (m *MemorySemaphore) Renew(ctx context.Context, key, holder string, lease time.Duration) (bool, error) {
	if err := checkSemRenew(key, holder, lease); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.tick(key)
	holders := m.keys[key]
	if _, held := holders[holder]; !held {
		return false, nil
	}
	holders[holder] = now.Add(lease)
	return true, nil
}

// Release implements Semaphore.
func (m *MemorySemaphore) Release(ctx context.Context, key, holder string) error {
	if err := checkSemSlot("release", key, holder); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick(key)
	if holders, ok := m.keys[key]; ok {
		delete(holders, holder)
		if len(holders) == 0 {
			delete(m.keys, key)
		}
	}
	return nil
}

// Count implements Semaphore.
func (m *MemorySemaphore) Count(ctx context.Context, key string) (int, error) {
	if key == "" {
		return 0, errors.New("semaphore count: empty key")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick(key)
	return len(m.keys[key]), nil
}

// tick reads the clock and drops the expired holders of key, so that its map's length is its
// number of live holders; once per memSweepEvery it drops those of every key. Callers hold mu.
func (m *MemorySemaphore) tick(key string) time.Time {
	now := m.now()
	if !now.Before(m.nextSweep) {
		for k := range m.keys {
			m.purge(k, now)
		}
		m.nextSweep = now.Add(memSweepEvery)
	} else {
		m.purge(key, now)
	}
	return now
}

// purge drops the holders of key whose lease has run out by now (a lease is live while
// now < expiry), and the key when none is left. Callers hold mu.
func (m *MemorySemaphore) purge(key string, now time.Time) {
	holders := m.keys[key]
	for h, exp := range holders {
		if !now.Before(exp) {
			delete(holders, h)
		}
	}
	if len(holders) == 0 {
		delete(m.keys, key)
	}
}
