package limits

import (
	"context"
	"fmt"
	"time"
)

// Semaphore caps how many holders may hold a slot of a key at once, across every process that
// shares its store: the per-tenant concurrency limit of the worker pool. A slot is held under a
// lease; a holder that stops renewing (its worker was killed) loses the slot when the lease
// runs out, so no crash can leak one for longer than a lease.
//
// The key names one semaphore and is chosen by the caller; it carries the tenant
// ("ten_123:running"). The holder names one held slot and must be unique per holding (a task id
// and its delivery attempt, say), because a holder holds at most one slot of a key.
//
// Limits are given per call rather than per key, so a tier change applies at the next Acquire
// without any migration: lowering it never evicts a live holder, but admits no new holder until
// fewer than the new limit remain.
//
// A lease must be positive and at most MaxSemaphoreLease; a limit must be positive; key and
// holder must not be empty. Breaking any of these is an error, not a refusal.
//
// Implementations are safe for concurrent use. Errors talking to the store wrap
// ErrUnavailable, so the caller can choose to fail open or closed.
type Semaphore interface {
	// Acquire takes a slot of key for holder for the lease and reports whether it did. It does
	// so when holder already holds a live slot of key (the lease is then renewed, whatever the
	// limit, and no second slot is taken) or when fewer than limit holders hold live slots.
	// Otherwise it reports false and changes nothing; the caller retries later.
	Acquire(ctx context.Context, key, holder string, limit int, lease time.Duration) (bool, error)
	// AcquireN takes slots of key for holders in order, as Acquire would one by one, and
	// stops at the first it cannot take: the first n holders hold a slot afterwards. It is
	// one decision, as atomic as Acquire, for a worker admitting several tasks at once.
	AcquireN(ctx context.Context, key string, holders []string, limit int, lease time.Duration) (n int, err error)
	// Renew extends holder's slot of key to the lease from now and reports whether the slot was
	// still held. It reports false once the lease has expired, whether or not another holder
	// has taken the slot since: the holder must then stop the work the slot guards, or Acquire
	// again.
	Renew(ctx context.Context, key, holder string, lease time.Duration) (bool, error)
	// Release gives holder's slot of key back at once. Releasing a slot that is not held, or
	// whose lease has expired, is not an error.
	Release(ctx context.Context, key, holder string) error
	// Count reports how many holders hold a live slot of key.
	Count(ctx context.Context, key string) (int, error)
}

// MaxSemaphoreLease is the longest lease a Semaphore grants. Leases are meant to be short and
// renewed by a heartbeat (seconds to minutes); the cap keeps lease arithmetic far from overflow.
const MaxSemaphoreLease = 24 * time.Hour

// checkSemSlot validates the arguments every Semaphore method shares.
func checkSemSlot(op, key, holder string) error {
	if key == "" {
		return fmt.Errorf("semaphore %s: empty key", op)
	}
	if holder == "" {
		return fmt.Errorf("semaphore %s: empty holder", op)
	}
	return nil
}

// checkSemLease validates a lease.
func checkSemLease(op string, lease time.Duration) error {
	if lease <= 0 || lease > MaxSemaphoreLease {
		return fmt.Errorf("semaphore %s: lease %v out of range (0, %v]", op, lease, MaxSemaphoreLease)
	}
	return nil
}

// checkSemAcquire validates Acquire's arguments.
func checkSemAcquire(key, holder string, limit int, lease time.Duration) error {
	if err := checkSemSlot("acquire", key, holder); err != nil {
		return err
	}
	if limit <= 0 {
		return fmt.Errorf("semaphore acquire: limit %d is not positive", limit)
	}
	return checkSemLease("acquire", lease)
}

// checkSemAcquireN validates AcquireN's arguments.
func checkSemAcquireN(key string, holders []string, limit int, lease time.Duration) error {
	for _, h := range holders {
		if err := checkSemAcquire(key, h, limit, lease); err != nil {
			return err
		}
	}
	if key == "" {
		return fmt.Errorf("semaphore acquire: empty key")
	}
	return nil
}

// checkSemRenew validates Renew's arguments.
func checkSemRenew(key, holder string, lease time.Duration) error {
	if err := checkSemSlot("renew", key, holder); err != nil {
		return err
	}
	return checkSemLease("renew", lease)
}
